package backtest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
)

var t0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// script is a test policy: it records what it was fed and applies a fixed
// plan: plan[k] is applied at the k-th decision of each container.
type script struct {
	name     string
	plan     []Applied
	reacts   bool // to OOM kills
	reactsUp bool // to usage above the request
	decided  map[recommender.ContainerKey]int
	latest   time.Time // newest sample fed
	seenAt   []time.Time
	ooms     []recommender.OOMEvent
	upserted int
}

func (s *script) Name() string { return s.name }
func (s *script) Ingest(b []recommender.Sample) error {
	for _, x := range b {
		if x.Time.After(s.latest) {
			s.latest = x.Time
		}
	}
	return nil
}
func (s *script) RecordOOM(ev recommender.OOMEvent) error {
	s.ooms = append(s.ooms, ev)
	return nil
}
func (s *script) UpsertWorkload(recommender.Workload) error { s.upserted++; return nil }
func (s *script) ReactsToOOM() bool                         { return s.reacts }
func (s *script) ReactsToUsage() bool                       { return s.reactsUp }
func (s *script) Decide(k recommender.ContainerKey, now time.Time, cur Applied) (Applied, bool) {
	if s.latest.After(now) {
		panic("policy fed the future")
	}
	s.seenAt = append(s.seenAt, now)
	if s.decided == nil {
		s.decided = map[recommender.ContainerKey]int{}
	}
	i := s.decided[k]
	s.decided[k]++
	if i >= len(s.plan) {
		return cur, false
	}
	return s.plan[i], true
}

func ckey(name string) recommender.ContainerKey {
	return recommender.ContainerKey{WorkloadKey: recommender.WorkloadKey{Namespace: "ns", Kind: "Deployment", Name: name}, Container: "app"}
}

// hourly builds a one-container dataset sampled every hour for n hours.
func hourly(n int, req recommender.Amounts, gen func(i int) recommender.Usage) *Dataset {
	k := ckey("w")
	d := &Dataset{
		Name: "test", Step: time.Hour, Interval: 24 * time.Hour, Warmup: 24 * time.Hour, HasCompute: true, HasMemory: true,
		Workloads: []recommender.Workload{{Key: k.WorkloadKey, Replicas: 1, Containers: []recommender.ContainerSpec{
			{Name: "app", Requests: req, Limits: recommender.Amounts{Memory: req.Memory}},
		}}},
	}
	for i := range n {
		d.Samples = append(d.Samples, recommender.Sample{Key: k, Time: t0.Add(time.Duration(i) * time.Hour), Usage: gen(i)})
	}
	return d
}

func cpuMem(c recommender.MilliCPU, m recommender.Bytes) recommender.Usage {
	return recommender.Usage{CPU: c, Memory: m, Has: recommender.ResourceSet(0).With(recommender.ResourceCPU).With(recommender.ResourceMemory)}
}

func TestScoringByHand(t *testing.T) {
	t.Parallel()
	// Three days at one sample an hour: 500m and 1 GiB, provisioned at
	// 1000m and 2 GiB. The warm-up is the first day (24 samples, unscored);
	// at the second day's start the policy applies 400m / 1.5 GiB and keeps
	// it. Scored: 48 samples standing for an hour each.
	d := hourly(72, recommender.Amounts{CPU: 1000, Memory: 2 * recommender.GiB}, func(int) recommender.Usage { return cpuMem(500, recommender.GiB) })
	p := &script{name: "p", plan: []Applied{{CPURequest: 400, MemoryRequest: 1536 * recommender.MiB, MemoryLimit: 2 * recommender.GiB}}}
	scores, err := Run(t.Context(), d, []Policy{p}, Options{})
	require.NoError(t, err)
	s := scores[0]
	require.Equal(t, "p", s.Policy)
	require.Equal(t, 48, s.Samples)
	require.InDelta(t, 2.0, s.WorkloadDays, 1e-9)
	require.InDelta(t, 48*0.4, s.CPUCoreHours, 1e-9, "0.4 core for 48 h")
	require.Equal(t, 1.0, s.CPUOverFrac, "500m is above 400m in every sample")
	require.InDelta(t, 48*0.1, s.CPUUnmetCoreHours, 1e-9, "0.1 core unmet for 48 h")
	require.InDelta(t, 48*1.5, s.MemGiBHours, 1e-9)
	require.Zero(t, s.OOMEvents)
	// One change of more than 10 % in two workload-days.
	require.InDelta(t, 0.5, s.ChangesPerDay, 1e-9)
	require.Equal(t, 1, p.upserted)
	// Decisions at the end of the warm-up and every day after: 24 h, 48 h.
	require.Equal(t, []time.Time{t0.Add(24 * time.Hour), t0.Add(48 * time.Hour)}, p.seenAt)
}

func TestOOMFeedback(t *testing.T) {
	t.Parallel()
	for _, reacts := range []bool{false, true} {
		// Memory 1 GiB; the policy's first decision sets a 900 MiB limit,
		// its second (if it reacts to kills) 1.2 GiB.
		d := hourly(72, recommender.Amounts{CPU: 1000, Memory: 2 * recommender.GiB}, func(int) recommender.Usage { return cpuMem(500, recommender.GiB) })
		p := &script{name: "p", reacts: reacts, plan: []Applied{
			{CPURequest: 500, MemoryRequest: 900 * recommender.MiB, MemoryLimit: 900 * recommender.MiB},
			{CPURequest: 500, MemoryRequest: recommender.GiB, MemoryLimit: 1229 * recommender.MiB},
		}}
		scores, err := Run(context.Background(), d, []Policy{p}, Options{})
		require.NoError(t, err)
		if reacts {
			require.Equal(t, 1, scores[0].OOMEvents, "the first kill raises the limit at once")
		} else {
			// Every sample until the next daily decision is a kill; then the
			// second plan entry applies.
			require.Equal(t, 24, scores[0].OOMEvents)
		}
		require.NotEmpty(t, p.ooms)
		require.Equal(t, 900*recommender.MiB, p.ooms[0].Limit)
		require.Equal(t, recommender.GiB, p.ooms[0].Usage)
	}
}

func TestRunValidates(t *testing.T) {
	t.Parallel()
	_, err := Run(t.Context(), &Dataset{}, nil, Options{})
	require.ErrorContains(t, err, "no samples")
	d := hourly(10, recommender.Amounts{CPU: 1}, func(int) recommender.Usage { return cpuMem(1, 1) })
	_, err = Run(t.Context(), d, []Policy{&script{name: "p"}}, Options{})
	require.ErrorContains(t, err, "warm-up 24h0m0s is longer than")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = Run(ctx, hourly(72, recommender.Amounts{CPU: 1}, func(int) recommender.Usage { return cpuMem(1, 1) }), []Policy{&script{name: "p"}}, Options{})
	require.ErrorIs(t, err, context.Canceled)
}

func TestNamedPolicies(t *testing.T) {
	t.Parallel()
	for _, n := range PolicyNames() {
		p, err := NamedPolicy(n)
		require.NoError(t, err, n)
		require.Equal(t, n, p.DefaultProfile())
	}
	b, err := NamedPolicy("budget-2.5")
	require.NoError(t, err)
	pr, _ := b.Profile(b.DefaultProfile())
	require.Equal(t, "budget-2p5", pr.Name)
	require.InDelta(t, 0.975, pr.CPU.RequestPercentile, 1e-12)
	for _, bad := range []string{"budget-0", "budget-60", "budget-x", "nope"} {
		_, err := NamedPolicy(bad)
		require.Error(t, err, bad)
	}
}
