package bench

import (
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
