package recommender

import (
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/rightsizer/rightsizer/recommender/sketch"
)

// Options configure an Engine. Start from DefaultOptions.
type Options struct {
	// Policy maps workloads to profiles; nil means DefaultPolicy().
	Policy *Policy
	// Stripes is the number of lock stripes the container states are
	// spread over, a power of two. Ingest groups a batch by stripe and takes
	// each stripe's lock once, so fewer stripes mean larger groups whose
	// cache misses overlap, while more stripes mean shorter lock holds for
	// queries. Default 64: in a sweep with 8 goroutines ingesting into
	// 100,000 containers on 2 cores, 64 stripes gave 3.3–3.6M samples/s and
	// 1024 gave 2.5M (make bench-engine -stripes N; the host is noisy).
	Stripes int
	// RelativeAccuracy of every sketch (default 0.01) and MaxBuckets per
	// sketch (default 2048); see sketch.Options.
	RelativeAccuracy float64
	MaxBuckets       int
	// MaxContainers bounds the containers tracked, so a flood of hostile or
	// churning label values cannot exhaust memory. Default 1<<20.
	MaxContainers int
	// MaxFutureSkew rejects samples stamped later than Clock.Now() plus this
	// (a broken node clock would otherwise poison a sketch's decay). Zero
	// disables the check, for replays and simulations on virtual time.
	// Samples before 2000 or after 2100 are always rejected.
	MaxFutureSkew time.Duration
	// NotifyInterval is how often subscribers are told about changed
	// recommendations. Default 250 ms, well within the 1 s promise.
	NotifyInterval time.Duration
	// Clock drives the notifier's and GC's tickers and the skew check; nil
	// means the real clock.
	Clock clock.WithTicker
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer for the engine's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// DefaultOptions returns the defaults described on Options.
func DefaultOptions() Options {
	return Options{
		Stripes:          64,
		RelativeAccuracy: 0.01,
		MaxBuckets:       2048,
		MaxContainers:    1 << 20,
		NotifyInterval:   250 * time.Millisecond,
	}
}

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	var errs []error
	if o.Stripes <= 0 || o.Stripes&(o.Stripes-1) != 0 || o.Stripes > 1<<20 {
		errs = append(errs, fmt.Errorf("stripes %d is not a power of two in [1, 2^20]", o.Stripes))
	}
	so := sketch.DefaultOptions()
	so.RelativeAccuracy, so.MaxBuckets = o.RelativeAccuracy, o.MaxBuckets
	if err := so.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.MaxContainers <= 0 {
		errs = append(errs, fmt.Errorf("max containers %d must be positive", o.MaxContainers))
	}
	if o.MaxFutureSkew < 0 {
		errs = append(errs, fmt.Errorf("max future skew %v is negative", o.MaxFutureSkew))
	}
	if o.NotifyInterval <= 0 || o.NotifyInterval > time.Second {
		errs = append(errs, fmt.Errorf("notify interval %v is not in (0, 1s]", o.NotifyInterval))
	}
	return errors.Join(errs...)
}

// Engine is the streaming recommendation engine: it ingests usage samples
// and inventory, keeps per-container state, and answers with
// recommendations. All methods are safe for concurrent use.
//
// Concurrency: container states live in Options.Stripes stripes, each
// guarded by its own mutex and keyed by a hash of the container key, so
// ingest from many goroutines contends only when two samples hash to one
// stripe at the same moment. Lock order is stripe, then inventory; no
// code path holds the inventory lock while taking a stripe lock.
type Engine struct {
	opts    Options
	policy  atomic.Pointer[Policy]
	seed    maphash.Seed
	stripes []stripe
	mask    uint64
	count   atomic.Int64 // containers tracked
	latest  atomic.Int64 // newest sample time seen, ns since the epoch
	log     *slog.Logger
	metrics *engineMetrics

	cfgMu sync.Mutex
	cfgs  map[sketch.Options]*sketch.Config

	inv     inventory
	sub     subscribers
	ckpt    ckptTracker
	scratch sync.Pool // of *ingestScratch
}

// stripe is one lock stripe, padded to a cache line so neighbouring
// stripes' locks do not share one. Its map is keyed by the 64-bit key hash
// that also chose the stripe, so a sample's key is hashed once and compared
// once (hashing and comparing five strings in a map cost a third of ingest);
// the rare states whose hashes collide chain through containerState.next.
// All methods need mu held.
type stripe struct {
	mu sync.Mutex
	m  map[uint64]*containerState
	_  [48]byte
}

func (s *stripe) get(h uint64, k *ContainerKey) *containerState {
	cs := s.m[h]
	for cs != nil && cs.key != *k {
		cs = cs.next
	}
	return cs
}

// put adds cs, whose key hashes to cs.hash.
func (s *stripe) put(cs *containerState) {
	cs.next = s.m[cs.hash]
	s.m[cs.hash] = cs
}

func (s *stripe) remove(cs *containerState) {
	p := s.m[cs.hash]
	if p == cs {
		if cs.next == nil {
			delete(s.m, cs.hash)
		} else {
			s.m[cs.hash] = cs.next
		}
		return
	}
	for ; p != nil; p = p.next {
		if p.next == cs {
			p.next = cs.next
			return
		}
	}
}

// each calls fn for every state; fn must not add or remove states.
func (s *stripe) each(fn func(cs *containerState)) {
	for _, cs := range s.m {
		for ; cs != nil; cs = cs.next {
			fn(cs)
		}
	}
}

// inventory is what runs and what it requests.
type inventory struct {
	mu        sync.RWMutex
	workloads map[WorkloadKey]*Workload
	// seen lists, per workload, the containers that have state, including
	// ones the inventory does not know.
	seen map[WorkloadKey][]string
}

// NewEngine validates opts and returns an empty engine.
func NewEngine(opts Options) (*Engine, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("engine options: %w", err)
	}
	if opts.Policy == nil {
		opts.Policy = DefaultPolicy()
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		opts:    opts,
		seed:    maphash.MakeSeed(),
		stripes: make([]stripe, opts.Stripes),
		mask:    uint64(opts.Stripes - 1),
		log:     opts.Logger,
		cfgs:    map[sketch.Options]*sketch.Config{},
		inv:     inventory{workloads: map[WorkloadKey]*Workload{}, seen: map[WorkloadKey][]string{}},
	}
	for i := range e.stripes {
		e.stripes[i].m = map[uint64]*containerState{}
	}
	e.scratch.New = func() any { return &ingestScratch{} }
	e.policy.Store(opts.Policy)
	e.metrics = newEngineMetrics(opts.Registerer, e)
	return e, nil
}

var _ Sink = (*Engine)(nil)

// Policy returns the policy in force.
func (e *Engine) Policy() *Policy { return e.policy.Load() }

// SetPolicy replaces the policy. Recommendations follow at once; sketch
// half-lives of containers already tracked do not change (a sketch cannot
// be re-decayed).
func (e *Engine) SetPolicy(p *Policy) {
	e.policy.Store(p)
	for i := range e.stripes {
		s := &e.stripes[i]
		s.mu.Lock()
		s.each(func(cs *containerState) { cs.dirty = true })
		s.mu.Unlock()
	}
}

// Len returns the number of containers with state.
func (e *Engine) Len() int { return int(e.count.Load()) }

// sketchConfig returns the shared sketch Config for a half-life.
func (e *Engine) sketchConfig(halfLife time.Duration) *sketch.Config {
	o := sketch.DefaultOptions()
	o.RelativeAccuracy, o.MaxBuckets, o.HalfLife = e.opts.RelativeAccuracy, e.opts.MaxBuckets, halfLife
	c, err := e.internConfig(o, false)
	if err != nil {
		// Unreachable: engine options and profiles are validated before
		// they get here, and only decoded data is subject to the bound.
		panic(fmt.Sprintf("sketch config: %v", err))
	}
	return c
}

// locate returns the stripe of k and its hash.
func (e *Engine) locate(k *ContainerKey) (*stripe, uint64) {
	h := maphash.Comparable(e.seed, *k)
	return &e.stripes[h&e.mask], h
}

var (
	minSampleTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxSampleTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// checkTime reports why t cannot be used, if it cannot.
func (e *Engine) checkTime(t time.Time) string {
	if t.Before(minSampleTime) || !t.Before(maxSampleTime) {
		return "time outside [2000, 2100)"
	}
	if e.opts.MaxFutureSkew > 0 && t.After(e.opts.Clock.Now().Add(e.opts.MaxFutureSkew)) {
		return "time in the future beyond the allowed clock skew"
	}
	return ""
}

// keyTooLong is a cheap check before a key is hashed: hashing a megabyte
// of hostile label would cost more than rejecting it.
func keyTooLong(k *ContainerKey) bool {
	return len(k.Cluster) > MaxKeyPartLen || len(k.Namespace) > MaxKeyPartLen || len(k.Kind) > MaxKeyPartLen ||
		len(k.Name) > MaxKeyPartLen || len(k.Container) > MaxKeyPartLen
}

// Ingest records a batch of samples (see Sink). It does not retain the
// slice. A sample that cannot be recorded is rejected alone and reported
// in an *IngestError.
//
// Cost: one hash per sample and one lock per stripe the batch touches. The
// batch is grouped by stripe first: on x86 every lock is a full memory
// barrier, so a lock per sample would serialise the cache misses of
// consecutive samples; under one lock, the lookups of a group's samples
// overlap instead.
func (e *Engine) Ingest(samples []Sample) error {
	var ie IngestError
	reject := func(i int, k ContainerKey, err error) {
		ie.Rejected++
		if len(ie.Samples) < MaxSampleErrors {
			ie.Samples = append(ie.Samples, &SampleError{Index: i, Key: k, Err: err})
		}
	}
	sc := e.scratch.Get().(*ingestScratch)
	defer e.scratch.Put(sc)
	items := sc.items[:0]
	var newest int64
	for i := range samples {
		s := &samples[i]
		if why := validUsage(&s.Usage); why != "" {
			reject(i, s.Key, fmt.Errorf("%w: %s", ErrInvalidSample, why))
			continue
		}
		if why := e.checkTime(s.Time); why != "" {
			reject(i, s.Key, fmt.Errorf("%w: %s", ErrInvalidSample, why))
			continue
		}
		if keyTooLong(&s.Key) {
			reject(i, s.Key, fmt.Errorf("%w: key part longer than %d bytes", ErrInvalidKey, MaxKeyPartLen))
			continue
		}
		items = append(items, ingestItem{i: int32(i), h: maphash.Comparable(e.seed, s.Key)})
		newest = max(newest, s.Time.UnixNano())
	}
	e.advance(newest)
	groups := sc.group(items, e.mask)
	var pol *Policy
	for len(groups) > 0 {
		n := 1
		sid := groups[0].h & e.mask
		for n < len(groups) && groups[n].h&e.mask == sid {
			n++
		}
		g := groups[:n]
		groups = groups[n:]
		st := &e.stripes[sid]
		states := sc.states[:0]
		st.mu.Lock()
		for _, it := range g { // independent lookups: their misses overlap
			states = append(states, st.get(it.h, &samples[it.i].Key))
		}
		for j, it := range g {
			s := &samples[it.i]
			cs := states[j]
			if cs == nil {
				if cs = st.get(it.h, &s.Key); cs == nil { // created earlier in this group
					if pol == nil {
						pol = e.policy.Load()
					}
					var err error
					if cs, err = e.create(st, it.h, s.Key, pol); err != nil {
						reject(int(it.i), s.Key, err)
						continue
					}
				}
			}
			cs.add(&s.Usage, s.Time)
		}
		st.mu.Unlock()
		sc.states = states[:0]
	}
	sc.items = items[:0]
	e.metrics.ingested(len(samples)-ie.Rejected, ie.Rejected)
	if ie.Rejected > 0 {
		slices.SortFunc(ie.Samples, func(a, b *SampleError) int { return a.Index - b.Index })
		return &ie
	}
	return nil
}

// advance raises the newest sample time seen to t.
func (e *Engine) advance(t int64) {
	for {
		cur := e.latest.Load()
		if t <= cur || e.latest.CompareAndSwap(cur, t) {
			return
		}
	}
}

// Latest returns the time of the newest sample the engine has seen: the
// engine's notion of "now", which is the wall clock for live sources and
// the virtual time of a replay or simulation. Zero before any sample.
func (e *Engine) Latest() time.Time {
	if t := e.latest.Load(); t != 0 {
		return time.Unix(0, t).UTC()
	}
	return time.Time{}
}

// ingestItem is a valid sample of a batch and its key's hash.
type ingestItem struct {
	i int32 // index in the batch
	h uint64
}

// ingestScratch holds Ingest's working memory, reused through a pool.
type ingestScratch struct {
	items, sorted []ingestItem
	states        []*containerState
	counts        []int32
}

// group returns items sorted by stripe (a stable counting sort, so each
// container's samples keep their batch order).
func (sc *ingestScratch) group(items []ingestItem, mask uint64) []ingestItem {
	if len(items) < 2 {
		return items
	}
	n := int(mask) + 1
	if cap(sc.counts) < n+1 {
		sc.counts = make([]int32, n+1)
	}
	counts := sc.counts[:n+1]
	clear(counts)
	for _, it := range items {
		counts[it.h&mask+1]++
	}
	for k := 1; k <= n; k++ {
		counts[k] += counts[k-1]
	}
	sorted := slices.Grow(sc.sorted[:0], len(items))[:len(items)]
	for _, it := range items {
		k := it.h & mask
		sorted[counts[k]] = it
		counts[k]++
	}
	sc.sorted = sorted
	return sorted
}

// create makes the state for a new key hashing to h. The caller holds st.mu.
func (e *Engine) create(st *stripe, h uint64, k ContainerKey, pol *Policy) (*containerState, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	if e.count.Load() >= int64(e.opts.MaxContainers) {
		return nil, fmt.Errorf("%w: already tracking the maximum of %d containers", ErrInvalidSample, e.opts.MaxContainers)
	}
	p := pol.Resolve(k.WorkloadKey)
	e.inv.mu.RLock()
	w, known := e.inv.workloads[k.WorkloadKey]
	var spec ContainerSpec
	if known {
		spec, _ = w.Container(k.Container)
	}
	cs := e.newState(&p, known && w.Managed)
	if known {
		cs.inventoryChanged(w, &spec)
	}
	e.inv.mu.RUnlock()
	e.adopt(st, h, k, cs)
	return cs, nil
}

// adopt adds a new state for k to st and to the seen index. The caller
// holds st.mu and has checked MaxContainers.
func (e *Engine) adopt(st *stripe, h uint64, k ContainerKey, cs *containerState) {
	cs.key, cs.hash = k, h
	st.put(cs)
	e.count.Add(1)
	e.inv.mu.Lock()
	e.inv.seen[k.WorkloadKey] = append(e.inv.seen[k.WorkloadKey], k.Container)
	e.inv.mu.Unlock()
}

// RecordOOM records an OOM kill (see Sink). When the event does not say
// which limit was in force, the inventory's current limit is used.
func (e *Engine) RecordOOM(ev OOMEvent) error {
	if ev.Limit < 0 || ev.Usage < 0 {
		return fmt.Errorf("%w: negative limit or usage", ErrInvalidSample)
	}
	if why := e.checkTime(ev.Time); why != "" {
		return fmt.Errorf("%w: %s", ErrInvalidSample, why)
	}
	if keyTooLong(&ev.Key) {
		return fmt.Errorf("%w: key part longer than %d bytes", ErrInvalidKey, MaxKeyPartLen)
	}
	if ev.Limit == 0 {
		if w := e.workload(ev.Key.WorkloadKey); w != nil {
			spec, _ := w.Container(ev.Key.Container)
			ev.Limit = spec.Limits.Memory
		}
	}
	st, h := e.locate(&ev.Key)
	st.mu.Lock()
	defer st.mu.Unlock()
	cs := st.get(h, &ev.Key)
	if cs == nil {
		var err error
		if cs, err = e.create(st, h, ev.Key, e.policy.Load()); err != nil {
			return err
		}
	}
	cs.recordOOM(ev.Time.UnixNano(), ev.Limit, ev.Usage)
	e.metrics.ooms.Inc()
	return nil
}

// UpsertWorkload adds or replaces a workload in the inventory (see Sink).
// The engine keeps its own copy.
func (e *Engine) UpsertWorkload(w Workload) error {
	for _, c := range w.Containers {
		k := ContainerKey{WorkloadKey: w.Key, Container: c.Name}
		if err := k.Validate(); err != nil {
			return err
		}
	}
	if len(w.Containers) == 0 {
		if err := (ContainerKey{WorkloadKey: w.Key, Container: "-"}).Validate(); err != nil {
			return err
		}
	}
	if w.Replicas < 0 {
		return fmt.Errorf("%w: workload %s has %d replicas", ErrInvalidKey, w.Key, w.Replicas)
	}
	cp := w
	cp.Labels = maps.Clone(w.Labels)
	cp.Containers = slices.Clone(w.Containers)
	e.inv.mu.Lock()
	e.inv.workloads[w.Key] = &cp
	e.inv.mu.Unlock()
	e.markDirty(&cp)
	return nil
}

// DeleteWorkload removes a workload from the inventory. Its containers'
// usage state stays until GC drops it, so a quick re-create keeps history.
func (e *Engine) DeleteWorkload(k WorkloadKey) {
	e.inv.mu.Lock()
	delete(e.inv.workloads, k)
	e.inv.mu.Unlock()
}

// markDirty tells the states of w's containers that their inventory
// changed: the notifier re-evaluates them, and calibration learns the
// requests in force.
func (e *Engine) markDirty(w *Workload) {
	var live *sketch.Config // for a workload newly managed
	if w.Managed {
		if p := e.policy.Load().Resolve(w.Key); p.LiveHalfLife > 0 {
			live = e.sketchConfig(p.LiveHalfLife)
		}
	}
	for _, c := range w.Containers {
		ck := ContainerKey{WorkloadKey: w.Key, Container: c.Name}
		st, h := e.locate(&ck)
		st.mu.Lock()
		if s := st.get(h, &ck); s != nil {
			s.dirty = true
			s.inventoryChanged(w, &c)
			if live != nil && s.cpuLive.Config() == nil {
				s.cpuLive = live.Make()
			}
		}
		st.mu.Unlock()
	}
}

// Workloads returns a copy of the inventory, sorted by key.
func (e *Engine) Workloads() []Workload {
	e.inv.mu.RLock()
	out := make([]Workload, 0, len(e.inv.workloads))
	for _, w := range e.inv.workloads {
		cp := *w
		cp.Labels = maps.Clone(w.Labels)
		cp.Containers = slices.Clone(w.Containers)
		out = append(out, cp)
	}
	e.inv.mu.RUnlock()
	slices.SortFunc(out, func(a, b Workload) int { return compareWorkloadKeys(a.Key, b.Key) })
	return out
}

// workload returns the inventory's record of k (immutable once stored),
// nil if none. A caller may hold a stripe lock.
func (e *Engine) workload(k WorkloadKey) *Workload {
	e.inv.mu.RLock()
	defer e.inv.mu.RUnlock()
	return e.inv.workloads[k]
}

// Recommend returns the recommendation for one container. ErrNotFound if
// the engine has neither usage nor inventory for it.
func (e *Engine) Recommend(k ContainerKey) (Recommendation, error) {
	in := e.newInputs().of(k, e.workload(k.WorkloadKey))
	st, h := e.locate(&k)
	st.mu.Lock()
	cs := st.get(h, &k)
	if cs != nil {
		r := cs.recommend(&in)
		st.mu.Unlock()
		return r, nil
	}
	st.mu.Unlock()
	if in.spec.Name == "" {
		return Recommendation{}, fmt.Errorf("container %s: %w", k, ErrNotFound)
	}
	return e.emptyRecommendation(&in), nil
}

// emptyRecommendation is the answer for a known container with no usage.
func (e *Engine) emptyRecommendation(in *estimateInput) Recommendation {
	return e.newState(in.profile, false).recommend(in)
}

// newState makes an empty state with the sketches profile p asks for. The
// live CPU horizon is kept only for managed workloads: only rightsizer's
// controller applies Live, and the sketch costs memory and ingest time.
func (e *Engine) newState(p *Profile, managed bool) *containerState {
	var live *sketch.Config
	if managed && p.LiveHalfLife > 0 {
		live = e.sketchConfig(p.LiveHalfLife)
	}
	return newContainerState(e.sketchConfig(p.HalfLife), live, p)
}

// Workload returns the recommendations for every container of a
// workload, in container order. ErrNotFound if none is known.
func (e *Engine) Workload(k WorkloadKey) ([]Recommendation, error) {
	e.inv.mu.RLock()
	names := slices.Clone(e.inv.seen[k])
	if w, ok := e.inv.workloads[k]; ok {
		for _, c := range w.Containers {
			names = append(names, c.Name)
		}
	}
	e.inv.mu.RUnlock()
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("workload %s: %w", k, ErrNotFound)
	}
	out := make([]Recommendation, 0, len(names))
	for _, n := range names {
		r, err := e.Recommend(ContainerKey{WorkloadKey: k, Container: n})
		if err != nil {
			continue // deleted meanwhile
		}
		out = append(out, r)
	}
	return out, nil
}

// Filter selects containers for List. Empty fields match everything.
type Filter struct {
	Namespace string
	Kind      string
	Name      string
}

func (f *Filter) match(k *WorkloadKey) bool {
	return (f.Namespace == "" || f.Namespace == k.Namespace) && (f.Kind == "" || f.Kind == k.Kind) && (f.Name == "" || f.Name == k.Name)
}

// List returns the recommendations of every container that f matches,
// with or without usage, sorted by key. It costs a few microseconds per
// container and holds each stripe's lock only while reading that stripe.
func (e *Engine) List(f Filter) []Recommendation {
	recs, _ := e.list(f)
	return recs
}

// WorkloadRecommendations is one workload's entry of ListWorkloads.
type WorkloadRecommendations struct {
	Key WorkloadKey
	// Labels are the inventory's labels, nil if it does not know the
	// workload. The map is shared with the engine and must not be
	// modified: the engine never changes a stored map (UpsertWorkload
	// replaces it), so reading it needs no lock.
	Labels map[string]string
	// Recommendations has one entry per container, sorted by name.
	Recommendations []Recommendation
}

// ListWorkloads is List grouped by workload, with each workload's labels,
// sorted by key: a list snapshot in one pass, without the copy of the
// inventory that Workloads makes.
func (e *Engine) ListWorkloads(f Filter) []WorkloadRecommendations {
	recs, ws := e.list(f)
	var out []WorkloadRecommendations
	for len(recs) > 0 {
		n := 1
		for n < len(recs) && recs[n].WorkloadKey == recs[0].WorkloadKey {
			n++
		}
		k := recs[0].WorkloadKey
		var lbls map[string]string
		if w := ws[k]; w != nil {
			lbls = w.Labels
		}
		out = append(out, WorkloadRecommendations{Key: k, Labels: lbls, Recommendations: recs[:n:n]})
		recs = recs[n:]
	}
	return out
}

// list computes List(f) and returns it with the inventory's records of
// the matching workloads (immutable once stored, see UpsertWorkload).
func (e *Engine) list(f Filter) ([]Recommendation, map[WorkloadKey]*Workload) {
	ins := e.newInputs()
	// Take the inventory first, so no inventory lock is held while stripes
	// are read. missing holds its containers without state (usually few):
	// they get a recommendation from their requests alone.
	ws := map[WorkloadKey]*Workload{}
	missing := map[ContainerKey]struct{}{}
	e.inv.mu.RLock()
	for k, w := range e.inv.workloads {
		if !f.match(&k) {
			continue
		}
		ws[k] = w
		seen := e.inv.seen[k]
		for _, c := range w.Containers {
			if !slices.Contains(seen, c.Name) {
				missing[ContainerKey{WorkloadKey: k, Container: c.Name}] = struct{}{}
			}
		}
	}
	e.inv.mu.RUnlock()
	out := make([]Recommendation, 0, int(e.count.Load())+len(missing))
	for i := range e.stripes {
		st := &e.stripes[i]
		st.mu.Lock()
		st.each(func(cs *containerState) {
			if !f.match(&cs.key.WorkloadKey) {
				return
			}
			in := ins.of(cs.key, ws[cs.key.WorkloadKey])
			out = append(out, cs.recommend(&in))
			if len(missing) > 0 {
				delete(missing, cs.key) // created since the inventory was read
			}
		})
		st.mu.Unlock()
		yield()
	}
	for k := range missing {
		in := ins.of(k, ws[k.WorkloadKey])
		out = append(out, e.emptyRecommendation(&in))
	}
	return sortedByKey(out), ws
}

// sortedByKey returns recs sorted by container key. It sorts indices and
// copies each recommendation once: sorting the ~300-byte structs in place
// moved each of them a dozen times.
func sortedByKey(recs []Recommendation) []Recommendation {
	idx := make([]int32, len(recs))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int { return compareContainerKeys(recs[a].ContainerKey, recs[b].ContainerKey) })
	out := make([]Recommendation, len(recs))
	for i, j := range idx {
		out[i] = recs[j]
	}
	return out
}

// inputs builds estimate inputs for one pass over many states, resolving
// each profile once: per namespace for workloads without an override of
// their own (most), else per workload. Not safe for concurrent use.
type inputs struct {
	pol        *Policy
	byNS       map[string]*Profile
	byWorkload map[WorkloadKey]*Profile
}

// newInputs starts a pass under the policy in force. The maps are made on
// first use, so a single lookup (Recommend) costs no more than a Resolve.
func (e *Engine) newInputs() *inputs { return &inputs{pol: e.policy.Load()} }

func (ins *inputs) profile(k WorkloadKey) *Profile {
	if ins.pol.hasWorkloadOverride(k) {
		return memoProfile(&ins.byWorkload, k, ins.pol, k)
	}
	return memoProfile(&ins.byNS, k.Namespace, ins.pol, k)
}

// memoProfile returns the profile cached under key in *m, resolving it for
// workload w on a miss.
func memoProfile[K comparable](m *map[K]*Profile, key K, pol *Policy, w WorkloadKey) *Profile {
	if p, ok := (*m)[key]; ok {
		return p
	}
	if *m == nil {
		*m = map[K]*Profile{}
	}
	p := pol.Resolve(w)
	(*m)[key] = &p
	return &p
}

// of returns container k's input, given its workload's inventory record
// (nil if unknown).
func (ins *inputs) of(k ContainerKey, w *Workload) estimateInput {
	in := estimateInput{key: k, profile: ins.profile(k.WorkloadKey), prices: ins.pol.Prices()}
	if w != nil {
		in.spec, _ = w.Container(k.Container)
		in.replicas, in.scaledOn = w.Replicas, w.AutoscaledOn
	}
	return in
}

// yield lets other goroutines run between the stripes of a long pass over
// every state (List, the notifier). With GOMAXPROCS 2, a pass of 10,000
// containers (~50 ms) would otherwise hold a P until the runtime preempts
// it after 10 ms, and a request arriving meanwhile waits that long
// (make bench-api: list p99).
func yield() { runtime.Gosched() }

func compareWorkloadKeys(a, b WorkloadKey) int {
	return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
}

func compareContainerKeys(a, b ContainerKey) int {
	return cmp.Or(compareWorkloadKeys(a.WorkloadKey, b.WorkloadKey), cmp.Compare(a.Container, b.Container))
}

// GC drops the state of containers whose last sample is older than their
// profile's Window plus one peak interval before now, and returns how many
// it dropped. Their inventory records stay. Run calls it with Latest(), so
// that replays on old or virtual time age out by their own clock.
func (e *Engine) GC(now time.Time) int {
	pol := e.policy.Load()
	dropped := 0
	for i := range e.stripes {
		st := &e.stripes[i]
		st.mu.Lock()
		var stale []*containerState
		st.each(func(cs *containerState) {
			p := pol.Resolve(cs.key.WorkloadKey)
			if cs.last < now.Add(-p.Window-p.PeakInterval).UnixNano() {
				stale = append(stale, cs)
			}
		})
		for _, cs := range stale {
			st.remove(cs)
			e.count.Add(-1)
			e.forget(cs.key)
		}
		dropped += len(stale)
		st.mu.Unlock()
	}
	return dropped
}

// forget removes k from the seen index and records the deletion for the
// next checkpoint. The caller holds k's stripe lock.
func (e *Engine) forget(k ContainerKey) {
	e.inv.mu.Lock()
	names := e.inv.seen[k.WorkloadKey]
	if i := slices.Index(names, k.Container); i >= 0 {
		names = slices.Delete(names, i, i+1)
	}
	if len(names) == 0 {
		delete(e.inv.seen, k.WorkloadKey)
	} else {
		e.inv.seen[k.WorkloadKey] = names
	}
	e.inv.mu.Unlock()
	e.ckpt.deleted(k)
}
