package simulate

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
)

// Archetype names the shape of a container's usage over time. The zero
// value is invalid, so that a model cannot be left unset by accident.
type Archetype uint8

// The archetypes. Each one's model is documented on its generator.
const (
	// ArchetypeSteady is flat demand with small autocorrelated noise: a
	// controller, an exporter, a database at constant load.
	ArchetypeSteady Archetype = iota + 1
	// ArchetypeDiurnal follows a daily traffic curve that peaks at
	// Model.PeakAt on weekdays and less on weekends: a web service.
	ArchetypeDiurnal
	// ArchetypeBursty idles at a low base with random spikes a few minutes
	// long: a webhook dispatcher, an image resizer, an ad-hoc query engine.
	ArchetypeBursty
	// ArchetypeLeaking leaks memory at a steady rate until its memory limit
	// kills it; CPU follows the daily curve when Model.CPUPeak is set.
	ArchetypeLeaking
	// ArchetypeBatch is a job's container: it runs only while its pod does
	// (see WorkloadSpec.Schedule), ramps its CPU to a plateau and grows its
	// memory towards a peak at the end of the run.
	ArchetypeBatch
	// ArchetypeGPUInference is a model server: the daily request curve
	// drives GPU compute, the KV cache grows GPU memory above the model
	// weights, and CPU and memory move modestly with load.
	ArchetypeGPUInference
	numArchetypes
)

// String returns the archetype's name: "steady", "diurnal", "bursty",
// "leaking", "batch" or "gpu-inference".
func (a Archetype) String() string {
	switch a {
	case ArchetypeSteady:
		return "steady"
	case ArchetypeDiurnal:
		return "diurnal"
	case ArchetypeBursty:
		return "bursty"
	case ArchetypeLeaking:
		return "leaking"
	case ArchetypeBatch:
		return "batch"
	case ArchetypeGPUInference:
		return "gpu-inference"
	}
	return "archetype(" + strconv.Itoa(int(a)) + ")"
}

func (a Archetype) valid() bool { return a > 0 && a < numArchetypes }

// Model describes how one container uses resources: an Archetype plus the
// parameters it reads. Fields an archetype does not read are ignored. The
// levels are those of one replica; every replica draws its own noise.
type Model struct {
	Archetype Archetype

	// CPU is the CPU demand at base load, in millicores: the whole level
	// for steady, the night-time trough for diurnal, leaking and
	// gpu-inference, the level between spikes for bursty, the start of a
	// run for batch.
	CPU recommender.MilliCPU
	// CPUPeak is the CPU demand at peak load, in millicores: at the
	// weekday daily peak (diurnal, leaking, gpu-inference), at the top of
	// a spike (bursty), on the plateau of a run (batch). Zero means CPU.
	// Demand above the container's CPU limit is throttled.
	CPUPeak recommender.MilliCPU
	// Memory is the working set at base load of a freshly started process,
	// in bytes. It must be positive.
	Memory recommender.Bytes
	// MemoryPeak is the working set at peak load (or at the end of a batch
	// run), in bytes, before GC sawtooth, leak and noise. Zero means Memory.
	MemoryPeak recommender.Bytes

	// Noise is the standard deviation of the multiplicative noise on CPU
	// and GPU compute, as a fraction of the level (0.1 is ±10 %), in
	// [0, 0.5]. The noise is an AR(1) process with a 10-minute correlation
	// time, not white; memory gets a quarter of it with a 1-hour
	// correlation time.
	Noise float64

	// PeakAt is the time of day (UTC, in [0, 24h)) of the daily peak of
	// diurnal, leaking and gpu-inference load. Zero is midnight.
	PeakAt time.Duration
	// WeekendDip is how much smaller the daily swing above base is on
	// Saturdays and Sundays (UTC), in [0, 1]: 0.4 makes weekend peaks reach
	// 60 % of the weekday swing. Zero means no weekly pattern.
	WeekendDip float64

	// GCFraction is the amplitude of a garbage-collection sawtooth, as a
	// fraction of Memory, in [0, 2]: the heap grows by about this much
	// between collections and drops back at each one. Zero means none.
	GCFraction float64
	// GCInterval is the mean time between collections at mid load; the
	// heap grows faster, and collects more often, at high load. Zero means
	// 10 minutes.
	GCInterval time.Duration

	// LeakPerHour is the memory leaked per hour by each replica of a
	// leaking container, in bytes; each replica leaks within ±15 % of it.
	LeakPerHour recommender.Bytes

	// BurstsPerDay is the mean number of spikes per replica per day of a
	// bursty container (Poisson arrivals). Zero means 8.
	BurstsPerDay float64
	// BurstDuration is the mean length of a spike; each lasts 0.5–1.5× of
	// it, and at least one step. Zero means 5 minutes.
	BurstDuration time.Duration

	// GPUCompute is the GPU busy time at base load, in GPUs (gpu-inference).
	GPUCompute recommender.GPUCompute
	// GPUComputePeak is the GPU busy time at the weekday peak, in GPUs.
	// Zero means GPUCompute.
	GPUComputePeak recommender.GPUCompute
	// GPUWeights is the GPU memory held by the model weights and runtime,
	// in bytes: flat while the container runs.
	GPUWeights recommender.Bytes
	// GPUKVCache is the GPU memory the KV cache adds at peak load, in
	// bytes; it follows load with a 15-minute lag.
	GPUKVCache recommender.Bytes
}

// Defaults of the Model fields whose zero value means "default".
const (
	DefaultGCInterval    = 10 * time.Minute
	DefaultBurstsPerDay  = 8.0
	DefaultBurstDuration = 5 * time.Minute
)

// validate reports every problem of the model of a container with the
// given spec, prefixing each with the container's path.
func (m *Model) validate(path string, spec *recommender.ContainerSpec, sched Schedule) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: model: "+format, append([]any{path}, args...)...))
	}
	if !m.Archetype.valid() {
		bad("unknown archetype %d", int(m.Archetype))
	}
	if m.CPU < 0 {
		bad("cpu %d is negative", m.CPU)
	}
	if m.CPUPeak != 0 && m.CPUPeak < m.CPU {
		bad("cpu peak %d is below cpu %d", m.CPUPeak, m.CPU)
	}
	if m.Memory <= 0 {
		bad("memory %d must be positive", m.Memory)
	}
	if m.MemoryPeak != 0 && m.MemoryPeak < m.Memory {
		bad("memory peak %d is below memory %d", m.MemoryPeak, m.Memory)
	}
	if !(m.Noise >= 0 && m.Noise <= 0.5) {
		bad("noise %v is outside [0, 0.5]", m.Noise)
	}
	if m.PeakAt < 0 || m.PeakAt >= 24*time.Hour {
		bad("peak time %s is outside [0, 24h)", m.PeakAt)
	}
	if !(m.WeekendDip >= 0 && m.WeekendDip <= 1) {
		bad("weekend dip %v is outside [0, 1]", m.WeekendDip)
	}
	if !(m.GCFraction >= 0 && m.GCFraction <= 2) {
		bad("gc fraction %v is outside [0, 2]", m.GCFraction)
	}
	if m.GCInterval < 0 {
		bad("gc interval %s is negative", m.GCInterval)
	}
	if m.LeakPerHour < 0 {
		bad("leak per hour %d is negative", m.LeakPerHour)
	}
	if !(m.BurstsPerDay >= 0 && m.BurstsPerDay <= 24*60) {
		bad("bursts per day %v is outside [0, 1440]", m.BurstsPerDay)
	}
	if m.BurstDuration < 0 {
		bad("burst duration %s is negative", m.BurstDuration)
	}
	if !finite(float64(m.GPUCompute)) || !finite(float64(m.GPUComputePeak)) || m.GPUCompute < 0 || m.GPUComputePeak < 0 {
		bad("gpu compute %v (peak %v) must be finite and non-negative", m.GPUCompute, m.GPUComputePeak)
	} else if m.GPUComputePeak != 0 && m.GPUComputePeak < m.GPUCompute {
		bad("gpu compute peak %v is below gpu compute %v", m.GPUComputePeak, m.GPUCompute)
	}
	if m.GPUWeights < 0 || m.GPUKVCache < 0 {
		bad("gpu weights %d and kv cache %d must not be negative", m.GPUWeights, m.GPUKVCache)
	}
	switch m.Archetype {
	case ArchetypeLeaking:
		if m.LeakPerHour <= 0 {
			bad("leaking needs a positive leak per hour")
		}
		if spec.Limits.Memory <= 0 {
			bad("leaking needs a memory limit")
		}
	case ArchetypeBatch:
		if !sched.scheduled() {
			bad("batch needs a workload schedule")
		}
	case ArchetypeGPUInference:
		if spec.Requests.GPUCompute <= 0 || spec.Requests.GPUMemory <= 0 {
			bad("gpu-inference needs gpu compute and gpu memory requests")
		}
		if m.GPUWeights <= 0 {
			bad("gpu-inference needs positive gpu weights")
		}
	}
	return errs
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
