package recommender

import (
	"encoding/binary"
	"math"
	"slices"
)

// gpuIdle is a decayed two-dimensional histogram of a container's samples
// that carry both GPU compute and GPU memory: how much recent time it
// spent at each (busy time, memory) cell. Whether a sample is idle depends
// on the allocation it ran on (under 5 % of ITS compute, memory within 5 %
// of ITS memory above the baseline), which the engine does not know when
// the sample arrives; the histogram answers the question later for any
// allocation (idleFraction), at the resolution of its cells.
//
// Weights decay with the profile's half-life like the sketches, so the
// fraction describes recent days: a GPU idle for a month that got busy
// yesterday is not idle. They are forward-decayed: a sample at t weighs
// 2^((t−ref)/halfLife), and everything is rescaled when that grows large,
// which keeps adding O(log cells) and the ratio exact.
//
// Not safe for concurrent use; the container's stripe lock guards it.
type gpuIdle struct {
	ref    int64 // ns: weights are relative to this time
	memMin Bytes // smallest memory of any sample; valid when cells or spill hold weight
	// spill is the weight of samples whose cell did not fit under
	// maxIdleCells: counted as busy, never idle.
	spill float64
	cells []idleCell // ascending by key
}

// idleCell is one (compute bucket, memory bucket) cell and its weight.
type idleCell struct {
	key uint16 // computeBucket<<8 | memoryBucket
	w   float64
}

const (
	// Compute buckets: 0 is [0, 0.001) GPUs; i ≥ 1 is
	// [0.001 × 2^((i−1)/4), 0.001 × 2^(i/4)), 19 % wide, and the last runs
	// to infinity. 62 finite buckets reach 46 GPUs.
	idleComputeBuckets = 64
	idleComputeBase    = 1e-3
	idleComputeSteps   = 4 // buckets per doubling
	// Memory buckets: 0 is [0, 1 MiB); i ≥ 1 is [MiB × 2^((i−1)/12),
	// MiB × 2^(i/12)), 6 % wide, and the last runs to infinity. 254 finite
	// buckets reach 2.3 TiB.
	idleMemoryBuckets = 256
	idleMemorySteps   = 12
	// maxIdleCells bounds a container's cells (16 KiB): a workload that
	// wanders over more is counted busy for the rest (spill).
	maxIdleCells = 1024
	// idleRescaleHalfLives is how far (in half-lives) ref may lag the
	// newest sample before the weights are rescaled (2^64 fits a float64
	// with room to spare).
	idleRescaleHalfLives = 64
	// idlePruneFraction: on a rescale, cells under this fraction of the
	// total weight (about 20 half-lives old) are dropped.
	idlePruneFraction = 0x1p-20
	// idleBaselineFraction is the share of weight below the baseline
	// bucket that is ignored: once a regime of low memory has decayed
	// under 1 % of the weight, the baseline follows the current one.
	idleBaselineFraction = 0.01
)

// idleComputeUpper and idleMemoryUpper are each bucket's exclusive upper
// bound (+Inf for the last), computed once: finding a bucket is a binary
// search, without a logarithm per sample.
var (
	idleComputeUpper = bucketBounds(idleComputeBase, idleComputeSteps, idleComputeBuckets)
	idleMemoryUpper  = bucketBounds(float64(MiB), idleMemorySteps, idleMemoryBuckets)
)

// bucketBounds returns the upper bounds of n log buckets: base for bucket
// 0 (from 0), base × 2^(i/steps) for bucket i, +Inf for the last.
func bucketBounds(base float64, steps, n int) []float64 {
	b := make([]float64, n)
	for i := range n - 1 {
		b[i] = base * math.Exp2(float64(i)/float64(steps))
	}
	b[n-1] = math.Inf(1)
	return b
}

// bucketOf returns the bucket of v ≥ 0 under upper: the first whose upper
// bound is above v (0 for NaN).
func bucketOf(v float64, upper []float64) int {
	if !(v >= 0) {
		return 0
	}
	i, _ := slices.BinarySearch(upper, v)
	if i < len(upper)-1 && upper[i] == v {
		i++ // bounds are exclusive: v opens the next bucket
	}
	return min(i, len(upper)-1)
}

// bucketLower returns bucket i's inclusive lower bound under upper.
func bucketLower(i int, upper []float64) float64 {
	if i == 0 {
		return 0
	}
	return upper[i-1]
}

func idleKey(compute GPUCompute, memory Bytes) uint16 {
	c := bucketOf(float64(compute), idleComputeUpper)
	m := bucketOf(float64(memory), idleMemoryUpper)
	return uint16(c<<8 | m)
}

func (k idleCell) computeUpper() float64 { return idleComputeUpper[k.key>>8] }

func (k idleCell) memoryBucket() int { return int(k.key & 0xff) }

func (g *gpuIdle) empty() bool { return len(g.cells) == 0 && g.spill == 0 }

// add records a sample at t (ns) with both resources, validated by the
// caller. halfLife is in ns.
func (g *gpuIdle) add(t int64, compute GPUCompute, memory Bytes, halfLife int64) {
	if g.empty() {
		g.ref, g.memMin = t, memory
	}
	if float64(t-g.ref) > idleRescaleHalfLives*float64(halfLife) {
		g.rescale(t, halfLife)
	}
	g.memMin = min(g.memMin, memory)
	g.put(idleKey(compute, memory), math.Exp2(float64(t-g.ref)/float64(halfLife)))
}

// put adds w to the cell of key, making it if there is room.
func (g *gpuIdle) put(key uint16, w float64) {
	i, ok := slices.BinarySearchFunc(g.cells, key, func(c idleCell, k uint16) int { return int(c.key) - int(k) })
	switch {
	case ok:
		g.cells[i].w += w
	case len(g.cells) < maxIdleCells:
		g.cells = slices.Insert(g.cells, i, idleCell{key: key, w: w})
	default:
		g.spill += w
	}
}

// rescale expresses the weights relative to ref and drops cells that
// have decayed to nothing next to the rest.
func (g *gpuIdle) rescale(ref, halfLife int64) {
	f := math.Exp2(-float64(ref-g.ref) / float64(halfLife))
	g.ref = ref
	g.spill *= f
	total := g.spill
	for i := range g.cells {
		g.cells[i].w *= f
		total += g.cells[i].w
	}
	g.cells = slices.DeleteFunc(g.cells, func(c idleCell) bool { return c.w <= total*idlePruneFraction })
}

// merge folds o into g (replicas seen by different engines, a restored
// checkpoint).
func (g *gpuIdle) merge(o *gpuIdle, halfLife int64) {
	if o.empty() {
		return
	}
	if g.empty() {
		*g = o.clone()
		return
	}
	if o.ref > g.ref {
		g.rescale(o.ref, halfLife)
	}
	f := math.Exp2(-float64(g.ref-o.ref) / float64(halfLife))
	g.memMin = min(g.memMin, o.memMin)
	g.spill += o.spill * f
	for _, c := range o.cells {
		g.put(c.key, c.w*f)
	}
}

func (g *gpuIdle) clone() gpuIdle {
	c := *g
	c.cells = slices.Clone(g.cells)
	return c
}

func (g *gpuIdle) total() float64 {
	t := g.spill
	for _, c := range g.cells {
		t += c.w
	}
	return t
}

// baseline returns the memory the container holds when it does nothing:
// the smallest memory seen, unless samples that low have decayed under
// idleBaselineFraction of the weight; then the lower bound of the lowest
// memory bucket that holds more (at most one bucket, 6 %, below the
// least memory of the recent samples, which only makes the idle test
// stricter). 0 when empty.
func (g *gpuIdle) baseline() Bytes {
	total := g.total()
	if total == 0 {
		return 0
	}
	var below [idleMemoryBuckets]float64
	for _, c := range g.cells {
		below[c.memoryBucket()] += c.w
	}
	minBucket := bucketOf(float64(g.memMin), idleMemoryUpper)
	sum := 0.0
	for b, w := range below {
		sum += w
		if sum > idleBaselineFraction*total {
			if b <= minBucket {
				return g.memMin
			}
			return Bytes(bucketLower(b, idleMemoryUpper))
		}
	}
	return g.memMin // all in spill
}

// idleFraction returns the share (0–1) of the decayed weight in which
// compute was under computeBelow (GPUs) and memory at most memorySlack
// above the baseline. A cell counts only if all of it passes, so the
// fraction errs low (fewer GPUs called idle) by at most a bucket's width.
func (g *gpuIdle) idleFraction(computeBelow GPUCompute, memorySlack Bytes) float64 {
	total := g.total()
	if total == 0 {
		return 0
	}
	memLimit := float64(g.baseline()) + float64(memorySlack)
	idle := 0.0
	for _, c := range g.cells {
		if c.computeUpper() <= float64(computeBelow) && idleMemoryUpper[c.memoryBucket()] <= memLimit {
			idle += c.w
		}
	}
	return min(1, idle/total)
}

// appendBinary encodes g: varint ref, uvarint memMin, float64 spill,
// uvarint cell count, and per cell uvarint key, float64 weight.
func (g *gpuIdle) appendBinary(b []byte) []byte {
	b = binary.AppendVarint(b, g.ref)
	b = binary.AppendUvarint(b, uint64(g.memMin))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(g.spill))
	b = binary.AppendUvarint(b, uint64(len(g.cells)))
	for _, c := range g.cells {
		b = binary.AppendUvarint(b, uint64(c.key))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.w))
	}
	return b
}

// idle reads what gpuIdle.appendBinary wrote, checking every field: keys
// in range and ascending, weights finite and non-negative (d.float), the
// total finite, not empty.
func (d stateDecoder) idle(what string) gpuIdle {
	var g gpuIdle
	g.ref = d.Varint(what)
	g.memMin = d.bytesVal(what)
	g.spill = d.float(what)
	n := d.Uvarint(what)
	if d.Err() != nil {
		return g
	}
	if n > maxIdleCells {
		d.Fail(what)
		return g
	}
	g.cells = make([]idleCell, 0, n)
	for range n {
		k, w := d.Uvarint(what), d.float(what)
		if d.Err() != nil {
			return g
		}
		if k>>8 >= idleComputeBuckets || (len(g.cells) > 0 && uint16(k) <= g.cells[len(g.cells)-1].key) {
			d.Fail(what)
			return g
		}
		g.cells = append(g.cells, idleCell{key: uint16(k), w: w})
	}
	if g.empty() || math.IsInf(g.total(), 0) {
		d.Fail(what)
	}
	return g
}
