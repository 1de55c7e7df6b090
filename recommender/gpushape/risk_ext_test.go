package gpushape_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/gpushape"
)

// peaksOf returns per-window memory peaks in GiB: each value repeated as
// often as the count before it (count, GiB, count, GiB, …).
func peaksOf(runs ...float64) []recommender.Bytes {
	var b []recommender.Bytes
	for i := 0; i+1 < len(runs); i += 2 {
		for range int(runs[i]) {
			b = append(b, recommender.Bytes(runs[i+1]*float64(gib)))
		}
	}
	return b
}

// TestRecommendMemoryRisk pins how balanced (2 % risk per window, at
// least the last peak + 1 GiB) sizes memory from per-window peaks on an
// H100-80GB, against the flat rule (MemoryRisk 0: the largest peak +
// max(15 %, 1 GiB)) on the same usage. Compute is small throughout (P90
// 0.05 GPUs), so memory alone picks the shape.
func TestRecommendMemoryRisk(t *testing.T) {
	t.Parallel()
	h100 := device(t, "H100-80GB")
	g3 := gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "3g.40gb"}
	for _, tc := range []struct {
		name    string
		peaks   []recommender.Bytes
		current gpushape.Allocation
		// The shape under balanced, its requirement in GiB, risk and
		// reason; the shape the flat rule gives.
		alloc  gpushape.Allocation
		flags  gpushape.Flags
		need   float64
		risk   float64
		reason string
		flat   gpushape.Allocation
	}{
		{
			// Twenty windows at 24 GiB and one at 37 long ago: the fit (β
			// 2.27 GiB) puts P98 at 32.19 GiB, so a 3g.40gb; the flat rule
			// sizes from the 37 GiB for good: a whole GPU.
			name: "one old spike no longer pins a whole GPU", peaks: peaksOf(10, 24, 1, 37, 9, 24), current: oneGPU,
			alloc: g3, need: 32.19, risk: 0.000894, flat: oneGPU,
			reason: "1 × GPU → mig 3g.40gb (39.25Gi, 60 SMs): needs 32.19Gi GPU memory (2% risk per window by a fit of 20 window peaks up to 37Gi, at least the last peak 24Gi + 1Gi) and 0.055 GPUs (P90 0.05 GPUs + 10%); memory risk 0.09% per window; saves $2511.20/month",
		},
		{
			// Steady at 17.3 GiB for 20 windows: β is the floor, 0.1 ×
			// 17.3 / √20, so P98 is 18.59 GiB and 1g.20gb (19.5 GiB)
			// holds it; 15 % over the peak (19.9 GiB) needs a 3g.40gb.
			name: "steady usage needs less than a flat 15 %", peaks: peaksOf(20, 17.3), current: oneGPU,
			alloc: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.20gb"}, need: 18.59, risk: 0.001901, flat: g3,
			reason: "1 × GPU → mig 1g.20gb (19.5Gi, 26 SMs): needs 18.59Gi GPU memory (2% risk per window by a fit of 20 window peaks up to 17.3Gi, at least the last peak 17.3Gi + 1Gi) and 0.055 GPUs (P90 0.05 GPUs + 10%); memory risk 0.19% per window; saves $3766.80/month",
		},
		{
			// One window at 31 GiB: β = 3.1 GiB, P98 41.31 GiB, more than
			// any slice: the whole GPU stays until more history comes;
			// the flat rule's 35.66 GiB risks 3.85 % in a 3g.40gb.
			name: "one window of history keeps the GPU", peaks: peaksOf(1, 31), current: oneGPU,
			alloc: oneGPU, need: 41.31, risk: 0, flat: g3,
			reason: "keep 1 × GPU: needs 41.31Gi GPU memory (2% risk per window by a fit of 1 window peak up to 31Gi, at least the last peak 31Gi + 1Gi) and 0.055 GPUs (P90 0.05 GPUs + 10%); memory risk 0% per window",
		},
		{
			// Nineteen windows at 5 GiB, then 18.6: the fit's P98 (13.56
			// GiB) would fit 1g.20gb, but memory just grew: the last
			// peak + 1 GiB (19.6 GiB) floors it, a 3g.40gb.
			name: "the last peak floors the fit", peaks: peaksOf(19, 5, 1, 18.6), current: oneGPU,
			alloc: g3, need: 19.6, risk: 0, flat: g3,
			reason: "1 × GPU → mig 3g.40gb (39.25Gi, 60 SMs): needs 19.6Gi GPU memory (2% risk per window by a fit of 20 window peaks up to 18.6Gi, at least the last peak 18.6Gi + 1Gi) and 0.055 GPUs (P90 0.05 GPUs + 10%); memory risk 0% per window; saves $2511.20/month",
		},
		{
			// The last window on 3g.40gb peaked at its cap: censored,
			// sized from the cap + 15 %, a whole GPU.
			name: "a last peak at the slice's cap steps up", peaks: peaksOf(10, 30, 1, 39.2), current: g3,
			alloc: oneGPU, flags: gpushape.FlagCapped, need: 45.14, risk: 0, flat: oneGPU,
			reason: "mig 3g.40gb → 1 × GPU: needs 45.14Gi GPU memory (2% risk per window by a fit of 11 window peaks up to 39.2Gi, at least the last peak 39.2Gi + 1Gi) and 0.055 GPUs (P90 0.05 GPUs + 10%); capped: last window's memory peak 39.2Gi is 99.9% of its 39.25Gi; usage is censored, one size up (memory: its cap + max(15%, 1Gi)); memory risk 0% per window; costs $2511.20/month more",
		},
		{
			// A peak at 39 GiB long ago, then nineteen windows at 24 on
			// 3g.40gb: not censored (that peak was not seen on it), kept.
			// The flat rule sizes from 39 GiB and leaves the slice.
			name: "an old peak near the cap does not censor", peaks: peaksOf(1, 39, 19, 24), current: g3,
			alloc: g3, need: 33.445, risk: 0.002192, flat: oneGPU,
			reason: "keep mig 3g.40gb (39.25Gi, 60 SMs): needs 33.45Gi GPU memory (2% risk per window by a fit of 20 window peaks up to 39Gi, at least the last peak 24Gi + 1Gi) and 0.055 GPUs (P90 0.05 GPUs + 10%); memory risk 0.22% per window",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := usage(0, 0.02, 0.05, 0.1, 0.2)
			u.MemoryPeaks = tc.peaks
			for _, p := range tc.peaks {
				u.MemoryMax = max(u.MemoryMax, p)
			}
			in := gpushape.Input{Usage: u, Current: tc.current, Device: h100}
			bal := policy(t, recommender.ProfileBalanced)
			s, err := gpushape.Recommend(in, bal)
			require.NoError(t, err)
			require.Equal(t, tc.alloc, s.Allocation(), s.Reason)
			require.Equal(t, tc.flags, s.Flags, s.Reason)
			require.InDelta(t, tc.need, s.NeedMemoryBytes.GiB(), 0.005, s.Reason)
			require.InDelta(t, tc.risk, s.MemoryRisk, 1e-9, s.Reason)
			require.Equal(t, tc.reason, s.Reason)

			flat := bal
			flat.MemoryRisk = 0
			f, err := gpushape.Recommend(in, flat)
			require.NoError(t, err)
			require.Equal(t, tc.flat, f.Allocation(), f.Reason)
			require.Contains(t, f.Reason, "(peak ", "the flat rule sizes from the largest peak")
			require.Contains(t, f.Reason, "memory risk", "the risk is reported whenever peaks are known")
		})
	}
}
