package gpushape

import (
	"math"

	"github.com/rightsizer/rightsizer/recommender"
)

// eulerGamma is the Euler–Mascheroni constant: a Gumbel distribution's
// mean is its location plus eulerGamma × its scale.
const eulerGamma = 0.5772156649015329

// peakFit is a Gumbel (type I extreme value) distribution of per-window
// memory peaks, in bytes, fitted by moments: the model the engine's GPU
// memory OOM risk uses (package recommender). A window's peak is a
// maximum, whose distribution tends to Gumbel's for the light-tailed usage
// within a window; on heavy-tailed usage (rare spikes far above the usual
// peak) the fit's tail is too thin, so its risks are estimates, not
// guarantees, and Recommend keeps a floor (the last peak) under it.
type peakFit struct {
	// mu is the location and beta the scale, in bytes; beta is 0 only
	// when every peak is 0.
	mu, beta float64
	n        int
}

// fitPeaks fits peaks (at least one; each in [0, maxBytes]). With few
// peaks, or peaks all alike, the spread seen understates the spread to
// come: the scale is at least a tenth of the mean over √n, as in the
// engine, a floor that shrinks as history grows. O(len(peaks)).
func fitPeaks(peaks []recommender.Bytes) peakFit {
	n := float64(len(peaks))
	var sum float64
	for _, p := range peaks {
		sum += float64(p)
	}
	mean := sum / n
	var ss float64 // two passes: peaks are large and alike, E[x²]−E[x]² would cancel
	for _, p := range peaks {
		d := float64(p) - mean
		ss += d * d
	}
	variance := 0.0
	if n > 1 {
		variance = ss / (n - 1)
	}
	beta := max(math.Sqrt(6*variance)/math.Pi, 0.1*mean/math.Sqrt(n))
	return peakFit{mu: mean - eulerGamma*beta, beta: beta, n: len(peaks)}
}

// quantile returns the memory, in bytes, that a window's peak stays at or
// below with probability q in (0, 1]: +Inf for a q that rounds to 1,
// unless every peak was 0 (β 0), when it is μ.
func (f peakFit) quantile(q float64) float64 {
	if f.beta == 0 {
		return f.mu
	}
	return f.mu - f.beta*math.Log(-math.Log(q))
}

// exceed returns the probability, in [0, 1], that a window's peak is
// above m bytes.
func (f peakFit) exceed(m recommender.Bytes) float64 {
	if f.beta == 0 {
		if float64(m) >= f.mu {
			return 0
		}
		return 1
	}
	return -math.Expm1(-math.Exp(-(float64(m) - f.mu) / f.beta))
}
