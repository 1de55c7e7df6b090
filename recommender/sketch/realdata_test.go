package sketch_test

import (
	"context"
	"math"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/internal/realdata"
	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/replay"
	"github.com/rightsizer/rightsizer/recommender/sketch"
)

// seriesSink collects each container's CPU (cores) and memory (bytes).
type seriesSink struct {
	mu       sync.Mutex
	cpu, mem map[recommender.ContainerKey][]float64
}

func (s *seriesSink) Ingest(samples []recommender.Sample) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range samples {
		if x.Usage.Has.Has(recommender.ResourceCPU) {
			s.cpu[x.Key] = append(s.cpu[x.Key], x.Usage.CPU.Cores())
		}
		if x.Usage.Has.Has(recommender.ResourceMemory) {
			s.mem[x.Key] = append(s.mem[x.Key], float64(x.Usage.Memory))
		}
	}
	return nil
}
func (s *seriesSink) RecordOOM(recommender.OOMEvent) error      { return nil }
func (s *seriesSink) UpsertWorkload(recommender.Workload) error { return nil }

// TestAccuracyBitbrains checks the relative-error guarantee against the
// exact quantiles of the 50 real Bitbrains VMs' CPU and memory series.
func TestAccuracyBitbrains(t *testing.T) {
	t.Parallel()
	src, err := replay.Open(realdata.Dir(t, "bitbrains-rnd/2013-7"), replay.DefaultOptions())
	require.NoError(t, err)
	sink := &seriesSink{cpu: map[recommender.ContainerKey][]float64{}, mem: map[recommender.ContainerKey][]float64{}}
	require.NoError(t, src.Run(context.Background(), sink))
	require.Len(t, sink.cpu, 50)

	o := sketch.DefaultOptions()
	o.HalfLife = 0 // compare with the plain empirical quantile
	cfg, err := sketch.NewConfig(o)
	require.NoError(t, err)
	checked := 0
	for _, series := range []map[recommender.ContainerKey][]float64{sink.cpu, sink.mem} {
		for k, xs := range series {
			s := cfg.New()
			for _, x := range xs {
				require.NoError(t, s.Add(x, src.Start()))
			}
			sorted := append([]float64(nil), xs...)
			sort.Float64s(sorted)
			for _, q := range []float64{0, 0.5, 0.9, 0.95, 0.99, 1} {
				want := sorted[max(int(math.Ceil(q*float64(len(sorted))))-1, 0)] // first x whose rank reaches q
				got, err := s.Quantile(q)
				require.NoError(t, err)
				if want < o.MinValue {
					require.Zero(t, got, "%s q=%v", k, q)
					continue
				}
				require.LessOrEqual(t, math.Abs(got-want), 0.01*want*(1+1e-9), "%s q=%v", k, q)
				checked++
			}
		}
	}
	t.Logf("%d quantiles of %d real series within 1 %%", checked, len(sink.cpu)+len(sink.mem))
}
