package backtest

// The expected numbers below are derived by hand from KRR's rules, not by
// running the code. The CPU percentile is PromQL's quantile_over_time (and
// numpy's default): sort the n values, rank = q·(n − 1), and interpolate
// linearly between the values at ⌊rank⌋ and ⌊rank⌋ + 1 (0-based), in cores;
// then round up to 1 m. Memory is the peak × 1.15, rounded up to a whole
// MiB (1048576 B). Floors: 10 m and 100 MiB = 104857600 B.

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
)

// blRamp returns usage i+1 millicores and (i+1)·1.5 MB: 1..n m and up to
// n·1.5 MB.
func blRamp(i int) recommender.Usage {
	return blUsage(recommender.MilliCPU(i+1), recommender.Bytes(i+1)*1_500_000)
}

func TestKRRRecommendation(t *testing.T) {
	t.Parallel()
	current := Applied{CPURequest: 1000, CPULimit: 2000, MemoryRequest: recommender.GiB, MemoryLimit: recommender.GiB}
	hpaCPU := recommender.ResourceSet(0).With(recommender.ResourceCPU)
	tests := []struct {
		name  string
		opts  func(*KRROptions)
		hpa   recommender.ResourceSet
		n     int // samples, one a minute from blT0
		usage func(int) recommender.Usage
		want  Applied
	}{
		{
			// CPU 1..200 m: rank = 0.95·199 = 189.05, between the 190th and
			// 191st smallest (0-based 189, 190): 0.190 + 0.05·0.001 = 0.19005
			// core → 190.05 m → 191 m; no CPU limit.
			// Memory peak 200·1.5 MB = 300000000 B; ×1.15 = 345000000 B =
			// 329.018 MiB → 330 MiB = 346030080 B, request and limit.
			name: "p95 and peak", n: 200, usage: blRamp,
			want: Applied{CPURequest: 191, MemoryRequest: 346030080, MemoryLimit: 346030080},
		},
		{
			// rank = 0.5·199 = 99.5: 0.100 + 0.5·0.001 = 0.1005 core → 101 m.
			name: "cpu percentile 50", n: 200, usage: blRamp,
			opts: func(o *KRROptions) { o.CPUPercentile = 50 },
			want: Applied{CPURequest: 101, MemoryRequest: 346030080, MemoryLimit: 346030080},
		},
		{
			// 100 points: rank = 0.95·99 = 94.05: 0.095 + 0.05·0.001 =
			// 0.09505 core → 96 m. Peak 100·1.5 MB = 150000000; ×1.15 =
			// 172500000 = 164.51 MiB → 165 MiB = 173015040.
			name: "exactly 100 points", n: 100, usage: blRamp,
			want: Applied{CPURequest: 96, MemoryRequest: 173015040, MemoryLimit: 173015040},
		},
		{
			name: "99 points keep everything", n: 99, usage: blRamp,
			want: current,
		},
		{
			// 5 m and 50 MiB: P95 5 m < 10 m; 50 MiB·1.15 = 57.5 MiB → 58 MiB
			// < 100 MiB.
			name: "floors", n: 100, usage: blConstant(blUsage(5, 50*recommender.MiB)),
			want: Applied{CPURequest: 10, MemoryRequest: 104857600, MemoryLimit: 104857600},
		},
		{
			name: "an hpa on cpu keeps the cpu", n: 200, usage: blRamp, hpa: hpaCPU,
			want: Applied{CPURequest: 1000, CPULimit: 2000, MemoryRequest: 346030080, MemoryLimit: 346030080},
		},
		{
			name: "allow hpa", n: 200, usage: blRamp, hpa: hpaCPU,
			opts: func(o *KRROptions) { o.AllowHPA = true },
			want: Applied{CPURequest: 191, MemoryRequest: 346030080, MemoryLimit: 346030080},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := DefaultKRROptions()
			if tt.opts != nil {
				tt.opts(&o)
			}
			require.NoError(t, o.Validate())
			p := NewKRR(o)
			k := blKey("krr", "main")
			w := blWorkload(k, recommender.Amounts{CPU: 1000, Memory: recommender.GiB}, recommender.Amounts{CPU: 2000, Memory: recommender.GiB})
			w.AutoscaledOn = tt.hpa
			require.NoError(t, p.UpsertWorkload(w))
			require.NoError(t, p.Ingest(blSeries(k, blT0, time.Minute, tt.n, tt.usage)))
			now := blT0.Add(time.Duration(tt.n-1) * time.Minute)
			next, ok := p.Decide(k, now, current)
			require.Equal(t, tt.want, next)
			require.Equal(t, tt.want != current, ok)

			// KRR recommends at every run; with nothing new it answers the
			// same, which is no change.
			next2, ok := p.Decide(k, now, next)
			require.Equal(t, next, next2)
			require.False(t, ok)
		})
	}
}

func TestKRRWindow(t *testing.T) {
	t.Parallel()
	// Old: 200 samples of 5000 m and 5e9 B, at blT0 + 0..199 min. New:
	// the "p95 and peak" ramp (1..200 m, peak 300000000 B) at blT0 + 14 d
	// + 0..199 min.
	k := blKey("window", "main")
	old := blSeries(k, blT0, time.Minute, 200, blConstant(blUsage(5000, 5_000_000_000)))
	recent := blSeries(k, blT0.Add(14*24*time.Hour), time.Minute, 200, blRamp)
	last := blT0.Add(14*24*time.Hour + 199*time.Minute)
	tests := []struct {
		name string
		now  time.Time
		want Applied
	}{
		{
			// The window is (now − 336 h, now] = (blT0 + 199 min, now]: the
			// last old sample sits on the open end. Same as "p95 and peak".
			name: "older than 14 days excluded", now: last,
			want: Applied{CPURequest: 191, MemoryRequest: 346030080, MemoryLimit: 346030080},
		},
		{
			// 1 ns earlier the last old sample is in and the last new one
			// (200 m, 300000000 B) out: CPU 1..199 m and 5000 m, rank 189.05
			// again → 191 m; peak 5e9 × 1.15 = 5.75e9 B = 5483.63 MiB → 5484
			// MiB = 5750390784 B.
			name: "exactly 14 days included", now: last.Add(-time.Nanosecond),
			want: Applied{CPURequest: 191, MemoryRequest: 5750390784, MemoryLimit: 5750390784},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := NewKRR(DefaultKRROptions())
			require.NoError(t, p.Ingest(old))
			require.NoError(t, p.Ingest(recent))
			next, ok := p.Decide(k, tt.now, Applied{})
			require.True(t, ok)
			require.Equal(t, tt.want, next)
		})
	}
}

func TestKRRIgnoresOOM(t *testing.T) {
	t.Parallel()
	k := blKey("oom", "main")
	p := NewKRR(DefaultKRROptions())
	require.NoError(t, p.Ingest(blSeries(k, blT0, time.Minute, 200, blRamp)))
	for i := range 5 {
		require.NoError(t, p.RecordOOM(recommender.OOMEvent{Key: k, Time: blT0.Add(time.Duration(i) * time.Minute), Limit: 100 * recommender.MiB}))
	}
	next, ok := p.Decide(k, blT0.Add(199*time.Minute), Applied{})
	require.True(t, ok)
	require.Equal(t, Applied{CPURequest: 191, MemoryRequest: 346030080, MemoryLimit: 346030080}, next)
	require.ErrorIs(t, p.RecordOOM(recommender.OOMEvent{Key: k}), recommender.ErrInvalidSample)
}

func TestKRRNoData(t *testing.T) {
	t.Parallel()
	cur := Applied{CPURequest: 1000, MemoryRequest: recommender.GiB}
	p := NewKRR(DefaultKRROptions())
	next, ok := p.Decide(blKey("unknown", "main"), blT0, cur)
	require.False(t, ok)
	require.Equal(t, cur, next)
}

func TestKRRIngestRejects(t *testing.T) {
	t.Parallel()
	k := blKey("rej", "main")
	p := NewKRR(DefaultKRROptions())
	good := blUsage(100, recommender.MiB)
	err := p.Ingest([]recommender.Sample{
		{Key: k, Time: blT0.Add(time.Minute), Usage: good},
		{Key: k, Time: blT0, Usage: good},                                     // out of order
		{Key: k, Time: blT0.Add(2 * time.Minute), Usage: blUsage(0, -1)},      // negative
		{Key: blKey("", "main"), Time: blT0, Usage: good},                     // bad key
		{Key: k, Time: blT0.Add(3 * time.Minute), Usage: recommender.Usage{}}, // nothing to record: accepted
	})
	var ie *recommender.IngestError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, 3, ie.Rejected)
	require.ErrorIs(t, ie.Samples[0], recommender.ErrInvalidSample)
	require.ErrorIs(t, ie.Samples[1], recommender.ErrInvalidSample)
	require.ErrorIs(t, ie.Samples[2], recommender.ErrInvalidKey)
}

func TestKRROptionsValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, DefaultKRROptions().Validate())
	o := DefaultKRROptions()
	o.CPUPercentile = 0
	o.MemoryBufferPercentage = 0
	o.PointsRequired = 0
	o.HistoryDuration = 0
	o.CPUMin = -1
	var joined interface{ Unwrap() []error }
	require.True(t, errors.As(o.Validate(), &joined))
	require.Len(t, joined.Unwrap(), 5)
}

func TestKRRUsesOnlyThePast(t *testing.T) {
	t.Parallel()
	blRequireCausal(t, func() Policy { return NewKRR(DefaultKRROptions()) })
}
