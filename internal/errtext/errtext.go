// Package errtext shapes values from outside input for error messages:
// short, valid UTF-8 where the input was, and on one line.
package errtext

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Max is the most bytes of a value an error message echoes.
const Max = 64

// Clip returns s cut to at most Max bytes, on a UTF-8 boundary, with "…"
// when cut.
func Clip(s string) string {
	if p, cut := prefix(s); cut {
		return p + "…"
	}
	return s
}

// prefix returns s cut to at most Max bytes on a UTF-8 boundary, and
// whether it was cut.
func prefix(s string) (string, bool) {
	if len(s) <= Max {
		return s, false
	}
	i := Max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i], true
}

// Quote returns s clipped and quoted as a Go string, with "…" after the
// closing quote when cut.
func Quote(s string) string {
	p, cut := prefix(s)
	if cut {
		return strconv.Quote(p) + "…"
	}
	return strconv.Quote(p)
}

// Key returns s clipped, and quoted only when it holds a rune that is not
// printable (a control byte, bad UTF-8): for a column name or key that an
// error names bare.
func Key(s string) string {
	c := Clip(s)
	if !utf8.ValidString(c) || strings.IndexFunc(c, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(c)
	}
	return c
}
