package simulate

import (
	"testing"

	"github.com/rightsizer/rightsizer/recommender"
)

// countingSink counts samples and does nothing else, so that the benchmark
// measures the simulator alone.
type countingSink struct{ samples int }

func (s *countingSink) Ingest(batch []recommender.Sample) error { s.samples += len(batch); return nil }
func (s *countingSink) RecordOOM(recommender.OOMEvent) error    { return nil }
func (s *countingSink) UpsertWorkload(recommender.Workload) error {
	return nil
}

// BenchmarkWeek simulates a week of the default cluster at 1-minute steps.
func BenchmarkWeek(b *testing.B) {
	sim, err := New(DefaultCluster(1), DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	sink := &countingSink{}
	b.ReportAllocs()
	for b.Loop() {
		if err := sim.Run(b.Context(), sink); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(sink.samples)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(sink.samples)/float64(b.N), "samples/op")
}
