package gpu

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/gpushape"
)

// Input is what a policy may see at a decision point: one pod's samples
// before Now (never after: the walk is causal), the allocation the pod
// holds, and its GPU. After an overflow (Overflow) the samples run up to
// Now, the overflow's, included.
type Input struct {
	Pod string
	// Now is the decision point; the decision holds until the next one.
	Now time.Time
	// Origin is the trace's first sample time, the epoch that policies
	// measuring fixed intervals (Kruize's 15 minutes) align them to.
	Origin time.Time
	// Samples are the pod's samples before Now, oldest first, and
	// Durations how long each stands for (see Trace.Step). Both share the
	// trace's arrays: read only.
	Samples   []Sample
	Durations []time.Duration
	// Current is the allocation the pod holds: the previous decision, one
	// whole GPU at first.
	Current gpushape.Allocation
	Device  gpushape.Device
	// Overflow says the pod has just overflowed Current's GPU memory, within
	// a window (only an OOMReactor is asked then): the last sample, at Now,
	// is the overflow, its memory censored at Current's, which is all the
	// pod could use.
	Overflow bool
}

// Decision is a policy's GPU shape for one pod until the next decision
// point, and what it is scored on.
type Decision struct {
	Allocation gpushape.Allocation `json:"allocation"`
	// GPUs is the GPU capacity the shape reserves, in whole GPUs: 1 per
	// whole GPU, 1/Replicas for a share, the larger of the memory and
	// compute slice fractions for a MIG instance (gpushape.Shape.GPUs).
	GPUs float64 `json:"gpus"`
	// Memory is the GPU memory the shape gives, in bytes
	// (gpushape.Shape.MemoryBytes): a sample above it is a memory overflow,
	// and GiB-hours are costed by it.
	Memory recommender.Bytes `json:"memory"`
	// NeedMemory is the memory the policy sized for, in bytes; 0 when the
	// policy does not say (whole-gpu, kruize).
	NeedMemory recommender.Bytes `json:"needMemory,omitempty"`
	// Warmup marks the decision Run makes itself while the pod's history
	// is shorter than Options.Warmup: one whole GPU, for every policy.
	Warmup bool   `json:"warmup,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Policy decides a pod's GPU shape from its past. Implementations must be
// safe for concurrent use: Run calls Decide for different pods at once.
type Policy interface {
	// Name is the policy's key in results ("cost", "kruize", …).
	Name() string
	// Decide returns the shape for the window that starts at in.Now.
	Decide(in Input) (Decision, error)
}

// OOMReactor is implemented by policies that reshape a pod as soon as it
// overflows its GPU memory, as rightsizer's controller does after a CUDA
// out-of-memory failure (and VPA's updater after an OOM kill, its "quick
// OOM" rule; package recommender/backtest's OOMReactor): the pod fails
// and restarts anyway, and it restarts on the shape the policy decides
// then, not on the one that failed. Run asks such a policy to Decide at
// the overflowing sample (Input.Overflow) unless Options.NoReactions; the
// new shape holds from the next sample to the window's end. Other
// policies (whole-gpu, kruize, a periodic report) wait for the next
// decision point, their pod failing meanwhile.
type OOMReactor interface {
	ReactsToOOM() bool
}

// decisionOf returns the decision that holds allocation a on device d.
func decisionOf(d gpushape.Device, a gpushape.Allocation, reason string) (Decision, error) {
	c, err := d.Capacity(a)
	if err != nil {
		return Decision{}, err
	}
	return Decision{Allocation: a, GPUs: c.GPUs, Memory: c.Memory, Reason: reason}, nil
}

// oneGPU is the allocation of the trace: one whole GPU per pod.
var oneGPU = gpushape.Allocation{Kind: gpushape.KindWhole, Count: 1}

// WholeGPU is the baseline that keeps what every pod of the trace has: one
// whole GPU.
type WholeGPU struct{}

// Name returns "whole-gpu".
func (WholeGPU) Name() string { return "whole-gpu" }

// Decide returns one whole GPU.
func (WholeGPU) Decide(in Input) (Decision, error) {
	return decisionOf(in.Device, oneGPU, "keep one GPU")
}

// Rightsizer sizes shapes with gpushape.Recommend under one of
// rightsizer's GPU policies (gpushape.DefaultPolicies), from the usage
// summary UsageOf builds of the history, feeding each decision back as the
// current allocation of the next, as the controller would.
type Rightsizer struct {
	Policy gpushape.Policy
	// PeakWindow is the length of the windows whose memory peaks UsageOf
	// keeps (gpushape.Usage.MemoryPeaks), aligned to the trace's first
	// sample; 0 means DefaultInterval, so that a window is what one
	// decision holds for and Policy.MemoryRisk is a risk per decision.
	PeakWindow time.Duration
}

// Name returns the policy's profile name ("cost", "balanced", …).
func (r Rightsizer) Name() string { return r.Policy.Name }

// ReactsToOOM returns true: rightsizer's controller reshapes a pod that
// overflowed its shape at once. The overflow's sample, censored at the
// shape's memory, shows as usage at the shape's cap, so Recommend steps
// up (gpushape.FlagCapped).
func (Rightsizer) ReactsToOOM() bool { return true }

var _ OOMReactor = Rightsizer{}

// Decide recommends a shape.
func (r Rightsizer) Decide(in Input) (Decision, error) {
	u, err := UsageOf(in, r.Policy, r.PeakWindow)
	if err != nil {
		return Decision{}, err
	}
	s, err := gpushape.Recommend(gpushape.Input{Usage: u, Current: in.Current, Device: in.Device}, r.Policy)
	if err != nil {
		return Decision{}, fmt.Errorf("recommend a shape for %s: %w", in.Pod, err)
	}
	return Decision{Allocation: s.Allocation(), GPUs: s.GPUs, Memory: s.MemoryBytes, NeedMemory: s.NeedMemoryBytes, Reason: s.Reason}, nil
}

// ComputeQuantiles are the quantiles of GPU busy time that UsageOf
// summarises, besides the policy's own percentile: gpushape interpolates
// between them for any other.
var ComputeQuantiles = []float64{0.5, 0.6, 0.9, 0.95, 0.98, 0.99}

// UsageOf summarises a history the way the engine's sketches would, but
// exactly (the trace is small):
//
//   - MemoryMax: the largest GPU memory sample;
//   - MemoryPeaks: the largest GPU memory sample of each window of
//     peakWindow (0 means DefaultInterval) from in.Origin that has one,
//     oldest first; the last window is in progress only after an
//     overflow (Input.Overflow), when it ends with the overflow;
//   - Compute: busy time in GPUs (duty cycle / 100, one GPU per pod) at
//     ComputeQuantiles and the policy's ComputePercentile, each the
//     nearest-rank empirical quantile (the smallest sample with at least
//     Q of the samples at or below it), and ComputeMax the largest;
//   - Hours: the time the samples stand for;
//   - IdleFraction: the share of that time, over samples with both
//     resources, that p.IdleSample counts idle against the current
//     allocation's capacity, with the history's smallest memory sample as
//     the baseline (the memory the pod holds doing nothing).
//
// O(n log n) in the samples. It fails, wrapping gpushape.ErrInvalidInput,
// when the current allocation does not exist on the device.
func UsageOf(in Input, p gpushape.Policy, peakWindow time.Duration) (gpushape.Usage, error) {
	c, err := in.Device.Capacity(in.Current)
	if err != nil {
		return gpushape.Usage{}, fmt.Errorf("usage of %s: %w", in.Pod, err)
	}
	if peakWindow < 0 {
		return gpushape.Usage{}, fmt.Errorf("usage of %s: peak window %v negative: %w", in.Pod, peakWindow, gpushape.ErrInvalidInput)
	}
	if peakWindow == 0 {
		peakWindow = DefaultInterval
	}
	var u gpushape.Usage
	var busy []float64
	baseline := recommender.Bytes(math.MaxInt64)
	var seconds float64
	window := int64(math.MinInt64)
	for i, s := range in.Samples {
		seconds += in.Durations[i].Seconds()
		if s.HasMemory() {
			u.MemoryMax = max(u.MemoryMax, s.Memory)
			baseline = min(baseline, s.Memory)
			// Samples before Origin (none in a Run) fall in negative
			// windows: floor division keeps them apart.
			w := int64(s.Time.Sub(in.Origin) / peakWindow)
			if s.Time.Before(in.Origin.Add(time.Duration(w) * peakWindow)) {
				w--
			}
			if w != window {
				u.MemoryPeaks = append(u.MemoryPeaks, 0)
				window = w
			}
			last := &u.MemoryPeaks[len(u.MemoryPeaks)-1]
			*last = max(*last, s.Memory)
		}
		if s.HasCompute() {
			busy = append(busy, float64(s.Compute))
		}
	}
	u.Hours = seconds / 3600
	if len(busy) > 0 {
		slices.Sort(busy)
		qs := slices.Clone(ComputeQuantiles)
		if !slices.Contains(qs, p.ComputePercentile) {
			qs = append(qs, p.ComputePercentile)
			slices.Sort(qs)
		}
		for _, q := range qs {
			// The ⌈Q·n⌉-th smallest; the epsilon keeps Q·n that is whole
			// in decimal (0.6 × 100) from rounding up a rank in binary.
			k := min(len(busy), max(1, int(math.Ceil(q*float64(len(busy))-1e-9)))) - 1
			u.Compute = append(u.Compute, gpushape.Quantile{Q: q, Value: recommender.GPUCompute(busy[k])})
		}
		u.ComputeMax = recommender.GPUCompute(busy[len(busy)-1])
	}
	var both, idle float64
	for i, s := range in.Samples {
		if !s.HasMemory() || !s.HasCompute() {
			continue
		}
		d := in.Durations[i].Seconds()
		both += d
		if p.IdleSample(s.Compute, s.Memory, baseline, c) {
			idle += d
		}
	}
	if both > 0 {
		u.IdleFraction = min(1, idle/both)
	}
	return u, nil
}

// KruizeProfile is one entry of Kruize's ascending MIG profile list: the
// profile's name and the memory and SM fractions Kruize credits it with
// (by slices, not by measured MiB or SMs).
type KruizeProfile struct {
	Name           string
	MemoryFraction float64
	SMFraction     float64
}

// KruizeH100 is Kruize's profile list for NVIDIA H100 80GB, in its order:
// kruize/autotune AcceleratorMetaDataService.initializeAcceleratorProfiles
// ("commonProfiles", shared with A100 80GB).
var KruizeH100 = []KruizeProfile{
	{"1g.10gb", 1.0 / 8, 1.0 / 7},
	{"1g.20gb", 1.0 / 4, 1.0 / 7},
	{"2g.20gb", 2.0 / 8, 2.0 / 7},
	{"3g.40gb", 4.0 / 8, 3.0 / 7},
	{"4g.40gb", 4.0 / 8, 4.0 / 7},
	{"7g.80gb", 1.0, 1.0},
}

// Kruize is the baseline of Kruize's accelerator recommendation
// (research/gpu.md §4.3, "Rightsizing products/projects": the issue cites
// §4.4, but the Kruize notes sit in §4.3; §4.4 is Kubecost and OpenCost),
// re-implemented from kruize/autotune:
//
//  1. Usage arrives per measurement interval (Interval, Kruize's 15
//     minutes) as min/max/avg; Kruize keeps each interval's max of GPU
//     utilisation (DCGM_FI_DEV_GPU_UTIL, %: here the duty cycle) and of
//     GPU memory, skipping intervals whose max is not positive.
//  2. It takes the Percentile of those maxima (CommonUtils.percentile:
//     the sorted list's element at round(p/100 × (n−1))); 98 is its
//     performance percentile (PERFORMANCE_ACCELERATOR_PERCENTILE), the
//     issue's "p98 of per-interval peaks".
//  3. It turns them into fractions of the GPU (utilisation / 100, memory
//     / the card's memory), clamped to 1, and picks the first profile of
//     its ascending list (KruizeH100) whose memory fraction and SM
//     fraction both hold them (AcceleratorMetaDataService
//     .getAcceleratorProfile). No headroom, and profiles by nominal
//     fraction: a 1g.10gb counts as 1/8 of 80 GiB, 10 GiB, though it
//     holds 9,856 MiB.
//  4. No interval with data gives no recommendation: the pod keeps its
//     allocation.
//
// Only complete intervals before the decision point count. The shape is
// then scored on the profile's real memory and slices.
type Kruize struct {
	// Percentile is in (0, 100].
	Percentile float64
	// Interval is the measurement interval.
	Interval time.Duration
	// Profiles is the ascending list; nil means KruizeH100.
	Profiles []KruizeProfile
}

// NewKruize returns Kruize's rule as the issue states it: P98 of
// 15-minute peaks, the H100 80GB list.
func NewKruize() Kruize {
	return Kruize{Percentile: 98, Interval: 15 * time.Minute, Profiles: KruizeH100}
}

// Name returns "kruize".
func (Kruize) Name() string { return "kruize" }

// Decide applies Kruize's rule.
func (k Kruize) Decide(in Input) (Decision, error) {
	if !finite(k.Percentile) || k.Percentile <= 0 || k.Percentile > 100 || k.Interval <= 0 {
		return Decision{}, fmt.Errorf("kruize: percentile %v or interval %v out of range: %w", k.Percentile, k.Interval, gpushape.ErrInvalidInput)
	}
	profiles := k.Profiles
	if profiles == nil {
		profiles = KruizeH100
	}
	complete := int64(in.Now.Sub(in.Origin) / k.Interval) // intervals that ended by Now
	var cores, mems []float64
	cur, coreMax, memMax := int64(-1), 0.0, 0.0
	flush := func() {
		if cur < 0 {
			return
		}
		if coreMax > 0 {
			cores = append(cores, coreMax)
		}
		if memMax > 0 {
			mems = append(mems, memMax)
		}
	}
	for _, s := range in.Samples {
		i := int64(s.Time.Sub(in.Origin) / k.Interval)
		if s.Time.Before(in.Origin) || i >= complete {
			continue
		}
		if i != cur {
			flush()
			cur, coreMax, memMax = i, 0, 0
		}
		if s.HasCompute() {
			coreMax = max(coreMax, float64(s.Compute))
		}
		if s.HasMemory() {
			memMax = max(memMax, float64(s.Memory))
		}
	}
	flush()
	if len(cores) == 0 && len(mems) == 0 {
		return decisionOf(in.Device, in.Current, "kruize: no interval with usage, no recommendation: "+in.Current.String()+" kept")
	}
	coreFrac := min(1, kruizePercentile(k.Percentile, cores))
	memFrac := min(1, kruizePercentile(k.Percentile, mems)/float64(in.Device.MemoryBytes()))
	for _, p := range profiles {
		if p.MemoryFraction >= memFrac && p.SMFraction >= coreFrac {
			return decisionOf(in.Device, gpushape.Allocation{Kind: gpushape.KindMIG, Profile: p.Name},
				fmt.Sprintf("kruize: P%v of %d-interval peaks: core %.3f, memory %.3f of the GPU → %s", k.Percentile, len(cores), coreFrac, memFrac, p.Name))
		}
	}
	return Decision{}, fmt.Errorf("kruize: no profile holds core %.3f and memory %.3f: %w", coreFrac, memFrac, errNoProfile)
}

var errNoProfile = errors.New("no kruize profile fits (the list must end with the whole GPU)")

// kruizePercentile is kruize/autotune CommonUtils.percentile: sort, then
// the element at round(p/100 × (n−1)) (Java's Math.round, half up). 0 for
// no values (Kruize's default when a metric has no interval).
func kruizePercentile(p float64, xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(math.Floor(p/100*float64(len(s)-1)+0.5))]
}

// finite reports whether v is a finite number.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
