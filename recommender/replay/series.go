package replay

import (
	"cmp"
	"slices"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
)

// series holds one container's samples as columns. t is ascending and has
// no repeats. A resource column is nil when the format never has that
// resource; otherwise it has one entry per sample, meaningful where has
// says so.
type series struct {
	key    recommender.ContainerKey
	t      []int64 // unix nanoseconds
	has    []recommender.ResourceSet
	cpu    []recommender.MilliCPU
	mem    []recommender.Bytes
	gpu    []recommender.GPUCompute
	gpuMem []recommender.Bytes
}

// sample returns sample i. Its Key shares the series' strings.
func (s *series) sample(i int) recommender.Sample {
	u := recommender.Usage{Has: s.has[i]}
	if s.cpu != nil {
		u.CPU = s.cpu[i]
	}
	if s.mem != nil {
		u.Memory = s.mem[i]
	}
	if s.gpu != nil {
		u.GPUCompute = s.gpu[i]
	}
	if s.gpuMem != nil {
		u.GPUMemory = s.gpuMem[i]
	}
	return recommender.Sample{Key: s.key, Time: time.Unix(0, s.t[i]).UTC(), Usage: u}
}

// fractionSeries is one pod's series of fractions. t is ascending and has
// no repeats.
type fractionSeries struct {
	key recommender.WorkloadKey
	t   []int64 // unix nanoseconds
	v   []float64
}

// point is one parsed value at one time (unix nanoseconds).
type point struct {
	t int64
	v float64
}

// sortDedupe sorts xs by time, keeping rows with equal times in their
// input order, then drops every row whose time equals the row before it,
// so the first in input order survives. It returns the shortened slice and
// the number of rows dropped. O(n) when xs is already sorted.
func sortDedupe[T any](xs []T, at func(T) int64) ([]T, int) {
	byTime := func(a, b T) int { return cmp.Compare(at(a), at(b)) }
	if !slices.IsSortedFunc(xs, byTime) {
		slices.SortStableFunc(xs, byTime)
	}
	if len(xs) == 0 {
		return xs, 0
	}
	out := xs[:1]
	for i := 1; i < len(xs); i++ {
		if at(xs[i]) != at(out[len(out)-1]) {
			out = append(out, xs[i])
		}
	}
	return out, len(xs) - len(out)
}
