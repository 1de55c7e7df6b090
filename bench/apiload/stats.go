package apiload

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted values by
// the nearest-rank method: the smallest value with at least p % of the
// values at or below it. It returns zero for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// The epsilon keeps p·n/100 that should be whole (99·100/100) from
	// rounding up past the rank.
	rank := int(math.Ceil(p*float64(n)/100 - 1e-9))
	return sorted[min(max(rank, 1), n)-1]
}

// LatencySummary describes a latency distribution, in milliseconds.
type LatencySummary struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
}

// Summarize returns the percentiles of lat, which it does not modify.
func Summarize(lat []time.Duration) LatencySummary {
	s := slices.Clone(lat)
	slices.Sort(s)
	return LatencySummary{
		N: len(s), P50: ms(Percentile(s, 50)), P99: ms(Percentile(s, 99)),
		P999: ms(Percentile(s, 99.9)), Max: ms(Percentile(s, 100)),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
