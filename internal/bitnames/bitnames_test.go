package bitnames

import (
	"testing"

	"github.com/stretchr/testify/require"
)

type flags uint8

var names = []string{"a", "b", "c"}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		f    flags
		want []string
	}{{0, []string{}}, {1, []string{"a"}}, {5, []string{"a", "c"}}, {7, []string{"a", "b", "c"}}} {
		got := Names(tc.f, names)
		require.Equal(t, tc.want, got)
		back, err := Parse[flags](got, names, "flag")
		require.NoError(t, err)
		require.Equal(t, tc.f, back)
	}
	_, err := Parse[flags]([]string{"a", "zz"}, names, "test flag")
	require.EqualError(t, err, `unknown test flag "zz"`)
	var f flags = 2
	require.Error(t, UnmarshalJSON([]byte(`{"a":1}`), &f, names, "flag"))
	require.Error(t, UnmarshalJSON([]byte(`["q"]`), &f, names, "flag"))
	require.Equal(t, flags(2), f, "a failed decode leaves the value alone")
	require.NoError(t, UnmarshalJSON([]byte(`["b","c"]`), &f, names, "flag"))
	require.Equal(t, flags(6), f)
}
