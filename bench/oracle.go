package bench

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
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
	return sized(cur, o.peak[k])
}

// sized applies want as memory request and limit, the references' way; a
// zero want, or the size already applied, is no change.
func sized(cur backtest.Applied, want recommender.Bytes) (backtest.Applied, bool) {
	if want == 0 || (cur.MemoryRequest == want && cur.MemoryLimit == want) {
		return cur, false
	}
	cur.MemoryRequest, cur.MemoryLimit = want, want
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
	switch {
	case f.peak[k] == 0: // no memory seen, ever
		return cur, false
	case f.killed[k]:
		return sized(cur, f.peak[k])
	}
	return sized(cur, f.size)
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

// pastRule is a family of rules that see only the past: each container's
// memory (request and limit) at factor × its largest sample so far + add,
// and at least floor. A kill raises the largest sample to the usage at the
// kill, and the rule applies at once. With floor zero a rule knows nothing
// but the container's own past; a floor stands for what a policy could
// learn from the rest of the fleet.
type pastRule struct {
	factor     float64
	add, floor recommender.Bytes
	seen       map[recommender.ContainerKey]recommender.Bytes
}

var (
	_ backtest.Policy     = (*pastRule)(nil)
	_ backtest.OOMReactor = (*pastRule)(nil)
)

func (*pastRule) Name() string                              { return "past-rule" }
func (*pastRule) UpsertWorkload(recommender.Workload) error { return nil }
func (*pastRule) ReactsToOOM() bool                         { return true }

func (r *pastRule) Ingest(batch []recommender.Sample) error {
	for i := range batch {
		if s := &batch[i]; s.Usage.Has.Has(recommender.ResourceMemory) {
			r.seen[s.Key] = max(r.seen[s.Key], s.Usage.Memory)
		}
	}
	return nil
}

func (r *pastRule) RecordOOM(e recommender.OOMEvent) error {
	r.seen[e.Key] = max(r.seen[e.Key], e.Usage)
	return nil
}

func (r *pastRule) Decide(k recommender.ContainerKey, _ time.Time, cur backtest.Applied) (backtest.Applied, bool) {
	p := r.seen[k]
	if p == 0 {
		return cur, false
	}
	return sized(cur, max(recommender.Bytes(math.Ceil(r.factor*float64(p)))+r.add, r.floor))
}

// RuleFit is one rule of the past-rule family and how it did.
type RuleFit struct {
	GiBHours float64 `json:"mem_gib_hours"`
	Kills    int     `json:"oom_events"`
	Factor   float64 `json:"factor"`
	AddGiB   float64 `json:"add_gib"`
	FloorGiB float64 `json:"floor_gib"`
}

// PastRules is the best of the past-rule family on a dataset. Each rule
// sees only the past, but the best is chosen in hindsight from a grid, so
// it is what the simplest past-only policies reach at most when tuned to
// the trace itself: it is no bound on other policies.
type PastRules struct {
	// Allowed is the memory target's allowance of kills, as FleetCap's.
	Allowed int `json:"allowed_oom_events"`
	// Best is the cheapest rule with at most Allowed kills, and
	// PerContainer the cheapest of those with no floor; nil when none
	// is.
	Best         *RuleFit `json:"best"`
	PerContainer *RuleFit `json:"per_container"`
	// KillsToBeatKRR is the fewest kills of any rule that requests fewer
	// memory GiB-hours than krr; -1 when no rule does.
	KillsToBeatKRR int `json:"kills_to_beat_krr"`
	// Rules is the size of the grid.
	Rules int `json:"rules"`
}

// pastRuleGrid spans the family: factors on the container's peak so far,
// and additions and floors as fractions of the largest container peak of
// the dataset.
var pastRuleGrid = struct{ factors, adds, floors []float64 }{
	factors: []float64{1, 1.1, 1.2, 1.35, 1.5, 1.75, 2},
	adds:    []float64{0, 0.05, 0.1, 0.2, 0.35},
	floors:  []float64{0, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.96, 0.98, 1},
}

// bestPastRules backtests every rule of the grid on d and returns the
// best with at most allowed kills, and the fewest kills for fewer memory
// GiB-hours than krrGiBHours. largest is the largest container peak.
func bestPastRules(ctx context.Context, d *backtest.Dataset, largest recommender.Bytes, allowed int, krrGiBHours float64, opts backtest.Options) (PastRules, error) {
	var rules []*pastRule
	for _, f := range pastRuleGrid.factors {
		for _, a := range pastRuleGrid.adds {
			for _, fl := range pastRuleGrid.floors {
				rules = append(rules, &pastRule{factor: f, add: recommender.Bytes(a * float64(largest)),
					floor: recommender.Bytes(fl * float64(largest)), seen: map[recommender.ContainerKey]recommender.Bytes{}})
			}
		}
	}
	ps := make([]backtest.Policy, len(rules))
	for i, r := range rules {
		ps[i] = r
	}
	scores, err := backtest.Run(ctx, d, ps, opts)
	if err != nil {
		return PastRules{}, err
	}
	out := PastRules{Allowed: allowed, KillsToBeatKRR: -1, Rules: len(rules)}
	for i, s := range scores {
		r := rules[i]
		if s.MemGiBHours < krrGiBHours && (out.KillsToBeatKRR < 0 || s.OOMEvents < out.KillsToBeatKRR) {
			out.KillsToBeatKRR = s.OOMEvents
		}
		if s.OOMEvents > allowed {
			continue
		}
		fit := &RuleFit{GiBHours: s.MemGiBHours, Kills: s.OOMEvents, Factor: r.factor,
			AddGiB: float64(r.add) / (1 << 30), FloorGiB: float64(r.floor) / (1 << 30)}
		if out.Best == nil || fit.GiBHours < out.Best.GiBHours {
			out.Best = fit
		}
		if r.floor == 0 && (out.PerContainer == nil || fit.GiBHours < out.PerContainer.GiBHours) {
			out.PerContainer = fit
		}
	}
	return out, nil
}

// sentence says in eval.md what the family reaches on dataset ds.
func (pr PastRules) sentence(ds string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nOn %s, rules that see only the past (memory at a factor of the container's peak so far, plus an addition, at least a floor, raised at once at a kill), the best of %d chosen in hindsight, ", ds, pr.Rules)
	fit := func(f *RuleFit) string {
		if f == nil {
			return "none"
		}
		return fmt.Sprintf("%.1f (OOM kills %d; ×%.2f, +%.1f GiB, floor %.1f GiB)", f.GiBHours, f.Kills, f.Factor, f.AddGiB, f.FloorGiB)
	}
	fmt.Fprintf(&b, "cost with at most %d kills: %s; with no floor, so knowing nothing of the other containers: %s. ", pr.Allowed, fit(pr.Best), fit(pr.PerContainer))
	if pr.KillsToBeatKRR < 0 {
		b.WriteString("No rule of the grid requests fewer GiB-hours than krr.\n")
	} else {
		fmt.Fprintf(&b, "To request fewer GiB-hours than krr a rule needs at least %d kills.\n", pr.KillsToBeatKRR)
	}
	return b.String()
}
