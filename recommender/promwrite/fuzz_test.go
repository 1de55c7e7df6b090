package promwrite

import (
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/rightsizer/rightsizer/recommender"
)

// strictSink fails the test on anything the recommender would reject.
type strictSink struct{ t *testing.T }

func (s strictSink) Ingest(samples []recommender.Sample) error {
	for _, smp := range samples {
		if err := smp.Key.Validate(); err != nil {
			s.t.Fatalf("sample with invalid key %q: %v", smp.Key, err)
		}
		u := smp.Usage
		if u.Has == 0 && !u.HasThrottling || u.CPU < 0 || u.Memory < 0 ||
			u.HasThrottling && !(u.ThrottledFraction >= 0 && u.ThrottledFraction <= 1) {
			s.t.Fatalf("invalid usage %+v", u)
		}
	}
	return nil
}

func (s strictSink) RecordOOM(ev recommender.OOMEvent) error {
	if err := ev.Key.Validate(); err != nil {
		s.t.Fatalf("OOM kill with invalid key %q: %v", ev.Key, err)
	}
	return nil
}

func (strictSink) UpsertWorkload(recommender.Workload) error { return nil }

// FuzzRemoteWrite posts arbitrary bodies, either as they are or
// snappy-compressed (so that the fuzzer reaches the protobuf decoder and
// the mapping), and checks that the receiver answers 204, 400 or 413 and
// hands the sink only valid samples.
func FuzzRemoteWrite(f *testing.F) {
	owner := []string{"namespace", "shop", "pod", "web-1", "owner_kind", "ReplicaSet", "owner_name", "web-5d", "owner_is_controller", "true"}
	valid := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		series("kube_pod_owner", owner, at(0, 1)),
		series("container_cpu_usage_seconds_total", cadvisor("shop", "web-1", "app"), at(0, 1), at(time.Minute, 31)),
		series("container_memory_working_set_bytes", cadvisor("shop", "web-1", "app"), at(0, 1<<20), at(time.Minute, math.NaN())),
		series("kube_pod_container_status_restarts_total", cadvisor("shop", "web-1", "app"), at(0, 1), at(time.Minute, 2)),
		series("kube_pod_container_status_last_terminated_reason", append(cadvisor("shop", "web-1", "app"), "reason", "OOMKilled"), at(time.Minute, 1)),
		series("container_memory_working_set_bytes", cadvisor("shop", "web\xff", "a/b"), at(0, 1)),
	}}
	raw, err := valid.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw, true)
	f.Add(snappy.Encode(nil, raw), false)
	f.Add([]byte{}, true)
	f.Add([]byte("\xff\xff\xff\xff\x0f"), false)
	f.Add(raw[:len(raw)/2], true)
	f.Fuzz(func(t *testing.T, body []byte, compress bool) {
		if compress {
			body = snappy.Encode(nil, body)
		}
		o := testOptions()
		o.MaxDecodedBytes = 1 << 20
		o.MaxInstances, o.MaxOwners = 16, 16
		r := newReceiver(t, strictSink{t}, o)
		rec := post(r, body)
		switch rec.Code {
		case http.StatusNoContent, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("code %d: %s", rec.Code, rec.Body)
		}
		if err := r.Flush(); err != nil {
			t.Fatal(err)
		}
		// The receiver still works after whatever came before.
		if rec := post(r, snappy.Encode(nil, raw)); rec.Code != http.StatusNoContent {
			t.Fatalf("valid request after the fuzzed one: %d %s", rec.Code, rec.Body)
		}
	})
}
