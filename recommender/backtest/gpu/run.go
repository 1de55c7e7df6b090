package gpu

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rightsizer/rightsizer/gpu/mig"
	"github.com/rightsizer/rightsizer/gpu/migpack"
	"github.com/rightsizer/rightsizer/nodeplan/catalog"
	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/gpushape"
)

// Defaults of Options.
const (
	// DefaultInterval is the time between decision points.
	DefaultInterval = time.Hour
	// DefaultWarmup is the history a pod needs before any policy sizes it.
	DefaultWarmup = time.Hour
)

// H100PCIDeviceID is NVML's PCI device ID of the H100 SXM5 80GB, the GPU
// assumed for the GenAI trace (which names none).
const H100PCIDeviceID = 0x233010DE

// DefaultDevice returns the GPU the backtest assumes: an H100-80GB with
// package gpu/mig's geometry and the embedded AWS us-east-1 catalog's
// memory and price per GPU-hour.
func DefaultDevice() (gpushape.Device, error) {
	m, ok := mig.ForPCIDeviceID(H100PCIDeviceID)
	if !ok {
		return gpushape.Device{}, fmt.Errorf("no mig model for pci device %#x", H100PCIDeviceID)
	}
	g, ok := catalog.AWSUSEast1().GPU(m.Name)
	if !ok {
		return gpushape.Device{}, fmt.Errorf("no %s in the aws us-east-1 catalog", m.Name)
	}
	return gpushape.Device{Model: m, Memory: g.Memory, PricePerHour: g.PricePerHour}, nil
}

// Options configure Run. The zero value means every default.
type Options struct {
	// Interval is the time between decision points, the first at the
	// trace's first sample; 0 means DefaultInterval.
	Interval time.Duration
	// Warmup is the history a pod needs, from its first sample, before a
	// policy decides its shape: until then every policy keeps one whole
	// GPU, the allocation the trace ran on (Decision.Warmup). 0 means
	// DefaultWarmup; negative is invalid.
	Warmup time.Duration
	// Device is every pod's GPU; a zero Device means DefaultDevice.
	Device gpushape.Device
	// Strategy is the device plugin's MIG strategy that layout_gpus packs
	// for; "" means mixed.
	Strategy migpack.Strategy
	// Parallel bounds the policies walked at once; 0 means GOMAXPROCS.
	Parallel int
	// NoReactions turns reactions to overflows off (see OOMReactor), so
	// that every policy acts only at decision points.
	NoReactions bool
}

func (o Options) complete() (Options, error) {
	if o.Interval < 0 || o.Warmup < 0 || o.Parallel < 0 {
		return o, fmt.Errorf("gpu backtest options: interval %v, warm-up %v or parallel %d negative", o.Interval, o.Warmup, o.Parallel)
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Warmup == 0 {
		o.Warmup = DefaultWarmup
	}
	if o.Strategy == "" {
		o.Strategy = migpack.StrategyMixed
	}
	if o.Parallel == 0 {
		o.Parallel = runtime.GOMAXPROCS(0)
	}
	if o.Device.Model.Name == "" && o.Device.Memory == 0 {
		d, err := DefaultDevice()
		if err != nil {
			return o, err
		}
		o.Device = d
	}
	return o, nil
}

// Result is a backtest of every policy on one trace.
type Result struct {
	Trace string `json:"trace"`
	// Device is the GPU model assumed, PricePerHour its price per GPU-hour
	// in USD, DeviceMemory its memory in bytes.
	Device       string            `json:"device"`
	DeviceMemory recommender.Bytes `json:"device_memory_bytes"`
	PricePerHour float64           `json:"price_per_gpu_hour"`
	// Pods is the number of pods scored; Hours the trace's span, first to
	// last sample; PodHours the time the pods' samples stand for, of which
	// WarmupPodHours under the warm-up's whole GPU (for every policy).
	Pods           int     `json:"pods"`
	Hours          float64 `json:"hours"`
	PodHours       float64 `json:"pod_hours"`
	WarmupPodHours float64 `json:"warmup_pod_hours"`
	// Windows is the number of decision points.
	Windows  int           `json:"windows"`
	Interval time.Duration `json:"interval_ns"`
	Warmup   time.Duration `json:"warmup_ns"`
	Step     time.Duration `json:"step_ns"`
	Scores   []Score       `json:"scores"`
}

// Score is how one policy did. Time integrals weigh each sample by the time
// it stands for (Trace.Step), from the first decision point on, warm-up
// windows included.
type Score struct {
	Policy string `json:"policy"`
	// GPUEquivalents is the GPU capacity reserved, in whole GPUs: each
	// pod's Decision.GPUs averaged over the time it ran, summed over pods.
	// One whole GPU per pod (whole-gpu) makes it the number of pods.
	GPUEquivalents float64 `json:"gpu_equivalents"`
	// GPUHours integrates Decision.GPUs over each pod's time: GPU-hours
	// reserved; CostUSD is that at the device's price.
	GPUHours float64 `json:"gpu_hours"`
	CostUSD  float64 `json:"cost_usd"`
	// ConcurrentGPUs is, per window, Decision.GPUs summed over the pods
	// running in it, averaged over windows (weighted by their length): the
	// unpacked counterpart of LayoutGPUs.
	ConcurrentGPUs float64 `json:"concurrent_gpus"`
	// LayoutGPUs is, per window, the GPUs the pods running in it need once
	// their shapes are packed onto GPUs (MIG profiles by package
	// gpu/migpack, whole GPUs one each, shares by replicas), averaged over
	// windows (weighted by their length); LayoutPeakGPUs the largest. A
	// pod reshaped within a window counts the shape it ends with (as in
	// ConcurrentGPUs): the GPUs must hold it by then.
	LayoutGPUs     float64 `json:"layout_gpus"`
	LayoutPeakGPUs int     `json:"layout_peak_gpus"`
	// MemGiBHours integrates Decision.Memory over each pod's time, in
	// GiB-hours: the GPU memory the shapes reserve.
	MemGiBHours float64 `json:"mem_gib_hours"`
	// MemOverflowEvents counts samples whose GPU memory exceeds the
	// shape's memory: each is a moment the workload would have failed to
	// allocate (CUDA out of memory). Counted per sample, for every policy.
	MemOverflowEvents int `json:"mem_overflow_events"`
	// MemOverflowPodHours counts the (pod, window) pairs with at least
	// one overflow: decisions that failed; MemOverflowPods the pods.
	MemOverflowPodHours int `json:"mem_overflow_pod_hours"`
	MemOverflowPods     int `json:"mem_overflow_pods"`
	// Reactions counts the reshapes within a window after an overflow
	// (OOMReactor): each is a pod restarted on a larger shape.
	Reactions int `json:"reactions"`
	// Reshapes counts the decisions at a window's start that change the
	// pod's allocation (a MIG profile, GPU count or share changes only
	// with a restart): with Reactions, the restarts the policy causes.
	Reshapes int `json:"reshapes"`
	// ShapePodHours is the pod-hours spent in each allocation
	// (gpushape.Allocation.String), warm-up ones under "warm-up".
	ShapePodHours map[string]float64 `json:"shape_pod_hours"`

	// PodScores and Layouts hold the detail, for tests and plots.
	PodScores []PodScore `json:"-"`
	Layouts   []Layout   `json:"-"`
}

// PodScore is one pod's part of a Score.
type PodScore struct {
	Pod string
	// Hours is the time the pod's scored samples stand for.
	Hours, GPUEquivalents, GPUHours, MemGiBHours float64
	MemOverflowEvents                            int
	Windows                                      []WindowScore
}

// WindowScore is one pod's decision for one window and how it fared.
type WindowScore struct {
	Start    time.Time
	Decision Decision
	// Reactions are the reshapes after an overflow within the window
	// (OOMReactor), in time order: each holds from the sample after At.
	Reactions []Reaction
	// Samples in the window, the time they stand for, the largest memory
	// sample in bytes, and how many exceeded Decision.Memory.
	Samples   int
	Observed  time.Duration
	MaxMemory recommender.Bytes
	Overflows int
}

// Reaction is a reshape within a window: the sample at At overflowed the
// shape in force, and Decision holds from the next sample on.
type Reaction struct {
	At       time.Time
	Decision Decision
}

// Final returns the decision in force at the window's end: the last
// reaction's, else the window's.
func (w WindowScore) Final() Decision {
	if n := len(w.Reactions); n > 0 {
		return w.Reactions[n-1].Decision
	}
	return w.Decision
}

// Layout is one window's packing.
type Layout struct {
	Start time.Time
	// Weight is the window's length: the longest time any pod's samples
	// in it stand for.
	Weight time.Duration
	// Pods running in the window; Reserved the sum of their
	// Decision.GPUs; GPUs the GPUs their shapes pack onto.
	Pods     int
	Reserved float64
	GPUs     int
}

// walkPod is a pod's precomputed walk: durations, and per window the
// first sample index at or after its start (bounds[k] to bounds[k+1]).
type walkPod struct {
	Pod
	durs   []time.Duration
	bounds []int
}

// Run walks each policy forward over the trace: at every decision point
// (every Interval from the first sample), for each pod with samples in the
// next window, it asks the policy for a shape from the pod's samples so
// far (only the past) and its current allocation (the previous decision),
// then scores the window's samples against it; an OOMReactor is asked
// again at each overflow (see OOMReactor). While a pod's history is
// shorter than Warmup every policy keeps one whole GPU. After all pods, it
// packs each window's shapes to count the GPUs they need. Policies run in
// parallel (at most Options.Parallel), each in one goroutine; the trace is
// shared read only. Run returns the scores in the order of policies, or
// the first error (ctx's included).
func Run(ctx context.Context, tr Trace, policies []Policy, opts Options) (Result, error) {
	if err := tr.Validate(); err != nil {
		return Result{}, err
	}
	opts, err := opts.complete()
	if err != nil {
		return Result{}, err
	}
	if _, err := opts.Device.Capacity(oneGPU); err != nil {
		return Result{}, fmt.Errorf("gpu backtest device: %w", err)
	}
	names := map[string]bool{}
	for _, p := range policies {
		if names[p.Name()] {
			return Result{}, fmt.Errorf("gpu backtest: policy %q given twice", p.Name())
		}
		names[p.Name()] = true
	}
	start, end, step := tr.Start(), tr.End(), tr.step()
	var grid []time.Time
	for t := start; !t.After(end); t = t.Add(opts.Interval) {
		grid = append(grid, t)
	}
	pods := make([]walkPod, len(tr.Pods))
	weights := make([]time.Duration, len(grid))
	res := Result{
		Trace: tr.Name, Device: opts.Device.Model.Name, DeviceMemory: opts.Device.MemoryBytes(),
		PricePerHour: opts.Device.PricePerHour, Pods: len(tr.Pods), Hours: end.Sub(start).Hours(),
		Windows: len(grid), Interval: opts.Interval, Warmup: opts.Warmup, Step: step,
	}
	for i, p := range tr.Pods {
		w := walkPod{Pod: p, durs: durations(p, step), bounds: make([]int, len(grid)+1)}
		for k, t := range grid {
			w.bounds[k] = sort.Search(len(p.Samples), func(j int) bool { return !p.Samples[j].Time.Before(t) })
		}
		w.bounds[len(grid)] = len(p.Samples)
		for k := range grid {
			var obs time.Duration
			for j := w.bounds[k]; j < w.bounds[k+1]; j++ {
				obs += w.durs[j]
				if grid[k].Sub(p.Samples[0].Time) < opts.Warmup {
					res.WarmupPodHours += w.durs[j].Hours()
				}
			}
			res.PodHours += obs.Hours()
			weights[k] = max(weights[k], obs)
		}
		pods[i] = w
	}

	res.Scores = make([]Score, len(policies))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Parallel)
	for i, pol := range policies {
		g.Go(func() error {
			s, err := walk(ctx, pol, pods, grid, weights, opts)
			if err != nil {
				return fmt.Errorf("gpu backtest %s: %w", pol.Name(), err)
			}
			res.Scores[i] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	return res, nil
}

// walk replays one policy over every pod, then packs each window. It runs
// in one goroutine and writes only its own Score.
func walk(ctx context.Context, pol Policy, pods []walkPod, grid []time.Time, weights []time.Duration, opts Options) (Score, error) {
	origin := grid[0]
	s := Score{Policy: pol.Name(), ShapePodHours: map[string]float64{}}
	warm, err := decisionOf(opts.Device, oneGPU, "warm-up: history shorter than "+opts.Warmup.String()+", one GPU kept")
	if err != nil {
		return Score{}, err
	}
	warm.Warmup = true
	r, ok := pol.(OOMReactor)
	reacts := ok && r.ReactsToOOM() && !opts.NoReactions
	// Per window, the pods running and their allocations, for the layout.
	winPods := make([][]string, len(grid))
	winAllocs := make([][]gpushape.Allocation, len(grid))
	winReserved := make([]float64, len(grid))
	for _, p := range pods {
		if err := ctx.Err(); err != nil {
			return Score{}, err
		}
		ps := PodScore{Pod: p.Name}
		cur := oneGPU
		for k, t := range grid {
			lo, hi := p.bounds[k], p.bounds[k+1]
			if lo == hi {
				continue // not running in this window: it keeps its allocation
			}
			d := warm
			if t.Sub(p.Samples[0].Time) >= opts.Warmup {
				in := Input{Pod: p.Name, Now: t, Origin: origin, Samples: p.Samples[:lo], Durations: p.durs[:lo], Current: cur, Device: opts.Device}
				if d, err = decide(pol, in, ""); err != nil {
					return Score{}, err
				}
			}
			if d.Allocation != cur {
				s.Reshapes++
			}
			ws := WindowScore{Start: t, Decision: d, Samples: hi - lo}
			now := d // the decision in force
			for j := lo; j < hi; j++ {
				x := p.Samples[j]
				h := p.durs[j].Hours()
				ws.Observed += p.durs[j]
				ps.GPUHours += now.GPUs * h
				ps.MemGiBHours += float64(now.Memory) / float64(recommender.GiB) * h
				s.ShapePodHours[shapeKey(now)] += h
				if !x.HasMemory() {
					continue
				}
				ws.MaxMemory = max(ws.MaxMemory, x.Memory)
				if x.Memory <= now.Memory {
					continue
				}
				ws.Overflows++
				if !reacts || now.Warmup {
					continue
				}
				// The pod fails to allocate: its usage shows at the cap of
				// its shape, and the controller restarts it on another.
				seen := x
				seen.Memory = now.Memory
				in := Input{
					Pod: p.Name, Now: x.Time, Origin: origin, Samples: append(p.Samples[:j:j], seen), Durations: p.durs[:j+1],
					Current: now.Allocation, Device: opts.Device, Overflow: true,
				}
				if now, err = decide(pol, in, ", after an overflow"); err != nil {
					return Score{}, err
				}
				ws.Reactions = append(ws.Reactions, Reaction{At: x.Time, Decision: now})
				s.Reactions++
			}
			ps.Hours += ws.Observed.Hours()
			ps.MemOverflowEvents += ws.Overflows
			if ws.Overflows > 0 {
				s.MemOverflowPodHours++
			}
			ps.Windows = append(ps.Windows, ws)
			// The window's layout holds the shape it ends with: a
			// reaction only grows it.
			winPods[k] = append(winPods[k], p.Name)
			winAllocs[k] = append(winAllocs[k], now.Allocation)
			winReserved[k] += now.GPUs
			cur = now.Allocation
		}
		if ps.Hours > 0 {
			ps.GPUEquivalents = ps.GPUHours / ps.Hours
		}
		s.GPUEquivalents += ps.GPUEquivalents
		s.GPUHours += ps.GPUHours
		s.MemGiBHours += ps.MemGiBHours
		s.MemOverflowEvents += ps.MemOverflowEvents
		if ps.MemOverflowEvents > 0 {
			s.MemOverflowPods++
		}
		s.PodScores = append(s.PodScores, ps)
	}
	s.CostUSD = s.GPUHours * opts.Device.PricePerHour

	pk := migPacker{strategy: opts.Strategy}
	var total time.Duration
	for k, t := range grid {
		if err := ctx.Err(); err != nil {
			return Score{}, err
		}
		n, err := layoutGPUs(pk, opts.Device.Model, winPods[k], winAllocs[k])
		if err != nil {
			return Score{}, fmt.Errorf("layout at %v: %w", t, err)
		}
		l := Layout{Start: t, Weight: weights[k], Pods: len(winPods[k]), Reserved: winReserved[k], GPUs: n}
		s.Layouts = append(s.Layouts, l)
		w := l.Weight.Hours()
		total += l.Weight
		s.LayoutGPUs += float64(n) * w
		s.ConcurrentGPUs += l.Reserved * w
		s.LayoutPeakGPUs = max(s.LayoutPeakGPUs, n)
	}
	if total > 0 {
		s.LayoutGPUs /= total.Hours()
		s.ConcurrentGPUs /= total.Hours()
	}
	return s, nil
}

// shapeKey is the key of Score.ShapePodHours that d counts under.
func shapeKey(d Decision) string {
	if d.Warmup {
		return "warm-up"
	}
	return d.Allocation.String()
}

// decide asks pol for in's decision and checks it can be scored; errors
// name the pod and time, and what (", after an overflow").
func decide(pol Policy, in Input, what string) (Decision, error) {
	d, err := pol.Decide(in)
	if err == nil {
		err = checkDecision(in.Device, d)
	}
	if err != nil {
		return Decision{}, fmt.Errorf("pod %s at %v%s: %w", in.Pod, in.Now, what, err)
	}
	return d, nil
}

// errBadDecision reports a decision Run cannot score.
var errBadDecision = errors.New("invalid gpu decision")

// checkDecision rejects a decision with an allocation the device lacks or
// capacity that is negative or not finite.
func checkDecision(d gpushape.Device, dec Decision) error {
	if _, err := d.Capacity(dec.Allocation); err != nil {
		return fmt.Errorf("%w: %w", errBadDecision, err)
	}
	if !finite(dec.GPUs) || dec.GPUs < 0 || dec.Memory <= 0 {
		return fmt.Errorf("%w: %v reserves %v GPUs and %d bytes", errBadDecision, dec.Allocation, dec.GPUs, dec.Memory)
	}
	return nil
}

// Policies returns the policies `make eval-gpu` compares, in order: the
// whole-gpu and kruize baselines, then rightsizer's cost, balanced and
// performance profiles (gpushape.DefaultPolicies).
func Policies() []Policy {
	ps := []Policy{WholeGPU{}, NewKruize()}
	for _, p := range gpushape.DefaultPolicies() {
		ps = append(ps, Rightsizer{Policy: p})
	}
	return ps
}

// Score returns the named policy's score.
func (r Result) Score(policy string) (Score, bool) {
	i := slices.IndexFunc(r.Scores, func(s Score) bool { return s.Policy == policy })
	if i < 0 {
		return Score{}, false
	}
	return r.Scores[i], true
}
