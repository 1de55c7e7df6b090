package migpack

import (
	"math/bits"
	"slices"
)

// decision is the plan for one GPU, in the search's terms.
type decision struct {
	keep    bool // layout unchanged (mig-parted leaves the GPU alone)
	enabled bool // planned MIG mode, when !keep
	layout  vec  // planned instances per profile, when !keep && enabled
	host    vec  // units per planned kind the GPU takes
}

// cost is a plan's objectives, most important first, in the order the
// policy ranks them; plans compare lexicographically.
type cost [5]int

func (a cost) add(b cost) cost {
	for i := range a {
		a[i] += b[i]
	}
	return a
}

func (a cost) less(b cost) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// mk orders the objectives for the policy. Under PolicyNoDisruption
// disruptive options are never generated, so the term is always 0.
func (p *problem) mk(unplaced, used, disruptive, changed, moves int) cost {
	if p.opts.Policy == PolicyNoDisruption {
		return cost{unplaced, used, changed, moves, disruptive}
	}
	return cost{unplaced, used, disruptive, changed, moves}
}

// Choices for one GPU besides re-partitioning to p.sets[i] (i ≥ 0).
const (
	choiceKeep    = -1 // keep the layout, host what its instances can
	choiceDisable = -2 // disable MIG, host one whole-GPU unit
	choiceIdle    = -3 // keep the layout, host nothing
)

type option struct {
	choice  int
	host    vec
	changed bool
}

// maximal reports whether set s takes everything it can from r: no
// profile that would still fit beside it is left in r.
func (p *problem) maximal(s fset, r vec) bool {
	for ext := s.ext; ext != 0; ext &= ext - 1 {
		k := bits.TrailingZeros16(ext)
		if s.v[k] < r[k] {
			return false
		}
	}
	return true
}

// maximalSets lists the feasible multisets that fit in r and are maximal
// within it, by index into p.sets.
func (p *problem) maximalSets(r vec) []int32 {
	if out, ok := p.maximalCache[r]; ok {
		return out
	}
	rs := r.support()
	out := []int32{}
	for si, s := range p.sets {
		if s.support&^rs == 0 && s.v.le(r) && p.maximal(s, r) {
			out = append(out, int32(si))
		}
	}
	if p.maximalCache == nil {
		p.maximalCache = map[vec][]int32{}
	}
	p.maximalCache[r] = out
	return out
}

// options appends GPU i's choices given the remaining demand r to buf, in
// the order ties are broken: hosting on the current layout first (no
// change), then re-partitionings, then leaving the GPU idle (so that, all
// else equal, lower-indexed GPUs are used). Re-partitioning is restricted
// to multisets that are maximal within r: a smaller one leaves more
// demand for the other GPUs at the same cost, so it is never better.
func (p *problem) options(i int, r vec, buf []option) []option {
	g := &p.gpus[i]
	out := buf[:0]
	if host := vmin(g.cur, r); !host.empty() {
		out = append(out, option{choice: choiceKeep, host: host})
	}
	mayChange := p.opts.Policy != PolicyNoDisruption || !g.inUse
	if mayChange {
		for _, si := range p.maximalSets(r) {
			s := p.sets[si]
			if current := g.MIGEnabled && s.v == g.cur; !current { // keeping covers it
				out = append(out, option{choice: int(si), host: s.v, changed: true})
			}
		}
		if r[p.whole] > 0 && g.MIGEnabled {
			var host vec
			host[p.whole] = 1
			out = append(out, option{choice: choiceDisable, host: host, changed: true})
		}
	}
	return append(out, option{choice: choiceIdle})
}

// delta is the cost GPU i adds by taking option o.
func (p *problem) delta(i int, o option) cost {
	g := &p.gpus[i]
	used, disruptive, changed := 0, 0, 0
	if !o.host.empty() {
		used = 1
	}
	if o.changed {
		changed = 1
		if g.inUse {
			disruptive = 1
		}
	}
	stays := 0
	if !o.changed {
		for k := range p.whole + 1 {
			stays += int(min(o.host[k], g.stay[k]))
		}
	}
	return p.mk(0, used, disruptive, changed, g.stayTotal-stays)
}

func (p *problem) decide(i int, o option) decision {
	switch o.choice {
	case choiceKeep, choiceIdle:
		return decision{keep: true, host: o.host}
	case choiceDisable:
		return decision{host: o.host}
	default:
		return decision{enabled: true, layout: p.sets[o.choice].v, host: o.host}
	}
}

type memoKey struct {
	i int
	r vec
}

type memoVal struct {
	c      cost
	choice int
}

// mixedSearch is the exact search for the mixed strategy: a dynamic
// programme over (GPU, remaining demand) whose value is the best cost of
// the GPUs from i on. Costs are additive per GPU, so the memo is exact.
type mixedSearch struct {
	p     *problem
	memo  map[memoKey]memoVal
	limit int
	over  bool
	bufs  [][]option // per GPU (recursion depth), the options being tried
}

func (s *mixedSearch) best(i int, r vec) cost {
	p := s.p
	if i == len(p.gpus) {
		return p.mk(r.total(), 0, 0, 0, 0)
	}
	key := memoKey{i, r}
	if v, ok := s.memo[key]; ok {
		return v.c
	}
	if len(s.memo) >= s.limit {
		s.over = true
		return cost{}
	}
	var bc cost
	bch, first := choiceIdle, true
	s.bufs[i] = p.options(i, r, s.bufs[i])
	for _, o := range s.bufs[i] {
		d, rest := p.delta(i, o), r.minus(o.host)
		if !first && !d.add(p.bound(i+1, rest)).less(bc) {
			continue // cannot beat the best option so far, even to tie it first
		}
		c := d.add(s.best(i+1, rest))
		if first || c.less(bc) {
			bc, bch, first = c, o.choice, false
		}
	}
	s.memo[key] = memoVal{bc, bch}
	return bc
}

// bound is a lower bound on the cost of GPUs i onwards given the
// remaining demand r, which lets best skip options that cannot win. If the
// GPUs left are fewer than any packing of r needs, at least one unit (and
// at least what exceeds their compute or memory) stays unplaced, and
// nothing is said about GPUs used; otherwise nothing need be unplaced,
// but placing everything takes at least that many GPUs. Componentwise
// lower bounds are lexicographic lower bounds.
func (p *problem) bound(i int, r vec) cost {
	left := len(p.gpus) - i
	if r.empty() {
		return cost{}
	}
	need := p.binsBound(r)
	if need <= left {
		return p.mk(0, need, 0, 0, 0)
	}
	return p.mk(max(1, r.total()-p.placeableBound(r, left)), 0, 0, 0, 0)
}

// binsBound is a lower bound on the GPUs that hold all of r: a GPU per
// whole-GPU unit, plus the most of the compute slices, the memory slices
// and, per profile, its count over the most that fit one GPU.
func (p *problem) binsBound(r vec) int {
	compute, memory, most := 0, 0, 0
	for k, pr := range p.model.Profiles {
		n := int(r[k])
		if n == 0 {
			continue
		}
		compute += n * pr.ComputeSlices
		memory += n * pr.MemorySlices
		most = max(most, ceilDiv(n, max(1, p.fill[k])))
	}
	return int(r[p.whole]) + max(ceilDiv(compute, p.model.ComputeSlices), ceilDiv(memory, p.model.MemorySlices), most)
}

// placeableBound is an upper bound on the units of r that gpus GPUs hold:
// the most units whose compute slices, smallest first, fit in theirs, and
// likewise for memory slices (a whole-GPU unit takes a whole GPU of both).
func (p *problem) placeableBound(r vec, gpus int) int {
	best := r.total()
	for _, dim := range []struct {
		order []int
		size  []int
		total int
	}{
		{p.byCompute, p.computeOf, p.model.ComputeSlices},
		{p.byMemory, p.memoryOf, p.model.MemorySlices},
	} {
		budget, n := gpus*dim.total, 0
		for _, k := range dim.order {
			take := min(int(r[k]), budget/dim.size[k])
			n += take
			budget -= take * dim.size[k]
		}
		best = min(best, n)
	}
	return best
}

// solveMixed plans the mixed strategy: exactly when the node has at most
// MaxExactGPUs GPUs and the memo stays within budget, else greedily.
func (p *problem) solveMixed() ([]decision, bool) {
	r, _ := p.demandVec(func(u unit) int { return u.kind })
	if len(p.gpus) <= MaxExactGPUs {
		s := &mixedSearch{p: p, memo: map[memoKey]memoVal{}, limit: p.opts.maxStates(), bufs: make([][]option, len(p.gpus))}
		s.best(0, r)
		if !s.over {
			decs := make([]decision, len(p.gpus))
			for i := range p.gpus {
				ch := s.memo[memoKey{i, r}].choice
				var o option
				for _, x := range p.options(i, r, nil) {
					if x.choice == ch {
						o = x
						break
					}
				}
				decs[i] = p.decide(i, o)
				r = r.minus(o.host)
			}
			return decs, true
		}
	}
	return p.greedyMixed(r), false
}

// greedyMixed keeps every GPU in use as it is (hosting what its layout
// can), then gives each idle GPU, by index, the option that takes the
// most of the remaining demand, weighted by compute then memory slices.
func (p *problem) greedyMixed(r vec) []decision {
	decs := make([]decision, len(p.gpus))
	weight := func(v vec) int {
		w := int(v[p.whole]) * (p.model.ComputeSlices*8 + p.model.MemorySlices)
		for k, pr := range p.model.Profiles {
			w += int(v[k]) * (pr.ComputeSlices*8 + pr.MemorySlices)
		}
		return w
	}
	order := make([]int, 0, len(p.gpus))
	for i, g := range p.gpus {
		if g.inUse {
			order = append(order, i)
		}
	}
	for i, g := range p.gpus {
		if !g.inUse {
			order = append(order, i)
		}
	}
	for _, i := range order {
		opts := p.options(i, r, nil)
		best := opts[len(opts)-1] // idle
		if p.gpus[i].inUse {
			if opts[0].choice == choiceKeep {
				best = opts[0]
			}
		} else {
			bw := 0
			for _, o := range opts {
				if w := weight(o.host); w > bw {
					best, bw = o, w
				}
			}
		}
		decs[i] = p.decide(i, best)
		r = r.minus(best.host)
	}
	return decs
}

// singleCandidate is one way to satisfy the single strategy: every GPU
// MIG-enabled with instances of profile kind, or (kind == whole) every
// GPU MIG-disabled.
type singleCandidate struct {
	kind  int
	cap   int // instances of kind one GPU holds
	c     cost
	decs  []decision
	valid bool
}

// covers reports whether an instance of profile kind a serves a demand
// for kind b: at least its compute slices, memory slices, memory and SMs
// (where both are measured), and media extensions if b has them.
func (p *problem) covers(a, b int) bool {
	if a == p.whole {
		return true
	}
	if b == p.whole {
		return false
	}
	pa, pb := p.model.Profiles[a], p.model.Profiles[b]
	switch {
	case pb.MediaExtensions && !pa.MediaExtensions,
		pa.ComputeSlices < pb.ComputeSlices,
		pa.MemorySlices < pb.MemorySlices,
		pa.MemoryMiB > 0 && pb.MemoryMiB > 0 && pa.MemoryMiB < pb.MemoryMiB,
		pa.SMs > 0 && pb.SMs > 0 && pa.SMs < pb.SMs:
		return false
	}
	return true
}

func (p *problem) singleKindOf(kind int) func(unit) int {
	return func(u unit) int {
		if p.covers(kind, u.kind) {
			return kind
		}
		return -1
	}
}

// solveSingle plans the single strategy: for each candidate profile (and
// MIG off), the best choice per GPU of keeping a layout that already has
// only that profile, filling it up, or re-partitioning (forced for every
// other GPU, used or not, since the device plugin refuses mixed nodes);
// exhaustively when the node has at most MaxExactGPUs GPUs, else keeping
// what can be kept and using the GPUs with the most staying workloads
// first. Ties go to the smaller profile, which wastes less.
func (p *problem) solveSingle() ([]decision, func(unit) int, bool, error) {
	exact := len(p.gpus) <= MaxExactGPUs
	var best *singleCandidate
	for kind := range p.whole + 1 {
		c := p.singleCandidate(kind, exact)
		if c.valid && (best == nil || c.c.less(best.c)) {
			best = &c
		}
	}
	if best == nil {
		return nil, nil, false, ErrDisruptionRequired
	}
	return best.decs, p.singleKindOf(best.kind), exact, nil
}

func (p *problem) singleCandidate(kind int, exact bool) singleCandidate {
	c := singleCandidate{kind: kind, cap: 1}
	if kind < p.whole {
		if c.cap = p.fill[kind]; c.cap == 0 {
			return c // no instance of it fits at all
		}
	}
	kindOf := p.singleKindOf(kind)
	p.bindStayers(kindOf)
	covered, stayAll := 0, 0
	for _, u := range p.units {
		if kindOf(u) >= 0 {
			covered++
		}
	}
	for _, g := range p.gpus {
		stayAll += g.stayTotal
	}
	uncovered := len(p.units) - covered

	// Per GPU, its options: what it holds, whether it changes.
	type opt struct {
		used, keep bool
		cap        int
		changed    bool
		disruptive bool
		stays      int
	}
	per := make([][]opt, len(p.gpus))
	for i, g := range p.gpus {
		pure, curCap := false, 0
		if kind == p.whole {
			pure, curCap = !g.MIGEnabled, 1
		} else if g.MIGEnabled && len(g.slotKind) > 0 {
			pure, curCap = true, len(g.slotKind)
			for _, k := range g.slotKind {
				pure = pure && k == kind
			}
		}
		var os []opt
		if pure {
			os = append(os, opt{keep: true}, opt{used: true, keep: true, cap: curCap, stays: g.stayTotal})
			if curCap < c.cap {
				os = append(os, opt{used: true, cap: c.cap, changed: true, disruptive: g.inUse})
			}
		} else {
			os = append(os, opt{changed: true, disruptive: g.inUse}, opt{used: true, cap: c.cap, changed: true, disruptive: g.inUse})
		}
		if p.opts.Policy == PolicyNoDisruption {
			os = slices.DeleteFunc(os, func(o opt) bool { return o.disruptive })
			if len(os) == 0 {
				return c // this profile would re-partition a busy GPU
			}
		}
		per[i] = os
	}
	score := func(choice []int) cost {
		used, capSum, disruptive, changed, stays := 0, 0, 0, 0, 0
		for i, ci := range choice {
			o := per[i][ci]
			if o.used {
				used++
				capSum += o.cap
				stays += o.stays
			}
			if o.changed {
				changed++
			}
			if o.disruptive {
				disruptive++
			}
		}
		return p.mk(uncovered+covered-min(covered, capSum), used, disruptive, changed, stayAll-stays)
	}
	choice := make([]int, len(p.gpus))
	var bestChoice []int
	var bestCost cost
	if exact {
		var walk func(i int)
		walk = func(i int) {
			if i == len(p.gpus) {
				if sc := score(choice); bestChoice == nil || sc.less(bestCost) {
					bestChoice, bestCost = append([]int(nil), choice...), sc
				}
				return
			}
			for ci := range per[i] {
				choice[i] = ci
				walk(i + 1)
			}
		}
		walk(0)
	} else {
		// Unused by default; then use GPUs, most staying workloads and
		// largest capacity first, until the covered demand fits.
		order := make([]int, len(p.gpus))
		for i := range order {
			order[i] = i
		}
		usedOpt := func(i int) int {
			for ci, o := range per[i] {
				if o.used && (o.keep || len(per[i]) == 2) {
					return ci
				}
			}
			return 0
		}
		slices.SortStableFunc(order, func(a, b int) int {
			oa, ob := per[a][usedOpt(a)], per[b][usedOpt(b)]
			if oa.stays != ob.stays {
				return ob.stays - oa.stays
			}
			return ob.cap - oa.cap
		})
		capSum := 0
		for _, i := range order {
			if capSum >= covered {
				break
			}
			if ci := usedOpt(i); per[i][ci].used {
				choice[i] = ci
				capSum += per[i][ci].cap
			}
		}
		bestChoice, bestCost = choice, score(choice)
	}
	c.c, c.valid = bestCost, true
	c.decs = make([]decision, len(p.gpus))
	for i, ci := range bestChoice {
		o := per[i][ci]
		d := decision{keep: o.keep}
		if !o.keep {
			d.enabled = kind != p.whole
			if d.enabled {
				d.layout[kind] = uint8(c.cap)
			}
		}
		if o.used {
			d.host[kind] = uint8(o.cap)
		}
		c.decs[i] = d
	}
	return c
}
