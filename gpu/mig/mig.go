// Package mig holds rightsizer's own MIG geometry tables: for each GPU
// model, the GPU-instance profiles NVIDIA supports, with their memory and
// compute slices, measured memory and SM counts, maximum counts and allowed
// placements, and functions that validate placements and layouts against
// them.
//
// The tables are ours on purpose. go-nvml's mock servers claim H100, H200
// and B200 geometries that real hardware does not have (wrong SM counts,
// 1-slice placements for the 2-memory-slice 1g profile, 3-slice placements
// for 3g), and their profile IDs are NVML's profile *indices*, not the IDs
// nvidia-smi prints; mock_test.go pins those differences. The numbers here
// come from NVIDIA's MIG User Guide ("Supported MIG Profiles") and real
// `nvidia-smi mig -lgip` / `-lgipp` transcripts, as collected in
// research/gpu.md §3.2 and §3.3. On a live node, NVML's own answers
// (GetGpuInstanceProfileInfo, GetGpuInstancePossiblePlacements) win over
// these tables; the tables are for planning away from the hardware and for
// checking what the agent reports.
//
// Everything here is pure Go: no cgo and no NVML, so the planner and the
// server can import it with CGO_ENABLED=0. The tables are immutable; every
// function that returns a Model returns a deep copy, and all functions are
// safe for concurrent use.
package mig

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Slices of a 7-compute/8-memory-slice GPU (A100, H100, H200, B200): a
// memory slice is about 1/8 of the memory and its bandwidth, a compute
// slice about 1/7 of the SMs. Placements are on the memory axis.
const (
	ComputeSlices7 = 7
	MemorySlices8  = 8
)

// Placement is where a GPU instance sits on the memory-slice axis, as
// `nvidia-smi mig -lgipp` prints it ({Start}:Size) and NVML's
// GpuInstancePlacement holds it.
type Placement struct {
	Start int // first memory slice, 0-based
	Size  int // memory slices occupied
}

// Mask returns the placement as a bit mask, bit i for memory slice i.
// Placements beyond 8 slices (which no model has) are cut at bit 7.
func (p Placement) Mask() uint8 {
	var m uint8
	for i := p.Start; i < p.Start+p.Size && i < 8; i++ {
		if i >= 0 {
			m |= 1 << i
		}
	}
	return m
}

// String formats the placement as nvidia-smi does ("4:4").
func (p Placement) String() string { return strconv.Itoa(p.Start) + ":" + strconv.Itoa(p.Size) }

// Profile is one GPU-instance profile of a model (a GPU instance with one
// compute instance covering it, the only kind the device plugin advertises).
type Profile struct {
	// Name is the profile as nvidia-smi and the device plugin name it,
	// e.g. "1g.10gb" or "1g.10gb+me".
	Name string
	// ID is NVML's GPU-instance profile ID as nvidia-smi prints it
	// (19, 20, 15, 14, 9, 5, 0): the GpuInstanceProfileInfo.Id and
	// GpuInstanceInfo.ProfileId of real hardware. It is not the
	// GPU_INSTANCE_PROFILE_* index passed to GetGpuInstanceProfileInfo.
	ID int
	// ComputeSlices is the number of SM slices (the "g" of the name).
	ComputeSlices int
	// MemorySlices is the number of memory slices occupied; it equals the
	// size of every placement.
	MemorySlices int
	// MemoryMiB is the instance's memory as nvidia-smi -lgip measures it,
	// in MiB, at the low end of the range seen across drivers (so that a
	// fit against it is conservative). 0 means not measured: estimate it
	// as MemorySlices/8 of the device memory.
	MemoryMiB int64
	// SMs is the instance's streaming-multiprocessor count as measured;
	// 0 means not measured.
	SMs int
	// MaxCount is the most instances of this profile one GPU can hold.
	MaxCount int
	// MediaExtensions marks the "+me" variant, which owns the GPU's
	// media engines (NVDEC, NVJPG, OFA); at most one exists per GPU.
	MediaExtensions bool
	// Placements lists the allowed placements, by ascending start.
	Placements []Placement
}

// Model is one GPU model's MIG geometry.
type Model struct {
	// Name is our key for the model, e.g. "H100-80GB".
	Name string
	// PCIDeviceIDs are the NVML PciInfo.PciDeviceId values (device ID in
	// the high 16 bits, vendor 0x10DE in the low) that identify the model,
	// as mig-parted's config lists them. Empty when the research notes
	// give none; ForName still finds the model.
	PCIDeviceIDs []uint32
	// NameTokens must all occur (case-insensitively) in NVML's device
	// name for ForName to match the model.
	NameTokens []string
	// MemoryGB is the marketing memory size, the number in "7g.80gb".
	MemoryGB int
	// FullSMs is the SM count with MIG disabled, the denominator that turns
	// a MIG instance's SMs into a fraction of the GPU; 0 means not known.
	FullSMs int
	// ComputeSlices and MemorySlices are the GPU's slice counts.
	ComputeSlices, MemorySlices int
	// Profiles lists the profiles from the smallest to the full GPU.
	Profiles []Profile
}

// Profile returns the model's profile with the given name.
func (m Model) Profile(name string) (Profile, bool) {
	for _, p := range m.Profiles {
		if p.Name == name {
			return p.clone(), true
		}
	}
	return Profile{}, false
}

// ProfileByID returns the model's profile with the given nvidia-smi
// profile ID.
func (m Model) ProfileByID(id int) (Profile, bool) {
	for _, p := range m.Profiles {
		if p.ID == id {
			return p.clone(), true
		}
	}
	return Profile{}, false
}

// Errors that ValidatePlacement and ValidateLayout wrap.
var (
	// ErrUnknownProfile reports a profile the model does not have.
	ErrUnknownProfile = errors.New("unknown mig profile")
	// ErrInvalidPlacement reports a placement the profile does not allow.
	ErrInvalidPlacement = errors.New("invalid mig placement")
	// ErrOverlap reports two instances sharing a memory slice.
	ErrOverlap = errors.New("mig instances overlap")
	// ErrCapacity reports a layout beyond the GPU's compute slices or a
	// profile's maximum count.
	ErrCapacity = errors.New("mig layout over capacity")
)

// ValidatePlacement reports whether profile may sit at placement p on this
// model: nil, or an error wrapping ErrUnknownProfile or ErrInvalidPlacement.
func (m Model) ValidatePlacement(profile string, p Placement) error {
	pr, ok := m.Profile(profile)
	if !ok {
		return fmt.Errorf("%s on %s: %w", profile, m.Name, ErrUnknownProfile)
	}
	for _, allowed := range pr.Placements {
		if allowed == p {
			return nil
		}
	}
	return fmt.Errorf("%s at %s on %s (allowed %s): %w", profile, p, m.Name, placementList(pr.Placements), ErrInvalidPlacement)
}

// Instance is one placed GPU instance of a layout.
type Instance struct {
	Profile   string
	Placement Placement
}

// ValidateLayout reports whether the instances can coexist on one GPU of
// this model: every placement allowed, no two sharing a memory slice, no
// profile beyond its maximum count and compute slices within the GPU's. It
// reports every problem, joined; nil means valid. O(n) in the instances.
func (m Model) ValidateLayout(instances []Instance) error {
	var errs []error
	var used uint8
	counts := make(map[string]int, len(instances))
	compute := 0
	for _, in := range instances {
		if err := m.ValidatePlacement(in.Profile, in.Placement); err != nil {
			errs = append(errs, err)
			continue
		}
		pr, _ := m.Profile(in.Profile)
		if mask := in.Placement.Mask(); used&mask != 0 {
			errs = append(errs, fmt.Errorf("%s at %s: %w", in.Profile, in.Placement, ErrOverlap))
		} else {
			used |= mask
		}
		counts[in.Profile]++
		if counts[in.Profile] == pr.MaxCount+1 {
			errs = append(errs, fmt.Errorf("more than %d × %s: %w", pr.MaxCount, in.Profile, ErrCapacity))
		}
		compute += pr.ComputeSlices
	}
	if compute > m.ComputeSlices {
		errs = append(errs, fmt.Errorf("%d compute slices of %d: %w", compute, m.ComputeSlices, ErrCapacity))
	}
	return errors.Join(errs...)
}

// Models returns every model in the tables, in a fixed order (a deep copy).
func Models() []Model {
	out := make([]Model, len(models))
	for i, m := range models {
		out[i] = m.clone()
	}
	return out
}

// ForPCIDeviceID returns the model with the given NVML PciDeviceId
// (e.g. 0x233010DE for H100 SXM5 80GB).
func ForPCIDeviceID(id uint32) (Model, bool) {
	for _, m := range models {
		for _, x := range m.PCIDeviceIDs {
			if x == id {
				return m.clone(), true
			}
		}
	}
	return Model{}, false
}

// ForName returns the first model whose NameTokens all occur in NVML's
// device name (e.g. "NVIDIA H100 80GB HBM3"), case-insensitively. Prefer
// ForPCIDeviceID; names vary between SKUs and drivers.
func ForName(deviceName string) (Model, bool) {
	n := strings.ToUpper(deviceName)
	for _, m := range models {
		ok := len(m.NameTokens) > 0
		for _, t := range m.NameTokens {
			ok = ok && strings.Contains(n, strings.ToUpper(t))
		}
		if ok {
			return m.clone(), true
		}
	}
	return Model{}, false
}

// Lookup returns the model for a device: by PCI device ID, else by name.
func Lookup(pciDeviceID uint32, deviceName string) (Model, bool) {
	if m, ok := ForPCIDeviceID(pciDeviceID); ok {
		return m, true
	}
	return ForName(deviceName)
}

// ProfileName derives a profile's name from its slices and memory the way
// NVIDIA's go-nvlib does, so that names match the device plugin's resource
// names ("nvidia.com/mig-1g.10gb"): the instance's share of the device
// memory is rounded up to the next eighth, times the device memory rounded
// up to whole GiB, rounded to the nearest GB. "Cc.Gg.NNgb" when the compute
// instance is smaller than the GPU instance, "Gg.NNgb" otherwise, plus
// "+attr,attr" when attributes are given (e.g. "me").
// memoryMiB is the instance's memory in MiB, deviceMemoryBytes the whole
// GPU's in bytes; a zero device memory yields 0 GB.
func ProfileName(gpuSlices, computeSlices int, memoryMiB, deviceMemoryBytes uint64, attrs ...string) string {
	const gib = 1 << 30
	var gb float64
	if deviceMemoryBytes > 0 {
		frac := float64(memoryMiB) * (1 << 20) / float64(deviceMemoryBytes)
		frac = math.Ceil(frac*8) / 8
		gb = math.Round(frac * float64((deviceMemoryBytes+gib-1)/gib))
	}
	var b strings.Builder
	if computeSlices > 0 && computeSlices != gpuSlices {
		b.WriteString(strconv.Itoa(computeSlices) + "c.")
	}
	b.WriteString(strconv.Itoa(gpuSlices) + "g." + strconv.FormatFloat(gb, 'f', 0, 64) + "gb")
	if len(attrs) > 0 {
		b.WriteString("+" + strings.Join(attrs, ","))
	}
	return b.String()
}

func placementList(ps []Placement) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

func (p Profile) clone() Profile {
	p.Placements = append([]Placement(nil), p.Placements...)
	return p
}

func (m Model) clone() Model {
	m.PCIDeviceIDs = append([]uint32(nil), m.PCIDeviceIDs...)
	m.NameTokens = append([]string(nil), m.NameTokens...)
	ps := make([]Profile, len(m.Profiles))
	for i, p := range m.Profiles {
		ps[i] = p.clone()
	}
	m.Profiles = ps
	return m
}
