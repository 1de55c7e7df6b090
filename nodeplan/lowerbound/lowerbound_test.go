package lowerbound

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

func node(cpu recommender.MilliCPU, mem recommender.Bytes, pods, gpus int, price float64) cluster.NodeType {
	return cluster.NodeType{
		Name:         "n",
		PricePerHour: price,
		Allocatable:  cluster.Resources{CPU: cpu, Memory: mem, Pods: pods},
		GPUs:         gpus,
		GPUModel:     "T4",
	}
}

func replicas(n int, p cluster.Pod) []cluster.Pod {
	out := make([]cluster.Pod, n)
	for i := range out {
		out[i] = p
	}
	return out
}

// TestHandComputed checks bounds worked out by hand.
func TestHandComputed(t *testing.T) {
	t.Parallel()
	gib := recommender.GiB
	tests := []struct {
		name   string
		pods   []cluster.Pod
		types  []cluster.NodeType
		want   float64
		method string
		rounds int // at least
	}{
		{
			// One type, CPU binds: 10 pods × 1 core on 4-core nodes at
			// $1/h is 2.5 nodes of volume.
			name:  "volume, one type",
			pods:  replicas(10, cluster.Pod{CPU: 1000, Memory: gib}),
			types: []cluster.NodeType{node(4000, 64*gib, 110, 0, 1)},
			want:  2.5, method: MethodLP,
		},
		{
			// Pod slots bind: 25 tiny pods, 10 per node.
			name:  "pod slots",
			pods:  replicas(25, cluster.Pod{CPU: 10}),
			types: []cluster.NodeType{node(4000, 64*gib, 10, 0, 2)},
			want:  5, method: MethodLP,
		},
		{
			// Three 600-milli shares on 1-GPU nodes: 1.8 GPUs of volume,
			// but no two share a GPU (u_1 counts each as a whole GPU).
			name:  "shares over half a GPU",
			pods:  replicas(3, cluster.Pod{CPU: 100, GPU: cluster.GPURequest{Milli: 600}}),
			types: []cluster.NodeType{node(8000, 64*gib, 110, 1, 1)},
			want:  3, method: MethodLP,
		},
		{
			// Three pods with 40 % of a node's memory each: 1.2 nodes of
			// volume; u_2 counts each as half a node (two per node).
			name:  "memory over a third",
			pods:  replicas(3, cluster.Pod{Memory: 4 * gib}),
			types: []cluster.NodeType{node(4000, 10*gib, 110, 0, 1)},
			want:  1.5, method: MethodLP,
		},
		{
			// Whole GPUs on a 4-GPU node at $4 against a 1-GPU node at
			// $1.5: 6 one-GPU pods cost 6 GPUs at $1 on the big one.
			name: "cheapest GPU per dollar",
			pods: replicas(6, cluster.Pod{CPU: 500, GPU: cluster.GPURequest{Count: 1}}),
			types: []cluster.NodeType{
				node(16000, 64*gib, 110, 4, 4),
				node(4000, 16*gib, 110, 1, 1.5),
			},
			want: 6, method: MethodLP,
		},
		{
			// A GPU pod's CPU cannot sit on the CPU-only type: the GPU
			// type's CPU binds (2 pods × 3 cores on 4-core 1-GPU nodes),
			// although the aggregate volume could use cheap CPU nodes.
			name: "GPU pods keep their CPU",
			pods: replicas(2, cluster.Pod{CPU: 3000, GPU: cluster.GPURequest{Milli: 100}}),
			types: []cluster.NodeType{
				node(4000, 16*gib, 110, 1, 1),
				node(64000, 256*gib, 110, 0, 0.5),
			},
			// u_1 of 3000/4000 is 1 per pod: 2 nodes.
			want: 2, method: MethodLP,
		},
		{
			// A pairs with B on G (3.5 cores, 7 GiB of 4 and 8) for $1.2,
			// though A alone is cheapest on C ($1) and B alone on M (two
			// for $1): G must enter the LP by pricing.
			name: "a type no class prefers alone",
			pods: append(replicas(10, cluster.Pod{CPU: 3000, Memory: gib}), replicas(10, cluster.Pod{CPU: 500, Memory: 6 * gib})...),
			types: []cluster.NodeType{
				node(4000, 2*gib, 110, 0, 1),   // C
				node(1000, 16*gib, 110, 0, 1),  // M
				node(4000, 8*gib, 110, 0, 1.2), // G
			},
			want: 12, method: MethodLP, rounds: 2,
		},
		{
			name:  "free nodes",
			pods:  replicas(3, cluster.Pod{CPU: 1000}),
			types: []cluster.NodeType{node(4000, 16*gib, 110, 0, 0)},
			want:  0, method: MethodLP,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := Compute(t.Context(), tt.pods, tt.types, Options{})
			require.NoError(t, err)
			require.InDelta(t, tt.want, b.CostPerHour, 1e-9)
			require.Equal(t, tt.method, b.Method)
			require.GreaterOrEqual(t, b.Rounds, tt.rounds)
			require.Empty(t, b.Infeasible)
			if len(tt.pods) <= 10 {
				require.LessOrEqual(t, b.CostPerHour, optimum(tt.pods, tt.types)+1e-9)
			}
		})
	}
}

// TestPlainLPIsWeaker checks that the DFF rows only add: without them the
// three 600-milli shares need only 1.8 GPUs.
func TestPlainLPIsWeaker(t *testing.T) {
	t.Parallel()
	pods := replicas(3, cluster.Pod{CPU: 100, GPU: cluster.GPURequest{Milli: 600}})
	types := []cluster.NodeType{node(8000, 64*recommender.GiB, 110, 1, 1)}
	b, err := Compute(t.Context(), pods, types, Options{DFFOrder: -1})
	require.NoError(t, err)
	require.InDelta(t, 1.8, b.CostPerHour, 1e-9)
}

// TestTypes checks the LP's node counts on a case with one answer.
func TestTypes(t *testing.T) {
	t.Parallel()
	pods := replicas(10, cluster.Pod{CPU: 1000})
	types := []cluster.NodeType{node(4000, 64*recommender.GiB, 110, 0, 2), node(4000, 64*recommender.GiB, 110, 0, 1)}
	b, err := Compute(t.Context(), pods, types, Options{})
	require.NoError(t, err)
	require.Equal(t, []TypeAmount{{Type: 1, Nodes: 2.5}}, roundAmounts(b.Types))
}

func roundAmounts(ts []TypeAmount) []TypeAmount {
	for i := range ts {
		ts[i].Nodes = math.Round(ts[i].Nodes*1e6) / 1e6
	}
	return ts
}

// TestInfeasible checks that pods no type admits are listed and left out.
func TestInfeasible(t *testing.T) {
	t.Parallel()
	gib := recommender.GiB
	gpu := node(8000, 32*gib, 110, 1, 2)
	gpu.Taints = []cluster.Taint{{Key: "gpu", Effect: "NoSchedule"}}
	gpu.Labels = map[string]string{"pool": "gpu"}
	types := []cluster.NodeType{node(4000, 16*gib, 110, 0, 1), gpu}
	tol := []cluster.Toleration{{Key: "gpu", Operator: "Exists"}}
	pods := []cluster.Pod{
		{Name: "fits", CPU: 1000},
		{Name: "too much cpu", CPU: 9000},
		{Name: "untolerated gpu", GPU: cluster.GPURequest{Count: 1}},
		{Name: "gpu", GPU: cluster.GPURequest{Count: 1}, Tolerations: tol},
		{Name: "wrong model", GPU: cluster.GPURequest{Milli: 100, Models: []string{"H100"}}, Tolerations: tol},
		{Name: "two gpus", GPU: cluster.GPURequest{Count: 2}, Tolerations: tol},
		{Name: "selector", CPU: 100, NodeSelector: map[string]string{"pool": "cpu"}},
		{Name: "fits too", CPU: 1000},
	}
	b, err := Compute(t.Context(), pods, types, Options{})
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 4, 5, 6}, b.Infeasible)
	// Two 1-core pods on the $1 4-core type, one GPU pod on the $2 GPU type.
	require.InDelta(t, 0.5+2, b.CostPerHour, 1e-9)

	b, err = Compute(t.Context(), pods[1:3], types, Options{})
	require.NoError(t, err)
	require.Equal(t, Bound{Method: MethodNone, Infeasible: []int{0, 1}}, b)

	b, err = Compute(t.Context(), nil, nil, Options{})
	require.NoError(t, err)
	require.Equal(t, Bound{Method: MethodNone}, b)
}

// TestInvalid checks that bad pods, types and options are errors that
// name them.
func TestInvalid(t *testing.T) {
	t.Parallel()
	good := []cluster.NodeType{node(4000, recommender.GiB, 10, 0, 1)}
	tests := []struct {
		name  string
		pods  []cluster.Pod
		types []cluster.NodeType
		opts  Options
		want  string
	}{
		{"negative cpu", []cluster.Pod{{Name: "a", CPU: -1}}, good, Options{}, `pod 0: pod "a": negative request`},
		{"share of 1000", []cluster.Pod{{Name: "b", GPU: cluster.GPURequest{Milli: 1000}}}, good, Options{}, `pod "b": GPU share 1000 milli`},
		{"NaN price", nil, []cluster.NodeType{{Name: "x", PricePerHour: math.NaN()}}, Options{}, `node type 0 "x": price NaN`},
		{"negative price", nil, []cluster.NodeType{{Name: "x", PricePerHour: -1}}, Options{}, `price -1 USD/h`},
		{"infinite price", nil, []cluster.NodeType{{Name: "x", PricePerHour: math.Inf(1)}}, Options{}, `price +Inf`},
		{"negative allocatable", nil, []cluster.NodeType{{Name: "x", Allocatable: cluster.Resources{Pods: -1}}}, Options{}, `negative allocatable`},
		{"negative GPUs", nil, []cluster.NodeType{{Name: "x", GPUs: -2}}, Options{}, `negative GPU count -2`},
		{"too many classes", nil, good, Options{MaxClasses: MaxMaxClasses + 1}, `max classes 1025 is outside [0, 1024]`},
		{"time limit", nil, good, Options{TimeLimit: -1}, `time limit -1ns is negative`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Compute(t.Context(), tt.pods, tt.types, tt.opts)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestCancel checks that a cancelled context stops Compute with its error.
func TestCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Compute(ctx, syntheticPods(100, 1), catalogTypes(t, false, false), Options{})
	require.ErrorIs(t, err, context.Canceled)
}

// TestTimeLimit checks that a time limit too short for the LP still gives
// a valid bound, no higher than the LP's.
func TestTimeLimit(t *testing.T) {
	t.Parallel()
	pods, types := syntheticPods(500, 2), catalogTypes(t, false, false)
	full, err := Compute(t.Context(), pods, types, Options{})
	require.NoError(t, err)
	short, err := Compute(t.Context(), pods, types, Options{TimeLimit: 1})
	require.NoError(t, err)
	require.Contains(t, []string{MethodLP, MethodLPPartial, MethodVolume}, short.Method)
	require.Positive(t, short.CostPerHour)
	require.LessOrEqual(t, short.CostPerHour, full.CostPerHour*(1+1e-9))
}

// TestMergedClasses checks that merging classes keeps the bound valid on
// many pods: never above the unmerged LP's (no certificate is), and with
// enough classes close to it.
func TestMergedClasses(t *testing.T) {
	t.Parallel()
	pods, types := syntheticPods(400, 3), catalogTypes(t, false, false)
	exact, err := Compute(t.Context(), pods, types, Options{MaxClasses: MaxMaxClasses})
	require.NoError(t, err)
	for _, k := range []int{16, 128} {
		merged, err := Compute(t.Context(), pods, types, Options{MaxClasses: k})
		require.NoError(t, err)
		require.Less(t, merged.Classes, merged.PodClasses)
		require.LessOrEqual(t, merged.Classes, k)
		t.Logf("%d classes: $%.2f/h (%s); %d: $%.2f/h", merged.Classes, merged.CostPerHour, merged.Method, exact.Classes, exact.CostPerHour)
		require.LessOrEqual(t, merged.CostPerHour, exact.CostPerHour*(1+1e-9))
		if k >= 128 {
			require.Greater(t, merged.CostPerHour, 0.95*exact.CostPerHour)
		}
	}
}

// TestDFF checks the dual feasible function property exhaustively for
// small bins: the u_k of any sizes that fit one bin sum to at most 1.
func TestDFF(t *testing.T) {
	t.Parallel()
	var parts func(rest, largest int, sizes []int, visit func([]int))
	parts = func(rest, largest int, sizes []int, visit func([]int)) {
		visit(sizes)
		for s := min(rest, largest); s >= 1; s-- {
			parts(rest-s, s, append(sizes, s), visit)
		}
	}
	for c := 1; c <= 20; c++ {
		for k := int64(1); k <= 10; k++ {
			parts(c, c, nil, func(sizes []int) {
				total := 0.0
				for _, s := range sizes {
					total += dff(k, int64(s), int64(c))
				}
				require.LessOrEqual(t, total, 1+1e-12, "bin %d, u_%d, sizes %v", c, k, sizes)
			})
		}
	}
	require.InDelta(t, 1.0, dff(1, 600, 1000), 0)
	require.InDelta(t, 0.5, dff(1, 500, 1000), 0)
	require.InDelta(t, 0.0, dff(1, 499, 1000), 0)
	require.InDelta(t, 1.0/3, dff(3, 300, 1000), 1e-15)
}

// TestInvert checks the Gauss–Jordan inverse on random matrices.
func TestInvert(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 12; n++ {
		a := make([]float64, n*n)
		for i := range a {
			a[i] = r.NormFloat64()
		}
		inv := append([]float64(nil), a...)
		require.True(t, invert(inv, n))
		for i := range n {
			for j := range n {
				s := 0.0
				for k := range n {
					s += a[i*n+k] * inv[k*n+j]
				}
				want := 0.0
				if i == j {
					want = 1
				}
				require.InDelta(t, want, s, 1e-9)
			}
		}
	}
	require.False(t, invert([]float64{1, 2, 2, 4}, 2))
}

// TestConcurrent runs Compute from several goroutines on shared input.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	pods, types := syntheticPods(100, 4), catalogTypes(t, false, false)
	want, err := Compute(t.Context(), pods, types, Options{})
	require.NoError(t, err)
	errs := make(chan error, 4)
	got := make(chan float64, 4)
	for range 4 {
		go func() {
			b, err := Compute(t.Context(), pods, types, Options{})
			errs <- err
			got <- b.CostPerHour
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
		require.InDelta(t, want.CostPerHour, <-got, 0)
	}
}
