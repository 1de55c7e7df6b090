package lowerbound

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// fuzzInstance decodes bytes into up to 3 node types and 6 pods; values
// may be negative (invalid input Compute must reject) or extreme.
func fuzzInstance(data []byte) ([]cluster.Pod, []cluster.NodeType) {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := int(int8(data[0]))
		data = data[1:]
		return b
	}
	types := make([]cluster.NodeType, 1+abs(next())%3)
	for i := range types {
		types[i] = cluster.NodeType{
			PricePerHour: float64(next()) / 4,
			Allocatable: cluster.Resources{
				CPU:    recommender.MilliCPU(next() * 250),
				Memory: recommender.Bytes(next()) * recommender.GiB / 4,
				Pods:   next() / 8,
			},
			GPUs:     next() % 5,
			GPUModel: []string{"A", "B"}[abs(next())%2],
		}
	}
	pods := make([]cluster.Pod, abs(next())%7)
	for i := range pods {
		p := cluster.Pod{CPU: recommender.MilliCPU(next() * 100), Memory: recommender.Bytes(next()) * recommender.GiB / 8}
		switch g := next(); {
		case g < -64:
			p.GPU.Count = -g % 4
		case g > 64:
			p.GPU.Milli = (g - 64) * 16
		}
		if next() > 100 {
			p.GPU.Models = []string{"A"}
		}
		pods[i] = p
	}
	return pods, types
}

func abs(x int) int { return max(x, -x) }

// FuzzCompute checks that any small instance gives an error or a bound
// no higher than the brute-force optimum, never a panic.
func FuzzCompute(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 8, 16, 16, 64, 1, 0, 3, 4, 8, 70, 0})
	f.Add([]byte{2, 4, 32, 32, 100, 2, 1, 12, 8, 8, 120, 0, 40, 40, 200, 0, 4, 4, 190, 200})
	f.Add([]byte{0, 255, 128, 7, 9, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		pods, types := fuzzInstance(data)
		b, err := Compute(t.Context(), pods, types, Options{})
		if err != nil {
			return
		}
		feasible := feasiblePods(pods, b)
		if len(feasible) == 0 {
			require.Zero(t, b.CostPerHour)
			return
		}
		require.LessOrEqual(t, b.CostPerHour, optimum(feasible, types)*(1+1e-9)+1e-12)
	})
}
