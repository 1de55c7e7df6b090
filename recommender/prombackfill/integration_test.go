package prombackfill

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/client_golang/api"
	"github.com/prometheus/prometheus/prompb"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/internal/promseries"
	"github.com/rightsizer/rightsizer/recommender/internal/promtest"
	"github.com/rightsizer/rightsizer/recommender/promwrite"
)

// genSeries is one generated series: a point per minute index.
type genSeries struct {
	name   string
	labels [][2]string // sorted by name, without __name__
	points []genPoint
}

type genPoint struct {
	i int // minute index
	v float64
}

// history generates two days of cAdvisor and kube-state-metrics series at
// one point a minute, from a fixed seed, for two namespaces:
//
//   - shop/Deployment web: ReplicaSet web-5d4f8 (two pods) until minute
//     2400, then a rollout to web-7c9b2 (two new pods); containers app (a
//     daily CPU cycle, mostly throttled at its limit) and sidecar.
//   - shop/StatefulSet db, one pod with a slowly growing working set.
//   - shop/Pod debug, a bare pod for ten hours in the middle.
//   - batch/Deployment worker, two pods with bursty CPU; one is OOM-killed
//     at minute 2000 and restarts.
//   - batch/CronJob report, one Job's pod for an hour.
//
// Series that end (the old ReplicaSet's pods, debug, the Job's pod) do so
// without staleness markers, as promtool imports them.
func history(minutes int) (series []genSeries, ended map[recommender.ContainerKey]int) {
	rng := rand.New(rand.NewPCG(20260301, 5))
	ended = map[recommender.ContainerKey]int{}
	byName := map[string][]genSeries{}
	add := func(name string, kv []string, pts []genPoint) {
		var ls [][2]string
		for i := 0; i+1 < len(kv); i += 2 {
			ls = append(ls, [2]string{kv[i], kv[i+1]})
		}
		slices.SortFunc(ls, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
		byName[name] = append(byName[name], genSeries{name: name, labels: ls, points: pts})
	}
	constant := func(from, to int, v float64) []genPoint {
		var pts []genPoint
		for i := from; i < to; i++ {
			pts = append(pts, genPoint{i, v})
		}
		return pts
	}
	type container struct {
		ns, pod, ctr string
		key          recommender.ContainerKey
		from, to     int
		cpu          func(i int) float64 // cores over minute i
		mem          func(i int) float64 // bytes
		limit        float64             // CPU limit in cores; 0: none (no CFS series)
		oomAt        int                 // minute of an OOM kill; 0: none
	}
	daily := func(base, amp float64) func(int) float64 {
		return func(i int) float64 {
			return math.Max(0, base*(1+amp*math.Sin(2*math.Pi*float64(i)/1440))*math.Exp(0.15*rng.NormFloat64()))
		}
	}
	walk := func(start, step, lo, hi float64) func(int) float64 {
		v := start
		return func(int) float64 {
			v = math.Min(hi, math.Max(lo, v+step*rng.NormFloat64()))
			return math.Round(v)
		}
	}
	key := func(ns, kind, name, ctr string) recommender.ContainerKey {
		return recommender.ContainerKey{WorkloadKey: recommender.WorkloadKey{Namespace: ns, Kind: kind, Name: name}, Container: ctr}
	}
	var cs []container
	for _, rs := range []struct {
		name     string
		from, to int
	}{{"web-5d4f8", 0, 2400}, {"web-7c9b2", 2400, minutes}} {
		for _, suffix := range []string{"a1b2c", "d3e4f"} {
			pod := rs.name + "-" + suffix
			cs = append(cs,
				container{ns: "shop", pod: pod, ctr: "app", key: key("shop", "Deployment", "web", "app"), from: rs.from, to: rs.to,
					cpu: daily(0.35, 0.6), mem: walk(350<<20, 2<<20, 300<<20, 420<<20), limit: 0.15},
				container{ns: "shop", pod: pod, ctr: "sidecar", key: key("shop", "Deployment", "web", "sidecar"), from: rs.from, to: rs.to,
					cpu: daily(0.03, 0.2), mem: walk(30<<20, 256<<10, 28<<20, 34<<20)})
		}
	}
	growth := 0.0
	cs = append(cs,
		container{ns: "shop", pod: "db-0", ctr: "postgres", key: key("shop", "StatefulSet", "db", "postgres"), from: 0, to: minutes,
			cpu: daily(0.2, 0.4), mem: func(int) float64 { growth += 100 << 10; return math.Round(1<<30 + growth) }},
		container{ns: "shop", pod: "debug", ctr: "shell", key: key("shop", "Pod", "debug", "shell"), from: 600, to: 1200,
			cpu: daily(0.01, 0), mem: walk(8<<20, 64<<10, 6<<20, 10<<20)},
		container{ns: "batch", pod: "report-2901-x7k2p", ctr: "report", key: key("batch", "CronJob", "report", "report"), from: 1500, to: 1560,
			cpu: daily(0.9, 0), mem: walk(200<<20, 8<<20, 100<<20, 300<<20)},
	)
	for _, suffix := range []string{"q8r9s", "t1u2v"} {
		burst := func(int) float64 {
			if rng.Float64() < 0.1 {
				return 1.5 + 0.5*rng.Float64()
			}
			return 0.1 * rng.Float64()
		}
		c := container{ns: "batch", pod: "worker-6f7-" + suffix, ctr: "worker", key: key("batch", "Deployment", "worker", "worker"),
			from: 0, to: minutes, cpu: burst, mem: walk(500<<20, 4<<20, 400<<20, 700<<20), limit: 2}
		if suffix == "q8r9s" {
			c.oomAt = 2000
		}
		cs = append(cs, c)
	}
	for _, c := range cs {
		if c.to < minutes {
			ended[c.key]++
		}
		cad := []string{"namespace", c.ns, "pod", c.pod, "container", c.ctr, "id", "/kubepods/" + c.pod + "/" + c.ctr, "job", "kubelet"}
		ksm := []string{"namespace", c.ns, "pod", c.pod, "container", c.ctr, "job", "kube-state-metrics", "uid", "uid-" + c.pod}
		var cpu, mem, periods, throttled, restarts []genPoint
		var used, per, thr, rst float64
		for i := c.from; i < c.to; i++ {
			cores := c.cpu(i)
			if c.limit > 0 {
				// A minute has 600 CFS periods of 100 ms; demand over the
				// limit is throttled in proportion and capped at it.
				per += 600
				if cores > c.limit {
					thr += math.Round(600 * (1 - c.limit/cores))
					cores = c.limit
				}
			}
			used += cores * 60
			if i == c.oomAt && c.oomAt > 0 {
				rst++
			}
			cpu = append(cpu, genPoint{i, used})
			mem = append(mem, genPoint{i, c.mem(i)})
			restarts = append(restarts, genPoint{i, rst})
			periods = append(periods, genPoint{i, per})
			throttled = append(throttled, genPoint{i, thr})
		}
		add(promseries.MetricCPUUsage, cad, cpu)
		add(promseries.MetricMemoryWorkingSet, cad, mem)
		add(promseries.MetricRestarts, ksm, restarts)
		if c.limit > 0 {
			add(promseries.MetricPeriods, cad, periods)
			add(promseries.MetricThrottledPeriods, cad, throttled)
		}
		if c.oomAt > 0 {
			add(promseries.MetricLastTerminatedReason, append(ksm, "reason", promseries.ReasonOOMKilled), constant(c.oomAt, c.to, 1))
		}
		// Its pod's owner, once per pod.
		var kind, name string
		switch c.key.Kind {
		case "StatefulSet":
			kind, name = "StatefulSet", c.key.Name
		case "Pod":
			kind, name = "<none>", "<none>"
		case "CronJob":
			kind, name = "Job", c.pod[:strings.LastIndexByte(c.pod, '-')]
		default:
			kind, name = "ReplicaSet", c.pod[:strings.LastIndexByte(c.pod, '-')]
		}
		if c.ctr != "sidecar" {
			add(promseries.MetricPodOwner, []string{"namespace", c.ns, "pod", c.pod, "owner_kind", kind, "owner_name", name,
				"owner_is_controller", "true", "job", "kube-state-metrics"}, constant(c.from, c.to, 1))
		}
	}
	for _, o := range []struct {
		metric, label, obj, ns, kind, name string
		from, to                           int
	}{
		{promseries.MetricReplicaSetOwner, "replicaset", "web-5d4f8", "shop", "Deployment", "web", 0, minutes},
		{promseries.MetricReplicaSetOwner, "replicaset", "web-7c9b2", "shop", "Deployment", "web", 2400, minutes},
		{promseries.MetricReplicaSetOwner, "replicaset", "worker-6f7", "batch", "Deployment", "worker", 0, minutes},
		{promseries.MetricJobOwner, "job_name", "report-2901", "batch", "CronJob", "report", 1500, 1560},
	} {
		add(o.metric, []string{"namespace", o.ns, o.label, o.obj, "owner_kind", o.kind, "owner_name", o.name,
			"owner_is_controller", "true", "job", "kube-state-metrics"}, constant(o.from, o.to, 1))
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		series = append(series, byName[n]...)
	}
	return series, ended
}

// writeOpenMetrics writes the series as promtool reads them: grouped by
// metric, each series' points in time order, timestamps in seconds.
func writeOpenMetrics(t *testing.T, path string, series []genSeries, start time.Time) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for _, s := range series {
		var lb strings.Builder
		for i, l := range s.labels {
			if i > 0 {
				lb.WriteByte(',')
			}
			lb.WriteString(l[0] + "=" + strconv.Quote(l[1]))
		}
		for _, p := range s.points {
			ts := start.Add(time.Duration(p.i) * time.Minute).Unix()
			fmt.Fprintf(w, "%s{%s} %s %d\n", s.name, lb.String(), strconv.FormatFloat(p.v, 'g', -1, 64), ts)
		}
	}
	fmt.Fprintln(w, "# EOF")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// feedLive sends the series to a remote-write receiver as Prometheus
// would, one scrape (one minute) per request.
func feedLive(t *testing.T, sink recommender.Sink, series []genSeries, start time.Time, minutes int) {
	t.Helper()
	o := promwrite.DefaultOptions()
	o.OwnerWarmup = 0 // each request carries its pods' owners
	recv, err := promwrite.New(sink, o)
	if err != nil {
		t.Fatal(err)
	}
	next := make([]int, len(series)) // per series, its next point
	for i := range minutes {
		var wr prompb.WriteRequest
		for si, s := range series {
			if next[si] < len(s.points) && s.points[next[si]].i == i {
				ls := []prompb.Label{{Name: "__name__", Value: s.name}}
				for _, l := range s.labels {
					ls = append(ls, prompb.Label{Name: l[0], Value: l[1]})
				}
				slices.SortFunc(ls, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })
				wr.Timeseries = append(wr.Timeseries, prompb.TimeSeries{Labels: ls, Samples: []prompb.Sample{
					{Timestamp: start.Add(time.Duration(i) * time.Minute).UnixMilli(), Value: s.points[next[si]].v}}})
				next[si]++
			}
		}
		raw, err := wr.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/api/v1/write", bytes.NewReader(snappy.Encode(nil, raw)))
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Content-Encoding", "snappy")
		rec := httptest.NewRecorder()
		recv.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent {
			t.Fatalf("minute %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	if err := recv.Flush(); err != nil {
		t.Fatal(err)
	}
}

func newEngine(t *testing.T) *recommender.Engine {
	t.Helper()
	e, err := recommender.NewEngine(recommender.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestBackfillMatchesLive loads a real Prometheus with two days of
// generated history, backfills from it, and checks that the
// recommendations equal those of feeding the same series live through
// the remote-write receiver.
//
// Tolerance. Both paths map identical values (Prometheus stores and
// returns float64s exactly, and the step equals the data's interval) with
// the same code into engines with the same options, so containers whose
// series all run to the end must agree exactly. A series that ends without
// a staleness marker (as promtool imports it) is repeated by Prometheus'
// 5-minute lookback: the backfill sees up to 5 more points per ended
// instance (memory repeated, CPU zero). Out of 2,400 or more points per
// instance that moves a percentile's rank by at most 5/2,400 ≈ 0.2%, which
// can move the value across at most one sketch bucket: 2 × the 1%
// relative accuracy. So ended containers agree within 2% plus 1 unit of
// rounding, and their sample counts within 5 per ended instance.
func TestBackfillMatchesLive(t *testing.T) {
	t.Parallel()
	promBin, promtool := promtest.Binaries(t)
	const minutes = 48 * 60
	// The history ends 10 minutes ago, on a minute: blocks lie before the
	// head of the Prometheus started on them.
	end := time.Now().Truncate(time.Minute).Add(-10 * time.Minute)
	start := end.Add(-(minutes - 1) * time.Minute)
	series, ended := history(minutes)

	dir := t.TempDir()
	om := filepath.Join(dir, "history.om")
	writeOpenMetrics(t, om, series, start)
	data := filepath.Join(dir, "data")
	promtest.CreateBlocks(t, promtool, om, data)
	srv := promtest.Start(t, promBin, "global:\n  scrape_interval: 1m\n", data)

	live := newEngine(t)
	feedLive(t, live, series, start, minutes)

	back := newEngine(t)
	client, err := api.NewClient(api.Config{Address: srv.URL, Client: srv.Client})
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.History, o.End, o.Step, o.ScrapeInterval = minutes*time.Minute, end, time.Minute, time.Minute
	o.MaxSeriesPerQuery, o.QPS = 12, 200 // batches of a few pods; no need to wait on a private server
	src, err := New(client, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Run(t.Context(), back); err != nil {
		t.Fatal(err)
	}

	lr, br := live.List(recommender.Filter{}), back.List(recommender.Filter{})
	keys := func(rs []recommender.Recommendation) []recommender.ContainerKey {
		var ks []recommender.ContainerKey
		for _, r := range rs {
			ks = append(ks, r.ContainerKey)
		}
		return ks
	}
	if !slices.Equal(keys(lr), keys(br)) {
		t.Fatalf("containers differ:\n live     %v\n backfill %v", keys(lr), keys(br))
	}
	if len(lr) != 6 {
		t.Errorf("%d containers, want 6: %v", len(lr), keys(lr))
	}
	for i := range lr {
		l, b := &lr[i], &br[i]
		n := ended[l.ContainerKey]
		rel := 0.0
		if n > 0 {
			rel = 0.02
		}
		near := func(what string, x, y int64) {
			if math.Abs(float64(x-y)) > rel*math.Max(math.Abs(float64(x)), math.Abs(float64(y)))+float64(min(n, 1)) {
				t.Errorf("%s %s: live %d, backfill %d (%d ended instances)", l.ContainerKey, what, x, y, n)
			}
		}
		near("cpu request", int64(l.CPU.Request), int64(b.CPU.Request))
		near("cpu lower bound", int64(l.CPU.LowerBound), int64(b.CPU.LowerBound))
		near("cpu upper bound", int64(l.CPU.UpperBound), int64(b.CPU.UpperBound))
		near("memory request", int64(l.Memory.Request), int64(b.Memory.Request))
		near("memory limit", int64(l.Memory.Limit), int64(b.Memory.Limit))
		near("memory lower bound", int64(l.Memory.LowerBound), int64(b.Memory.LowerBound))
		near("memory upper bound", int64(l.Memory.UpperBound), int64(b.Memory.UpperBound))
		if d := b.Samples - l.Samples; d < 0 || d > int64(5*n) {
			t.Errorf("%s: %d samples live, %d backfilled; at most %d more expected", l.ContainerKey, l.Samples, b.Samples, 5*n)
		}
		if l.Flags != b.Flags {
			t.Errorf("%s flags: live %v, backfill %v", l.ContainerKey, l.Flags, b.Flags)
		}
		if l.Samples == 0 {
			t.Errorf("%s: no samples", l.ContainerKey)
		}
		t.Logf("%-32s cpu %v/%v, memory %v/%v, samples %d/%d (live/backfill) %s", l.ContainerKey, l.CPU.Request, b.CPU.Request,
			l.Memory.Request, b.Memory.Request, l.Samples, b.Samples, l.Reason)
	}
	// The OOM kill and the throttling came through both ways.
	for _, r := range [][]recommender.Recommendation{lr, br} {
		var oom, throttled bool
		for _, x := range r {
			oom = oom || x.Flags.Has(recommender.FlagOOM) && x.Name == "worker"
			throttled = throttled || x.Flags.Has(recommender.FlagThrottled)
		}
		if !oom {
			t.Error("the worker's OOM kill was not recorded")
		}
		if !throttled {
			t.Error("no container flagged as throttled")
		}
	}
}
