package promseries

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/value"

	"github.com/rightsizer/rightsizer/recommender"
)

// t0 is the data time of the tests' first point.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ms returns the time of t0 + d in ms.
func ms(d time.Duration) int64 { return t0.Add(d).UnixMilli() }

// mkSeries builds a series from name and label pairs, sorted by name as
// remote-write sends them.
func mkSeries(name string, kv []string, pts ...Point) Series {
	ls := []Label{{Name: LabelName, Value: name}}
	for i := 0; i+1 < len(kv); i += 2 {
		ls = append(ls, Label{Name: kv[i], Value: kv[i+1]})
	}
	slices.SortFunc(ls, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	return Series{Labels: ls, Points: pts}
}

// cadv returns the labels of a cAdvisor container series.
func cadv(ns, pod, ctr string, extra ...string) []string {
	return append([]string{"namespace", ns, "pod", pod, "container", ctr, "id", "/kubepods/" + pod + "/" + ctr, "job", "kubelet"}, extra...)
}

func ksm(ns, pod, ctr string, extra ...string) []string {
	return append([]string{"namespace", ns, "pod", pod, "container", ctr, "job", "kube-state-metrics", "uid", "u-" + pod}, extra...)
}

func pt(d time.Duration, v float64) Point { return Point{T: ms(d), V: v} }

func podKey(ns, pod, ctr string) recommender.ContainerKey {
	return recommender.ContainerKey{WorkloadKey: recommender.WorkloadKey{Namespace: ns, Kind: "Pod", Name: pod}, Container: ctr}
}

func wlKey(ns, kind, name, ctr string) recommender.ContainerKey {
	return recommender.ContainerKey{WorkloadKey: recommender.WorkloadKey{Namespace: ns, Kind: kind, Name: name}, Container: ctr}
}

// testOptions has no warm-up and no join delay, so that one Map call
// emits everything it can.
func testOptions() Options {
	o := DefaultOptions()
	o.OwnerWarmup, o.JoinDelay, o.MaxFutureSkew = 0, 0, 0
	return o
}

func newMapper(t *testing.T, o Options) *Mapper {
	t.Helper()
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// mapAll maps each batch at its own wall time (t0 + 1 h + i s) and then
// flushes, returning everything produced.
func mapAll(m *Mapper, batches ...[]Series) Output {
	var out Output
	now := t0.Add(time.Hour)
	for i, b := range batches {
		m.Map(now.Add(time.Duration(i)*time.Second), b, &out)
	}
	m.Flush(now.Add(time.Hour), &out)
	return out
}

func cpuSample(k recommender.ContainerKey, d time.Duration, milli recommender.MilliCPU) recommender.Sample {
	return recommender.Sample{Key: k, Time: t0.Add(d), Usage: recommender.Usage{CPU: milli, Has: recommender.ResourceSet(0).With(recommender.ResourceCPU)}}
}

func memSample(k recommender.ContainerKey, d time.Duration, b recommender.Bytes) recommender.Sample {
	return recommender.Sample{Key: k, Time: t0.Add(d), Usage: recommender.Usage{Memory: b, Has: recommender.ResourceSet(0).With(recommender.ResourceMemory)}}
}

func TestMapSamples(t *testing.T) {
	t.Parallel()
	k := podKey("shop", "web-1", "app")
	both := recommender.ResourceSet(0).With(recommender.ResourceCPU).With(recommender.ResourceMemory)
	stale := math.Float64frombits(value.StaleNaN)
	tests := []struct {
		name    string
		opts    func(*Options)
		batches [][]Series
		want    []recommender.Sample
		dropped [NumDropReasons]int
		ignored int
		stale   int
	}{
		{
			name: "cpu rate over the interval between points",
			batches: [][]Series{{mkSeries(MetricCPUUsage, cadv("shop", "web-1", "app"),
				pt(0, 100), pt(time.Minute, 130), pt(2*time.Minute, 190))}},
			want: []recommender.Sample{cpuSample(k, time.Minute, 500), cpuSample(k, 2*time.Minute, 1000)},
		},
		{
			name: "counter reset counts from zero",
			batches: [][]Series{{mkSeries(MetricCPUUsage, cadv("shop", "web-1", "app"),
				pt(0, 100), pt(time.Minute, 130), pt(2*time.Minute, 6))}},
			want: []recommender.Sample{cpuSample(k, time.Minute, 500), cpuSample(k, 2*time.Minute, 100)},
		},
		{
			name: "rate continues across batches",
			batches: [][]Series{
				{mkSeries(MetricCPUUsage, cadv("shop", "web-1", "app"), pt(0, 10))},
				{mkSeries(MetricCPUUsage, cadv("shop", "web-1", "app"), pt(30*time.Second, 25))},
			},
			want: []recommender.Sample{cpuSample(k, 30*time.Second, 500)},
		},
		{
			name: "no rate over a gap longer than MaxGap",
			batches: [][]Series{{mkSeries(MetricCPUUsage, cadv("shop", "web-1", "app"),
				pt(0, 100), pt(11*time.Minute, 200), pt(12*time.Minute, 230))}},
			want: []recommender.Sample{cpuSample(k, 12*time.Minute, 500)},
		},
		{
			name: "a staleness marker ends the series; the next point restarts it",
			batches: [][]Series{{mkSeries(MetricCPUUsage, cadv("shop", "web-1", "app"),
				pt(0, 100), pt(time.Minute, 130), Point{T: ms(90 * time.Second), V: stale}, pt(2*time.Minute, 160), pt(3*time.Minute, 190))}},
			want:  []recommender.Sample{cpuSample(k, time.Minute, 500), cpuSample(k, 3*time.Minute, 500)},
			stale: 1,
		},
		{
			name: "a resent batch is dropped as out of order",
			batches: [][]Series{
				{mkSeries(MetricCPUUsage, cadv("shop", "web-1", "app"), pt(0, 100), pt(time.Minute, 130)),
					mkSeries(MetricMemoryWorkingSet, cadv("shop", "web-1", "app"), pt(time.Minute, 1<<20))},
				{mkSeries(MetricCPUUsage, cadv("shop", "web-1", "app"), pt(0, 100), pt(time.Minute, 130)),
					mkSeries(MetricMemoryWorkingSet, cadv("shop", "web-1", "app"), pt(time.Minute, 1<<20))},
			},
			want: []recommender.Sample{{Key: k, Time: t0.Add(time.Minute), Usage: recommender.Usage{CPU: 500, Memory: 1 << 20, Has: both}}},
			// Time 0 of the resend is not after time 1 min of the counter;
			// nor is 1 min itself.
			dropped: [NumDropReasons]int{DropOutOfOrder: 3},
		},
		{
			name: "cpu, memory and throttling of one scrape join into one sample",
			batches: [][]Series{{
				mkSeries(MetricCPUUsage, cadv("shop", "web-1", "app", "cpu", "total"), pt(0, 0), pt(time.Minute, 60)),
				mkSeries(MetricMemoryWorkingSet, cadv("shop", "web-1", "app"), pt(0, 100<<20), pt(time.Minute, 200<<20)),
				mkSeries(MetricPeriods, cadv("shop", "web-1", "app"), pt(0, 1000), pt(time.Minute, 1600)),
				mkSeries(MetricThrottledPeriods, cadv("shop", "web-1", "app"), pt(0, 10), pt(time.Minute, 160)),
			}},
			want: []recommender.Sample{
				memSample(k, 0, 100<<20),
				{Key: k, Time: t0.Add(time.Minute), Usage: recommender.Usage{CPU: 1000, Memory: 200 << 20, Has: both,
					ThrottledFraction: 0.25, HasThrottling: true}},
			},
		},
		{
			name: "pod cgroup, per-CPU and other series are ignored",
			batches: [][]Series{{
				mkSeries(MetricCPUUsage, cadv("shop", "web-1", ""), pt(0, 0), pt(time.Minute, 60)),
				mkSeries(MetricCPUUsage, cadv("shop", "web-1", "POD"), pt(0, 0), pt(time.Minute, 60)),
				mkSeries(MetricCPUUsage, cadv("shop", "web-1", "app", "cpu", "cpu01"), pt(0, 0), pt(time.Minute, 60)),
				mkSeries("up", []string{"job", "kubelet"}, pt(0, 1)),
				mkSeries(MetricLastTerminatedReason, ksm("shop", "web-1", "app", "reason", "Error"), pt(0, 1)),
				mkSeries(MetricMemoryWorkingSet, cadv("shop", "web-1", "app"), pt(0, 42)),
			}},
			want:    []recommender.Sample{memSample(k, 0, 42)},
			ignored: 5,
		},
		{
			name: "invalid values are dropped alone",
			batches: [][]Series{{
				mkSeries(MetricMemoryWorkingSet, cadv("shop", "web-1", "app"),
					pt(0, math.NaN()), pt(time.Second, math.Inf(1)), pt(2*time.Second, -1), pt(3*time.Second, 2e15), pt(4*time.Second, 7)),
				mkSeries(MetricCPUUsage, cadv("shop", "web-1", "app"), pt(0, 0), pt(time.Second, math.Inf(-1)), pt(2*time.Second, 1e300), pt(4*time.Second, 1e300)),
			}},
			// The memory point at 3 s is beyond a pebibyte; the CPU rate from
			// 0 to 1e300 is beyond any machine, and the counter goes on from
			// there: one bad point costs one rate.
			want:    []recommender.Sample{{Key: k, Time: t0.Add(4 * time.Second), Usage: recommender.Usage{Memory: 7, Has: both}}},
			dropped: [NumDropReasons]int{DropInvalidValue: 6},
		},
		{
			name: "times before 2000 or too far ahead are dropped",
			opts: func(o *Options) { o.MaxFutureSkew = 10 * time.Minute },
			batches: [][]Series{{mkSeries(MetricMemoryWorkingSet, cadv("shop", "web-1", "app"),
				Point{T: 1000, V: 1}, pt(0, 5), pt(3*time.Hour, 6), Point{T: math.MaxInt64, V: 7}, pt(time.Minute, 8))}},
			want:    []recommender.Sample{memSample(k, 0, 5), memSample(k, time.Minute, 8)},
			dropped: [NumDropReasons]int{DropInvalidTime: 3},
		},
		{
			name: "hostile labels are dropped without poisoning the batch",
			batches: [][]Series{{
				mkSeries(MetricMemoryWorkingSet, cadv("shop", strings.Repeat("p", 300), "app"), pt(0, 1), pt(time.Second, 1)),
				mkSeries(MetricMemoryWorkingSet, cadv("shop", "web-1", "a\xffb"), pt(0, 1)),
				mkSeries(MetricMemoryWorkingSet, cadv("shop", "web-1", "a\nb"), pt(0, 1)),
				mkSeries(MetricMemoryWorkingSet, cadv("a/b", "web-1", "app"), pt(0, 1)),
				mkSeries(MetricMemoryWorkingSet, cadv("", "web-1", "app"), pt(0, 1)),
				mkSeries(MetricPodOwner, []string{"namespace", "shop", "pod", "web-1", "owner_kind", "ReplicaSet", "owner_name", "x\x00y", "owner_is_controller", "true"}),
				mkSeries(MetricMemoryWorkingSet, cadv("shop", "web-1", "app"), pt(0, 9)),
			}},
			want:    []recommender.Sample{memSample(k, 0, 9)},
			dropped: [NumDropReasons]int{DropInvalidLabels: 7},
		},
		{
			name: "points out of time order within a series are sorted",
			batches: [][]Series{{mkSeries(MetricCPUUsage, cadv("shop", "web-1", "app"),
				pt(time.Minute, 130), pt(0, 100))}},
			want: []recommender.Sample{cpuSample(k, time.Minute, 500)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := testOptions()
			if tc.opts != nil {
				tc.opts(&o)
			}
			out := mapAll(newMapper(t, o), tc.batches...)
			if !slices.EqualFunc(out.Samples, tc.want, sampleEqual) {
				t.Errorf("samples:\n got %v\nwant %v", out.Samples, tc.want)
			}
			if out.Stats.Dropped != tc.dropped {
				t.Errorf("dropped %v, want %v", out.Stats.Dropped, tc.dropped)
			}
			if out.Stats.Ignored != tc.ignored {
				t.Errorf("ignored %d, want %d", out.Stats.Ignored, tc.ignored)
			}
			if out.Stats.Stale != tc.stale {
				t.Errorf("stale %d, want %d", out.Stats.Stale, tc.stale)
			}
			for _, s := range out.Samples {
				if err := s.Key.Validate(); err != nil {
					t.Errorf("sample with an invalid key: %v", err)
				}
			}
		})
	}
}

func sampleEqual(a, b recommender.Sample) bool {
	return a.Key == b.Key && a.Time.Equal(b.Time) && a.Usage == b.Usage
}

// fakeResolver knows pods by namespace/name.
type fakeResolver map[string]recommender.WorkloadKey

func (f fakeResolver) WorkloadOf(namespace, pod string) (recommender.WorkloadKey, bool) {
	k, ok := f[namespace+"/"+pod]
	return k, ok
}

func ownerSeries(metric, objLabel, ns, obj, kind, name string, extra ...string) Series {
	kv := []string{"namespace", ns, objLabel, obj, "owner_kind", kind, "owner_name", name, "owner_is_controller", "true"}
	return mkSeries(metric, append(kv, extra...), pt(0, 1))
}

func TestMapOwnership(t *testing.T) {
	t.Parallel()
	mem := func(ns, pod string, extra ...string) Series {
		return mkSeries(MetricMemoryWorkingSet, cadv(ns, pod, "app", extra...), pt(0, 1))
	}
	tests := []struct {
		name     string
		opts     func(*Options)
		batches  [][]Series
		want     []recommender.ContainerKey
		dropped  int // unresolved
		wallStep time.Duration
	}{
		{
			name: "pod to ReplicaSet to Deployment, owners after samples in the batch",
			batches: [][]Series{{
				mem("shop", "web-5d4f8-abcde"),
				ownerSeries(MetricPodOwner, "pod", "shop", "web-5d4f8-abcde", "ReplicaSet", "web-5d4f8"),
				ownerSeries(MetricReplicaSetOwner, "replicaset", "shop", "web-5d4f8", "Deployment", "web"),
			}},
			want: []recommender.ContainerKey{wlKey("shop", "Deployment", "web", "app")},
		},
		{
			name: "a ReplicaSet without owner is its own workload",
			batches: [][]Series{{
				ownerSeries(MetricPodOwner, "pod", "shop", "rs-1-x", "ReplicaSet", "rs-1"),
				ownerSeries(MetricReplicaSetOwner, "replicaset", "shop", "rs-1", "<none>", "<none>"),
				mem("shop", "rs-1-x"),
			}},
			want: []recommender.ContainerKey{wlKey("shop", "ReplicaSet", "rs-1", "app")},
		},
		{
			name: "job to CronJob; StatefulSet directly; no owner is a bare pod",
			batches: [][]Series{{
				ownerSeries(MetricPodOwner, "pod", "ops", "report-29-q", "Job", "report-29"),
				ownerSeries(MetricJobOwner, "job_name", "ops", "report-29", "CronJob", "report"),
				ownerSeries(MetricPodOwner, "pod", "ops", "db-0", "StatefulSet", "db"),
				ownerSeries(MetricPodOwner, "pod", "ops", "debug", "<none>", "<none>"),
				mem("ops", "report-29-q"), mem("ops", "db-0"), mem("ops", "debug"),
			}},
			want: []recommender.ContainerKey{wlKey("ops", "CronJob", "report", "app"), wlKey("ops", "StatefulSet", "db", "app"), podKey("ops", "debug", "app")},
		},
		{
			name: "a non-controlling owner is ignored",
			batches: [][]Series{{
				mkSeries(MetricPodOwner, []string{"namespace", "ops", "pod", "p", "owner_kind", "Node", "owner_name", "n1", "owner_is_controller", "false"}),
				mem("ops", "p"),
			}},
			want: []recommender.ContainerKey{podKey("ops", "p", "app")},
		},
		{
			name: "the resolver comes first",
			opts: func(o *Options) {
				o.Resolver = fakeResolver{"shop/web-1": {Namespace: "shop", Kind: "Deployment", Name: "from-resolver"}}
			},
			batches: [][]Series{{
				ownerSeries(MetricPodOwner, "pod", "shop", "web-1", "StatefulSet", "learned"),
				ownerSeries(MetricPodOwner, "pod", "shop", "web-2", "StatefulSet", "learned"),
				mem("shop", "web-1"), mem("shop", "web-2"),
			}},
			want: []recommender.ContainerKey{wlKey("shop", "Deployment", "from-resolver", "app"), wlKey("shop", "StatefulSet", "learned", "app")},
		},
		{
			name: "cluster label keys the cluster, and the resolver only answers for the local cluster",
			opts: func(o *Options) {
				o.ClusterLabel = "cluster"
				o.Resolver = fakeResolver{"shop/web-1": {Namespace: "shop", Kind: "Deployment", Name: "local"}}
			},
			batches: [][]Series{{
				ownerSeries(MetricPodOwner, "pod", "shop", "web-1", "StatefulSet", "remote", "cluster", "eu-1"),
				mem("shop", "web-1", "cluster", "eu-1"),
				mem("shop", "web-1"),
			}},
			want: []recommender.ContainerKey{
				{WorkloadKey: recommender.WorkloadKey{Cluster: "eu-1", Namespace: "shop", Kind: "StatefulSet", Name: "remote"}, Container: "app"},
				wlKey("shop", "Deployment", "local", "app"),
			},
		},
		{
			name: "an unknown pod is dropped during the warm-up, then a bare pod",
			opts: func(o *Options) { o.OwnerWarmup = time.Minute },
			batches: [][]Series{
				{mem("shop", "x")},
				{mkSeries(MetricMemoryWorkingSet, cadv("shop", "x", "app"), pt(time.Second, 1))},
			},
			wallStep: time.Minute,
			want:     []recommender.ContainerKey{podKey("shop", "x", "app")},
			dropped:  1,
		},
		{
			name: "a ReplicaSet with unknown owner waits out the warm-up",
			opts: func(o *Options) { o.OwnerWarmup = time.Minute },
			batches: [][]Series{
				{ownerSeries(MetricPodOwner, "pod", "shop", "web-1", "ReplicaSet", "web-5d"), mem("shop", "web-1")},
				{ownerSeries(MetricReplicaSetOwner, "replicaset", "shop", "web-5d", "Deployment", "web"),
					mkSeries(MetricMemoryWorkingSet, cadv("shop", "web-1", "app"), pt(time.Second, 1))},
			},
			want:    []recommender.ContainerKey{wlKey("shop", "Deployment", "web", "app")},
			dropped: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := testOptions()
			if tc.opts != nil {
				tc.opts(&o)
			}
			m := newMapper(t, o)
			var out Output
			now := t0.Add(time.Hour)
			for _, b := range tc.batches {
				m.Map(now, b, &out)
				now = now.Add(max(tc.wallStep, time.Second))
			}
			m.Flush(now, &out)
			var got []recommender.ContainerKey
			for _, s := range out.Samples {
				got = append(got, s.Key)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("keys:\n got %v\nwant %v", got, tc.want)
			}
			if d := out.Stats.Dropped[DropUnresolved]; d != tc.dropped {
				t.Errorf("unresolved %d, want %d", d, tc.dropped)
			}
		})
	}
}

func TestMapOOM(t *testing.T) {
	t.Parallel()
	restarts := func(pts ...Point) Series { return mkSeries(MetricRestarts, ksm("shop", "web-1", "app"), pts...) }
	reason := func(r string, pts ...Point) Series {
		return mkSeries(MetricLastTerminatedReason, ksm("shop", "web-1", "app", "reason", r), pts...)
	}
	tests := []struct {
		name    string
		batches [][]Series
		want    []time.Duration // kill times
	}{
		{
			name: "restarts rise in the scrape that says OOMKilled",
			batches: [][]Series{{
				restarts(pt(0, 0), pt(time.Minute, 0), pt(2*time.Minute, 1), pt(3*time.Minute, 1)),
				reason(ReasonOOMKilled, pt(2*time.Minute, 1), pt(3*time.Minute, 1)),
			}},
			want: []time.Duration{2 * time.Minute},
		},
		{
			name: "the two series in separate requests, reason first",
			batches: [][]Series{
				{reason(ReasonOOMKilled, pt(2*time.Minute, 1))},
				{restarts(pt(time.Minute, 3), pt(2*time.Minute, 4))},
				{restarts(pt(0, 3), pt(time.Minute, 3), pt(2*time.Minute, 4))}, // a resend
			},
			want: []time.Duration{2 * time.Minute},
		},
		{
			name: "a later restart for another reason is no OOM kill",
			batches: [][]Series{{
				restarts(pt(0, 1), pt(time.Minute, 1), pt(2*time.Minute, 2)),
				reason(ReasonOOMKilled, pt(0, 1), pt(time.Minute, 1)),
				reason("Error", pt(2*time.Minute, 1)),
			}},
		},
		{
			name: "OOMKilled alone, without a restart, is an old kill",
			batches: [][]Series{{
				restarts(pt(0, 1), pt(time.Minute, 1)),
				reason(ReasonOOMKilled, pt(0, 1), pt(time.Minute, 1)),
			}},
		},
		{
			name: "kube-state-metrics v1's zero for other reasons is no kill",
			batches: [][]Series{{
				restarts(pt(0, 1), pt(time.Minute, 2)),
				reason(ReasonOOMKilled, pt(time.Minute, 0)),
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := mapAll(newMapper(t, testOptions()), tc.batches...)
			var got []time.Duration
			for _, ev := range out.OOMs {
				if ev.Key != podKey("shop", "web-1", "app") {
					t.Errorf("kill of %v", ev.Key)
				}
				got = append(got, ev.Time.Sub(t0))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("kills at %v, want %v", got, tc.want)
			}
			if len(out.Samples) != 0 {
				t.Errorf("kube-state-metrics series made samples: %v", out.Samples)
			}
		})
	}
}

func TestJoinDelay(t *testing.T) {
	t.Parallel()
	o := testOptions()
	o.JoinDelay = 15 * time.Second
	m := newMapper(t, o)
	k := podKey("shop", "web-1", "app")
	now := t0.Add(time.Hour)
	var out Output
	// The memory point waits for the CPU point of the same scrape, which
	// comes in a later request.
	m.Map(now, []Series{mkSeries(MetricCPUUsage, cadv("shop", "web-1", "app"), pt(0, 0))}, &out)
	m.Map(now.Add(time.Second), []Series{mkSeries(MetricMemoryWorkingSet, cadv("shop", "web-1", "app"), pt(time.Minute, 5))}, &out)
	if len(out.Samples) != 0 {
		t.Fatalf("emitted before the delay: %v", out.Samples)
	}
	m.Map(now.Add(2*time.Second), []Series{mkSeries(MetricCPUUsage, cadv("shop", "web-1", "app"), pt(time.Minute, 60))}, &out)
	if len(out.Samples) != 0 {
		t.Fatalf("emitted before the delay: %v", out.Samples)
	}
	m.Map(now.Add(20*time.Second), nil, &out)
	want := []recommender.Sample{{Key: k, Time: t0.Add(time.Minute), Usage: recommender.Usage{CPU: 1000, Memory: 5,
		Has: recommender.ResourceSet(0).With(recommender.ResourceCPU).With(recommender.ResourceMemory)}}}
	if !slices.EqualFunc(out.Samples, want, sampleEqual) {
		t.Errorf("got %v, want %v", out.Samples, want)
	}
	// A newer point emits the older join at once; Flush emits the rest.
	out.Reset()
	m.Map(now.Add(21*time.Second), []Series{mkSeries(MetricMemoryWorkingSet, cadv("shop", "web-1", "app"), pt(2*time.Minute, 6), pt(3*time.Minute, 7))}, &out)
	if !slices.EqualFunc(out.Samples, []recommender.Sample{memSample(k, 2*time.Minute, 6)}, sampleEqual) {
		t.Errorf("got %v", out.Samples)
	}
	m.Flush(now.Add(22*time.Second), &out)
	if len(out.Samples) != 2 || !sampleEqual(out.Samples[1], memSample(k, 3*time.Minute, 7)) {
		t.Errorf("flush: got %v", out.Samples)
	}
}

func TestBounds(t *testing.T) {
	t.Parallel()
	o := testOptions()
	o.MaxInstances, o.MaxOwners, o.StaleAfter = 64, 32, time.Minute
	m := newMapper(t, o)
	var out Output
	now := t0.Add(time.Hour)
	for i := range 1000 {
		pod := "p-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		m.Map(now, []Series{
			ownerSeries(MetricPodOwner, "pod", "ns", pod, "StatefulSet", "s"),
			mkSeries(MetricMemoryWorkingSet, cadv("ns", pod, "app"), pt(0, 1)),
		}, &out)
		if in, ow := m.Len(); in > o.MaxInstances || ow > o.MaxOwners {
			t.Fatalf("after %d pods: %d instances, %d owners, over the bounds", i+1, in, ow)
		}
	}
	if out.Stats.Evicted == 0 {
		t.Error("nothing evicted")
	}
	// Stale state goes at the next sweep.
	m.Map(now.Add(2*time.Minute), nil, &out)
	if in, ow := m.Len(); in != 0 || ow != 0 {
		t.Errorf("after the sweep: %d instances, %d owners", in, ow)
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	good := DefaultOptions()
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	bad := Options{ClusterLabel: "9x", OwnerWarmup: -1, JoinDelay: -1, MaxFutureSkew: -1}
	err := bad.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"cluster label", "warm-up", "join delay", "future skew", "max gap", "stale-after", "max instances", "max owners"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
