package promseries

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
)

// Mapper turns series into samples, OOM events and learned ownership. It
// keeps, per container instance, the previous point of each counter and
// the point waiting to be joined; and per pod, ReplicaSet and Job, the
// owner. Its methods are safe for concurrent use: one mutex guards all
// state, held for one Map call (about 0.2 µs a point), so concurrent
// callers should decode outside it, as the receiver does.
type Mapper struct {
	opts Options
	seed maphash.Seed

	mu        sync.Mutex
	instances map[uint64]*instance
	owners    map[ownerRef]owner
	// queue holds the instances' pending joins in the order they opened,
	// so that due ones are found without scanning every instance. An entry
	// whose instance has since emitted or reopened its join is skipped.
	queue   []queued
	qhead   int
	started int64 // now of the first Map call, ns since the epoch; 0 before
	swept   int64 // now of the last sweep of stale state, ns

	// Scratch reused across calls under mu.
	parsed []*instance
	kinds  []metricKind
	refs   []pointRef
	late   pending
	h      maphash.Hash
}

// New returns an empty Mapper.
func New(opts Options) (*Mapper, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("series mapping options: %w", err)
	}
	m := &Mapper{
		opts:      opts,
		seed:      maphash.MakeSeed(),
		instances: map[uint64]*instance{},
		owners:    map[ownerRef]owner{},
	}
	m.h.SetSeed(m.seed)
	return m, nil
}

// metricKind is what a series is, by its metric name.
type metricKind uint8

const (
	kindOther metricKind = iota
	kindCPU
	kindMemory
	kindThrottled
	kindPeriods
	kindRestarts
	kindOOMReason
	kindPodOwner
	kindReplicaSetOwner
	kindJobOwner
)

func kindOf(name string) metricKind {
	switch name {
	case MetricCPUUsage:
		return kindCPU
	case MetricMemoryWorkingSet:
		return kindMemory
	case MetricThrottledPeriods:
		return kindThrottled
	case MetricPeriods:
		return kindPeriods
	case MetricRestarts:
		return kindRestarts
	case MetricLastTerminatedReason:
		return kindOOMReason
	case MetricPodOwner:
		return kindPodOwner
	case MetricReplicaSetOwner:
		return kindReplicaSetOwner
	case MetricJobOwner:
		return kindJobOwner
	}
	return kindOther
}

// instance is the state of one container instance: the series of one
// container from one source (scrape target, cgroup, pod UID), whatever
// their metric name.
type instance struct {
	cluster, namespace, pod, container string
	touched                            int64 // now of the last point, ns

	cpu, throttled, periods, restarts counter
	memT                              int64 // time of the last memory point, ms; 0 if none

	// Recent restart rises and OOMKilled reason points, by time (ms), and
	// the time of the last kill reported. Rings of four tolerate that far
	// of a lag between the remote-write shards that carry the two series.
	rises, oomReasons ring
	oomDone           int64

	pend pending
}

// counter is the previous point of a counter series.
type counter struct {
	t  int64 // ms
	v  float64
	ok bool // false before the first point and after a staleness marker
}

// step is the outcome of a counter's next point.
type step uint8

const (
	stepFirst      step = iota // no rate yet: the first point, or after a gap or staleness marker
	stepOK                     // a rate over the interval since the previous point
	stepOutOfOrder             // not after the previous point; ignored
)

// next records the point (t, v) and returns the counter's increase since
// the previous point and the interval in ms. A decrease is a reset: the
// counter restarted from zero, so its increase is v (PromQL's rate does
// the same).
func (c *counter) next(t int64, v float64, maxGap int64) (inc float64, dt int64, st step) {
	if c.ok && t <= c.t {
		return 0, 0, stepOutOfOrder
	}
	prev := *c
	*c = counter{t: t, v: v, ok: true}
	if !prev.ok || t-prev.t > maxGap {
		return 0, 0, stepFirst
	}
	inc = v - prev.v
	if inc < 0 {
		inc = v
	}
	return inc, t - prev.t, stepOK
}

// ring holds the last four timestamps added (ms); zero is empty, and no
// valid point has time zero.
type ring struct {
	t [4]int64
	n uint8
}

func (r *ring) add(t int64) {
	r.t[r.n%4] = t
	r.n++
}

func (r *ring) has(t int64) bool { return slices.Contains(r.t[:], t) }

// pending is a sample being joined from an instance's points at one time.
type pending struct {
	t              int64 // ms
	open           bool
	u              recommender.Usage
	thr, per       float64 // CFS periods throttled and elapsed in the interval
	hasThr, hasPer bool
}

type queued struct {
	in *instance
	t  int64 // the join's time, ms
	at int64 // now when it opened, ns
}

// objKind is the kind of object an ownership series describes.
type objKind uint8

const (
	objPod objKind = iota
	objReplicaSet
	objJob
)

type ownerRef struct {
	obj                      objKind
	cluster, namespace, name string
}

// owner is an object's controlling owner; kind "" means none.
type owner struct {
	kind, name string
	touched    int64 // now when last seen, ns
}

type pointRef struct {
	t    int64
	s, i int32 // series and point index
}

// labels is what Map reads from one series' labels.
type labels struct {
	kind                               metricKind
	cluster, namespace, pod, container string
	cpu, reason                        string
	hasCPU                             bool
	object, ownerKind, ownerName, ctrl string
}

// Map maps a batch of series. now is the wall-clock time of the call; it
// drives the warm-up, the join delay and the staleness of state, never
// the samples' times. Samples and OOM kills are appended to out, and its
// Stats counted. Joins still open are emitted by later calls or Flush.
func (m *Mapper) Map(now time.Time, series []Series, out *Output) {
	nowNS := now.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started == 0 {
		m.started, m.swept = nowNS, nowNS
	}
	maxT := maxTimeMS
	if m.opts.MaxFutureSkew > 0 {
		maxT = min(maxT, now.Add(m.opts.MaxFutureSkew).UnixMilli())
	}
	parsed, kinds, refs := m.parsed[:0], m.kinds[:0], m.refs[:0]
	// Pass 1: learn owners and find each container series' instance, so
	// that every sample of the batch resolves with the batch's ownership.
	for si := range series {
		s := &series[si]
		out.Stats.Series++
		out.Stats.Points += len(s.Points)
		var in *instance
		var l labels
		if m.parse(s.Labels, &l) {
			switch l.kind {
			case kindPodOwner, kindReplicaSetOwner, kindJobOwner:
				m.learn(&l, len(s.Points), nowNS, out)
			default:
				in = m.instance(&l, len(s.Points), nowNS, out)
			}
		} else {
			out.Stats.Ignored++
		}
		parsed = append(parsed, in)
		kinds = append(kinds, l.kind)
		if in == nil {
			continue
		}
		for pi := range s.Points {
			refs = append(refs, pointRef{t: s.Points[pi].T, s: int32(si), i: int32(pi)})
		}
	}
	// Pass 2: points in time order, so that the points of one scrape meet
	// in one join even when they come in separate series.
	cmpRef := func(a, b pointRef) int {
		return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.s, b.s), cmp.Compare(a.i, b.i))
	}
	if !slices.IsSortedFunc(refs, cmpRef) {
		slices.SortFunc(refs, cmpRef)
	}
	maxGap := m.opts.MaxGap.Milliseconds()
	for _, r := range refs {
		m.point(kinds[r.s], parsed[r.s], series[r.s].Points[r.i], maxT, maxGap, nowNS, out)
	}
	m.flushDue(nowNS, out)
	if nowNS-m.swept >= int64(m.opts.StaleAfter) {
		m.sweep(nowNS, out)
	}
	clear(parsed) // drop the references until the next call
	m.parsed, m.kinds, m.refs = parsed[:0], kinds[:0], refs[:0]
}

// Flush emits every open join, as at shutdown or the end of a backfill
// window.
func (m *Mapper) Flush(now time.Time, out *Output) {
	nowNS := now.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, q := range m.queue[m.qhead:] {
		if q.in.pend.open && q.in.pend.t == q.t {
			m.emit(q.in, &q.in.pend, nowNS, out)
		}
	}
	clear(m.queue)
	m.queue, m.qhead = m.queue[:0], 0
}

// parse reads the labels Map needs into l and reports whether the series
// is one Map reads. It stops at the metric name for others, which are
// most of what a Prometheus that remote-writes everything sends.
func (m *Mapper) parse(ls []Label, l *labels) bool {
	for i := range ls {
		if ls[i].Name == LabelName {
			l.kind = kindOf(ls[i].Value)
			break
		}
	}
	if l.kind == kindOther {
		return false
	}
	container := l.kind < kindPodOwner
	if container {
		m.h.Reset()
	}
	for i := range ls {
		n, v := ls[i].Name, ls[i].Value
		switch n {
		case LabelName:
			continue
		case LabelNamespace:
			l.namespace = v
		case LabelPod:
			l.pod = v
		case LabelContainer:
			l.container = v
		case LabelCPU:
			l.cpu, l.hasCPU = v, true
			continue // old cAdvisors label usage cpu="total" but not memory
		case LabelReason:
			l.reason = v
			continue // identifies the termination, not the container
		case "replicaset", "job_name":
			l.object = v
		case "owner_kind":
			l.ownerKind = v
		case "owner_name":
			l.ownerName = v
		case "owner_is_controller":
			l.ctrl = v
		}
		if n == m.opts.ClusterLabel {
			l.cluster = v
		}
		if container {
			m.h.WriteString(n)
			m.h.WriteByte(0)
			m.h.WriteString(v)
			m.h.WriteByte(0)
		}
	}
	return true
}

// instance returns the state of a container series' instance, creating
// it, or nil when the series is not used or its labels are invalid.
func (m *Mapper) instance(l *labels, points int, now int64, out *Output) *instance {
	switch {
	case l.container == "" || l.container == "POD", // the pod's cgroup, not a container
		l.hasCPU && l.cpu != "total",                           // a per-CPU breakdown
		l.kind == kindOOMReason && l.reason != ReasonOOMKilled: // another reason
		out.Stats.Ignored++
		return nil
	}
	h := m.h.Sum64()
	in := m.instances[h]
	if in != nil && in.cluster == l.cluster && in.namespace == l.namespace && in.pod == l.pod && in.container == l.container {
		in.touched = now
		return in
	}
	k := recommender.ContainerKey{
		WorkloadKey: recommender.WorkloadKey{Cluster: l.cluster, Namespace: l.namespace, Kind: "Pod", Name: l.pod},
		Container:   l.container,
	}
	if k.Validate() != nil {
		out.Stats.Dropped[DropInvalidLabels] += points
		return nil
	}
	if in != nil { // a 64-bit hash collision: the newer instance wins
		m.drop(h, in, now, out)
	}
	if len(m.instances) >= m.opts.MaxInstances {
		m.evictInstances(now, out)
	}
	in = &instance{cluster: l.cluster, namespace: l.namespace, pod: l.pod, container: l.container, touched: now}
	m.instances[h] = in
	return in
}

// point applies one point of a series of kind k to its instance.
func (m *Mapper) point(k metricKind, in *instance, p Point, maxT, maxGap, now int64, out *Output) {
	if isStale(p.V) {
		out.Stats.Stale++
		switch k {
		case kindCPU:
			in.cpu.ok = false
		case kindThrottled:
			in.throttled.ok = false
		case kindPeriods:
			in.periods.ok = false
		case kindRestarts:
			in.restarts.ok = false
		}
		return
	}
	if p.T < minTimeMS || p.T > maxT {
		out.Stats.Dropped[DropInvalidTime]++
		return
	}
	if !validValue(p.V) {
		out.Stats.Dropped[DropInvalidValue]++
		return
	}
	switch k {
	case kindCPU:
		inc, dt, st := in.cpu.next(p.T, p.V, maxGap)
		if st != stepOK {
			m.countStep(st, out)
			return
		}
		cores := inc * 1000 / float64(dt)
		if cores > maxCores {
			out.Stats.Dropped[DropInvalidValue]++
			return
		}
		pd, late := m.join(in, p.T, now, out)
		pd.u.CPU, pd.u.Has = recommender.MilliCPUFromCores(cores), pd.u.Has.With(recommender.ResourceCPU)
		m.emitLate(in, pd, late, now, out)
	case kindMemory:
		if p.T <= in.memT {
			out.Stats.Dropped[DropOutOfOrder]++
			return
		}
		if p.V > maxBytes {
			out.Stats.Dropped[DropInvalidValue]++
			return
		}
		in.memT = p.T
		pd, late := m.join(in, p.T, now, out)
		pd.u.Memory, pd.u.Has = recommender.Bytes(p.V), pd.u.Has.With(recommender.ResourceMemory)
		m.emitLate(in, pd, late, now, out)
	case kindThrottled, kindPeriods:
		c := &in.throttled
		if k == kindPeriods {
			c = &in.periods
		}
		inc, _, st := c.next(p.T, p.V, maxGap)
		if st != stepOK {
			m.countStep(st, out)
			return
		}
		pd, late := m.join(in, p.T, now, out)
		if k == kindThrottled {
			pd.thr, pd.hasThr = inc, true
		} else {
			pd.per, pd.hasPer = inc, true
		}
		m.emitLate(in, pd, late, now, out)
	case kindRestarts:
		prev := in.restarts
		if _, _, st := in.restarts.next(p.T, p.V, maxGap); st == stepOutOfOrder {
			out.Stats.Dropped[DropOutOfOrder]++
			return
		}
		// Only a rise counts; a drop is a new counter, not a restart.
		if prev.ok && p.V > prev.v {
			in.rises.add(p.T)
			if in.oomReasons.has(p.T) {
				m.oom(in, p.T, now, out)
			}
		}
	case kindOOMReason:
		// kube-state-metrics v1 exported every reason with 0 or 1; v2 only
		// the last reason, with 1.
		if p.V < 0.5 {
			return
		}
		in.oomReasons.add(p.T)
		if in.rises.has(p.T) {
			m.oom(in, p.T, now, out)
		}
	}
}

func (m *Mapper) countStep(st step, out *Output) {
	if st == stepOutOfOrder {
		out.Stats.Dropped[DropOutOfOrder]++
	}
}

// join returns the pending sample of in at time t, opening it if need be
// (and emitting an older one). A point older than the open join is late:
// the returned pending is scratch, to be emitted at once by emitLate.
func (m *Mapper) join(in *instance, t, now int64, out *Output) (pd *pending, late bool) {
	pd = &in.pend
	if pd.open {
		switch {
		case pd.t == t:
			return pd, false
		case t < pd.t:
			m.late = pending{t: t, open: true}
			return &m.late, true
		}
		m.emit(in, pd, now, out)
	}
	*pd = pending{t: t, open: true}
	m.queue = append(m.queue, queued{in: in, t: t, at: now})
	return pd, false
}

func (m *Mapper) emitLate(in *instance, pd *pending, late bool, now int64, out *Output) {
	if late {
		m.emit(in, pd, now, out)
	}
}

// emit closes a join and appends its sample, if it holds one.
func (m *Mapper) emit(in *instance, pd *pending, now int64, out *Output) {
	pd.open = false
	u := pd.u
	if pd.hasThr && pd.hasPer && pd.per > 0 {
		u.ThrottledFraction, u.HasThrottling = min(max(pd.thr/pd.per, 0), 1), true
	}
	if u.Has == 0 && !u.HasThrottling {
		return // only a periods increase, say: nothing to record
	}
	k, ok := m.resolve(in, now)
	if !ok {
		out.Stats.Dropped[DropUnresolved]++
		return
	}
	out.Samples = append(out.Samples, recommender.Sample{Key: k, Time: time.UnixMilli(pd.t).UTC(), Usage: u})
}

// oom reports a kill of in's container at t, once.
func (m *Mapper) oom(in *instance, t, now int64, out *Output) {
	if in.oomDone == t {
		return
	}
	in.oomDone = t
	k, ok := m.resolve(in, now)
	if !ok {
		out.Stats.Dropped[DropUnresolved]++
		return
	}
	out.OOMs = append(out.OOMs, recommender.OOMEvent{Key: k, Time: time.UnixMilli(t).UTC()})
}

// flushDue emits the joins open for JoinDelay or longer.
func (m *Mapper) flushDue(now int64, out *Output) {
	cutoff := now - int64(m.opts.JoinDelay)
	for m.qhead < len(m.queue) && m.queue[m.qhead].at <= cutoff {
		q := m.queue[m.qhead]
		m.queue[m.qhead] = queued{}
		m.qhead++
		if q.in.pend.open && q.in.pend.t == q.t {
			m.emit(q.in, &q.in.pend, now, out)
		}
	}
	if m.qhead == len(m.queue) {
		m.queue, m.qhead = m.queue[:0], 0
	} else if m.qhead > 1024 && m.qhead > len(m.queue)/2 {
		n := copy(m.queue, m.queue[m.qhead:])
		clear(m.queue[n:])
		m.queue, m.qhead = m.queue[:n], 0
	}
}

// resolve returns the container key of in, or false while its pod's
// owner is unknown during the warm-up.
func (m *Mapper) resolve(in *instance, now int64) (recommender.ContainerKey, bool) {
	if r := m.opts.Resolver; r != nil && in.cluster == "" {
		if wk, ok := r.WorkloadOf(in.namespace, in.pod); ok {
			k := recommender.ContainerKey{WorkloadKey: wk, Container: in.container}
			if k.Validate() == nil {
				return k, true
			}
		}
	}
	wk, ok := m.workload(in.cluster, in.namespace, in.pod, now)
	return recommender.ContainerKey{WorkloadKey: wk, Container: in.container}, ok
}

// workload rolls a pod up through its learned owners: a ReplicaSet to its
// Deployment (or whatever controls it), a Job to its CronJob.
func (m *Mapper) workload(cluster, namespace, pod string, now int64) (recommender.WorkloadKey, bool) {
	bare := recommender.WorkloadKey{Cluster: cluster, Namespace: namespace, Kind: "Pod", Name: pod}
	warm := now-m.started < int64(m.opts.OwnerWarmup)
	o, ok := m.owners[ownerRef{obj: objPod, cluster: cluster, namespace: namespace, name: pod}]
	if !ok {
		return bare, !warm
	}
	var parent objKind
	switch o.kind {
	case "":
		return bare, true
	case "ReplicaSet":
		parent = objReplicaSet
	case "Job":
		parent = objJob
	default:
		return recommender.WorkloadKey{Cluster: cluster, Namespace: namespace, Kind: o.kind, Name: o.name}, true
	}
	direct := recommender.WorkloadKey{Cluster: cluster, Namespace: namespace, Kind: o.kind, Name: o.name}
	p, ok := m.owners[ownerRef{obj: parent, cluster: cluster, namespace: namespace, name: o.name}]
	switch {
	case !ok:
		return direct, !warm
	case p.kind == "":
		return direct, true // a ReplicaSet or Job of its own
	}
	return recommender.WorkloadKey{Cluster: cluster, Namespace: namespace, Kind: p.kind, Name: p.name}, true
}

// learn records the owner an ownership series names. Only controlling
// owners count; "<none>" is kube-state-metrics' word for no owner.
func (m *Mapper) learn(l *labels, points int, now int64, out *Output) {
	ref := ownerRef{cluster: l.cluster, namespace: l.namespace}
	var kind string
	switch l.kind {
	case kindPodOwner:
		ref.obj, ref.name, kind = objPod, l.pod, "Pod"
	case kindReplicaSetOwner:
		ref.obj, ref.name, kind = objReplicaSet, l.object, "ReplicaSet"
	default:
		ref.obj, ref.name, kind = objJob, l.object, "Job"
	}
	if l.ctrl == "false" {
		return // a non-controlling owner (rare): the controller's series says who rolls it up
	}
	o := owner{kind: l.ownerKind, name: l.ownerName, touched: now}
	if o.kind == "<none>" || o.kind == "" {
		o.kind, o.name = "", ""
	}
	if (recommender.WorkloadKey{Cluster: ref.cluster, Namespace: ref.namespace, Kind: kind, Name: ref.name}).Validate() != nil ||
		o.kind != "" && (recommender.WorkloadKey{Cluster: ref.cluster, Namespace: ref.namespace, Kind: o.kind, Name: o.name}).Validate() != nil {
		out.Stats.Dropped[DropInvalidLabels] += max(points, 1)
		return
	}
	if _, ok := m.owners[ref]; !ok && len(m.owners) >= m.opts.MaxOwners {
		m.evictOwners(now, out)
	}
	m.owners[ref] = o
}

// drop removes an instance, emitting its open join.
func (m *Mapper) drop(h uint64, in *instance, now int64, out *Output) {
	if in.pend.open {
		m.emit(in, &in.pend, now, out)
	}
	delete(m.instances, h)
}

// evictInstances makes room for new instances: first the stale ones, then
// arbitrary ones (map order is random) down to 7/8 of the bound, so that
// the O(n) scan runs at most once per MaxInstances/8 new instances.
func (m *Mapper) evictInstances(now int64, out *Output) {
	n := len(m.instances)
	cutoff := now - int64(m.opts.StaleAfter)
	target := m.opts.MaxInstances - m.opts.MaxInstances/8
	for h, in := range m.instances {
		if in.touched < cutoff {
			m.drop(h, in, now, out)
		}
	}
	for h, in := range m.instances {
		if len(m.instances) <= target {
			break
		}
		m.drop(h, in, now, out)
	}
	out.Stats.Evicted += n - len(m.instances)
}

// evictOwners makes room for new owners the way evictInstances does.
func (m *Mapper) evictOwners(now int64, out *Output) {
	n := len(m.owners)
	cutoff := now - int64(m.opts.StaleAfter)
	target := m.opts.MaxOwners - m.opts.MaxOwners/8
	for ref, o := range m.owners {
		if o.touched < cutoff {
			delete(m.owners, ref)
		}
	}
	for ref := range m.owners {
		if len(m.owners) <= target {
			break
		}
		delete(m.owners, ref)
	}
	out.Stats.Evicted += n - len(m.owners)
}

// sweep drops state not touched for StaleAfter: instances of containers
// that ended, owners of deleted objects. It runs once per StaleAfter.
func (m *Mapper) sweep(now int64, out *Output) {
	m.swept = now
	cutoff := now - int64(m.opts.StaleAfter)
	for h, in := range m.instances {
		if in.touched < cutoff {
			m.drop(h, in, now, out)
			out.Stats.Evicted++
		}
	}
	for ref, o := range m.owners {
		if o.touched < cutoff {
			delete(m.owners, ref)
			out.Stats.Evicted++
		}
	}
}

// Len returns the number of container instances and owners with state.
func (m *Mapper) Len() (instances, owners int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.instances), len(m.owners)
}
