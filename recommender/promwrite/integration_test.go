package promwrite

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/internal/promtest"
)

// exportedContainer is one container the test exporter shows, with its
// constant usage.
type exportedContainer struct {
	pod, container string
	cpu            recommender.MilliCPU
	memory         recommender.Bytes
	throttled      float64 // fraction of CFS periods; 0: the container has no CPU limit, so no CFS series
}

// exporter serves cAdvisor- and kube-state-metrics-style series with
// explicit timestamps (the time of the scrape, in ms), so that counters
// are exact functions of the time Prometheus records: the CPU rate
// between any two scrapes is exactly the container's usage.
type exporter struct {
	base       time.Time
	containers []exportedContainer
	mu         sync.Mutex
	scrapes    int
}

// oomAfter is the scrape from which the app container of web-5d4f8-abcde
// has restarted once, killed at its memory limit.
const oomAfter = 6

func (e *exporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	e.scrapes++
	n := e.scrapes
	e.mu.Unlock()
	ts := time.Now().UnixMilli()
	elapsed := float64(ts-e.base.UnixMilli()) / 1000 // s
	var b strings.Builder
	line := func(name string, labels string, v float64) {
		fmt.Fprintf(&b, "%s{%s} %s %d\n", name, labels, strconvFloat(v), ts)
	}
	owners := map[string]bool{}
	for _, c := range e.containers {
		l := fmt.Sprintf(`namespace="shop",pod=%q,container=%q,id="/kubepods/%s/%s",image="app:1"`, c.pod, c.container, c.pod, c.container)
		line("container_cpu_usage_seconds_total", l, c.cpu.Cores()*elapsed)
		line("container_memory_working_set_bytes", l, float64(c.memory))
		if c.throttled > 0 {
			line("container_cpu_cfs_periods_total", l, 10*elapsed)
			line("container_cpu_cfs_throttled_periods_total", l, 10*c.throttled*elapsed)
		}
		ksm := fmt.Sprintf(`namespace="shop",pod=%q,container=%q,uid="u-%s"`, c.pod, c.container, c.pod)
		restarts := 0.0
		if c.pod == "web-5d4f8-abcde" && c.container == "app" && n >= oomAfter {
			restarts = 1
			line("kube_pod_container_status_last_terminated_reason", ksm+`,reason="OOMKilled"`, 1)
		}
		line("kube_pod_container_status_restarts_total", ksm, restarts)
		if !owners[c.pod] {
			owners[c.pod] = true
			// The pod cgroup's own series, which the mapping must skip.
			line("container_cpu_usage_seconds_total", fmt.Sprintf(`namespace="shop",pod=%q,container="",id="/kubepods/%s"`, c.pod, c.pod), elapsed)
			line("container_cpu_usage_seconds_total", fmt.Sprintf(`namespace="shop",pod=%q,container="POD",id="/kubepods/%s/pause"`, c.pod, c.pod), elapsed)
			switch {
			case strings.HasPrefix(c.pod, "web-5d4f8-"):
				line("kube_pod_owner", fmt.Sprintf(`namespace="shop",pod=%q,owner_kind="ReplicaSet",owner_name="web-5d4f8",owner_is_controller="true"`, c.pod), 1)
			case c.pod == "debug":
				line("kube_pod_owner", `namespace="shop",pod="debug",owner_kind="<none>",owner_name="<none>",owner_is_controller="<none>"`, 1)
			}
		}
	}
	line("kube_replicaset_owner", `namespace="shop",replicaset="web-5d4f8",owner_kind="Deployment",owner_name="web",owner_is_controller="true"`, 1)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write([]byte(b.String()))
}

func strconvFloat(v float64) string { return fmt.Sprintf("%.17g", v) }

// TestPrometheusRemoteWrite has a real Prometheus scrape a cAdvisor-like
// exporter every second and remote-write to the receiver, and checks that
// the samples arrive under the right workloads with the right CPU rates,
// memory and throttling, and that the OOM kill is seen.
func TestPrometheusRemoteWrite(t *testing.T) {
	t.Parallel()
	promBin, _ := promtest.Binaries(t)
	exp := &exporter{base: time.Now().Add(-time.Minute), containers: []exportedContainer{
		{pod: "web-5d4f8-abcde", container: "app", cpu: 250, memory: 100 << 20, throttled: 0.25},
		{pod: "web-5d4f8-abcde", container: "sidecar", cpu: 50, memory: 20 << 20},
		{pod: "web-5d4f8-fghij", container: "app", cpu: 250, memory: 100 << 20, throttled: 0.25},
		{pod: "web-5d4f8-fghij", container: "sidecar", cpu: 50, memory: 20 << 20},
		{pod: "debug", container: "shell", cpu: 10, memory: 5 << 20},
		{pod: "orphan", container: "main", cpu: 1500, memory: 1 << 30},
	}}
	exportSrv := httptest.NewServer(exp)
	defer exportSrv.Close()

	sink := newRecordingSink()
	o := DefaultOptions()
	// Owners come in the same scrape, but possibly another request.
	o.OwnerWarmup = 3 * time.Second
	o.Registerer = prometheus.NewRegistry()
	recv := newReceiver(t, sink, o)
	recvSrv := httptest.NewServer(recv)
	defer recvSrv.Close()

	config := fmt.Sprintf(`
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: cadvisor
    static_configs:
      - targets: [%q]
remote_write:
  - url: %s/api/v1/write
    queue_config:
      batch_send_deadline: 500ms
      min_backoff: 50ms
      max_backoff: 500ms
`, strings.TrimPrefix(exportSrv.URL, "http://"), recvSrv.URL)
	promtest.Start(t, promBin, config, t.TempDir())

	deployment := func(ctr string) recommender.ContainerKey {
		return recommender.ContainerKey{WorkloadKey: recommender.WorkloadKey{Namespace: "shop", Kind: "Deployment", Name: "web"}, Container: ctr}
	}
	pod := func(name, ctr string) recommender.ContainerKey {
		return recommender.ContainerKey{WorkloadKey: recommender.WorkloadKey{Namespace: "shop", Kind: "Pod", Name: name}, Container: ctr}
	}
	want := map[recommender.ContainerKey]exportedContainer{
		deployment("app"):     exp.containers[0],
		deployment("sidecar"): exp.containers[1],
		pod("debug", "shell"): exp.containers[4],
		pod("orphan", "main"): exp.containers[5],
	}
	const enough = 4 // CPU samples per key: two pods for the Deployment's
	deadline := time.After(90 * time.Second)
	for {
		samples, ooms := sink.snapshot()
		cpu := map[recommender.ContainerKey]int{}
		for _, s := range samples {
			if s.Usage.Has.Has(recommender.ResourceCPU) {
				cpu[s.Key]++
			}
		}
		done := len(ooms) > 0
		for k := range want {
			done = done && cpu[k] >= enough
		}
		if done {
			break
		}
		select {
		case <-sink.changed:
		case <-deadline:
			t.Fatalf("after 90 s: CPU samples per key %v, OOM kills %v", cpu, ooms)
		}
	}
	samples, ooms := sink.snapshot()
	throttled := 0
	for _, s := range samples {
		c, ok := want[s.Key]
		if !ok {
			t.Errorf("sample for unexpected container %s", s.Key)
			continue
		}
		u := s.Usage
		// The rate is exact up to float rounding of the counter; a
		// millicore of slack covers rounding to millicores.
		if u.Has.Has(recommender.ResourceCPU) && math.Abs(float64(u.CPU-c.cpu)) > 1 {
			t.Errorf("%s at %v: CPU %v, want %v", s.Key, s.Time, u.CPU, c.cpu)
		}
		if u.Has.Has(recommender.ResourceMemory) && u.Memory != c.memory {
			t.Errorf("%s at %v: memory %v, want %v", s.Key, s.Time, u.Memory, c.memory)
		}
		if u.HasThrottling {
			throttled++
			if math.Abs(u.ThrottledFraction-c.throttled) > 1e-6 {
				t.Errorf("%s at %v: throttled %v, want %v", s.Key, s.Time, u.ThrottledFraction, c.throttled)
			}
		}
		if !u.Has.Has(recommender.ResourceCPU) && !u.Has.Has(recommender.ResourceMemory) {
			t.Errorf("%s at %v: sample without CPU or memory: %+v", s.Key, s.Time, u)
		}
	}
	if throttled == 0 {
		t.Error("no throttling seen")
	}
	if len(ooms) != 1 || ooms[0].Key != deployment("app") {
		t.Errorf("OOM kills %v, want one of %s", ooms, deployment("app"))
	}
}
