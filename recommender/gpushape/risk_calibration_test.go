package gpushape

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/internal/peakfit"
)

// TestMemoryRiskCalibrated checks that sizing by risk delivers the risk it
// is asked for when the peaks are what the model assumes: windows whose
// peaks are Gumbel draws (24 GiB location, 2 GiB scale: a model server's
// KV cache breathing over its weights). Each trial fits n windows,
// sizes memory at the profile's risk, and the true distribution says how
// likely the next window's peak is to exceed it; the average over trials
// is the realised risk. With a week of hourly windows it lies within half
// to one and a half times the risk asked for (the bar the CPU risk budgets
// meet in the backtest). With a day of them the moment fit is optimistic,
// the more so the smaller the risk (its scale is estimated from few
// peaks, and a low estimate costs more in the tail than a high one
// saves): 1.4× at 2 %, 1.8× at 0.5 %. The pin holds it there; in the
// GenAI backtest, MIG sizes rounding the memory up make up for it at 2–3 %
// but not at 0.5 % (make eval-gpu's overflow_rate: performance 0.78 % of
// windows for 0.5 %).
func TestMemoryRiskCalibrated(t *testing.T) {
	t.Parallel()
	const gib = float64(recommender.GiB)
	truth := peakfit.Gumbel{Mu: 24 * gib, Beta: 2 * gib}
	draw := func(r *rand.Rand) recommender.Bytes {
		// Inverse CDF: μ − β ln(−ln U).
		return recommender.Bytes(truth.Mu - truth.Beta*math.Log(-math.Log(r.Float64())))
	}
	tests := []struct {
		risk   float64
		n      int     // windows of history
		lo, hi float64 // realised risk ÷ risk asked for
	}{
		{risk: 0.03, n: 168, lo: 0.5, hi: 1.5}, // cost, a week of hourly windows
		{risk: 0.02, n: 168, lo: 0.5, hi: 1.5}, // balanced
		{risk: 0.005, n: 168, lo: 0.5, hi: 1.5},
		{risk: 0.02, n: 24, lo: 1, hi: 1.6}, // a day
		{risk: 0.005, n: 24, lo: 1, hi: 2},
	}
	for _, tc := range tests {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.risk*1e6)))
			p := Policy{MemoryRisk: tc.risk}
			const trials = 4000
			var realised float64
			peaks := make([]recommender.Bytes, tc.n)
			for range trials {
				for i := range peaks {
					peaks[i] = draw(r)
				}
				need, _, byRisk := memoryRequirement(Usage{MemoryPeaks: peaks, MemoryMax: peaks[0]}, p)
				require.True(t, byRisk)
				realised += truth.Exceed(float64(need))
			}
			realised /= trials
			t.Logf("risk %.3f over %d windows: realised %.4f (%.2f×)", tc.risk, tc.n, realised, realised/tc.risk)
			require.GreaterOrEqual(t, realised/tc.risk, tc.lo)
			require.LessOrEqual(t, realised/tc.risk, tc.hi)
		})
	}
}
