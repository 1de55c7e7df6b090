package gpushape

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
)

// TestFitPeaks checks the Gumbel fit by moments: the fit's mean and
// variance are the peaks' (mean μ + γβ, variance π²β²/6), the scale never
// falls under a tenth of the mean over √n, quantile and exceed invert
// each other, and large alike peaks do not lose the spread to rounding.
func TestFitPeaks(t *testing.T) {
	t.Parallel()
	const gib = float64(recommender.GiB)
	tests := []struct {
		name  string
		peaks []recommender.Bytes
		// mean and sd of the fitted distribution, in GiB; q98 its 0.98
		// quantile, worked out by hand: μ − β ln(−ln 0.98).
		mean, sd, q98 float64
	}{
		{
			// Sample sd 10 GiB: β = √6·10/π = 7.797, μ = 20 − γβ = 15.499,
			// P98 = μ + 3.902 β = 45.92 GiB.
			name: "spread", peaks: []recommender.Bytes{10 * recommender.GiB, 20 * recommender.GiB, 30 * recommender.GiB},
			mean: 20, sd: 10, q98: 45.92,
		},
		{
			// One peak has no spread: β = 0.1 × 31 / √1 = 3.1 GiB, so
			// P98 = 31 + (3.902 − γ) × 3.1 = 41.31 GiB.
			name: "one window", peaks: []recommender.Bytes{31 * recommender.GiB},
			mean: 31, sd: 3.1 * math.Pi / math.Sqrt(6), q98: 41.31,
		},
		{
			// Sixteen alike peaks: β = 0.1 × 31 / 4 = 0.775 GiB, a quarter
			// of one window's: P98 = 33.58 GiB.
			name: "steady, longer history", peaks: repeat(31*recommender.GiB, 16),
			mean: 31, sd: 0.775 * math.Pi / math.Sqrt(6), q98: 33.58,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := fitPeaks(tc.peaks)
			require.Equal(t, len(tc.peaks), f.n)
			require.InDelta(t, tc.mean, (f.mu+eulerGamma*f.beta)/gib, 1e-9, "mean")
			require.InDelta(t, tc.sd, f.beta*math.Pi/math.Sqrt(6)/gib, 1e-9, "sd")
			require.InDelta(t, tc.q98, f.quantile(0.98)/gib, 0.005, "P98")
			for _, q := range []float64{0.5, 0.9, 0.98, 0.999} {
				require.InDelta(t, 1-q, f.exceed(recommender.Bytes(f.quantile(q))), 1e-6, "exceed inverts quantile at %v", q)
			}
			require.Greater(t, f.exceed(recommender.Bytes(tc.mean*gib)), f.exceed(recommender.Bytes(tc.q98*gib)), "exceed falls as memory grows")
		})
	}

	t.Run("all zero", func(t *testing.T) {
		t.Parallel()
		f := fitPeaks([]recommender.Bytes{0, 0})
		require.Zero(t, f.beta)
		require.Zero(t, f.quantile(0.98))
		require.Zero(t, f.quantile(1), "not NaN")
		require.Zero(t, f.exceed(0))
		require.Zero(t, f.exceed(1))
	})
	t.Run("large alike peaks", func(t *testing.T) {
		t.Parallel()
		// 1 PiB ± 1 byte: the spread is a byte; the floor decides, and
		// nothing is lost to cancellation or comes out NaN.
		f := fitPeaks([]recommender.Bytes{maxBytes - 1, maxBytes, maxBytes - 1, maxBytes})
		require.InDelta(t, 0.1*float64(maxBytes)/2, f.beta, 1)
		require.False(t, math.IsNaN(f.quantile(1-1e-12)))
		require.True(t, math.IsInf(f.quantile(1), 1))
	})
}

// TestMemoryRequirementTinyRisk checks that a risk too small for 1 − risk
// to differ from 1 sizes past any GPU (keeping the GPUs), and that peaks
// all at 0 size from the last peak plus the minimum headroom, not NaN.
func TestMemoryRequirementTinyRisk(t *testing.T) {
	t.Parallel()
	p := Policy{MemoryRisk: 1e-20, MemoryMinHeadroom: recommender.GiB}
	need, _, byRisk := memoryRequirement(Usage{MemoryMax: 8 * recommender.GiB, MemoryPeaks: []recommender.Bytes{8 * recommender.GiB}}, p)
	require.True(t, byRisk)
	require.Equal(t, 2*maxBytes, need)
	need, _, _ = memoryRequirement(Usage{MemoryPeaks: []recommender.Bytes{0, 0}}, p)
	require.Equal(t, recommender.GiB, need)
}

func repeat(b recommender.Bytes, n int) []recommender.Bytes {
	s := make([]recommender.Bytes, n)
	for i := range s {
		s[i] = b
	}
	return s
}

// TestPctRisk pins how risks read in reasons.
func TestPctRisk(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    float64
		want string
	}{
		{0, "0%"},
		{0.00001, "<0.01%"},
		{0.00005, "0.01%"},
		{0.001901, "0.19%"},
		{0.02, "2%"},
		{0.5, "50%"},
	} {
		require.Equal(t, tc.want, pctRisk(tc.p), "%v", tc.p)
	}
}
