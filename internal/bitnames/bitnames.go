// Package bitnames names the bits of a flag set: bit i is names[i]. It is
// how flag sets (recommender.Flags, gpushape.Flags) turn into and out of
// the lists of names their JSON and text output use.
package bitnames

import (
	"encoding/json"
	"fmt"
)

// Bits is an unsigned flag set.
type Bits interface{ ~uint8 | ~uint16 | ~uint32 }

// Names returns the names of the set bits of f, in bit order (never nil).
func Names[F Bits](f F, names []string) []string {
	out := []string{}
	for i, n := range names {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// Parse returns the set of the given names; what names the kind of set
// ("flag", "gpu shape flag") for the error about an unknown name.
func Parse[F Bits](list []string, names []string, what string) (F, error) {
	var f F
	for _, n := range list {
		i := index(names, n)
		if i < 0 {
			return 0, fmt.Errorf("unknown %s %q", what, n)
		}
		f |= 1 << i
	}
	return f, nil
}

// UnmarshalJSON reads a JSON list of names into *f.
func UnmarshalJSON[F Bits](b []byte, f *F, names []string, what string) error {
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	v, err := Parse[F](list, names, what)
	if err != nil {
		return err
	}
	*f = v
	return nil
}

func index(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
