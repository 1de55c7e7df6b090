package mig

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrUnknownModel reports a discovery that neither the tables nor an NVML
// profile catalogue describes.
var ErrUnknownModel = errors.New("unknown mig model")

// DiscoveredProfile is one GPU-instance profile as NVML reports it on a
// live GPU: GetGpuInstanceProfileInfo (Id, SliceCount, InstanceCount,
// MemorySizeMB, MultiprocessorCount) and GetGpuInstancePossiblePlacements.
type DiscoveredProfile struct {
	// ID is GpuInstanceProfileInfo.Id (19, 20, 15, 14, 9, 5, 0 on
	// hardware), not the GPU_INSTANCE_PROFILE_* index it was read with.
	ID int
	// Name is the profile's name when the agent knows it; empty derives
	// it from the tables (same ID and slices) or as go-nvlib does.
	Name string
	// ComputeSlices is SliceCount.
	ComputeSlices int
	// MaxCount is InstanceCount: instances of this profile one GPU holds.
	MaxCount int
	// MemoryMiB is MemorySizeMB (NVML's "MB" are MiB).
	MemoryMiB int64
	// SMs is MultiprocessorCount.
	SMs int
	// MediaExtensions marks the "+me" profile (GPU_INSTANCE_PROFILE_1_SLICE_REV1).
	MediaExtensions bool
	// Placements are the possible placements; every one has the profile's
	// memory-slice count as its size.
	Placements []Placement
}

// DiscoveredInstance is one GPU instance the agent saw on the GPU
// (gpu.MIGDevice's ProfileID, Placement, SMs and memory).
type DiscoveredInstance struct {
	// ProfileID is the instance's GPU-instance profile ID; negative when
	// unknown (the instance is then ignored).
	ProfileID int
	// Placement is where it sits; zero Size when unknown.
	Placement Placement
	// SMs is its SM count, MemoryMiB its memory in MiB; 0 when unknown.
	SMs       int
	MemoryMiB int64
}

// Discovery is what the agent learnt from NVML about one GPU's MIG
// geometry. It is a plain value: building a Model from it reads nothing
// else.
type Discovery struct {
	// PCIDeviceID is NVML's PciInfo.PciDeviceId (e.g. 0x233010DE); 0 when
	// unknown. The Model built from the discovery is keyed by it alone.
	PCIDeviceID uint32
	// DeviceName is NVML's name (e.g. "NVIDIA H100 80GB HBM3").
	DeviceName string
	// MemoryBytes is the GPU's framebuffer in bytes; names are derived
	// from it when neither the agent nor the tables give them.
	MemoryBytes uint64
	// FullSMs is the SM count with MIG disabled; 0 keeps the table's.
	FullSMs int
	// Profiles is the full profile catalogue, when the agent could read
	// it (placements need root); empty keeps the table's profiles.
	Profiles []DiscoveredProfile
	// Instances are the GPU instances present, which refine the profiles
	// they use: a measured SM count and memory replace the table's, and a
	// placement the table lacks is added (the hardware is the truth).
	Instances []DiscoveredInstance
}

// ModelFromDiscovery builds the model NVML describes for one GPU: the
// table's entry for its PCI device ID (or name), with its profiles
// replaced by the discovered catalogue when there is one and refined by
// the instances seen. The model's PCIDeviceIDs is just the discovered ID,
// so that a Catalog overrides the table for that ID and no other. It is a
// pure function of d and the tables.
//
// It fails, wrapping ErrUnknownModel, when there is neither a table entry
// nor a catalogue; wrapping ErrUnknownProfile or ErrInvalidPlacement when
// an instance contradicts the profiles (a mock's profile indices read as
// IDs do); and wrapping ErrInvalidModel when the result is not a model the
// Oracle accepts.
func ModelFromDiscovery(d Discovery) (Model, error) {
	base, known := Lookup(d.PCIDeviceID, d.DeviceName)
	if !known && len(d.Profiles) == 0 {
		return Model{}, fmt.Errorf("%#x %q: no table and no profile catalogue: %w", d.PCIDeviceID, d.DeviceName, ErrUnknownModel)
	}
	m := base
	if !known {
		m = Model{Name: d.DeviceName, NameTokens: []string{d.DeviceName}, MemoryGB: int((d.MemoryBytes + 1<<30 - 1) >> 30)}
	}
	m.PCIDeviceIDs = nil
	if d.PCIDeviceID != 0 {
		m.PCIDeviceIDs = []uint32{d.PCIDeviceID}
	}
	if d.FullSMs > 0 {
		m.FullSMs = d.FullSMs
	}
	if len(d.Profiles) > 0 {
		profiles, err := catalogue(d, base, known)
		if err != nil {
			return Model{}, err
		}
		m.Profiles = profiles
		m.ComputeSlices, m.MemorySlices = 0, 0
		for _, p := range profiles {
			m.ComputeSlices = max(m.ComputeSlices, p.ComputeSlices)
			for _, pl := range p.Placements {
				m.MemorySlices = max(m.MemorySlices, pl.Start+pl.Size)
			}
		}
	}
	var errs []error
	for _, in := range d.Instances {
		if in.ProfileID < 0 {
			continue
		}
		i := slices.IndexFunc(m.Profiles, func(p Profile) bool { return p.ID == in.ProfileID })
		if i < 0 {
			errs = append(errs, fmt.Errorf("instance of profile ID %d on %s: %w", in.ProfileID, m.Name, ErrUnknownProfile))
			continue
		}
		p := &m.Profiles[i]
		if in.Placement.Size > 0 {
			if in.Placement.Size != p.MemorySlices {
				errs = append(errs, fmt.Errorf("%s (ID %d) at %s: %d memory slices expected: %w", p.Name, p.ID, in.Placement, p.MemorySlices, ErrInvalidPlacement))
				continue
			}
			if !slices.Contains(p.Placements, in.Placement) {
				p.Placements = append(p.Placements, in.Placement)
				slices.SortFunc(p.Placements, func(a, b Placement) int { return cmp.Compare(a.Start, b.Start) })
			}
		}
		if in.SMs > 0 {
			p.SMs = in.SMs
		}
		if in.MemoryMiB > 0 {
			p.MemoryMiB = in.MemoryMiB
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Model{}, err
	}
	if _, err := NewOracle(m); err != nil {
		return Model{}, err
	}
	return m, nil
}

// catalogue turns NVML's profile catalogue into profiles, named from the
// agent, else the table (same ID and slices), else as go-nvlib names them;
// ordered as the tables are (compute slices, then memory slices, "+me"
// after its plain profile). Profiles NVML offers no instance or placement
// of are left out.
func catalogue(d Discovery, base Model, known bool) ([]Profile, error) {
	var out []Profile
	var errs []error
	for _, dp := range d.Profiles {
		if dp.MaxCount < 1 || len(dp.Placements) == 0 {
			continue
		}
		size := dp.Placements[0].Size
		for _, pl := range dp.Placements {
			if pl.Size != size {
				errs = append(errs, fmt.Errorf("profile ID %d: placements of sizes %d and %d: %w", dp.ID, size, pl.Size, ErrInvalidModel))
				break
			}
		}
		p := Profile{
			Name: dp.Name, ID: dp.ID, ComputeSlices: dp.ComputeSlices, MemorySlices: size,
			MemoryMiB: dp.MemoryMiB, SMs: dp.SMs, MaxCount: dp.MaxCount, MediaExtensions: dp.MediaExtensions,
			Placements: slices.Clone(dp.Placements),
		}
		slices.SortFunc(p.Placements, func(a, b Placement) int { return cmp.Compare(a.Start, b.Start) })
		if p.Name == "" && known {
			if t, ok := base.ProfileByID(dp.ID); ok && t.ComputeSlices == p.ComputeSlices && t.MemorySlices == p.MemorySlices {
				p.Name = t.Name
			}
		}
		if p.Name == "" {
			var attrs []string
			if p.MediaExtensions {
				attrs = []string{"me"}
			}
			p.Name = ProfileName(p.ComputeSlices, p.ComputeSlices, uint64(max(p.MemoryMiB, 0)), d.MemoryBytes, attrs...)
		}
		out = append(out, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b Profile) int {
		return cmp.Or(cmp.Compare(a.ComputeSlices, b.ComputeSlices), cmp.Compare(a.MemorySlices, b.MemorySlices),
			boolCompare(a.MediaExtensions, b.MediaExtensions), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func boolCompare(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}

// Catalog is the built-in tables with run-time overrides, typically models
// built by ModelFromDiscovery from what the agents found. It is an
// immutable value, safe for concurrent use.
type Catalog struct {
	overrides []Model
}

// NewCatalog returns the tables overridden by the given models: an
// override answers for its PCI device IDs (and, failing a PCI match, for
// its name tokens) before any table entry does. Later overrides win over
// earlier ones with the same ID.
func NewCatalog(overrides ...Model) Catalog {
	c := Catalog{overrides: make([]Model, len(overrides))}
	for i, m := range overrides {
		c.overrides[len(overrides)-1-i] = m.clone()
	}
	return c
}

// Lookup returns the model for a device: an override with its PCI device
// ID, else the table's, else an override matching the name, else the
// table's (a deep copy in every case).
func (c Catalog) Lookup(pciDeviceID uint32, deviceName string) (Model, bool) {
	if pciDeviceID != 0 {
		for _, m := range c.overrides {
			if slices.Contains(m.PCIDeviceIDs, pciDeviceID) {
				return m.clone(), true
			}
		}
		if m, ok := ForPCIDeviceID(pciDeviceID); ok {
			return m, true
		}
	}
	for _, m := range c.overrides {
		if matchesName(m, deviceName) {
			return m.clone(), true
		}
	}
	return ForName(deviceName)
}

// matchesName is ForName's test for one model.
func matchesName(m Model, deviceName string) bool {
	n := strings.ToUpper(deviceName)
	ok := len(m.NameTokens) > 0
	for _, t := range m.NameTokens {
		ok = ok && strings.Contains(n, strings.ToUpper(t))
	}
	return ok
}
