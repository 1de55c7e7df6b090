// Package quantity parses Kubernetes quantities ("250m", "1Gi") from
// outside input, refusing first the texts that make
// resource.ParseQuantity slow: it takes time superlinear in a text's
// digits, and linear in a decimal exponent, so "1e-999999999" takes
// seconds and "1e999999999" longer, and comparing such a quantity with a
// bound hangs as well.
//
// Every decoder of user files and flags that reads quantities goes
// through Parse. Safe for concurrent use.
package quantity

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// MaxBytes bounds a quantity's text; no real amount needs more.
const MaxBytes = 64

// MaxExponent bounds the magnitude of a decimal exponent ("3e9").
const MaxExponent = 1000

// Errors Parse wraps, for callers that word their own messages.
var (
	ErrTooLong  = errors.New("too long")
	ErrExponent = errors.New("exponent out of range")
	ErrSyntax   = errors.New("not a quantity")
)

var exponent = regexp.MustCompile(`^[+-]?[0-9.]*[eE]([-+]?[0-9]+)$`)

// Parse parses s (surrounding spaces ignored) as a Kubernetes quantity. It
// refuses, without calling the slow parser, a text longer than MaxBytes
// and a decimal exponent beyond ±MaxExponent. Its errors wrap ErrTooLong,
// ErrExponent or ErrSyntax and do not quote s: callers name the field.
func Parse(s string) (resource.Quantity, error) {
	if len(s) > MaxBytes {
		return resource.Quantity{}, fmt.Errorf("%w: %d bytes, more than %d", ErrTooLong, len(s), MaxBytes)
	}
	s = strings.TrimSpace(s)
	if m := exponent.FindStringSubmatch(s); m != nil {
		if e, err := strconv.Atoi(m[1]); err != nil || e < -MaxExponent || e > MaxExponent {
			return resource.Quantity{}, fmt.Errorf("%w: beyond ±%d", ErrExponent, MaxExponent)
		}
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return resource.Quantity{}, fmt.Errorf("%w: want e.g. 500m or 1Gi", ErrSyntax)
	}
	return q, nil
}
