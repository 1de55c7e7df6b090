package errtext

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestClip(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", Max)
	for _, tc := range []struct {
		name, in, clip, quote, key string
	}{
		{"short", "cpu", "cpu", `"cpu"`, "cpu"},
		{"exactly Max", long, long, `"` + long + `"`, long},
		{"one over", long + "b", long + "…", `"` + long + `"…`, long + "…"},
		// "é" is two bytes: cut before it, not in its middle.
		{"on a rune boundary", long[1:] + "é" + "x", long[1:] + "…", `"` + long[1:] + `"…`, long[1:] + "…"},
		{"control byte", "price_\x7f", "price_\x7f", `"price_\x7f"`, `"price_\x7f"`},
		{"bad UTF-8", "a\xffb", "a\xffb", `"a\xffb"`, `"a\xffb"`},
		{"ends in an ellipsis", "wait…", "wait…", `"wait…"`, "wait…"},
		{"empty", "", "", `""`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.clip, Clip(tc.in))
			require.Equal(t, tc.quote, Quote(tc.in))
			require.Equal(t, tc.key, Key(tc.in))
		})
	}
}

func FuzzClip(f *testing.F) {
	for _, s := range []string{"", "cpu", strings.Repeat("é", 40), "a\xffb", strings.Repeat("x", 70) + "…"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Clip(s)
		require.LessOrEqual(t, len(c), Max+len("…"))
		require.True(t, strings.HasPrefix(s, strings.TrimSuffix(c, "…")), "a prefix of the input")
		if utf8.ValidString(s) {
			require.True(t, utf8.ValidString(c))
			require.True(t, utf8.ValidString(Key(s)))
		}
		require.NotContains(t, Key(s), "\n")
		require.NotContains(t, Quote(s), "\n")
	})
}
