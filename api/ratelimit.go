package api

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ErrRateLimited means a client's request would have to wait longer than allowed for its rate
// limit. Callers map it to codes.ResourceExhausted; the client should retry later.
var ErrRateLimited = errors.New("rate limited")

// defaultMaxRateLimitClients bounds the buckets when NewRateLimiter gets maxClients < 1.
const defaultMaxRateLimitClients = 4096

// RateLimiter limits how many usage samples per second each client may ingest, with one token
// bucket (golang.org/x/time/rate) per client name. At most maxClients buckets are kept; the least
// recently used is evicted when a new client arrives, so an evicted client starts again with a
// full burst. A nil *RateLimiter, or one made with ratePerSec <= 0, never limits.
// RateLimiter is safe for concurrent use; its mutex is held only for bucket lookup, never while waiting.
type RateLimiter struct {
	limit      rate.Limit
	burst      int
	maxClients int
	maxWait    time.Duration // <= 0: no cap

	mu      sync.Mutex
	buckets map[string]*list.Element // of *clientBucket
	lru     list.List                // front: most recently used
}

// clientBucket is one client's token bucket. mu makes a multi-chunk reservation atomic with
// respect to other waits for the same client, so a rejected request consumes nothing.
type clientBucket struct {
	name string
	mu   sync.Mutex
	lim  *rate.Limiter
}

// NewRateLimiter returns a limiter allowing each client ratePerSec samples per second on average,
// in bursts of up to burst samples (burst < 1 means max(1, ratePerSec)). ratePerSec <= 0 means
// unlimited. maxClients bounds the number of buckets kept (< 1 means 4096). maxWait is the longest
// a single Wait may block (<= 0 means no cap other than the ctx).
func NewRateLimiter(ratePerSec float64, burst int, maxClients int, maxWait time.Duration) *RateLimiter {
	if ratePerSec <= 0 || math.IsNaN(ratePerSec) {
		return &RateLimiter{limit: rate.Inf}
	}
	if burst < 1 {
		burst = int(min(math.Max(1, ratePerSec), math.MaxInt32))
	}
	if maxClients < 1 {
		maxClients = defaultMaxRateLimitClients
	}
	return &RateLimiter{
		limit:      rate.Limit(ratePerSec),
		burst:      burst,
		maxClients: maxClients,
		maxWait:    maxWait,
		buckets:    make(map[string]*list.Element),
	}
}

// Wait blocks until client may ingest n samples, taking them from its bucket in chunks of at most
// burst, so n may exceed the burst. This is backpressure: the caller simply does not read its
// stream meanwhile. If the wait would exceed maxWait, or the ctx deadline, Wait returns an error
// wrapping ErrRateLimited at once, consuming nothing. If ctx ends while waiting, Wait returns
// ctx.Err() and gives back the samples it had reserved but not yet reached.
// n <= 0 returns nil at once. Complexity is O(n/burst) per call.
func (l *RateLimiter) Wait(ctx context.Context, client string, n int) error {
	if l == nil || l.limit == rate.Inf || n <= 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b := l.bucket(client)

	b.mu.Lock()
	now := time.Now()
	delay := l.delayLocked(b, now, n)
	maxWait := l.maxWait
	if dl, ok := ctx.Deadline(); ok && (maxWait <= 0 || dl.Sub(now) < maxWait) {
		maxWait = max(dl.Sub(now), 1) // A passed deadline still refuses any wait.
	}
	if maxWait > 0 && delay > maxWait {
		b.mu.Unlock()
		return fmt.Errorf("%w: client %q: %d samples need %v, more than %v", ErrRateLimited, client, n, delay.Round(time.Millisecond), maxWait)
	}
	rs := make([]*rate.Reservation, 0, (n+l.burst-1)/l.burst)
	for left := n; left > 0; left -= l.burst {
		rs = append(rs, b.lim.ReserveN(now, min(left, l.burst)))
	}
	delay = rs[len(rs)-1].DelayFrom(now)
	b.mu.Unlock()

	if delay <= 0 {
		return nil
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		cancelAt := time.Now()
		for i := len(rs) - 1; i >= 0; i-- {
			rs[i].CancelAt(cancelAt)
		}
		b.mu.Unlock()
		return ctx.Err()
	}
}

// delayLocked is how long n samples would wait in b at now. b.mu must be held.
func (l *RateLimiter) delayLocked(b *clientBucket, now time.Time, n int) time.Duration {
	missing := float64(n) - b.lim.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	secs := missing / float64(l.limit)
	if secs >= math.MaxInt64/float64(time.Second) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(secs * float64(time.Second))
}

// bucket returns client's bucket, creating it and evicting the least recently used one if needed.
func (l *RateLimiter) bucket(client string) *clientBucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.buckets[client]; ok {
		l.lru.MoveToFront(e)
		return e.Value.(*clientBucket)
	}
	if l.lru.Len() >= l.maxClients {
		oldest := l.lru.Back()
		l.lru.Remove(oldest)
		delete(l.buckets, oldest.Value.(*clientBucket).name)
	}
	b := &clientBucket{name: client, lim: rate.NewLimiter(l.limit, l.burst)}
	l.buckets[client] = l.lru.PushFront(b)
	return b
}

// clients returns the number of buckets held, for tests.
func (l *RateLimiter) clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}
