package lowerbound

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/nodeplan/catalog"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// catalogTypes are the embedded AWS catalog's node types as the packer
// builds them: on-demand, and with spot a spot copy of each at 60 % off;
// with gpuTaint the GPU types carry the GPU taint.
func catalogTypes(t testing.TB, spot, gpuTaint bool) []cluster.NodeType {
	t.Helper()
	c, err := catalog.AWSUSEast1().WithOverrides(catalog.Overrides{SpotDiscount: 0.6})
	require.NoError(t, err)
	capacity := []string{catalog.CapacityTypeOnDemand}
	if spot {
		capacity = append(capacity, catalog.CapacityTypeSpot)
	}
	types, err := c.NodeTypes(catalog.NodeTypeOptions{CapacityTypes: capacity, GPUTaint: gpuTaint})
	require.NoError(t, err)
	return types
}

// mixedPods draws n pods that are all different: half CPU-only, 30 % with
// a GPU share, 20 % with 1 to 8 whole GPUs; CPU from 10 millicores to
// maxCores cores and memory from 16 MiB to maxMemory, both log-uniform,
// drawn apart, so that the ratios vary widely too. With tolerate the GPU
// pods tolerate the GPU taint.
func mixedPods(n int, seed uint64, maxCores int, maxMemory recommender.Bytes, tolerate bool) []cluster.Pod {
	r := rand.New(rand.NewPCG(seed, 7))
	logUniform := func(lo, hi float64) float64 { return math.Exp(math.Log(lo) + r.Float64()*(math.Log(hi)-math.Log(lo))) }
	pods := make([]cluster.Pod, n)
	for i := range pods {
		p := cluster.Pod{
			Name:   fmt.Sprintf("pod-%05d", i),
			CPU:    recommender.MilliCPU(logUniform(10, float64(maxCores)*1000)),
			Memory: recommender.Bytes(logUniform(16, float64(maxMemory/recommender.MiB))) * recommender.MiB,
		}
		switch x := r.IntN(10); {
		case x < 5:
		case x < 8:
			p.GPU.Milli = 1 + r.IntN(999)
		default:
			p.GPU.Count = []int{1, 1, 1, 2, 4, 8}[r.IntN(6)]
		}
		if p.GPU.Any() && tolerate {
			p.Tolerations = []cluster.Toleration{{Key: catalog.GPUTaintKey, Operator: "Exists"}}
		}
		pods[i] = p
	}
	return pods
}

// TestNumericalTrouble runs instances on which the dual simplex used to
// pivot on tiny elements into a singular basis, then re-invert it at
// every pivot for minutes and report a volume bound with an LP objective
// of −8 million: now each is solved to its optimum.
func TestNumericalTrouble(t *testing.T) {
	t.Parallel()
	tests := []struct {
		seed  uint64
		taint bool
	}{{1, false}, {2, false}, {1, true}}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("seed %d taint %v", tt.seed, tt.taint), func(t *testing.T) {
			t.Parallel()
			types := catalogTypes(t, true, tt.taint)
			pods := mixedPods(300, tt.seed, 48, 300000*recommender.MiB, tt.taint)
			b, err := Compute(t.Context(), pods, types, Options{})
			require.NoError(t, err)
			t.Log(describe(b, types))
			require.Contains(t, []string{MethodLP, MethodLargestPod}, b.Method)
			require.Positive(t, b.LPCostPerHour)
			// Merged classes: the certificate is near, not at, the LP's.
			require.InDelta(t, b.LPCostPerHour, b.CostPerHour, 0.05*b.CostPerHour)
		})
	}
}

// TestLargestPod checks the bound that one node must hold the pod whose
// cheapest type is dearest, where the LP buys only a slice of that node.
func TestLargestPod(t *testing.T) {
	t.Parallel()
	gib := recommender.GiB
	big := node(64000, 256*gib, 110, 0, 24.06)
	big.Labels = map[string]string{"pool": "big"}
	onlyBig := cluster.Pod{CPU: 500, Memory: gib, NodeSelector: map[string]string{"pool": "big"}}
	h100 := cluster.Pod{CPU: 4000, Memory: 16 * gib, GPU: cluster.GPURequest{Count: 2, Models: []string{"H100-80GB"}}}
	aws := catalogTypes(t, false, false)
	shared := (1.0/110 - 500.0/64000) / (2000.0/64000 - 1.0/110)
	p5 := slices.IndexFunc(aws, func(nt cluster.NodeType) bool { return nt.Name == "p5.48xlarge" })
	require.GreaterOrEqual(t, p5, 0)
	tests := []struct {
		name   string
		pods   []cluster.Pod
		types  []cluster.NodeType
		want   float64
		method string
	}{
		{
			// The $24.06 type alone admits the pod, which takes one of
			// its 110 pod slots: the LP says $0.22.
			name:  "only a big type admits it",
			pods:  []cluster.Pod{onlyBig},
			types: []cluster.NodeType{node(4000, 16*gib, 110, 0, 1), big},
			want:  24.06, method: MethodLargestPod,
		},
		{
			// With cheap pods beside it, still one big node.
			name:  "with small pods",
			pods:  append(replicas(3, cluster.Pod{CPU: 1000, Memory: gib}), onlyBig),
			types: []cluster.NodeType{node(4000, 16*gib, 110, 0, 1), big},
			want:  24.06, method: MethodLargestPod,
		},
		{
			// Many pods: the LP wins again. 60 × 2 cores on 4-core $1
			// nodes cost $30, and the selector pod a pod slot of 110 on
			// a big node, where a (fractional) 2-core pods fill its CPU
			// share up to its pod share.
			name:  "the LP wins",
			pods:  append(replicas(60, cluster.Pod{CPU: 2000, Memory: gib}), onlyBig),
			types: []cluster.NodeType{node(4000, 16*gib, 110, 0, 1), big},
			want:  24.06*(1+shared)/110 + (60-shared)/2, method: MethodLP,
		},
		{
			// Two GPUs of a model only the 1-GPU p5.4xlarge and the
			// 8-GPU p5.48xlarge have: a quarter of the latter for the LP.
			name:  "two H100s on the AWS catalog",
			pods:  []cluster.Pod{h100},
			types: aws,
			want:  aws[p5].PricePerHour, method: MethodLargestPod,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := Compute(t.Context(), tt.pods, tt.types, Options{})
			require.NoError(t, err)
			t.Log(describe(b, tt.types))
			require.Equal(t, tt.method, b.Method)
			require.InDelta(t, tt.want, b.CostPerHour, 1e-9*tt.want)
			require.Empty(t, b.Infeasible)
			if len(tt.pods) <= 8 {
				require.LessOrEqual(t, b.CostPerHour, optimum(tt.pods, tt.types)*(1+1e-12))
			}
		})
	}
}

// TestStopInsideRound stops the LP at its n-th interrupt check, which the
// simplex makes every few pivots: inside the first round for small n. The
// bound must stay valid (no higher than the LP's), and a stop inside the
// round must still give the certificate of the duals at hand.
func TestStopInsideRound(t *testing.T) {
	t.Parallel()
	types := catalogTypes(t, true, false)
	pods := mixedPods(300, 1, 48, 300000*recommender.MiB, false)
	full, err := Compute(t.Context(), pods, types, Options{})
	require.NoError(t, err)
	partial := 0
	for _, n := range []int{1, 2, 3, 10, 30, 100, 300, 1000} {
		b, err := Compute(t.Context(), pods, types, Options{stopAfter: n})
		require.NoError(t, err)
		t.Logf("stop at check %d: %.80s", n, describe(b, types))
		require.Contains(t, []string{MethodLP, MethodLPPartial, MethodVolume, MethodLargestPod}, b.Method)
		require.Positive(t, b.CostPerHour)
		require.LessOrEqual(t, b.CostPerHour, full.CostPerHour*(1+1e-9))
		if b.Method == MethodLPPartial {
			partial++
		}
	}
	require.Positive(t, partial, "no stop inside a round gave a certificate above the volume bound")
}

// TestStopAgainstOracle stops the LP at a random early interrupt check on
// seeded random small instances: the bound must stay at most the
// brute-force optimum.
func TestStopAgainstOracle(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 12))
	for i := range 300 {
		pods, types := randomInstance(r, 7)
		b, err := Compute(t.Context(), pods, types, Options{stopAfter: 1 + r.IntN(12)})
		require.NoError(t, err)
		feasible := feasiblePods(pods, b)
		if len(feasible) == 0 {
			continue
		}
		require.LessOrEqual(t, b.CostPerHour, optimum(feasible, types)*(1+1e-9), "instance %d", i)
	}
}

// countingContext is cancelled once its Err has been asked after times.
type countingContext struct {
	context.Context
	asked, after int
}

func (c *countingContext) Err() error {
	if c.asked++; c.asked > c.after {
		return context.Canceled
	}
	return nil
}

// TestCancelInsideRound checks that the simplex asks the context every
// few pivots, not only between rounds: the context is asked far more
// often than there are rounds, and cancelling it at any of those asks
// stops Compute with its error.
func TestCancelInsideRound(t *testing.T) {
	t.Parallel()
	types := catalogTypes(t, true, false)
	pods := mixedPods(300, 1, 48, 300000*recommender.MiB, false)
	count := &countingContext{Context: t.Context(), after: math.MaxInt}
	full, err := Compute(count, pods, types, Options{})
	require.NoError(t, err)
	require.Greater(t, count.asked, 10*full.Rounds)
	for _, after := range []int{1, 2, 5, count.asked / 2, count.asked - 1} {
		_, err := Compute(&countingContext{Context: t.Context(), after: after}, pods, types, Options{})
		require.ErrorIs(t, err, context.Canceled, "cancelled at ask %d of %d", after+1, count.asked)
	}
}

// BenchmarkDistinct bounds all-different pods (mixedPods) on the AWS
// catalog's 344 node types, on-demand and spot, as the packer calls
// Compute but without a time limit, with and without the GPU taint.
func BenchmarkDistinct(b *testing.B) {
	for _, n := range []int{300, 1000, 10000} {
		for _, taint := range []bool{false, true} {
			b.Run(fmt.Sprintf("pods=%d/taint=%v", n, taint), func(b *testing.B) {
				types := catalogTypes(b, true, taint)
				pods := mixedPods(n, 1, 48, 300000*recommender.MiB, taint)
				var bound Bound
				b.ReportAllocs()
				for b.Loop() {
					var err error
					if bound, err = Compute(b.Context(), pods, types, Options{}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(bound.CostPerHour, "$/h")
				b.ReportMetric(float64(bound.Classes), "classes")
				b.ReportMetric(float64(bound.Rounds), "rounds")
			})
		}
	}
}

// BenchmarkTimeLimit bounds 1,000 pods that all differ, unclustered,
// under a 100 ms time limit: Compute
// must return soon after it, with a valid bound (lp-partial or volume).
func BenchmarkTimeLimit(b *testing.B) {
	types := catalogTypes(b, true, false)
	pods := mixedPods(1000, 1, 48, 300000*recommender.MiB, false)
	var bound Bound
	for b.Loop() {
		var err error
		if bound, err = Compute(b.Context(), pods, types, Options{MaxClasses: MaxMaxClasses, TimeLimit: 100 * time.Millisecond}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(bound.CostPerHour, "$/h")
	b.ReportMetric(float64(bound.Classes), "classes")
	if bound.Method != MethodLP {
		b.ReportMetric(1, "cut-short")
	}
}
