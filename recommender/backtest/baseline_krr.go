package backtest

// The krr baseline re-implements Robusta KRR's default "simple" strategy
// (robusta_krr/strategies/simple.py) and the rounding and floors of its
// runner (robusta_krr/core/runner.py). KRR is a Python CLI that queries
// Prometheus, so there is no code to drive; the rules are a percentile, a
// maximum and a rounding.

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
)

// KRROptions configure the krr baseline. DefaultKRROptions holds KRR's
// defaults.
type KRROptions struct {
	// CPUPercentile is the CPU usage percentile, in percent (0, 100], that
	// becomes the CPU request (--cpu_percentile, 95).
	CPUPercentile float64
	// MemoryBufferPercentage is added to the peak memory, in percent of
	// it, for the memory request and limit (--memory_buffer_percentage,
	// 15: ×1.15). KRR requires it to be positive.
	MemoryBufferPercentage float64
	// PointsRequired is the least number of samples in the window for a
	// resource to get a recommendation (--points_required, 100); with
	// fewer the resource keeps what it has.
	PointsRequired int
	// HistoryDuration is the window of usage before each decision
	// (--history_duration, 336 h: 14 days). It must be positive.
	HistoryDuration time.Duration
	// CPUMin is the smallest CPU request KRR recommends (--cpu-min, 10 m).
	CPUMin recommender.MilliCPU
	// MemoryMin is the smallest memory request and limit KRR recommends
	// (--mem-min 100). KRR documents the flag in MB but its runner
	// multiplies it by 1024², so it is 100 MiB.
	MemoryMin recommender.Bytes
	// AllowHPA makes KRR recommend a resource even when a horizontal
	// autoscaler scales the workload on it (--allow-hpa, false: the
	// resource keeps what it has, KRR's "HPA detected").
	AllowHPA bool
}

// DefaultKRROptions returns KRR's defaults for the simple strategy.
func DefaultKRROptions() KRROptions {
	return KRROptions{
		CPUPercentile:          95,
		MemoryBufferPercentage: 15,
		PointsRequired:         100,
		HistoryDuration:        336 * time.Hour,
		CPUMin:                 10,
		MemoryMin:              100 * recommender.MiB,
	}
}

// Validate reports every problem with the options.
func (o KRROptions) Validate() error {
	var errs []error
	if !(o.CPUPercentile > 0 && o.CPUPercentile <= 100) {
		errs = append(errs, fmt.Errorf("cpu percentile %v not in (0, 100]", o.CPUPercentile))
	}
	if !(o.MemoryBufferPercentage > 0 && !math.IsInf(o.MemoryBufferPercentage, 1)) {
		errs = append(errs, fmt.Errorf("memory buffer percentage %v is not positive", o.MemoryBufferPercentage))
	}
	if o.PointsRequired < 1 {
		errs = append(errs, fmt.Errorf("points required %d is less than 1", o.PointsRequired))
	}
	if o.HistoryDuration <= 0 {
		errs = append(errs, fmt.Errorf("history duration %v is not positive", o.HistoryDuration))
	}
	if o.CPUMin < 0 || o.MemoryMin < 0 {
		errs = append(errs, errors.New("minimums must not be negative"))
	}
	return errors.Join(errs...)
}

// KRR is the Robusta KRR baseline, strategy "simple", recomputed at every
// decision from the container's samples in the HistoryDuration (14 days)
// before it, (now − HistoryDuration, now]:
//
//   - CPU request = the CPUPercentile (95th) percentile of CPU usage; CPU
//     limit none. KRR takes the percentile per pod with PromQL's
//     quantile_over_time and the largest over pods; here a container is one
//     series, so it is the percentile of the window's samples, with
//     PromQL's definition: sort the n values, rank = q·(n−1), interpolate
//     linearly between the values at ⌊rank⌋ and ⌊rank⌋+1 (numpy's default
//     "linear" method gives the same value). KRR's subquery resamples the
//     series at a 1.25 min step; the baseline uses the trace's samples as
//     they are.
//   - Memory request = memory limit = the window's peak × (1 +
//     MemoryBufferPercentage/100).
//   - Rounded up to 1 m and to 1 MiB, then raised to CPUMin and MemoryMin,
//     as KRR's runner does.
//   - A resource with fewer than PointsRequired samples in the window, or
//     one a horizontal autoscaler scales on (unless AllowHPA), keeps its
//     current request and limit.
//   - OOM kills are ignored, as KRR does by default (its use_oomkill_data
//     is an experimental opt-in); RecordOOM accepts them.
//
// KRR recommends at every run: Decide returns ok whenever the result
// differs from current.
//
// Each container keeps its samples (8 bytes of time and 8 of value per
// resource) back to HistoryDuration before its latest decision; Decide
// costs a sort of the window's CPU samples. Decide times must not go
// backward. A KRR is safe for concurrent use; the backtest calls it from
// one goroutine.
type KRR struct {
	opts KRROptions

	mu         sync.Mutex
	containers map[recommender.ContainerKey]*krrContainer
	hpa        map[recommender.WorkloadKey]recommender.ResourceSet
	scratch    []float64
}

var _ Policy = (*KRR)(nil)

// NewKRR returns the krr baseline. opts must be valid (see Validate).
func NewKRR(opts KRROptions) *KRR {
	return &KRR{
		opts:       opts,
		containers: map[recommender.ContainerKey]*krrContainer{},
		hpa:        map[recommender.WorkloadKey]recommender.ResourceSet{},
	}
}

// krrContainer is one container's window of samples.
type krrContainer struct {
	cpu, mem krrSeries
	last     int64 // time of the newest sample, ns
	hasLast  bool
	decided  int64 // time of the latest decision, ns
}

// krrSeries is a time-ordered series; the live samples are t[head:] and
// v[head:].
type krrSeries struct {
	t    []int64 // ns
	v    []int64 // millicores or bytes
	head int
}

func (s *krrSeries) add(t, v int64) {
	s.t = append(s.t, t)
	s.v = append(s.v, v)
}

// window returns the live samples with from < t ≤ to.
func (s *krrSeries) window(from, to int64) []int64 {
	ts := s.t[s.head:]
	lo, _ := slices.BinarySearch(ts, from+1)
	hi, _ := slices.BinarySearch(ts, to+1)
	return s.v[s.head+lo : s.head+hi]
}

// forget drops the samples with t ≤ before, compacting the slices once
// the dead prefix is the larger part.
func (s *krrSeries) forget(before int64) {
	i, _ := slices.BinarySearch(s.t[s.head:], before+1)
	s.head += i
	if s.head > 0 && s.head >= len(s.t)/2 {
		n := copy(s.t, s.t[s.head:])
		copy(s.v, s.v[s.head:])
		s.t, s.v, s.head = s.t[:n], s.v[:n], 0
	}
}

// Name returns "krr".
func (*KRR) Name() string { return "krr" }

// UpsertWorkload records which resources a horizontal autoscaler scales the
// workload on.
func (k *KRR) UpsertWorkload(w recommender.Workload) error {
	if err := checkWorkload(&w); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.hpa[w.Key] = w.AutoscaledOn
	return nil
}

// RecordOOM checks and ignores the kill: KRR's default strategy does not
// use OOM kills.
func (k *KRR) RecordOOM(ev recommender.OOMEvent) error {
	if err := checkOOM(&ev); err != nil {
		return fmt.Errorf("record oom: %w", err)
	}
	return nil
}

// Ingest records the samples' CPU and memory. Samples with neither are
// accepted and dropped.
func (k *KRR) Ingest(samples []recommender.Sample) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	var rj rejects
	for i := range samples {
		s := &samples[i]
		if err := checkSample(s); err != nil {
			rj.add(i, s.Key, err)
			continue
		}
		hasCPU, hasMem := s.Usage.Has.Has(recommender.ResourceCPU), s.Usage.Has.Has(recommender.ResourceMemory)
		if !hasCPU && !hasMem {
			continue
		}
		c := k.containers[s.Key]
		if c == nil {
			if err := s.Key.Validate(); err != nil {
				rj.add(i, s.Key, err)
				continue
			}
			c = &krrContainer{}
			k.containers[s.Key] = c
		}
		t := s.Time.UnixNano()
		if c.hasLast && t < c.last {
			rj.add(i, s.Key, errOutOfOrder)
			continue
		}
		c.last, c.hasLast = t, true
		if hasCPU {
			c.cpu.add(t, int64(s.Usage.CPU))
		}
		if hasMem {
			c.mem.add(t, int64(s.Usage.Memory))
		}
	}
	return rj.err()
}

// Decide returns KRR's recommendation from the samples in
// (now − HistoryDuration, now] (see KRR), and ok when it differs from
// current.
func (k *KRR) Decide(key recommender.ContainerKey, now time.Time, current Applied) (Applied, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.containers[key]
	if c == nil {
		return current, false
	}
	to := now.UnixNano()
	from := to - int64(k.opts.HistoryDuration)
	hpa := k.hpa[key.WorkloadKey]
	next := current
	if w := c.cpu.window(from, to); len(w) > 0 && len(w) >= k.opts.PointsRequired && (k.opts.AllowHPA || !hpa.Has(recommender.ResourceCPU)) {
		next.CPURequest, next.CPULimit = k.cpuRequest(w), 0
	}
	if w := c.mem.window(from, to); len(w) > 0 && len(w) >= k.opts.PointsRequired && (k.opts.AllowHPA || !hpa.Has(recommender.ResourceMemory)) {
		m := k.memory(w)
		next.MemoryRequest, next.MemoryLimit = m, m
	}
	if to >= c.decided {
		// Later decisions never look before this one's window.
		c.decided = to
		c.cpu.forget(from)
		c.mem.forget(from)
	}
	return next, next != current
}

// cpuRequest returns the CPUPercentile percentile of w (millicores), in
// cores as KRR sees them, rounded up to 1 m and raised to CPUMin.
func (k *KRR) cpuRequest(w []int64) recommender.MilliCPU {
	vals := k.scratch[:0]
	for _, m := range w {
		vals = append(vals, float64(m)/1000)
	}
	slices.Sort(vals)
	k.scratch = vals
	// KRR puts round(cpu_percentile / 100, 2), two decimals, into its query.
	q := math.Round(k.opts.CPUPercentile) / 100
	rank := q * float64(len(vals)-1)
	lo := math.Floor(rank)
	hi := math.Min(lo+1, float64(len(vals)-1))
	weight := rank - lo
	cores := vals[int(lo)]*(1-weight) + vals[int(hi)]*weight
	return max(recommender.MilliCPU(math.Ceil(cores*1000)), k.opts.CPUMin)
}

// memory returns the peak of w (bytes) plus the buffer, rounded up to
// 1 MiB and raised to MemoryMin.
func (k *KRR) memory(w []int64) recommender.Bytes {
	peak := slices.Max(w)
	b := float64(peak) * (1 + k.opts.MemoryBufferPercentage/100)
	mib := float64(recommender.MiB)
	return max(recommender.Bytes(math.Ceil(b/mib)*mib), k.opts.MemoryMin)
}
