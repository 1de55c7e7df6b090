package simulate

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

	"github.com/rightsizer/rightsizer/recommender"
)

// ErrRunning is returned by Run when another Run of the same Simulator is
// in progress.
var ErrRunning = errors.New("simulator is already running")

// Simulator plays a Cluster on a virtual clock into a recommender.Sink.
// Now is safe for concurrent use; Run runs one at a time.
type Simulator struct {
	cluster Cluster
	opts    Options // completed
	clock   clock.Clock
	elapsed atomic.Int64 // virtual time since Start of the last finished step, ns
	running atomic.Bool
}

var _ recommender.UsageSource = (*Simulator)(nil)

// New returns a simulator of a deep copy of c. It validates both c and
// opts and reports every problem at once.
func New(c Cluster, opts Options) (*Simulator, error) {
	var errs []error
	if err := opts.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("invalid options: %w", err))
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("invalid cluster: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	opts = opts.complete()
	return &Simulator{cluster: c.clone(), opts: opts, clock: opts.Clock}, nil
}

// Now returns the virtual time: Options.Start until the first step is
// done, then the end of the last step whose samples were ingested. It is
// safe for concurrent use, for a server that reports it while Run runs.
func (s *Simulator) Now() time.Time {
	return s.opts.Start.Add(time.Duration(s.elapsed.Load()))
}

// Run upserts every workload into sink, then advances the virtual clock one
// Options.Step at a time from Options.Start. At each step it records that
// step's OOM kills with sink.RecordOOM and then ingests one batch with one
// sample per running replica and container (a step in which nothing runs
// ingests nothing). The batch slice is reused across steps, as the Sink
// contract allows. With Options.Speed > 0, each step after the first
// Options.Backfill waits on Options.Clock until its time is due; otherwise
// steps run back to back.
//
// Run returns nil when Options.Duration is reached, ctx.Err() when ctx is
// cancelled, ErrRunning if another Run is in progress, and a sink's error
// wrapped with what was being recorded. Each Run replays the same stream
// from Start.
func (s *Simulator) Run(ctx context.Context, sink recommender.Sink) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.running.Store(false)
	s.elapsed.Store(0)
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range s.cluster.Workloads {
		w := &s.cluster.Workloads[i]
		if err := sink.UpsertWorkload(w.inventory()); err != nil {
			return fmt.Errorf("upsert workload %s: %w", w.Key, err)
		}
	}

	st := newState(&s.cluster, &s.opts)
	step := s.opts.Step
	last := int64(math.MaxInt64)
	if s.opts.Duration > 0 {
		last = int64(s.opts.Duration / step)
	}
	var realStart time.Time
	backfill := int64(s.opts.Backfill / step) // steps played before pacing starts
	for i := int64(1); i <= last; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.opts.Speed > 0 && i > backfill {
			if i == backfill+1 {
				realStart = s.clock.Now()
			}
			if err := s.wait(ctx, realStart, i-backfill); err != nil {
				return err
			}
		}
		t := s.opts.Start.Add(time.Duration(i) * step)
		batch, ooms := st.advance(i, t)
		for _, ev := range ooms {
			if err := sink.RecordOOM(ev); err != nil {
				return fmt.Errorf("record oom of %s at %s: %w", ev.Key, t.Format(time.RFC3339), err)
			}
		}
		if len(batch) > 0 {
			if err := sink.Ingest(batch); err != nil {
				return fmt.Errorf("ingest %d samples at %s: %w", len(batch), t.Format(time.RFC3339), err)
			}
		}
		s.elapsed.Store(int64(time.Duration(i) * step))
	}
	return nil
}

// wait blocks until step i is due on the pacing clock: realStart plus the
// step's virtual offset divided by Speed, rounded down so that advancing a
// fake clock by exactly Step/Speed always releases the next step.
func (s *Simulator) wait(ctx context.Context, realStart time.Time, i int64) error {
	offset := time.Duration(math.Floor(float64(i) * float64(s.opts.Step) / s.opts.Speed))
	d := realStart.Add(offset).Sub(s.clock.Now())
	if d <= 0 {
		return nil
	}
	select {
	case <-s.clock.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// state is the mutable state of one Run.
type state struct {
	step      time.Duration
	workloads []workloadState
	batch     []recommender.Sample
	ooms      []recommender.OOMEvent
}

// pod is one replica's pod: it runs for the steps in (start, end]. Its
// containers see the pod's age, i - start.
type pod struct {
	start, end int64
}

const notStarted = -1

type workloadState struct {
	spec       *WorkloadSpec
	rng        *rand.Rand
	pods       []pod
	containers []containerState
	appFrom    int64 // pod age after which app containers run

	day     int64   // day (since the Unix epoch) of traffic
	traffic float64 // traffic factor of that day

	rolloutMean float64 // steps; 0 means none
	nextRollout int64   // step at which the next rollout starts
	rolling     int64   // step at which the current rollout started, or notStarted

	nextRun time.Time // start of the next scheduled run
	runLen  int64     // steps of app time in the current run
}

type containerState struct {
	key      recommender.ContainerKey
	from, to int64 // runs while the pod's age is in (from, to]
	p        params
	reps     []replicaState
}

func newState(c *Cluster, o *Options) *state {
	st := &state{step: o.Step, workloads: make([]workloadState, len(c.Workloads))}
	total := 0
	for wi := range c.Workloads {
		spec := &c.Workloads[wi]
		w := &st.workloads[wi]
		w.spec = spec
		w.rng = newRand(o.Seed, spec.Key.String(), "", 0)
		w.pods = make([]pod, spec.Replicas)
		w.day = math.MinInt64
		w.rolling = notStarted

		// Init containers run one after the other from the pod's start.
		var initEnd int64
		for ci := range spec.Containers {
			if spec.Containers[ci].Spec.Role == recommender.RoleInit {
				initEnd += max(1, ceilDiv(spec.Containers[ci].Runtime, o.Step))
			}
		}
		w.appFrom = initEnd
		w.containers = make([]containerState, len(spec.Containers))
		var initAt int64
		for ci := range spec.Containers {
			cs := &spec.Containers[ci]
			c := &w.containers[ci]
			c.key = recommender.ContainerKey{WorkloadKey: spec.Key, Container: cs.Spec.Name}
			c.p = newParams(&cs.Model, &cs.Spec, o.Step)
			switch cs.Spec.Role {
			case recommender.RoleInit:
				n := max(1, ceilDiv(cs.Runtime, o.Step))
				c.from, c.to = initAt, initAt+n
				initAt += n
			case recommender.RoleSidecar:
				c.from, c.to = 0, math.MaxInt64
			default:
				c.from, c.to = initEnd, math.MaxInt64
			}
			c.reps = make([]replicaState, spec.Replicas)
			for r := range c.reps {
				c.reps[r] = replicaState{rng: newRand(o.Seed, spec.Key.String(), cs.Spec.Name, r), pod: notStarted}
			}
			total += int(spec.Replicas)
		}

		if spec.Schedule.scheduled() {
			for r := range w.pods {
				w.pods[r] = pod{start: notStarted, end: notStarted}
			}
			day0 := o.Start.UTC().Truncate(24 * time.Hour)
			w.nextRun = day0.Add(spec.Schedule.At)
			for w.nextRun.Before(o.Start) {
				w.nextRun = w.nextRun.Add(spec.Schedule.Every)
			}
		} else {
			for r := range w.pods {
				w.pods[r] = pod{start: 0, end: math.MaxInt64}
			}
			if spec.RolloutEvery > 0 {
				w.rolloutMean = float64(spec.RolloutEvery) / float64(o.Step)
				w.nextRollout = w.drawRollout(0)
			}
		}
	}
	st.batch = make([]recommender.Sample, 0, total)
	return st
}

// newRand returns the random stream of one workload (container "") or of
// one replica of one container, determined by the seed and the names only.
func newRand(seed uint64, workload, container string, replica int) *rand.Rand {
	h := fnv.New64a()
	_, _ = h.Write([]byte(workload))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(container))
	k := h.Sum64() ^ uint64(replica)*0x9e3779b97f4a7c15
	return rand.New(rand.NewPCG(splitmix(seed^k), splitmix(k+seed*0xbf58476d1ce4e5b9)))
}

// splitmix is SplitMix64's finaliser, which spreads nearby seeds apart.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func ceilDiv(d, step time.Duration) int64 { return int64((d + step - 1) / step) }

// drawRollout returns the step of the rollout after step i.
func (w *workloadState) drawRollout(i int64) int64 {
	return i + max(1, int64(math.Round(w.rng.ExpFloat64()*w.rolloutMean)))
}

// lifecycle starts and stops the workload's pods for step i, which ends at t.
func (w *workloadState) lifecycle(i int64, t time.Time, step time.Duration) {
	if w.rolloutMean > 0 {
		if w.rolling == notStarted && i == w.nextRollout {
			w.rolling = i
		}
		if w.rolling != notStarted {
			r := i - w.rolling
			if r < int64(len(w.pods)) {
				w.pods[r].start = i
			}
			if r >= int64(len(w.pods))-1 {
				w.rolling = notStarted
				w.nextRollout = w.drawRollout(i)
			}
		}
		return
	}
	s := &w.spec.Schedule
	if !s.scheduled() || t.Before(w.nextRun) {
		return
	}
	// The run due in this step starts now: its pods are absent for this
	// step and run from the next one.
	span := s.MaxRun - s.MinRun
	d := s.MinRun + time.Duration(w.rng.Float64()*float64(span))
	w.runLen = max(1, int64((d+step/2)/step))
	end := i + w.appFrom + w.runLen
	for r := range w.pods {
		w.pods[r] = pod{start: i, end: end}
	}
	endT := t.Add(time.Duration(end-i) * step)
	for !w.nextRun.After(endT) {
		w.nextRun = w.nextRun.Add(s.Every)
	}
}

// advance computes step i, which ends at t, and returns its samples and OOM
// kills. Both slices are reused by the next call.
func (st *state) advance(i int64, t time.Time) ([]recommender.Sample, []recommender.OOMEvent) {
	st.batch = st.batch[:0]
	st.ooms = st.ooms[:0]
	const daySec = 24 * 60 * 60
	u := t.UTC()
	secs := u.Unix()
	day := secs / daySec
	e := env{
		sod:     float64(secs-day*daySec) + float64(u.Nanosecond())/1e9,
		weekend: u.Weekday() == time.Saturday || u.Weekday() == time.Sunday,
	}
	for wi := range st.workloads {
		w := &st.workloads[wi]
		w.lifecycle(i, t, st.step)
		if day != w.day {
			w.day = day
			w.traffic = math.Min(1.2, math.Max(0.8, 1+0.08*w.rng.NormFloat64()))
		}
		e.traffic = w.traffic
		e.progress = 0
		for ci := range w.containers {
			c := &w.containers[ci]
			if c.p.usesLoad {
				e.load = dailyLoad(&c.p, &e)
			}
			for r := range w.pods {
				pd := &w.pods[r]
				if pd.start == notStarted || i > pd.end {
					continue
				}
				age := i - pd.start
				if age <= c.from || age > c.to {
					continue
				}
				rs := &c.reps[r]
				if rs.pod != pd.start {
					rs.pod = pd.start
					rs.restart(&c.p)
				}
				if w.runLen > 0 {
					e.progress = math.Min(1, math.Max(0, float64(age-w.appFrom)/float64(w.runLen)))
				}
				st.sample(c, rs, &e, t)
			}
		}
	}
	return st.batch, st.ooms
}

// sample generates one replica's usage for the step ending at t, applies
// the container's limits (throttling CPU, OOM-killing memory) and appends
// the sample, and the kill if any.
func (st *state) sample(c *containerState, rs *replicaState, e *env, t time.Time) {
	p := &c.p
	u := recommender.Usage{
		Has: recommender.ResourceSet(0).With(recommender.ResourceCPU).With(recommender.ResourceMemory),
	}
	var cpu, mem float64
	switch p.arch {
	case ArchetypeSteady:
		cpu, mem = rs.steady(p)
	case ArchetypeDiurnal:
		cpu, mem = rs.diurnal(p, e)
	case ArchetypeBursty:
		cpu, mem = rs.bursty(p)
	case ArchetypeLeaking:
		cpu, mem = rs.leaking(p, e)
	case ArchetypeBatch:
		cpu, mem = rs.batch(p, e)
	case ArchetypeGPUInference:
		cpu, mem = rs.gpuInference(p, e, &u)
	}

	// CFS quota: demand above the limit waits. The share of demand refused
	// stands for the share of periods throttled.
	if p.cpuLimit > 0 {
		u.HasThrottling = true
		if cpu > p.cpuLimit {
			u.ThrottledFraction = 1 - p.cpuLimit/cpu
			cpu = p.cpuLimit
		}
	}
	u.CPU = recommender.MilliCPU(math.Round(cpu))

	// Memory limit: the kernel kills the process at the limit; the kubelet
	// restarts the container, whose new process starts from its base.
	if p.memLimit > 0 && mem >= p.memLimit {
		st.ooms = append(st.ooms, recommender.OOMEvent{
			Key:   c.key,
			Time:  t,
			Limit: recommender.Bytes(p.memLimit),
			Usage: recommender.Bytes(p.memLimit),
		})
		rs.restart(p)
		mem = math.Min(p.mem*math.Max(0, 1+rs.memN), p.memLimit)
	}
	u.Memory = recommender.Bytes(math.Round(mem))

	st.batch = append(st.batch, recommender.Sample{Key: c.key, Time: t, Usage: u})
}
