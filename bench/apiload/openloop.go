package apiload

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// OpenLoop schedules operations at a rate, whether or not earlier ones have
// finished, and measures each one's latency from the time it was scheduled
// to start. A stall of the server therefore delays, and counts against,
// every operation scheduled during it, rather than pausing the schedule
// (no coordinated omission). Operations run on Workers goroutines; when all
// are busy, due operations queue and their wait is part of their latency.
type OpenLoop struct {
	// Rate is the mean number of operations per second; it must be
	// positive.
	Rate float64
	// Duration: operations are scheduled at offsets in [0, Duration) from
	// the start. Zero schedules until ctx is done.
	Duration time.Duration
	// Count bounds the operations scheduled; zero means no bound.
	Count int
	// Workers is the number of goroutines that run operations; at most
	// that many are in flight. Zero means one.
	Workers int
	// Poisson draws the gaps between operations from an exponential
	// distribution with mean 1/Rate, seeded by Seed, instead of a fixed
	// interval.
	Poisson bool
	Seed    uint64
}

// LoopStats is what an OpenLoop run did.
type LoopStats struct {
	// Scheduled operations were handed to a worker; OK and Errors of them
	// ran. Operations still queued when ctx is done are not run.
	Scheduled, OK, Errors int
	// FirstErr is the first error an operation returned, by completion.
	FirstErr error
	// Latencies of the operations that succeeded, from the scheduled start
	// to the return, in no particular order.
	Latencies []time.Duration
	// Elapsed runs from the start to the last completion, and is at least
	// Duration, or the time until ctx was done.
	Elapsed time.Duration
}

// Rate returns the operations completed per second of Elapsed.
func (s *LoopStats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.OK+s.Errors) / s.Elapsed.Seconds()
}

// workerStats is one worker's share of LoopStats; merged at the end.
type workerStats struct {
	lat       []time.Duration
	ok, errs  int
	first     error
	firstTime time.Time
	last      time.Time
}

type scheduled struct {
	i  int
	at time.Time
}

// Run runs op(ctx, i) for i = 0, 1, … on the schedule and returns when
// every scheduled operation has returned. op must honour ctx.
func (o OpenLoop) Run(ctx context.Context, op func(ctx context.Context, i int) error) LoopStats {
	workers := max(o.Workers, 1)
	queue := make(chan scheduled, 1024)
	ws := make([]workerStats, workers)
	var wg sync.WaitGroup
	for w := range ws {
		s := &ws[w]
		wg.Go(func() {
			for it := range queue {
				if ctx.Err() != nil {
					continue
				}
				err := op(ctx, it.i)
				now := time.Now()
				s.last = now
				if err != nil {
					s.errs++
					if s.first == nil {
						s.first, s.firstTime = err, now
					}
					continue
				}
				s.ok++
				s.lat = append(s.lat, now.Sub(it.at))
			}
		})
	}

	start := time.Now()
	end := start.Add(o.Duration)
	n := o.dispatch(ctx, start, queue)
	close(queue)
	if ctx.Err() != nil {
		end = later(end, time.Now())
	}
	wg.Wait()

	st := LoopStats{Scheduled: n}
	var firstTime time.Time
	for _, s := range ws {
		st.OK += s.ok
		st.Errors += s.errs
		st.Latencies = append(st.Latencies, s.lat...)
		end = later(end, s.last)
		if s.first != nil && (st.FirstErr == nil || s.firstTime.Before(firstTime)) {
			st.FirstErr, firstTime = s.first, s.firstTime
		}
	}
	st.Elapsed = end.Sub(start)
	return st
}

// dispatch queues operations at their scheduled times and returns how many
// it queued.
func (o OpenLoop) dispatch(ctx context.Context, start time.Time, queue chan<- scheduled) int {
	var rng *rand.Rand
	if o.Poisson {
		rng = rand.New(rand.NewPCG(o.Seed, 0x09e7))
	}
	gap := float64(time.Second) / o.Rate
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var offset time.Duration
	n := 0
	for o.Count == 0 || n < o.Count {
		if o.Duration > 0 && offset >= o.Duration {
			break
		}
		at := start.Add(offset)
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return n
			case <-timer.C:
			}
		}
		select {
		case <-ctx.Done():
			return n
		case queue <- scheduled{i: n, at: at}:
		}
		n++
		if rng != nil {
			offset += time.Duration(rng.ExpFloat64() * gap)
		} else {
			// From n, not by adding gaps, so rounding does not drift.
			offset = time.Duration(float64(n) * gap)
		}
	}
	return n
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
