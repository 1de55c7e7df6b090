package promwrite

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rightsizer/rightsizer/recommender"
)

// discardSink counts what it is given.
type discardSink struct{ samples, ooms int }

func (d *discardSink) Ingest(s []recommender.Sample) error       { d.samples += len(s); return nil }
func (d *discardSink) RecordOOM(recommender.OOMEvent) error      { d.ooms++; return nil }
func (d *discardSink) UpsertWorkload(recommender.Workload) error { return nil }

// benchRequests builds n consecutive scrapes of a cluster slice as one
// request each: pods × containers containers, each with the four cAdvisor
// series and kube-state-metrics' restart count, plus the owners of every
// pod and ReplicaSet. The labels are those kubelet and kube-state-metrics
// give in a kube-prometheus-stack install.
func benchRequests(b *testing.B, n, pods, containers int) (reqs [][]byte, points int) {
	b.Helper()
	const interval = 15 * time.Second
	for i := range n {
		ts := t0.Add(time.Duration(i) * interval).UnixMilli()
		var series []prompb.TimeSeries
		sample := func(v float64) prompb.Sample { return prompb.Sample{Timestamp: ts, Value: v} }
		for p := range pods {
			rs := fmt.Sprintf("svc-%02d-7d9f8b6c5d", p%20)
			pod := fmt.Sprintf("%s-%05x", rs, p*7919)
			series = append(series, seriesOf("kube_pod_owner", sample(1),
				"namespace", "team-a", "pod", pod, "owner_kind", "ReplicaSet", "owner_name", rs, "owner_is_controller", "true",
				"uid", fmt.Sprintf("0b7c%04x-9d1e-4f2a-8c3b-5e6f7a8b9c0d", p)))
			if p < 20 {
				series = append(series, seriesOf("kube_replicaset_owner", sample(1),
					"namespace", "team-a", "replicaset", rs, "owner_kind", "Deployment", "owner_name", rs[:6], "owner_is_controller", "true"))
			}
			for c := range containers {
				ctr := fmt.Sprintf("c%d", c)
				cad := []string{"namespace", "team-a", "pod", pod, "container", ctr,
					"id", fmt.Sprintf("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%d.slice/cri-containerd-%064x.scope", p, p*31+c),
					"image", "registry.example.com/team-a/" + ctr + ":v1.42.0", "name", fmt.Sprintf("%064x", p*31+c),
					"instance", fmt.Sprintf("10.0.%d.%d:10250", p/250, p%250), "job", "kubelet", "metrics_path", "/metrics/cadvisor",
					"endpoint", "https-metrics", "node", fmt.Sprintf("ip-10-0-%d-%d", p/250, p%250), "service", "kubelet"}
				work := float64(i) * 0.25 * 15 * float64(1+p%4)
				series = append(series,
					seriesOf("container_cpu_usage_seconds_total", sample(work), cad...),
					seriesOf("container_memory_working_set_bytes", sample(float64((100+p%50)<<20)), cad...),
					seriesOf("container_cpu_cfs_periods_total", sample(float64(i*150)), cad...),
					seriesOf("container_cpu_cfs_throttled_periods_total", sample(float64(i*3)), cad...),
					seriesOf("kube_pod_container_status_restarts_total", sample(0),
						"namespace", "team-a", "pod", pod, "container", ctr, "uid", fmt.Sprintf("0b7c%04x-9d1e-4f2a-8c3b-5e6f7a8b9c0d", p),
						"instance", "10.0.99.1:8080", "job", "kube-state-metrics"))
			}
		}
		points = len(series)
		reqs = append(reqs, encode(b, series...))
	}
	return reqs, points
}

func seriesOf(name string, s prompb.Sample, kv ...string) prompb.TimeSeries {
	return series(name, kv, s)
}

// BenchmarkRemoteWrite measures a remote-write request end to end short of
// the network: snappy, protobuf, the mapping, the handler. Each request is
// one scrape of 200 pods × 2 containers (2,220 points, ~100 KiB
// compressed, as Prometheus' max_samples_per_send of 2,000 gives).
// Requests follow each other in time, so counters give rates; every 256
// requests the receiver starts afresh (outside the timer), which costs
// one request's worth of new state per 256.
func BenchmarkRemoteWrite(b *testing.B) {
	const n = 256
	reqs, points := benchRequests(b, n, 200, 2)
	b.SetBytes(int64(len(reqs[0])))
	b.ReportAllocs()
	sink := &discardSink{}
	fresh := func() *Receiver {
		o := DefaultOptions()
		o.OwnerWarmup, o.MaxFutureSkew = 0, 0
		o.Clock = clocktesting.NewFakePassiveClock(t0.Add(time.Hour))
		r, err := New(sink, o)
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	r := fresh()
	rec := httptest.NewRecorder()
	i := 0
	for b.Loop() {
		if i == n {
			b.StopTimer()
			r, i = fresh(), 0
			b.StartTimer()
		}
		req := httptest.NewRequest(http.MethodPost, "/api/v1/write", bytes.NewReader(reqs[i]))
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Content-Encoding", "snappy")
		rec.Body.Reset()
		r.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent {
			b.Fatalf("code %d: %s", rec.Code, rec.Body)
		}
		i++
	}
	b.ReportMetric(float64(points)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(float64(sink.samples)/float64(b.N), "samples/req")
}
