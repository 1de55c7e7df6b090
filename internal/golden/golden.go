// Package golden compares test output with files under testdata, and
// rewrites them when a test binary runs with -update.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Write stores got as the golden file path under -update.
func Write(t testing.TB, path string, got []byte) {
	t.Helper()
	if !*update {
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, got, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Lines compares got with the golden file path, line by line, and reports
// the first line that differs, not two whole documents. Under -update it
// first rewrites the file.
func Lines(t testing.TB, path, got string) {
	t.Helper()
	Write(t, path, []byte(got))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	SameLines(t, string(b), got)
}

// SameLines reports the first line where got differs from want.
func SameLines(t testing.TB, want, got string) {
	t.Helper()
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			t.Fatalf("line %d differs (go test -update after a deliberate change):\nwant %q\ngot  %q", i+1, wl, gl)
		}
	}
}
