package api

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRateLimiterUnlimited is not parallel: AllocsPerRun counts every goroutine's allocations.
func TestRateLimiterUnlimited(t *testing.T) {
	for _, l := range []*RateLimiter{nil, NewRateLimiter(0, 10, 10, time.Second), NewRateLimiter(-1, 0, 0, 0)} {
		ctx := t.Context()
		require.NoError(t, l.Wait(ctx, "a", 1<<30))
		allocs := testing.AllocsPerRun(100, func() {
			if err := l.Wait(ctx, "a", 1000); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs)
	}
}

// elapsed runs f in a synctest bubble's fake time and returns how long f blocked.
func elapsed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

func TestRateLimiterWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		rate   float64
		burst  int
		waits  []int         // earlier waits by the same client, from a full bucket
		n      int           // the wait measured
		want   time.Duration // how long it blocks
		within time.Duration // rounding allowed
	}{
		{name: "within burst", rate: 10, burst: 5, n: 5, want: 0},
		{name: "zero samples", rate: 10, burst: 5, waits: []int{5}, n: 0, want: 0},
		{name: "empty bucket", rate: 10, burst: 5, waits: []int{5}, n: 1, want: 100 * time.Millisecond},
		{name: "more than burst is split", rate: 10, burst: 5, n: 12, want: 700 * time.Millisecond},
		{name: "many bursts after empty", rate: 100, burst: 10, waits: []int{10}, n: 95, want: 950 * time.Millisecond},
		{name: "burst defaults to rate", rate: 20, burst: 0, n: 30, want: 500 * time.Millisecond},
		{name: "fractional rate", rate: 0.5, burst: 1, waits: []int{1}, n: 2, want: 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				l := NewRateLimiter(tt.rate, tt.burst, 10, 0)
				for _, n := range tt.waits {
					require.NoError(t, l.Wait(t.Context(), "a", n))
				}
				var err error
				d := elapsed(func() { err = l.Wait(t.Context(), "a", tt.n) })
				require.NoError(t, err)
				require.InDelta(t, tt.want, d, float64(time.Microsecond))
				// Another client has its own full bucket.
				d = elapsed(func() { err = l.Wait(t.Context(), "b", min(tt.n, l.burst)) })
				require.NoError(t, err)
				require.Zero(t, d)
			})
		})
	}
}

func TestRateLimiterMaxWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		maxWait  time.Duration
		deadline time.Duration // ctx deadline from now; 0 for none
		n        int
		wantErr  bool
	}{
		{name: "within maxWait", maxWait: time.Second, n: 20}, // 10 free, 10 more take exactly 1s
		{name: "beyond maxWait", maxWait: time.Second, n: 21, wantErr: true},
		{name: "far beyond maxWait", maxWait: time.Second, n: 1 << 40, wantErr: true},
		{name: "beyond deadline", maxWait: time.Minute, deadline: 500 * time.Millisecond, n: 20, wantErr: true},
		{name: "beyond deadline, no maxWait", deadline: 500 * time.Millisecond, n: 20, wantErr: true},
		{name: "within deadline", maxWait: time.Minute, deadline: 2 * time.Second, n: 20},
		{name: "no caps", n: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				l := NewRateLimiter(10, 10, 10, tt.maxWait)
				ctx := t.Context()
				if tt.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.deadline)
					defer cancel()
				}
				var err error
				d := elapsed(func() { err = l.Wait(ctx, "a", tt.n) })
				if !tt.wantErr {
					require.NoError(t, err)
					return
				}
				require.ErrorIs(t, err, ErrRateLimited)
				require.ErrorContains(t, err, `client "a"`)
				require.Zero(t, d, "a refused wait must return at once")
				// Nothing was consumed: the full burst is still there.
				d = elapsed(func() { err = l.Wait(t.Context(), "a", 10) })
				require.NoError(t, err)
				require.Zero(t, d)
			})
		})
	}
}

func TestRateLimiterCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewRateLimiter(10, 10, 10, 0)
		require.NoError(t, l.Wait(t.Context(), "a", 10)) // drain

		canceled, cancel := context.WithCancel(t.Context())
		cancel()
		require.ErrorIs(t, l.Wait(canceled, "a", 1), context.Canceled)

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- l.Wait(ctx, "a", 20) }() // would take 2s
		synctest.Wait()                              // blocked in Wait
		start := time.Now()
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		require.Zero(t, time.Since(start))

		// The cancelled reservation was given back: 10 samples take 1s, not 3s.
		d := elapsed(func() { require.NoError(t, l.Wait(t.Context(), "a", 10)) })
		require.InDelta(t, time.Second, d, float64(time.Microsecond))
	})
}

func TestRateLimiterConcurrent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewRateLimiter(100, 10, 10, 0)
		start := time.Now()
		var (
			mu   sync.Mutex
			last time.Duration
			wg   sync.WaitGroup
		)
		for range 10 {
			wg.Go(func() {
				require.NoError(t, l.Wait(t.Context(), "a", 10))
				mu.Lock()
				defer mu.Unlock()
				last = max(last, time.Since(start))
			})
		}
		wg.Wait()
		// 100 samples at 100/s with 10 free: the last caller is done after 0.9s.
		require.InDelta(t, 900*time.Millisecond, last, float64(time.Microsecond))
	})
}

func TestRateLimiterEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewRateLimiter(1, 2, 2, 0)
		keys := func() []string { return slices.Sorted(maps.Keys(l.buckets)) }
		ctx := t.Context()

		require.NoError(t, l.Wait(ctx, "a", 2)) // a drained
		require.NoError(t, l.Wait(ctx, "b", 1))
		require.NoError(t, l.Wait(ctx, "a", 0)) // n == 0 does not touch a
		require.Equal(t, []string{"a", "b"}, keys())

		// Using b makes a the least recently used, so c evicts a.
		require.NoError(t, l.Wait(ctx, "b", 1))
		require.NoError(t, l.Wait(ctx, "c", 1))
		require.Equal(t, []string{"b", "c"}, keys())
		require.Equal(t, 2, l.clients())

		// a comes back with a fresh, full bucket, evicting b.
		d := elapsed(func() { require.NoError(t, l.Wait(ctx, "a", 2)) })
		require.Zero(t, d)
		require.Equal(t, []string{"a", "c"}, keys())

		for i := range 100 {
			require.NoError(t, l.Wait(ctx, string(rune('d'+i)), 1))
			require.LessOrEqual(t, l.clients(), 2)
		}
	})
}

func TestNewRateLimiterDefaults(t *testing.T) {
	t.Parallel()
	l := NewRateLimiter(0.25, 0, 0, 0)
	require.Equal(t, 1, l.burst)
	require.Equal(t, defaultMaxRateLimitClients, l.maxClients)
	l = NewRateLimiter(1e300, 0, 1, 0)
	require.Positive(t, l.burst)
}
