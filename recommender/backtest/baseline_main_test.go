package backtest

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rightsizer/rightsizer/recommender"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Helpers shared by the baselines' tests.

// blT0 is the start of every hand-made series.
var blT0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

// blKey returns the key of container c of workload name.
func blKey(name, c string) recommender.ContainerKey {
	return recommender.ContainerKey{
		WorkloadKey: recommender.WorkloadKey{Namespace: "ns", Kind: "Deployment", Name: name},
		Container:   c,
	}
}

// blWorkload returns a workload of one app container "main" with the
// given requests and limits.
func blWorkload(k recommender.ContainerKey, req, lim recommender.Amounts) recommender.Workload {
	return recommender.Workload{
		Key:        k.WorkloadKey,
		Replicas:   1,
		Containers: []recommender.ContainerSpec{{Name: k.Container, Requests: req, Limits: lim}},
	}
}

// blUsage returns a usage with both CPU and memory.
func blUsage(cpu recommender.MilliCPU, mem recommender.Bytes) recommender.Usage {
	return recommender.Usage{
		CPU: cpu, Memory: mem,
		Has: recommender.ResourceSet(0).With(recommender.ResourceCPU).With(recommender.ResourceMemory),
	}
}

// blSeries returns n samples of k, the i-th at start + i·step with usage u(i).
func blSeries(k recommender.ContainerKey, start time.Time, step time.Duration, n int, u func(i int) recommender.Usage) []recommender.Sample {
	out := make([]recommender.Sample, n)
	for i := range out {
		out[i] = recommender.Sample{Key: k, Time: start.Add(time.Duration(i) * step), Usage: u(i)}
	}
	return out
}

// blConstant returns a usage function that always returns u.
func blConstant(u recommender.Usage) func(int) recommender.Usage {
	return func(int) recommender.Usage { return u }
}

// blCausalTrace is 20 days of one container at a 5-minute step (the
// Bitbrains step), with a daily CPU cycle, noisy memory and a few kills,
// and decision points every 12 h after 2 days.
func blCausalTrace() (k recommender.ContainerKey, w recommender.Workload, samples []recommender.Sample, ooms []recommender.OOMEvent, decisions []time.Time) {
	k = blKey("causal", "main")
	w = blWorkload(k, recommender.Amounts{CPU: 2000, Memory: 4 * recommender.GiB}, recommender.Amounts{CPU: 4000, Memory: 4 * recommender.GiB})
	rng := rand.New(rand.NewPCG(1, 2))
	const step = 5 * time.Minute
	n := int(20 * 24 * time.Hour / step)
	samples = blSeries(k, blT0, step, n, func(i int) recommender.Usage {
		day := float64(i%288) / 288
		cpu := 300 + 1200*math.Max(0, math.Sin(2*math.Pi*day)) + 200*rng.Float64()
		mem := recommender.GiB + recommender.Bytes(rng.Int64N(int64(recommender.GiB)))
		return blUsage(recommender.MilliCPU(cpu), mem)
	})
	for _, d := range []time.Duration{50 * time.Hour, 50*time.Hour + 3*time.Minute, 9*24*time.Hour + 7*time.Minute} {
		ooms = append(ooms, recommender.OOMEvent{Key: k, Time: blT0.Add(d), Limit: 4 * recommender.GiB})
	}
	for d := 48 * time.Hour; d < 20*24*time.Hour; d += 12 * time.Hour {
		decisions = append(decisions, blT0.Add(d))
	}
	return k, w, samples, ooms, decisions
}

// blDecision is one answer of Decide.
type blDecision struct {
	next Applied
	ok   bool
}

// blRequireCausal checks that a policy's decisions use only the past: one
// policy fed the whole trace (samples and kills) before its first decision
// must decide exactly as one fed, before each decision, only what
// happened up to it. Both apply what they decide.
func blRequireCausal(t *testing.T, newPolicy func() Policy) {
	t.Helper()
	k, w, samples, ooms, decisions := blCausalTrace()
	start := Applied{CPURequest: 2000, CPULimit: 4000, MemoryRequest: 4 * recommender.GiB, MemoryLimit: 4 * recommender.GiB}

	all := newPolicy()
	require.NoError(t, all.UpsertWorkload(w))
	require.NoError(t, all.Ingest(samples))
	for _, ev := range ooms {
		require.NoError(t, all.RecordOOM(ev))
	}
	var got []blDecision
	cur := start
	for _, now := range decisions {
		next, ok := all.Decide(k, now, cur)
		got = append(got, blDecision{next, ok})
		if ok {
			cur = next
		}
	}

	walk := newPolicy()
	require.NoError(t, walk.UpsertWorkload(w))
	var want []blDecision
	cur = start
	si, oi := 0, 0
	for _, now := range decisions {
		j := si
		for j < len(samples) && !samples[j].Time.After(now) {
			j++
		}
		require.NoError(t, walk.Ingest(samples[si:j]))
		si = j
		for oi < len(ooms) && !ooms[oi].Time.After(now) {
			require.NoError(t, walk.RecordOOM(ooms[oi]))
			oi++
		}
		next, ok := walk.Decide(k, now, cur)
		want = append(want, blDecision{next, ok})
		if ok {
			cur = next
		}
	}
	require.Equal(t, want, got)
	changes := 0
	for _, d := range want {
		if d.ok {
			changes++
		}
	}
	require.Positive(t, changes, "the trace should make the policy act")
}
