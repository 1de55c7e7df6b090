// Package peakfit fits a Gumbel (type I extreme value) distribution to
// per-window peaks by moments: the model behind the engine's OOM risk
// (package recommender) and the GPU shapes' memory sized by risk (package
// gpushape), one fit for both.
//
// A window's peak is a maximum, whose distribution tends to Gumbel's for
// the light-tailed usage within a window; on heavy-tailed usage (rare
// spikes far above the usual peak) the fit's tail is too thin, so its
// risks are estimates, not guarantees.
package peakfit

import "math"

// EulerGamma is the Euler–Mascheroni constant: a Gumbel distribution's
// mean is its location plus EulerGamma × its scale.
const EulerGamma = 0.5772156649015329

// Gumbel is a Gumbel distribution of peaks: Mu is its location and Beta
// its scale, in the peaks' unit. Beta is 0 only when every peak is 0.
type Gumbel struct {
	Mu, Beta float64
}

// Fit fits peaks by moments. With few peaks, or peaks all alike, the
// spread seen understates the spread to come: the scale is at least a
// tenth of the mean over √n, a floor that shrinks as history grows. No
// peaks fit the zero Gumbel. O(len(peaks)), two passes: peaks are large
// and alike, and E[x²] − E[x]² would cancel.
func Fit[T ~int64 | ~float64](peaks []T) Gumbel {
	if len(peaks) == 0 {
		return Gumbel{}
	}
	n := float64(len(peaks))
	var sum float64
	for _, p := range peaks {
		sum += float64(p)
	}
	mean := sum / n
	var ss float64
	for _, p := range peaks {
		d := float64(p) - mean
		ss += d * d
	}
	variance := 0.0
	if n > 1 {
		variance = ss / (n - 1)
	}
	beta := max(math.Sqrt(6*variance)/math.Pi, 0.1*mean/math.Sqrt(n))
	return Gumbel{Mu: mean - EulerGamma*beta, Beta: beta}
}

// Quantile returns the value a window's peak stays at or below with
// probability q in (0, 1]: +Inf for a q that rounds to 1, unless Beta is
// 0, when it is Mu.
func (g Gumbel) Quantile(q float64) float64 {
	if g.Beta == 0 {
		return g.Mu
	}
	return g.Mu - g.Beta*math.Log(-math.Log(q))
}

// Exceed returns the probability, in [0, 1], that a window's peak is
// above x.
func (g Gumbel) Exceed(x float64) float64 {
	if g.Beta == 0 {
		if x >= g.Mu {
			return 0
		}
		return 1
	}
	return -math.Expm1(-math.Exp(-(x - g.Mu) / g.Beta))
}
