package lowerbound

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// syntheticPods draws n pods shaped like the Alibaba GPU trace: an eighth
// without GPUs, half with one whole GPU, most of the rest with a share,
// a few with 2, 4 or 8 GPUs; CPU and memory vary within ±20 % of a few
// typical sizes, so most pods are a class of their own. A tenth of the
// GPU pods ask for an A10G or L4 GPU, a twentieth of the others for arm64.
func syntheticPods(n int, seed uint64) []cluster.Pod {
	r := rand.New(rand.NewPCG(seed, 1))
	cpus := []int64{1000, 4000, 8000, 11300, 12000, 16000, 32000}
	mems := []int64{2 << 10, 8 << 10, 16 << 10, 30 << 10, 48 << 10, 64 << 10}
	shares := []int{50, 110, 230, 320, 460, 470, 550, 650, 810}
	jitter := func(v int64) int64 { return v * (80 + r.Int64N(41)) / 100 }
	pods := make([]cluster.Pod, n)
	for i := range pods {
		p := cluster.Pod{
			Name:   fmt.Sprintf("pod-%05d", i),
			CPU:    recommender.MilliCPU(jitter(cpus[r.IntN(len(cpus))])),
			Memory: recommender.Bytes(jitter(mems[r.IntN(len(mems))])) * recommender.MiB,
		}
		switch x := r.IntN(100); {
		case x < 13:
			if r.IntN(20) == 0 {
				p.NodeSelector = map[string]string{"kubernetes.io/arch": "arm64"}
			}
		case x < 61:
			p.GPU.Count = 1
		case x < 97:
			p.GPU.Milli = shares[r.IntN(len(shares))]
		default:
			p.GPU.Count = []int{2, 4, 8}[r.IntN(3)]
		}
		if p.GPU.Any() && r.IntN(10) == 0 {
			p.GPU.Models = []string{"A10G-24GB", "L4-24GB"}
		}
		pods[i] = p
	}
	return pods
}

// BenchmarkCompute bounds 10,000 synthetic pods on the 344 AWS types
// (on-demand and spot), and the openb default trace on the 172 on-demand
// types when the data is there.
func BenchmarkCompute(b *testing.B) {
	cases := []struct {
		name  string
		pods  func(testing.TB) []cluster.Pod
		types []cluster.NodeType
	}{
		{"synthetic-10k/aws-344", func(testing.TB) []cluster.Pod { return syntheticPods(10000, 1) }, catalogTypes(b, true, false)},
		{"openb-default/aws-172", openbDefault, catalogTypes(b, false, false)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			pods := tc.pods(b)
			var bound Bound
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if bound, err = Compute(b.Context(), pods, tc.types, Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(bound.CostPerHour, "$/h")
			b.ReportMetric(float64(bound.Classes), "classes")
			b.ReportMetric(float64(bound.Rounds), "rounds")
		})
	}
}
