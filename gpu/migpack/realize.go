package migpack

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/rightsizer/rightsizer/gpu/mig"
)

// layoutOf builds GPU i's planned instances, sorted by placement start,
// and for a kept layout the instance index of each current slot.
func (p *problem) layoutOf(i int, d decision) ([]Instance, []int, error) {
	g := &p.gpus[i]
	if !d.keep {
		if !d.enabled {
			return nil, nil, nil
		}
		witness, err := p.oracle.Fit(p.counts(d.layout))
		if err != nil {
			return nil, nil, fmt.Errorf("gpu %d: planned layout: %w", g.Index, err) // a broken invariant: sets are feasible
		}
		out := make([]Instance, len(witness))
		for k, in := range witness {
			out[k] = Instance{Instance: in}
		}
		return out, nil, nil
	}
	if !g.MIGEnabled {
		return nil, nil, nil
	}
	// Keep the known placements; let the oracle place the rest around
	// them (newProblem checked that it can).
	var known []mig.Instance
	rest := p.counts(g.cur)
	for s, slot := range g.Instances {
		if slot.Placement.Size > 0 {
			known = append(known, mig.Instance{Profile: slot.Profile, Placement: slot.Placement})
			rest[g.slotKind[s]]--
		}
	}
	witness, err := p.oracle.Extend(known, rest)
	if err != nil {
		return nil, nil, fmt.Errorf("gpu %d: current layout: %w", g.Index, err)
	}
	for _, in := range known {
		j := slices.Index(witness, in)
		witness = slices.Delete(witness, j, j+1)
	}
	type placed struct {
		in   Instance
		slot int
	}
	all := make([]placed, len(g.Instances))
	for s, slot := range g.Instances {
		pl := slot.Placement
		if pl.Size == 0 {
			j := slices.IndexFunc(witness, func(in mig.Instance) bool { return in.Profile == slot.Profile })
			pl = witness[j].Placement
			witness = slices.Delete(witness, j, j+1)
		}
		all[s] = placed{Instance{Instance: mig.Instance{Profile: slot.Profile, Placement: pl}}, s}
	}
	slices.SortStableFunc(all, func(a, b placed) int { return cmp.Compare(a.in.Placement.Start, b.in.Placement.Start) })
	out := make([]Instance, len(all))
	slotInst := make([]int, len(all))
	for k, x := range all {
		out[k] = x.in
		slotInst[x.slot] = k
	}
	return out, slotInst, nil
}

// realize turns per-GPU decisions into a plan: layouts with witness
// placements, then units onto instances, workloads that can stay first
// (in their own instance), then the rest in demand order, preferring
// instances free now over ones a moving workload vacates.
func (p *problem) realize(decs []decision, kindOf func(unit) int, exact bool) (NodePlan, error) {
	plan := NodePlan{
		Node: p.node.Name, Model: p.model.Name, Strategy: p.opts.strategy(), Policy: p.opts.Policy,
		GPUs: make([]GPUPlan, len(p.gpus)), Total: len(p.gpus), Exact: exact, maxFill: map[string]int{},
	}
	for k, pr := range p.model.Profiles {
		plan.maxFill[pr.Name] = p.fill[k]
	}
	slotInst := make([][]int, len(p.gpus))
	taken := make([][]bool, len(p.gpus))
	wholeTaken := make([]bool, len(p.gpus))
	quota := make([]vec, len(p.gpus))
	for i, d := range decs {
		g := &p.gpus[i]
		gp := GPUPlan{Index: g.Index, MIGEnabled: g.MIGEnabled, Changed: !d.keep}
		if !d.keep {
			gp.MIGEnabled = d.enabled
		}
		ins, si, err := p.layoutOf(i, d)
		if err != nil {
			return NodePlan{}, fmt.Errorf("node %s: %w", p.node.Name, err)
		}
		gp.Instances, slotInst[i], taken[i] = ins, si, make([]bool, len(ins))
		if gp.Changed && g.inUse {
			gp.Disruptive = true
			for _, s := range g.Instances {
				if s.Workload != "" && !slices.Contains(gp.Evicted, s.Workload) {
					gp.Evicted = append(gp.Evicted, s.Workload)
				}
			}
			if g.Workload != "" {
				gp.Evicted = append(gp.Evicted, g.Workload)
			}
			slices.Sort(gp.Evicted)
		}
		plan.GPUs[i] = gp
		quota[i] = d.host
	}

	plan.Assignments = make([]Assignment, len(p.units))
	for ui, u := range p.units {
		d := p.demands[u.demand]
		plan.Assignments[ui] = Assignment{Workload: d.Workload, Requested: d.Profile, GPU: -1, Instance: -1}
	}
	assign := func(ui, gi, inst int) {
		k := kindOf(p.units[ui])
		a := &plan.Assignments[ui]
		a.GPU, a.Instance, a.Profile = p.gpus[gi].Index, inst, p.kindName(k)
		quota[gi][k]--
		if inst < 0 {
			wholeTaken[gi] = true
			plan.GPUs[gi].Workload = a.Workload
		} else {
			taken[gi][inst] = true
			plan.GPUs[gi].Instances[inst].Workload = a.Workload
		}
	}
	stayed := make([]bool, len(p.units))
	for ui, u := range p.units {
		k := kindOf(u)
		if u.stayGPU < 0 || k < 0 || !decs[u.stayGPU].keep || quota[u.stayGPU][k] == 0 {
			continue
		}
		inst := -1
		if u.staySlot >= 0 {
			inst = slotInst[u.stayGPU][u.staySlot]
		}
		assign(ui, u.stayGPU, inst)
		stayed[ui] = true
	}
	// Per kind, the units still to place, in demand order.
	queue := make([][]int, p.whole+1)
	for ui, u := range p.units {
		if k := kindOf(u); k >= 0 && !stayed[ui] {
			queue[k] = append(queue[k], ui)
		}
	}
	for gi := range p.gpus {
		for k := range p.whole + 1 {
			for quota[gi][k] > 0 && len(queue[k]) > 0 {
				inst := -1
				if k != p.whole {
					inst = p.freeInstance(gi, k, plan.GPUs[gi].Instances, taken[gi], decs[gi].keep, slotInst[gi])
					if inst < 0 {
						return NodePlan{}, fmt.Errorf("node %s: gpu %d: no free %s instance for its quota", p.node.Name, p.gpus[gi].Index, p.kindName(k))
					}
				} else if wholeTaken[gi] {
					break
				}
				assign(queue[k][0], gi, inst)
				queue[k] = queue[k][1:]
			}
		}
	}

	for ui, u := range p.units {
		a := plan.Assignments[ui]
		if a.GPU < 0 {
			plan.Unplaced++
		}
		if u.placed && !stayed[ui] {
			plan.Assignments[ui].Moved = true
			plan.Moved++
		}
	}
	for _, gp := range plan.GPUs {
		if gp.Used() {
			plan.Used++
		}
		if gp.Changed {
			plan.Changed = append(plan.Changed, gp.Index)
		}
		if gp.Disruptive {
			plan.Disrupted = append(plan.Disrupted, gp.Index)
		}
	}
	return plan, nil
}

// freeInstance picks an untaken instance of profile kind k on GPU gi: on a
// kept layout one nobody uses now before one a moving workload vacates.
func (p *problem) freeInstance(gi, k int, ins []Instance, taken []bool, keep bool, slotInst []int) int {
	name := p.kindName(k)
	vacated := -1
	for j, in := range ins {
		if taken[j] || in.Profile != name {
			continue
		}
		if !keep {
			return j
		}
		busy := false
		for s, sj := range slotInst {
			if sj == j {
				busy = p.gpus[gi].Instances[s].Workload != ""
			}
		}
		if !busy {
			return j
		}
		if vacated < 0 {
			vacated = j
		}
	}
	return vacated
}
