package bench

import (
	"context"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/backtest"
)

// oracle is a reference, not a policy: it knows each container's largest
// memory sample over the whole trace in advance and applies it as memory
// request and limit from the first decision on, leaving compute as
// provisioned. No policy that sees only the past can be killed less for
// fewer memory GiB-hours with a fixed size; eval reports it so that the
// distance between a baseline and the clairvoyant floor is visible.
type oracle struct {
	peak map[recommender.ContainerKey]recommender.Bytes
}

var _ backtest.Policy = (*oracle)(nil)

func newOracle(d *backtest.Dataset) *oracle {
	o := &oracle{peak: map[recommender.ContainerKey]recommender.Bytes{}}
	for i := range d.Samples {
		s := &d.Samples[i]
		if s.Usage.Has.Has(recommender.ResourceMemory) {
			o.peak[s.Key] = max(o.peak[s.Key], s.Usage.Memory)
		}
	}
	return o
}

func (*oracle) Name() string                              { return "oracle" }
func (*oracle) Ingest([]recommender.Sample) error         { return nil }
func (*oracle) RecordOOM(recommender.OOMEvent) error      { return nil }
func (*oracle) UpsertWorkload(recommender.Workload) error { return nil }

func (o *oracle) Decide(k recommender.ContainerKey, _ time.Time, cur backtest.Applied) (backtest.Applied, bool) {
	p := o.peak[k]
	if p == 0 || (cur.MemoryRequest == p && cur.MemoryLimit == p) {
		return cur, false
	}
	cur.MemoryRequest, cur.MemoryLimit = p, p
	return cur, true
}

// fleetCap is a second reference: one memory size for every container
// (request and limit), chosen knowing the whole trace, and a container's
// lifetime peak from the moment it is first killed (the reaction no
// policy can beat). A fleet of alike replicas, such as the GenAI
// trace's serving pods, whose peaks come at hours no past predicts, is
// where it matters: eval reports the cheapest such size that is killed
// no more often than the memory target allows, to show what a policy
// that cannot tell the pods apart in advance must pay at least.
type fleetCap struct {
	size   recommender.Bytes
	peak   map[recommender.ContainerKey]recommender.Bytes
	killed map[recommender.ContainerKey]bool
}

var (
	_ backtest.Policy     = (*fleetCap)(nil)
	_ backtest.OOMReactor = (*fleetCap)(nil)
)

func (*fleetCap) Name() string                              { return "fleet-cap" }
func (*fleetCap) Ingest([]recommender.Sample) error         { return nil }
func (*fleetCap) UpsertWorkload(recommender.Workload) error { return nil }
func (*fleetCap) ReactsToOOM() bool                         { return true }

func (f *fleetCap) RecordOOM(e recommender.OOMEvent) error {
	f.killed[e.Key] = true
	return nil
}

func (f *fleetCap) Decide(k recommender.ContainerKey, _ time.Time, cur backtest.Applied) (backtest.Applied, bool) {
	want := f.size
	if f.killed[k] {
		want = f.peak[k]
	}
	if f.peak[k] == 0 || (cur.MemoryRequest == want && cur.MemoryLimit == want) {
		return cur, false
	}
	cur.MemoryRequest, cur.MemoryLimit = want, want
	return cur, true
}

// FleetCap is the cheapest fleet-wide memory size with at most Allowed
// kills, and what it costs.
type FleetCap struct {
	GiBHours float64 `json:"mem_gib_hours"`
	SizeGiB  float64 `json:"size_gib"`
	Kills    int     `json:"oom_events"`
	// Allowed is the target's allowance: the fewer of vpa's and krr's kills.
	Allowed int `json:"allowed_oom_events"`
}

// cheapestFleetCap backtests a fleet-wide size at every container's
// lifetime peak and returns the cheapest with at most allowed kills.
// Between two peaks the same containers are killed and the size costs
// more the larger it is, except that a larger size can kill a container
// later, which costs less: so the peaks are a grid, not a proof.
// TestFleetCapGridGenAI checks a finer one finds nothing cheaper on the
// GenAI trace.
func cheapestFleetCap(ctx context.Context, d *backtest.Dataset, peak map[recommender.ContainerKey]recommender.Bytes, allowed int, opts backtest.Options) (FleetCap, error) {
	// A zero limit reads as no limit: never a candidate.
	sizes := slices.DeleteFunc(slices.Compact(slices.Sorted(maps.Values(peak))), func(s recommender.Bytes) bool { return s <= 0 })
	ps := make([]backtest.Policy, len(sizes))
	for i, s := range sizes {
		ps[i] = &fleetCap{size: s, peak: peak, killed: map[recommender.ContainerKey]bool{}}
	}
	scores, err := backtest.Run(ctx, d, ps, opts)
	if err != nil {
		return FleetCap{}, err
	}
	best := FleetCap{GiBHours: math.Inf(1), Allowed: allowed}
	for i, s := range scores {
		if s.OOMEvents <= allowed && s.MemGiBHours < best.GiBHours {
			best.GiBHours, best.SizeGiB, best.Kills = s.MemGiBHours, float64(sizes[i])/(1<<30), s.OOMEvents
		}
	}
	return best, nil
}
