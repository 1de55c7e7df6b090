package lowerbound

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
)

// TestOpenbDefault bounds the 8,152 pods of the FGD paper's default trace
// on the AWS catalog, on-demand and with spot at 40 %, and checks the
// bound against a first-fit plan's cost.
func TestOpenbDefault(t *testing.T) {
	pods := openbDefault(t)
	require.Len(t, pods, 8152)
	tests := []struct {
		name   string
		spot   bool
		opts   Options
		lo, hi float64 // where the bound must lie, USD/h
	}{
		{"on-demand", false, Options{}, 6520, 6530},
		{"on-demand/plain LP", false, Options{DFFOrder: -1}, 6395, 6405},
		{"on-demand/64 classes", false, Options{MaxClasses: 64}, 6400, 6530},
		{"spot", true, Options{}, 2605, 2615},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			types := catalogTypes(t, tt.spot, false)
			start := time.Now()
			b, err := Compute(t.Context(), pods, types, tt.opts)
			require.NoError(t, err)
			t.Logf("%v: %s", time.Since(start), describe(b, types))
			require.Equal(t, MethodLP, b.Method)
			require.Empty(t, b.Infeasible)
			require.Equal(t, 151, b.PodClasses)
			require.GreaterOrEqual(t, b.CostPerHour, tt.lo)
			require.LessOrEqual(t, b.CostPerHour, tt.hi)
			plan := firstFit(pods, types)
			t.Logf("first-fit plan $%.2f/h, %.1f %% above the bound", plan, 100*(plan/b.CostPerHour-1))
			require.LessOrEqual(t, b.CostPerHour, plan)
		})
	}
}

// firstFit is a simple feasible plan's cost: pods by GPU, then CPU,
// largest first, each on the first open node it fits, else on a new node
// of the type where it alone costs least per unit of its largest request.
func firstFit(pods []cluster.Pod, types []cluster.NodeType) float64 {
	order := make([]int, len(pods))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		pa, pb := &pods[a], &pods[b]
		return cmp.Or(cmp.Compare(pb.GPU.TotalMilli(), pa.GPU.TotalMilli()), cmp.Compare(pb.CPU, pa.CPU), cmp.Compare(pb.Memory, pa.Memory))
	})
	var nodes []*cluster.Node
	cost := 0.0
	var gpus []int
	for _, i := range order {
		p := &pods[i]
		placed := false
		for _, n := range nodes {
			if !n.Type.Admits(p) || !n.FitsFree(p) {
				continue
			}
			var ok bool
			if gpus, ok = n.BestFitGPUs(p, gpus); ok && n.Place(p, gpus) == nil {
				placed = true
				break
			}
		}
		if placed {
			continue
		}
		best, bestCost := -1, 0.0
		for t := range types {
			nt := &types[t]
			if !nt.Admits(p) {
				continue
			}
			share := max(float64(p.CPU)/float64(nt.Allocatable.CPU), float64(p.Memory)/float64(nt.Allocatable.Memory))
			if nt.GPUs > 0 {
				share = max(share, float64(p.GPU.TotalMilli())/float64(nt.GPUs*cluster.MilliGPU))
			}
			if c := nt.PricePerHour * share; best < 0 || c < bestCost {
				best, bestCost = t, c
			}
		}
		n := cluster.NewNode(&types[best])
		gpus, _ = n.BestFitGPUs(p, gpus)
		if err := n.Place(p, gpus); err != nil {
			panic(err)
		}
		nodes = append(nodes, n)
		cost += types[best].PricePerHour
	}
	return cost
}
