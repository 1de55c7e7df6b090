package nodeplan_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/nodeplan"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/nodeplan/lowerbound"
	"github.com/rightsizer/rightsizer/recommender"
)

const gib = recommender.GiB

// TestPlanProperties packs seeded random instances (GPUs, shares, model
// constraints, taints, selectors, spot copies, unplaceable pods) and
// replays every plan onto fresh cluster.Nodes.
func TestPlanProperties(t *testing.T) {
	t.Parallel()
	for seed := range uint64(30) {
		in := randomInstance(seed, 10+int(seed)*4, 4+int(seed%9))
		in.MaxMoves = 300
		in.Budget = time.Minute
		res, err := nodeplan.Plan(t.Context(), in)
		require.NoError(t, err, "seed %d", seed)
		checkPlan(t, in, res)
		require.False(t, res.Stats.BudgetHit)
	}
	// More distinct pods than the column generation takes (and than the
	// construction compares types on in full).
	in := randomInstance(77, 900, 12)
	in.Budget = time.Minute
	res, err := nodeplan.Plan(t.Context(), in)
	require.NoError(t, err)
	require.Greater(t, res.Stats.Classes, 256)
	require.Zero(t, res.Stats.Columns)
	checkPlan(t, in, res)
}

// TestPlanDeterministic checks that the same input gives the same plan,
// and that the plan survives a JSON round trip.
func TestPlanDeterministic(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3} {
		in := randomInstance(100+seed, 120+400*int(seed/3), 10)
		in.MaxMoves = 500
		in.Budget = time.Minute
		a, err := nodeplan.Plan(t.Context(), in)
		require.NoError(t, err)
		b, err := nodeplan.Plan(t.Context(), in)
		require.NoError(t, err)
		require.Equal(t, a, b, "seed %d", seed)
		data, err := json.Marshal(a)
		require.NoError(t, err)
		var back nodeplan.Result
		require.NoError(t, json.Unmarshal(data, &back))
		require.Equal(t, a.Nodes, back.Nodes)
		require.InDelta(t, a.CostPerHour, back.CostPerHour, 1e-9)
	}
}

func cpuType(name string, cores int, memGiB recommender.Bytes, price float64) cluster.NodeType {
	return cluster.NodeType{
		Name: name, CapacityType: "on-demand", PricePerHour: price,
		Allocatable: cluster.Resources{CPU: recommender.MilliCPU(cores * 1000), Memory: memGiB * gib, Pods: 110},
	}
}

func gpuNodeType(name string, gpus int, model string, price float64) cluster.NodeType {
	t := cpuType(name, 8*gpus, recommender.Bytes(32*gpus), price)
	t.GPUs, t.GPUModel = gpus, model
	return t
}

// TestPlanKnownOptimum plans small cases whose cheapest plan is known.
func TestPlanKnownOptimum(t *testing.T) {
	t.Parallel()
	tolerate := []cluster.Toleration{{Key: "gpu", Operator: "Exists"}}
	tainted := gpuNodeType("t4-tainted", 1, "T4", 0.2)
	tainted.Taints = []cluster.Taint{{Key: "gpu", Value: "true", Effect: "NoSchedule"}}
	pool := cpuType("pool-b", 8, 32, 0.3)
	pool.Labels = map[string]string{"pool": "b"}
	// One GPU, or two for a bit less than twice the price.
	shareTypes := []cluster.NodeType{gpuNodeType("g1", 1, "T4", 1), gpuNodeType("g2", 2, "T4", 1.8)}
	tests := []struct {
		name  string
		pods  []cluster.Pod
		types []cluster.NodeType
		cost  float64
		nodes map[string]int // type name → count
		check func(t *testing.T, res *nodeplan.Result)
	}{{
		name:  "two small nodes beat one big one (a 1→2 split)",
		pods:  []cluster.Pod{{Name: "a", CPU: 3500}, {Name: "b", CPU: 3500}},
		types: []cluster.NodeType{cpuType("big", 8, 32, 10), cpuType("small", 4, 16, 4)},
		cost:  8, nodes: map[string]int{"small": 2},
	}, {
		name:  "one big node beats three small ones",
		pods:  []cluster.Pod{{Name: "a", CPU: 2500}, {Name: "b", CPU: 2500}, {Name: "c", CPU: 2500}},
		types: []cluster.NodeType{cpuType("big", 8, 32, 7), cpuType("small", 4, 16, 4)},
		cost:  7, nodes: map[string]int{"big": 1},
	}, {
		name: "a GPU share pair on one GPU",
		pods: []cluster.Pod{
			{Name: "s600", CPU: 1000, GPU: cluster.GPURequest{Milli: 600}},
			{Name: "s400", CPU: 1000, GPU: cluster.GPURequest{Milli: 400}},
		},
		types: shareTypes,
		cost:  1, nodes: map[string]int{"g1": 1},
		check: func(t *testing.T, res *nodeplan.Result) {
			require.Equal(t, []int{0}, res.Nodes[0].Pods[0].GPUs)
			require.Equal(t, []int{0}, res.Nodes[0].Pods[1].GPUs)
		},
	}, {
		name: "shares that cannot pair take two GPUs of one node",
		pods: []cluster.Pod{
			{Name: "s600", CPU: 1000, GPU: cluster.GPURequest{Milli: 600}},
			{Name: "s601", CPU: 1000, GPU: cluster.GPURequest{Milli: 601}},
		},
		types: shareTypes,
		cost:  1.8, nodes: map[string]int{"g2": 1},
		check: func(t *testing.T, res *nodeplan.Result) {
			require.NotEqual(t, res.Nodes[0].Pods[0].GPUs, res.Nodes[0].Pods[1].GPUs)
		},
	}, {
		name: "complementary pods share a balanced node",
		pods: []cluster.Pod{{Name: "cpu", CPU: 7000, Memory: 4 * gib}, {Name: "mem", CPU: 500, Memory: 56 * gib}},
		types: []cluster.NodeType{
			cpuType("c", 8, 16, 0.34), cpuType("r", 2, 64, 0.5), cpuType("m", 8, 64, 0.6),
		},
		cost: 0.6, nodes: map[string]int{"m": 1},
	}, {
		name:  "a GPU model constraint",
		pods:  []cluster.Pod{{Name: "a100", CPU: 1000, GPU: cluster.GPURequest{Count: 1, Models: []string{"A100"}}}},
		types: []cluster.NodeType{gpuNodeType("t4", 1, "T4", 0.5), gpuNodeType("a100", 1, "A100", 3)},
		cost:  3, nodes: map[string]int{"a100": 1},
	}, {
		name: "taints keep pods without tolerations off",
		pods: []cluster.Pod{
			{Name: "cpu", CPU: 1000},
			{Name: "gpu", CPU: 1000, GPU: cluster.GPURequest{Count: 1}, Tolerations: tolerate},
		},
		types: []cluster.NodeType{tainted, cpuType("c", 2, 4, 0.1)},
		cost:  0.3, nodes: map[string]int{"t4-tainted": 1, "c": 1},
	}, {
		name:  "a node selector",
		pods:  []cluster.Pod{{Name: "b", CPU: 1000, NodeSelector: map[string]string{"pool": "b"}}},
		types: []cluster.NodeType{cpuType("cheap", 2, 8, 0.1), pool},
		cost:  0.3, nodes: map[string]int{"pool-b": 1},
	}, {
		name:  "whole GPUs of one pod on one node",
		pods:  []cluster.Pod{{Name: "x4", CPU: 1000, GPU: cluster.GPURequest{Count: 4}}},
		types: []cluster.NodeType{gpuNodeType("g1", 1, "T4", 0.5), gpuNodeType("g4", 4, "T4", 2.5)},
		cost:  2.5, nodes: map[string]int{"g4": 1},
		check: func(t *testing.T, res *nodeplan.Result) {
			require.Equal(t, []int{0, 1, 2, 3}, res.Nodes[0].Pods[0].GPUs)
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := nodeplan.Input{Pods: tt.pods, Types: tt.types, Seed: 7, Budget: time.Minute}
			res, err := nodeplan.Plan(t.Context(), in)
			require.NoError(t, err)
			checkPlan(t, in, res)
			require.InDelta(t, tt.cost, res.CostPerHour, 1e-9)
			got := map[string]int{}
			for _, bt := range res.ByType {
				got[bt.Name] += bt.Count
			}
			require.Equal(t, tt.nodes, got)
			require.Empty(t, res.Unplaced)
			if tt.check != nil {
				tt.check(t, res)
			}
			// The bound holds, and is met where the plan is optimal.
			require.LessOrEqual(t, res.LowerBoundPerHour, res.CostPerHour+1e-9)
			require.GreaterOrEqual(t, res.GapPct, -1e-9)
		})
	}
}

// TestPlanUnplaced reports why pods no type admits are left out.
func TestPlanUnplaced(t *testing.T) {
	t.Parallel()
	g := gpuNodeType("g8", 8, "T4", 4)
	g.Labels = map[string]string{"pool": "gpu"}
	types := []cluster.NodeType{cpuType("c", 96, 16, 0.2), g}
	pods := []cluster.Pod{
		{Name: "fits", CPU: 1000},
		{Name: "too-many-gpus", CPU: 1000, GPU: cluster.GPURequest{Count: 10}},
		{Name: "no-such-model", CPU: 1000, GPU: cluster.GPURequest{Count: 1, Models: []string{"H100"}}},
		{Name: "no-such-label", CPU: 1000, NodeSelector: map[string]string{"pool": "cpu"}},
		{Name: "too-much-cpu", CPU: 1000_000},
		{Name: "combination", CPU: 70_000, NodeSelector: map[string]string{"pool": "gpu"}, GPU: cluster.GPURequest{Milli: 10}},
	}
	in := nodeplan.Input{Pods: pods, Types: types, Seed: 1}
	res, err := nodeplan.Plan(t.Context(), in)
	require.NoError(t, err)
	checkPlan(t, in, res)
	want := map[string]string{
		"too-many-gpus": "GPU count: needs 10, the most on any type is 8",
		"no-such-model": "GPU model: wants one of [H100]",
		"no-such-label": "node selector: no type has the labels map[pool:cpu]",
		"too-much-cpu":  "cpu: requests 1000, the most any type allocates is 96",
		"combination":   "none meets all; the closest, g8 (on-demand), fails cpu",
	}
	require.Len(t, res.Unplaced, len(want))
	for _, u := range res.Unplaced {
		require.Equal(t, pods[u.Pod].Name, u.Name)
		require.Contains(t, u.Reason, want[u.Name], u.Name)
		require.True(t, strings.HasPrefix(u.Reason, "no node type admits it: "), u.Reason)
	}
	require.Len(t, res.Nodes, 1)
	// The bound leaves the unplaced pods out: it is the bound of the one
	// that fits.
	b, err := lowerbound.Compute(t.Context(), pods[:1], types, lowerbound.Options{})
	require.NoError(t, err)
	require.Equal(t, b.CostPerHour, res.LowerBoundPerHour)
	require.Positive(t, res.LowerBoundPerHour)
}

// TestPlanGPUVendor keeps GPU pods (nvidia.com/gpu) off AMD GPU nodes,
// even untainted and cheaper, and says so when nothing else has GPUs.
func TestPlanGPUVendor(t *testing.T) {
	t.Parallel()
	amd := gpuNodeType("g4ad", 4, "radeon-pro-v520", 0.1)
	amd.GPUResource = "amd.com/gpu"
	nvidia := gpuNodeType("g4dn", 4, "t4", 1)
	pods := []cluster.Pod{{Name: "cuda", CPU: 1000, GPU: cluster.GPURequest{Count: 1}}, {Name: "web", CPU: 1000}}
	in := nodeplan.Input{Pods: pods, Types: []cluster.NodeType{amd, cpuType("c", 2, 4, 0.5)}, Seed: 1}
	res, err := nodeplan.Plan(t.Context(), in)
	require.NoError(t, err)
	checkPlan(t, in, res)
	require.Len(t, res.Unplaced, 1)
	require.Equal(t, "no node type admits it: GPU vendor: wants nvidia.com/gpu, the types' GPUs are [amd.com/gpu]", res.Unplaced[0].Reason)
	require.Equal(t, []string{"g4ad"}, nodeTypeNames(res), "the cheapest node for the pod without GPUs")

	in.Types = append(in.Types, nvidia)
	res, err = nodeplan.Plan(t.Context(), in)
	require.NoError(t, err)
	checkPlan(t, in, res)
	require.Empty(t, res.Unplaced)
	require.Equal(t, []string{"g4dn"}, nodeTypeNames(res), "both pods on the NVIDIA node")
}

func nodeTypeNames(res *nodeplan.Result) []string {
	var names []string
	for _, n := range res.Nodes {
		names = append(names, n.TypeName)
	}
	return names
}

// TestPlanInvalid names the bad input.
func TestPlanInvalid(t *testing.T) {
	t.Parallel()
	ok := cpuType("c", 2, 4, 0.1)
	tests := []struct {
		name string
		in   nodeplan.Input
		want string
	}{
		{"no types", nodeplan.Input{Pods: []cluster.Pod{{Name: "a"}}}, "no node types for 1 pods"},
		{"NaN price", nodeplan.Input{Types: []cluster.NodeType{{Name: "x", PricePerHour: math.NaN()}}}, `node type 0 ("x"): [price NaN`},
		{"negative price", nodeplan.Input{Types: []cluster.NodeType{{Name: "x", PricePerHour: -1}}}, "price -1 USD/h"},
		{"negative allocatable", nodeplan.Input{Types: []cluster.NodeType{{Name: "x", Allocatable: cluster.Resources{CPU: -1}}}}, "negative allocatable"},
		{"too many GPUs", nodeplan.Input{Types: []cluster.NodeType{{Name: "x", GPUs: 65}}}, "65 GPUs: want 0..64"},
		{"bad pod", nodeplan.Input{Pods: []cluster.Pod{{Name: "p", CPU: -5}}, Types: []cluster.NodeType{ok}}, `pod 0: pod "p": negative request`},
		{"bad share", nodeplan.Input{Pods: []cluster.Pod{{Name: "p", GPU: cluster.GPURequest{Milli: 1000}}}, Types: []cluster.NodeType{ok}}, "GPU share 1000 milli"},
		{"negative budget", nodeplan.Input{Budget: -time.Second}, "negative budget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := nodeplan.Plan(t.Context(), tt.in)
			require.ErrorContains(t, err, tt.want)
		})
	}
	_, err := nodeplan.Plan(t.Context(), nodeplan.Input{Pods: []cluster.Pod{{Name: "a"}}})
	require.ErrorIs(t, err, nodeplan.ErrNoFeasibleOffering)
}

// TestPlanEmpty plans nothing for no pods.
func TestPlanEmpty(t *testing.T) {
	t.Parallel()
	res, err := nodeplan.Plan(t.Context(), nodeplan.Input{Types: []cluster.NodeType{cpuType("c", 2, 4, 0.1)}})
	require.NoError(t, err)
	require.Empty(t, res.Nodes)
	require.Zero(t, res.CostPerHour)
	require.Zero(t, res.GapPct)
}

// TestPlanCanceled returns ctx's error when ctx ends before or during
// the search.
func TestPlanCanceled(t *testing.T) {
	t.Parallel()
	in := randomInstance(5, 2000, 20)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := nodeplan.Plan(ctx, in)
	require.ErrorIs(t, err, context.Canceled)

	ctx, cancel = context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	in.MaxMoves = 1 << 30
	in.Budget = time.Hour
	_, err = nodeplan.Plan(ctx, in)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
}

// TestPlanBudget stops the improvement at the budget and says so.
func TestPlanBudget(t *testing.T) {
	t.Parallel()
	in := randomInstance(9, 3000, 20)
	in.MaxMoves = 1 << 30
	in.Budget = time.Nanosecond
	res, err := nodeplan.Plan(t.Context(), in)
	require.NoError(t, err)
	checkPlan(t, in, res)
	require.True(t, res.Stats.BudgetHit)
}

func TestCompare(t *testing.T) {
	t.Parallel()
	cur := &nodeplan.Result{CostPerHour: 10, Nodes: make([]nodeplan.Node, 4)}
	rec := &nodeplan.Result{CostPerHour: 7.5, Nodes: make([]nodeplan.Node, 3)}
	s := nodeplan.Compare(cur, rec)
	require.InDelta(t, 2.5, s.SavingPerHour, 1e-12)
	require.InDelta(t, 2.5*nodeplan.HoursPerMonth, s.SavingPerMonth, 1e-9)
	require.InDelta(t, 25, s.SavingPct, 1e-12)
	require.InDelta(t, 7300, s.CurrentPerMonth, 1e-9)
	require.Equal(t, 4, s.CurrentNodes)
	require.Equal(t, 3, s.RecommendedNodes)
	require.Zero(t, nodeplan.Compare(nil, nil).SavingPct)
	require.InDelta(t, -7.5, nodeplan.Compare(nil, rec).SavingPerHour, 1e-12)
}
