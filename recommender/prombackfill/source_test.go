package prombackfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/internal/promseries"
	"github.com/rightsizer/rightsizer/recommender/internal/promtest"
)

// fakeSeries is a series of the fake Prometheus: labels, and its value
// as a function of time.
type fakeSeries struct {
	labels model.LabelSet
	value  func(t time.Time) float64
}

// fakeProm serves the three endpoints the backfill uses from fakeSeries,
// evaluating a raw selector the way Prometheus does on data that has a
// sample at every step. Before serving, fail may answer instead.
type fakeProm struct {
	series []fakeSeries

	mu       sync.Mutex
	requests []string                                         // paths
	queries  []string                                         // range queries
	returned []int                                            // series per range query
	fail     func(path string, n int) (code int, body string) // n counts requests; code 0: serve
}

var (
	nsMatcher  = regexp.MustCompile(`namespace="([^"]*)"`)
	podMatcher = regexp.MustCompile(`pod=~("(?:[^"\\]|\\.)*")`)
	nameRegexp = regexp.MustCompile(`__name__=~"([^"]*)"`)
)

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, r.URL.Path)
	n := len(f.requests)
	fail := f.fail
	f.mu.Unlock()
	if fail != nil {
		if code, body := fail(r.URL.Path, n); code != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_, _ = w.Write([]byte(body))
			return
		}
	}
	var data any
	switch r.URL.Path {
	case "/api/v1/label/namespace/values":
		seen := map[string]bool{}
		vals := []string{}
		for _, s := range f.select_(r.Form["match[]"]) {
			if ns := string(s.labels["namespace"]); !seen[ns] {
				seen[ns] = true
				vals = append(vals, ns)
			}
		}
		data = vals
	case "/api/v1/series":
		sets := []model.LabelSet{}
		for _, s := range f.select_(r.Form["match[]"]) {
			sets = append(sets, s.labels)
		}
		data = sets
	case "/api/v1/query_range":
		q := r.Form.Get("query")
		start, end, step := parseTime(r.Form.Get("start")), parseTime(r.Form.Get("end")), r.Form.Get("step")
		stepS, _ := strconv.ParseFloat(step, 64)
		matrix := model.Matrix{}
		for _, s := range f.select_([]string{q}) {
			ss := &model.SampleStream{Metric: model.Metric(s.labels)}
			for t := start; !t.After(end); t = t.Add(time.Duration(stepS * float64(time.Second))) {
				ss.Values = append(ss.Values, model.SamplePair{Timestamp: model.TimeFromUnixNano(t.UnixNano()), Value: model.SampleValue(s.value(t))})
			}
			matrix = append(matrix, ss)
		}
		f.mu.Lock()
		f.queries = append(f.queries, q)
		f.returned = append(f.returned, len(matrix))
		f.mu.Unlock()
		data = map[string]any{"resultType": "matrix", "result": matrix}
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
}

// select_ returns the series any of the selectors match, reading only the
// matchers the backfill writes: the metric names, the namespace and the
// pod regex.
// seen returns, under the lock, how many requests came, and each range
// query with the number of series it returned.
func (f *fakeProm) seen() (requests int, queries []string, returned []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests), slices.Clone(f.queries), slices.Clone(f.returned)
}

func (f *fakeProm) select_(selectors []string) []fakeSeries {
	var out []fakeSeries
	for _, sel := range selectors {
		names := strings.Split(nameRegexp.FindStringSubmatch(sel)[1], "|")
		var ns string
		if m := nsMatcher.FindStringSubmatch(sel); m != nil {
			ns = m[1]
		}
		var pods *regexp.Regexp
		if m := podMatcher.FindStringSubmatch(sel); m != nil {
			re, err := strconv.Unquote(m[1])
			if err != nil {
				panic(err)
			}
			pods = regexp.MustCompile("^(?:" + re + ")$")
		}
		for _, s := range f.series {
			if !slices.Contains(names, string(s.labels[model.MetricNameLabel])) ||
				ns != "" && string(s.labels["namespace"]) != ns ||
				pods != nil && !pods.MatchString(string(s.labels["pod"])) {
				continue
			}
			out = append(out, s)
		}
	}
	return out
}

func parseTime(s string) time.Time {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(err)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC()
}

// fakeCluster returns the series of ns with pods pods of Deployment
// "web" (through ReplicaSet web-5d), each with a container "app" using
// milli millicores and 64 MiB.
func fakeCluster(ns string, pods int, milli float64) []fakeSeries {
	var out []fakeSeries
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for p := range pods {
		pod := fmt.Sprintf("web-5d-%03d", p)
		lbl := func(name string, kv ...string) model.LabelSet {
			ls := model.LabelSet{model.MetricNameLabel: model.LabelValue(name), "namespace": model.LabelValue(ns), "pod": model.LabelValue(pod), "container": "app", "job": "kubelet"}
			for i := 0; i+1 < len(kv); i += 2 {
				ls[model.LabelName(kv[i])] = model.LabelValue(kv[i+1])
			}
			return ls
		}
		out = append(out,
			fakeSeries{lbl(promseries.MetricCPUUsage), func(t time.Time) float64 { return milli / 1000 * t.Sub(epoch).Seconds() }},
			fakeSeries{lbl(promseries.MetricMemoryWorkingSet), func(time.Time) float64 { return 64 << 20 }},
			fakeSeries{model.LabelSet{model.MetricNameLabel: promseries.MetricPodOwner, "namespace": model.LabelValue(ns), "pod": model.LabelValue(pod),
				"owner_kind": "ReplicaSet", "owner_name": "web-5d", "owner_is_controller": "true"}, func(time.Time) float64 { return 1 }},
		)
	}
	out = append(out, fakeSeries{model.LabelSet{model.MetricNameLabel: promseries.MetricReplicaSetOwner, "namespace": model.LabelValue(ns), "replicaset": "web-5d",
		"owner_kind": "Deployment", "owner_name": "web", "owner_is_controller": "true"}, func(time.Time) float64 { return 1 }})
	return out
}

// countingSink records samples and kills. Safe for concurrent use.
type countingSink struct {
	mu      sync.Mutex
	samples []recommender.Sample
	ooms    []recommender.OOMEvent
}

func (s *countingSink) Ingest(samples []recommender.Sample) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples = append(s.samples, samples...)
	return nil
}

func (s *countingSink) RecordOOM(ev recommender.OOMEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ooms = append(s.ooms, ev)
	return nil
}

func (s *countingSink) UpsertWorkload(recommender.Workload) error { return nil }

var end = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fastOptions reads 3 h in 1-hour windows, with no real waiting.
func fastOptions() Options {
	o := DefaultOptions()
	o.History, o.Window, o.End = 3*time.Hour, time.Hour, end
	o.RetryBackoff, o.MaxRetryBackoff, o.QPS = time.Millisecond, 2*time.Millisecond, 1e6
	return o
}

func newSource(t *testing.T, f *fakeProm, o Options) *Source {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client, err := api.NewClient(api.Config{Address: srv.URL, Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(client, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBackfill(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		maxSeries int
		wantMax   int // most series a range query may return
	}{
		{name: "one query per window", maxSeries: 500, wantMax: 500},
		{name: "pods batched to the series limit", maxSeries: 5, wantMax: 4},
		{name: "a pod over the limit is read alone", maxSeries: 1, wantMax: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeProm{series: append(fakeCluster("shop", 7, 250), fakeCluster("ops", 2, 1500)...)}
			o := fastOptions()
			o.MaxSeriesPerQuery = tc.maxSeries
			reg := prometheus.NewRegistry()
			o.Registerer = reg
			sink := &countingSink{}
			if err := newSource(t, f, o).Run(t.Context(), sink); err != nil {
				t.Fatal(err)
			}
			_, queries, returned := f.seen()
			for i, n := range returned {
				if n > tc.wantMax {
					t.Errorf("query %s returned %d series, more than %d", queries[i], n, tc.wantMax)
				}
			}
			// 3 h + the end step at 1 min: 181 steps; the first has no rate.
			perKey := map[recommender.ContainerKey]int{}
			for _, s := range sink.samples {
				perKey[s.Key]++
				want := recommender.MilliCPU(250)
				if s.Key.Namespace == "ops" {
					want = 1500
				}
				if s.Usage.Has.Has(recommender.ResourceCPU) && s.Usage.CPU != want {
					t.Errorf("%s at %v: CPU %v, want %v", s.Key, s.Time, s.Usage.CPU, want)
				}
				if s.Usage.Memory != 64<<20 {
					t.Errorf("%s at %v: memory %v", s.Key, s.Time, s.Usage.Memory)
				}
				if s.Time.Before(end.Add(-3*time.Hour)) || s.Time.After(end) {
					t.Errorf("sample at %v, outside the history", s.Time)
				}
			}
			web := func(ns string) recommender.ContainerKey {
				return recommender.ContainerKey{WorkloadKey: recommender.WorkloadKey{Namespace: ns, Kind: "Deployment", Name: "web"}, Container: "app"}
			}
			want := map[recommender.ContainerKey]int{web("shop"): 7 * 181, web("ops"): 2 * 181}
			if len(perKey) != len(want) || perKey[web("shop")] != want[web("shop")] || perKey[web("ops")] != want[web("ops")] {
				t.Errorf("samples per container %v, want %v", perKey, want)
			}
			// The CPU rate continues across windows: only the very first
			// step of each pod lacks one.
			cpu := 0
			for _, s := range sink.samples {
				if s.Usage.Has.Has(recommender.ResourceCPU) {
					cpu++
				}
			}
			if cpu != 9*180 {
				t.Errorf("%d CPU samples, want %d", cpu, 9*180)
			}
			if got := promtest.Counter(t, reg, "rightsizer_prombackfill_samples_total", "result", "ingested"); got != float64(len(sink.samples)) {
				t.Errorf("samples_total{ingested} = %v, want %d", got, len(sink.samples))
			}
		})
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	const timeoutBody = `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`
	tests := []struct {
		name    string
		fail    func(path string, n int) (int, string)
		retries int
		failed  int
		errSays string
	}{
		{
			name: "429 and 5xx are retried",
			fail: func(path string, n int) (int, string) {
				switch n {
				case 2:
					return http.StatusTooManyRequests, ""
				case 3:
					return http.StatusServiceUnavailable, "overloaded"
				case 4:
					return http.StatusBadGateway, ""
				}
				return 0, ""
			},
			retries: 3,
		},
		{
			name: "bad queries are not retried",
			fail: func(path string, n int) (int, string) {
				if path == "/api/v1/query_range" && n == 3 {
					return http.StatusBadRequest, `{"status":"error","errorType":"bad_data","error":"parse error"}`
				}
				return 0, ""
			},
			failed:  1,
			errSays: "parse error",
		},
		{
			name: "a query that timed out on the server is not retried",
			fail: func(path string, n int) (int, string) {
				if path == "/api/v1/query_range" && n == 3 {
					return http.StatusServiceUnavailable, timeoutBody
				}
				return 0, ""
			},
			failed:  1,
			errSays: "timed out",
		},
		{
			name: "retries give up after MaxRetries",
			fail: func(path string, n int) (int, string) {
				if path == "/api/v1/series" && n < 8 {
					return http.StatusInternalServerError, "boom"
				}
				return 0, ""
			},
			retries: 3 + 2, // a window's four tries, and two more of the next window
			failed:  1,
			errSays: "500",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeProm{series: fakeCluster("shop", 1, 250), fail: tc.fail}
			o := fastOptions()
			reg := prometheus.NewRegistry()
			o.Registerer = reg
			s := newSource(t, f, o)
			err := s.Run(t.Context(), &countingSink{})
			if tc.errSays == "" && err != nil || tc.errSays != "" && (err == nil || !strings.Contains(err.Error(), tc.errSays)) {
				t.Errorf("error %v, want one saying %q", err, tc.errSays)
			}
			if got := testutil.ToFloat64(s.metrics.retries); got != float64(tc.retries) {
				t.Errorf("%v retries, want %d", got, tc.retries)
			}
			if got := testutil.ToFloat64(s.metrics.failed); got != float64(tc.failed) {
				t.Errorf("%v failed requests, want %d", got, tc.failed)
			}
		})
	}
}

func TestStopsAfterTooManyFailures(t *testing.T) {
	t.Parallel()
	var ns []fakeSeries
	for i := range 10 {
		ns = append(ns, fakeCluster(fmt.Sprintf("ns-%d", i), 1, 100)...)
	}
	f := &fakeProm{series: ns, fail: func(path string, _ int) (int, string) {
		if path == "/api/v1/series" {
			return http.StatusServiceUnavailable, "down"
		}
		return 0, ""
	}}
	o := fastOptions()
	o.MaxFailedQueries, o.MaxRetries = 3, 1
	err := newSource(t, f, o).Run(t.Context(), &countingSink{})
	if !errors.Is(err, errTooManyFailures) {
		t.Fatalf("error %v, want %v", err, errTooManyFailures)
	}
	// The namespace listing, then at most MaxFailedQueries failures (two
	// tries each) per worker before all stop.
	// A cancelled request's handler may still run: read under the lock.
	if n, _, _ := f.seen(); n > 1+o.Concurrency*o.MaxFailedQueries*2 {
		t.Errorf("%d requests after the backfill should have stopped", n)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	f := &fakeProm{series: fakeCluster("shop", 1, 250), fail: func(path string, _ int) (int, string) {
		if path == "/api/v1/series" {
			cancel()
		}
		return 0, ""
	}}
	if err := newSource(t, f, fastOptions()).Run(ctx, &countingSink{}); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

func TestNamespaceFilters(t *testing.T) {
	t.Parallel()
	f := &fakeProm{series: slices.Concat(fakeCluster("a", 1, 1), fakeCluster("b", 1, 1), fakeCluster("c", 1, 1))}
	o := fastOptions()
	o.ExcludeNamespaces = []string{"b"}
	sink := &countingSink{}
	if err := newSource(t, f, o).Run(t.Context(), sink); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range sink.samples {
		seen[s.Key.Namespace] = true
	}
	if !seen["a"] || seen["b"] || !seen["c"] {
		t.Errorf("namespaces read: %v", seen)
	}
	o.Namespaces, o.ExcludeNamespaces = []string{"b"}, nil
	sink = &countingSink{}
	f2 := &fakeProm{series: f.series}
	if err := newSource(t, f2, o).Run(t.Context(), sink); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(f2.requests, "/api/v1/label/namespace/values") {
		t.Error("listed namespaces although they were given")
	}
	for _, s := range sink.samples {
		if s.Key.Namespace != "b" {
			t.Fatalf("sample of %s", s.Key)
		}
	}
}

func TestWindows(t *testing.T) {
	t.Parallel()
	at := func(h, m int) time.Time { return end.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	tests := []struct {
		from, to time.Time
		w        time.Duration
		want     []window
	}{
		{at(-3, 0), at(0, 0), time.Hour, []window{{at(-3, 0), at(-2, -1)}, {at(-2, 0), at(-1, -1)}, {at(-1, 0), at(0, -1)}, {at(0, 0), at(0, 0)}}},
		{at(-1, 0), at(0, 0), 6 * time.Hour, []window{{at(-1, 0), at(0, 0)}}},
		{at(0, 0), at(0, 0), time.Hour, []window{{at(0, 0), at(0, 0)}}},
		{at(0, 0), at(0, 2), time.Minute, []window{{at(0, 0), at(0, 0)}, {at(0, 1), at(0, 1)}, {at(0, 2), at(0, 2)}}},
	}
	for _, tc := range tests {
		if got := windows(tc.from, tc.to, tc.w, time.Minute); !slices.Equal(got, tc.want) {
			t.Errorf("windows(%v, %v, %v) =\n %v, want\n %v", tc.from, tc.to, tc.w, got, tc.want)
		}
	}
}

func TestBatches(t *testing.T) {
	t.Parallel()
	sets := func(pods ...string) []model.LabelSet {
		var out []model.LabelSet
		for _, p := range pods {
			out = append(out, model.LabelSet{"pod": model.LabelValue(p)})
		}
		return out
	}
	tests := []struct {
		sets []model.LabelSet
		max  int
		want []string
	}{
		{nil, 3, nil},
		{sets("a", "a", "b"), 3, []string{""}},
		{sets("a", "a", "b", "c"), 3, []string{"a|b", "c"}},
		{sets("x.y", "x.y", "x.y", "z", "a+b"), 2, []string{`a\+b`, `x\.y`, "z"}},
	}
	for _, tc := range tests {
		if got := batches(tc.sets, tc.max); !slices.Equal(got, tc.want) {
			t.Errorf("batches(%v, %d) = %q, want %q", tc.sets, tc.max, got, tc.want)
		}
	}
}

func TestMetricsSelector(t *testing.T) {
	t.Parallel()
	got := metricsSelector(promseries.ContainerMetrics(), `we"ird`)
	want := `{__name__=~"container_cpu_usage_seconds_total|container_memory_working_set_bytes|container_cpu_cfs_throttled_periods_total|container_cpu_cfs_periods_total|kube_pod_container_status_restarts_total|kube_pod_container_status_last_terminated_reason",namespace="we\"ird",container!="",container!="POD",cpu=~"|total",reason=~"|OOMKilled"}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got, want := metricsSelector(promseries.OwnerMetrics(), "ns"), `{__name__=~"kube_pod_owner|kube_replicaset_owner|kube_job_owner",namespace="ns"}`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	o := DefaultOptions()
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	o.History, o.Step, o.Concurrency, o.QPS, o.MaxSeriesPerQuery = 0, 10*time.Second, 0, 0, 0
	o.Namespaces, o.ExcludeNamespaces = []string{"shop", "Bad_NS"}, []string{"shop"}
	err := o.Validate()
	for _, want := range []string{"history", "step", "concurrency", "QPS", "max series", `namespace "Bad_NS"`, "both included and excluded"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
	o = DefaultOptions()
	o.Window, o.Step = 14*24*time.Hour, time.Minute
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "11000") {
		t.Errorf("error %v, want one about Prometheus' 11000 points", err)
	}
}

func TestLogs(t *testing.T) {
	t.Parallel()
	var logs promtest.SyncBuffer
	o := fastOptions()
	o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := &fakeProm{series: fakeCluster("shop", 2, 250), fail: func(path string, n int) (int, string) {
		if n == 3 {
			return http.StatusServiceUnavailable, "busy"
		}
		return 0, ""
	}}
	if err := newSource(t, f, o).Run(t.Context(), &countingSink{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`msg="prometheus backfill started" namespaces=1 windows=4`,
		`msg="prometheus request retried" path=/api/v1/query_range attempt=1 code=503`,
		`msg="prometheus backfill finished" namespaces=1 windows_done=4 windows_total=4 samples=362 oom_kills=0 failed_requests=0`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}
}
