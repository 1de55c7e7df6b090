package place

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

func gpuNode(name, model string, gpus int, cpuCores, memGiB int64) cluster.NodeType {
	return cluster.NodeType{
		Name:        name,
		Allocatable: cluster.Resources{CPU: recommender.MilliCPU(cpuCores * 1000), Memory: recommender.Bytes(memGiB) * recommender.GiB, Pods: 1001},
		GPUs:        gpus,
		GPUModel:    model,
	}
}

func share(name string, milli int, cpuCores int64) cluster.Pod {
	return cluster.Pod{Name: name, CPU: recommender.MilliCPU(cpuCores * 1000), Memory: recommender.GiB, GPU: cluster.GPURequest{Milli: milli}}
}

func whole(name string, count int, cpuCores int64) cluster.Pod {
	return cluster.Pod{Name: name, CPU: recommender.MilliCPU(cpuCores * 1000), Memory: recommender.GiB, GPU: cluster.GPURequest{Count: count}}
}

// workload is a small typical-pod mix: whole GPUs, 8-GPU pods, the
// common shares of the Alibaba trace, and CPU-only pods.
func workload() []TypicalPod {
	return []TypicalPod{
		{CPU: 8000, GPUs: 1, Milli: 1000, Memory: 32 * recommender.GiB, Weight: 0.4},
		{CPU: 64000, GPUs: 8, Milli: 1000, Memory: 256 * recommender.GiB, Weight: 0.05},
		{CPU: 3000, GPUs: 1, Milli: 810, Memory: 5 * recommender.GiB, Weight: 0.15},
		{CPU: 8000, GPUs: 1, Milli: 470, Memory: 30 * recommender.GiB, Weight: 0.1},
		{CPU: 8000, GPUs: 1, Milli: 650, Memory: 30 * recommender.GiB, Weight: 0.1},
		{CPU: 4000, GPUs: 1, Milli: 320, Memory: 20 * recommender.GiB, Weight: 0.05},
		{CPU: 16000, Memory: 48 * recommender.GiB, Weight: 0.15},
	}
}

func TestTypicalPods(t *testing.T) {
	t.Parallel()
	var pods []cluster.Pod
	add := func(n int, p cluster.Pod) {
		for range n {
			pods = append(pods, p)
		}
	}
	add(50, whole("w", 1, 8))                      // 50 %
	add(20, share("s", 470, 8))                    // 20 %
	add(20, cluster.Pod{CPU: 16000})               // 20 %, CPU only: counted
	add(3, share("b", 320, 2))                     // 3 %
	add(5, share("a", 320, 4))                     // 5 %: the cut at 95 % includes it, no more
	add(1, whole("m", 2, 8))                       // memory is not part of the spec:
	add(1, whole("m", 2, 8))                       // these two are one spec,
	pods[len(pods)-1].Memory = 3 * recommender.GiB // with the mean memory
	tp := TypicalPods(pods, 95)
	require.Len(t, tp, 4)
	require.Equal(t, TypicalPod{CPU: 8000, GPUs: 1, Milli: 1000, Memory: recommender.GiB, Weight: 50.0 / 95}, tp[0])
	require.Equal(t, 0, tp[1].GPUs, "20 each: the CPU-only spec has the larger CPU")
	require.Equal(t, 470, tp[2].Milli)
	require.Equal(t, recommender.MilliCPU(4000), tp[3].CPU)
	sum := 0.0
	for _, p := range tp {
		sum += p.Weight
	}
	require.InDelta(t, 1, sum, 1e-12)

	all := TypicalPods(pods, 100)
	require.Len(t, all, 6)
	require.Equal(t, TypicalPod{CPU: 8000, GPUs: 2, Milli: 1000, Memory: 2 * recommender.GiB, Weight: 0.02}, all[5])

	// Equal counts: larger CPU first, as the simulator sorts.
	tie := TypicalPods([]cluster.Pod{share("x", 320, 2), share("y", 320, 4)}, 100)
	require.Equal(t, recommender.MilliCPU(4000), tie[0].CPU)
	require.Empty(t, TypicalPods(nil, 95))
}

func TestFragMatchesDefinition(t *testing.T) {
	t.Parallel()
	typical := []TypicalPod{
		{CPU: 1000, Weight: 0.2},                                             // CPU only: all idle is fragment
		{CPU: 2000, GPUs: 1, Milli: 500, Weight: 0.3},                        // fits: GPUs below 500 are fragment
		{CPU: 2000, GPUs: 2, Milli: 1000, Weight: 0.3},                       // needs two free GPUs
		{CPU: 9000, GPUs: 1, Milli: 100, Weight: 0.1},                        // lacks CPU: all idle
		{CPU: 1000, GPUs: 1, Milli: 100, Models: []string{"X"}, Weight: 0.1}, // no access: all idle
	}
	fm := newFragModel([]string{"T4"}, []bool{true}, typical)
	gpus := []int{1000, 400, 700, 0}
	idle := 2100.0
	want := 0.2*idle + 0.3*400 + 0.3*idle + 0.1*idle + 0.1*idle
	require.InDelta(t, want, fm.frag(0, 8000, gpus), 1e-9)
	require.Zero(t, fm.frag(0, 8000, []int{0, 0}), "no idle GPU, no fragment")

	// The same model name, of a vendor no GPU request can use: every
	// idle milli is fragment, for every typical pod.
	fm = newFragModel([]string{"T4", "T4"}, []bool{true, false}, typical)
	require.InDelta(t, want, fm.frag(0, 8000, gpus), 1e-9)
	require.InDelta(t, idle, fm.frag(1, 8000, gpus), 1e-9)
}

// TestStateGPUVendor: a model of another vendor is interned apart from an
// NVIDIA model of the same name, and no GPU pod fits it, even one that
// names the model, while pods without GPUs do.
func TestStateGPUVendor(t *testing.T) {
	t.Parallel()
	amd := gpuNode("amd", "X", 4, 64, 256)
	amd.GPUResource = "amd.com/gpu"
	s := NewState([]cluster.NodeType{amd, gpuNode("nv", "X", 4, 64, 256)})
	require.Equal(t, []string{"X", "X"}, s.models)
	require.Equal(t, []bool{false, true}, s.serves)
	named := whole("named", 1, 8)
	named.GPU.Models = []string{"X"}
	for _, tc := range []struct {
		pod     cluster.Pod
		amd, nv bool
	}{
		{whole("w", 1, 8), false, true},
		{share("s", 300, 2), false, true},
		{named, false, true},
		{cluster.Pod{Name: "cpu", CPU: 1000, Memory: recommender.GiB}, true, true},
	} {
		require.Equal(t, tc.amd, s.Fits(0, &tc.pod), tc.pod.Name)
		require.Equal(t, tc.nv, s.Fits(1, &tc.pod), tc.pod.Name)
	}
	for _, name := range Policies() {
		s := NewState([]cluster.NodeType{amd, gpuNode("nv", "X", 4, 64, 256)})
		pol, err := New(name, s, Config{Typical: workload(), Seed: 3})
		require.NoError(t, err)
		got, ok, err := pol.Place(&cluster.Pod{Name: "p", CPU: 1000, Memory: recommender.GiB, GPU: cluster.GPURequest{Milli: 500}})
		require.NoError(t, err)
		require.True(t, ok, name)
		require.Equal(t, 1, got.Node, "%s puts the share on the NVIDIA node", name)
	}
}

// TestBaselinesChoose pins each baseline's choice on small cases worked
// out by hand.
func TestBaselinesChoose(t *testing.T) {
	t.Parallel()
	typical := workload()
	tests := []struct {
		name   string
		policy string
		nodes  []cluster.NodeType
		before []cluster.Pod // placed first (best-fit GPUs), each on the node its name's digit says
		pod    cluster.Pod
		want   Placement
	}{
		{
			name:   "BestFit takes the fuller node",
			policy: BestFit,
			nodes:  []cluster.NodeType{gpuNode("a", "G2", 8, 96, 384), gpuNode("b", "G2", 8, 96, 384)},
			before: []cluster.Pod{whole("1", 4, 40)},
			pod:    whole("p", 1, 8),
			want:   Placement{Node: 1, GPUs: []int{4}},
		},
		{
			name:   "BestFit ties go to the earlier node",
			policy: BestFit,
			nodes:  []cluster.NodeType{gpuNode("a", "G2", 8, 96, 384), gpuNode("b", "G2", 8, 96, 384)},
			pod:    whole("p", 1, 8),
			want:   Placement{Node: 0, GPUs: []int{0}},
		},
		{
			name:   "BestFit puts a share on the tightest GPU",
			policy: BestFit,
			nodes:  []cluster.NodeType{gpuNode("a", "T4", 2, 96, 384)},
			before: []cluster.Pod{share("0", 300, 1), share("0", 800, 1)}, // 700 and 200 left
			pod:    share("p", 150, 1),
			want:   Placement{Node: 0, GPUs: []int{1}},
		},
		{
			name:   "FGD fills the gap a share leaves rather than a fresh GPU",
			policy: FGD,
			nodes:  []cluster.NodeType{gpuNode("a", "G2", 8, 96, 384), gpuNode("b", "G2", 8, 96, 384)},
			before: []cluster.Pod{share("1", 470, 8)},
			pod:    share("p", 470, 8),
			want:   Placement{Node: 1, GPUs: []int{0}},
		},
		{
			name:   "FGD fills a 2-GPU node exactly rather than split an 8-GPU one",
			policy: FGD,
			nodes:  []cluster.NodeType{gpuNode("a", "T4", 2, 64, 256), gpuNode("b", "G2", 8, 96, 384)},
			before: []cluster.Pod{whole("1", 1, 8)},
			pod:    whole("p", 2, 8),
			want:   Placement{Node: 0, GPUs: []int{0, 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewState(tt.nodes)
			for i := range tt.before {
				p := &tt.before[i]
				node := int(p.Name[0] - '0')
				gpus, ok := s.nodes[node].BestFitGPUs(p, nil)
				require.True(t, ok)
				_, err := s.place(p, node, gpus)
				require.NoError(t, err)
			}
			pol, err := New(tt.policy, s, Config{Typical: typical})
			require.NoError(t, err)
			got, ok, err := pol.Place(&tt.pod)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestRightsizerPacksForTheCommonShares: GPU 0 has 530 milli free
// (after a 470), GPU 1 has 680 (after a 320). A 320 share: best fit
// takes GPU 0 and leaves 210 that no common share fills; rightsizer takes
// GPU 1 and leaves 360, room for another 320.
func TestRightsizerPacksForTheCommonShares(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		policy string
		want   Placement
	}{
		{BestFit, Placement{Node: 0, GPUs: []int{0}}},
		{Rightsizer, Placement{Node: 0, GPUs: []int{1}}},
	} {
		s := NewState([]cluster.NodeType{gpuNode("a", "G2", 8, 96, 384)})
		for g, p := range []cluster.Pod{share("470", 470, 8), share("320", 320, 4)} {
			_, err := s.place(&p, 0, []int{g})
			require.NoError(t, err)
		}
		pol, err := New(tt.policy, s, Config{Typical: workload()})
		require.NoError(t, err)
		p := share("320", 320, 4)
		got, ok, err := pol.Place(&p)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, tt.want, got, tt.policy)
	}
}

// TestRightsizerKeepsCPUForIdleGPUs: a CPU-only pod could go on a node
// whose CPU its idle GPUs need (and FGD, blind to that beyond one typical
// pod, puts it there, the node being first) or on one with CPU to spare;
// rightsizer spares the GPUs.
func TestRightsizerKeepsCPUForIdleGPUs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		policy string
		want   int
	}{
		{FGD, 0},
		{Rightsizer, 1},
	} {
		s := NewState([]cluster.NodeType{gpuNode("tight", "G2", 8, 96, 384), gpuNode("roomy", "T4", 2, 104, 512)})
		pol, err := New(tt.policy, s, Config{Typical: workload()})
		require.NoError(t, err)
		p := cluster.Pod{Name: "cpu", CPU: 32000, Memory: 48 * recommender.GiB}
		got, ok, err := pol.Place(&p)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, tt.want, got.Node, tt.policy)
	}
}

func TestGapValues(t *testing.T) {
	t.Parallel()
	v := gapValues(workload(), 1.0/fillHorizon)
	require.Zero(t, v[0])
	require.Zero(t, v[cluster.MilliGPU])
	require.InDelta(t, 319, v[319], 1e-9, "no share fits: the gap stays")
	require.InDelta(t, 210, v[210], 1e-9, "no share fits 210")
	require.Less(t, v[530], 530.0/4, "470 and 320 fit 530")
	require.Less(t, v[360], v[680], "a 320 fills 360 all but 40")
	for g := range v {
		require.GreaterOrEqual(t, v[g], 0.0)
		require.LessOrEqual(t, v[g], float64(g)+1e-9)
	}
}

// TestPoliciesNeverOverfillAndAlwaysPlace places random pods on random
// nodes (some with another vendor's GPUs) with every policy and checks
// what must hold whatever they decide: no resource of any node is
// overdrawn, a pod is placed exactly when some node fits it, on a node
// that fits, with the GPUs its request asks for.
func TestPoliciesNeverOverfillAndAlwaysPlace(t *testing.T) {
	t.Parallel()
	for _, name := range Policies() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(7, 11))
			models := []string{"T4", "G2", "V100"}
			var types []cluster.NodeType
			for i := range 12 {
				types = append(types, gpuNode(fmt.Sprint("n", i), models[rng.IntN(3)], []int{1, 2, 4, 8}[rng.IntN(4)], int64(8+rng.IntN(90)), int64(32+rng.IntN(400))))
				if rng.IntN(4) == 0 {
					// Another vendor's GPUs, under the same model names:
					// no GPU request may use them.
					types[i].GPUResource = "amd.com/gpu"
				}
			}
			types = append(types, cluster.NodeType{Name: "cpu", Allocatable: cluster.Resources{CPU: 32000, Memory: 128 * recommender.GiB, Pods: 1001}})
			s := NewState(types)
			pol, err := New(name, s, Config{Typical: workload(), Seed: 3})
			require.NoError(t, err)
			used := 0
			for i := range 400 {
				p := cluster.Pod{Name: fmt.Sprint("p", i), CPU: recommender.MilliCPU(500 + rng.IntN(16000)), Memory: recommender.Bytes(1+rng.IntN(64)) * recommender.GiB}
				switch rng.IntN(4) {
				case 0:
					p.GPU.Count = []int{1, 1, 2, 4, 8}[rng.IntN(5)]
				case 1, 2:
					p.GPU.Milli = 10 * (1 + rng.IntN(99))
				}
				if rng.IntN(5) == 0 && p.GPU.Any() {
					p.GPU.Models = []string{models[rng.IntN(3)]}
				}
				fits := false
				for n := range s.Len() {
					want := s.Node(n).Type.Admits(&p) && s.Node(n).FitsFree(&p)
					require.Equal(t, want, s.Fits(n, &p), "the filter agrees with package cluster")
					fits = fits || want
				}
				got, ok, err := pol.Place(&p)
				require.NoError(t, err)
				require.Equal(t, fits, ok, "pod %d placed iff some node fits", i)
				if !ok {
					continue
				}
				n := s.Node(got.Node)
				require.True(t, n.Type.Admits(&p))
				want := p.GPU.Count
				if p.GPU.Milli > 0 {
					want = 1
				}
				require.Len(t, got.GPUs, want)
				used += p.GPU.TotalMilli()
			}
			require.Equal(t, used, s.UsedGPUMilli())
			for n := range s.Len() {
				node := s.Node(n)
				require.GreaterOrEqual(t, node.Free.CPU, recommender.MilliCPU(0))
				require.GreaterOrEqual(t, node.Free.Memory, recommender.Bytes(0))
				for _, f := range node.GPUFree {
					require.True(t, f >= 0 && f <= cluster.MilliGPU)
				}
			}
			require.Positive(t, s.Placed())
		})
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	s := NewState(nil)
	_, err := New("Tetris", s, Config{})
	require.ErrorContains(t, err, `unknown policy "Tetris"`)
	_, err = New(FGD, s, Config{})
	require.ErrorContains(t, err, "no typical pods")
	pol, err := New(BestFit, s, Config{})
	require.NoError(t, err)
	_, ok, err := pol.Place(&cluster.Pod{Name: "x", GPU: cluster.GPURequest{Milli: 1000}})
	require.False(t, ok)
	require.ErrorContains(t, err, "share 1000 milli")
	_, ok, err = pol.Place(&cluster.Pod{Name: "y", CPU: 1})
	require.NoError(t, err)
	require.False(t, ok, "no nodes")
}

func TestSigmoidScoreQuantises(t *testing.T) {
	t.Parallel()
	require.Equal(t, int32(50), fgdScore(1000, 1000))
	require.Equal(t, int32(50), fgdScore(1000, 1000-39), "under ~40 milli of change ties")
	require.Equal(t, int32(73), fgdScore(2000, 1000))
	require.Equal(t, int32(26), fgdScore(1000, 2000))
	require.Equal(t, int32(0), fgdScore(0, 1e9))
}
