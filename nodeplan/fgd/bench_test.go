package fgd

import (
	"path/filepath"
	"testing"

	"github.com/rightsizer/rightsizer/internal/realdata"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/nodeplan/openb"
	"github.com/rightsizer/rightsizer/nodeplan/place"
)

// BenchmarkRun is one run of the protocol (seed 42, the default trace:
// 10.8k pods onto 1,213 nodes) per policy.
func BenchmarkRun(b *testing.B) {
	dir := realdata.Dir(b, "alibaba-gpu-2023")
	types, err := openb.LoadNodes(filepath.Join(dir, DefaultNodes))
	if err != nil {
		b.Fatal(err)
	}
	pods, err := openb.LoadPods(filepath.Join(dir, DefaultTrace))
	if err != nil {
		b.Fatal(err)
	}
	rng := runRand(42)
	seq := Arrivals(pods, 6212*cluster.MilliGPU, DefaultInflation, rng)
	order := Priority(types, rng)
	cfg := place.Config{Typical: place.TypicalPods(pods, place.DefaultPopularity), Seed: 42}
	for _, pol := range place.Policies() {
		b.Run(pol, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Run(b.Context(), types, order, pods, seq, pol, cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(seq)), "pods/op")
		})
	}
}
