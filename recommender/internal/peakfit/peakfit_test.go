package peakfit

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	gibBytes = int64(1) << 30
	maxBytes = int64(1) << 50 // a PiB
)

// TestFitPeaks checks the Gumbel fit by moments: the fit's mean and
// variance are the peaks' (mean μ + γβ, variance π²β²/6), the scale never
// falls under a tenth of the mean over √n, quantile and exceed invert
// each other, and large alike peaks do not lose the spread to rounding.
func TestFitPeaks(t *testing.T) {
	t.Parallel()
	const gib = float64(gibBytes)
	tests := []struct {
		name  string
		peaks []int64
		// mean and sd of the fitted distribution, in GiB; q98 its 0.98
		// quantile, worked out by hand: μ − β ln(−ln 0.98).
		mean, sd, q98 float64
	}{
		{
			// Sample sd 10 GiB: β = √6·10/π = 7.797, μ = 20 − γβ = 15.499,
			// P98 = μ + 3.902 β = 45.92 GiB.
			name: "spread", peaks: []int64{10 * gibBytes, 20 * gibBytes, 30 * gibBytes},
			mean: 20, sd: 10, q98: 45.92,
		},
		{
			// One peak has no spread: β = 0.1 × 31 / √1 = 3.1 GiB, so
			// P98 = 31 + (3.902 − γ) × 3.1 = 41.31 GiB.
			name: "one window", peaks: []int64{31 * gibBytes},
			mean: 31, sd: 3.1 * math.Pi / math.Sqrt(6), q98: 41.31,
		},
		{
			// Sixteen alike peaks: β = 0.1 × 31 / 4 = 0.775 GiB, a quarter
			// of one window's: P98 = 33.58 GiB.
			name: "steady, longer history", peaks: repeat(31*gibBytes, 16),
			mean: 31, sd: 0.775 * math.Pi / math.Sqrt(6), q98: 33.58,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := Fit(tc.peaks)
			require.InDelta(t, tc.mean, (f.Mu+EulerGamma*f.Beta)/gib, 1e-9, "mean")
			require.InDelta(t, tc.sd, f.Beta*math.Pi/math.Sqrt(6)/gib, 1e-9, "sd")
			require.InDelta(t, tc.q98, f.Quantile(0.98)/gib, 0.005, "P98")
			for _, q := range []float64{0.5, 0.9, 0.98, 0.999} {
				require.InDelta(t, 1-q, f.Exceed(f.Quantile(q)), 1e-6, "exceed inverts quantile at %v", q)
			}
			require.Greater(t, f.Exceed(tc.mean*gib), f.Exceed(tc.q98*gib), "exceed falls as memory grows")
		})
	}

	t.Run("no peaks", func(t *testing.T) {
		t.Parallel()
		f := Fit([]int64(nil))
		require.Equal(t, Gumbel{}, f)
		require.Zero(t, f.Exceed(1), "nothing seen: no risk")
	})
	t.Run("all zero", func(t *testing.T) {
		t.Parallel()
		f := Fit([]int64{0, 0})
		require.Zero(t, f.Beta)
		require.Zero(t, f.Quantile(0.98))
		require.Zero(t, f.Quantile(1), "not NaN")
		require.Zero(t, f.Exceed(0))
		require.Zero(t, f.Exceed(1))
	})
	t.Run("large alike peaks", func(t *testing.T) {
		t.Parallel()
		// 1 PiB ± 1 byte: the spread is a byte; the floor decides, and
		// nothing is lost to cancellation or comes out NaN.
		f := Fit([]int64{maxBytes - 1, maxBytes, maxBytes - 1, maxBytes})
		require.InDelta(t, 0.1*float64(maxBytes)/2, f.Beta, 1)
		require.False(t, math.IsNaN(f.Quantile(1-1e-12)))
		require.True(t, math.IsInf(f.Quantile(1), 1))
	})
}

func repeat(v int64, n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = v
	}
	return s
}
