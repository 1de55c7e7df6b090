package lowerbound

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// optimum is the cheapest plan that places every pod, by brute force:
// the cheapest node for every subset of pods, then the cheapest cover of
// all by disjoint subsets (dynamic programming over subsets, 3ⁿ). +Inf
// when some pod fits no type. Up to about 10 pods.
func optimum(pods []cluster.Pod, types []cluster.NodeType) float64 {
	n := len(pods)
	full := 1<<n - 1
	node := make([]float64, full+1)
	for mask := 1; mask <= full; mask++ {
		node[mask] = math.Inf(1)
		for t := range types {
			if holds(&types[t], pods, mask) {
				node[mask] = min(node[mask], types[t].PricePerHour)
			}
		}
	}
	best := make([]float64, full+1)
	for mask := 1; mask <= full; mask++ {
		best[mask] = math.Inf(1)
		low := mask & -mask
		for sub := mask; sub > 0; sub = (sub - 1) & mask {
			if sub&low != 0 {
				best[mask] = min(best[mask], node[sub]+best[mask^sub])
			}
		}
	}
	return best[full]
}

// holds reports whether one node of type t can run the pods in mask
// together: each admitted, their requests within the allocatable, whole
// GPUs on GPUs of their own and the shares packed onto the rest.
func holds(t *cluster.NodeType, pods []cluster.Pod, mask int) bool {
	var sum cluster.Resources
	whole := 0
	var shares []int
	for i := range pods {
		if mask&(1<<i) == 0 {
			continue
		}
		if !t.Admits(&pods[i]) {
			return false
		}
		sum = sum.Add(pods[i].Resources())
		whole += pods[i].GPU.Count
		if m := pods[i].GPU.Milli; m > 0 {
			shares = append(shares, m)
		}
	}
	if !t.Allocatable.Covers(sum) || whole > t.GPUs {
		return false
	}
	free := make([]int, t.GPUs-whole)
	for i := range free {
		free[i] = cluster.MilliGPU
	}
	return packShares(shares, free)
}

// packShares reports whether the shares fit the GPUs' free milli.
func packShares(shares, free []int) bool {
	if len(shares) == 0 {
		return true
	}
	for g := range free {
		if free[g] >= shares[0] {
			free[g] -= shares[0]
			ok := packShares(shares[1:], free)
			free[g] += shares[0]
			if ok {
				return true
			}
		}
	}
	return false
}

// fullLP solves the LP Compute solves, with every type and every row and
// no column generation, by gonum's dense simplex: the oracle for the
// solver and the type reduction. NaN when gonum fails, which it does on
// some larger instances (a singular starting basis).
func fullLP(t *testing.T, pods []cluster.Pod, types []cluster.NodeType, dffOrder int) float64 {
	t.Helper()
	g := group(pods, types, MaxMaxClasses)
	nts := buildTypes(&g, types, dffOrder)
	nc := len(g.lp)
	// Columns: per type x, then its y per class; then a surplus per class
	// and a slack per type row.
	var cost []float64
	type entry struct {
		row int
		v   float64
	}
	var cols [][]entry
	rows := nc
	for _, nt := range nts {
		first := rows
		rows += len(nt.rows)
		x := []entry{}
		for r := range nt.rows {
			x = append(x, entry{first + r, -1})
		}
		cost, cols = append(cost, nt.price), append(cols, x)
		for j, c := range nt.classes {
			y := []entry{{c, 1}}
			for r := range nt.rows {
				y = append(y, entry{first + r, nt.rows[r][j]})
			}
			cost, cols = append(cost, 0), append(cols, y)
		}
	}
	for c := range nc {
		cost, cols = append(cost, 0), append(cols, []entry{{c, -1}})
	}
	for r := nc; r < rows; r++ {
		cost, cols = append(cost, 0), append(cols, []entry{{r, 1}})
	}
	a := mat.NewDense(rows, len(cols), nil)
	for j, col := range cols {
		for _, e := range col {
			a.Set(e.row, j, e.v)
		}
	}
	b := make([]float64, rows)
	for c := range nc {
		b[c] = g.lp[c].n
	}
	v, _, err := lp.Simplex(cost, a, b, 1e-10, nil)
	if err != nil {
		return math.NaN() // gonum could not start (singular basis)
	}
	return v
}

// randomInstance draws a small instance: up to 3 node types with up to 4
// GPUs of model A or B, pool labels and a GPU taint (sometimes a twin of
// the first with other labels and taints), and up to maxPods pods with
// shares, whole GPUs, model lists, selectors and tolerations, plus a few
// copies.
func randomInstance(r *rand.Rand, maxPods int) ([]cluster.Pod, []cluster.NodeType) {
	types := make([]cluster.NodeType, 1+r.IntN(3))
	for i := range types {
		t := cluster.NodeType{
			Name:         "t" + string(rune('0'+i)),
			PricePerHour: float64(1+r.IntN(40)) / 8,
			Allocatable: cluster.Resources{
				CPU:    recommender.MilliCPU(1000 * (1 + r.IntN(8))),
				Memory: recommender.Bytes(1+r.IntN(16)) * recommender.GiB,
				Pods:   2 + r.IntN(7),
			},
			GPUs:     []int{0, 0, 1, 2, 4}[r.IntN(5)],
			GPUModel: []string{"A", "B"}[r.IntN(2)],
			Labels:   map[string]string{"pool": []string{"a", "b"}[r.IntN(2)]},
		}
		if t.GPUs > 0 && r.IntN(3) == 0 {
			t.Taints = []cluster.Taint{{Key: "gpu", Value: "true", Effect: "NoSchedule"}}
		}
		types[i] = t
	}
	if r.IntN(3) == 0 { // a twin that only its labels and taints tell apart
		twin := types[0]
		twin.Name += "-twin"
		twin.Labels = map[string]string{"pool": "a"}
		if twin.Labels["pool"] == types[0].Labels["pool"] {
			twin.Labels["pool"] = "b"
		}
		if len(twin.Taints) == 0 {
			twin.Taints = []cluster.Taint{{Key: "gpu", Value: "true", Effect: "NoSchedule"}}
		} else {
			twin.Taints = nil
		}
		types = append(types, twin)
	}
	pods := make([]cluster.Pod, 1+r.IntN(maxPods))
	for i := range pods {
		p := cluster.Pod{
			Name:   "p" + string(rune('0'+i)),
			CPU:    recommender.MilliCPU(250 * r.IntN(17)),
			Memory: recommender.Bytes(r.IntN(17)) * recommender.GiB / 2,
		}
		switch r.IntN(4) {
		case 1:
			p.GPU.Milli = []int{100, 250, 300, 334, 400, 499, 500, 501, 600, 700, 999}[r.IntN(11)]
		case 2:
			p.GPU.Count = 1 + r.IntN(3)
		}
		if p.GPU.Any() && r.IntN(4) == 0 {
			p.GPU.Models = []string{"A"}
		}
		if r.IntN(4) == 0 {
			p.NodeSelector = map[string]string{"pool": "a"}
		}
		if r.IntN(2) == 0 {
			p.Tolerations = []cluster.Toleration{{Key: "gpu", Operator: "Exists"}}
		}
		pods[i] = p
	}
	// Copies make classes with several pods.
	for range r.IntN(3) {
		pods = append(pods, pods[r.IntN(len(pods))])
	}
	return pods, types
}

// TestRandomAgainstOracles checks, on seeded random small instances, that
// the bound never exceeds the brute-force optimum, that it equals the
// full LP solved by gonum (so column and row generation and the type
// reduction lose nothing), that merged classes keep it valid, and that
// Infeasible lists exactly the pods no type admits.
func TestRandomAgainstOracles(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(8, 2023))
	tight := 0
	for i := range 1000 {
		pods, types := randomInstance(r, 7)
		opts := Options{}
		if i%4 == 3 {
			opts.MaxClasses = 1 + r.IntN(3)
		}
		b, err := Compute(t.Context(), pods, types, opts)
		require.NoError(t, err)

		var feasible []cluster.Pod
		for p := range pods {
			admitted := slices.ContainsFunc(types, func(nt cluster.NodeType) bool { return nt.Admits(&pods[p]) })
			require.Equal(t, !admitted, slices.Contains(b.Infeasible, p), "instance %d pod %d", i, p)
			if admitted {
				feasible = append(feasible, pods[p])
			}
		}
		if len(feasible) == 0 {
			require.Equal(t, MethodNone, b.Method)
			require.Zero(t, b.CostPerHour)
			continue
		}
		opt := optimum(feasible, types)
		require.LessOrEqual(t, b.CostPerHour, opt*(1+1e-9), "instance %d: bound above the optimum\npods %+v\ntypes %+v", i, pods, types)
		require.GreaterOrEqual(t, b.CostPerHour, 0.0)
		if b.CostPerHour >= opt*(1-1e-9) {
			tight++
		}
		if b.Classes == b.PodClasses {
			want := fullLP(t, feasible, types, DefaultDFFOrder)
			require.False(t, math.IsNaN(want), "instance %d: gonum failed", i)
			requireLPOptimum(t, b, want, "instance %d: %+v, LP %v\npods %+v\ntypes %+v", i, b, want, pods, types)
		}
	}
	t.Logf("bound equals the optimum on %d of 1000 instances", tight)
	require.Greater(t, tight, 300, "the bound should often be exact on tiny instances")
}

// TestReductionKeepsOptimum compares the LP with and without dropping
// dominated types, on instances with many similar types.
func TestReductionKeepsOptimum(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 100 {
		pods, _ := randomInstance(r, 7)
		var types []cluster.NodeType
		for range 2 + r.IntN(8) {
			_, ts := randomInstance(r, 1)
			types = append(types, ts...)
		}
		// Scaled copies: the same shape, a dearer price per resource, or
		// a doubled node at less than double the price.
		for _, nt := range slices.Clone(types) {
			dear := nt
			dear.PricePerHour *= 1.5
			big := nt
			big.Allocatable = nt.Allocatable.Add(nt.Allocatable)
			big.GPUs *= 2
			big.PricePerHour *= 1.9
			types = append(types, dear, big)
		}
		reduced, err := Compute(t.Context(), pods, types, Options{})
		require.NoError(t, err)
		all, err := Compute(t.Context(), pods, types, Options{noReduce: true})
		require.NoError(t, err)
		require.InDelta(t, all.CostPerHour, reduced.CostPerHour, 1e-7*max(all.CostPerHour, 1), "instance %d", i)
	}
}

// TestDominance checks the dominance rule on hand-made types.
func TestDominance(t *testing.T) {
	t.Parallel()
	pods := []cluster.Pod{
		{CPU: 1500, Memory: recommender.GiB},
		{CPU: 500, Memory: 3 * recommender.GiB},
	}
	mk := func(cpu recommender.MilliCPU, mem recommender.Bytes, price float64) cluster.NodeType {
		return cluster.NodeType{PricePerHour: price, Allocatable: cluster.Resources{CPU: cpu, Memory: mem, Pods: 100}}
	}
	tests := []struct {
		name    string
		types   []cluster.NodeType
		dropped []bool
	}{
		{"dearer copy", []cluster.NodeType{mk(4000, 8*recommender.GiB, 1), mk(4000, 8*recommender.GiB, 2)}, []bool{false, true}},
		{"a hair dearer", []cluster.NodeType{mk(4000, 8*recommender.GiB, 1), mk(4000, 8*recommender.GiB, 1.0000001)}, []bool{false, true}},
		{"double at double price: the bigger packs better", []cluster.NodeType{mk(4000, 8*recommender.GiB, 1), mk(8000, 16*recommender.GiB, 2)}, []bool{true, false}},
		{"double for less", []cluster.NodeType{mk(4000, 8*recommender.GiB, 1), mk(8000, 16*recommender.GiB, 1.5)}, []bool{true, false}},
		{"more memory, less CPU", []cluster.NodeType{mk(4000, 8*recommender.GiB, 1), mk(2000, 16*recommender.GiB, 1)}, []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := group(pods, tt.types, DefaultMaxClasses)
			p := newProblem(g, tt.types, DefaultDFFOrder, true)
			for i, nt := range p.types {
				require.Equal(t, tt.dropped[i], nt.by != nil, "type %d", i)
			}
		})
	}
}

// TestLPAgainstGonum checks the LP's optimum against gonum's dense
// simplex on random instances too large for brute force: dozens of pods
// and up to nine types.
func TestLPAgainstGonum(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	multi, checked := 0, 0
	for i := range 15 {
		var pods []cluster.Pod
		var types []cluster.NodeType
		for range 2 + r.IntN(2) {
			ps, ts := randomInstance(r, 8)
			pods, types = append(pods, ps...), append(types, ts...)
		}
		b, err := Compute(t.Context(), pods, types, Options{})
		require.NoError(t, err)
		if b.Method == MethodNone {
			continue
		}
		feasible := feasiblePods(pods, b)
		require.Contains(t, []string{MethodLP, MethodLargestPod}, b.Method, "instance %d", i)
		if b.Rounds > 1 {
			multi++
		}
		want := fullLP(t, feasible, types, DefaultDFFOrder)
		if math.IsNaN(want) {
			continue
		}
		checked++
		requireLPOptimum(t, b, want, "instance %d", i)
	}
	t.Logf("%d of 15 instances checked against gonum, %d took more than one round", checked, multi)
	require.Greater(t, checked, 10)
}

// requireLPOptimum checks that Compute solved the LP to its optimum want:
// the bound is the LP's certificate, equal to it, or the largest-pod
// bound, above it, with the LP's objective equal to it.
func requireLPOptimum(t *testing.T, b Bound, want float64, msgAndArgs ...any) {
	t.Helper()
	tol := 1e-7 * max(want, 1)
	switch b.Method {
	case MethodLP:
		require.InDelta(t, want, b.CostPerHour, tol, msgAndArgs...)
	case MethodLargestPod:
		require.Greater(t, b.CostPerHour, want, msgAndArgs...)
		require.InDelta(t, want, b.LPCostPerHour, tol, msgAndArgs...)
	default:
		require.Fail(t, "not the LP optimum: "+b.Method, msgAndArgs...)
	}
}
