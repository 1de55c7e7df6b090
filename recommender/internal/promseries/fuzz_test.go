package promseries

import (
	"math"
	"testing"
	"time"
)

// FuzzMap feeds the mapping series with arbitrary labels, values and
// times, as a hostile remote-write sender or Prometheus could, and checks
// that whatever comes out is a sample the recommender accepts.
func FuzzMap(f *testing.F) {
	f.Add(MetricCPUUsage, "shop", "web-1", "app", "ReplicaSet", "web-5d", int64(0), 1.0, int64(60_000), 31.0, int64(60_000), 7e8)
	f.Add(MetricMemoryWorkingSet, "shop", "web-1", "app", "<none>", "<none>", int64(5), math.NaN(), int64(5), math.Inf(1), int64(-1), -1.0)
	f.Add(MetricRestarts, "a/b", "\xff", "POD", "Job", "x\x00", int64(math.MaxInt64), 2.0, int64(math.MinInt64), 3.0, int64(1), 1.0)
	f.Add(MetricPeriods, "ns", "p", "c", "Deployment", "d", int64(1), 1e300, int64(2), 0.0, int64(3), 1e-300)
	f.Fuzz(func(t *testing.T, name, ns, pod, ctr, ownerKind, ownerName string, t1 int64, v1 float64, t2 int64, v2 float64, t3 int64, v3 float64) {
		o := DefaultOptions()
		o.OwnerWarmup, o.JoinDelay, o.MaxInstances, o.MaxOwners = 0, 0, 4, 4
		m, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
		pts := []Point{{T: base + t1, V: v1}, {T: base + t2, V: v2}, {T: t3, V: v3}}
		lbl := []string{"namespace", ns, "pod", pod, "container", ctr, "reason", ReasonOOMKilled}
		series := []Series{
			mkSeries(name, lbl, pts...),
			mkSeries(MetricCPUUsage, lbl, pts...),
			mkSeries(MetricMemoryWorkingSet, lbl, pts...),
			mkSeries(MetricRestarts, lbl, pts...),
			mkSeries(MetricLastTerminatedReason, lbl, pts...),
			mkSeries(MetricPodOwner, []string{"namespace", ns, "pod", pod, "owner_kind", ownerKind, "owner_name", ownerName}),
			mkSeries(MetricReplicaSetOwner, []string{"namespace", ns, "replicaset", ownerName, "owner_kind", "Deployment", "owner_name", ownerKind}),
			{Labels: []Label{{Name: ctr, Value: ns}, {Name: LabelName, Value: name}}, Points: pts},
		}
		var out Output
		now := time.UnixMilli(base).Add(time.Hour)
		m.Map(now, series, &out)
		m.Map(now.Add(time.Second), series, &out)
		m.Flush(now.Add(2*time.Second), &out)
		for _, s := range out.Samples {
			if err := s.Key.Validate(); err != nil {
				t.Fatalf("sample with invalid key %q: %v", s.Key, err)
			}
			u := s.Usage
			if u.Has == 0 && !u.HasThrottling || u.CPU < 0 || u.Memory < 0 || u.HasThrottling && !(u.ThrottledFraction >= 0 && u.ThrottledFraction <= 1) {
				t.Fatalf("invalid usage %+v", u)
			}
			if y := s.Time.Year(); y < 2000 || y >= 2100 {
				t.Fatalf("sample at %v", s.Time)
			}
		}
		for _, ev := range out.OOMs {
			if err := ev.Key.Validate(); err != nil {
				t.Fatalf("OOM with invalid key %q: %v", ev.Key, err)
			}
		}
		if in, ow := m.Len(); in > o.MaxInstances || ow > o.MaxOwners {
			t.Fatalf("%d instances, %d owners: over the bounds", in, ow)
		}
	})
}
