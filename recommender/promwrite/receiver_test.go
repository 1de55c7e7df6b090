package promwrite

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/prompb"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/internal/promtest"
)

// recordingSink records what it is given. Safe for concurrent use.
type recordingSink struct {
	mu      sync.Mutex
	samples []recommender.Sample
	ooms    []recommender.OOMEvent
	err     error         // returned by Ingest, if set
	changed chan struct{} // signalled (without blocking) after each call
}

func newRecordingSink() *recordingSink { return &recordingSink{changed: make(chan struct{}, 1)} }

func (s *recordingSink) Ingest(samples []recommender.Sample) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.signal()
	if s.err != nil {
		return s.err
	}
	var ie recommender.IngestError
	for i, smp := range samples {
		if err := smp.Key.Validate(); err != nil {
			ie.Rejected++
			ie.Samples = append(ie.Samples, &recommender.SampleError{Index: i, Key: smp.Key, Err: err})
			continue
		}
		s.samples = append(s.samples, smp)
	}
	if ie.Rejected > 0 {
		return &ie
	}
	return nil
}

func (s *recordingSink) RecordOOM(ev recommender.OOMEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.signal()
	s.ooms = append(s.ooms, ev)
	return nil
}

func (s *recordingSink) UpsertWorkload(recommender.Workload) error { return nil }

func (s *recordingSink) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *recordingSink) snapshot() ([]recommender.Sample, []recommender.OOMEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.samples), slices.Clone(s.ooms)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// series builds a remote-write series with sorted labels.
func series(name string, kv []string, pts ...prompb.Sample) prompb.TimeSeries {
	ls := []prompb.Label{{Name: "__name__", Value: name}}
	for i := 0; i+1 < len(kv); i += 2 {
		ls = append(ls, prompb.Label{Name: kv[i], Value: kv[i+1]})
	}
	slices.SortFunc(ls, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })
	return prompb.TimeSeries{Labels: ls, Samples: pts}
}

func at(d time.Duration, v float64) prompb.Sample {
	return prompb.Sample{Timestamp: t0.Add(d).UnixMilli(), Value: v}
}

func cadvisor(ns, pod, ctr string) []string {
	return []string{"namespace", ns, "pod", pod, "container", ctr, "id", "/kubepods/" + pod + "/" + ctr,
		"image", "registry.example/app:1.2.3", "instance", "10.0.0.7:10250", "job", "kubelet", "metrics_path", "/metrics/cadvisor"}
}

// encode marshals and snappy-compresses a request.
func encode(t testing.TB, ts ...prompb.TimeSeries) []byte {
	t.Helper()
	wr := prompb.WriteRequest{Timeseries: ts}
	b, err := wr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, b)
}

// post sends body with remote-write 1.0's headers, and the overrides.
func post(h http.Handler, body []byte, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/api/v1/write", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func testOptions() Options {
	o := DefaultOptions()
	o.OwnerWarmup, o.JoinDelay, o.MaxFutureSkew = 0, 0, 0
	o.Clock = clocktesting.NewFakePassiveClock(t0.Add(time.Hour))
	return o
}

func newReceiver(t testing.TB, sink recommender.Sink, o Options) *Receiver {
	t.Helper()
	r, err := New(sink, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRequests(t *testing.T) {
	t.Parallel()
	valid := func(t testing.TB) []byte {
		return encode(t,
			series("container_memory_working_set_bytes", cadvisor("shop", "web-1", "app"), at(0, 1<<20)),
			series("kube_pod_owner", []string{"namespace", "shop", "pod", "web-1", "owner_kind", "StatefulSet", "owner_name", "web", "owner_is_controller", "true"}, at(0, 1)))
	}
	// A body whose snappy header claims 1 GiB decoded.
	huge := binary.AppendUvarint(nil, 1<<30)
	huge = append(huge, 0, 0, 0)
	tests := []struct {
		name    string
		method  string
		body    func(t testing.TB) []byte
		hdr     []string
		code    int
		msg     string
		samples int
		chunked bool // no Content-Length
	}{
		{name: "valid", body: valid, code: http.StatusNoContent, samples: 1},
		{name: "remote-write 1.0 under 2.0's explicit content type", body: valid,
			hdr: []string{"Content-Type", "application/x-protobuf;proto=prometheus.WriteRequest"}, code: http.StatusNoContent, samples: 1},
		{name: "GET", method: http.MethodGet, body: valid, code: http.StatusMethodNotAllowed, msg: "use POST"},
		{name: "no content type", body: valid, hdr: []string{"Content-Type", ""}, code: http.StatusBadRequest, msg: "missing Content-Type"},
		{name: "json", body: valid, hdr: []string{"Content-Type", "application/json"}, code: http.StatusBadRequest, msg: "want application/x-protobuf"},
		{name: "garbled content type", body: valid, hdr: []string{"Content-Type", "application/x-protobuf; ;="}, code: http.StatusBadRequest, msg: "Content-Type"},
		{name: "remote-write 2.0", body: valid, hdr: []string{"Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request"},
			code: http.StatusUnsupportedMediaType, msg: "remote-write 1.0"},
		{name: "no encoding", body: valid, hdr: []string{"Content-Encoding", ""}, code: http.StatusBadRequest, msg: "want snappy"},
		{name: "gzip", body: valid, hdr: []string{"Content-Encoding", "gzip"}, code: http.StatusBadRequest, msg: "want snappy"},
		{name: "not snappy", body: func(testing.TB) []byte { return []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} },
			code: http.StatusBadRequest, msg: "not snappy"},
		{name: "snappy framed stream instead of block", body: func(t testing.TB) []byte {
			var b bytes.Buffer
			w := snappy.NewBufferedWriter(&b)
			if _, err := w.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}, code: http.StatusBadRequest, msg: "not"},
		{name: "snappy but not protobuf", body: func(testing.TB) []byte { return snappy.Encode(nil, []byte("\xff\xff\xff garbage")) },
			code: http.StatusBadRequest, msg: "not a prometheus.WriteRequest"},
		{name: "empty body", body: func(testing.TB) []byte { return nil }, code: http.StatusBadRequest, msg: "not snappy"},
		{name: "decoded size over the limit", body: func(testing.TB) []byte { return huge }, code: http.StatusRequestEntityTooLarge, msg: "decoded size 1073741824"},
		{name: "body over the limit", body: func(testing.TB) []byte { return make([]byte, snappy.MaxEncodedLen(1<<16)+1) },
			code: http.StatusRequestEntityTooLarge, msg: "request too large: body of 65544 bytes"},
		{name: "chunked body over the limit", chunked: true, body: func(testing.TB) []byte { return make([]byte, snappy.MaxEncodedLen(1<<16)+1) },
			code: http.StatusRequestEntityTooLarge, msg: "request too large: body over 65543 bytes"},
		{name: "empty request", body: func(t testing.TB) []byte { return encode(t) }, code: http.StatusNoContent},
		{name: "metadata is skipped", body: func(t testing.TB) []byte {
			wr := prompb.WriteRequest{
				Timeseries: []prompb.TimeSeries{series("container_memory_working_set_bytes", cadvisor("shop", "web-1", "app"), at(0, 1))},
				Metadata:   []prompb.MetricMetadata{{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "container_memory_working_set_bytes", Help: "Working set."}},
			}
			b, err := wr.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			return snappy.Encode(nil, b)
		}, code: http.StatusNoContent, samples: 1},
		{name: "timeseries of the wrong wire type", body: func(testing.TB) []byte { return snappy.Encode(nil, []byte{0x08, 0x01}) },
			code: http.StatusBadRequest, msg: "wire type"},
		{name: "truncated series", body: func(t testing.TB) []byte {
			b, err := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{series("x", []string{"a", "b"}, at(0, 1))}}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			return snappy.Encode(nil, b[:len(b)-3])
		}, code: http.StatusBadRequest, msg: "not a prometheus.WriteRequest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := newRecordingSink()
			o := testOptions()
			o.MaxDecodedBytes = 1 << 16
			reg := prometheus.NewRegistry()
			o.Registerer = reg
			r := newReceiver(t, sink, o)
			var body io.Reader = bytes.NewReader(tc.body(t))
			if tc.chunked {
				body = io.MultiReader(body)
			}
			req := httptest.NewRequest(cmpOr(tc.method, http.MethodPost), "/api/v1/write", body)
			req.Header.Set("Content-Type", "application/x-protobuf")
			req.Header.Set("Content-Encoding", "snappy")
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				if tc.hdr[i+1] == "" {
					req.Header.Del(tc.hdr[i])
				} else {
					req.Header.Set(tc.hdr[i], tc.hdr[i+1])
				}
			}
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("code %d, want %d (%s)", rec.Code, tc.code, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tc.msg) {
				t.Errorf("body %q does not say %q", rec.Body, tc.msg)
			}
			if got, _ := sink.snapshot(); len(got) != tc.samples {
				t.Errorf("%d samples, want %d", len(got), tc.samples)
			}
			if n := testutil.ToFloat64(r.metrics.requests.WithLabelValues(strconv.Itoa(tc.code))); n != 1 {
				t.Errorf("requests_total{code=%d} = %v", tc.code, n)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestMapping sends realistic cAdvisor and kube-state-metrics requests
// and checks the samples, kills and counters.
func TestMapping(t *testing.T) {
	t.Parallel()
	sink := newRecordingSink()
	o := testOptions()
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	r := newReceiver(t, sink, o)
	ksm := func(ns, pod, ctr string, kv ...string) []string {
		return append([]string{"namespace", ns, "pod", pod, "container", ctr, "job", "kube-state-metrics", "uid", "u1"}, kv...)
	}
	reqs := [][]prompb.TimeSeries{
		{
			series("kube_pod_owner", []string{"namespace", "shop", "pod", "web-5d-x", "owner_kind", "ReplicaSet", "owner_name", "web-5d", "owner_is_controller", "true"}, at(0, 1)),
			series("kube_replicaset_owner", []string{"namespace", "shop", "replicaset", "web-5d", "owner_kind", "Deployment", "owner_name", "web", "owner_is_controller", "true"}, at(0, 1)),
			series("container_cpu_usage_seconds_total", cadvisor("shop", "web-5d-x", "app"), at(0, 100)),
			series("container_cpu_usage_seconds_total", cadvisor("shop", "web-5d-x", ""), at(0, 100)),
			series("container_memory_working_set_bytes", cadvisor("shop", "web-5d-x", "app"), at(0, 64<<20)),
			series("kube_pod_container_status_restarts_total", ksm("shop", "web-5d-x", "app"), at(0, 2)),
			series("up", []string{"job", "kubelet"}, at(0, 1)),
		},
		{
			// The next scrape, with a hostile series in the middle.
			series("container_cpu_usage_seconds_total", cadvisor("shop", "web-5d-x", "app"), at(30*time.Second, 115)),
			series("container_memory_working_set_bytes", cadvisor("shop", strings.Repeat("x", 1000), "app"), at(30*time.Second, 1)),
			series("container_memory_working_set_bytes", cadvisor("shop", "web-5d-x", "app"), at(30*time.Second, -5), at(31*time.Second, 80<<20)),
			series("kube_pod_container_status_restarts_total", ksm("shop", "web-5d-x", "app"), at(30*time.Second, 3)),
			series("kube_pod_container_status_last_terminated_reason", ksm("shop", "web-5d-x", "app", "reason", "OOMKilled"), at(30*time.Second, 1)),
		},
	}
	for i, ts := range reqs {
		if rec := post(r, encode(t, ts...)); rec.Code != http.StatusNoContent {
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	k := recommender.ContainerKey{WorkloadKey: recommender.WorkloadKey{Namespace: "shop", Kind: "Deployment", Name: "web"}, Container: "app"}
	cpu := recommender.ResourceSet(0).With(recommender.ResourceCPU)
	mem := recommender.ResourceSet(0).With(recommender.ResourceMemory)
	want := []recommender.Sample{
		{Key: k, Time: t0, Usage: recommender.Usage{Memory: 64 << 20, Has: mem}},
		{Key: k, Time: t0.Add(30 * time.Second), Usage: recommender.Usage{CPU: 500, Has: cpu}},
		{Key: k, Time: t0.Add(31 * time.Second), Usage: recommender.Usage{Memory: 80 << 20, Has: mem}},
	}
	samples, ooms := sink.snapshot()
	if !slices.EqualFunc(samples, want, func(a, b recommender.Sample) bool {
		return a.Key == b.Key && a.Time.Equal(b.Time) && a.Usage == b.Usage
	}) {
		t.Errorf("samples:\n got %v\nwant %v", samples, want)
	}
	if len(ooms) != 1 || ooms[0].Key != k || !ooms[0].Time.Equal(t0.Add(30*time.Second)) {
		t.Errorf("OOM kills: %v", ooms)
	}
	for _, c := range []struct {
		metric string
		want   float64
	}{
		{"rightsizer_promwrite_series_total", 12},
		{"rightsizer_promwrite_points_total", 13},
		{"rightsizer_promwrite_ignored_series_total", 2},
		{"rightsizer_promwrite_requests_total", 2},
	} {
		if got := counterSum(t, reg, c.metric); got != c.want {
			t.Errorf("%s = %v, want %v", c.metric, got, c.want)
		}
	}
	for reason, want := range map[string]float64{"invalid_value": 1, "invalid_labels": 1} {
		if got := promtest.Counter(t, reg, "rightsizer_promwrite_dropped_points_total", "reason", reason); got != want {
			t.Errorf("dropped{%s} = %v, want %v", reason, got, want)
		}
	}
	if got := promtest.Counter(t, reg, "rightsizer_promwrite_samples_total", "result", "ingested"); got != 3 {
		t.Errorf("samples ingested = %v", got)
	}
}

// counterSum sums every series of a counter family in reg.
func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func TestSinkFailure(t *testing.T) {
	t.Parallel()
	sink := newRecordingSink()
	sink.err = errors.New("disk full")
	r := newReceiver(t, sink, testOptions())
	rec := post(r, encode(t, series("container_memory_working_set_bytes", cadvisor("shop", "web-1", "app"), at(0, 1))))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "disk full") {
		t.Errorf("got %d %q, want 500 saying why", rec.Code, rec.Body)
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	o := DefaultOptions()
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	o.MaxDecodedBytes, o.MaxConcurrent, o.MaxInstances = 0, 0, -1
	err := o.Validate()
	for _, want := range []string{"max decoded bytes", "max concurrent", "max instances"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
	if _, err := New(newRecordingSink(), o); err == nil {
		t.Error("New accepted invalid options")
	}
}

// TestConcurrentRequests posts from several goroutines at once, as the
// sender's shards do, each its own pods: every sample arrives once.
func TestConcurrentRequests(t *testing.T) {
	t.Parallel()
	sink := newRecordingSink()
	o := testOptions()
	o.MaxConcurrent = 2
	r := newReceiver(t, sink, o)
	const shards, requests = 6, 20
	var wg sync.WaitGroup
	for s := range shards {
		wg.Go(func() {
			for i := range requests {
				pod := "web-" + strconv.Itoa(s)
				body := encode(t,
					series("container_cpu_usage_seconds_total", cadvisor("shop", pod, "app"), at(time.Duration(i)*time.Minute, float64(i*30))),
					series("container_memory_working_set_bytes", cadvisor("shop", pod, "app"), at(time.Duration(i)*time.Minute, 1<<20)))
				if rec := post(r, body); rec.Code != http.StatusNoContent {
					t.Errorf("shard %d request %d: %d %s", s, i, rec.Code, rec.Body)
				}
			}
		})
	}
	wg.Wait()
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	samples, _ := sink.snapshot()
	cpu := 0
	for _, smp := range samples {
		if smp.Usage.Has.Has(recommender.ResourceCPU) {
			cpu++
			if smp.Usage.CPU != 500 {
				t.Errorf("%s at %v: CPU %v, want 500m", smp.Key, smp.Time, smp.Usage.CPU)
			}
		}
	}
	if len(samples) != shards*requests || cpu != shards*(requests-1) {
		t.Errorf("%d samples (%d with CPU), want %d (%d)", len(samples), cpu, shards*requests, shards*(requests-1))
	}
}
