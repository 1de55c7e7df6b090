package backtest

// The vpa baseline drives the Kubernetes Vertical Pod Autoscaler's own
// code, pinned at k8s.io/autoscaler/vertical-pod-autoscaler v1.8.1 (see
// go.mod):
//
//   - pkg/recommender/model keeps the state: one AggregateContainerState per
//     container, fed through a ContainerState per pod, so CPU samples get
//     VPA's fixed weight (0.1) and 24 h half-life decay, memory becomes one
//     peak per 24 h window, and OOM kills are injected by VPA's RecordOOM
//     (max(+20 %, +100 MiB) over the request).
//   - pkg/recommender/logic computes target, lower and upper bound
//     (CreatePodResourceRecommender, GetRecommendedPodResources).
//   - pkg/utils/vpa scales limits as the admission controller does under the
//     default controlledValues RequestsAndLimits (GetProportionalLimit).
//
// The updater's decision (pkg/updater/priority, update_priority_calculator.go
// and priority_processor.go) is re-implemented in Decide: VPA's code works on
// live Pod objects (pod start time, container statuses, the VPA object) and
// on a one-minute loop, while the backtest decides at its own decision
// points; the rules themselves are three comparisons, mirrored line by line.
//
// VPA's model reads package-level settings (model.GetAggregationsConfig:
// bucket layout, half-lives, memory window, OOM bump); the baseline uses the
// defaults and never changes them. Nothing here reads the wall clock: the
// model's AggregateContainerState records CreationTime from time.Now, which
// only VPA's garbage collection reads, and the backtest never runs it.

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/logic"
	vpamodel "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/model"
	vpaapi "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/utils/vpa"

	"github.com/rightsizer/rightsizer/recommender"
)

// VPAOptions configure the vpa baseline. DefaultVPAOptions holds VPA's
// defaults (recommender: pkg/recommender/config DefaultRecommenderConfig;
// updater: pkg/updater/config DefaultUpdaterConfig). The model's own
// settings (histogram buckets of 0.01 core and 10 MB growing by 5 %, 24 h
// half-lives, 8 daily memory peaks, the OOM bump) are VPA's package-level
// defaults and are not options.
type VPAOptions struct {
	// TargetCPUPercentile is the CPU usage percentile, as a fraction in
	// (0, 1], that the target is based on (--target-cpu-percentile, 0.9).
	TargetCPUPercentile float64
	// LowerBoundCPUPercentile is the percentile, a fraction in (0, 1], of
	// the lower bound (--recommendation-lower-bound-cpu-percentile, 0.5).
	LowerBoundCPUPercentile float64
	// UpperBoundCPUPercentile is the percentile, a fraction in (0, 1], of
	// the upper bound (--recommendation-upper-bound-cpu-percentile, 0.95).
	UpperBoundCPUPercentile float64
	// TargetMemoryPercentile is the percentile of the daily memory peaks,
	// a fraction in (0, 1], that the target is based on
	// (--target-memory-percentile, 0.9).
	TargetMemoryPercentile float64
	// LowerBoundMemoryPercentile is the lower bound's percentile of the
	// memory peaks, a fraction in (0, 1] (0.5).
	LowerBoundMemoryPercentile float64
	// UpperBoundMemoryPercentile is the upper bound's percentile of the
	// memory peaks, a fraction in (0, 1] (0.95).
	UpperBoundMemoryPercentile float64
	// SafetyMarginFraction is added to target and bounds, as a fraction of
	// them (--recommendation-margin-fraction, 0.15: ×1.15).
	SafetyMarginFraction float64
	// PodMinCPUMillicores is the smallest CPU recommendation for a pod, in
	// millicores, split evenly over its app containers
	// (--pod-recommendation-min-cpu-millicores, 25).
	PodMinCPUMillicores float64
	// PodMinMemoryMb is the smallest memory recommendation for a pod, split
	// evenly over its app containers (--pod-recommendation-min-memory-mb,
	// 250). Despite the flag's name VPA multiplies it by 1024², so it is in
	// MiB.
	PodMinMemoryMb float64
	// ConfidenceIntervalCPU is the unit of history, a "day", in VPA's
	// confidence multipliers for the CPU bounds (--confidence-interval-cpu,
	// 24 h). It must be positive.
	ConfidenceIntervalCPU time.Duration
	// ConfidenceIntervalMemory is the same for the memory bounds
	// (--confidence-interval-memory, 24 h). It must be positive.
	ConfidenceIntervalMemory time.Duration

	// MinChangePriority is the summed relative change of the requests
	// (CPU plus memory) below which the updater leaves a pod alone once it
	// is old enough (--pod-update-threshold, 0.1).
	MinChangePriority float64
	// PodLifetimeUpdateThreshold is how long a pod must have run before the
	// updater changes it while its requests are within the bounds
	// (--in-recommendation-bounds-eviction-lifetime-threshold, 12 h).
	PodLifetimeUpdateThreshold time.Duration
	// EvictAfterOOMThreshold: an OOM kill less than this after the
	// container started is a "quick OOM", which makes the updater act even
	// within the bounds (--evict-after-oom-threshold, 10 min).
	EvictAfterOOMThreshold time.Duration

	// SampleInterval is the recommender's metrics loop period
	// (--recommender-interval, 1 min): in a cluster VPA takes one CPU sample
	// per container per loop, and its confidence counts samples (1,440 make
	// a day). A trace sample that stands for a longer interval is fed as one
	// CPU sample per SampleInterval across the gap since the container's
	// previous sample (the same value each time), so that VPA's confidence
	// grows as it would in the cluster. Zero feeds every trace sample once.
	// Memory samples are fed once: only their daily peak counts.
	SampleInterval time.Duration
	// MaxFillGap is the longest gap between a container's samples that is
	// filled (15 min); a longer gap is a metrics outage, in which VPA got
	// nothing, and the sample after it is fed once.
	MaxFillGap time.Duration
	// SkipZeroMemory drops memory samples of exactly 0 bytes (false). VPA
	// keeps one peak per container per 24 h window and replaces it only
	// when the old peak is non-zero (model/container.go addMemorySample:
	// "oldMaxMem != 0 && sample.Usage > oldMaxMem"), so a window whose first
	// sample is 0 keeps a peak of 0 whatever follows, kills included. A
	// running container's RAM working set is never 0, but GPU memory on the
	// memory channel is until the model loads; set this to model VPA sizing
	// such a channel as it sizes RAM.
	SkipZeroMemory bool
}

// DefaultVPAOptions returns VPA v1.8.1's defaults.
func DefaultVPAOptions() VPAOptions {
	return VPAOptions{
		TargetCPUPercentile:        0.9,
		LowerBoundCPUPercentile:    0.5,
		UpperBoundCPUPercentile:    0.95,
		TargetMemoryPercentile:     0.9,
		LowerBoundMemoryPercentile: 0.5,
		UpperBoundMemoryPercentile: 0.95,
		SafetyMarginFraction:       0.15,
		PodMinCPUMillicores:        25,
		PodMinMemoryMb:             250,
		ConfidenceIntervalCPU:      24 * time.Hour,
		ConfidenceIntervalMemory:   24 * time.Hour,
		MinChangePriority:          0.1,
		PodLifetimeUpdateThreshold: 12 * time.Hour,
		EvictAfterOOMThreshold:     10 * time.Minute,
		SampleInterval:             time.Minute,
		MaxFillGap:                 15 * time.Minute,
	}
}

// Validate reports every problem with the options.
func (o VPAOptions) Validate() error {
	var errs []error
	check := func(ok func(float64) bool, want string, name string, v float64) {
		if !ok(v) {
			errs = append(errs, fmt.Errorf("%s %v %s", name, v, want))
		}
	}
	percentile := func(v float64) bool { return v > 0 && v <= 1 }
	check(percentile, "not in (0, 1]", "target cpu percentile", o.TargetCPUPercentile)
	check(percentile, "not in (0, 1]", "lower bound cpu percentile", o.LowerBoundCPUPercentile)
	check(percentile, "not in (0, 1]", "upper bound cpu percentile", o.UpperBoundCPUPercentile)
	check(percentile, "not in (0, 1]", "target memory percentile", o.TargetMemoryPercentile)
	check(percentile, "not in (0, 1]", "lower bound memory percentile", o.LowerBoundMemoryPercentile)
	check(percentile, "not in (0, 1]", "upper bound memory percentile", o.UpperBoundMemoryPercentile)
	nonNegative := func(v float64) bool { return v >= 0 && !math.IsInf(v, 1) }
	check(nonNegative, "is negative or not a number", "safety margin fraction", o.SafetyMarginFraction)
	check(nonNegative, "is negative or not a number", "pod min cpu millicores", o.PodMinCPUMillicores)
	check(nonNegative, "is negative or not a number", "pod min memory mb", o.PodMinMemoryMb)
	check(nonNegative, "is negative or not a number", "min change priority", o.MinChangePriority)
	if o.ConfidenceIntervalCPU <= 0 || o.ConfidenceIntervalMemory <= 0 {
		errs = append(errs, errors.New("confidence intervals must be positive"))
	}
	if o.PodLifetimeUpdateThreshold < 0 || o.EvictAfterOOMThreshold < 0 || o.SampleInterval < 0 || o.MaxFillGap < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	return errors.Join(errs...)
}

// recommendationConfig returns the options as VPA's logic package takes
// them.
func (o VPAOptions) recommendationConfig() logic.RecommendationConfig {
	return logic.RecommendationConfig{
		SafetyMarginFraction:       o.SafetyMarginFraction,
		PodMinCPUMillicores:        o.PodMinCPUMillicores,
		PodMinMemoryMb:             o.PodMinMemoryMb,
		TargetCPUPercentile:        o.TargetCPUPercentile,
		LowerBoundCPUPercentile:    o.LowerBoundCPUPercentile,
		UpperBoundCPUPercentile:    o.UpperBoundCPUPercentile,
		ConfidenceIntervalCPU:      o.ConfidenceIntervalCPU,
		TargetMemoryPercentile:     o.TargetMemoryPercentile,
		LowerBoundMemoryPercentile: o.LowerBoundMemoryPercentile,
		UpperBoundMemoryPercentile: o.UpperBoundMemoryPercentile,
		ConfidenceIntervalMemory:   o.ConfidenceIntervalMemory,
	}
}

// VPA is the Vertical Pod Autoscaler baseline: VPA's recommender (its own
// model and logic code) and its updater in the default update mode,
// Recreate, with the default controlledValues, RequestsAndLimits.
//
//   - Requests become VPA's target; limits keep the limit/request ratio of
//     the workload as provisioned (UpsertWorkload), CPU and memory each on
//     its own; a resource provisioned without a limit gets none.
//   - Decide applies the target (both resources) when the updater would
//     evict: a request outside [lower bound, upper bound]; or the pod has
//     run PodLifetimeUpdateThreshold (12 h) and the requests would move by
//     MinChangePriority (10 %) in total; or a quick OOM.
//   - An applied change is an eviction: the replacement pod starts at the
//     decision time (the 12 h count restarts) and VPA tracks it as a new
//     ContainerState in the same aggregate, so the evicted pod's peak of the
//     day stays in the memory histogram beside the new pod's.
//   - Only app containers are sized: VPA drops the samples of init
//     containers and native sidecars (both are pod.Spec.InitContainers),
//     and the per-pod floor is split over the app containers.
//   - The updater's --min-replicas (2) is not modelled: the baseline acts
//     on single-replica workloads as VPA does with updatePolicy.minReplicas
//     set to 1.
//
// Samples and kills are queued on arrival and enter VPA's model at the next
// Decide, in time order, up to its decision time: the model never sees
// data after the decision time even if it has been fed, and a kill
// reported before the samples that precede it is still ordered correctly.
// Decide times must not go backward.
//
// A VPA is safe for concurrent use; the backtest calls it from one
// goroutine.
type VPA struct {
	opts VPAOptions
	rec  logic.PodResourceRecommender

	mu         sync.Mutex
	workloads  map[recommender.WorkloadKey]*vpaWorkload
	containers map[recommender.ContainerKey]*vpaContainer
}

var _ Policy = (*VPA)(nil)

// vpaModelInit initialises VPA's package-level aggregation settings to
// their defaults exactly once (model.GetAggregationsConfig does it lazily
// and without a lock), so that baselines built concurrently only read them.
var vpaModelInit sync.Once

// NewVPA returns the vpa baseline. opts must be valid (see Validate).
func NewVPA(opts VPAOptions) *VPA {
	vpaModelInit.Do(func() { vpamodel.GetAggregationsConfig() })
	return &VPA{
		opts:       opts,
		rec:        logic.CreatePodResourceRecommender(opts.recommendationConfig()),
		workloads:  map[recommender.WorkloadKey]*vpaWorkload{},
		containers: map[recommender.ContainerKey]*vpaContainer{},
	}
}

// vpaWorkload is a workload's pod, as VPA sees it.
type vpaWorkload struct {
	// apps are the app containers, each with its aggregate: the map that
	// GetRecommendedPodResources splits the per-pod floor over.
	apps []*vpaContainer
}

// vpaContainer is one container's VPA state.
type vpaContainer struct {
	name string
	w    *vpaWorkload
	role recommender.ContainerRole
	// spec holds the requests and limits as provisioned: the ratio that
	// limits keep.
	spec recommender.ContainerSpec
	// agg is VPA's aggregate: CPU histogram, memory peaks histogram.
	agg *vpamodel.AggregateContainerState
	// pod is the current pod's ContainerState; replaced on eviction.
	pod *vpamodel.ContainerState
	// request is the container's applied requests as last known: the
	// memory request an OOM is bumped from.
	request Applied

	// Queued input, in time order (ooms sorted on insertion), ns.
	samples []vpaSample
	ooms    []int64
	last    int64 // time of the newest queued sample, ns
	queued  bool  // whether any sample was queued

	started        bool
	podStart       int64 // the pod's start: first sample or kill, then the last eviction, ns
	containerStart int64 // the container's start: podStart or its last OOM restart, ns
	lastCPU        int64 // time of the last CPU sample fed to the model, ns
	fedCPU         bool

	// A quick OOM is pending from its time until a Decide has seen it and
	// EvictAfterOOMThreshold has passed (see Decide).
	quickOOM     int64
	quickPending bool
	quickSeen    bool
}

type vpaSample struct {
	t   int64 // ns
	cpu recommender.MilliCPU
	mem recommender.Bytes
	has recommender.ResourceSet
}

// Name returns "vpa".
func (*VPA) Name() string { return "vpa" }

// UpsertWorkload records the workload's containers, their roles and their
// requests and limits as provisioned.
func (v *VPA) UpsertWorkload(w recommender.Workload) error {
	if err := checkWorkload(&w); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	vw := v.workloads[w.Key]
	if vw == nil {
		vw = &vpaWorkload{}
		v.workloads[w.Key] = vw
	}
	var apps []*vpaContainer
	for _, cs := range w.Containers {
		c := v.containerLocked(recommender.ContainerKey{WorkloadKey: w.Key, Container: cs.Name}, vw)
		c.role, c.spec = cs.Role, cs
		if !c.started {
			c.request = Applied{
				CPURequest: cs.Requests.CPU, CPULimit: cs.Limits.CPU,
				MemoryRequest: cs.Requests.Memory, MemoryLimit: cs.Limits.Memory,
			}
		}
		if cs.Role == recommender.RoleApp {
			apps = append(apps, c)
		}
	}
	// Containers seen in samples but missing from the spec still run in
	// the pod.
	for _, c := range vw.apps {
		if _, ok := w.Container(c.name); !ok {
			apps = append(apps, c)
		}
	}
	vw.apps = apps
	return nil
}

// containerLocked returns the container's state, creating it (and, when w
// is nil, a one-container workload for it). v.mu must be held.
func (v *VPA) containerLocked(k recommender.ContainerKey, w *vpaWorkload) *vpaContainer {
	if c := v.containers[k]; c != nil {
		return c
	}
	if w == nil {
		if w = v.workloads[k.WorkloadKey]; w == nil {
			w = &vpaWorkload{}
			v.workloads[k.WorkloadKey] = w
		}
	}
	agg := vpamodel.NewAggregateContainerState()
	c := &vpaContainer{name: k.Container, w: w, agg: agg, pod: vpamodel.NewContainerState(vpamodel.Resources{}, agg)}
	v.containers[k] = c
	w.apps = append(w.apps, c) // an app container until a spec says otherwise
	return c
}

// lookup returns the state of a container seen for the first time in a
// sample or a kill, after checking its key.
func (v *VPA) lookup(k recommender.ContainerKey) (*vpaContainer, error) {
	if c := v.containers[k]; c != nil {
		return c, nil
	}
	if err := k.Validate(); err != nil {
		return nil, err
	}
	return v.containerLocked(k, nil), nil
}

// Ingest queues the samples' CPU and memory for VPA's model (see VPA).
// Samples of init and sidecar containers are accepted and dropped, as VPA
// drops them; so are samples with neither CPU nor memory.
func (v *VPA) Ingest(samples []recommender.Sample) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	var rj rejects
	for i := range samples {
		s := &samples[i]
		if err := checkSample(s); err != nil {
			rj.add(i, s.Key, err)
			continue
		}
		has := s.Usage.Has & (1<<recommender.ResourceCPU | 1<<recommender.ResourceMemory)
		if has == 0 {
			continue
		}
		c, err := v.lookup(s.Key)
		if err != nil {
			rj.add(i, s.Key, err)
			continue
		}
		t := s.Time.UnixNano()
		if c.queued && t < c.last {
			rj.add(i, s.Key, errOutOfOrder)
			continue
		}
		c.last, c.queued = t, true
		if c.role != recommender.RoleApp {
			continue
		}
		c.samples = append(c.samples, vpaSample{t: t, cpu: s.Usage.CPU, mem: s.Usage.Memory, has: has})
	}
	return rj.err()
}

// RecordOOM queues the kill for VPA's model: at the next Decide, VPA's
// ContainerState.RecordOOM injects max(request × 1.2, request + 100 MiB),
// with request the larger of the memory request then in force and the
// day's peak, as a memory peak. ev.Limit and ev.Usage are not used: VPA's
// bump starts from the request.
func (v *VPA) RecordOOM(ev recommender.OOMEvent) error {
	if err := checkOOM(&ev); err != nil {
		return fmt.Errorf("record oom: %w", err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	c, err := v.lookup(ev.Key)
	if err != nil {
		return fmt.Errorf("record oom: %w", err)
	}
	if c.role != recommender.RoleApp {
		return nil
	}
	t := ev.Time.UnixNano()
	i, _ := slices.BinarySearch(c.ooms, t+1) // after equal times: arrival order
	c.ooms = slices.Insert(c.ooms, i, t)
	return nil
}

// Decide feeds VPA's model everything queued up to now, asks VPA for its
// recommendation and returns the target with proportional limits if VPA's
// updater would act (see VPA). ok is false before the container has any
// CPU or memory sample.
func (v *VPA) Decide(k recommender.ContainerKey, now time.Time, current Applied) (Applied, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.containers[k]
	if c == nil || c.role != recommender.RoleApp {
		return current, false
	}
	n := now.UnixNano()
	v.drain(c, n)
	c.request = current
	if c.agg.TotalSamplesCount == 0 && c.agg.AggregateMemoryPeaks.IsEmpty() {
		return current, false
	}
	rec := v.recommend(c)

	// A quick OOM counts while the updater would still see it (less than
	// EvictAfterOOMThreshold ago), and, since the backtest decides less
	// often than the updater's one-minute loop, at least once: at the first
	// decision after it, as the updater would have at its next loop.
	quick := c.quickPending && (!c.quickSeen || n-c.quickOOM < int64(v.opts.EvictAfterOOMThreshold))
	c.quickSeen = true
	c.quickPending = quick

	// update_priority_calculator.go AddPod, with one container per pod.
	outside, diff := vpaUpdatePriority(current, &rec)
	if !outside && !quick {
		if n < c.podStart+int64(v.opts.PodLifetimeUpdateThreshold) {
			return current, false // "Not updating a short-lived pod, request within recommended range"
		}
		if diff < v.opts.MinChangePriority {
			return current, false // "Not updating pod, resource diff too low"
		}
	}
	if quick && diff == 0 {
		return current, false // "Not updating pod because resource would not change"
	}
	next := vpaApply(&c.spec, current, rec.Target)
	if next == current {
		return current, false
	}
	// Recreate: the pod is evicted and its replacement admitted with next.
	c.pod = vpamodel.NewContainerState(vpamodel.Resources{
		vpamodel.ResourceCPU:    vpamodel.ResourceAmount(next.CPURequest),
		vpamodel.ResourceMemory: vpamodel.ResourceAmount(next.MemoryRequest),
	}, c.agg)
	c.podStart, c.containerStart = n, n
	c.quickPending = false
	c.request = next
	return next, true
}

// recommend returns VPA's recommendation for c: target, lower and upper
// bound, in millicores and bytes.
func (v *VPA) recommend(c *vpaContainer) logic.RecommendedContainerResources {
	m := make(vpamodel.ContainerNameToAggregateStateMap, len(c.w.apps))
	for _, a := range c.w.apps {
		m[a.name] = a.agg
	}
	return v.rec.GetRecommendedPodResources(m)[c.name]
}

// drain feeds c's queued samples and kills with times up to now into VPA's
// model, in time order (a kill before a sample of the same time).
func (v *VPA) drain(c *vpaContainer, now int64) {
	si, oi := 0, 0
	for {
		hasS := si < len(c.samples) && c.samples[si].t <= now
		hasO := oi < len(c.ooms) && c.ooms[oi] <= now
		switch {
		case hasO && (!hasS || c.ooms[oi] <= c.samples[si].t):
			v.feedOOM(c, c.ooms[oi])
			oi++
		case hasS:
			v.feedSample(c, &c.samples[si])
			si++
		default:
			c.samples = c.samples[:copy(c.samples, c.samples[si:])]
			c.ooms = c.ooms[:copy(c.ooms, c.ooms[oi:])]
			return
		}
	}
}

// start marks the pod as started at t, the first thing seen of it.
func (c *vpaContainer) start(t int64) {
	if !c.started {
		c.started, c.podStart, c.containerStart = true, t, t
	}
}

// feedSample adds one trace sample to VPA's model, filling the gap since
// the previous CPU sample at SampleInterval (see VPAOptions).
func (v *VPA) feedSample(c *vpaContainer, s *vpaSample) {
	c.start(s.t)
	if s.has.Has(recommender.ResourceCPU) {
		n := int64(1)
		if si := int64(v.opts.SampleInterval); si > 0 && c.fedCPU {
			if gap := s.t - c.lastCPU; gap > 0 && gap <= int64(v.opts.MaxFillGap) {
				n = max(1, gap/si)
			}
		}
		for i := n - 1; i >= 0; i-- {
			c.pod.AddSample(&vpamodel.ContainerUsageSample{
				MeasureStart: time.Unix(0, s.t-i*int64(v.opts.SampleInterval)),
				Usage:        vpamodel.ResourceAmount(s.cpu),
				Resource:     vpamodel.ResourceCPU,
			})
		}
		c.lastCPU, c.fedCPU = s.t, true
	}
	if s.has.Has(recommender.ResourceMemory) && (s.mem > 0 || !v.opts.SkipZeroMemory) {
		c.pod.AddSample(&vpamodel.ContainerUsageSample{
			MeasureStart: time.Unix(0, s.t),
			Usage:        vpamodel.ResourceAmount(s.mem),
			Resource:     vpamodel.ResourceMemory,
		})
	}
}

// feedOOM records a kill at t in VPA's model and in the container's
// lifecycle: the container restarts at t, and the kill is a quick OOM if
// the container had run less than EvictAfterOOMThreshold.
func (v *VPA) feedOOM(c *vpaContainer, t int64) {
	c.start(t)
	// VPA's cluster feeder logs and drops a kill its model refuses (one
	// older than a memory window before the last memory sample).
	_ = c.pod.RecordOOM(time.Unix(0, t), vpamodel.ResourceAmount(c.request.MemoryRequest))
	if t-c.containerStart < int64(v.opts.EvictAfterOOMThreshold) {
		c.quickOOM, c.quickPending, c.quickSeen = t, true, false
	}
	c.containerStart = t
}

// vpaUpdatePriority mirrors priority_processor.go GetUpdatePriority for a
// pod of one container: whether a request lies outside [lower bound, upper
// bound] (a missing request always does), and the sum over CPU and memory
// of |request − target| / request, computed as VPA does in milli-units
// with the request floored at one milli-unit.
func vpaUpdatePriority(current Applied, rec *logic.RecommendedContainerResources) (outside bool, diff float64) {
	for _, r := range []struct {
		name vpamodel.ResourceName
		req  int64
	}{
		{vpamodel.ResourceCPU, int64(current.CPURequest)},
		{vpamodel.ResourceMemory, int64(current.MemoryRequest)},
	} {
		target, ok := rec.Target[r.name]
		if !ok {
			continue
		}
		if r.req <= 0 {
			outside = true
		} else if lo, ok := rec.LowerBound[r.name]; ok && r.req < int64(lo) {
			outside = true
		} else if hi, ok := rec.UpperBound[r.name]; ok && r.req > int64(hi) {
			outside = true
		}
		milli := 1.0
		if r.name == vpamodel.ResourceMemory {
			milli = 1000 // Quantity.MilliValue of bytes
		}
		total := math.Max(float64(max(r.req, 0))*milli, 1)
		diff += math.Abs(total-float64(target)*milli) / total
	}
	return outside, diff
}

// vpaApply returns current with the requests set to target and the limits
// scaled as VPA's admission controller does (vpaapi.GetProportionalLimit,
// against the requests and limits as provisioned, no LimitRange).
func vpaApply(spec *recommender.ContainerSpec, current Applied, target vpamodel.Resources) Applied {
	next := current
	next.CPURequest = recommender.MilliCPU(target[vpamodel.ResourceCPU])
	next.MemoryRequest = recommender.Bytes(target[vpamodel.ResourceMemory])
	limits, _ := vpaapi.GetProportionalLimit(
		resourceList(spec.Limits.CPU, spec.Limits.Memory),
		resourceList(spec.Requests.CPU, spec.Requests.Memory),
		resourceList(next.CPURequest, next.MemoryRequest),
		corev1.ResourceList{},
	)
	next.CPULimit, next.MemoryLimit = 0, 0
	if q, ok := limits[corev1.ResourceCPU]; ok {
		next.CPULimit = recommender.MilliCPU(q.MilliValue())
	}
	if q, ok := limits[corev1.ResourceMemory]; ok {
		next.MemoryLimit = recommender.Bytes(q.Value())
	}
	return next
}

// resourceList converts amounts to a Kubernetes resource list; zero means
// unset.
func resourceList(cpu recommender.MilliCPU, mem recommender.Bytes) corev1.ResourceList {
	l := corev1.ResourceList{}
	if cpu > 0 {
		l[corev1.ResourceCPU] = *resource.NewMilliQuantity(int64(cpu), resource.DecimalSI)
	}
	if mem > 0 {
		l[corev1.ResourceMemory] = *resource.NewQuantity(int64(mem), resource.BinarySI)
	}
	return l
}

// ReactsToOOM is true: VPA's updater loop runs every minute, and after a
// kill the recommender's bump puts the request below the lower bound, so
// the updater acts on the next loop (or on its quick-OOM rule).
func (v *VPA) ReactsToOOM() bool { return true }

// ReactsToUsage is true: VPA's updater looks every minute and acts
// (in place, in InPlaceOrRecreate mode) when a request has left its
// recommendation's bounds; Decide applies exactly those rules.
func (v *VPA) ReactsToUsage() bool { return true }
