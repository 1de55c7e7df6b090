package nodeplan_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/internal/realdata"
	"github.com/rightsizer/rightsizer/nodeplan"
	"github.com/rightsizer/rightsizer/nodeplan/catalog"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/nodeplan/openb"
)

// openbTrace is the Alibaba GPU trace's default pod list.
const openbTrace = "openb_pod_list_default.csv"

// openbPods reads the 8,152 pods of the trace, or skips tb.
func openbPods(tb testing.TB) []cluster.Pod {
	tb.Helper()
	pods, err := openb.LoadPods(filepath.Join(realdata.Dir(tb, "alibaba-gpu-2023"), openbTrace))
	require.NoError(tb, err)
	return pods
}

// awsTypes are the embedded AWS us-east-1 catalog's instance types,
// on-demand, and with spot too (at a 60 % discount) when spot is set.
func awsTypes(tb testing.TB, spot bool) []cluster.NodeType {
	tb.Helper()
	cat := catalog.AWSUSEast1()
	opts := catalog.NodeTypeOptions{}
	if spot {
		var err error
		cat, err = cat.WithOverrides(catalog.Overrides{SpotDiscount: 0.6})
		require.NoError(tb, err)
		opts.CapacityTypes = []string{catalog.CapacityTypeOnDemand, catalog.CapacityTypeSpot}
	}
	types, err := cat.NodeTypes(opts)
	require.NoError(tb, err)
	return types
}

// TestOpenbTrace plans the trace's 8,152 pods on the on-demand AWS catalog
// with the default effort (and a budget long enough not to cut it, even
// under the race detector), replays the plan, and holds it within 3 % of
// the lower bound: the target.
func TestOpenbTrace(t *testing.T) {
	t.Parallel()
	pods := openbPods(t)
	types := awsTypes(t, false)
	in := nodeplan.Input{Pods: pods, Types: types, Seed: 1, Budget: 5 * time.Minute}
	res, err := nodeplan.Plan(t.Context(), in)
	require.NoError(t, err)
	checkPlan(t, in, res)
	require.Empty(t, res.Unplaced)
	require.Equal(t, "lp", res.LowerBoundMethod)
	st := res.Stats
	t.Logf("%d pods (%d classes) on %d types: %d nodes, $%.2f/h ($%.0f/month), bound $%.2f/h, gap %.2f %%; LP $%.2f/h (%d columns, %d rounds), constructed $%.2f/h, %d moves (%d improved)",
		len(pods), st.Classes, len(types), len(res.Nodes), res.CostPerHour, res.CostPerMonth, res.LowerBoundPerHour, res.GapPct,
		st.LPPerHour, st.Columns, st.Rounds, st.ConstructedPerHour, st.Moves, st.Improved)
	require.False(t, res.Stats.BudgetHit)
	require.LessOrEqual(t, res.GapPct, 3.0)
	u := res.Utilisation
	t.Logf("utilisation cpu %.3f memory %.3f pods %.3f gpu %.3f; stranded cpu %.3f memory %.3f gpu %.3f",
		u.CPU, u.Memory, u.Pods, u.GPU, res.Stranded.CPUFraction, res.Stranded.MemoryFraction, res.Stranded.GPUFraction)
}
