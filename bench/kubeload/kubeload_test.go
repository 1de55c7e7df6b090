package kubeload

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/internal/kubetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// TestRunSmall runs the harness on a tiny cluster: every figure it reports
// must be present and consistent, and discovery must make no requests in
// steady state (it watches; nothing re-lists).
func TestRunSmall(t *testing.T) {
	cl := kubetest.Shared(t)
	cfg := Config{Pods: 40, PodsPerWorkload: 4, Namespaces: 2, Runs: 2, Steady: 2 * time.Second, ChurnPerMin: 3}
	res, err := Run(t.Context(), cl.Config, cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.Equal(t, 40, res.Pods)
	require.Equal(t, 10, res.Workloads)
	require.Len(t, res.InventorySeconds, 2)
	require.Positive(t, res.InventoryMedian)
	require.Positive(t, res.StartRequests)
	require.Positive(t, res.PodUpdatesPerMin)
	require.Zero(t, res.SteadyRequestsPerMin, "informers watch: no requests while pods churn")
	require.Positive(t, res.SteadyBytesPerMin, "watch events arrive")
	require.Equal(t, 3.0, res.BaselineRequestsPerMin, "one page each of pods, ReplicaSets and Deployments")
	require.Positive(t, res.BaselineBytesPerMin)
}
