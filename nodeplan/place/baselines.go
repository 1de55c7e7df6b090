package place

import (
	"math"
	"math/rand/v2"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
)

// random is the FGD paper's Random baseline: a uniformly random node
// among those that fit; a share goes to a uniformly random GPU that holds
// it, whole GPUs to the first fully free ones.
type random struct {
	s       *State
	rng     *rand.Rand
	scratch []int
}

func (r *random) Name() string { return Random }

func (r *random) Place(p *cluster.Pod) (Placement, bool, error) {
	if err := check(p); err != nil {
		return Placement{}, false, err
	}
	sp := &r.s.specTab[r.s.spec(p)]
	// Reservoir sampling over the nodes that fit: one pass, no list.
	pick, seen := -1, 0
	for i := range r.s.nodes {
		if r.s.fits(i, p, sp) {
			seen++
			if r.rng.IntN(seen) == 0 {
				pick = i
			}
		}
	}
	if pick < 0 {
		return Placement{}, false, nil
	}
	gpus := r.scratch[:0]
	n := &r.s.nodes[pick]
	if p.GPU.Milli > 0 {
		c := 0
		for j, f := range n.GPUFree {
			if f >= p.GPU.Milli {
				c++
				if r.rng.IntN(c) == 0 {
					gpus = append(gpus[:0], j)
				}
			}
		}
	} else {
		gpus, _ = n.BestFitGPUs(p, gpus)
	}
	r.scratch = gpus
	pl, err := r.s.place(p, pick, gpus)
	return pl, err == nil, err
}

// Normalisation constants of the paper's simulator: the largest node it
// expects, in milli-CPU and milli-GPU.
const (
	maxSpecCPU = 128_000
	maxSpecGPU = 8_000
)

// bestFit is the FGD paper's BestFit baseline: the node left with the
// least CPU and GPU after the pod (each normalised by the largest node,
// weighted ½), scored as an integer 0..100 and min-max normalised over
// the nodes that fit, as the simulator does; a share goes to the GPU with
// the least free milli that holds it.
type bestFit struct {
	s       *State
	raw     []int64
	idx     []int
	scratch []int
}

func (b *bestFit) Name() string { return BestFit }

func (b *bestFit) Place(p *cluster.Pod) (Placement, bool, error) {
	if err := check(p); err != nil {
		return Placement{}, false, err
	}
	sp := &b.s.specTab[b.s.spec(p)]
	b.raw, b.idx = b.raw[:0], b.idx[:0]
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	req := float64(p.GPU.TotalMilli())
	for i := range b.s.nodes {
		if !b.s.fits(i, p, sp) {
			continue
		}
		f := &b.s.free[i]
		// The simulator's arithmetic, in its order, so that integer
		// truncation ties the same nodes.
		score := 0.0
		score += (float64(f.cpu) - float64(p.CPU)) / maxSpecCPU * 0.5
		score += (float64(f.idle) - req) / maxSpecGPU * 0.5
		raw := int64((1.0 - score) * 100)
		b.raw, b.idx = append(b.raw, raw), append(b.idx, i)
		lo, hi = min(lo, raw), max(hi, raw)
	}
	if len(b.idx) == 0 {
		return Placement{}, false, nil
	}
	best, bestScore := -1, int64(-1)
	for j, raw := range b.raw {
		var norm int64
		if hi > lo {
			norm = (raw - lo) * 100 / (hi - lo)
		}
		if norm > bestScore {
			best, bestScore = b.idx[j], norm
		}
	}
	gpus, _ := b.s.nodes[best].BestFitGPUs(p, b.scratch)
	b.scratch = gpus
	pl, err := b.s.place(p, best, gpus)
	return pl, err == nil, err
}

// fgd is Fragmentation Gradient Descent (Weng et al., ATC '23) as its
// simulator runs it: the node and GPU whose placement lowers the node's
// fragmentation most, scored int(100·sigmoid(ΔF/1000)) so that changes
// within about 40 milli tie, ties to the earliest node.
type fgd struct {
	s  *State
	fm *fragModel
	// before[i] is node i's fragmentation at beforeVer[i].
	before    []float64
	beforeVer []uint32
	// cache[spec][node] is the score and GPU of the spec on the node at a
	// version.
	cache   [][]fgdEntry
	gpus    []int
	scratch []int
}

type fgdEntry struct {
	ver   uint32
	score int32
	gpu   int32 // the share's GPU; -1 for other pods
}

func newFGD(s *State, typical []TypicalPod) *fgd {
	return &fgd{s: s, fm: newFragModel(s.models, s.serves, typical), before: make([]float64, len(s.nodes)), beforeVer: make([]uint32, len(s.nodes))}
}

func (f *fgd) Name() string { return FGD }

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// fgdScore is the simulator's quantised score of a change of
// fragmentation from before to after.
func fgdScore(before, after float64) int32 {
	return int32(sigmoid((before-after)/1000) * 100)
}

func (f *fgd) Place(p *cluster.Pod) (Placement, bool, error) {
	if err := check(p); err != nil {
		return Placement{}, false, err
	}
	sp := &f.s.specTab[f.s.spec(p)]
	si := sp.noMem // FGD's score ignores memory
	for len(f.cache) <= si {
		f.cache = append(f.cache, make([]fgdEntry, len(f.s.nodes)))
	}
	cache := f.cache[si]
	best, bestScore, bestGPU := -1, int32(-1), int32(-1)
	for i := range f.s.nodes {
		if !f.s.fits(i, p, sp) {
			continue
		}
		e := &cache[i]
		if e.ver != f.s.version[i] {
			e.score, e.gpu = f.score(i, sp)
			e.ver = f.s.version[i]
		}
		if e.score > bestScore {
			best, bestScore, bestGPU = i, e.score, e.gpu
		}
	}
	if best < 0 {
		return Placement{}, false, nil
	}
	var gpus []int
	if bestGPU >= 0 {
		gpus = append(f.scratch[:0], int(bestGPU))
	} else {
		gpus, _ = f.s.nodes[best].BestFitGPUs(p, f.scratch)
	}
	f.scratch = gpus
	pl, err := f.s.place(p, best, gpus)
	return pl, err == nil, err
}

// nodeFrag is node i's fragmentation now, cached per version.
func (f *fgd) nodeFrag(i int) float64 {
	if f.beforeVer[i] != f.s.version[i] {
		n := &f.s.nodes[i]
		f.before[i] = 0
		if k := f.s.model[i]; k >= 0 {
			f.before[i] = f.fm.frag(k, int64(n.Free.CPU), n.GPUFree)
		}
		f.beforeVer[i] = f.s.version[i]
	}
	return f.before[i]
}

// score is the FGD score of the spec on node i, and the GPU a share
// takes there (the first of the best), -1 for other pods.
func (f *fgd) score(i int, sp *spec) (int32, int32) {
	n := &f.s.nodes[i]
	k := f.s.model[i]
	if k < 0 { // no GPUs: no fragmentation before or after
		return fgdScore(0, 0), -1
	}
	before := f.nodeFrag(i)
	cpu := int64(n.Free.CPU) - sp.cpu
	f.gpus = append(f.gpus[:0], n.GPUFree...)
	switch {
	case sp.milli > 0:
		best, bestGPU := int32(-1), int32(-1)
		for j, free := range f.gpus {
			if free < sp.milli {
				continue
			}
			f.gpus[j] -= sp.milli
			s := fgdScore(before, f.fm.frag(k, cpu, f.gpus))
			f.gpus[j] += sp.milli
			if s > best {
				best, bestGPU = s, int32(j)
			}
		}
		return best, bestGPU
	case sp.count > 0:
		left := sp.count
		for j := range f.gpus {
			if left > 0 && f.gpus[j] == cluster.MilliGPU {
				f.gpus[j] = 0
				left--
			}
		}
	}
	return fgdScore(before, f.fm.frag(k, cpu, f.gpus)), -1
}
