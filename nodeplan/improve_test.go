package nodeplan

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

func cpuNodeType(name string, cores int, price float64) cluster.NodeType {
	return cluster.NodeType{Name: name, PricePerHour: price,
		Allocatable: cluster.Resources{CPU: recommender.MilliCPU(cores * 1000), Memory: 64 * recommender.GiB, Pods: 110}}
}

// onOneNode puts every pod of the solver on one node of type t.
func onOneNode(t *testing.T, s *solver, typ int32) *node {
	t.Helper()
	var pods []member
	for j := range s.cls {
		for _, p := range s.cls[j].pods {
			pods = append(pods, member{pod: p, cls: int32(j)})
		}
	}
	n := s.placeAll(typ, pods)
	require.NotNil(t, n)
	return n
}

// TestImproveMoves starts the improvement from plans it must fix with
// the moves Karpenter's consolidation lacks or has: a split of one node
// into two cheaper ones, a merge of two into one, a swap for a cheaper
// type.
func TestImproveMoves(t *testing.T) {
	t.Parallel()
	types := []cluster.NodeType{cpuNodeType("big", 8, 10), cpuNodeType("small", 4, 4)}
	tests := []struct {
		name  string
		cpu   []recommender.MilliCPU
		start func(t *testing.T, s *solver) []*node
		cost  float64
		nodes int
	}{{
		name: "split one big node into two small ones",
		cpu:  []recommender.MilliCPU{3500, 3500},
		start: func(t *testing.T, s *solver) []*node {
			return []*node{onOneNode(t, s, 0)}
		},
		cost: 8, nodes: 2,
	}, {
		name: "merge two small nodes into one",
		cpu:  []recommender.MilliCPU{1500, 1500},
		start: func(t *testing.T, s *solver) []*node {
			a := s.placeAll(1, []member{{pod: 0, cls: 0}})
			b := s.placeAll(1, []member{{pod: 1, cls: 0}})
			return []*node{a, b}
		},
		cost: 4, nodes: 1,
	}, {
		name: "swap a big node for a small one",
		cpu:  []recommender.MilliCPU{1000},
		start: func(t *testing.T, s *solver) []*node {
			return []*node{onOneNode(t, s, 0)}
		},
		cost: 4, nodes: 1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pods := make([]cluster.Pod, len(tt.cpu))
			for i, c := range tt.cpu {
				pods[i] = cluster.Pod{Name: "p", CPU: c}
			}
			s := newSolver(pods, types, 1)
			nodes, st, err := s.improve(t.Context(), tt.start(t, s), 50, time.Time{})
			require.NoError(t, err)
			cost := 0.0
			for _, n := range nodes {
				cost += s.ty[n.t].price
			}
			require.InDelta(t, tt.cost, cost, 1e-9)
			require.Len(t, nodes, tt.nodes)
			require.Positive(t, st.Improved)
		})
	}
}

// TestKnapsackFindsBetterFill checks the pricing's knapsack against a
// fill the greedy order misses: three 320-milli shares on one GPU and a
// whole-GPU pod, where the greedy, taking the most valuable pod first,
// fills the node with one pod that takes all its GPUs.
func TestKnapsackFindsBetterFill(t *testing.T) {
	t.Parallel()
	typ := cluster.NodeType{Name: "g2", PricePerHour: 1, GPUs: 2,
		Allocatable: cluster.Resources{CPU: 16000, Memory: 64 * recommender.GiB, Pods: 20}}
	pods := []cluster.Pod{
		{Name: "both", CPU: 1000, GPU: cluster.GPURequest{Count: 2}},
		{Name: "whole", CPU: 1000, GPU: cluster.GPURequest{Count: 1}},
	}
	for range 3 {
		pods = append(pods, cluster.Pod{Name: "share", CPU: 1000, GPU: cluster.GPURequest{Milli: 320}})
	}
	s := newSolver(pods, []cluster.NodeType{typ}, 1)
	rem := make([]int32, len(s.cls))
	price := make([]float64, len(s.cls))
	for j := range s.cls {
		rem[j] = int32(len(s.cls[j].pods))
	}
	price[0], price[1], price[2] = 1.2, 0.7, 0.25 // both, whole, share
	w := s.main
	order := []int32{0, 1, 2}
	_, greedy := w.fill(0, rem, order, price, nil)
	require.InDelta(t, 1.2, greedy, 1e-9)
	runs, v := w.knap.solve(0, rem, price, 1, 1000, 10, 100, w.rng, nil)
	require.NotNil(t, runs)
	require.InDelta(t, 0.7+3*0.25, v, 1e-9)
}
