package gpu

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/replay"
)

// Sample is one observation of a pod's GPU, measured on the whole GPU the
// pod held in the trace (so never censored by a shape Run tries).
type Sample struct {
	Time time.Time
	// Compute is GPU busy time in GPUs: the duty cycle (0–100 %) over 100,
	// one GPU per pod. Valid when Has holds recommender.ResourceGPUCompute.
	Compute recommender.GPUCompute
	// Memory is GPU memory in use, in bytes. Valid when Has holds
	// recommender.ResourceGPUMemory.
	Memory recommender.Bytes
	Has    recommender.ResourceSet
}

// HasCompute reports whether the sample measured GPU busy time.
func (s Sample) HasCompute() bool { return s.Has.Has(recommender.ResourceGPUCompute) }

// HasMemory reports whether the sample measured GPU memory.
func (s Sample) HasMemory() bool { return s.Has.Has(recommender.ResourceGPUMemory) }

// Pod is one pod's samples, in strictly ascending time.
type Pod struct {
	Name    string
	Samples []Sample
}

// Trace is a set of pods to walk forward. It is read only once built:
// Run and the policies share its slices between goroutines.
type Trace struct {
	// Name names the trace in results, e.g. "alibaba-genai-2026".
	Name string
	// Pods, sorted by name, each with at least one sample.
	Pods []Pod
	// Step is the trace's sampling interval: each sample stands for the
	// time since its pod's previous sample, at most 2 × Step (a longer gap
	// is a gap in the data, not usage), and a pod's first sample for one
	// Step. 0 means derive it: the median gap between a pod's samples.
	Step time.Duration
}

// Load opens a GenAI trace folder (replay.FormatGenAI: the duty-cycle and
// GPU-memory files) and returns its pods.
func Load(dir string) (Trace, error) {
	src, err := replay.Open(dir, replay.DefaultOptions())
	if err != nil {
		return Trace{}, err
	}
	return FromSource(dir, src)
}

// FromSource converts a replay source of the GenAI format into a Trace:
// one pod per workload, its GPU busy time and GPU memory as replay reads
// them (busy % / 100 and bytes, joined on the pod and the timestamp).
func FromSource(name string, src *replay.Source) (Trace, error) {
	if src.Format() != replay.FormatGenAI {
		return Trace{}, fmt.Errorf("gpu backtest of %s: format %v has no GPU usage, want genai", name, src.Format())
	}
	byPod := map[string][]Sample{}
	for s := range src.All() {
		u := s.Usage
		var g Sample
		g.Time = s.Time
		if u.Has.Has(recommender.ResourceGPUCompute) {
			g.Compute, g.Has = u.GPUCompute, g.Has.With(recommender.ResourceGPUCompute)
		}
		if u.Has.Has(recommender.ResourceGPUMemory) {
			g.Memory, g.Has = u.GPUMemory, g.Has.With(recommender.ResourceGPUMemory)
		}
		if g.Has == 0 {
			continue
		}
		byPod[s.Key.Name] = append(byPod[s.Key.Name], g)
	}
	t := Trace{Name: name}
	for n, ss := range byPod {
		t.Pods = append(t.Pods, Pod{Name: n, Samples: ss})
	}
	slices.SortFunc(t.Pods, func(a, b Pod) int { return cmp.Compare(a.Name, b.Name) })
	return t, t.Validate()
}

// Validate reports every problem of the trace: no pods, an unnamed or
// repeated pod, a pod without samples or with samples out of order, a
// negative or non-finite value, a negative Step.
func (t Trace) Validate() error {
	var errs []error
	if len(t.Pods) == 0 {
		errs = append(errs, errors.New("trace has no pods"))
	}
	if t.Step < 0 {
		errs = append(errs, fmt.Errorf("trace step %v is negative", t.Step))
	}
	seen := map[string]bool{}
	for _, p := range t.Pods {
		if p.Name == "" || seen[p.Name] {
			errs = append(errs, fmt.Errorf("pod name %q empty or repeated", p.Name))
		}
		seen[p.Name] = true
		if len(p.Samples) == 0 {
			errs = append(errs, fmt.Errorf("pod %s has no samples", p.Name))
		}
		for i, s := range p.Samples {
			switch {
			case i > 0 && !s.Time.After(p.Samples[i-1].Time):
				errs = append(errs, fmt.Errorf("pod %s: sample %d at %v not after %v", p.Name, i, s.Time, p.Samples[i-1].Time))
			case s.Memory < 0 || s.Compute < 0 || !finite(float64(s.Compute)):
				errs = append(errs, fmt.Errorf("pod %s: sample %d: negative or non-finite usage", p.Name, i))
			}
		}
	}
	return errors.Join(errs...)
}

// Split returns the k-th of n interleaved parts of the trace (0 ≤ k < n):
// the pods whose index in name order is k modulo n, sharing t's samples,
// with t's step (so that each sample weighs what it weighs in t).
// Split(0, 2) and Split(1, 2) are the even and odd halves: one to choose
// a policy's settings on, the other to check them on. An empty trace
// when k is not in [0, n).
func (t Trace) Split(k, n int) Trace {
	out := Trace{Name: t.Name, Step: t.step()}
	if n <= 0 || k < 0 || k >= n {
		return out
	}
	for i := k; i < len(t.Pods); i += n {
		out.Pods = append(out.Pods, t.Pods[i])
	}
	return out
}

// Start returns the time of the trace's first sample.
func (t Trace) Start() time.Time {
	var s time.Time
	for i, p := range t.Pods {
		if f := p.Samples[0].Time; i == 0 || f.Before(s) {
			s = f
		}
	}
	return s
}

// End returns the time of the trace's last sample.
func (t Trace) End() time.Time {
	var e time.Time
	for i, p := range t.Pods {
		if l := p.Samples[len(p.Samples)-1].Time; i == 0 || l.After(e) {
			e = l
		}
	}
	return e
}

// step returns Step, or the median gap between consecutive samples of a
// pod over the whole trace (1 minute when no pod has two samples).
func (t Trace) step() time.Duration {
	if t.Step > 0 {
		return t.Step
	}
	var gaps []time.Duration
	for _, p := range t.Pods {
		for i := 1; i < len(p.Samples); i++ {
			gaps = append(gaps, p.Samples[i].Time.Sub(p.Samples[i-1].Time))
		}
	}
	if len(gaps) == 0 {
		return time.Minute
	}
	slices.Sort(gaps)
	return gaps[len(gaps)/2]
}

// durations returns how long each sample of p stands for: the time since
// the previous sample, at most 2 × step; one step for the first.
func durations(p Pod, step time.Duration) []time.Duration {
	d := make([]time.Duration, len(p.Samples))
	for i := range p.Samples {
		if i == 0 {
			d[i] = step
			continue
		}
		d[i] = min(p.Samples[i].Time.Sub(p.Samples[i-1].Time), 2*step)
	}
	return d
}
