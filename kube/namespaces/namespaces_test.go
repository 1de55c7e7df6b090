package namespaces

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name             string
		include, exclude []string
		want             []string
	}{
		{"all", nil, nil, nil},
		{"fine", []string{"a", "b-2"}, []string{"kube-system"}, nil},
		{"bad names", []string{"Bad_NS"}, []string{"x/y"}, []string{`namespace "Bad_NS"`, `namespace "x/y"`}},
		{"both", []string{"a"}, []string{"a"}, []string{`namespace "a" is both included and excluded`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := Validate(tc.include, tc.exclude)
			require.Len(t, errs, len(tc.want))
			for _, w := range tc.want {
				require.ErrorContains(t, errors.Join(errs...), w)
			}
		})
	}
}
