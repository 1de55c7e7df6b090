package gpu

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/gpushape"
)

// input returns the Input of pod p at minute now, holding cur.
func input(t testing.TB, p Pod, now int, cur gpushape.Allocation) Input {
	t.Helper()
	n := 0
	for n < len(p.Samples) && p.Samples[n].Time.Before(t0.Add(time.Duration(now)*testStep)) {
		n++
	}
	return Input{
		Pod: p.Name, Now: t0.Add(time.Duration(now) * testStep), Origin: t0,
		Samples: p.Samples[:n], Durations: durations(p, testStep)[:n], Current: cur, Device: testDevice(t),
	}
}

// TestKruizePercentile pins kruize/autotune's CommonUtils.percentile:
// the sorted list's element at round(p/100 × (n−1)), half up.
func TestKruizePercentile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    float64
		xs   []float64
		want float64
	}{
		{98, nil, 0},
		{98, []float64{5}, 5},
		{98, []float64{4, 3, 2, 1}, 4},                     // round(2.94) = 3
		{60, []float64{1, 2, 3, 4}, 3},                     // round(1.8) = 2
		{50, []float64{1, 2}, 2},                           // round(0.5) = 1, half up
		{98, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 10}, // round(8.82) = 9
		{98, make([]float64, 25), 0},
	}
	for _, tc := range tests {
		xs := append([]float64(nil), tc.xs...)
		require.InDelta(t, tc.want, kruizePercentile(tc.p, tc.xs), 0, "P%v of %v", tc.p, tc.xs)
		require.Equal(t, xs, tc.xs, "the input is not reordered")
	}
}

// TestKruizeProfile checks the first-fit on both fractions, by nominal
// fraction: a pod may get a profile whose real memory it overflows.
func TestKruizeProfile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		busy, gib  float64
		want       string
		wantMemGiB float64
		wantGPUs   float64
	}{
		{name: "small", busy: 0.10, gib: 8, want: "1g.10gb", wantMemGiB: mem1g10, wantGPUs: 1.0 / 7},
		{name: "10 GiB is 1/8 nominally", busy: 0.10, gib: 10, want: "1g.10gb", wantMemGiB: mem1g10, wantGPUs: 1.0 / 7},
		{name: "memory over 1/8", busy: 0.10, gib: 10.5, want: "1g.20gb", wantMemGiB: mem1g20, wantGPUs: 0.25},
		{name: "compute over 1/7", busy: 0.2, gib: 8, want: "2g.20gb", wantMemGiB: mem1g20, wantGPUs: 2.0 / 7},
		{name: "half the memory", busy: 0.4, gib: 40, want: "3g.40gb", wantMemGiB: 40192.0 / 1024, wantGPUs: 0.5},
		{name: "busy", busy: 0.5, gib: 30, want: "4g.40gb", wantMemGiB: 40448.0 / 1024, wantGPUs: 4.0 / 7},
		{name: "busier than 4/7", busy: 0.6, gib: 8, want: "7g.80gb", wantMemGiB: 81152.0 / 1024, wantGPUs: 1},
		{name: "more than the GPU is clamped", busy: 1, gib: 90, want: "7g.80gb", wantMemGiB: 81152.0 / 1024, wantGPUs: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := series("p", 0, 60, func(int) (float64, float64) { return tc.busy, tc.gib })
			d, err := NewKruize().Decide(input(t, p, 60, oneGPU))
			require.NoError(t, err)
			require.Equal(t, gpushape.Allocation{Kind: gpushape.KindMIG, Profile: tc.want}, d.Allocation)
			require.InDelta(t, tc.wantMemGiB, d.Memory.GiB(), 1e-9)
			require.InDelta(t, tc.wantGPUs, d.GPUs, 1e-9)
		})
	}
}

// TestKruizeIntervals checks what Kruize counts: per 15-minute interval the
// peak, intervals whose peak is not positive skipped, the interval still
// running at the decision point left out, and no data keeping the current
// allocation.
func TestKruizeIntervals(t *testing.T) {
	t.Parallel()
	k := NewKruize()

	// One 30 GiB spike in one of eight intervals: P98 of eight peaks is
	// the largest (round(6.86) = 7), so it counts in full.
	spike := series("spike", 0, 120, func(i int) (float64, float64) {
		if i == 50 {
			return 0.1, 30
		}
		return 0.1, 8
	})
	d, err := k.Decide(input(t, spike, 120, oneGPU))
	require.NoError(t, err)
	require.Equal(t, "3g.40gb", d.Allocation.Profile)

	// Over 60 intervals, one spike is below P98 (round(57.82) = 58 of
	// 0…59): ignored.
	long := series("long", 0, 900, func(i int) (float64, float64) {
		if i == 50 {
			return 0.1, 30
		}
		return 0.1, 8
	})
	d, err = k.Decide(input(t, long, 900, oneGPU))
	require.NoError(t, err)
	require.Equal(t, "1g.10gb", d.Allocation.Profile)

	// At minute 70 the interval [60, 75) is still running: its 30 GiB is
	// not counted yet.
	late := series("late", 0, 70, func(i int) (float64, float64) {
		if i >= 60 {
			return 0.1, 30
		}
		return 0.1, 8
	})
	d, err = k.Decide(input(t, late, 70, oneGPU))
	require.NoError(t, err)
	require.Equal(t, "1g.10gb", d.Allocation.Profile)

	// Idle intervals (peaks of 0) are skipped, not counted as zeros: the
	// one busy interval of four decides.
	idle := series("idle", 0, 60, func(i int) (float64, float64) {
		if i >= 45 {
			return 0.3, 8
		}
		return 0, 8
	})
	d, err = k.Decide(input(t, idle, 60, oneGPU))
	require.NoError(t, err)
	require.Equal(t, "3g.40gb", d.Allocation.Profile, "busy 0.3 needs 3/7 of the SMs")

	// No positive peak at all: no recommendation, the allocation is kept.
	zero := series("zero", 0, 60, func(int) (float64, float64) { return 0, 0 })
	cur := gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "2g.20gb"}
	d, err = k.Decide(input(t, zero, 60, cur))
	require.NoError(t, err)
	require.Equal(t, cur, d.Allocation)
}

// TestUsageOf checks the usage summary a rightsizer policy sizes from.
func TestUsageOf(t *testing.T) {
	t.Parallel()
	cost, err := gpushape.PolicyFor(recommender.ProfileCost)
	require.NoError(t, err)
	// Busy 0.00, 0.01, …, 0.99 (one per minute) with memory at its
	// 10 GiB baseline while under 5 % busy, 20 GiB above.
	p := series("p", 0, 100, func(i int) (float64, float64) {
		if i < 5 {
			return float64(i) / 100, 10
		}
		return float64(i) / 100, 20
	})
	u, err := UsageOf(input(t, p, 100, oneGPU), cost, 0)
	require.NoError(t, err)
	require.Equal(t, 20*recommender.GiB, u.MemoryMax)
	require.InDelta(t, 100.0/60, u.Hours, 1e-9)
	require.InDelta(t, 0.99, float64(u.ComputeMax), 1e-12)
	// Nearest rank: the Q quantile of 100 samples is the ⌈100 Q⌉-th.
	want := []gpushape.Quantile{{Q: 0.5, Value: 0.49}, {Q: 0.6, Value: 0.59}, {Q: 0.9, Value: 0.89}, {Q: 0.95, Value: 0.94}, {Q: 0.98, Value: 0.97}, {Q: 0.99, Value: 0.98}}
	require.Len(t, u.Compute, len(want))
	for i, q := range want {
		require.InDelta(t, q.Q, u.Compute[i].Q, 0)
		require.InDelta(t, float64(q.Value), float64(u.Compute[i].Value), 1e-12)
	}
	// Idle: under 5 % of one GPU and within 5 % of 80 GiB of the 10 GiB
	// baseline: the first five samples.
	require.InDelta(t, 0.05, u.IdleFraction, 1e-12)

	// A policy percentile off the list is added, exactly.
	odd := cost
	odd.ComputePercentile = 0.75
	u, err = UsageOf(input(t, p, 100, oneGPU), odd, 0)
	require.NoError(t, err)
	require.Len(t, u.Compute, len(want)+1)
	require.InDelta(t, 0.74, float64(u.ComputeAt(0.75)), 1e-12)

	// Idle is judged against the current allocation: on a 1g.10gb (16/132
	// of the SMs) under 5 % of it is under 0.006 GPUs: only busy 0.00.
	u, err = UsageOf(input(t, p, 100, gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.10gb"}), cost, 0)
	require.NoError(t, err)
	require.InDelta(t, 0.01, u.IdleFraction, 1e-12)

	// No history: nothing seen, Recommend will keep the allocation.
	u, err = UsageOf(input(t, p, 0, oneGPU), cost, 0)
	require.NoError(t, err)
	require.Equal(t, gpushape.Usage{}, u)

	_, err = UsageOf(input(t, p, 100, gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "5g.50gb"}), cost, 0)
	require.ErrorIs(t, err, gpushape.ErrInvalidInput)
}

// TestLayoutGPUs checks the packing of a window's shapes.
func TestLayoutGPUs(t *testing.T) {
	t.Parallel()
	m := testDevice(t).Model
	mig := func(p string) gpushape.Allocation { return gpushape.Allocation{Kind: gpushape.KindMIG, Profile: p} }
	share := func(k gpushape.Kind, r int) gpushape.Allocation { return gpushape.Allocation{Kind: k, Replicas: r} }
	tests := []struct {
		name   string
		allocs []gpushape.Allocation
		want   int
	}{
		{"none", nil, 0},
		{"whole GPUs one each", []gpushape.Allocation{oneGPU, oneGPU, {Kind: gpushape.KindWhole, Count: 2}}, 4},
		{"3g and 4g share a GPU", []gpushape.Allocation{mig("3g.40gb"), mig("4g.40gb")}, 1},
		{"two 4g do not", []gpushape.Allocation{mig("4g.40gb"), mig("4g.40gb")}, 2},
		{"3g×2 + 1g does not fit one", []gpushape.Allocation{mig("3g.40gb"), mig("3g.40gb"), mig("1g.10gb")}, 2},
		{"seven 1g fit one", []gpushape.Allocation{mig("1g.10gb"), mig("1g.10gb"), mig("1g.10gb"), mig("1g.10gb"), mig("1g.10gb"), mig("1g.10gb"), mig("1g.10gb")}, 1},
		{"MIG beside a whole GPU", []gpushape.Allocation{oneGPU, mig("1g.10gb")}, 2},
		{"shares by replicas", []gpushape.Allocation{share(gpushape.KindMPS, 2), share(gpushape.KindMPS, 2), share(gpushape.KindMPS, 2)}, 2},
		{"mechanisms apart", []gpushape.Allocation{share(gpushape.KindMPS, 2), share(gpushape.KindTimeSlice, 2)}, 2},
		{"replica counts apart", []gpushape.Allocation{share(gpushape.KindMPS, 2), share(gpushape.KindMPS, 4), share(gpushape.KindMPS, 4)}, 2},
		{"shares beside MIG", []gpushape.Allocation{share(gpushape.KindMPS, 4), mig("1g.10gb")}, 2},
	}
	for _, tc := range tests {
		pods := make([]string, len(tc.allocs))
		for i := range pods {
			pods[i] = string(rune('a' + i))
		}
		n, err := layoutGPUs(migPacker{}, m, pods, tc.allocs)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, n, tc.name)
	}
}

// TestUsageOfPeaks checks the per-window memory peaks UsageOf keeps: one
// per window of the peak length from Origin that has a memory sample,
// oldest first, with the window in progress last.
func TestUsageOfPeaks(t *testing.T) {
	t.Parallel()
	cost, err := gpushape.PolicyFor(recommender.ProfileCost)
	require.NoError(t, err)
	// Memory in GiB is the minute's hour plus a fraction that peaks at
	// minute 40 of each hour: 1.4 GiB, 2.4 GiB, 3.4 GiB.
	byHour := series("p", 0, 180, func(i int) (float64, float64) {
		return 0.1, float64(i/60+1) + 0.01*float64(min(i%60, 40))
	})
	memoryless := byHour
	memoryless.Samples = slices.Clone(byHour.Samples)
	for i := 60; i < 120; i++ {
		memoryless.Samples[i].Has = recommender.ResourceSet(0).With(recommender.ResourceGPUCompute)
	}
	gib := func(vs ...float64) []recommender.Bytes {
		var b []recommender.Bytes
		for _, v := range vs {
			b = append(b, recommender.Bytes(v*float64(recommender.GiB)))
		}
		return b
	}
	tests := []struct {
		name   string
		in     Input
		window time.Duration
		want   []recommender.Bytes
	}{
		{name: "hourly, the default", in: input(t, byHour, 180, oneGPU), want: gib(1.4, 2.4, 3.4)},
		{name: "half-hourly", in: input(t, byHour, 180, oneGPU), window: 30 * time.Minute, want: gib(1.29, 1.4, 2.29, 2.4, 3.29, 3.4)},
		{name: "the window in progress", in: input(t, byHour, 150, oneGPU), want: gib(1.4, 2.4, 3.29)},
		{name: "a window without memory is skipped", in: input(t, memoryless, 180, oneGPU), want: gib(1.4, 3.4)},
		{
			// Origin at minute 90: minutes 0–29 fall in the window an
			// hour and a half to half an hour before it, 30–89 in the one
			// before it, 90–179 in the first two after.
			name: "samples before Origin", window: time.Hour,
			in:   func() Input { in := input(t, byHour, 180, oneGPU); in.Origin = t0.Add(90 * time.Minute); return in }(),
			want: gib(1.29, 2.29, 3.29, 3.4),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u, err := UsageOf(tc.in, cost, tc.window)
			require.NoError(t, err)
			require.Len(t, u.MemoryPeaks, len(tc.want))
			for i, w := range tc.want {
				require.InDelta(t, w.GiB(), u.MemoryPeaks[i].GiB(), 1e-6, "peak %d", i)
			}
			require.Equal(t, slices.Max(u.MemoryPeaks), u.MemoryMax)
		})
	}
	_, err = UsageOf(input(t, byHour, 180, oneGPU), cost, -time.Hour)
	require.ErrorIs(t, err, gpushape.ErrInvalidInput)
}
