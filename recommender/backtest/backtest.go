package backtest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rightsizer/rightsizer/recommender"
)

// Options configure a backtest. Zero values take the dataset's defaults.
type Options struct {
	// Interval between decision points (default: 24 h for Bitbrains, 1 h
	// for the GenAI trace).
	Interval time.Duration
	// Warmup before the first decision point; nothing is scored before it
	// (default: 2 days for Bitbrains, 2 h for GenAI).
	Warmup time.Duration
	// ChangeThreshold is the relative move of a request or limit that
	// counts as a change in changes per workload-day. Default 0.1.
	ChangeThreshold float64
	// Parallel bounds the policies replayed at once (default GOMAXPROCS).
	Parallel int
	// ReactAfter is how many consecutive compute samples above the applied
	// request make a UsageReactor decide at once (default 2: ten minutes
	// of Bitbrains), on datasets whose requests resize in place. NoReactions
	// turns reactions to usage and to OOM kills off, so that every policy
	// acts only at decision points.
	ReactAfter  int
	NoReactions bool
}

func (o Options) withDefaults(d *Dataset) Options {
	if o.Interval <= 0 {
		o.Interval = d.Interval
	}
	if o.Warmup <= 0 {
		o.Warmup = d.Warmup
	}
	if o.ChangeThreshold <= 0 {
		o.ChangeThreshold = 0.1
	}
	if o.Parallel <= 0 {
		o.Parallel = runtime.GOMAXPROCS(0)
	}
	if o.ReactAfter <= 0 {
		o.ReactAfter = 2
	}
	return o
}

// Score is how one policy did on one dataset, over the scored period
// (after the warm-up). Resource-hours integrate what was applied over the
// time each container ran: each sample stands for the time since the
// container's previous sample, at most two trace steps.
type Score struct {
	Policy string `json:"policy"`
	// CPUCoreHours is the requested compute: core-hours (GPU-hours when
	// the compute channel is GPU busy time).
	CPUCoreHours float64 `json:"cpu_core_hours"`
	// CPUOverFrac is the fraction of compute samples above the request.
	CPUOverFrac float64 `json:"cpu_over_frac"`
	// CPUUnmetCoreHours integrates usage above the request over time.
	CPUUnmetCoreHours float64 `json:"cpu_unmet_core_hours"`
	// MemGiBHours is the requested memory in GiB-hours (GPU memory: the
	// limit, which a GPU shape reserves whole).
	MemGiBHours float64 `json:"mem_gib_hours"`
	// OOMEvents counts memory samples above the applied limit: each is a
	// kill at that moment, fed back to the policy.
	OOMEvents int `json:"oom_events"`
	// OOMPerWorkloadDay is OOMEvents per workload-day.
	OOMPerWorkloadDay float64 `json:"oom_per_workload_day"`
	// ChangesPerDay counts applied changes that move a request or limit by
	// more than the change threshold, per workload-day.
	ChangesPerDay float64 `json:"changes_per_day"`

	Workloads    int     `json:"workloads"`
	WorkloadDays float64 `json:"workload_days"`
	Samples      int     `json:"samples"`
	// PerWorkload holds the same figures for each container.
	PerWorkload []WorkloadScore `json:"per_workload,omitempty"`
}

// WorkloadScore is Score for one container.
type WorkloadScore struct {
	recommender.ContainerKey
	CPUCoreHours      float64 `json:"cpu_core_hours"`
	CPUOverFrac       float64 `json:"cpu_over_frac"`
	CPUUnmetCoreHours float64 `json:"cpu_unmet_core_hours"`
	MemGiBHours       float64 `json:"mem_gib_hours"`
	OOMEvents         int     `json:"oom_events"`
	Changes           int     `json:"changes"`
	Days              float64 `json:"days"`
}

// Run replays d for every policy (each in its own goroutine, at most
// opts.Parallel at once) and returns their scores in the order given.
func Run(ctx context.Context, d *Dataset, policies []Policy, opts Options) ([]Score, error) {
	if len(d.Samples) == 0 {
		return nil, errors.New("dataset has no samples")
	}
	opts = opts.withDefaults(d)
	if d.Start().Add(opts.Warmup).After(d.End()) {
		return nil, fmt.Errorf("warm-up %v is longer than the %s trace (%v)", opts.Warmup, d.Name, d.End().Sub(d.Start()))
	}
	scores := make([]Score, len(policies))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Parallel)
	for i, p := range policies {
		g.Go(func() error {
			s, err := replayOne(ctx, d, p, opts)
			if err != nil {
				return fmt.Errorf("policy %s: %w", p.Name(), err)
			}
			scores[i] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return scores, nil
}

// container is the replay's state of one container under one policy.
type container struct {
	key      recommender.ContainerKey
	applied  Applied
	last     int64 // previous sample time, ns; 0 before the first
	scored   WorkloadScore
	samples  int // compute samples scored
	over     int // of which above the request
	overRun  int // consecutive compute samples above the request
	seconds  float64
	hasUsage bool
}

// replayOne walks the trace in time order for one policy.
func replayOne(ctx context.Context, d *Dataset, p Policy, opts Options) (Score, error) {
	byKey := map[recommender.ContainerKey]*container{}
	var order []*container
	get := func(k recommender.ContainerKey) *container {
		c := byKey[k]
		if c == nil {
			c = &container{key: k}
			byKey[k] = c
			order = append(order, c)
		}
		return c
	}
	for _, w := range d.Workloads {
		if err := p.UpsertWorkload(w); err != nil {
			return Score{}, fmt.Errorf("upsert %s: %w", w.Key, err)
		}
		for _, cs := range w.Containers {
			c := get(recommender.ContainerKey{WorkloadKey: w.Key, Container: cs.Name})
			c.applied = Applied{
				CPURequest: cs.Requests.CPU, CPULimit: cs.Limits.CPU,
				MemoryRequest: cs.Requests.Memory, MemoryLimit: cs.Limits.Memory,
			}
		}
	}
	scoreFrom := d.Start().Add(opts.Warmup)
	next := scoreFrom
	maxGap := 2 * d.Step
	batch := make([]recommender.Sample, 0, 4096)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := p.Ingest(batch)
		batch = batch[:0]
		var ie *recommender.IngestError
		if errors.As(err, &ie) {
			return nil // rejected samples are the policy's business
		}
		return err
	}
	decideOne := func(c *container, now time.Time) {
		n, ok := p.Decide(c.key, now, c.applied)
		if !ok {
			return
		}
		if n.MovedBy(c.applied, opts.ChangeThreshold) {
			c.scored.Changes++
		}
		c.applied = n
	}
	decide := func(now time.Time) {
		for _, c := range order {
			if c.hasUsage {
				decideOne(c, now)
			}
		}
	}
	r, ok := p.(OOMReactor)
	reacts := ok && r.ReactsToOOM() && !opts.NoReactions
	ur, ok := p.(UsageReactor)
	reactsToUsage := ok && ur.ReactsToUsage() && !opts.NoReactions && d.ResizableInPlace
	for i := range d.Samples {
		s := &d.Samples[i]
		if i%8192 == 0 {
			if err := ctx.Err(); err != nil {
				return Score{}, err
			}
		}
		for !s.Time.Before(next) {
			if err := flush(); err != nil {
				return Score{}, err
			}
			decide(next)
			next = next.Add(opts.Interval)
		}
		c := get(s.Key)
		c.hasUsage = true
		t := s.Time.UnixNano()
		dt := d.Step
		if c.last != 0 {
			dt = min(time.Duration(t-c.last), maxGap)
		}
		c.last = t
		u := &s.Usage
		a := &c.applied
		if u.Has.Has(recommender.ResourceMemory) && a.MemoryLimit > 0 && u.Memory > a.MemoryLimit {
			// A kill, as a real cluster would do it: tell the policy, which
			// has seen every sample before it.
			if err := flush(); err != nil {
				return Score{}, err
			}
			if err := p.RecordOOM(recommender.OOMEvent{Key: s.Key, Time: s.Time, Limit: a.MemoryLimit, Usage: u.Memory}); err != nil {
				return Score{}, fmt.Errorf("record oom: %w", err)
			}
			if !s.Time.Before(scoreFrom) {
				c.scored.OOMEvents++
				if reacts {
					decideOne(c, s.Time)
				}
			}
		}
		if !s.Time.Before(scoreFrom) {
			c.score(u, dt, d.MemoryIsGPU)
		}
		batch = append(batch, *s)
		if u.Has.Has(recommender.ResourceCPU) {
			if u.CPU > a.CPURequest {
				c.overRun++
			} else {
				c.overRun = 0
			}
			if reactsToUsage && c.overRun >= opts.ReactAfter && !s.Time.Before(scoreFrom) {
				if err := flush(); err != nil {
					return Score{}, err
				}
				decideOne(c, s.Time)
				c.overRun = 0
			}
		}
	}
	if err := flush(); err != nil {
		return Score{}, err
	}
	return total(p.Name(), order), nil
}

// score adds one sample, standing for dt, to the container's figures.
func (c *container) score(u *recommender.Usage, dt time.Duration, memoryByLimit bool) {
	h := dt.Hours()
	c.seconds += dt.Seconds()
	a := &c.applied
	if u.Has.Has(recommender.ResourceCPU) {
		c.samples++
		c.scored.CPUCoreHours += a.CPURequest.Cores() * h
		if u.CPU > a.CPURequest {
			c.over++
			c.scored.CPUUnmetCoreHours += (u.CPU - a.CPURequest).Cores() * h
		}
	}
	if u.Has.Has(recommender.ResourceMemory) {
		basis := a.MemoryRequest
		if memoryByLimit {
			basis = max(a.MemoryLimit, a.MemoryRequest)
		}
		c.scored.MemGiBHours += basis.GiB() * h
	}
}

// total sums the containers' figures into a Score.
func total(name string, cs []*container) Score {
	s := Score{Policy: name}
	over, samples := 0, 0
	for _, c := range cs {
		if c.seconds == 0 {
			continue
		}
		w := c.scored
		w.ContainerKey = c.key
		w.Days = c.seconds / 86400
		if c.samples > 0 {
			w.CPUOverFrac = float64(c.over) / float64(c.samples)
		}
		s.PerWorkload = append(s.PerWorkload, w)
		s.Workloads++
		s.WorkloadDays += w.Days
		s.CPUCoreHours += w.CPUCoreHours
		s.CPUUnmetCoreHours += w.CPUUnmetCoreHours
		s.MemGiBHours += w.MemGiBHours
		s.OOMEvents += w.OOMEvents
		s.ChangesPerDay += float64(w.Changes)
		over += c.over
		samples += c.samples
		s.Samples += c.samples
	}
	if samples > 0 {
		s.CPUOverFrac = float64(over) / float64(samples)
	}
	if s.WorkloadDays > 0 {
		s.OOMPerWorkloadDay = float64(s.OOMEvents) / s.WorkloadDays
		s.ChangesPerDay /= s.WorkloadDays
	}
	return s
}
