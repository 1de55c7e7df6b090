package api

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzLoadTokens feeds arbitrary bytes to the tokens file decoder. The file comes from outside
// the program, so the decoder must never panic, must explain every rejection, and must only
// accept files whose every entry is valid.
func FuzzLoadTokens(f *testing.F) {
	seeds := []string{
		"",
		"tokens: []\n",
		"tokens:\n  - name: ci-bot\n    token: \"0123456789abcdef\"\n    roles: [read]\n",
		"tokens:\n  - {name: agent, tokenFile: agent.token, roles: [ingest]}\n",
		"tokens:\n  - {name: a, token: 0123456789abcdef, tokenFile: agent.token, roles: [read, admin]}\n",
		"clients:\n  - commonName: node-agent\n    roles: [ingest]\n",
		"clients:\n  - {commonName: x, roles: [writer]}\n  - {commonName: x, roles: []}\n",
		"tokens: [{name: a, token: [x], roles: y}]\n",
		"tokens: &a [*a]\n",
		"a: &a [*a, *a]\nb: &b [*a, *a]\n",
		"---\n---\n",
		"tokens: [name: a\n",
		"\x00\xff",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "agent.token"), []byte("agent-token-0123456789\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseTokens(data, dir)
		if err != nil {
			if a != nil {
				t.Fatal("ParseTokens returned both an Authenticator and an error")
			}
			msg := err.Error()
			if strings.TrimSpace(msg) == "" {
				t.Fatal("empty error")
			}
			if !utf8.ValidString(msg) {
				t.Fatalf("error is not valid UTF-8: %q", msg)
			}
			return
		}
		if len(a.tokens) == 0 && len(a.clients) == 0 {
			t.Fatal("accepted a file with no credentials")
		}
		names := map[string]bool{}
		for _, tc := range a.tokens {
			if validateName(tc.id.Name, maxNameBytes) != nil || names[tc.id.Name] || tc.id.Roles == 0 || tc.id.Roles&^allRoles != 0 {
				t.Fatalf("accepted invalid token entry %q roles %v", tc.id.Name, tc.id.Roles)
			}
			names[tc.id.Name] = true
		}
		for cn, id := range a.clients {
			if validateName(cn, maxCommonNameBytes) != nil || id.Name != cn || id.Roles == 0 || id.Roles&^allRoles != 0 {
				t.Fatalf("accepted invalid client %q roles %v", cn, id.Roles)
			}
		}
	})
}
