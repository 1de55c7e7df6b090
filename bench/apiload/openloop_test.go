package apiload

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// The scheduler runs on synctest's virtual clock, so its latencies are
// exact: an operation "takes" service time by sleeping in the bubble.
func TestOpenLoop(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	for _, tc := range []struct {
		name    string
		loop    OpenLoop
		service time.Duration
		// fail makes operation i fail.
		fail func(i int) bool
		want LoopStats // Latencies sorted; FirstErr compared as non-nil
	}{
		{
			name: "idle server: latency is service time",
			loop: OpenLoop{Rate: 100, Duration: 100 * ms, Workers: 4}, service: 3 * ms,
			want: LoopStats{Scheduled: 10, OK: 10, Latencies: repeat(3*ms, 10), Elapsed: 100 * ms},
		},
		{
			// One worker, 20 ms service at one every 10 ms: the k-th
			// operation starts at 20k ms, was due at 10k ms, and so waits
			// 10k ms. A closed loop would report 20 ms every time.
			name: "overload: queueing counts from the scheduled time",
			loop: OpenLoop{Rate: 100, Duration: 50 * ms, Workers: 1}, service: 20 * ms,
			want: LoopStats{Scheduled: 5, OK: 5, Latencies: []time.Duration{20 * ms, 30 * ms, 40 * ms, 50 * ms, 60 * ms}, Elapsed: 100 * ms},
		},
		{
			name: "count bounds the schedule",
			loop: OpenLoop{Rate: 1000, Count: 7, Workers: 2}, service: ms,
			want: LoopStats{Scheduled: 7, OK: 7, Latencies: repeat(ms, 7), Elapsed: 7 * ms},
		},
		{
			name: "errors are counted, not timed",
			loop: OpenLoop{Rate: 100, Duration: 100 * ms, Workers: 2}, service: ms,
			fail: func(i int) bool { return i%5 == 0 },
			want: LoopStats{Scheduled: 10, OK: 8, Errors: 2, FirstErr: errors.New("x"), Latencies: repeat(ms, 8), Elapsed: 100 * ms},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				got := tc.loop.Run(t.Context(), func(ctx context.Context, i int) error {
					time.Sleep(tc.service)
					if tc.fail != nil && tc.fail(i) {
						return errors.New("fail")
					}
					return nil
				})
				slices.Sort(got.Latencies)
				require.Equal(t, tc.want.FirstErr != nil, got.FirstErr != nil)
				got.FirstErr, tc.want.FirstErr = nil, nil
				require.Equal(t, tc.want, got)
			})
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func TestOpenLoopUntilCancelled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var ran atomic.Int64
		st := OpenLoop{Rate: 100, Workers: 1}.Run(ctx, func(context.Context, int) error {
			if ran.Add(1) == 25 {
				cancel()
			}
			return nil
		})
		require.Equal(t, 25, st.Scheduled)
		require.Equal(t, 25, st.OK)
		require.Equal(t, 240*time.Millisecond, st.Elapsed)
		require.InDelta(t, 25/0.24, st.Rate(), 1e-9)
	})
}

func TestOpenLoopPoisson(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		loop := OpenLoop{Rate: 100, Count: 2000, Workers: 1, Poisson: true, Seed: 7}
		var starts []time.Time
		st := loop.Run(t.Context(), func(context.Context, int) error {
			starts = append(starts, time.Now())
			return nil
		})
		require.Equal(t, 2000, st.OK)
		gaps := make([]float64, 0, len(starts)-1)
		for i := 1; i < len(starts); i++ {
			gaps = append(gaps, starts[i].Sub(starts[i-1]).Seconds())
		}
		mean := 0.0
		for _, g := range gaps {
			mean += g
		}
		mean /= float64(len(gaps))
		require.InDelta(t, 0.01, mean, 0.001, "mean gap is 1/rate")
		slices.Sort(gaps)
		// Exponential gaps: the median is ln 2 of the mean.
		require.InDelta(t, 0.01*0.6931, gaps[len(gaps)/2], 0.001)

		// The same seed gives the same schedule.
		var again []time.Time
		loop.Run(t.Context(), func(context.Context, int) error {
			again = append(again, time.Now())
			return nil
		})
		require.Len(t, again, len(starts))
		for i := range starts {
			require.Equal(t, starts[i].Sub(starts[0]), again[i].Sub(again[0]))
		}
	})
}
