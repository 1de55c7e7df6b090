package gpushape

import (
	"errors"
	"fmt"
	"math"

	"github.com/rightsizer/rightsizer/gpu/mig"
	"github.com/rightsizer/rightsizer/recommender"
)

// maxBytes bounds every byte amount an input may carry (1 PiB, far above
// any GPU), so that headroom arithmetic cannot overflow int64.
const maxBytes = recommender.Bytes(1 << 50)

// Capacity is what an allocation gives a container and what it costs.
type Capacity struct {
	// Memory is the GPU memory usage cannot exceed, in bytes: the GPUs',
	// the MIG instance's, the MPS client's limit, or for time-slicing the
	// whole GPU's (nothing stops one replica taking it all).
	Memory recommender.Bytes
	// Compute is the busy time usage cannot exceed, in GPUs: the GPU
	// count, the MIG instance's SMs over the GPU's, 1/Replicas for MPS
	// (its active thread percentage), 1 for time-slicing (a replica runs
	// alone while the others idle).
	Compute recommender.GPUCompute
	// GPUs is the capacity reserved, in whole GPUs, the cost basis (see
	// Shape.GPUs).
	GPUs float64
}

// MemoryBytes returns the device's memory with MIG off: Memory, or when
// that is 0 the model's full-GPU profile memory, else MemoryGB × 10⁹.
func (d Device) MemoryBytes() recommender.Bytes {
	if d.Memory > 0 {
		return d.Memory
	}
	for _, p := range d.Model.Profiles {
		if p.ComputeSlices == d.Model.ComputeSlices && p.MemorySlices == d.Model.MemorySlices && p.MemoryMiB > 0 {
			return recommender.Bytes(p.MemoryMiB) * recommender.MiB
		}
	}
	return recommender.Bytes(d.Model.MemoryGB) * 1_000_000_000
}

// HasMIG reports whether the device's model has MIG profiles.
func (d Device) HasMIG() bool { return len(d.Model.Profiles) > 0 }

// Capacity returns what the allocation gives on this device. It fails,
// wrapping ErrInvalidInput, for an invalid allocation or device.
func (d Device) Capacity(a Allocation) (Capacity, error) {
	if err := d.validate(); err != nil {
		return Capacity{}, err
	}
	if err := d.validateAllocation(a); err != nil {
		return Capacity{}, err
	}
	return d.capacity(a), nil
}

// capacity is Capacity for a validated device and allocation.
func (d Device) capacity(a Allocation) Capacity {
	mem := d.MemoryBytes()
	switch a.Kind {
	case KindMIG:
		p, _ := d.Model.Profile(a.Profile)
		return Capacity{Memory: d.profileMemory(p), Compute: d.profileCompute(p), GPUs: d.profileGPUs(p)}
	case KindMPS:
		r := float64(a.Replicas)
		return Capacity{Memory: mem / recommender.Bytes(a.Replicas), Compute: recommender.GPUCompute(1 / r), GPUs: 1 / r}
	case KindTimeSlice:
		return Capacity{Memory: mem, Compute: 1, GPUs: 1 / float64(a.Replicas)}
	default:
		n := a.Count
		return Capacity{Memory: mem * recommender.Bytes(n), Compute: recommender.GPUCompute(n), GPUs: float64(n)}
	}
}

// profileMemory is a MIG profile's memory in bytes: as measured, else
// its memory slices' share of the device memory.
func (d Device) profileMemory(p mig.Profile) recommender.Bytes {
	if p.MemoryMiB > 0 {
		return recommender.Bytes(p.MemoryMiB) * recommender.MiB
	}
	return d.MemoryBytes() / recommender.Bytes(d.Model.MemorySlices) * recommender.Bytes(p.MemorySlices)
}

// profileCompute is a MIG profile's compute in GPUs: its measured SMs
// over the GPU's with MIG off (so an A100 7g is 98/108, and an H100
// 1g.20gb 26/132, more than 1g.10gb's 16), else its compute slices' share.
func (d Device) profileCompute(p mig.Profile) recommender.GPUCompute {
	if p.SMs > 0 && d.Model.FullSMs > 0 {
		return recommender.GPUCompute(float64(p.SMs) / float64(d.Model.FullSMs))
	}
	return recommender.GPUCompute(float64(p.ComputeSlices) / float64(d.Model.ComputeSlices))
}

// profileGPUs is what a MIG profile reserves in whole GPUs: the larger of
// its memory and compute slice fractions, since whichever runs out first
// decides how many more instances fit beside it (research/gpu.md §6 D.2).
func (d Device) profileGPUs(p mig.Profile) float64 {
	return math.Max(float64(p.MemorySlices)/float64(d.Model.MemorySlices), float64(p.ComputeSlices)/float64(d.Model.ComputeSlices))
}

func (d Device) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("gpu device %q: "+format+": %w", append(append([]any{d.Model.Name}, args...), ErrInvalidInput)...))
	}
	if d.Memory < 0 || d.Memory > maxBytes {
		bad("memory %d not in [0, %d]", d.Memory, maxBytes)
	}
	if !finite(d.PricePerHour) || d.PricePerHour < 0 {
		bad("price per hour %v negative or not finite", d.PricePerHour)
	}
	if d.HasMIG() && (d.Model.ComputeSlices <= 0 || d.Model.MemorySlices <= 0) {
		bad("mig model with %d compute and %d memory slices", d.Model.ComputeSlices, d.Model.MemorySlices)
	}
	if m := d.MemoryBytes(); m <= 0 || m > maxBytes {
		bad("no memory size (set Memory or a model with MemoryGB)")
	}
	for _, p := range d.Model.Profiles {
		if p.ComputeSlices <= 0 || p.MemorySlices <= 0 || p.MemoryMiB < 0 || p.SMs < 0 ||
			(d.Model.ComputeSlices > 0 && p.ComputeSlices > d.Model.ComputeSlices) ||
			(d.Model.MemorySlices > 0 && p.MemorySlices > d.Model.MemorySlices) ||
			recommender.Bytes(p.MemoryMiB) > maxBytes/recommender.MiB {
			bad("mig profile %q: slices %d/%d, %d MiB, %d SMs", p.Name, p.ComputeSlices, p.MemorySlices, p.MemoryMiB, p.SMs)
		}
	}
	return errors.Join(errs...)
}

func (d Device) validateAllocation(a Allocation) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("gpu allocation %v: "+format+": %w", append(append([]any{a}, args...), ErrInvalidInput)...)
	}
	switch a.Kind {
	case KindWhole:
		if a.Count < 1 || a.Count > 1024 {
			return bad("count %d not in [1, 1024]", a.Count)
		}
	case KindMIG:
		if !d.HasMIG() {
			return bad("model %q has no mig", d.Model.Name)
		}
		if _, ok := d.Model.Profile(a.Profile); !ok {
			return bad("model %q has no mig profile %q", d.Model.Name, a.Profile)
		}
	case KindTimeSlice, KindMPS:
		if a.Replicas < 1 || a.Replicas > 1024 {
			return bad("replicas %d not in [1, 1024]", a.Replicas)
		}
	default:
		return bad("unknown kind")
	}
	return nil
}
