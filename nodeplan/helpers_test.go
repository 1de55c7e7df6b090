package nodeplan_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/nodeplan"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// checkPlan replays the plan onto fresh cluster.Nodes and checks that
// every node admits its pods and holds them (no resource overfilled, GPU
// by GPU), that every pod is placed exactly once or reported unplaced
// (and then truly admitted by no type), and that the totals add up.
func checkPlan(t testing.TB, in nodeplan.Input, res *nodeplan.Result) {
	t.Helper()
	seen := make([]int, len(in.Pods))
	cost := 0.0
	perType := map[int]int{}
	for ni, n := range res.Nodes {
		require.GreaterOrEqual(t, n.Type, 0)
		require.Less(t, n.Type, len(in.Types))
		typ := &in.Types[n.Type]
		require.Equal(t, typ.Name, n.TypeName)
		require.NotEmpty(t, n.Pods, "node %d is empty", ni)
		cn := cluster.NewNode(typ)
		for _, pl := range n.Pods {
			p := &in.Pods[pl.Pod]
			seen[pl.Pod]++
			require.True(t, typ.Admits(p), "node %d (%s) does not admit pod %d", ni, typ.Name, pl.Pod)
			require.NoError(t, cn.Place(p, pl.GPUs), "node %d (%s) pod %d", ni, typ.Name, pl.Pod)
		}
		require.GreaterOrEqual(t, cn.Free.CPU, recommender.MilliCPU(0))
		require.GreaterOrEqual(t, cn.Free.Memory, recommender.Bytes(0))
		require.GreaterOrEqual(t, cn.Free.Pods, 0)
		for _, f := range cn.GPUFree {
			require.GreaterOrEqual(t, f, 0)
		}
		cost += typ.PricePerHour
		perType[n.Type]++
	}
	for _, u := range res.Unplaced {
		seen[u.Pod]++
		require.NotEmpty(t, u.Reason)
		for i := range in.Types {
			require.False(t, in.Types[i].Admits(&in.Pods[u.Pod]), "pod %d unplaced but type %d admits it", u.Pod, i)
		}
	}
	for i, c := range seen {
		require.Equal(t, 1, c, "pod %d placed or reported %d times", i, c)
	}
	require.InDelta(t, cost, res.CostPerHour, 1e-6*max(1, cost))
	require.InDelta(t, cost*nodeplan.HoursPerMonth, res.CostPerMonth, 1e-6*max(1, cost)*nodeplan.HoursPerMonth)
	total := 0
	for _, bt := range res.ByType {
		require.Equal(t, perType[bt.Type], bt.Count, "type %d", bt.Type)
		total += bt.Count
	}
	require.Equal(t, len(res.Nodes), total)
	u := res.Utilisation
	for _, r := range []float64{u.CPU, u.Memory, u.Pods, u.GPU} {
		require.GreaterOrEqual(t, r, 0.0)
		require.LessOrEqual(t, r, 1.0)
	}
	if res.LowerBoundPerHour > 0 {
		require.GreaterOrEqual(t, res.CostPerHour, res.LowerBoundPerHour*(1-1e-9), "the plan beats its lower bound")
	}
}

// randomInstance is a seeded random cluster: node types with and without
// GPUs of two models, selectors, taints and spot copies, and pods with
// whole GPUs, shares, model constraints, selectors and tolerations, some
// of which no type admits.
func randomInstance(seed uint64, pods, types int) nodeplan.Input {
	rng := rand.New(rand.NewPCG(seed, 7))
	gib := recommender.GiB
	var ts []cluster.NodeType
	models := []string{"T4", "A100"}
	for i := range types {
		cores := 1 << rng.IntN(7) // 1..64
		t := cluster.NodeType{
			Name:         fmt.Sprintf("t%d", i),
			CapacityType: "on-demand",
			Allocatable: cluster.Resources{
				CPU:    recommender.MilliCPU(cores*1000 - rng.IntN(200)),
				Memory: recommender.Bytes(cores*(2<<rng.IntN(3))) * gib,
				Pods:   4 + rng.IntN(100),
			},
			Labels: map[string]string{"pool": []string{"a", "b"}[rng.IntN(2)]},
		}
		price := 0.04*float64(cores) + 0.005*float64(t.Allocatable.Memory/gib)
		if rng.IntN(3) == 0 {
			t.GPUs = 1 << rng.IntN(4)
			t.GPUModel = models[rng.IntN(2)]
			price += float64(t.GPUs) * (0.5 + 2*float64(rng.IntN(2)))
			if rng.IntN(2) == 0 {
				t.Taints = []cluster.Taint{{Key: "gpu", Value: "true", Effect: "NoSchedule"}}
			}
		}
		t.PricePerHour = price * (0.8 + 0.4*rng.Float64())
		ts = append(ts, t)
		if rng.IntN(3) == 0 {
			spot := t
			spot.CapacityType = "spot"
			spot.PricePerHour *= 0.4
			spot.Labels = map[string]string{"pool": t.Labels["pool"], "capacity": "spot"}
			ts = append(ts, spot)
		}
	}
	var ps []cluster.Pod
	for i := range pods {
		p := cluster.Pod{
			Name:   fmt.Sprintf("p%d", i),
			CPU:    recommender.MilliCPU(50 * (1 + rng.IntN(160))),
			Memory: recommender.Bytes(1+rng.IntN(64)) * 256 * recommender.MiB,
		}
		switch rng.IntN(6) {
		case 0:
			p.GPU.Count = 1 << rng.IntN(3)
		case 1:
			p.GPU.Milli = 1 + rng.IntN(999)
		}
		if p.GPU.Any() {
			if rng.IntN(3) == 0 {
				p.GPU.Models = []string{models[rng.IntN(2)]}
			}
			if rng.IntN(2) == 0 {
				p.Tolerations = []cluster.Toleration{{Key: "gpu", Operator: "Exists"}}
			}
		}
		if rng.IntN(5) == 0 {
			p.NodeSelector = map[string]string{"pool": "b"}
		}
		if rng.IntN(40) == 0 {
			p.CPU = 1 << 40 // no type admits it
		}
		// Repeat shapes, as real workloads do.
		if len(ps) > 0 && rng.IntN(2) == 0 {
			q := ps[rng.IntN(len(ps))]
			q.Name = p.Name
			p = q
		}
		ps = append(ps, p)
	}
	return nodeplan.Input{Pods: ps, Types: ts, Seed: seed}
}
