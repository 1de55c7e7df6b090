// Package stats holds the small statistics the benchmark harnesses share.
package stats

import "slices"

// Median returns the median of xs (the mean of the middle two for an even
// count), or zero for none. It does not modify xs.
func Median(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
