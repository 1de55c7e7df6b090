package recommender

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender/internal/wire"
)

const hourNS = int64(time.Hour)

func TestIdleBucketsHoldTheirValues(t *testing.T) {
	t.Parallel()
	cb, mb := idleComputeUpper, idleMemoryUpper
	tests := []struct {
		name       string
		v          float64
		upper      []float64
		wantBucket int
	}{
		{name: "no compute", v: 0, upper: cb, wantBucket: 0},
		{name: "under the first bound", v: 0.0009999, upper: cb, wantBucket: 0},
		{name: "on the first bound", v: 0.001, upper: cb, wantBucket: 1},
		{name: "a power of two opens a bucket", v: 0.002, upper: cb, wantBucket: 5},
		{name: "5 % of a GPU", v: 0.05, upper: cb, wantBucket: 23},
		{name: "every GPU there is", v: 1024, upper: cb, wantBucket: 63},
		{name: "infinite compute", v: math.Inf(1), upper: cb, wantBucket: 63},
		{name: "NaN", v: math.NaN(), upper: cb, wantBucket: 0},
		{name: "under a MiB", v: float64(MiB) - 1, upper: mb, wantBucket: 0},
		{name: "9 GiB", v: float64(9 * GiB), upper: mb, wantBucket: 159}, // 9216 MiB = 2^13.17 MiB
		{name: "2 TiB", v: float64(2 * 1024 * GiB), upper: mb, wantBucket: 253},
		{name: "a PiB", v: float64(1 << 50), upper: mb, wantBucket: 255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := bucketOf(tt.v, tt.upper)
			require.Equal(t, tt.wantBucket, b)
			if !math.IsNaN(tt.v) && !math.IsInf(tt.v, 0) {
				require.LessOrEqual(t, bucketLower(b, tt.upper), tt.v)
				require.Less(t, tt.v, tt.upper[b])
			}
		})
	}
	// Every bucket's floor lands in that bucket, and the bounds match
	// their formula: 0.001 × 2^(i/4) GPUs, 2^(i/12) MiB.
	for _, upper := range [][]float64{cb, mb} {
		for i := 1; i < len(upper); i++ {
			require.Equal(t, i, bucketOf(bucketLower(i, upper), upper))
		}
		require.True(t, math.IsInf(upper[len(upper)-1], 1))
	}
	require.InDelta(t, 0.001*math.Exp2(22.0/4), cb[22], 1e-15)
	require.InDelta(t, float64(MiB)*math.Exp2(158.0/12), mb[158], 1e-3)
}

// idleSample is one sample of a gpuIdle test: at hour h (from 0), compute
// GPUs busy and memory GiB.
type idleSample struct {
	h       float64
	compute GPUCompute
	memGiB  float64
}

// hours returns n hourly samples from hour from, each from gen(i).
func hours(from, n int, gen func(i int) idleSample) []idleSample {
	out := make([]idleSample, n)
	for i := range n {
		s := gen(i)
		s.h = float64(from + i)
		out[i] = s
	}
	return out
}

func idleOf(samples []idleSample, halfLife time.Duration) *gpuIdle {
	var g gpuIdle
	for _, s := range samples {
		g.add(int64(s.h*float64(hourNS)), s.compute, Bytes(s.memGiB*float64(GiB)), int64(halfLife))
	}
	return &g
}

func TestGPUIdleFraction(t *testing.T) {
	t.Parallel()
	// A whole 80 GiB GPU under the default idle rule: compute under 5 %
	// of 1 GPU, memory within 4 GiB (5 %) of the baseline.
	const below, slack = GPUCompute(0.05), 4 * GiB
	idle := func(int) idleSample { return idleSample{compute: 0.01, memGiB: 9} }
	busy := func(int) idleSample { return idleSample{compute: 0.3, memGiB: 20} }
	tests := []struct {
		name         string
		samples      []idleSample
		halfLife     time.Duration
		want         float64 // within 0.01
		wantBaseline float64 // GiB, within 6 %
	}{
		{name: "never a sample", want: 0},
		{name: "idle throughout", samples: hours(0, 72, idle), halfLife: 24 * time.Hour, want: 1, wantBaseline: 9},
		{name: "busy throughout", samples: hours(0, 72, busy), halfLife: 24 * time.Hour, want: 0, wantBaseline: 20},
		{
			// Undecayed, 216 of 224 hours were idle (96 %); the last 8
			// busy hours carry 1 − 2^(−8/24) = 21 % of the weight.
			name: "idle for 9 days, busy the last 8 hours", halfLife: 24 * time.Hour,
			samples: append(hours(0, 216, idle), hours(216, 8, busy)...), want: 0.79, wantBaseline: 9,
		},
		{
			// Two busy days followed by a week idle: 1 − 2^(−7) idle.
			name: "busy 2 days, then idle a week", halfLife: 24 * time.Hour,
			samples: append(hours(0, 48, busy), hours(48, 168, idle)...), want: 0.992, wantBaseline: 9,
		},
		{
			// No compute, but memory swings far above its baseline: a
			// job loading and freeing data, not an idle GPU.
			name: "no compute, memory moving", halfLife: 24 * time.Hour,
			samples: hours(0, 72, func(i int) idleSample { return idleSample{memGiB: 2 + float64(i%4)*10} }),
			want:    0.245, wantBaseline: 2, // a quarter, the newest of each four busy
		},
		{
			// Compute just under the threshold sits in a bucket that
			// reaches past it: counted busy (the fraction errs low).
			name: "compute a hair under the threshold", halfLife: 24 * time.Hour,
			samples: hours(0, 10, func(int) idleSample { return idleSample{compute: 0.049, memGiB: 9} }),
			want:    0, wantBaseline: 9,
		},
		{
			// A 2 GiB start-up a month ago has decayed away: the
			// baseline is today's 30 GiB, and the server idles at it.
			name: "baseline follows the current regime", halfLife: 24 * time.Hour,
			samples: append(hours(0, 24, func(int) idleSample { return idleSample{compute: 0.01, memGiB: 2} }),
				hours(24, 24*30, func(i int) idleSample { return idleSample{compute: 0.01, memGiB: 30 + float64(i%2)} })...),
			want: 1, wantBaseline: 30,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := idleOf(tt.samples, tt.halfLife)
			require.InDelta(t, tt.want, g.idleFraction(below, slack), 0.01)
			require.InEpsilon(t, tt.wantBaseline+1e-9, float64(g.baseline())/float64(GiB)+1e-9, 0.06)
			require.LessOrEqual(t, len(g.cells), maxIdleCells)
		})
	}
}

// TestGPUIdleMergeMatchesOneStream: replicas seen by two engines, merged,
// give what one engine seeing both would.
func TestGPUIdleMergeMatchesOneStream(t *testing.T) {
	t.Parallel()
	const halfLife = 12 * time.Hour
	all := hours(0, 24*80, func(i int) idleSample { // 80 days: a rescale on the way
		return idleSample{compute: GPUCompute(float64(i%7) / 20), memGiB: 5 + float64(i%5)}
	})
	var a, b []idleSample
	for i, s := range all {
		if i%3 == 0 {
			a = append(a, s)
		} else {
			b = append(b, s)
		}
	}
	one, ga, gb := idleOf(all, halfLife), idleOf(a, halfLife), idleOf(b, halfLife)
	ga.merge(gb, int64(halfLife))
	require.Equal(t, one.baseline(), ga.baseline())
	for _, below := range []GPUCompute{0.01, 0.1, 0.2, 0.5} {
		for _, slack := range []Bytes{0, GiB, 3 * GiB} {
			require.InDelta(t, one.idleFraction(below, slack), ga.idleFraction(below, slack), 1e-9, "below %v slack %v", below, slack)
		}
	}
	// Merging into an empty one copies; merging an empty one is a no-op.
	var empty gpuIdle
	empty.merge(one, int64(halfLife))
	require.Equal(t, one.idleFraction(0.2, GiB), empty.idleFraction(0.2, GiB))
	before := one.clone()
	one.merge(&gpuIdle{}, int64(halfLife))
	require.Equal(t, before, *one)
}

// TestGPUIdleBoundsItsCells: a workload that wanders over more cells than
// fit counts the rest as busy, and stays within its memory bound.
func TestGPUIdleBoundsItsCells(t *testing.T) {
	t.Parallel()
	var g gpuIdle
	for i := range 3 * maxIdleCells {
		// A new cell each time, none in the unbounded top buckets.
		c, m := i%(idleComputeBuckets-1), i/(idleComputeBuckets-1)%(idleMemoryBuckets-1)
		g.add(int64(i)*int64(time.Minute), GPUCompute(bucketLower(c, idleComputeUpper)),
			Bytes(bucketLower(m, idleMemoryUpper)), int64(24*time.Hour))
	}
	require.Len(t, g.cells, maxIdleCells)
	require.Positive(t, g.spill)
	f := g.idleFraction(1e9, 1<<60)
	require.Less(t, f, 1.0, "spilled weight is never idle")
	require.InDelta(t, g.total()-g.spill, f*g.total(), 1e-6*g.total())
}

func TestGPUIdleRoundTrip(t *testing.T) {
	t.Parallel()
	g := idleOf(hours(0, 100, func(i int) idleSample { return idleSample{compute: GPUCompute(i%3) / 10, memGiB: 9} }), 24*time.Hour)
	d := stateDecoder{wire.NewReader(g.appendBinary(nil), errCorruptState)}
	got := d.idle("idle")
	require.NoError(t, d.Err())
	require.Equal(t, *g, got)

	// Corruptions the decoder must refuse.
	bad := map[string][]byte{
		"empty":          (&gpuIdle{}).appendBinary(nil),
		"keys unordered": (&gpuIdle{cells: []idleCell{{key: 5, w: 1}, {key: 3, w: 1}}}).appendBinary(nil),
		"key past range": (&gpuIdle{cells: []idleCell{{key: 64 << 8, w: 1}}}).appendBinary(nil),
		"negative":       (&gpuIdle{cells: []idleCell{{key: 1, w: -1}}}).appendBinary(nil),
		"infinite total": (&gpuIdle{cells: []idleCell{{key: 1, w: math.MaxFloat64}, {key: 2, w: math.MaxFloat64}}}).appendBinary(nil),
		"truncated":      g.appendBinary(nil)[:20],
	}
	for name, b := range bad {
		d := stateDecoder{wire.NewReader(b, errCorruptState)}
		d.idle("idle")
		require.Error(t, d.Err(), name)
	}
}

// TestGPUUsageIdleSurvivesCheckpoint: the engine's GPU history keeps its
// idle histogram through a state's encoding, and a state from before the
// histogram (gpu marker 1) still decodes, with none.
func TestGPUUsageIdleSurvivesCheckpoint(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t)
	k := key("ml", "notebook", "server")
	feed(t, e, k, t0, time.Minute, 3*24*60, func(i int) Usage {
		u := cpuMem(100, GiB)
		u.GPUCompute, u.GPUMemory = GPUCompute(i%3)/200, 6*GiB+Bytes(i%5)*MiB
		u.Has = u.Has.With(ResourceGPUCompute).With(ResourceGPUMemory)
		return u
	})
	g, err := e.GPUUsage(k)
	require.NoError(t, err)
	require.Equal(t, 6*GiB, g.MemoryBaseline)
	require.InDelta(t, 1, g.IdleFraction(0.05, 4*GiB), 1e-9)
	require.InDelta(t, 1.0/3, g.IdleFraction(0.001, 4*GiB), 0.01, "under 0.1 % busy: only the third of samples at 0")
	require.Zero(t, g.IdleFraction(0.05, 0), "no slack: no cell lies wholly at the baseline, and the fraction errs low")

	st := e.state(k)
	enc := st.appendBinary(nil)
	back, err := e.decodeState(enc)
	require.NoError(t, err)
	require.Equal(t, st.gpu.idle, back.gpu.idle)

	// The same state without the histogram, as written before it existed.
	old := *st
	gpu := *st.gpu
	gpu.idle = gpuIdle{}
	old.gpu = &gpu
	enc = old.appendBinary(nil)
	back, err = e.decodeState(enc)
	require.NoError(t, err)
	require.True(t, back.gpu.idle.empty())
	require.Zero(t, back.gpu.idle.idleFraction(1, GiB))
}

// BenchmarkGPUIdleAdd is the cost one GPU sample adds to ingestion for the
// idle histogram: a model server's week of minute samples (busy 0–30 %,
// memory 20–40 GiB), about a hundred cells.
func BenchmarkGPUIdleAdd(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 7 * 24 * 60
	cs, ms := make([]GPUCompute, n), make([]Bytes, n)
	for i := range n {
		cs[i] = GPUCompute(0.3 * r.Float64())
		ms[i] = 20*GiB + Bytes(r.Float64()*float64(20*GiB))
	}
	var g gpuIdle
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		g.add(int64(i)*int64(time.Minute), cs[i%n], ms[i%n], int64(24*time.Hour))
		i++
	}
	b.ReportMetric(float64(len(g.cells)), "cells")
}
