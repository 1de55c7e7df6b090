package gpushape_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/gpu/mig"
	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/gpushape"
)

// devices are every gpu/mig model (memory derived from the model, or the
// catalog's where it has the GPU) and the catalog's GPUs without MIG.
func devices(t testing.TB) []gpushape.Device {
	t.Helper()
	var ds []gpushape.Device
	for _, m := range mig.Models() {
		ds = append(ds, gpushape.Device{Model: m, PricePerHour: 3})
	}
	for _, name := range []string{"H100-80GB", "A100-40GB", "H200-141GB", "L4-24GB", "T4-16GB", "A10G-24GB", "L40S-48GB"} {
		ds = append(ds, device(t, name))
	}
	return ds
}

// randomAllocation returns a valid allocation on d: any kind, any profile
// of the model (+me and the full GPU included), 1–8 GPUs, 1–16 replicas.
func randomAllocation(r *rand.Rand, d gpushape.Device) gpushape.Allocation {
	for {
		switch k := gpushape.Kind(r.IntN(4)); k {
		case gpushape.KindWhole:
			return gpushape.Allocation{Kind: k, Count: 1 + r.IntN(8)}
		case gpushape.KindMIG:
			if d.HasMIG() {
				return gpushape.Allocation{Kind: k, Profile: d.Model.Profiles[r.IntN(len(d.Model.Profiles))].Name}
			}
		default:
			return gpushape.Allocation{Kind: k, Replicas: 1 + r.IntN(16)}
		}
	}
}

// randomUsage returns usage the allocation could have shown: memory and
// compute within its capacity, compute sometimes unmeasured, hours
// sometimes 0.
func randomUsage(r *rand.Rand, c gpushape.Capacity) gpushape.Usage {
	u := gpushape.Usage{Hours: float64(r.IntN(200)), IdleFraction: r.Float64()}
	if r.IntN(10) == 0 {
		u.Hours = 0
	}
	// Bias towards the cap, where censoring matters.
	frac := r.Float64()
	if r.IntN(4) == 0 {
		frac = 0.9 + 0.1*r.Float64()
	}
	u.MemoryMax = recommender.Bytes(frac * float64(c.Memory))
	if r.IntN(2) == 0 { // per-window peaks, none above the max
		for range 1 + r.IntN(30) {
			u.MemoryPeaks = append(u.MemoryPeaks, recommender.Bytes(r.Float64()*float64(u.MemoryMax)))
		}
		if r.IntN(2) == 0 { // the last window held the max
			u.MemoryPeaks[len(u.MemoryPeaks)-1] = u.MemoryMax
		}
	}
	if r.IntN(5) > 0 {
		v := 0.0
		for _, q := range []float64{0.5, 0.9, 0.95, 0.99} {
			v += r.Float64() * (float64(c.Compute) - v) * 0.7
			u.Compute = append(u.Compute, gpushape.Quantile{Q: q, Value: recommender.GPUCompute(v)})
		}
		if r.IntN(4) == 0 { // pinned at the cap
			for i := range u.Compute {
				u.Compute[i].Value = c.Compute
			}
			v = float64(c.Compute)
		}
		u.ComputeMax = recommender.GPUCompute(v + r.Float64()*(float64(c.Compute)-v))
	}
	return u
}

// randomPolicy returns a built-in policy, sometimes with random (valid)
// changes.
func randomPolicy(r *rand.Rand) gpushape.Policy {
	ps := gpushape.DefaultPolicies()
	p := ps[r.IntN(len(ps))]
	if r.IntN(2) == 0 {
		p.MemoryHeadroom = r.Float64() * 0.5
		p.MemoryMinHeadroom = recommender.Bytes(r.Int64N(int64(4 * recommender.GiB)))
		p.MemoryRisk = 0
		if r.IntN(4) > 0 {
			p.MemoryRisk = 0.5 * r.Float64()
		}
		p.ComputePercentile = 0.01 + 0.99*r.Float64()
		p.ComputeHeadroom = r.Float64() * 0.5
		p.CapThreshold = 0.5 + 0.5*r.Float64()
		p.MIG, p.MPS, p.TimeSlicing = r.IntN(2) == 0, r.IntN(2) == 0, r.IntN(2) == 0
		p.MaxReplicas = r.IntN(gpushape.MaxMPSClients + 1)
		p.MinSaving = []float64{0, 0.15, 0.5, 0.99}[r.IntN(4)]
	}
	return p
}

// checkShape checks what every recommendation holds. consistent says the
// usage is within the current allocation's capacity, as real usage is.
func checkShape(t *testing.T, in gpushape.Input, p gpushape.Policy, s gpushape.Shape, consistent bool) {
	t.Helper()
	d, u := in.Device, in.Usage
	cur, err := d.Capacity(in.Current)
	require.NoError(t, err)
	require.NotEmpty(t, s.Reason)
	require.NotContains(t, s.Reason, "%!", "a formatting mistake")

	// Never a profile the model lacks; never +me or the full GPU unless
	// it is the current allocation, kept for lack of usage or because a
	// change would save too little (then only where the policy allows MIG).
	if s.Kind == gpushape.KindMIG {
		require.True(t, d.HasMIG())
		pr, ok := d.Model.Profile(s.Profile)
		require.True(t, ok, "profile %q not in %s", s.Profile, d.Model.Name)
		if !s.Flags.Has(gpushape.FlagNoUsage) {
			require.True(t, p.MIG, "MIG not allowed by the policy")
			if s.Allocation() != in.Current {
				require.False(t, pr.MediaExtensions, s.Reason)
				require.Less(t, pr.ComputeSlices, d.Model.ComputeSlices, s.Reason)
			}
		}
	}
	// The shape is a valid allocation.
	_, err = d.Capacity(s.Allocation())
	require.NoError(t, err, s.Reason)
	require.Equal(t, cur.GPUs, s.CurrentGPUs)
	require.InDelta(t, math.Round((cur.GPUs-s.GPUs)*d.PricePerHour*gpushape.HoursPerMonth*100)/100, s.MonthlySavingUSD, 1e-9)
	require.Equal(t, s.Kind == gpushape.KindTimeSlice, s.Flags.Has(gpushape.FlagUnisolated))

	if u.Hours == 0 {
		require.Equal(t, gpushape.FlagNoUsage, s.Flags&^gpushape.FlagUnisolated)
		require.Equal(t, in.Current, s.Allocation())
		return
	}
	require.False(t, s.Flags.Has(gpushape.FlagNoUsage))
	usable := 1
	if in.Current.Kind == gpushape.KindWhole {
		usable = in.Current.Count
	}
	atCeiling := s.Kind == gpushape.KindWhole && s.Count == usable
	if s.Kind == gpushape.KindWhole {
		require.LessOrEqual(t, s.Count, usable, "more GPUs than the workload runs on")
	}
	// Memory is hard: the shape holds the requirement, unless it keeps
	// all the GPUs the workload can use. The requirement is at least the
	// largest peak, or by risk at least the last window's plus the
	// minimum headroom.
	byRisk := p.MemoryRisk > 0 && len(u.MemoryPeaks) > 0
	recent := u.MemoryMax
	if n := len(u.MemoryPeaks); n > 0 {
		recent = u.MemoryPeaks[n-1]
	}
	if byRisk {
		require.GreaterOrEqual(t, s.NeedMemoryBytes, recent+p.MemoryMinHeadroom, s.Reason)
	} else {
		require.GreaterOrEqual(t, s.NeedMemoryBytes, u.MemoryMax, s.Reason)
	}
	require.True(t, s.MemoryBytes >= s.NeedMemoryBytes || atCeiling,
		"memory %v < need %v: %s", s.MemoryBytes, s.NeedMemoryBytes, s.Reason)
	require.True(t, float64(s.ComputeGPUs) >= float64(s.NeedComputeGPUs)*(1-1e-12) || atCeiling,
		"compute %v < need %v: %s", s.ComputeGPUs, s.NeedComputeGPUs, s.Reason)

	// Censoring.
	seen := u.ComputeAt(p.ComputePercentile)
	memCapped := float64(recent) >= p.CapThreshold*float64(cur.Memory)
	computeCapped := len(u.Compute) > 0 && float64(seen) >= p.CapThreshold*float64(cur.Compute)
	require.Equal(t, memCapped || computeCapped, s.Flags.Has(gpushape.FlagCapped), s.Reason)

	// Risk: an estimate in [0, 1], known only with peaks, and within the
	// policy's budget wherever the shape holds the requirement.
	require.True(t, s.MemoryRisk >= 0 && s.MemoryRisk <= 1, "risk %v", s.MemoryRisk)
	if len(u.MemoryPeaks) == 0 {
		require.Zero(t, s.MemoryRisk)
	}
	if byRisk && s.MemoryBytes >= s.NeedMemoryBytes {
		require.LessOrEqual(t, s.MemoryRisk, p.MemoryRisk+1e-6, s.Reason)
	}

	// Idle.
	idle := u.Hours >= p.IdleMinHours && u.IdleFraction >= p.IdleMinFraction
	require.Equal(t, idle, s.Flags.Has(gpushape.FlagIdle), s.Reason)

	if !consistent {
		return
	}
	// Real usage fits its allocation, so the shape holds the peak: the
	// largest, or by risk the last window's.
	if byRisk {
		require.GreaterOrEqual(t, s.MemoryBytes, recent, s.Reason)
	} else {
		require.GreaterOrEqual(t, s.MemoryBytes, u.MemoryMax, s.Reason)
	}
	// Censored: one size up on the capped axis (or all the GPUs the
	// workload can use).
	if memCapped && !atCeiling {
		require.Greater(t, s.MemoryBytes, cur.Memory, s.Reason)
	}
	if computeCapped && !atCeiling {
		require.Greater(t, s.ComputeGPUs, cur.Compute, s.Reason)
	}
}

// TestRecommendProperties checks checkShape over random containers on
// every model: the shape's memory is at least the requirement, profiles
// are the model's, censoring steps up, the money adds up, the risk stays
// within the budget, and a smaller budget never needs less memory.
func TestRecommendProperties(t *testing.T) {
	t.Parallel()
	ds := devices(t)
	r := rand.New(rand.NewPCG(7, 11))
	for range 20000 {
		d := ds[r.IntN(len(ds))]
		cur := randomAllocation(r, d)
		c, err := d.Capacity(cur)
		require.NoError(t, err)
		in := gpushape.Input{Usage: randomUsage(r, c), Current: cur, Device: d}
		p := randomPolicy(r)
		s, err := gpushape.Recommend(in, p)
		require.NoError(t, err, "%+v", in)
		checkShape(t, in, p, s, true)
		again, err := gpushape.Recommend(in, p)
		require.NoError(t, err)
		require.Equal(t, s, again, "deterministic")
		if p.MemoryRisk > 0 {
			// Less risk never needs less memory.
			safer := p
			safer.MemoryRisk /= 2
			ss, err := gpushape.Recommend(in, safer)
			require.NoError(t, err)
			require.GreaterOrEqual(t, ss.NeedMemoryBytes, s.NeedMemoryBytes, "%s\n%s", s.Reason, ss.Reason)
		}
	}
}

// FuzzRecommend feeds arbitrary numbers to Recommend: it never panics,
// rejects what it cannot size with ErrInvalidInput, and whatever it sizes
// holds checkShape's rules (those that do not assume usage fits its
// allocation).
func FuzzRecommend(f *testing.F) {
	f.Add(uint8(2), uint8(0), uint8(1), uint16(0), int64(9<<30), 0.08, 0.12, 0.3, 168.0, 0.0, uint8(1))
	f.Add(uint8(0), uint8(1), uint8(0), uint16(2), int64(9728<<20), 0.118, 0.121, 0.121, 24.0, 0.5, uint8(0))
	f.Add(uint8(7), uint8(3), uint8(4), uint16(4), int64(5600<<20), 0.05, 0.1, 0.2, 72.0, 1.0, uint8(2))
	f.Add(uint8(9), uint8(2), uint8(4), uint16(1), int64(-1), math.NaN(), 0.1, math.Inf(1), -1.0, 2.0, uint8(3))
	f.Add(uint8(0), uint8(1), uint8(0), uint16(4), int64(38<<30), 0.2, 0.3, 0.4, 24.0, 0.0, uint8(0x81))
	ds := devices(f)
	f.Fuzz(func(t *testing.T, dev, kind, count uint8, profile uint16, mem int64, p50, p90, maxc, hours, idle float64, pol uint8) {
		d := ds[int(dev)%len(ds)]
		cur := gpushape.Allocation{Kind: gpushape.Kind(kind % 5)}
		switch cur.Kind {
		case gpushape.KindWhole:
			cur.Count = int(count)
		case gpushape.KindMIG:
			if d.HasMIG() && profile%8 > 0 {
				cur.Profile = d.Model.Profiles[int(profile)%len(d.Model.Profiles)].Name
			}
		default:
			cur.Replicas = int(count)
		}
		u := gpushape.Usage{MemoryMax: recommender.Bytes(mem), Hours: hours, IdleFraction: idle,
			Compute:    []gpushape.Quantile{{Q: 0.5, Value: recommender.GPUCompute(p50)}, {Q: 0.9, Value: recommender.GPUCompute(p90)}},
			ComputeMax: recommender.GPUCompute(maxc)}
		ps := gpushape.DefaultPolicies()
		p := ps[int(pol)%len(ps)]
		if pol&0x80 != 0 && mem >= 0 {
			// Per-window peaks from the max: a third, all of it, a half
			// (the last window's).
			u.MemoryPeaks = []recommender.Bytes{recommender.Bytes(mem / 3), recommender.Bytes(mem), recommender.Bytes(mem / 2)}
		}
		in := gpushape.Input{Usage: u, Current: cur, Device: d}
		s, err := gpushape.Recommend(in, p)
		if err != nil {
			require.True(t, errors.Is(err, gpushape.ErrInvalidInput), "%v", err)
			require.False(t, strings.Contains(err.Error(), "%!"), err.Error())
			return
		}
		checkShape(t, in, p, s, false)
	})
}
