package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRunEngineSmall runs the harness on a small configuration so that
// `make test` keeps it working; the figures come from `make bench-engine`.
func TestRunEngineSmall(t *testing.T) {
	cfg := EngineConfig{Seed: 1, Repeats: 1, Week: 2 * 24 * time.Hour, Containers: 20,
		EngineContainers: 2000, EngineGoroutines: 4, EngineSamples: 20000}
	res, err := RunEngine(cfg)
	require.NoError(t, err)
	require.Equal(t, 20, res.Containers)
	require.Equal(t, 2*24*60, res.SamplesPerSeries)
	for _, v := range []float64{res.OursInsertNs, res.VPAInsertNs, res.OursQueryNs, res.VPAQueryNs, res.EngineSamplesPerSec} {
		require.Positive(t, v)
	}
	require.LessOrEqual(t, res.OursMaxRelErr, 0.01)
	require.LessOrEqual(t, res.OursMaxRelErrAll, 0.01)
	require.LessOrEqual(t, res.OursMemoryMaxRelErr, 0.01)
	require.Greater(t, res.VPAMaxRelErr, res.OursMaxRelErr, "VPA's 5 %% buckets are coarser")
}
