package replay

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
)

// EnvRequireData names the environment variable that turns a missing real
// dataset from a skipped test into a failure (set it to 1 in CI).
const envRequireData = "RIGHTSIZER_REQUIRE_DATA"

// locateReal finds a real dataset, or skips t (fails it when
// RIGHTSIZER_REQUIRE_DATA=1): internal/realdata.Dir for replay's own
// tests, which cannot import it (it imports replay).
func locateReal(t testing.TB, name string) string {
	t.Helper()
	dir, err := Locate(name)
	if err != nil {
		if os.Getenv(envRequireData) == "1" {
			t.Fatalf("real data required (%s=1): %v", envRequireData, err)
		}
		t.Skipf("real data not found, skipping (set %s or %s=1 to require it): %v", EnvData, envRequireData, err)
	}
	return dir
}

// TestRealData replays the full published traces into a strict sink.
func TestRealData(t *testing.T) {
	t.Parallel()
	both := recommender.ResourceSet(0).With(recommender.ResourceGPUCompute).With(recommender.ResourceGPUMemory)
	cpuMem := recommender.ResourceSet(0).With(recommender.ResourceCPU).With(recommender.ResourceMemory)
	tests := []struct {
		name      string
		dataset   string
		opts      Options
		format    Format
		workloads int
		samples   int
		start     time.Time
		end       time.Time
		skipped   map[SkipReason]int
		has       map[recommender.ResourceSet]int
		requests  map[string]recommender.Amounts // by workload name; a sample of them
		memUtil   int                            // pods with memory utilisation
	}{
		{
			name:      "bitbrains keeping zero memory",
			dataset:   "bitbrains-rnd/2013-7",
			opts:      Options{KeepZeroMemory: true},
			format:    FormatBitbrains,
			workloads: 50,
			samples:   384376, // 413,169 rows less 4,158 repeats and 24,635 rows of VMs switched off
			start:     unix(1372629804),
			end:       unix(1375221457),
			skipped:   map[SkipReason]int{SkipDuplicate: 4158, SkipUnprovisioned: 24635},
			has: map[recommender.ResourceSet]int{
				cpuMem: 384374,
				recommender.ResourceSet(0).With(recommender.ResourceMemory): 2, // vm-20 as it switches off
			},
			requests: map[string]recommender.Amounts{
				"vm-1":  {CPU: 2000, Memory: 8388608 * recommender.KiB},
				"vm-24": {CPU: 32000, Memory: 8527872 * recommender.KiB},
				"vm-38": {CPU: 2000, Memory: 3145728 * recommender.KiB},
			},
		},
		{
			name:      "bitbrains zero memory is missing",
			dataset:   "bitbrains-rnd/2013-7",
			opts:      Options{},
			format:    FormatBitbrains,
			workloads: 50,
			samples:   384376,
			start:     unix(1372629804),
			end:       unix(1375221457),
			skipped:   map[SkipReason]int{SkipDuplicate: 4158, SkipUnprovisioned: 24635},
			has: map[recommender.ResourceSet]int{
				cpuMem: 317854,
				recommender.ResourceSet(0).With(recommender.ResourceCPU):    66520, // "Memory usage [KB]" = 0
				recommender.ResourceSet(0).With(recommender.ResourceMemory): 2,
			},
			requests: map[string]recommender.Amounts{"vm-1": {CPU: 2000, Memory: 8388608 * recommender.KiB}},
		},
		{
			name:      "genai",
			dataset:   "alibaba-genai-2026",
			format:    FormatGenAI,
			workloads: 80,
			samples:   93599,
			start:     unix(1662858720),
			end:       unix(1662940800),
			// 49 memory rows with an empty container_ip, one memory
			// fraction of -1.2e-5.
			skipped: map[SkipReason]int{SkipBadKey: 49, SkipNegative: 1},
			has: map[recommender.ResourceSet]int{
				both: 90751,
				recommender.ResourceSet(0).With(recommender.ResourceGPUMemory):  2847,
				recommender.ResourceSet(0).With(recommender.ResourceGPUCompute): 1,
			},
			requests: map[string]recommender.Amounts{
				"pod-23b8eba99c14e73d": {GPUCompute: 1, GPUMemory: 80 * recommender.GiB},
			},
			memUtil: 108,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, err := Open(locateReal(t, tc.dataset), tc.opts)
			require.NoError(t, err)
			require.Equal(t, tc.format, src.Format())
			require.Len(t, src.Workloads(), tc.workloads)
			require.Equal(t, tc.samples, src.Len())
			require.Equal(t, tc.start, src.Start())
			require.Equal(t, tc.end, src.End())
			require.Equal(t, tc.skipped, src.Skipped())
			require.Len(t, src.MemoryUtil(), tc.memUtil)

			has := map[recommender.ResourceSet]int{}
			for s := range src.All() {
				has[s.Usage.Has]++
			}
			require.Equal(t, tc.has, has)

			byName := map[string]recommender.Workload{}
			for _, w := range src.Workloads() {
				require.NoError(t, recommender.ContainerKey{WorkloadKey: w.Key, Container: "main"}.Validate())
				require.Len(t, w.Containers, 1)
				byName[w.Key.Name] = w
			}
			require.Len(t, byName, tc.workloads, "workload names are unique")
			for name, want := range tc.requests {
				require.Contains(t, byName, name)
				require.Equal(t, want, byName[name].Containers[0].Requests, name)
			}

			sink := &fakeSink{strict: true}
			st, err := src.Replay(t.Context(), sink)
			require.NoError(t, err)
			require.Equal(t, Stats{
				Workloads: tc.workloads,
				Samples:   tc.samples,
				Batches:   (tc.samples + DefaultBatchSize - 1) / DefaultBatchSize,
			}, st)
			sink.mu.Lock()
			defer sink.mu.Unlock()
			require.Zero(t, sink.rejected, "a strict sink rejects no sample")
			require.Empty(t, sink.disorder, "samples come in global time order")
			require.Equal(t, tc.samples, sink.ingested)
			require.Len(t, sink.upserts, tc.workloads)
		})
	}
}

// BenchmarkOpen loads each full real trace.
func BenchmarkOpen(b *testing.B) {
	for _, ds := range []struct{ name, dataset string }{
		{"fmt=bitbrains", "bitbrains-rnd/2013-7"},
		{"fmt=genai", "alibaba-genai-2026"},
	} {
		b.Run(ds.name, func(b *testing.B) {
			dir := locateReal(b, ds.dataset)
			b.ReportAllocs()
			var n int
			for b.Loop() {
				src, err := Open(dir, Options{})
				if err != nil {
					b.Fatal(err)
				}
				n = src.Len()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkAll iterates every sample of the full Bitbrains trace.
func BenchmarkAll(b *testing.B) {
	src, err := Open(locateReal(b, "bitbrains-rnd/2013-7"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for range src.All() {
		}
	}
	b.ReportMetric(float64(src.Len())*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}
