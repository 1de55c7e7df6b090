package migpack

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/rightsizer/rightsizer/gpu/mig"
)

// maxKinds bounds the kinds of instance (a model's profiles, plus the
// whole GPU) the search's fixed-size count vectors hold.
const maxKinds = 16

// maxCount bounds the counts the search's vectors hold (bytes); a node
// holds at most a few dozen instances, so a larger demand is capped (the
// excess is unplaced whatever the plan).
const maxCount = 255

// MaxDemandCount bounds a Demand's Count, to bound the units a plan lists.
const MaxDemandCount = 1 << 16

// vec counts instances or demand units per kind: the model's profiles by
// index, then the whole GPU.
type vec [maxKinds]uint8

func (v vec) total() int {
	n := 0
	for _, x := range v {
		n += int(x)
	}
	return n
}

func (v vec) empty() bool { return v == vec{} }

// le reports v ≤ r in every kind.
func (v vec) le(r vec) bool {
	for k := range v {
		if v[k] > r[k] {
			return false
		}
	}
	return true
}

func (v vec) minus(r vec) vec {
	for k := range v {
		v[k] -= r[k]
	}
	return v
}

func vmin(a, b vec) vec {
	for k := range a {
		a[k] = min(a[k], b[k])
	}
	return a
}

// unit is one instance (or whole GPU) one demand needs.
type unit struct {
	demand int // index into problem.demands
	kind   int // profile index, or problem.whole
	// stayGPU and staySlot locate the instance of this unit's kind the
	// workload holds now (staySlot -1: the whole GPU); stayGPU -1 when it
	// holds none of its kind.
	stayGPU, staySlot int
	// placed reports that the workload holds an instance now (of any
	// kind): the unit moves unless it stays in its slot.
	placed bool
}

// gpuState is one GPU's current state, indexed for the search.
type gpuState struct {
	GPU
	cur       vec   // instances per kind now; the whole-GPU kind is 1 when MIG is off
	slotKind  []int // kind of each of Instances
	inUse     bool
	stay      vec // per kind, units that may stay on this GPU (mixed)
	stayTotal int
}

// problem is one node's planning input, validated and indexed. It is
// built and used by one goroutine.
type problem struct {
	node    Node
	opts    Options
	oracle  *mig.Oracle
	model   mig.Model
	whole   int      // the whole-GPU kind: len(model.Profiles)
	demands []Demand // the node's demands, then the implicit ones
	units   []unit
	gpus    []gpuState // by ascending Index
	sets    []fset     // every feasible non-empty multiset of profiles
	// fill is, per profile, the most instances of it alone one GPU holds;
	// computeOf and memoryOf are each kind's slices (a whole GPU's for
	// the whole-GPU kind), byCompute and byMemory the kinds by them,
	// smallest first. The search's bounds use them.
	fill                []int
	computeOf, memoryOf []int
	byCompute, byMemory []int
	// maximalCache memoises maximalSets: the search meets the same
	// remaining demand at many GPUs.
	maximalCache map[vec][]int32
}

// fset is one feasible multiset of profiles.
type fset struct {
	v       vec
	ext     uint16 // kinds k for which v plus one k is still feasible
	support uint16 // kinds k with v[k] > 0
}

// support is the set of kinds r holds, one bit each.
func (v vec) support() uint16 {
	var m uint16
	for k, x := range v {
		if x > 0 {
			m |= 1 << k
		}
	}
	return m
}

func (p *problem) kindName(k int) string {
	if k == p.whole {
		return WholeGPU
	}
	return p.model.Profiles[k].Name
}

func (p *problem) kind(name string) (int, bool) {
	if name == WholeGPU {
		return p.whole, true
	}
	return p.oracle.Index(name)
}

func (p *problem) counts(v vec) mig.Counts {
	c := make(mig.Counts, p.whole)
	for k := range p.whole {
		c[k] = int(v[k])
	}
	return c
}

func (p *problem) profileNames() string {
	names := make([]string, len(p.model.Profiles))
	for i, pr := range p.model.Profiles {
		names[i] = pr.Name
	}
	return strings.Join(names, ", ")
}

// newProblem validates a node and indexes it. Every problem is reported,
// joined, wrapping ErrInvalidInput.
func newProblem(n Node, opts Options) (*problem, error) {
	o, err := mig.NewOracle(n.Model)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w: %w", n.Name, ErrInvalidInput, err)
	}
	p := &problem{node: n, opts: opts, oracle: o, model: o.Model(), whole: len(n.Model.Profiles)}
	if p.whole+1 > maxKinds {
		return nil, fmt.Errorf("node %s: %s has %d profiles, at most %d: %w", n.Name, n.Model.Name, p.whole, maxKinds-1, ErrInvalidInput)
	}
	switch opts.strategy() {
	case StrategyMixed, StrategySingle:
	default:
		return nil, fmt.Errorf("node %s: unknown strategy %q (single or mixed): %w", n.Name, opts.Strategy, ErrInvalidInput)
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("node %s: "+format, append([]any{n.Name}, args...)...))
	}

	gpus := slices.Clone(n.GPUs)
	slices.SortStableFunc(gpus, func(a, b GPU) int { return cmp.Compare(a.Index, b.Index) })
	for i, g := range gpus {
		if g.Index < 0 || (i > 0 && gpus[i-1].Index == g.Index) {
			bad("gpu index %d negative or repeated", g.Index)
			continue
		}
		st := gpuState{GPU: g, inUse: g.InUse()}
		if !g.MIGEnabled {
			if len(g.Instances) > 0 {
				bad("gpu %d: MIG disabled but %d instances listed", g.Index, len(g.Instances))
			}
			st.cur[p.whole] = 1
			p.gpus = append(p.gpus, st)
			continue
		}
		if g.Workload != "" {
			bad("gpu %d: MIG enabled but a whole-GPU workload %q listed", g.Index, g.Workload)
		}
		var known []mig.Instance
		ok := true
		for _, s := range g.Instances {
			k, found := p.oracle.Index(s.Profile)
			if !found {
				bad("gpu %d: instance profile %q is not a %s profile (%s)", g.Index, s.Profile, p.model.Name, p.profileNames())
				ok = false
				continue
			}
			st.slotKind = append(st.slotKind, k)
			if st.cur[k] == maxCount {
				ok = false
				continue
			}
			st.cur[k]++
			if s.Placement.Size > 0 {
				known = append(known, mig.Instance{Profile: s.Profile, Placement: s.Placement})
			}
		}
		if ok {
			// The current layout must be one the GPU can hold: the known
			// placements as they are, the rest wherever they fit.
			rest := p.counts(st.cur)
			for _, in := range known {
				k, _ := p.oracle.Index(in.Profile)
				rest[k]--
			}
			if _, err := p.oracle.Extend(known, rest); err != nil {
				bad("gpu %d: current layout: %w", g.Index, err)
			}
		}
		p.gpus = append(p.gpus, st)
	}

	seen := make(map[string]bool, len(n.Demands))
	for _, d := range n.Demands {
		switch {
		case d.Workload == "":
			bad("demand for %q without a workload", d.Profile)
			continue
		case seen[d.Workload]:
			bad("workload %q has two demands", d.Workload)
			continue
		case d.Count < 0 || d.Count > MaxDemandCount:
			bad("workload %q: count %d (0 to %d)", d.Workload, d.Count, MaxDemandCount)
			continue
		}
		seen[d.Workload] = true
		if _, ok := p.kind(d.Profile); !ok {
			bad("workload %q: profile %q is not a %s profile (%s) nor %s", d.Workload, d.Profile, p.model.Name, p.profileNames(), WholeGPU)
			continue
		}
		d.Count = max(d.Count, 1)
		p.demands = append(p.demands, d)
	}
	if err := joinErrors(errs); err != nil {
		return nil, err
	}

	// Workloads running with no demand keep what they hold.
	implicit := map[[2]string]int{}
	for _, g := range p.gpus {
		held := func(w, profile string) {
			if w == "" || seen[w] {
				return
			}
			key := [2]string{w, profile}
			if i, ok := implicit[key]; ok {
				p.demands[i].Count++
				return
			}
			implicit[key] = len(p.demands)
			p.demands = append(p.demands, Demand{Workload: w, Profile: profile, Count: 1})
		}
		if !g.MIGEnabled {
			held(g.Workload, WholeGPU)
		}
		for _, s := range g.Instances {
			held(s.Workload, s.Profile)
		}
	}
	for i, d := range p.demands {
		k, _ := p.kind(d.Profile)
		for range d.Count {
			p.units = append(p.units, unit{demand: i, kind: k, stayGPU: -1, staySlot: -1})
		}
	}
	p.bindStayers(func(u unit) int { return u.kind })

	for _, c := range p.oracle.Multisets(nil) {
		var v vec
		for k, x := range c {
			v[k] = uint8(x)
		}
		p.sets = append(p.sets, fset{v: v, support: v.support()})
	}
	// Fullest layouts first (compute, then memory slices): the search
	// finds good plans early and prunes more, and ties go to them.
	weight := func(v vec) (int, int) {
		c, m := 0, 0
		for k, pr := range p.model.Profiles {
			c += int(v[k]) * pr.ComputeSlices
			m += int(v[k]) * pr.MemorySlices
		}
		return c, m
	}
	slices.SortStableFunc(p.sets, func(a, b fset) int {
		ca, ma := weight(a.v)
		cb, mb := weight(b.v)
		return cmp.Or(cmp.Compare(cb, ca), cmp.Compare(mb, ma))
	})
	fills := maxFills(p.oracle)
	for _, pr := range p.model.Profiles {
		p.fill = append(p.fill, fills[pr.Name])
		p.computeOf = append(p.computeOf, pr.ComputeSlices)
		p.memoryOf = append(p.memoryOf, pr.MemorySlices)
	}
	p.computeOf = append(p.computeOf, p.model.ComputeSlices)
	p.memoryOf = append(p.memoryOf, p.model.MemorySlices)
	for k := range p.whole + 1 {
		p.byCompute = append(p.byCompute, k)
		p.byMemory = append(p.byMemory, k)
	}
	slices.SortStableFunc(p.byCompute, func(a, b int) int { return cmp.Compare(p.computeOf[a], p.computeOf[b]) })
	slices.SortStableFunc(p.byMemory, func(a, b int) int { return cmp.Compare(p.memoryOf[a], p.memoryOf[b]) })
	feasible := make(map[vec]bool, len(p.sets))
	for _, s := range p.sets {
		feasible[s.v] = true
	}
	for i := range p.sets {
		for k := range p.whole {
			next := p.sets[i].v
			next[k]++
			if feasible[next] {
				p.sets[i].ext |= 1 << k
			}
		}
	}
	return p, nil
}

// bindStayers ties each instance a workload holds now to one of the
// workload's units whose planned kind (kindOf) matches it, in GPU and
// slot order, and counts per GPU the units that may stay. Units of a
// workload that holds instances but is not bound are marked placed: they
// move whatever the plan.
func (p *problem) bindStayers(kindOf func(unit) int) {
	byWorkload := map[string][]int{}
	for i := range p.units {
		u := &p.units[i]
		u.stayGPU, u.staySlot, u.placed = -1, -1, false
		w := p.demands[u.demand].Workload
		byWorkload[w] = append(byWorkload[w], i)
	}
	held := map[string]int{}
	bind := func(gi, slot int, w string, kind int) {
		if w == "" {
			return
		}
		held[w]++
		for _, ui := range byWorkload[w] {
			u := &p.units[ui]
			if u.stayGPU < 0 && kindOf(*u) == kind {
				u.stayGPU, u.staySlot, u.placed = gi, slot, true
				p.gpus[gi].stay[kind]++
				p.gpus[gi].stayTotal++
				return
			}
		}
	}
	for gi := range p.gpus {
		g := &p.gpus[gi]
		g.stay, g.stayTotal = vec{}, 0
		if !g.MIGEnabled {
			bind(gi, -1, g.Workload, p.whole)
			continue
		}
		for s, slot := range g.Instances {
			bind(gi, s, slot.Workload, g.slotKind[s])
		}
	}
	// A workload holding n instances now has n units placed (its bound
	// ones first); each workload is independent of the others, so the
	// map's order does not matter.
	for w, n := range held {
		units := byWorkload[w]
		placed := 0
		for _, ui := range units {
			if p.units[ui].placed {
				placed++
			}
		}
		for _, ui := range units {
			if placed >= n {
				break
			}
			if u := &p.units[ui]; !u.placed {
				u.placed = true
				placed++
			}
		}
	}
}

// demandVec counts the units per kind, capped at what the node could ever
// hold (the excess is unplaced whatever the plan).
func (p *problem) demandVec(kindOf func(unit) int) (vec, int) {
	var want [maxKinds]int
	for _, u := range p.units {
		want[kindOf(u)]++
	}
	var r vec
	excess := 0
	for k := range p.whole + 1 {
		limit := len(p.gpus)
		if k < p.whole {
			limit *= p.model.Profiles[k].MaxCount
		}
		limit = min(limit, maxCount)
		r[k] = uint8(min(want[k], limit))
		excess += want[k] - int(r[k])
	}
	return r, excess
}

func joinErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return fmt.Errorf("%w:\n  %s", ErrInvalidInput, strings.Join(msgs, "\n  "))
}
