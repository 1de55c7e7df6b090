package metricsapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	"k8s.io/metrics/pkg/client/clientset/versioned"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rightsizer/rightsizer/recommender"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeAPI serves metrics.k8s.io/v1beta1 PodMetrics lists as
// metrics-server does, in its real JSON, with limit/continue paging, and
// records the requests it gets. Safe for concurrent use.
type fakeAPI struct {
	mu      sync.Mutex
	pods    []metricsv1beta1.PodMetrics
	fail    map[string]bool // namespaces whose List answers 500
	request []string        // "path?query"
}

const apiPrefix = "/apis/metrics.k8s.io/v1beta1/"

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.request = append(f.request, r.URL.Path+"?"+r.URL.RawQuery)
	rest, ok := strings.CutPrefix(r.URL.Path, apiPrefix)
	if !ok || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	ns := ""
	if after, ok := strings.CutPrefix(rest, "namespaces/"); ok {
		ns, rest, _ = strings.Cut(after, "/")
	}
	if rest != "pods" {
		http.NotFound(w, r)
		return
	}
	if f.fail[ns] {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusFailure, Message: "unable to fetch pod metrics", Code: http.StatusInternalServerError,
		})
		return
	}
	var items []metricsv1beta1.PodMetrics
	for _, p := range f.pods {
		if ns == "" || p.Namespace == ns {
			items = append(items, p)
		}
	}
	from, _ := strconv.Atoi(r.URL.Query().Get("continue"))
	items = items[min(from, len(items)):]
	list := metricsv1beta1.PodMetricsList{
		TypeMeta: metav1.TypeMeta{Kind: "PodMetricsList", APIVersion: "metrics.k8s.io/v1beta1"},
		Items:    []metricsv1beta1.PodMetrics{},
	}
	if limit, _ := strconv.Atoi(r.URL.Query().Get("limit")); limit > 0 && limit < len(items) {
		items = items[:limit]
		list.Continue = strconv.Itoa(from + limit)
	}
	list.Items = append(list.Items, items...)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list)
}

func (f *fakeAPI) set(pods ...metricsv1beta1.PodMetrics) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pods = slices.Clone(pods)
}

func (f *fakeAPI) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := slices.Clone(f.request)
	f.request = nil
	return r
}

// startAPI serves f and returns a real metrics clientset talking to it.
func startAPI(t *testing.T, f *fakeAPI) versioned.Interface {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := versioned.NewForConfig(&rest.Config{Host: srv.URL, QPS: -1})
	require.NoError(t, err)
	return c
}

// resolver is a fake PodResolver: pods map to Deployments named by their
// pod name's prefix before the first '-', unless listed in unknown.
type resolver struct {
	mu      sync.Mutex
	unknown map[string]bool // "ns/pod"
}

func (r *resolver) WorkloadOf(ns, pod string) (recommender.WorkloadKey, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unknown[ns+"/"+pod] {
		return recommender.WorkloadKey{}, false
	}
	name, _, _ := strings.Cut(pod, "-")
	return recommender.WorkloadKey{Namespace: ns, Kind: "Deployment", Name: name}, true
}

func (r *resolver) learn(ns, pod string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.unknown, ns+"/"+pod)
}

// sink records samples, rejecting negative ones as the engine does.
type sink struct {
	mu      sync.Mutex
	samples []recommender.Sample
	batches int
}

func (s *sink) Ingest(samples []recommender.Sample) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	s.samples = append(s.samples, samples...)
	return nil
}

func (s *sink) RecordOOM(recommender.OOMEvent) error      { return nil }
func (s *sink) UpsertWorkload(recommender.Workload) error { return nil }
func (s *sink) take() (out []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.samples {
		out = append(out, sampleString(x))
	}
	s.samples = nil
	slices.Sort(out)
	return out
}

// sampleString is a compact form: container key, time, cpu, memory ("-"
// when absent).
func sampleString(x recommender.Sample) string {
	cpu, mem := "-", "-"
	if x.Usage.Has.Has(recommender.ResourceCPU) {
		cpu = strconv.FormatInt(int64(x.Usage.CPU), 10) + "m"
	}
	if x.Usage.Has.Has(recommender.ResourceMemory) {
		mem = strconv.FormatInt(int64(x.Usage.Memory), 10)
	}
	return x.Key.String() + " " + x.Time.UTC().Format("15:04:05") + " " + cpu + " " + mem
}

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// pod builds PodMetrics at t0+sec with containers given as name, cpu,
// memory quantity strings ("" for absent).
func pod(ns, name string, sec int, containers ...[3]string) metricsv1beta1.PodMetrics {
	pm := metricsv1beta1.PodMetrics{
		TypeMeta:   metav1.TypeMeta{Kind: "PodMetrics", APIVersion: "metrics.k8s.io/v1beta1"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Timestamp:  metav1.NewTime(t0.Add(time.Duration(sec) * time.Second)),
		Window:     metav1.Duration{Duration: 15 * time.Second},
	}
	for _, c := range containers {
		u := corev1.ResourceList{}
		if c[1] != "" {
			u[corev1.ResourceCPU] = resource.MustParse(c[1])
		}
		if c[2] != "" {
			u[corev1.ResourceMemory] = resource.MustParse(c[2])
		}
		pm.Containers = append(pm.Containers, metricsv1beta1.ContainerMetrics{Name: c[0], Usage: u})
	}
	return pm
}

func newSource(t *testing.T, f *fakeAPI, r recommender.PodResolver, opts Options) (*Source, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	s, err := New(startAPI(t, f), r, opts)
	require.NoError(t, err)
	return s, reg
}

func TestPoll(t *testing.T) {
	t.Parallel()
	pods := []metricsv1beta1.PodMetrics{
		pod("shop", "web-1", 0, [3]string{"app", "250m", "100Mi"}, [3]string{"proxy", "12345678n", "20Mi"}),
		pod("shop", "web-2", 1, [3]string{"app", "1", "1Gi"}),
		pod("shop", "db-0", 2, [3]string{"pg", "1500m", ""}),
		pod("batch", "etl-1", 3, [3]string{"run", "", "2048Ki"}),
		pod("kube-system", "dns-1", 4, [3]string{"coredns", "3m", "30Mi"}),
	}
	const mi = 1 << 20
	tests := []struct {
		name       string
		opts       func(*Options)
		unknown    map[string]bool
		want       []string
		skipped    map[string]float64
		wantListed []string // request paths, without the query
	}{
		{
			name: "all namespaces",
			want: []string{
				"batch/Deployment/etl/run 12:00:03 - 2097152",
				"kube-system/Deployment/dns/coredns 12:00:04 3m " + strconv.Itoa(30*mi),
				"shop/Deployment/db/pg 12:00:02 1500m -",
				"shop/Deployment/web/app 12:00:00 250m " + strconv.Itoa(100*mi),
				"shop/Deployment/web/app 12:00:01 1000m " + strconv.Itoa(1024*mi),
				"shop/Deployment/web/proxy 12:00:00 12m " + strconv.Itoa(20*mi),
			},
			wantListed: []string{apiPrefix + "pods"},
		},
		{
			name: "namespace list, one List each",
			opts: func(o *Options) { o.Namespaces = []string{"shop", "batch"} },
			want: []string{
				"batch/Deployment/etl/run 12:00:03 - 2097152",
				"shop/Deployment/db/pg 12:00:02 1500m -",
				"shop/Deployment/web/app 12:00:00 250m " + strconv.Itoa(100*mi),
				"shop/Deployment/web/app 12:00:01 1000m " + strconv.Itoa(1024*mi),
				"shop/Deployment/web/proxy 12:00:00 12m " + strconv.Itoa(20*mi),
			},
			wantListed: []string{apiPrefix + "namespaces/shop/pods", apiPrefix + "namespaces/batch/pods"},
		},
		{
			name: "excluded namespaces",
			opts: func(o *Options) { o.ExcludeNamespaces = []string{"kube-system", "batch"} },
			want: []string{
				"shop/Deployment/db/pg 12:00:02 1500m -",
				"shop/Deployment/web/app 12:00:00 250m " + strconv.Itoa(100*mi),
				"shop/Deployment/web/app 12:00:01 1000m " + strconv.Itoa(1024*mi),
				"shop/Deployment/web/proxy 12:00:00 12m " + strconv.Itoa(20*mi),
			},
			skipped:    map[string]float64{"excluded": 2},
			wantListed: []string{apiPrefix + "pods"},
		},
		{
			name:    "unresolved pods are skipped and counted",
			unknown: map[string]bool{"shop/web-2": true, "batch/etl-1": true},
			want: []string{
				"kube-system/Deployment/dns/coredns 12:00:04 3m " + strconv.Itoa(30*mi),
				"shop/Deployment/db/pg 12:00:02 1500m -",
				"shop/Deployment/web/app 12:00:00 250m " + strconv.Itoa(100*mi),
				"shop/Deployment/web/proxy 12:00:00 12m " + strconv.Itoa(20*mi),
			},
			skipped:    map[string]float64{"unresolved": 2},
			wantListed: []string{apiPrefix + "pods"},
		},
		{
			name: "pages followed",
			opts: func(o *Options) { o.PageSize = 2 },
			want: []string{
				"batch/Deployment/etl/run 12:00:03 - 2097152",
				"kube-system/Deployment/dns/coredns 12:00:04 3m " + strconv.Itoa(30*mi),
				"shop/Deployment/db/pg 12:00:02 1500m -",
				"shop/Deployment/web/app 12:00:00 250m " + strconv.Itoa(100*mi),
				"shop/Deployment/web/app 12:00:01 1000m " + strconv.Itoa(1024*mi),
				"shop/Deployment/web/proxy 12:00:00 12m " + strconv.Itoa(20*mi),
			},
			wantListed: []string{apiPrefix + "pods", apiPrefix + "pods", apiPrefix + "pods"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeAPI{}
			f.set(pods...)
			opts := DefaultOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			s, _ := newSource(t, f, &resolver{unknown: tt.unknown}, opts)
			var sk sink
			require.NoError(t, s.poll(t.Context(), &sk))
			require.Equal(t, tt.want, sk.take())
			var paths []string
			for _, r := range f.requests() {
				p, q, _ := strings.Cut(r, "?")
				paths = append(paths, p)
				require.Contains(t, q, "limit="+strconv.FormatInt(opts.PageSize, 10), "every List is paged")
			}
			require.Equal(t, tt.wantListed, paths)
			for _, reason := range []string{"unresolved", "unchanged", "excluded", "no_timestamp"} {
				require.Equal(t, tt.skipped[reason], testutil.ToFloat64(s.metrics.podsSkipped.WithLabelValues(reason)), reason)
			}
			require.Equal(t, float64(len(tt.want)), testutil.ToFloat64(s.metrics.samples))
		})
	}
}

func TestPollDropsBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		cpu, mem    string
		want        []string
		dropCPU     float64
		dropMemory  float64
		wantSamples float64
	}{
		{"negative cpu", "-5m", "10Mi", []string{"ns/Deployment/web/app 12:00:00 - 10485760"}, 1, 0, 1},
		{"negative memory", "5m", "-1", []string{"ns/Deployment/web/app 12:00:00 5m -"}, 0, 1, 1},
		{"both negative", "-1", "-1Ki", nil, 1, 1, 0},
		{"nanocores round to nearest millicore", "1500000n", "0", []string{"ns/Deployment/web/app 12:00:00 2m 0"}, 0, 0, 1},
		{"sub-millicore is zero", "400000n", "1", []string{"ns/Deployment/web/app 12:00:00 0m 1"}, 0, 0, 1},
		{"no usage", "", "", nil, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeAPI{}
			f.set(pod("ns", "web-1", 0, [3]string{"app", tt.cpu, tt.mem}))
			s, _ := newSource(t, f, &resolver{}, DefaultOptions())
			var sk sink
			require.NoError(t, s.poll(t.Context(), &sk))
			require.Equal(t, tt.want, sk.take())
			require.Equal(t, tt.dropCPU, testutil.ToFloat64(s.metrics.valuesDropped.WithLabelValues("cpu")))
			require.Equal(t, tt.dropMemory, testutil.ToFloat64(s.metrics.valuesDropped.WithLabelValues("memory")))
			require.Equal(t, tt.wantSamples, testutil.ToFloat64(s.metrics.samples))
		})
	}
}

// TestPollSequence runs polls in order over a changing API: each step sets
// the pods served (and what the resolver knows) and checks what one poll
// ingests and how many pods the source remembers.
func TestPollSequence(t *testing.T) {
	t.Parallel()
	type step struct {
		pods    []metricsv1beta1.PodMetrics
		learn   string // "ns/pod" the resolver learns before the poll
		fail    string // namespace whose List fails
		want    []string
		tracked int
		err     bool
	}
	a0 := pod("ns", "web-a", 0, [3]string{"app", "10m", "1Mi"})
	b0 := pod("ns", "web-b", 0, [3]string{"app", "20m", "2Mi"})
	a15 := pod("ns", "web-a", 15, [3]string{"app", "11m", "1Mi"})
	c0 := pod("other", "db-c", 0, [3]string{"pg", "30m", "3Mi"})
	tests := []struct {
		name    string
		opts    func(*Options)
		unknown map[string]bool // pods the resolver does not know at first
		steps   []step
	}{
		{
			name: "unchanged timestamps are not ingested twice",
			steps: []step{
				{pods: []metricsv1beta1.PodMetrics{a0, b0}, want: []string{"ns/Deployment/web/app 12:00:00 10m 1048576", "ns/Deployment/web/app 12:00:00 20m 2097152"}, tracked: 2},
				{pods: []metricsv1beta1.PodMetrics{a0, b0}, tracked: 2},
				{pods: []metricsv1beta1.PodMetrics{a15, b0}, want: []string{"ns/Deployment/web/app 12:00:15 11m 1048576"}, tracked: 2},
			},
		},
		{
			name: "pods no longer listed are forgotten",
			steps: []step{
				{pods: []metricsv1beta1.PodMetrics{a0, b0}, want: []string{"ns/Deployment/web/app 12:00:00 10m 1048576", "ns/Deployment/web/app 12:00:00 20m 2097152"}, tracked: 2},
				{pods: []metricsv1beta1.PodMetrics{a0}, tracked: 1},
				{pods: nil, tracked: 0},
				// Back with the same timestamp: forgotten, so new again.
				{pods: []metricsv1beta1.PodMetrics{a0}, want: []string{"ns/Deployment/web/app 12:00:00 10m 1048576"}, tracked: 1},
			},
		},
		{
			name:    "an unresolved pod is ingested once resolved",
			unknown: map[string]bool{"ns/web-b": true},
			steps: []step{
				{pods: []metricsv1beta1.PodMetrics{a0, b0}, want: []string{"ns/Deployment/web/app 12:00:00 10m 1048576"}, tracked: 1},
				{pods: []metricsv1beta1.PodMetrics{a0, b0}, learn: "ns/web-b", want: []string{"ns/Deployment/web/app 12:00:00 20m 2097152"}, tracked: 2},
			},
		},
		{
			name: "a failed List forgets nothing",
			opts: func(o *Options) { o.Namespaces = []string{"ns", "other"} },
			steps: []step{
				{pods: []metricsv1beta1.PodMetrics{a0, c0}, want: []string{"ns/Deployment/web/app 12:00:00 10m 1048576", "other/Deployment/db/pg 12:00:00 30m 3145728"}, tracked: 2},
				{pods: []metricsv1beta1.PodMetrics{a15, c0}, fail: "other", err: true, want: []string{"ns/Deployment/web/app 12:00:15 11m 1048576"}, tracked: 2},
				{pods: []metricsv1beta1.PodMetrics{a15}, tracked: 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeAPI{}
			r := &resolver{unknown: tt.unknown}
			opts := DefaultOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			s, _ := newSource(t, f, r, opts)
			var sk sink
			for i, st := range tt.steps {
				f.set(st.pods...)
				f.mu.Lock()
				f.fail = map[string]bool{st.fail: st.fail != ""}
				f.mu.Unlock()
				if st.learn != "" {
					ns, name, _ := strings.Cut(st.learn, "/")
					r.learn(ns, name)
				}
				err := s.poll(t.Context(), &sk)
				if st.err {
					require.Error(t, err, "step %d", i)
				} else {
					require.NoError(t, err, "step %d", i)
				}
				require.Equal(t, st.want, sk.take(), "step %d", i)
				require.Len(t, s.pods, st.tracked, "step %d", i)
				require.Equal(t, float64(st.tracked), testutil.ToFloat64(s.metrics.trackedPods), "step %d", i)
			}
		})
	}
}

// rejectingSink rejects every sample, as the engine rejects invalid ones.
type rejectingSink struct{ sink }

func (s *rejectingSink) Ingest(samples []recommender.Sample) error {
	ie := &recommender.IngestError{Rejected: len(samples)}
	for i := range samples {
		ie.Samples = append(ie.Samples, &recommender.SampleError{Index: i, Key: samples[i].Key, Err: recommender.ErrInvalidSample})
	}
	return ie
}

func TestPollCountsRejectedSamples(t *testing.T) {
	t.Parallel()
	f := &fakeAPI{}
	f.set(pod("ns", "web-1", 0, [3]string{"app", "1m", "1Mi"}, [3]string{"side", "1m", "1Mi"}))
	s, _ := newSource(t, f, &resolver{}, DefaultOptions())
	require.NoError(t, s.poll(t.Context(), &rejectingSink{}))
	require.Equal(t, 2.0, testutil.ToFloat64(s.metrics.samplesRejected))
	require.Zero(t, testutil.ToFloat64(s.metrics.samples))
}

// TestRun drives Run's loop with a fake clock: a poll at once, one per
// tick, and ctx.Err() at the end.
func TestRun(t *testing.T) {
	t.Parallel()
	f := &fakeAPI{}
	f.set(pod("ns", "web-1", 0, [3]string{"app", "5m", "1Mi"}))
	clk := clocktesting.NewFakeClock(t0)
	opts := DefaultOptions()
	opts.Clock = clk
	s, _ := newSource(t, f, &resolver{}, opts)
	var sk sink
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, &sk) }()

	polls := func() float64 { return testutil.ToFloat64(s.metrics.polls.WithLabelValues("ok")) }
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		err := wait.PollUntilContextTimeout(t.Context(), 5*time.Millisecond, 30*time.Second, true,
			func(context.Context) (bool, error) { return cond(), nil })
		require.NoError(t, err, "waiting for %s", what)
	}
	waitFor("the first poll", func() bool { return polls() == 1 })
	require.Equal(t, []string{"ns/Deployment/web/app 12:00:00 5m 1048576"}, sk.take())

	require.Error(t, s.Run(ctx, &sk), "a second Run is refused")

	f.set(pod("ns", "web-1", 30, [3]string{"app", "6m", "1Mi"}))
	waitFor("the ticker", clk.HasWaiters)
	clk.Step(opts.Interval)
	waitFor("the second poll", func() bool { return polls() == 2 })
	require.Equal(t, []string{"ns/Deployment/web/app 12:00:30 6m 1048576"}, sk.take())

	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	o := DefaultOptions()
	require.NoError(t, o.Validate())
	o.Interval, o.PageSize, o.Timeout = 0, 0, -1
	o.Namespaces, o.ExcludeNamespaces = []string{"a"}, []string{"a", "B"}
	err := o.Validate()
	for _, s := range []string{"interval", "page size", "timeout", "both included and excluded", `"B"`} {
		require.ErrorContains(t, err, s)
	}
	_, err = New(nil, &resolver{}, DefaultOptions())
	require.Error(t, err)
}

// The fake API's List errors surface as API status errors through the
// real clientset.
func TestListErrorIsAPIError(t *testing.T) {
	t.Parallel()
	f := &fakeAPI{fail: map[string]bool{"": true}}
	s, _ := newSource(t, f, &resolver{}, DefaultOptions())
	err := s.poll(t.Context(), &sink{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "unable to fetch pod metrics")
	require.Equal(t, 1.0, testutil.ToFloat64(s.metrics.polls.WithLabelValues("error")))
	var ae interface{ Status() metav1.Status }
	require.True(t, errors.As(err, &ae))
}
