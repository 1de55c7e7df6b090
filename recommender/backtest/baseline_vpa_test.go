package backtest

// The expected numbers below are derived by hand from VPA's rules, not by
// running VPA. The arithmetic they share:
//
// Buckets (model/aggregations_config.go, util/histogram_options.go) are
// exponential with ratio r = 1.05 and a first bucket of f = 0.01 core (CPU)
// or f = 1e7 bytes (memory). Bucket n starts at f·(rⁿ − 1)/(r − 1) =
// 20·f·(1.05ⁿ − 1); a value v falls in bucket ⌊ln(v·0.05/f + 1) / ln 1.05⌋
// (ln 1.05 = 0.0487902). A percentile is the END of the bucket that holds it
// (util/histogram.go), converted to whole millicores or bytes by truncation,
// and every scaling truncates again (model.ScaleResource).
//
//   - 1 core: ln(1·0.05/0.01 + 1) = ln 6 = 1.791759; /0.0487902 = 36.72, so
//     bucket 36, which ends where bucket 37 starts: 0.2·(1.05³⁷ − 1) =
//     0.2·(6.0814069 − 1) = 1.0162814 core → 1016 m. Target (P90) = 1016 +
//     ⌊1016·0.15 = 152.4⌋ = 1168 m.
//   - 1 GiB = 1073741824 B: ln(1073741824·0.05/1e7 + 1) = ln 6.3687091 =
//     1.8513968; /0.0487902 = 37.95, so bucket 37, ending at 2e8·(1.05³⁸ − 1)
//     = 2e8·5.3854773 = 1077095457.98 → 1077095457 B. Target = 1077095457 +
//     ⌊161564318.55⌋ = 1238659775 B.
//   - Confidence (logic/estimator.go) = min(days between first and last CPU
//     sample, CPU samples / 1440). Upper bound = P95 × 1.15 × (1 + 1/conf);
//     lower bound = P50 × 1.15 × (1 + 0.001/conf)⁻². With constant usage
//     P50 = P90 = P95 (one bucket), so the bounds are the target scaled.

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/logic"
	vpamodel "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/model"

	"github.com/rightsizer/rightsizer/recommender"
)

const (
	blGiB = recommender.GiB
	blMiB = recommender.MiB
)

// vpaRecommendation returns VPA's recommendation for k at now (feeding the
// model what is queued up to now), without deciding.
func vpaRecommendation(t *testing.T, v *VPA, k recommender.ContainerKey, now time.Time) logic.RecommendedContainerResources {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.containers[k]
	require.NotNil(t, c)
	v.drain(c, now.UnixNano())
	return v.recommend(c)
}

// blTriple is target, lower and upper bound of one resource.
type blTriple struct{ target, lower, upper int64 }

func blTriples(rec logic.RecommendedContainerResources) (cpu, mem blTriple) {
	get := func(r vpamodel.ResourceName) blTriple {
		return blTriple{int64(rec.Target[r]), int64(rec.LowerBound[r]), int64(rec.UpperBound[r])}
	}
	return get(vpamodel.ResourceCPU), get(vpamodel.ResourceMemory)
}

func TestVPARecommendation(t *testing.T) {
	t.Parallel()
	app := func(name string) recommender.ContainerSpec { return recommender.ContainerSpec{Name: name} }
	tests := []struct {
		name       string
		containers []recommender.ContainerSpec // the workload's; samples go to the first
		n          int                         // samples, one a minute from blT0
		usage      recommender.Usage
		wantCPU    blTriple // zero lower/upper: not checked
		wantMem    blTriple
	}{
		{
			// 2881 samples: the last is 2880 min = 2 days after the first,
			// so conf = min(2.0, 2881/1440 = 2.0007) = 2. Upper ×(1 + 1/2)
			// = ×1.5; lower ×(1 + 0.0005)⁻² = ×0.99900075.
			// CPU: upper ⌊1168·1.5⌋ = 1752; lower ⌊1166.83⌋ = 1166.
			// Memory: one peak per 24 h window (three windows: from the first
			// sample, +24 h, +48 h), all 1 GiB, so P90 = 1238659775;
			// upper ⌊1857989662.5⌋; lower ⌊1237422043.6⌋.
			name:       "blConstant 1 core and 1 GiB for 2 days",
			containers: []recommender.ContainerSpec{app("main")},
			n:          2881,
			usage:      blUsage(1000, blGiB),
			wantCPU:    blTriple{1168, 1166, 1752},
			wantMem:    blTriple{1238659775, 1237422043, 1857989662},
		},
		{
			// 5 m < 0.01 core: bucket 0, ending at 0.01 core = 10 m;
			// 10 + ⌊1.5⌋ = 11 m, below the pod floor of 25 m / 1 container.
			// 10 MiB = 10485760 B: ln(1.0524288)/0.0487902 = 1.05, bucket 1,
			// ending at 2e8·(1.1025 − 1) = 20500000; +⌊3075000⌋ = 23575000,
			// below the floor of 250 MiB = 262144000.
			name:       "tiny container gets the pod floor",
			containers: []recommender.ContainerSpec{app("main")},
			n:          120,
			usage:      blUsage(5, 10*blMiB),
			wantCPU:    blTriple{target: 25},
			wantMem:    blTriple{target: 262144000},
		},
		{
			// Two app containers (the init container does not count): the
			// floor is 25·½ = 12.5 → 12 m and 262144000·½ = 131072000.
			name:       "floor split over two app containers",
			containers: []recommender.ContainerSpec{app("main"), app("side"), {Name: "setup", Role: recommender.RoleInit}},
			n:          120,
			usage:      blUsage(5, 10*blMiB),
			wantCPU:    blTriple{target: 12},
			wantMem:    blTriple{target: 131072000},
		},
		{
			// Three: 25·⅓ = 8.33 → 8 m, below VPA's smallest CPU target,
			// the first bucket's end × 1.15 = 11 m. Memory 262144000·⅓ =
			// 87381333.3 → 87381333.
			name:       "first bucket beats a floor split three ways",
			containers: []recommender.ContainerSpec{app("main"), app("b"), app("c")},
			n:          120,
			usage:      blUsage(5, 10*blMiB),
			wantCPU:    blTriple{target: 11},
			wantMem:    blTriple{target: 87381333},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := NewVPA(DefaultVPAOptions())
			k := blKey("w", tt.containers[0].Name)
			require.NoError(t, v.UpsertWorkload(recommender.Workload{Key: k.WorkloadKey, Replicas: 1, Containers: tt.containers}))
			require.NoError(t, v.Ingest(blSeries(k, blT0, time.Minute, tt.n, blConstant(tt.usage))))
			cpu, mem := blTriples(vpaRecommendation(t, v, k, blT0.Add(time.Duration(tt.n-1)*time.Minute)))
			if tt.wantCPU.upper == 0 {
				cpu.lower, cpu.upper, mem.lower, mem.upper = 0, 0, 0, 0
			}
			require.Equal(t, tt.wantCPU, cpu, "cpu")
			require.Equal(t, tt.wantMem, mem, "memory")
		})
	}
}

func TestVPAZeroFirstMemorySample(t *testing.T) {
	t.Parallel()
	// 0 B at blT0, then 1 GiB every minute for 2 h. VPA's window opens
	// with a peak of 0 and never replaces a peak of 0, so the histogram
	// holds one 0 B peak: bucket 0, ending at 1e7 B; 1e7 + ⌊1.5e6⌋ =
	// 11500000 < the floor, 262144000. Skipping the zero sample, the window
	// opens at 1 GiB: 1238659775 (top of the file).
	tests := []struct {
		name string
		skip bool
		want int64
	}{
		{"faithful", false, 262144000},
		{"skip zero memory", true, 1238659775},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := blKey("zero", "main")
			o := DefaultVPAOptions()
			o.SkipZeroMemory = tt.skip
			v := NewVPA(o)
			require.NoError(t, v.Ingest(blSeries(k, blT0, time.Minute, 121, func(i int) recommender.Usage {
				if i == 0 {
					return blUsage(1000, 0)
				}
				return blUsage(1000, blGiB)
			})))
			_, mem := blTriples(vpaRecommendation(t, v, k, blT0.Add(2*time.Hour)))
			require.Equal(t, tt.want, mem.target)
		})
	}
}

func TestVPAOOMBump(t *testing.T) {
	t.Parallel()
	// Memory 300 MiB for 6 minutes under a 512 MiB request, then a kill.
	// VPA's RecordOOM: used = max(request 512 MiB, day's peak 300 MiB) =
	// 536870912; needed = max(used + 100 MiB = 641728512,
	// ⌊used·1.2 = 644245094.4⌋ = 644245094) = 644245094. It replaces the
	// day's 300 MiB peak (same window), so the histogram holds only it:
	// ln(644245094·0.05/1e7 + 1) = ln 4.2212255 = 1.4401255; /0.0487902 =
	// 29.52, bucket 29, ending at 2e8·(1.05³⁰ − 1) = 2e8·3.3219424 =
	// 664388475.03 → 664388475. Target = 664388475 + ⌊99658271.25⌋ =
	// 764046746 (728.65 MiB ≥ 614.4 MiB·1.15 = 706.56 MiB).
	const want = 764046746
	k := blKey("oom", "main")
	v := NewVPA(DefaultVPAOptions())
	require.NoError(t, v.UpsertWorkload(blWorkload(k, recommender.Amounts{CPU: 1000, Memory: 512 * blMiB}, recommender.Amounts{Memory: 512 * blMiB})))
	require.NoError(t, v.Ingest(blSeries(k, blT0, time.Minute, 6, blConstant(blUsage(1000, 300*blMiB)))))
	require.NoError(t, v.RecordOOM(recommender.OOMEvent{Key: k, Time: blT0.Add(5*time.Minute + 30*time.Second), Limit: 512 * blMiB}))
	_, mem := blTriples(vpaRecommendation(t, v, k, blT0.Add(6*time.Minute)))
	require.Equal(t, int64(want), mem.target)

	// A second kill in the same window under the same request injects the
	// same 644245094, not above the day's OOM peak: VPA leaves its earlier
	// OOM peaks out of "used", so kills do not compound.
	require.NoError(t, v.RecordOOM(recommender.OOMEvent{Key: k, Time: blT0.Add(7 * time.Minute), Limit: 512 * blMiB}))
	_, mem = blTriples(vpaRecommendation(t, v, k, blT0.Add(8*time.Minute)))
	require.Equal(t, int64(want), mem.target)
}

func TestVPAUpdater(t *testing.T) {
	t.Parallel()
	// Usage 1000 m and 1 GiB, one sample a minute from blT0 to the
	// decision (inclusive): target 1168 m and 1238659775 B (see the top of
	// the file). Provisioned: CPU 1000 m / limit 2000 m, memory 1 GiB / 1 GiB.
	//
	// At 6 h (361 samples): conf = min(0.25, 361/1440) = 0.25, so upper
	// ×(1 + 4) = ×5: CPU 5840, memory 6193298875; lower ×(1.004)⁻² =
	// ×0.992047: CPU 1158, memory 1228809636.
	// At 13 h (781 samples): conf = min(780/1440 = 0.5417, 0.5424) = 0.5417,
	// upper ×2.846: CPU 3324, memory 3525416282; lower ×0.99632: CPU 1163,
	// memory 1234098895.
	//
	// When VPA acts it applies the targets; limits keep the provisioned
	// ratios: CPU ⌊2000·1168/1000⌋ = 2336; memory request = limit, so the
	// limit is the target.
	acted := Applied{CPURequest: 1168, CPULimit: 2336, MemoryRequest: 1238659775, MemoryLimit: 1238659775}
	tests := []struct {
		name    string
		age     time.Duration
		current Applied
		want    bool
	}{
		{
			// 2000 ∈ [1158, 5840], 2 GiB ∈ [1228809636, 6193298875]; the pod
			// is 6 h old.
			name: "within bounds, younger than 12 h", age: 6 * time.Hour,
			current: Applied{CPURequest: 2000, CPULimit: 2000, MemoryRequest: 2 * blGiB, MemoryLimit: 2 * blGiB},
		},
		{
			name: "cpu below the lower bound", age: 6 * time.Hour,
			current: Applied{CPURequest: 1000, CPULimit: 2000, MemoryRequest: 2 * blGiB, MemoryLimit: 2 * blGiB},
			want:    true,
		},
		{
			// 8 GiB = 8589934592 > 6193298875.
			name: "memory above the upper bound", age: 6 * time.Hour,
			current: Applied{CPURequest: 2000, CPULimit: 2000, MemoryRequest: 8 * blGiB, MemoryLimit: 8 * blGiB},
			want:    true,
		},
		{
			name: "no cpu request is outside the bounds", age: 6 * time.Hour,
			current: Applied{MemoryRequest: 2 * blGiB, MemoryLimit: 2 * blGiB},
			want:    true,
		},
		{
			// Within [1163, 3324] and [1234098895, 3525416282]; moves by
			// |2000 − 1168|/2000 + |2147483648 − 1238659775|/2147483648 =
			// 0.416 + 0.423 = 0.839 ≥ 0.1, and the pod is 13 h old.
			name: "older than 12 h and moves by 84 %", age: 13 * time.Hour,
			current: Applied{CPURequest: 2000, CPULimit: 2000, MemoryRequest: 2 * blGiB, MemoryLimit: 2 * blGiB},
			want:    true,
		},
		{
			// |1200 − 1168|/1200 + 0 = 0.027 < 0.1.
			name: "older than 12 h but moves by 3 %", age: 13 * time.Hour,
			current: Applied{CPURequest: 1200, CPULimit: 2400, MemoryRequest: 1238659775, MemoryLimit: 1238659775},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := blKey("upd", "main")
			v := NewVPA(DefaultVPAOptions())
			require.NoError(t, v.UpsertWorkload(blWorkload(k, recommender.Amounts{CPU: 1000, Memory: blGiB}, recommender.Amounts{CPU: 2000, Memory: blGiB})))
			n := int(tt.age/time.Minute) + 1
			require.NoError(t, v.Ingest(blSeries(k, blT0, time.Minute, n, blConstant(blUsage(1000, blGiB)))))
			next, ok := v.Decide(k, blT0.Add(tt.age), tt.current)
			require.Equal(t, tt.want, ok)
			if tt.want {
				require.Equal(t, acted, next)
			} else {
				require.Equal(t, tt.current, next)
			}
		})
	}
}

func TestVPATwelveHoursCountFromTheLastChange(t *testing.T) {
	t.Parallel()
	// The "13 h and 84 %" case of TestVPAUpdater acts at 13 h; the
	// replacement pod starts then. At 14 h the same requests (within the
	// bounds: conf 0.583, upper CPU ⌊1168·2.714⌋ = 3170) wait: the pod is
	// 1 h old. At 25 h it is 12 h old: conf 25/24 = 1.042, upper CPU
	// ⌊1168·1.96⌋ = 2289 ≥ 2000, memory ⌊1238659775·1.96⌋ = 2427773159 ≥
	// 2 GiB, lower CPU 1165 ≤ 2000: within the bounds, and it moves by 84 %.
	k := blKey("age", "main")
	v := NewVPA(DefaultVPAOptions())
	require.NoError(t, v.UpsertWorkload(blWorkload(k, recommender.Amounts{CPU: 1000, Memory: blGiB}, recommender.Amounts{CPU: 2000, Memory: blGiB})))
	require.NoError(t, v.Ingest(blSeries(k, blT0, time.Minute, 25*60+1, blConstant(blUsage(1000, blGiB)))))
	big := Applied{CPURequest: 2000, CPULimit: 2000, MemoryRequest: 2 * blGiB, MemoryLimit: 2 * blGiB}
	acted := Applied{CPURequest: 1168, CPULimit: 2336, MemoryRequest: 1238659775, MemoryLimit: 1238659775}

	next, ok := v.Decide(k, blT0.Add(13*time.Hour), big)
	require.True(t, ok)
	require.Equal(t, acted, next)
	_, ok = v.Decide(k, blT0.Add(14*time.Hour), big)
	require.False(t, ok)
	_, ok = v.Decide(k, blT0.Add(25*time.Hour-time.Minute), big)
	require.False(t, ok, "11 h 59 min after the change")
	next, ok = v.Decide(k, blT0.Add(25*time.Hour), big)
	require.True(t, ok)
	require.Equal(t, acted, next)
}

func TestVPAQuickOOM(t *testing.T) {
	t.Parallel()
	// CPU 1000 m and memory 300 MiB from blT0, one sample a minute to
	// 5 min; a kill at 5 min 30 s. Requests: CPU 1168 m (= the target) and
	// memory 512 MiB = 536870912, limit 512 MiB. At 6 min, conf = min(5/1440,
	// 6/1440) = 0.003472 days: upper ×(1 + 288) = ×289; lower ×1.288⁻² =
	// ×0.602793: CPU 704 ≤ 1168; memory target 764046746 (TestVPAOOMBump),
	// lower ⌊460562108.8⌋ = 460562108 ≤ 536870912. Within the bounds and
	// 6 min old: only a quick OOM (5 min 30 s after the start < 10 min) makes
	// the updater act. Memory limit = request as provisioned, so = target.
	current := Applied{CPURequest: 1168, MemoryRequest: 512 * blMiB, MemoryLimit: 512 * blMiB}
	acted := Applied{CPURequest: 1168, MemoryRequest: 764046746, MemoryLimit: 764046746}
	tests := []struct {
		name      string
		threshold time.Duration // EvictAfterOOMThreshold
		decisions []time.Duration
		want      []bool
	}{
		{name: "quick OOM acts", threshold: 10 * time.Minute, decisions: []time.Duration{6 * time.Minute}, want: []bool{true}},
		{
			// 5 min 30 s ≥ 5 min: not quick.
			name: "slower than the threshold waits", threshold: 5 * time.Minute,
			decisions: []time.Duration{6 * time.Minute}, want: []bool{false},
		},
		{
			// The updater loops every minute and would have seen it at
			// 5 min 31 s; the backtest's first decision after it still does.
			name: "first blDecision after a quick OOM acts", threshold: 10 * time.Minute,
			decisions: []time.Duration{5 * time.Minute, 16 * time.Minute}, want: []bool{false, true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := blKey("quick", "main")
			o := DefaultVPAOptions()
			o.EvictAfterOOMThreshold = tt.threshold
			v := NewVPA(o)
			require.NoError(t, v.UpsertWorkload(blWorkload(k, recommender.Amounts{CPU: 1168, Memory: 512 * blMiB}, recommender.Amounts{Memory: 512 * blMiB})))
			require.NoError(t, v.Ingest(blSeries(k, blT0, time.Minute, 6, blConstant(blUsage(1000, 300*blMiB)))))
			require.NoError(t, v.RecordOOM(recommender.OOMEvent{Key: k, Time: blT0.Add(5*time.Minute + 30*time.Second), Limit: 512 * blMiB}))
			for i, d := range tt.decisions {
				next, ok := v.Decide(k, blT0.Add(d), current)
				require.Equal(t, tt.want[i], ok, "blDecision at %v", d)
				if ok {
					require.Equal(t, acted, next)
				}
			}
		})
	}
}

func TestVPALimits(t *testing.T) {
	t.Parallel()
	// The 2-day constant series: target 1168 m and 1238659775 B. The
	// current CPU request, 100 m, is below the lower bound, so VPA acts.
	// Limits = ⌊original limit × target / original request⌋, per resource
	// (vpaapi.GetProportionalLimit); none stays none; limit = request stays
	// equal.
	tests := []struct {
		name     string
		req, lim recommender.Amounts
		want     Applied
	}{
		{
			// CPU ⌊2000·1168/1000⌋ = 2336; memory ⌊2·1238659775⌋ = 2477319550.
			name: "limits twice the requests",
			req:  recommender.Amounts{CPU: 1000, Memory: blGiB}, lim: recommender.Amounts{CPU: 2000, Memory: 2 * blGiB},
			want: Applied{CPURequest: 1168, CPULimit: 2336, MemoryRequest: 1238659775, MemoryLimit: 2477319550},
		},
		{
			name: "no cpu limit, memory limit = request",
			req:  recommender.Amounts{CPU: 1000, Memory: blGiB}, lim: recommender.Amounts{Memory: blGiB},
			want: Applied{CPURequest: 1168, MemoryRequest: 1238659775, MemoryLimit: 1238659775},
		},
		{
			// CPU ⌊750·1168/500⌋ = 1752; memory ⌊1500 MiB·1238659775/1000 MiB⌋
			// = ⌊1857989662.5⌋.
			name: "ratio 1.5",
			req:  recommender.Amounts{CPU: 500, Memory: 1000 * blMiB}, lim: recommender.Amounts{CPU: 750, Memory: 1500 * blMiB},
			want: Applied{CPURequest: 1168, CPULimit: 1752, MemoryRequest: 1238659775, MemoryLimit: 1857989662},
		},
		{
			name: "no limits",
			req:  recommender.Amounts{CPU: 1000, Memory: blGiB},
			want: Applied{CPURequest: 1168, MemoryRequest: 1238659775},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := blKey("lim", "main")
			v := NewVPA(DefaultVPAOptions())
			require.NoError(t, v.UpsertWorkload(blWorkload(k, tt.req, tt.lim)))
			require.NoError(t, v.Ingest(blSeries(k, blT0, time.Minute, 2881, blConstant(blUsage(1000, blGiB)))))
			next, ok := v.Decide(k, blT0.Add(48*time.Hour), Applied{CPURequest: 100, MemoryRequest: blGiB})
			require.True(t, ok)
			require.Equal(t, tt.want, next)
		})
	}
}

func TestVPANoRecommendation(t *testing.T) {
	t.Parallel()
	k := blKey("none", "main")
	initKey := blKey("none", "setup")
	cur := Applied{CPURequest: 1000, MemoryRequest: blGiB}
	v := NewVPA(DefaultVPAOptions())
	require.NoError(t, v.UpsertWorkload(recommender.Workload{Key: k.WorkloadKey, Containers: []recommender.ContainerSpec{
		{Name: "main"}, {Name: "setup", Role: recommender.RoleInit},
	}}))

	next, ok := v.Decide(blKey("unknown", "main"), blT0, cur)
	require.False(t, ok, "unknown container")
	require.Equal(t, cur, next)
	_, ok = v.Decide(k, blT0, cur)
	require.False(t, ok, "no samples")

	// Samples after the decision time are not used.
	require.NoError(t, v.Ingest(blSeries(k, blT0.Add(time.Hour), time.Minute, 10, blConstant(blUsage(5000, 8*blGiB)))))
	_, ok = v.Decide(k, blT0.Add(30*time.Minute), cur)
	require.False(t, ok, "only samples after now")

	// VPA drops the samples of init containers and never sizes them.
	require.NoError(t, v.Ingest(blSeries(initKey, blT0.Add(2*time.Hour), time.Minute, 10, blConstant(blUsage(5000, 8*blGiB)))))
	_, ok = v.Decide(initKey, blT0.Add(3*time.Hour), cur)
	require.False(t, ok, "init container")
	_, ok = v.Decide(k, blT0.Add(3*time.Hour), Applied{})
	require.True(t, ok, "app container with samples")
}

func TestVPAIngestRejects(t *testing.T) {
	t.Parallel()
	k := blKey("rej", "main")
	v := NewVPA(DefaultVPAOptions())
	good := blUsage(100, blMiB)
	err := v.Ingest([]recommender.Sample{
		{Key: k, Time: blT0.Add(time.Minute), Usage: good},
		{Key: k, Time: blT0, Usage: good},                                // out of order
		{Key: k, Time: blT0.Add(2 * time.Minute), Usage: blUsage(-1, 0)}, // negative
		{Key: blKey("rej", ""), Time: blT0, Usage: good},                 // bad key
		{Key: k, Usage: good},                                            // no time
		{Key: k, Time: blT0.Add(3 * time.Minute), Usage: good},
	})
	var ie *recommender.IngestError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, 4, ie.Rejected)
	require.Equal(t, []int{1, 2, 3, 4}, []int{ie.Samples[0].Index, ie.Samples[1].Index, ie.Samples[2].Index, ie.Samples[3].Index})
	require.ErrorIs(t, ie.Samples[0], recommender.ErrInvalidSample)
	require.ErrorIs(t, ie.Samples[2], recommender.ErrInvalidKey)
	require.ErrorIs(t, v.RecordOOM(recommender.OOMEvent{Key: k}), recommender.ErrInvalidSample)
	require.Error(t, v.UpsertWorkload(recommender.Workload{Key: k.WorkloadKey, Containers: []recommender.ContainerSpec{{Name: ""}}}))
}

func TestVPAOptionsValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, DefaultVPAOptions().Validate())
	o := DefaultVPAOptions()
	o.TargetCPUPercentile = 0
	o.UpperBoundMemoryPercentile = 1.5
	o.SafetyMarginFraction = -0.1
	o.ConfidenceIntervalCPU = 0
	o.SampleInterval = -time.Second
	err := o.Validate()
	require.Error(t, err)
	var joined interface{ Unwrap() []error }
	require.True(t, errors.As(err, &joined))
	require.Len(t, joined.Unwrap(), 5)
}

func TestVPAUsesOnlyThePast(t *testing.T) {
	t.Parallel()
	blRequireCausal(t, func() Policy { return NewVPA(DefaultVPAOptions()) })
}
