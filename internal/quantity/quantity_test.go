package quantity

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in    string
		milli int64
		err   error
	}{
		{"250m", 250, nil},
		{" 2 ", 2000, nil},
		{"1Gi", 1 << 30 * 1000, nil},
		{"1Ei", 0, nil}, // parses; its milli value overflows, callers bound it
		{"5E", 0, nil},
		{"3e9", 3e12, nil},
		{"1e1000", 0, nil},
		{"1e-1000", 0, nil},
		{"1e1001", 0, ErrExponent},
		{"1e-999999999", 0, ErrExponent},
		{"1e999999999999999999999", 0, ErrExponent},
		// No digits before the exponent: resource.ParseQuantity takes the
		// mantissa as 0 and still works through the exponent (the fuzzer
		// found it hanging).
		{"-e1999999999", 0, ErrExponent},
		{"e-999999999", 0, ErrExponent},
		{".E5000", 0, ErrExponent},
		{strings.Repeat("9", MaxBytes+1), 0, ErrTooLong},
		{"", 0, ErrSyntax},
		{"ten", 0, ErrSyntax},
		{"1.5.5", 0, ErrSyntax},
		{"NaN", 0, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			q, err := Parse(tt.in)
			if tt.err != nil {
				require.True(t, errors.Is(err, tt.err), "%v", err)
				return
			}
			require.NoError(t, err)
			if tt.milli != 0 {
				require.Equal(t, tt.milli, q.MilliValue())
			}
		})
	}
}

// FuzzParse checks that Parse never panics and that what it accepts
// compares with a bound promptly (the fuzzer's per-input deadline catches
// a hang).
func FuzzParse(f *testing.F) {
	for _, s := range []string{"250m", "1Gi", "1e-999999999", "9e1000", "0.000001", "-1", "1Ei", "-e1999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			return
		}
		_ = q.Cmp(*resource.NewQuantity(1<<50, resource.BinarySI))
		_ = q.MilliValue()
	})
}
