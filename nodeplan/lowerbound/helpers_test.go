package lowerbound

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rightsizer/rightsizer/internal/realdata"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/nodeplan/openb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openbDefault(t testing.TB) []cluster.Pod {
	t.Helper()
	pods, err := openb.LoadPods(filepath.Join(realdata.Dir(t, "alibaba-gpu-2023"), "openb_pod_list_default.csv"))
	require.NoError(t, err)
	return pods
}

// feasiblePods are the pods the bound does not list as infeasible: the
// ones a plan must place.
func feasiblePods(pods []cluster.Pod, b Bound) []cluster.Pod {
	var out []cluster.Pod
	for i := range pods {
		if !slices.Contains(b.Infeasible, i) {
			out = append(out, pods[i])
		}
	}
	return out
}

// describe summarises a bound for logs.
func describe(b Bound, types []cluster.NodeType) string {
	s := fmt.Sprintf("%s $%.4f/h (LP primal $%.4f/h), %d/%d classes, %d rounds, %d infeasible;",
		b.Method, b.CostPerHour, b.LPCostPerHour, b.Classes, b.PodClasses, b.Rounds, len(b.Infeasible))
	for _, ta := range b.Types {
		s += fmt.Sprintf(" %s/%s×%.2f", types[ta.Type].Name, types[ta.Type].CapacityType, ta.Nodes)
	}
	return s
}
