package agentload

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	t.Parallel()
	res, err := Run(Config{Containers: 6, ContainersPerPod: 2, Rounds: 3, Baseline: 2, Interval: 10 * time.Second, Dir: t.TempDir(), Seed: 3})
	require.NoError(t, err)
	require.Equal(t, 6, res.Containers)
	require.Equal(t, 3, res.Pods)
	require.Equal(t, 9, res.Cgroups, "each pod's sandbox too")
	require.Equal(t, 3, res.Rounds)
	require.Positive(t, res.CPUMsPerRound)
	require.Positive(t, res.FullScanCPUMsPerRound)
	require.Positive(t, res.BaselineCPUMsPerRound)
	require.Positive(t, res.RSSMiB)
	require.GreaterOrEqual(t, res.OpenFiles, 7*res.Cgroups)
	require.Less(t, res.MaxCPUErrorCores, 1e-6)
	require.Zero(t, res.FileErrors)
	require.Equal(t, DefaultTargets, res.Targets)
	require.Equal(t, res.PassCPU && res.PassRSS, res.Pass)
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	_, err := Run(Config{})
	require.Error(t, err)
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	xs := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	require.InDelta(t, 9.0, quantile(xs, 0.9), 0)
	require.InDelta(t, 1.0, quantile(xs, 0), 0)
	require.InDelta(t, 10.0, quantile(xs, 1), 0)
	require.Zero(t, quantile(nil, 0.5))
	require.Equal(t, []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}, xs, "input unchanged")
}

func TestRSS(t *testing.T) {
	t.Parallel()
	rss, err := rssMiB()
	require.NoError(t, err)
	require.Positive(t, rss)
}
