package gpushape

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/rightsizer/rightsizer/internal/bitnames"

	"github.com/rightsizer/rightsizer/gpu/mig"
	"github.com/rightsizer/rightsizer/recommender"
)

// HoursPerMonth is the month the monthly figures use: 730 h, a year over
// twelve, the convention of cloud price lists (and recommender.Prices).
const HoursPerMonth = 730

// Kind is how a workload holds GPU capacity.
type Kind uint8

// The kinds. The zero value is KindWhole, so Allocation{Count: 1} is one
// whole GPU.
const (
	// KindWhole is Count whole GPUs (nvidia.com/gpu: Count), MIG off.
	KindWhole Kind = iota
	// KindMIG is one MIG GPU instance of Profile (nvidia.com/mig-<profile>
	// with the device plugin's mixed strategy): memory, cache, bandwidth
	// and faults isolated in hardware.
	KindMIG
	// KindTimeSlice is one of Replicas time-sliced replicas of a GPU (the
	// device plugin's sharing.timeSlicing): no memory or fault isolation,
	// every replica may use the whole GPU's memory and, while the others
	// are idle, all of its compute.
	KindTimeSlice
	// KindMPS is one of Replicas MPS clients of a GPU (the device plugin's
	// sharing.mps, Volta and newer): the MPS control daemon limits each
	// client to 1/Replicas of the memory (pinned device memory limit) and of
	// the threads (active thread percentage). Faults are not isolated.
	KindMPS
	numKinds = iota
)

var kindNames = [numKinds]string{"whole", "mig", "time-slicing", "mps"}

// String returns the kind's name: "whole", "mig", "time-slicing" or "mps".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// MarshalText writes the kind's name.
func (k Kind) MarshalText() ([]byte, error) {
	if int(k) >= len(kindNames) {
		return nil, fmt.Errorf("marshal gpu shape kind: unknown kind %d", uint8(k))
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText reads a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown gpu shape kind %q", b)
}

// Flags mark what a reader of a Shape must know.
type Flags uint8

// The flags.
const (
	// FlagCapped: usage sat within the policy's CapThreshold of the current
	// allocation's memory or compute. Usage seen on a slice cannot exceed
	// the slice, so demand may be higher than seen: the shape is one size
	// up from the current one (whole GPUs are kept, see Recommend).
	FlagCapped Flags = 1 << iota
	// FlagIdle: compute stayed under the policy's idle threshold, with
	// memory at its baseline, for at least IdleMinFraction of at least
	// IdleMinHours; Shape.IdleMonthlyCostUSD is what the current
	// allocation costs meanwhile.
	FlagIdle
	// FlagNoUsage: no GPU usage was observed (Usage.Hours is 0): the
	// current allocation is kept.
	FlagNoUsage
	// FlagUnisolated: the shape shares a GPU without memory isolation
	// (time-slicing): a co-tenant that grows can make this workload fail
	// to allocate memory.
	FlagUnisolated
	numFlags = iota
)

var flagNames = [numFlags]string{"capped", "idle", "no-usage", "unisolated"}

// Has reports whether every flag of g is set in f.
func (f Flags) Has(g Flags) bool { return f&g == g }

// Names returns the names of the set flags, in a fixed order.
func (f Flags) Names() []string { return bitnames.Names(f, flagNames[:]) }

// String joins the names with commas.
func (f Flags) String() string { return strings.Join(f.Names(), ",") }

// MarshalJSON writes the flags as a list of names.
func (f Flags) MarshalJSON() ([]byte, error) { return json.Marshal(f.Names()) }

// UnmarshalJSON reads a list of names.
func (f *Flags) UnmarshalJSON(b []byte) error {
	return bitnames.UnmarshalJSON(b, f, flagNames[:], "gpu shape flag")
}

// Quantile is one point of a busy-time distribution, as the engine
// exports it (recommender.Engine.GPUUsage).
type Quantile = recommender.GPUQuantile

// Usage summarises one container's GPU usage over its history, the way the
// engine keeps it (a sketch of samples and per-window peaks) and the way a
// backtest can compute it from a trace window. All values are for the
// container as a whole (summed over its GPUs) and per replica.
type Usage struct {
	// MemoryMax is the largest GPU memory in use seen, in bytes: the
	// engine's largest per-window peak. Memory is sized from it: running
	// out of GPU memory fails the workload.
	MemoryMax recommender.Bytes `json:"memoryMax"`
	// MemoryPeaks are the largest GPU memory in use in each peak window
	// of the history, in bytes, oldest first, none above MemoryMax: the
	// engine's per-window peaks, or a backtest's per decision interval.
	// The last is the window the current allocation held (it may still
	// be in progress), so it alone decides whether memory is censored.
	// With Policy.MemoryRisk they size memory by risk (see Recommend).
	// Empty means not kept: MemoryMax alone sizes memory.
	MemoryPeaks []recommender.Bytes `json:"memoryPeaks,omitempty"`
	// Compute is GPU busy time, in GPUs, at a few quantiles of the samples,
	// ascending by Q (e.g. P50, P90, P95, P99). On whole GPUs busy time is
	// the duty cycle, at most one per GPU; on a MIG instance it is the
	// instance's busy fraction times its share of the GPU's SMs (package
	// gpu's convention), so a fully busy H100 1g.10gb reads 16/132 GPUs.
	// Duty cycle counts a kernel on few SMs as the whole GPU busy, so it
	// overstates the SMs a workload needs: sizing from it errs large.
	// Empty means compute was not measured: only memory sizes the shape.
	Compute []Quantile `json:"compute,omitempty"`
	// ComputeMax is the largest busy time seen, in GPUs; 0 means unknown.
	// Percentiles above the highest Quantile interpolate towards it.
	ComputeMax recommender.GPUCompute `json:"computeMax,omitempty"`
	// Hours is how long the container was observed, in hours. 0 means
	// never: the current allocation is kept and flagged FlagNoUsage.
	Hours float64 `json:"hours"`
	// IdleFraction is the fraction of Hours (0–1) in which the container
	// was idle: each sample counted as Policy.IdleSample says (compute
	// under the policy's IdleUtilization of the allocation, memory within
	// IdleMemorySlack of its baseline).
	IdleFraction float64 `json:"idleFraction"`
}

// Allocation is the GPU capacity a container holds today, or the one a
// Shape recommends (Shape.Allocation).
type Allocation struct {
	// Kind says which of the fields below apply; the others are ignored.
	Kind Kind `json:"kind"`
	// Count is the number of whole GPUs (KindWhole), at least 1.
	Count int `json:"count,omitempty"`
	// Profile is the MIG profile's name as the device plugin advertises it
	// (KindMIG), e.g. "1g.10gb"; it must be one of the device model's.
	Profile string `json:"profile,omitempty"`
	// Replicas is the device plugin's replicas for the GPU (KindTimeSlice,
	// KindMPS): the container holds one of them, at least 1.
	Replicas int `json:"replicas,omitempty"`
}

// String formats the allocation: "2 × GPU", "mig 1g.10gb", "mps 1/4".
func (a Allocation) String() string {
	switch a.Kind {
	case KindWhole:
		return fmt.Sprintf("%d × GPU", a.Count)
	case KindMIG:
		return "mig " + a.Profile
	case KindTimeSlice, KindMPS:
		return fmt.Sprintf("%s 1/%d", a.Kind, a.Replicas)
	}
	return a.Kind.String()
}

// Device is the GPU a container's allocation lives on.
type Device struct {
	// Model is the GPU's MIG geometry from package gpu/mig (mig.Lookup,
	// mig.Models). A model without Profiles supports no MIG (T4, A10G, L4,
	// L40S): construct it with just a Name.
	Model mig.Model `json:"model"`
	// Memory is one GPU's memory with MIG off, in bytes (e.g. the
	// catalog's GPU memory). 0 means derive it: the model's full-GPU MIG
	// profile's memory, else MemoryGB × 10⁹ bytes.
	Memory recommender.Bytes `json:"memory"`
	// PricePerHour is one GPU's price in USD per hour (the catalog's
	// instance price ÷ its GPUs). 0 gives zero costs and savings.
	PricePerHour float64 `json:"pricePerHour"`
}

// Input is everything Recommend needs about one container.
type Input struct {
	Usage   Usage      `json:"usage"`
	Current Allocation `json:"current"`
	Device  Device     `json:"device"`
}

// Shape is the GPU capacity recommended for one container (per replica).
type Shape struct {
	// Kind, Count, Profile and Replicas are the recommended allocation,
	// as in Allocation. Count is 1 for every kind but KindWhole.
	Kind     Kind   `json:"kind"`
	Count    int    `json:"count"`
	Profile  string `json:"profile,omitempty"`
	Replicas int    `json:"replicas,omitempty"`
	// Share is the fraction of one GPU the shape reserves, 1/Replicas for
	// time-slicing and MPS; 0 for the other kinds (see GPUs).
	Share float64 `json:"share,omitempty"`
	// MemoryBytes is the GPU memory the shape gives the container: the GPUs'
	// memory, the MIG instance's, or 1/Replicas of the GPU's (for MPS
	// enforced; for time-slicing a budget that co-tenants must respect). It
	// is at least NeedMemoryBytes, unless the requirement outgrows every
	// GPU the workload runs on today: then the shape is those whole GPUs
	// (Recommend never adds GPUs), and at least the observed peak.
	MemoryBytes recommender.Bytes `json:"memoryBytes"`
	// ComputeGPUs is the compute the shape gives, in GPUs: whole GPUs
	// count 1 each, a MIG instance its SMs over the GPU's, a share
	// 1/Replicas (a time-sliced replica may get more while others idle).
	// At least NeedComputeGPUs, with the same exception as MemoryBytes.
	ComputeGPUs recommender.GPUCompute `json:"computeGPUs"`
	// GPUs is the GPU capacity the shape reserves, in whole GPUs: the cost
	// basis. Whole GPUs count 1 each, a share 1/Replicas, and a MIG
	// instance the larger of its memory and compute slice fractions
	// (a 1g.10gb blocks 1/7 of the compute, 3g.40gb half the memory).
	GPUs float64 `json:"gpus"`
	// CurrentGPUs is the same for the current allocation.
	CurrentGPUs float64 `json:"currentGPUs"`
	// NeedMemoryBytes and NeedComputeGPUs are the requirements the shape
	// was chosen for: the memory peak plus headroom, or the memory the
	// policy's risk allows (raised past the current cap plus headroom
	// when capped), and the policy's compute percentile plus headroom.
	NeedMemoryBytes recommender.Bytes      `json:"needMemoryBytes"`
	NeedComputeGPUs recommender.GPUCompute `json:"needComputeGPUs"`
	// MemoryRisk is, when Usage.MemoryPeaks are known, the chance (0–1)
	// that a peak window's memory peak exceeds MemoryBytes, by the fit
	// of the peaks that Policy.MemoryRisk sizes with (an estimate: see
	// Recommend); 0 when the peaks are not known.
	MemoryRisk float64 `json:"memoryRisk,omitempty"`
	Flags      Flags   `json:"flags"`
	// Reason says in one line why this shape.
	Reason string `json:"reason"`
	// MonthlyCostUSD is what the shape costs a month (GPUs × price ×
	// HoursMonth), per replica, in USD.
	MonthlyCostUSD float64 `json:"monthlyCostUSD"`
	// MonthlySavingUSD is the current allocation's monthly cost minus the
	// shape's, per replica, in USD, rounded to cents; negative when the
	// shape is larger (a capped step up).
	MonthlySavingUSD float64 `json:"monthlySavingUSD"`
	// IdleMonthlyCostUSD is, when FlagIdle is set, what the current
	// allocation costs a month while it sits idle, in USD; else 0.
	IdleMonthlyCostUSD float64 `json:"idleMonthlyCostUSD,omitempty"`
}

// Allocation returns the shape as an allocation, to feed back as the
// current one (a backtest's next window).
func (s Shape) Allocation() Allocation {
	return Allocation{Kind: s.Kind, Count: s.Count, Profile: s.Profile, Replicas: s.Replicas}.canonical()
}

// canonical returns the allocation with the fields its Kind ignores zeroed.
func (a Allocation) canonical() Allocation {
	switch a.Kind {
	case KindWhole:
		return Allocation{Kind: a.Kind, Count: a.Count}
	case KindMIG:
		return Allocation{Kind: a.Kind, Profile: a.Profile}
	case KindTimeSlice, KindMPS:
		return Allocation{Kind: a.Kind, Replicas: a.Replicas}
	}
	return a
}

// ErrInvalidInput reports an Input or Policy that Recommend cannot use
// (negative or non-finite numbers, a profile the model lacks, …).
var ErrInvalidInput = errors.New("invalid gpu shape input")

// finite reports whether v is a finite number.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
