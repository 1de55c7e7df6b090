package recommender

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// policyEngine returns an engine under testdata/policy/good.yaml: namespace
// and workload overrides, risk budgets, live horizons and growth margins.
func policyEngine(t *testing.T) (*Engine, *Policy) {
	t.Helper()
	p, err := LoadPolicyFile(filepath.Join("testdata", "policy", "good.yaml"))
	require.NoError(t, err)
	return newTestEngine(t, func(o *Options) { o.Policy = p }), p
}

// randomFleet fills e with containers of every kind the estimators treat
// apart: throttled, OOM-killed, autoscaled, GPU, capped, managed, young
// and old, with and without inventory; and workloads known only to the
// inventory. It returns every container key it created.
func randomFleet(t *testing.T, e *Engine, seed uint64) []ContainerKey {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	namespaces := []string{"shop", "payments", "batch", "data"}
	names := []string{"ledger", "fraud", "api", "etl", "web"}
	var keys []ContainerKey
	for i := range 60 {
		k := key(namespaces[rng.IntN(len(namespaces))], names[rng.IntN(len(names))]+strconv.Itoa(i%3), "c"+strconv.Itoa(rng.IntN(2)))
		if i%5 == 0 {
			k.Name = names[rng.IntN(2)] // ledger and fraud carry workload overrides in payments
		}
		if slices.Contains(keys, k) {
			continue
		}
		keys = append(keys, k)
		if rng.IntN(4) > 0 { // some containers have usage but no inventory record
			upsert(t, e, k, Amounts{CPU: MilliCPU(50 + rng.IntN(2000)), Memory: Bytes(64+rng.IntN(4096)) * MiB},
				Amounts{CPU: MilliCPU(rng.IntN(3000)), Memory: Bytes(rng.IntN(8192)) * MiB}, func(w *Workload) {
					w.Managed = rng.IntN(2) == 0
					if rng.IntN(6) == 0 {
						w.AutoscaledOn = ResourceSet(0).With(ResourceCPU)
					}
					if rng.IntN(6) == 0 {
						w.AutoscaledOn = w.AutoscaledOn.With(ResourceMemory)
					}
					w.Labels = map[string]string{"team": strconv.Itoa(i % 3)}
				})
		}
		n := 1 + rng.IntN(500)
		step := time.Duration(1+rng.IntN(30)) * time.Minute
		gpu, throttled := rng.IntN(5) == 0, rng.IntN(5) == 0
		base := 10 + rng.Float64()*2000
		feed(t, e, k, t0, step, n, func(j int) Usage {
			u := cpuMem(MilliCPU(base*(0.5+rng.Float64())), Bytes(base*(1+float64(j)/float64(n))*float64(MiB)))
			if gpu {
				u.GPUCompute, u.GPUMemory = GPUCompute(rng.Float64()), Bytes(1+rng.IntN(40))*GiB
				u.Has = u.Has.With(ResourceGPUCompute).With(ResourceGPUMemory)
			}
			if throttled {
				u.ThrottledFraction, u.HasThrottling = 0.5*rng.Float64(), true
			}
			return u
		})
		if rng.IntN(5) == 0 {
			require.NoError(t, e.RecordOOM(OOMEvent{Key: k, Time: t0.Add(time.Duration(n/2) * step), Limit: Bytes(base) * MiB}))
		}
	}
	for i := range 5 { // inventory only: no usage yet
		k := key("shop", "idle"+strconv.Itoa(i), "app")
		upsert(t, e, k, Amounts{CPU: 100, Memory: 128 * MiB}, Amounts{})
		keys = append(keys, k)
	}
	return keys
}

// TestBriefRequirementsMatchFull pins what the notifier relies on: a brief
// recommendation has exactly the requests and limits of the whole one.
func TestBriefRequirementsMatchFull(t *testing.T) {
	t.Parallel()
	for seed := range uint64(4) {
		e, _ := policyEngine(t)
		randomFleet(t, e, seed)
		ins := e.newInputs()
		n := 0
		for i := range e.stripes {
			e.stripes[i].each(func(cs *containerState) {
				in := ins.of(cs.key, e.workload(cs.key.WorkloadKey))
				full := cs.recommend(&in)
				in.brief = true
				brief := cs.recommend(&in)
				require.Equal(t, RequirementsOf(&full), RequirementsOf(&brief), "seed %d %s", seed, cs.key)
				require.Equal(t, full.Flags, brief.Flags, "seed %d %s", seed, cs.key)
				require.NotEmpty(t, full.Reason)
				require.Empty(t, brief.Reason, "a brief recommendation formats no reason")
				n++
			})
		}
		require.Greater(t, n, 40, "seed %d", seed)
	}
}

// TestListMatchesRecommend checks List and ListWorkloads against one
// Recommend per container, under namespace and workload overrides (List
// resolves each namespace's profile once and each overridden workload's
// on its own).
func TestListMatchesRecommend(t *testing.T) {
	t.Parallel()
	e, p := policyEngine(t)
	keys := randomFleet(t, e, 42)
	slices.SortFunc(keys, compareContainerKeys)

	recs := e.List(Filter{})
	got := make([]ContainerKey, 0, len(recs))
	for _, r := range recs {
		got = append(got, r.ContainerKey)
		want, err := e.Recommend(r.ContainerKey)
		require.NoError(t, err)
		require.Equal(t, want, r, "%s", r.ContainerKey)
		require.Equal(t, p.Resolve(r.WorkloadKey).Name, r.Profile, "%s", r.ContainerKey)
	}
	require.Equal(t, keys, got, "every container once, sorted by key")
	profiles := map[string]bool{}
	for _, r := range recs {
		profiles[r.Profile] = true
	}
	require.Len(t, profiles, 3, "the default, payments' and ledger's: %v", profiles)
	require.True(t, slices.ContainsFunc(recs, func(r Recommendation) bool {
		return r.Namespace == "payments" && r.Name == "fraud"
	}), "payments/fraud, whose override changes a margin of its namespace's profile, is in the fleet")

	ws := e.ListWorkloads(Filter{})
	var flat []Recommendation
	for i, w := range ws {
		if i > 0 {
			require.Negative(t, compareWorkloadKeys(ws[i-1].Key, w.Key), "sorted, one entry per workload")
		}
		for _, r := range w.Recommendations {
			require.Equal(t, w.Key, r.WorkloadKey)
		}
		var labels map[string]string
		for _, x := range e.Workloads() {
			if x.Key == w.Key {
				labels = x.Labels
			}
		}
		require.Equal(t, labels, w.Labels, "%s", w.Key)
		flat = append(flat, w.Recommendations...)
	}
	require.Equal(t, recs, flat)

	shop := e.ListWorkloads(Filter{Namespace: "shop"})
	require.NotEmpty(t, shop)
	for _, w := range shop {
		require.Equal(t, "shop", w.Key.Namespace)
	}
}

// TestSubscribeSeesSlowDrift checks that moves too small to report one by
// one add up: each subscriber compares against what it was last told, so
// a request that creeps up by a fraction of the threshold per pass still
// produces a change every threshold's worth, and every change's Previous
// is the value the one before it reported.
func TestSubscribeSeesSlowDrift(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		k := key("shop", "creep", "app")
		feed(t, e, k, t0, time.Minute, 600, func(int) Usage { return cpuMem(100, 100*MiB) })
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		const threshold = 0.1
		ch := e.Subscribe(ctx, SubscribeOptions{Threshold: threshold, Buffer: 1000})
		first, err := e.Recommend(k)
		require.NoError(t, err)
		start := RequirementsOf(&first)

		var moves []float64 // relative move of the CPU request per pass
		last := start.CPURequest
		for i := range 400 { // usage grows 0.5 % a minute; one pass a minute
			feed(t, e, k, t0.Add(time.Duration(600+i)*time.Minute), time.Minute, 1, func(int) Usage {
				return cpuMem(MilliCPU(100*math.Pow(1.005, float64(i+1))), 100*MiB)
			})
			e.notify()
			r, err := e.Recommend(k)
			require.NoError(t, err)
			moves = append(moves, float64(r.CPU.Request-last)/float64(last))
			last = r.CPU.Request
		}
		synctest.Wait()
		cancel()
		var changes []Change
		for c := range ch {
			changes = append(changes, c)
		}
		require.Less(t, slices.Max(moves), threshold/2, "no single pass moves the request by half the threshold")
		require.Greater(t, float64(last), 2*float64(start.CPURequest), "yet it more than doubles")
		require.GreaterOrEqual(t, len(changes), 7, "at least log(2)/log(1.1) changes")
		base := start
		for i, c := range changes {
			require.Equal(t, base, c.Previous, "change %d's Previous is what the one before reported", i)
			now := RequirementsOf(&c.Recommendation)
			require.True(t, now.MovedBy(base, threshold), "change %d: %v → %v", i, base.CPURequest, now.CPURequest)
			require.NotEmpty(t, c.Recommendation.Reason, "a delivered change carries the whole recommendation")
			base = now
		}
		require.False(t, Requirements{CPURequest: last}.MovedBy(Requirements{CPURequest: base.CPURequest}, threshold),
			"the last change is within the threshold of the final value")
	})
}
