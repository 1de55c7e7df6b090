package migpack

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rightsizer/rightsizer/gpu/mig"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func h100(t testing.TB) mig.Model {
	t.Helper()
	m, ok := mig.ForPCIDeviceID(0x233010DE)
	require.True(t, ok)
	return m
}

// migGPU builds a MIG-enabled GPU from "profile" or "profile=workload"
// items, placements left to the oracle.
func migGPU(index int, items ...string) GPU {
	g := GPU{Index: index, MIGEnabled: true}
	for _, it := range items {
		p, w, _ := strings.Cut(it, "=")
		g.Instances = append(g.Instances, Slot{Profile: p, Workload: w})
	}
	return g
}

func ones(n int, used ...string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "1g.10gb"
		if i < len(used) {
			out[i] += "=" + used[i]
		}
	}
	return out
}

func layoutOfPlan(g GPUPlan) string {
	if !g.MIGEnabled {
		return "off"
	}
	return formatLayout(g.Instances)
}

func TestPlanNode(t *testing.T) {
	t.Parallel()
	m := h100(t)
	for _, tc := range []struct {
		name      string
		gpus      []GPU
		demands   []Demand
		opts      Options
		used      int
		changed   []int
		disrupted []int
		unplaced  int
		moved     int
		layouts   []string // per GPU, formatLayout or "off"
		config    string   // ConfigName, when checked
	}{
		{
			name: "nothing to do", gpus: []GPU{{Index: 0}, {Index: 1}},
			layouts: []string{"off", "off"}, config: "all-disabled",
		},
		{
			name: "3g×2 + 1g needs two GPUs (research §3.2)", gpus: []GPU{{Index: 0}, {Index: 1}},
			demands: []Demand{{"a", "3g.40gb", 2}, {"b", "1g.10gb", 1}},
			used:    2, changed: []int{0, 1}, layouts: []string{"3g.40gb×2", "1g.10gb"},
		},
		{
			name: "2g×2 + 3g fits one GPU (research §3.2)", gpus: []GPU{{Index: 0}, {Index: 1}},
			demands: []Demand{{"a", "3g.40gb", 1}, {"b", "2g.20gb", 2}},
			used:    1, changed: []int{0}, layouts: []string{"3g.40gb + 2g.20gb×2", "off"},
		},
		{
			name:    "fewest GPUs re-partitions a busy GPU when every GPU is busy",
			gpus:    []GPU{migGPU(0, ones(7, "a")...), migGPU(1, ones(7, "b")...)},
			demands: []Demand{{"a", "1g.10gb", 1}, {"b", "1g.10gb", 1}, {"c", "4g.40gb", 1}},
			used:    1, changed: []int{0}, disrupted: []int{0}, moved: 2,
			layouts: []string{"4g.40gb + 1g.10gb×2", "1g.10gb×7"},
		},
		{
			name:    "no disruption leaves what does not fit unplaced, and consolidates",
			gpus:    []GPU{migGPU(0, ones(7, "a")...), migGPU(1, ones(7, "b")...)},
			demands: []Demand{{"a", "1g.10gb", 1}, {"b", "1g.10gb", 1}, {"c", "4g.40gb", 1}},
			opts:    Options{Policy: PolicyNoDisruption},
			used:    1, unplaced: 1, moved: 1, layouts: []string{"1g.10gb×7", "1g.10gb×7"},
		},
		{
			name:    "moving pods to an empty GPU beats re-partitioning a busy one",
			gpus:    []GPU{migGPU(0, ones(7, "a", "b")...), {Index: 1}},
			demands: []Demand{{"a", "1g.10gb", 1}, {"b", "1g.10gb", 1}, {"c", "4g.40gb", 1}},
			used:    1, changed: []int{1}, moved: 2, layouts: []string{"1g.10gb×7", "4g.40gb + 1g.10gb×2"},
		},
		{
			name:    "free instances take new work without a change",
			gpus:    []GPU{migGPU(0, "3g.40gb=a", "3g.40gb"), {Index: 1}},
			demands: []Demand{{"a", "3g.40gb", 1}, {"b", "3g.40gb", 1}},
			used:    1, layouts: []string{"3g.40gb×2", "off"},
		},
		{
			name:    "a shrunk workload moves to the empty GPU rather than re-partition its own",
			gpus:    []GPU{migGPU(0, "7g.80gb=a"), {Index: 1}},
			demands: []Demand{{"a", "1g.10gb", 1}},
			used:    1, changed: []int{1}, moved: 1, layouts: []string{"7g.80gb", "1g.10gb"},
		},
		{
			name:    "whole GPUs and slices side by side",
			gpus:    []GPU{{Index: 0}, {Index: 1}, {Index: 2}},
			demands: []Demand{{"w", WholeGPU, 1}, {"s", "1g.10gb", 2}},
			used:    2, changed: []int{1}, layouts: []string{"off", "1g.10gb×2", "off"},
		},
		{
			name:    "a busy whole GPU stays",
			gpus:    []GPU{{Index: 0}, {Index: 1, Workload: "w"}},
			demands: []Demand{{"w", WholeGPU, 1}},
			used:    1, layouts: []string{"off", "off"},
		},
		{
			name:    "running workloads without a demand keep their instance",
			gpus:    []GPU{migGPU(0, "2g.20gb=x", "2g.20gb", "2g.20gb")},
			demands: []Demand{{"y", "2g.20gb", 1}},
			used:    1, layouts: []string{"2g.20gb×3"},
		},
		{
			name:    "more than the node holds",
			gpus:    []GPU{{Index: 0}},
			demands: []Demand{{"a", "4g.40gb", 2}},
			used:    1, changed: []int{0}, unplaced: 1, layouts: []string{"4g.40gb"},
		},
		{
			name:    "MIG back off for a whole-GPU demand",
			gpus:    []GPU{migGPU(0, "1g.10gb")},
			demands: []Demand{{"w", WholeGPU, 1}},
			used:    1, changed: []int{0}, layouts: []string{"off"},
		},
		{
			name:    "single: one profile large enough for all",
			gpus:    []GPU{{Index: 0}, {Index: 1}},
			demands: []Demand{{"a", "1g.10gb", 3}, {"b", "2g.20gb", 1}},
			opts:    Options{Strategy: StrategySingle},
			used:    2, changed: []int{0, 1}, layouts: []string{"2g.20gb×3", "2g.20gb×3"},
		},
		{
			name:    "single: an all-1g node keeps its layout",
			gpus:    []GPU{migGPU(0, ones(7, "a", "b", "c")...), migGPU(1, ones(7)...)},
			demands: []Demand{{"a", "1g.10gb", 1}, {"b", "1g.10gb", 1}, {"c", "1g.10gb", 1}, {"d", "1g.10gb", 2}},
			opts:    Options{Strategy: StrategySingle, Policy: PolicyNoDisruption},
			used:    1, layouts: []string{"1g.10gb×7", "1g.10gb×7"}, config: "all-1g.10gb",
		},
		{
			name:    "single: MIG off everywhere for whole GPUs",
			gpus:    []GPU{migGPU(0, "3g.40gb", "3g.40gb"), {Index: 1}},
			demands: []Demand{{"w", WholeGPU, 2}},
			opts:    Options{Strategy: StrategySingle},
			used:    2, changed: []int{0}, layouts: []string{"off", "off"}, config: "all-disabled",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := PlanNode(Node{Name: "n", Model: m, GPUs: tc.gpus, Demands: tc.demands}, tc.opts)
			require.NoError(t, err)
			require.True(t, p.Exact)
			require.Equal(t, tc.used, p.Used, "used")
			require.Equal(t, tc.changed, p.Changed, "changed")
			require.Equal(t, tc.disrupted, p.Disrupted, "disrupted")
			require.Equal(t, tc.unplaced, p.Unplaced, "unplaced")
			require.Equal(t, tc.moved, p.Moved, "moved")
			var layouts []string
			for _, g := range p.GPUs {
				layouts = append(layouts, layoutOfPlan(g))
			}
			require.Equal(t, tc.layouts, layouts)
			if tc.config != "" {
				require.Equal(t, tc.config, p.ConfigName())
			}
			checkPlan(t, Node{Name: "n", Model: m, GPUs: tc.gpus, Demands: tc.demands}, tc.opts, p)
		})
	}
}

func TestPlanNodeEvicts(t *testing.T) {
	t.Parallel()
	p, err := PlanNode(Node{Name: "n", Model: h100(t),
		GPUs:    []GPU{migGPU(0, ones(7, "a", "b")...), migGPU(1, "7g.80gb=x")},
		Demands: []Demand{{"a", "1g.10gb", 1}, {"b", "1g.10gb", 1}, {"c", "4g.40gb", 1}, {"x", "7g.80gb", 1}},
	}, Options{})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, p.GPUs[0].Evicted)
	require.True(t, p.GPUs[0].Disruptive)
	for _, a := range p.Assignments {
		require.Equal(t, a.Workload == "x", a.GPU == 1, a.Workload)
		require.Equal(t, a.Workload == "a" || a.Workload == "b", a.Moved, a.Workload)
	}
}

func TestPlanNodeErrors(t *testing.T) {
	t.Parallel()
	m := h100(t)
	_, err := PlanNode(Node{Name: "bad", Model: m,
		GPUs: []GPU{
			{Index: 0}, {Index: 0},
			migGPU(1, "3g.40gb", "3g.40gb", "1g.10gb"),
			{Index: 2, Instances: []Slot{{Profile: "1g.10gb"}}},
			migGPU(3, "1g.5gb"),
		},
		Demands: []Demand{{"a", "1g.5gb", 1}, {"b", "1g.10gb", 1}, {"b", "1g.10gb", 1}, {"", "1g.10gb", 1}, {"c", "1g.10gb", -1}},
	}, Options{})
	require.ErrorIs(t, err, ErrInvalidInput)
	for _, want := range []string{
		"gpu index 0 negative or repeated",
		"gpu 1: current layout: 3g.40gb×2 + 1g.10gb on H100-80GB",
		"gpu 2: MIG disabled but 1 instances listed",
		`gpu 3: instance profile "1g.5gb" is not a H100-80GB profile (1g.10gb, 1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb)`,
		`workload "a": profile "1g.5gb" is not a H100-80GB profile`,
		`workload "b" has two demands`,
		`demand for "1g.10gb" without a workload`,
		`workload "c": count -1`,
	} {
		require.Contains(t, err.Error(), want)
	}

	_, err = PlanNode(Node{Name: "n", Model: m}, Options{Strategy: "weird"})
	require.ErrorIs(t, err, ErrInvalidInput)

	_, err = PlanNode(Node{Name: "n", Model: m, GPUs: []GPU{migGPU(0, "3g.40gb=a", "2g.20gb")}, Demands: []Demand{{"a", "3g.40gb", 1}}},
		Options{Strategy: StrategySingle, Policy: PolicyNoDisruption})
	require.ErrorIs(t, err, ErrDisruptionRequired)
}

func TestPlanNodeGreedy(t *testing.T) {
	t.Parallel()
	m := h100(t)
	var gpus []GPU
	for i := range 10 {
		gpus = append(gpus, GPU{Index: i})
	}
	gpus[3] = migGPU(3, "3g.40gb=busy", "3g.40gb")
	demands := []Demand{{"busy", "3g.40gb", 1}, {"a", "1g.10gb", 9}, {"b", "2g.20gb", 4}, {"c", "3g.40gb", 3}, {"w", WholeGPU, 2}}
	for _, tc := range []struct {
		name string
		gpus []GPU
		opts Options
	}{
		{"more GPUs than the exact search takes", gpus, Options{}},
		{"memo budget exceeded", gpus[:6], Options{MaxStates: 3}},
		{"single, more GPUs than the exact search takes", gpus, Options{Strategy: StrategySingle}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := Node{Name: "big", Model: m, GPUs: tc.gpus, Demands: demands}
			p, err := PlanNode(n, tc.opts)
			require.NoError(t, err)
			require.False(t, p.Exact)
			checkPlan(t, n, tc.opts, p)
			require.Empty(t, p.Disrupted, "the greedy plan keeps busy GPUs")
		})
	}
}

func TestPolicyStrings(t *testing.T) {
	t.Parallel()
	for _, p := range []Policy{PolicyFewestGPUs, PolicyNoDisruption} {
		got, err := ParsePolicy(p.String())
		require.NoError(t, err)
		require.Equal(t, p, got)
	}
	_, err := ParsePolicy("cheapest")
	require.True(t, errors.Is(err, ErrInvalidInput))
	require.Equal(t, "Policy(7)", Policy(7).String())
}

func TestPlanFleet(t *testing.T) {
	t.Parallel()
	m := h100(t)
	nodes := []Node{
		{Name: "a", Model: m, GPUs: []GPU{{Index: 0}, {Index: 1}}, Demands: []Demand{{"x", "3g.40gb", 2}}},
		{Name: "b", Model: m, GPUs: []GPU{{Index: 0}, {Index: 1}}, Demands: []Demand{{"y", "3g.40gb", 2}}},
		{Name: "c", Model: m, GPUs: []GPU{migGPU(0, "1g.10gb=z")}, Demands: []Demand{{"z", "7g.80gb", 1}}},
		{Name: "bad", Model: m, Demands: []Demand{{"q", "9g.1gb", 1}}},
	}
	f, err := PlanFleet(nodes, Options{})
	require.ErrorIs(t, err, ErrInvalidInput)
	require.Contains(t, err.Error(), "node bad")
	require.Len(t, f.Nodes, 3)
	require.Equal(t, 3, f.Used)
	require.Equal(t, 5, f.Total)
	require.Equal(t, 3, f.Changed)
	require.Equal(t, 1, f.Disrupted)
	require.Equal(t, 1, f.Moved)
	require.True(t, f.Exact)
	labels := f.Labels()
	require.Equal(t, labels["a"], labels["b"], "nodes planned alike share a config")
	require.NotEqual(t, labels["a"], labels["c"])
}
