package recommender

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Requirements are the numbers of a recommendation that a consumer acts
// on: requests and limits per resource.
type Requirements struct {
	CPURequest, CPULimit       MilliCPU
	MemoryRequest, MemoryLimit Bytes
	GPUCompute                 GPUCompute
	GPUMemory                  Bytes
}

// RequirementsOf extracts the requests and limits of r.
func RequirementsOf(r *Recommendation) Requirements {
	q := Requirements{
		CPURequest: r.CPU.Request, CPULimit: r.CPU.Limit,
		MemoryRequest: r.Memory.Request, MemoryLimit: r.Memory.Limit,
	}
	if r.GPUCompute != nil {
		q.GPUCompute = r.GPUCompute.Request
	}
	if r.GPUMemory != nil {
		q.GPUMemory = r.GPUMemory.Request
	}
	return q
}

// MovedBy reports whether any request or limit differs from o's by more
// than threshold, relative to o's value (a value appearing from zero
// always counts).
func (q Requirements) MovedBy(o Requirements, threshold float64) bool {
	pairs := [...][2]float64{
		{float64(q.CPURequest), float64(o.CPURequest)}, {float64(q.CPULimit), float64(o.CPULimit)},
		{float64(q.MemoryRequest), float64(o.MemoryRequest)}, {float64(q.MemoryLimit), float64(o.MemoryLimit)},
		{float64(q.GPUCompute), float64(o.GPUCompute)}, {float64(q.GPUMemory), float64(o.GPUMemory)},
	}
	for _, p := range pairs {
		if p[0] == p[1] {
			continue
		}
		if p[1] == 0 || math.Abs(p[0]-p[1]) > threshold*p[1] {
			return true
		}
	}
	return false
}

// Change tells a subscriber that a recommendation moved.
type Change struct {
	// Recommendation is the new recommendation.
	Recommendation Recommendation
	// Previous holds the values the subscriber was last told about (or that
	// held when it subscribed); zero when New.
	Previous Requirements
	// New is set the first time a container gets a recommendation after
	// the subscription began, if SubscribeOptions.IncludeNew asked for it.
	New bool
}

// SubscribeOptions configure a subscription.
type SubscribeOptions struct {
	// Threshold is the relative change of any request or limit, since the
	// subscriber was last told, that produces a Change. Default 0.1 (10 %,
	// VPA's updater threshold).
	Threshold float64
	// IncludeNew also reports containers the first time they get usage.
	IncludeNew bool
	// Buffer is the channel's capacity. Default 64. A slow reader never
	// blocks the engine: undelivered changes coalesce per container, the
	// newest recommendation winning, so nothing is lost but intermediate
	// values.
	Buffer int
}

// subscribers is the engine's set of subscriptions.
type subscribers struct {
	mu     sync.Mutex
	list   []*subscriber
	active atomic.Int32
}

type subscriber struct {
	opts SubscribeOptions
	ch   chan Change
	wake chan struct{} // 1-buffered: pending has something

	mu      sync.Mutex
	pending map[ContainerKey]Change
	order   []ContainerKey

	// base holds, per container, the values this subscriber was last
	// compared against. Only the notifier goroutine touches it.
	base map[ContainerKey]Requirements
}

// Subscribe returns a channel of Changes: within Options.NotifyInterval
// (250 ms by default) of a recommendation moving by more than the
// threshold, a Change arrives. Run must be running. The channel closes
// when ctx is done.
func (e *Engine) Subscribe(ctx context.Context, o SubscribeOptions) <-chan Change {
	if o.Threshold <= 0 {
		o.Threshold = 0.1
	}
	if o.Buffer <= 0 {
		o.Buffer = 64
	}
	s := &subscriber{
		opts:    o,
		ch:      make(chan Change, o.Buffer),
		wake:    make(chan struct{}, 1),
		pending: map[ContainerKey]Change{},
		base:    map[ContainerKey]Requirements{},
	}
	e.sub.mu.Lock()
	if len(e.sub.list) == 0 {
		// Nobody was watching, so the engine kept no baselines: take them
		// now, so that this subscriber hears of moves from here on only.
		e.evaluate(false)
	}
	e.sub.list = append(e.sub.list, s)
	e.sub.active.Store(int32(len(e.sub.list)))
	e.sub.mu.Unlock()
	go e.deliver(ctx, s)
	return s.ch
}

// deliver moves pending changes to the subscriber's channel until ctx is
// done, then unregisters it and closes the channel.
func (e *Engine) deliver(ctx context.Context, s *subscriber) {
	defer func() {
		e.sub.mu.Lock()
		for i, x := range e.sub.list {
			if x == s {
				e.sub.list = append(e.sub.list[:i], e.sub.list[i+1:]...)
				break
			}
		}
		e.sub.active.Store(int32(len(e.sub.list)))
		e.sub.mu.Unlock()
		close(s.ch)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		for {
			c, ok := s.pop()
			if !ok {
				break
			}
			if !s.send(ctx, c) {
				return
			}
			e.metrics.notifications.Inc()
		}
	}
}

// pop takes the oldest pending change.
func (s *subscriber) pop() (Change, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) == 0 {
		return Change{}, false
	}
	k := s.order[0]
	s.order = s.order[1:]
	c := s.pending[k]
	delete(s.pending, k)
	return c, true
}

// send blocks until c is on the channel or ctx is done (false). While it
// waits, newer changes of the same container are folded into c, so a slow
// reader gets the newest recommendation, not the one that was current when
// the channel filled up.
func (s *subscriber) send(ctx context.Context, c Change) bool {
	k := c.Recommendation.ContainerKey
	for {
		select {
		case s.ch <- c:
			return true
		case <-ctx.Done():
			return false
		case <-s.wake:
			s.mu.Lock()
			if n, ok := s.pending[k]; ok {
				c.Recommendation = n.Recommendation
				delete(s.pending, k)
				s.order = slices.DeleteFunc(s.order, func(x ContainerKey) bool { return x == k })
			}
			// Other pending changes need no new wake-up: deliver's loop
			// drains them after this send.
			s.mu.Unlock()
		}
	}
}

// enqueue adds a change, coalescing with an undelivered one for the same
// container (keeping the older Previous and the newer Recommendation).
func (s *subscriber) enqueue(c Change) {
	k := c.Recommendation.ContainerKey
	s.mu.Lock()
	if old, ok := s.pending[k]; ok {
		c.Previous, c.New = old.Previous, old.New
	} else {
		s.order = append(s.order, k)
	}
	s.pending[k] = c
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// candidate is a re-evaluated container that some subscriber is to hear
// about.
type candidate struct {
	rec  Recommendation
	prev *Requirements // engine-wide values before this evaluation
}

// baseline is what s compares container k's new values against: what it
// was last told, else the engine-wide values before this evaluation (prev);
// false when k is new to both.
func (s *subscriber) baseline(k ContainerKey, prev *Requirements) (Requirements, bool) {
	if base, ok := s.base[k]; ok {
		return base, true
	}
	if prev != nil {
		return *prev, true
	}
	return Requirements{}, false
}

// wants reports whether s is to hear of container k's new values q.
func (s *subscriber) wants(k ContainerKey, q Requirements, prev *Requirements) bool {
	base, ok := s.baseline(k, prev)
	if !ok {
		return s.opts.IncludeNew
	}
	return q.MovedBy(base, s.opts.Threshold)
}

// settle records, for a container s does not hear about, the baseline
// later values are compared against: the values before this evaluation,
// or q for a container first seen now.
func (s *subscriber) settle(k ContainerKey, q Requirements, prev *Requirements) {
	if _, ok := s.base[k]; ok {
		return // the common case, on the notifier's hot path: no write
	}
	if prev != nil {
		s.base[k] = *prev
	} else {
		s.base[k] = q
	}
}

// evaluate recomputes the requirements of dirty containers (or all, if
// !onlyDirty) and updates their notified values; with subscribers it
// hands the changes to them. A container is first evaluated briefly
// (requests and limits only); the whole recommendation, bounds, risks and
// reason included, is computed only for the few that a subscriber hears
// about. The caller holds e.sub.mu, which guards every subscriber's base.
func (e *Engine) evaluate(onlyDirty bool) {
	ins := e.newInputs()
	var cands []candidate
	for i := range e.stripes {
		st := &e.stripes[i]
		st.mu.Lock()
		st.each(func(cs *containerState) {
			if onlyDirty && !cs.dirty {
				return
			}
			cs.dirty = false
			in := ins.of(cs.key, e.workload(cs.key.WorkloadKey))
			in.brief = true
			r := cs.recommend(&in)
			q := RequirementsOf(&r)
			prev := cs.notified
			cs.notified = &q
			if !onlyDirty {
				return
			}
			for _, s := range e.sub.list {
				if s.wants(cs.key, q, prev) {
					in.brief = false
					cands = append(cands, candidate{rec: cs.recommend(&in), prev: prev})
					return
				}
			}
			for _, s := range e.sub.list {
				s.settle(cs.key, q, prev)
			}
		})
		st.mu.Unlock()
		yield()
	}
	for _, c := range cands {
		q := RequirementsOf(&c.rec)
		k := c.rec.ContainerKey
		for _, s := range e.sub.list {
			if !s.wants(k, q, c.prev) {
				s.settle(k, q, c.prev)
				continue
			}
			base, known := s.baseline(k, c.prev)
			s.enqueue(Change{Recommendation: c.rec, Previous: base, New: !known})
			s.base[k] = q
		}
	}
}

// notify runs one notifier pass if anybody listens.
func (e *Engine) notify() {
	if e.sub.active.Load() == 0 {
		return
	}
	e.sub.mu.Lock()
	defer e.sub.mu.Unlock()
	if len(e.sub.list) > 0 {
		e.evaluate(true)
	}
}

// Run drives the engine's background work until ctx is done: the
// notifier every NotifyInterval and, every hour of Options.Clock, GC of
// states older than their window before Latest(). It returns nil on
// cancellation.
func (e *Engine) Run(ctx context.Context) error {
	notify := e.opts.Clock.NewTicker(e.opts.NotifyInterval)
	defer notify.Stop()
	gc := e.opts.Clock.NewTicker(time.Hour)
	defer gc.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-notify.C():
			e.notify()
		case <-gc.C():
			if n := e.GC(e.Latest()); n > 0 {
				e.log.Info("dropped stale container state", "containers", n)
			}
		}
	}
}
