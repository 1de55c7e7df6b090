package migpack

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// benchNode is an 8-GPU H100 node: half the GPUs partitioned and partly
// busy, half idle; the running workloads change profile at random and
// newDemands more arrive (14 overflow the node, 6 leave room).
func benchNode(b testing.TB, seed uint64, newDemands int) Node {
	m := h100(b)
	rng := rand.New(rand.NewPCG(seed, 3))
	n := Node{Name: "bench", Model: m}
	layouts := [][]string{
		{"3g.40gb=r0", "3g.40gb"}, {"2g.20gb=r1", "2g.20gb=r2", "2g.20gb", "1g.10gb"},
		ones(7, "r3", "r4", "r5"), {"4g.40gb=r6", "3g.40gb"},
	}
	for i := range 8 {
		if i < len(layouts) {
			n.GPUs = append(n.GPUs, migGPU(i, layouts[i]...))
		} else {
			n.GPUs = append(n.GPUs, GPU{Index: i})
		}
	}
	for i := range 7 {
		n.Demands = append(n.Demands, Demand{fmt.Sprintf("r%d", i), m.Profiles[rng.IntN(len(m.Profiles))].Name, 1})
	}
	for i := range newDemands {
		p := []string{"1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb"}[rng.IntN(5)]
		n.Demands = append(n.Demands, Demand{fmt.Sprintf("new%d", i), p, 1 + rng.IntN(2)})
	}
	return n
}

// BenchmarkPlanNode plans 8-GPU nodes exactly; "gpus" is the GPUs the
// plans use and "states" the memo entries the search needed.
func BenchmarkPlanNode(b *testing.B) {
	for _, tc := range []struct {
		name string
		load int
		opts Options
	}{
		{"load=room/strategy=mixed/policy=fewest-gpus", 6, Options{}},
		{"load=room/strategy=mixed/policy=no-disruption", 6, Options{Policy: PolicyNoDisruption}},
		{"load=room/strategy=single/policy=fewest-gpus", 6, Options{Strategy: StrategySingle}},
		{"load=overflow/strategy=mixed/policy=fewest-gpus", 14, Options{}},
		{"load=overflow/strategy=mixed/policy=no-disruption", 14, Options{Policy: PolicyNoDisruption}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			nodes := make([]Node, 16)
			for i := range nodes {
				nodes[i] = benchNode(b, uint64(i), tc.load)
			}
			b.ReportAllocs()
			i, used, unplaced, exact := 0, 0, 0, 0
			for b.Loop() {
				p, err := PlanNode(nodes[i%len(nodes)], tc.opts)
				require.NoError(b, err)
				used += p.Used
				unplaced += p.Unplaced
				if p.Exact {
					exact++
				}
				i++
			}
			b.ReportMetric(float64(used)/float64(i), "gpus")
			b.ReportMetric(float64(unplaced)/float64(i), "unplaced")
			b.ReportMetric(float64(exact)/float64(i), "exact")
		})
	}
}

// BenchmarkPack packs a bag of demands onto fresh GPUs: exactly for a
// node-sized bag, greedily for a fleet-sized one.
func BenchmarkPack(b *testing.B) {
	m := h100(b)
	for _, units := range []int{20, 2000} {
		b.Run(fmt.Sprintf("units=%d", units), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			var demands []Demand
			for i := range units {
				p := []string{"1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"}[rng.IntN(6)]
				demands = append(demands, Demand{fmt.Sprintf("d%d", i), p, 1})
			}
			b.ReportAllocs()
			var pk Packing
			for b.Loop() {
				var err error
				pk, err = Pack(m, demands, Options{})
				require.NoError(b, err)
			}
			b.ReportMetric(float64(pk.Used), "gpus")
			b.ReportMetric(float64(pk.LowerBound), "lower-bound")
		})
	}
}
