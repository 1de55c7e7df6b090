package migpack

import (
	"github.com/rightsizer/rightsizer/gpu/mig"
)

// Packing is Pack's result: the plan, and a lower bound on the GPUs any
// packing needs.
type Packing struct {
	NodePlan
	// LowerBound is a bound no packing beats (whole-GPU demands, then
	// compute slices, memory slices and per-profile maximum counts); the
	// plan is optimal when Used equals it, and Exact reports optimality.
	LowerBound int
}

// Pack places demands on as few fresh GPUs of one model as it can, with
// no current layouts or pods to respect: the GPU count a set of
// recommended shapes needs once packed (the backtest's layout_gpus). The
// result is a plan over GPUs 0 to n-1, each new: MIG-enabled with its
// layout, or (for whole-GPU demands) MIG off; none is disruptive.
//
// Under the mixed strategy it is exact (a memoised search over the
// remaining demand, each GPU taking a multiset maximal within it) while
// the memo stays within Options.MaxStates and no profile's demand exceeds
// 255 units; past that it packs greedily, each GPU taking the feasible
// multiset with the most compute (then memory) slices, and is Exact when
// it meets the lower bound. Whole-GPU demands take a GPU each. Under the
// single strategy it tries every profile (and MIG off) and keeps the one
// needing the fewest GPUs, leaving demands no single profile can serve
// unplaced. Pack is a pure function; demands it cannot place (single
// strategy) are reported as Unplaced.
func Pack(m mig.Model, demands []Demand, opts Options) (Packing, error) {
	probe, err := newProblem(Node{Name: "", Model: m, Demands: demands}, opts)
	if err != nil {
		return Packing{}, err
	}
	var want [maxKinds]int
	for _, u := range probe.units {
		want[u.kind]++
	}
	var layouts []decision
	exact := true
	lower := 0
	if opts.strategy() == StrategySingle {
		layouts, lower = probe.packSingle(want)
	} else {
		layouts, lower, exact = probe.packMixed(want, opts.maxStates())
	}
	gpus := make([]GPU, len(layouts))
	for i := range gpus {
		gpus[i] = GPU{Index: i}
	}
	p, err := newProblem(Node{Model: m, GPUs: gpus, Demands: demands}, opts)
	if err != nil {
		return Packing{}, err
	}
	kindOf := func(u unit) int { return u.kind }
	if opts.strategy() == StrategySingle && len(layouts) > 0 {
		kind := p.whole
		for k := range p.whole {
			if layouts[0].layout[k] > 0 {
				kind = k
			}
		}
		kindOf = p.singleKindOf(kind)
		p.bindStayers(kindOf)
	}
	plan, err := p.realize(layouts, kindOf, exact || len(layouts) == lower)
	if err != nil {
		return Packing{}, err
	}
	return Packing{NodePlan: plan, LowerBound: lower}, nil
}

// lowerBound is a bound no packing beats: whole-GPU demands take a GPU
// each, and the profiles need at least their compute slices, memory
// slices, and per profile its count over the most that fit one GPU.
func (p *problem) lowerBound(want [maxKinds]int) int {
	compute, memory, most := 0, 0, 0
	for k, pr := range p.model.Profiles {
		compute += want[k] * pr.ComputeSlices
		memory += want[k] * pr.MemorySlices
		if f := p.fill[k]; f > 0 {
			most = max(most, ceilDiv(want[k], f))
		}
	}
	return want[p.whole] + max(ceilDiv(compute, p.model.ComputeSlices), ceilDiv(memory, p.model.MemorySlices), most)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func (p *problem) packMixed(want [maxKinds]int, limit int) ([]decision, int, bool) {
	lower := p.lowerBound(want)
	var out []decision
	for range want[p.whole] {
		d := decision{keep: true} // a fresh GPU has MIG off already
		d.host[p.whole] = 1
		out = append(out, d)
	}
	small := true
	var r vec
	for k := range p.whole {
		small = small && want[k] <= maxCount
		r[k] = uint8(min(want[k], maxCount))
	}
	if small {
		f := &freshSearch{p: p, memo: map[vec]freshVal{}, limit: limit}
		f.best(r)
		if !f.over {
			for !r.empty() {
				s := p.sets[f.memo[r].set].v
				out = append(out, decision{enabled: true, layout: s, host: s})
				r = r.minus(s)
			}
			return out, lower, true
		}
	}
	// Greedy: each GPU takes the feasible multiset with the most slices.
	rest := want
	for {
		best, bw := -1, 0
		for si, s := range p.sets {
			ok, w := true, 0
			for k := range p.whole {
				if int(s.v[k]) > rest[k] {
					ok = false
					break
				}
				w += int(s.v[k]) * (p.model.Profiles[k].ComputeSlices*8 + p.model.Profiles[k].MemorySlices)
			}
			if ok && w > bw {
				best, bw = si, w
			}
		}
		if best < 0 {
			break
		}
		s := p.sets[best].v
		for k := range p.whole {
			rest[k] -= int(s[k])
		}
		out = append(out, decision{enabled: true, layout: s, host: s})
	}
	return out, lower, len(out) == lower
}

type freshVal struct {
	gpus int
	set  int
}

// freshSearch is the exact search over fresh GPUs: the GPUs are
// interchangeable, so the state is the remaining demand alone.
type freshSearch struct {
	p     *problem
	memo  map[vec]freshVal
	limit int
	over  bool
}

func (f *freshSearch) best(r vec) int {
	if r.empty() {
		return 0
	}
	if v, ok := f.memo[r]; ok {
		return v.gpus
	}
	if len(f.memo) >= f.limit {
		f.over = true
		return 0
	}
	bv := freshVal{gpus: -1}
	for si, s := range f.p.sets {
		if !s.v.le(r) || !f.p.maximal(s, r) {
			continue
		}
		if n := 1 + f.best(r.minus(s.v)); bv.gpus < 0 || n < bv.gpus {
			bv = freshVal{gpus: n, set: si}
		}
	}
	f.memo[r] = bv
	return bv.gpus
}

// packSingle picks the profile (or MIG off) that places the most demand
// on the fewest GPUs, each holding as many instances of it as fit.
func (p *problem) packSingle(want [maxKinds]int) ([]decision, int) {
	bestKind, bestUnplaced, bestGPUs, bestCap := -1, 0, 0, 0
	for kind := range p.whole + 1 {
		capacity := 1
		if kind < p.whole {
			capacity = p.fill[kind]
			if capacity == 0 {
				continue
			}
		}
		covered := 0
		for k := range p.whole + 1 {
			if p.covers(kind, k) {
				covered += want[k]
			}
		}
		unplaced := len(p.units) - covered
		gpus := ceilDiv(covered, capacity)
		if bestKind < 0 || unplaced < bestUnplaced || (unplaced == bestUnplaced && gpus < bestGPUs) {
			bestKind, bestUnplaced, bestGPUs, bestCap = kind, unplaced, gpus, capacity
		}
	}
	out := make([]decision, bestGPUs)
	for i := range out {
		if bestKind == p.whole {
			out[i].keep = true
			out[i].host[p.whole] = 1
			continue
		}
		out[i].enabled = true
		out[i].layout[bestKind] = uint8(bestCap)
		out[i].host[bestKind] = uint8(bestCap)
	}
	return out, bestGPUs
}
