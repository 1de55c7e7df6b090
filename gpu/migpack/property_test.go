package migpack

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/gpu/mig"
)

// checkPlan checks the invariants every plan must hold, whatever the
// search: layouts the oracle accepts, unchanged GPUs really unchanged,
// disruption reported exactly for changed GPUs in use (and never under
// PolicyNoDisruption), the single strategy's one-profile rule, and every
// demand unit on exactly one instance of a profile that serves it.
func checkPlan(t testing.TB, n Node, opts Options, p NodePlan) {
	t.Helper()
	cur := map[int]GPU{}
	for _, g := range n.GPUs {
		cur[g.Index] = g
	}
	require.Len(t, p.GPUs, len(n.GPUs))
	single := opts.strategy() == StrategySingle
	var singleKind string
	used, unplaced := 0, 0
	var changed, disrupted []int
	for i, g := range p.GPUs {
		if i > 0 {
			require.Less(t, p.GPUs[i-1].Index, g.Index, "GPUs by index")
		}
		c, ok := cur[g.Index]
		require.True(t, ok)
		if g.MIGEnabled {
			var layout []mig.Instance
			for _, in := range g.Instances {
				layout = append(layout, in.Instance)
			}
			require.NoError(t, n.Model.ValidateLayout(layout), "gpu %d", g.Index)
			require.Empty(t, g.Workload)
		} else {
			require.Empty(t, g.Instances)
		}
		if !g.Changed {
			require.Equal(t, c.MIGEnabled, g.MIGEnabled, "gpu %d unchanged", g.Index)
			want, got := map[string]int{}, map[string]int{}
			for _, s := range c.Instances {
				want[s.Profile]++
			}
			for _, in := range g.Instances {
				got[in.Profile]++
			}
			require.Equal(t, want, got, "gpu %d unchanged", g.Index)
		} else {
			changed = append(changed, g.Index)
		}
		require.Equal(t, g.Changed && c.InUse(), g.Disruptive, "gpu %d: disruptive exactly when changed in use", g.Index)
		if g.Disruptive {
			disrupted = append(disrupted, g.Index)
			require.NotEqual(t, PolicyNoDisruption, opts.Policy, "no-disruption re-partitioned gpu %d in use", g.Index)
			require.NotEmpty(t, g.Evicted)
		}
		if g.Used() {
			used++
		}
		if single {
			kind := "off"
			if g.MIGEnabled {
				require.NotEmpty(t, g.Instances, "single: an empty MIG GPU makes the node invalid")
				kind = g.Instances[0].Profile
				for _, in := range g.Instances {
					require.Equal(t, kind, in.Profile, "single: one profile per GPU")
				}
			}
			if singleKind == "" {
				singleKind = kind
			}
			require.Equal(t, singleKind, kind, "single: one profile per node")
		}
	}
	require.Equal(t, used, p.Used)
	require.Equal(t, changed, p.Changed)
	require.Equal(t, disrupted, p.Disrupted)

	// Every demand unit, explicit or implicit, has one assignment.
	units := map[string]int{}
	explicit := map[string]bool{}
	for _, d := range n.Demands {
		units[d.Workload+"/"+d.Profile] += max(d.Count, 1)
		explicit[d.Workload] = true
	}
	for _, g := range n.GPUs {
		if g.Workload != "" && !explicit[g.Workload] {
			units[g.Workload+"/"+WholeGPU]++
		}
		for _, s := range g.Instances {
			if s.Workload != "" && !explicit[s.Workload] {
				units[s.Workload+"/"+s.Profile]++
			}
		}
	}
	held, unitsOf := map[string]int{}, map[string]int{}
	for _, g := range n.GPUs {
		if g.Workload != "" {
			held[g.Workload]++
		}
		for _, s := range g.Instances {
			if s.Workload != "" {
				held[s.Workload]++
			}
		}
	}
	moved, still, stays := map[string]int{}, map[string]int{}, map[string]int{}
	got := map[string]int{}
	type ref struct{ gpu, inst int }
	seen := map[ref]bool{}
	for _, a := range p.Assignments {
		got[a.Workload+"/"+a.Requested]++
		unitsOf[a.Workload]++
		if a.GPU < 0 {
			if a.Moved {
				moved[a.Workload]++
			} else {
				still[a.Workload]++
			}
			unplaced++
			continue
		}
		g := p.gpu(a.GPU)
		r := ref{a.GPU, a.Instance}
		require.False(t, seen[r], "two units on gpu %d instance %d", a.GPU, a.Instance)
		seen[r] = true
		if a.Instance < 0 {
			require.False(t, g.MIGEnabled)
			require.Equal(t, WholeGPU, a.Profile)
			require.Equal(t, a.Workload, g.Workload)
		} else {
			require.True(t, g.MIGEnabled)
			in := g.Instances[a.Instance]
			require.Equal(t, a.Profile, in.Profile)
			require.Equal(t, a.Workload, in.Workload)
		}
		if single {
			if a.Requested != a.Profile {
				pa, okA := n.Model.Profile(a.Profile)
				pr, okR := n.Model.Profile(a.Requested)
				if a.Profile != WholeGPU {
					require.True(t, okA && okR, "single gives %s for %s", a.Profile, a.Requested)
					require.GreaterOrEqual(t, pa.ComputeSlices, pr.ComputeSlices)
					require.GreaterOrEqual(t, pa.MemoryMiB, pr.MemoryMiB)
				}
			}
		} else {
			require.Equal(t, a.Requested, a.Profile, "mixed: exactly the profile asked for")
		}
		if !a.Moved && a.GPU >= 0 && !g.Changed {
			c := cur[a.GPU]
			if (a.Instance < 0 && c.Workload == a.Workload) ||
				(a.Instance >= 0 && slices.ContainsFunc(c.Instances, func(s Slot) bool { return s.Workload == a.Workload && s.Profile == a.Profile })) {
				stays[a.Workload]++
			}
		}
		if a.Moved {
			moved[a.Workload]++
		} else {
			still[a.Workload]++
		}
	}
	// A unit that does not move either stays where its workload is now or
	// is new; one that moves held an instance.
	for w, n := range unitsOf {
		require.LessOrEqual(t, moved[w], held[w], "%s: more units moved than it holds", w)
		require.LessOrEqual(t, still[w]-stays[w], max(0, n-held[w]), "%s: a unit claims to stay but is not where it is now", w)
	}
	require.Equal(t, units, got, "one assignment per unit")
	for _, g := range p.GPUs {
		for j, in := range g.Instances {
			if in.Workload != "" {
				require.True(t, seen[ref{g.Index, j}], "instance with a workload but no assignment")
			}
		}
	}
	require.Equal(t, unplaced, p.Unplaced)
}

// randomNode draws a node: 1 to maxGPUs GPUs, each MIG off (maybe busy)
// or a random feasible layout with random instances busy, and demands
// that keep, change or drop the running workloads and add new ones.
func randomNode(rng *rand.Rand, m mig.Model, maxGPUs int) Node {
	o, _ := mig.NewOracle(m)
	sets := o.Multisets(nil)
	n := Node{Name: "rand", Model: m}
	w := 0
	var running []Demand
	for i := range 1 + rng.IntN(maxGPUs) {
		g := GPU{Index: i}
		if rng.IntN(10) < 6 {
			g.MIGEnabled = true
			if rng.IntN(10) > 0 {
				for k, c := range sets[rng.IntN(len(sets))] {
					for range c {
						s := Slot{Profile: m.Profiles[k].Name}
						if rng.IntN(10) < 4 {
							w++
							s.Workload = fmt.Sprintf("w%d", w)
							running = append(running, Demand{s.Workload, s.Profile, 1})
						}
						g.Instances = append(g.Instances, s)
					}
				}
				rng.Shuffle(len(g.Instances), func(a, b int) { g.Instances[a], g.Instances[b] = g.Instances[b], g.Instances[a] })
			}
		} else if rng.IntN(10) < 3 {
			w++
			g.Workload = fmt.Sprintf("w%d", w)
			running = append(running, Demand{g.Workload, WholeGPU, 1})
		}
		n.GPUs = append(n.GPUs, g)
	}
	profile := func() string {
		if rng.IntN(12) == 0 {
			return WholeGPU
		}
		return m.Profiles[rng.IntN(len(m.Profiles))].Name
	}
	for _, d := range running {
		switch rng.IntN(10) {
		case 0, 1, 2: // no demand: implicit
		case 3, 4, 5:
			n.Demands = append(n.Demands, Demand{d.Workload, profile(), 1})
		default:
			n.Demands = append(n.Demands, d)
		}
	}
	for range rng.IntN(5) {
		w++
		n.Demands = append(n.Demands, Demand{fmt.Sprintf("w%d", w), profile(), rng.IntN(3)})
	}
	rng.Shuffle(len(n.Demands), func(a, b int) { n.Demands[a], n.Demands[b] = n.Demands[b], n.Demands[a] })
	return n
}

// bruteForce returns the best (unplaced, used, disruptive, changed), in
// the policy's order, over every assignment of a target to every GPU:
// unused (layout kept), or used with its current layout, MIG off, or any
// feasible multiset no larger than the demand (larger ones only add
// instances nobody takes). A target's capacity serves any unit of its
// kinds, so units placed = Σ per kind min(demand, capacity). It knows
// nothing of the packer's search: no maximality, no memo.
func bruteForce(t testing.TB, n Node, opts Options) (cost, bool) {
	t.Helper()
	o, err := mig.NewOracle(n.Model)
	require.NoError(t, err)
	np := len(n.Model.Profiles)
	whole := np
	idx := func(name string) int {
		if name == WholeGPU {
			return whole
		}
		i, ok := o.Index(name)
		require.True(t, ok, name)
		return i
	}
	want := make([]int, np+1)
	explicit := map[string]bool{}
	for _, d := range n.Demands {
		want[idx(d.Profile)] += max(d.Count, 1)
		explicit[d.Workload] = true
	}
	type gpuCur struct {
		enabled bool
		counts  []int
		inUse   bool
		kinds   map[int]bool
	}
	var gs []gpuCur
	for _, g := range n.GPUs {
		c := gpuCur{enabled: g.MIGEnabled, counts: make([]int, np+1), inUse: g.InUse(), kinds: map[int]bool{}}
		if !g.MIGEnabled {
			c.counts[whole] = 1
			if g.Workload != "" && !explicit[g.Workload] {
				want[whole]++
			}
		}
		for _, s := range g.Instances {
			c.counts[idx(s.Profile)]++
			c.kinds[idx(s.Profile)] = true
			if s.Workload != "" && !explicit[s.Workload] {
				want[idx(s.Profile)]++
			}
		}
		gs = append(gs, c)
	}
	mk := func(unplaced, used, disruptive, changed int) cost {
		if opts.Policy == PolicyNoDisruption {
			return cost{unplaced, used, changed, 0, 0}
		}
		return cost{unplaced, used, disruptive, changed, 0}
	}
	type target struct {
		caps       []int
		used       bool
		changed    bool
		disruptive bool
	}
	total := 0
	for _, x := range want {
		total += x
	}
	var best cost
	found := false
	search := func(options [][]target, place func(caps []int) int) {
		caps := make([]int, np+1)
		var walk func(i, used, disruptive, changed int)
		walk = func(i, used, disruptive, changed int) {
			if i == len(options) {
				c := mk(total-place(caps), used, disruptive, changed)
				if !found || c.less(best) {
					best, found = c, true
				}
				return
			}
			for _, tg := range options[i] {
				for k, x := range tg.caps {
					caps[k] += x
				}
				u, d, ch := used, disruptive, changed
				if tg.used {
					u++
				}
				if tg.disruptive {
					d++
				}
				if tg.changed {
					ch++
				}
				walk(i+1, u, d, ch)
				for k, x := range tg.caps {
					caps[k] -= x
				}
			}
		}
		walk(0, 0, 0, 0)
	}
	allowed := func(tg target) bool { return opts.Policy != PolicyNoDisruption || !tg.disruptive }

	if opts.strategy() == StrategyMixed {
		options := make([][]target, len(gs))
		for i, g := range gs {
			options[i] = []target{{caps: make([]int, np+1)}, {caps: g.counts, used: true}}
			add := func(caps []int) {
				tg := target{caps: caps, used: true, changed: true, disruptive: g.inUse}
				if allowed(tg) {
					options[i] = append(options[i], tg)
				}
			}
			if g.enabled {
				off := make([]int, np+1)
				off[whole] = 1
				add(off)
			}
			for _, s := range o.Multisets(nil) {
				caps := append(slices.Clone([]int(s)), 0)
				fits := true
				for k := range np {
					fits = fits && caps[k] <= want[k]
				}
				current := g.enabled && slices.Equal(caps, g.counts)
				if fits && !current {
					add(caps)
				}
			}
		}
		search(options, func(caps []int) int {
			placed := 0
			for k := range caps {
				placed += min(caps[k], want[k])
			}
			return placed
		})
		return best, found
	}

	// Single: for each profile (and MIG off), every GPU holds only it.
	for kind := range np + 1 {
		covered := 0
		for k := range np + 1 {
			if coversForTest(n.Model, kind, k) {
				covered += want[k]
			}
		}
		options := make([][]target, len(gs))
		ok := true
		for i, g := range gs {
			pure := false
			if kind == whole {
				pure = !g.enabled
			} else {
				pure = g.enabled && len(g.kinds) == 1 && g.kinds[kind]
			}
			var opts []target
			if pure {
				opts = append(opts, target{caps: make([]int, np+1)}, target{caps: []int{g.counts[kind]}, used: true})
			} else {
				opts = append(opts, target{caps: make([]int, np+1), changed: true, disruptive: g.inUse})
			}
			maxN := 1
			if kind < whole {
				maxN = n.Model.Profiles[kind].MaxCount
			}
			for c := 1; c <= maxN; c++ {
				if kind < whole {
					counts := make(mig.Counts, np)
					counts[kind] = c
					if !o.Feasible(counts) {
						break
					}
				}
				opts = append(opts, target{caps: []int{c}, used: true, changed: !pure || c != g.counts[kind], disruptive: g.inUse && (!pure || c != g.counts[kind])})
			}
			opts = slices.DeleteFunc(opts, func(tg target) bool { return !allowed(tg) })
			if len(opts) == 0 {
				ok = false
				break
			}
			for j := range opts {
				opts[j].caps = append(opts[j].caps, make([]int, np+1-len(opts[j].caps))...)
			}
			options[i] = opts
		}
		if !ok {
			continue
		}
		search(options, func(caps []int) int { return min(covered, caps[0]) })
	}
	return best, found
}

func coversForTest(m mig.Model, a, b int) bool {
	np := len(m.Profiles)
	switch {
	case a == np:
		return true
	case b == np:
		return false
	}
	pa, pb := m.Profiles[a], m.Profiles[b]
	return (pa.MediaExtensions || !pb.MediaExtensions) && pa.ComputeSlices >= pb.ComputeSlices &&
		pa.MemorySlices >= pb.MemorySlices && pa.MemoryMiB >= pb.MemoryMiB && pa.SMs >= pb.SMs
}

// TestPlanProperties plans seeded random nodes and checks each plan's
// invariants, that it is optimal against brute force for the policy's
// objectives (unplaced, GPUs used, disruptive, re-partitioned), and that
// planning is deterministic.
func TestPlanProperties(t *testing.T) {
	t.Parallel()
	models := []mig.Model{h100(t)}
	if m, ok := mig.ForPCIDeviceID(0x20B010DE); ok {
		models = append(models, m)
	}
	for seed := range uint64(400) {
		rng := rand.New(rand.NewPCG(seed, 7))
		m := models[rng.IntN(len(models))]
		n := randomNode(rng, m, 3)
		opts := Options{Strategy: []Strategy{StrategyMixed, StrategySingle}[rng.IntN(2)], Policy: Policy(rng.IntN(2))}
		name := fmt.Sprintf("seed %d %s %s", seed, opts.Strategy, opts.Policy)
		p, err := PlanNode(n, opts)
		want, possible := bruteForce(t, n, opts)
		if errors.Is(err, ErrDisruptionRequired) {
			require.False(t, possible, "%s: brute force found a plan: %+v", name, n)
			continue
		}
		require.NoError(t, err, name)
		require.True(t, possible, name)
		require.True(t, p.Exact, name)
		checkPlan(t, n, opts, p)
		got := (&problem{opts: opts}).mk(p.Unplaced, p.Used, len(p.Disrupted), len(p.Changed), 0)
		got[4] = 0
		if opts.Policy == PolicyNoDisruption {
			got[3] = 0
		}
		require.Equal(t, want, got, "%s: %+v\n%+v", name, n, p)
		again, err := PlanNode(n, opts)
		require.NoError(t, err)
		require.Equal(t, p, again, "%s: deterministic", name)
	}
}

// TestPackProperties packs seeded random bags onto fresh GPUs: every
// layout feasible, never fewer GPUs than the lower bound, and as few as a
// brute-force bin packing finds on small bags.
func TestPackProperties(t *testing.T) {
	t.Parallel()
	m := h100(t)
	o, err := mig.NewOracle(m)
	require.NoError(t, err)
	sets := o.Multisets(nil)
	for seed := range uint64(150) {
		rng := rand.New(rand.NewPCG(seed, 11))
		var demands []Demand
		want := make(mig.Counts, len(m.Profiles))
		for i := range 1 + rng.IntN(6) {
			k := rng.IntN(len(m.Profiles))
			c := 1 + rng.IntN(2)
			want[k] += c
			demands = append(demands, Demand{fmt.Sprintf("d%d", i), m.Profiles[k].Name, c})
		}
		pk, err := Pack(m, demands, Options{})
		require.NoError(t, err)
		require.True(t, pk.Exact)
		require.Zero(t, pk.Unplaced)
		require.GreaterOrEqual(t, pk.Used, pk.LowerBound)
		require.Equal(t, pk.Total, pk.Used, "no idle fresh GPU")
		checkPlan(t, Node{Model: m, GPUs: freshGPUs(pk.Total), Demands: demands}, Options{}, pk.NodePlan)
		require.Equal(t, minBins(sets, want), pk.Used, "seed %d: %v", seed, want)
	}
}

func freshGPUs(n int) []GPU {
	out := make([]GPU, n)
	for i := range out {
		out[i] = GPU{Index: i}
	}
	return out
}

// minBins is breadth-first search over the remaining demand: the fewest
// feasible multisets (any, not just maximal ones) that cover it.
func minBins(sets []mig.Counts, want mig.Counts) int {
	key := func(c mig.Counts) string { return fmt.Sprint([]int(c)) }
	frontier := []mig.Counts{want}
	seen := map[string]bool{key(want): true}
	for depth := 0; ; depth++ {
		var next []mig.Counts
		for _, r := range frontier {
			if r.Total() == 0 {
				return depth
			}
			for _, s := range sets {
				rest := slices.Clone(r)
				ok := false
				for k := range rest {
					take := min(rest[k], s[k])
					ok = ok || take > 0
					rest[k] -= take
				}
				if ok && !seen[key(rest)] {
					seen[key(rest)] = true
					next = append(next, rest)
				}
			}
		}
		frontier = next
	}
}

func TestPack(t *testing.T) {
	t.Parallel()
	m := h100(t)
	for _, tc := range []struct {
		name     string
		demands  []Demand
		opts     Options
		used     int
		lower    int
		exact    bool
		unplaced int
	}{
		{"research: 3g×2 + 1g", []Demand{{"a", "3g.40gb", 2}, {"b", "1g.10gb", 1}}, Options{}, 2, 2, true, 0},
		{"research: 2g×2 + 3g", []Demand{{"a", "3g.40gb", 1}, {"b", "2g.20gb", 2}}, Options{}, 1, 1, true, 0},
		{"whole GPUs", []Demand{{"a", WholeGPU, 3}, {"b", "1g.10gb", 7}}, Options{}, 4, 4, true, 0},
		{"large bag, greedy", []Demand{{"a", "1g.10gb", 300}, {"b", "3g.40gb", 40}, {"c", "2g.20gb", 70}}, Options{}, 0, 0, false, 0},
		{"single", []Demand{{"a", "1g.10gb", 5}, {"b", "2g.20gb", 2}}, Options{Strategy: StrategySingle}, 3, 3, true, 0},
		{"single, whole and +me", []Demand{{"a", WholeGPU, 1}, {"b", "1g.10gb+me", 1}}, Options{Strategy: StrategySingle}, 2, 2, true, 0},
		{"nothing", nil, Options{}, 0, 0, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pk, err := Pack(m, tc.demands, tc.opts)
			require.NoError(t, err)
			checkPlan(t, Node{Model: m, GPUs: freshGPUs(pk.Total), Demands: tc.demands}, tc.opts, pk.NodePlan)
			require.Equal(t, tc.unplaced, pk.Unplaced)
			if tc.used == 0 && len(tc.demands) > 0 {
				// Greedy: within a GPU or two of the bound.
				require.GreaterOrEqual(t, pk.Used, pk.LowerBound)
				require.LessOrEqual(t, pk.Used, pk.LowerBound+2, "lower bound %d", pk.LowerBound)
				return
			}
			require.Equal(t, tc.used, pk.Used)
			require.Equal(t, tc.lower, pk.LowerBound)
			require.Equal(t, tc.exact, pk.Exact)
		})
	}
}
