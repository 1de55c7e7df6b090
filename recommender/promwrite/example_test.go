package promwrite_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/promwrite"
)

// Two scrapes of one container arrive as a Prometheus would send them;
// the engine gets one sample per scrape (the first has no CPU rate yet),
// keyed by the Deployment that kube_pod_owner and kube_replicaset_owner
// name.
func Example() {
	engine, err := recommender.NewEngine(recommender.DefaultOptions())
	if err != nil {
		panic(err)
	}
	opts := promwrite.DefaultOptions()
	opts.OwnerWarmup = 0 // the owners come with the samples
	recv, err := promwrite.New(engine, opts)
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(recv)
	defer srv.Close()

	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	for i, cpuSeconds := range []float64{1000, 1015} { // 0.5 cores over 30 s
		ts := t0.Add(time.Duration(i) * 30 * time.Second).UnixMilli()
		wr := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
			{Labels: labels("kube_pod_owner", "namespace", "shop", "owner_is_controller", "true", "owner_kind", "ReplicaSet", "owner_name", "web-5d", "pod", "web-5d-x7k2p"),
				Samples: []prompb.Sample{{Value: 1, Timestamp: ts}}},
			{Labels: labels("kube_replicaset_owner", "namespace", "shop", "owner_is_controller", "true", "owner_kind", "Deployment", "owner_name", "web", "replicaset", "web-5d"),
				Samples: []prompb.Sample{{Value: 1, Timestamp: ts}}},
			{Labels: labels("container_cpu_usage_seconds_total", "container", "app", "namespace", "shop", "pod", "web-5d-x7k2p"),
				Samples: []prompb.Sample{{Value: cpuSeconds, Timestamp: ts}}},
			{Labels: labels("container_memory_working_set_bytes", "container", "app", "namespace", "shop", "pod", "web-5d-x7k2p"),
				Samples: []prompb.Sample{{Value: 256 << 20, Timestamp: ts}}},
		}}
		raw, err := wr.Marshal()
		if err != nil {
			panic(err)
		}
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/write", bytes.NewReader(snappy.Encode(nil, raw)))
		if err != nil {
			panic(err)
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Content-Encoding", "snappy")
		req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
		resp, err := srv.Client().Do(req)
		if err != nil {
			panic(err)
		}
		_ = resp.Body.Close()
		fmt.Println(resp.Status)
	}
	// At shutdown, hand over the sample still waiting for its join.
	if err := recv.Flush(); err != nil {
		panic(err)
	}
	for _, r := range engine.List(recommender.Filter{}) {
		fmt.Println(r.ContainerKey, r.Samples, "samples")
	}
	// Output:
	// 204 No Content
	// 204 No Content
	// shop/Deployment/web/app 2 samples
}

// labels returns a metric's labels, which must come sorted by name.
func labels(name string, kv ...string) []prompb.Label {
	ls := []prompb.Label{{Name: "__name__", Value: name}}
	for i := 0; i+1 < len(kv); i += 2 {
		ls = append(ls, prompb.Label{Name: kv[i], Value: kv[i+1]})
	}
	return ls
}
