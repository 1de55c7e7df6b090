package nodeplan_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/nodeplan"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/nodeplan/openb"
)

// benchPlan plans pods on types b.N times and reports pods/s, nodes, the
// plan's cost and its gap to the lower bound.
func benchPlan(b *testing.B, pods []cluster.Pod, types []cluster.NodeType) {
	in := nodeplan.Input{Pods: pods, Types: types, Seed: 1}
	var res *nodeplan.Result
	b.ReportAllocs()
	for b.Loop() {
		var err error
		res, err = nodeplan.Plan(b.Context(), in)
		require.NoError(b, err)
	}
	b.ReportMetric(float64(len(pods))*float64(b.N)/b.Elapsed().Seconds(), "pods/s")
	b.ReportMetric(float64(len(res.Nodes)), "nodes")
	b.ReportMetric(res.CostPerHour, "$/h")
	b.ReportMetric(res.GapPct, "gap%")
	if res.Stats.BudgetHit {
		b.ReportMetric(1, "budget-hit")
	}
}

// BenchmarkPlan10k plans 10,000 pods drawn with a fixed seed from the
// Alibaba openb trace onto the AWS catalog's on-demand and spot types
// (344 node types): the 2-second target.
func BenchmarkPlan10k(b *testing.B) {
	benchPlan(b, openb.Sample(openbPods(b), 10_000, 1), awsTypes(b, true))
}

// BenchmarkPlanOpenb plans the trace's 8,152 pods onto the on-demand AWS
// catalog, as `make eval-plan` does.
func BenchmarkPlanOpenb(b *testing.B) {
	benchPlan(b, openbPods(b), awsTypes(b, false))
}
