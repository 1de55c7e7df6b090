package backtest

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/replay"
)

// Dataset is a trace ready for replay: its samples in time order on the
// two channels (see Applied), the workloads with their requests as they
// were, and how to score it.
type Dataset struct {
	// Name is "bitbrains" or "genai".
	Name string
	// Workloads hold the requests and limits as provisioned, on the
	// channels. Where the trace has no limit, the memory limit is the
	// request: a VM's memory, or a GPU's, is a hard ceiling.
	Workloads []recommender.Workload
	// Samples in time order; the slice is shared by every run and read only.
	Samples []recommender.Sample
	// Step is the trace's sampling interval; each sample stands for the
	// time since the container's previous one, at most 2 × Step.
	Step time.Duration
	// Interval and Warmup are the defaults of Options for this dataset.
	Interval, Warmup time.Duration
	// HasCompute and HasMemory say which channels the trace has.
	HasCompute, HasMemory bool
	// ComputeIsGPU and MemoryIsGPU say that a channel carries GPU busy time
	// (GPUs ×1000) or GPU memory. GPU memory is costed by the limit, since
	// a GPU, MIG slice or share reserves all of it; RAM by the request.
	ComputeIsGPU, MemoryIsGPU bool
	// ResizableInPlace says that requests can change without a restart
	// (CPU and RAM, by in-place pod resize), so live controllers may react
	// to usage between decision points. GPU shares and MIG slices cannot.
	ResizableInPlace bool
}

// Start and End return the times of the first and last sample.
func (d *Dataset) Start() time.Time { return d.Samples[0].Time }

// End returns the time of the last sample.
func (d *Dataset) End() time.Time { return d.Samples[len(d.Samples)-1].Time }

// LoadDatasets opens a trace folder in one of replay's formats and returns
// its datasets: Bitbrains gives one (CPU and memory); the GenAI trace two,
// "genai" (GPU busy time and GPU memory) and "genai-memfrac" (each pod's
// memory use as a fraction of its limit, on a nominal limit of 1 GiB, so
// that GiB-hours read as limit-hours and an OOM is use above the limit).
func LoadDatasets(dir string) ([]*Dataset, error) {
	src, err := replay.Open(dir, replay.DefaultOptions())
	if err != nil {
		return nil, err
	}
	d, err := fromSource(dir, src)
	if err != nil {
		return nil, err
	}
	out := []*Dataset{d}
	if src.Format() == replay.FormatGenAI {
		if mf := memoryFraction(src); len(mf.Samples) > 0 {
			out = append(out, mf)
		}
	}
	return out, nil
}

// memoryFraction builds the "genai-memfrac" dataset from the memory_util
// series, which replay keeps apart because their absolute limit is unknown.
func memoryFraction(src *replay.Source) *Dataset {
	d := &Dataset{Name: "genai-memfrac", Step: time.Minute, Interval: time.Hour, Warmup: 2 * time.Hour, HasMemory: true, ResizableInPlace: true}
	series := src.MemoryUtil()
	keys := make([]recommender.WorkloadKey, 0, len(series))
	for k := range series {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b recommender.WorkloadKey) int { return cmp.Compare(a.Name, b.Name) })
	for _, k := range keys {
		ck := recommender.ContainerKey{WorkloadKey: k, Container: "main"}
		d.Workloads = append(d.Workloads, recommender.Workload{Key: k, Replicas: 1, Containers: []recommender.ContainerSpec{{
			Name: "main", Requests: recommender.Amounts{Memory: recommender.GiB}, Limits: recommender.Amounts{Memory: recommender.GiB},
		}}})
		for _, p := range series[k] {
			d.Samples = append(d.Samples, recommender.Sample{Key: ck, Time: p.Time, Usage: recommender.Usage{
				Memory: recommender.Bytes(p.Fraction * float64(recommender.GiB)), Has: recommender.ResourceSet(0).With(recommender.ResourceMemory),
			}})
		}
	}
	slices.SortStableFunc(d.Samples, func(a, b recommender.Sample) int { return a.Time.Compare(b.Time) })
	return d
}

// fromSource builds the main dataset of a trace.
func fromSource(dir string, src *replay.Source) (*Dataset, error) {
	if src.Len() == 0 {
		return nil, fmt.Errorf("trace %s has no samples", dir)
	}
	d := &Dataset{Samples: make([]recommender.Sample, 0, src.Len())}
	switch src.Format() {
	case replay.FormatBitbrains:
		d.Name, d.Step = "bitbrains", 5*time.Minute
		d.Interval, d.Warmup = 24*time.Hour, 2*24*time.Hour
		d.HasCompute, d.HasMemory, d.ResizableInPlace = true, true, true
		for s := range src.All() {
			d.Samples = append(d.Samples, s)
		}
		d.Workloads = src.Workloads()
	case replay.FormatGenAI:
		// GPU busy time on the compute channel, in thousandths of a GPU,
		// and GPU memory on the memory channel.
		d.Name, d.Step = "genai", time.Minute
		d.Interval, d.Warmup = time.Hour, 2*time.Hour
		d.HasCompute, d.HasMemory, d.ComputeIsGPU, d.MemoryIsGPU = true, true, true, true
		for s := range src.All() {
			d.Samples = append(d.Samples, gpuOnChannels(s))
		}
		for _, w := range src.Workloads() {
			for i, c := range w.Containers {
				w.Containers[i].Requests = recommender.Amounts{CPU: milliGPUs(c.Requests.GPUCompute), Memory: c.Requests.GPUMemory}
				w.Containers[i].Limits = recommender.Amounts{CPU: milliGPUs(c.Limits.GPUCompute), Memory: c.Limits.GPUMemory}
			}
			d.Workloads = append(d.Workloads, w)
		}
	default:
		return nil, fmt.Errorf("trace %s: format %v has no backtest mapping", dir, src.Format())
	}
	for _, w := range d.Workloads {
		for i, c := range w.Containers {
			if c.Limits.Memory == 0 {
				w.Containers[i].Limits.Memory = c.Requests.Memory
			}
		}
	}
	return d, nil
}

func milliGPUs(g recommender.GPUCompute) recommender.MilliCPU {
	return recommender.MilliCPUFromCores(float64(g))
}

// gpuOnChannels moves a GenAI sample's GPU values onto the channels.
func gpuOnChannels(s recommender.Sample) recommender.Sample {
	u := s.Usage
	var out recommender.Usage
	if u.Has.Has(recommender.ResourceGPUCompute) {
		out.CPU, out.Has = milliGPUs(u.GPUCompute), out.Has.With(recommender.ResourceCPU)
	}
	if u.Has.Has(recommender.ResourceGPUMemory) {
		out.Memory, out.Has = u.GPUMemory, out.Has.With(recommender.ResourceMemory)
	}
	s.Usage = out
	return s
}
