package mig

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// h100Catalogue is NVML's profile catalogue of an H100 SXM5 80GB as
// GetGpuInstanceProfileInfo and GetGpuInstancePossiblePlacements give it
// (research/gpu.md §3.2-§3.3), on a hypothetical driver that also allows
// a 2g at slice 6.
func h100Catalogue() []DiscoveredProfile {
	return []DiscoveredProfile{
		{ID: 0, ComputeSlices: 7, MaxCount: 1, MemoryMiB: 81152, SMs: 132, Placements: []Placement{{0, 8}}},
		{ID: 19, ComputeSlices: 1, MaxCount: 7, MemoryMiB: 9856, SMs: 16, Placements: place1g},
		{ID: 20, ComputeSlices: 1, MaxCount: 1, MemoryMiB: 9856, SMs: 16, MediaExtensions: true, Placements: place1g},
		{ID: 15, ComputeSlices: 1, MaxCount: 4, MemoryMiB: 19968, SMs: 26, Placements: place1g2m},
		{ID: 14, ComputeSlices: 2, MaxCount: 4, MemoryMiB: 19968, SMs: 32, Placements: []Placement{{6, 2}, {0, 2}, {2, 2}, {4, 2}}},
		{ID: 9, ComputeSlices: 3, MaxCount: 2, MemoryMiB: 40192, SMs: 60, Placements: place3g},
		{ID: 5, ComputeSlices: 4, MaxCount: 1, MemoryMiB: 40448, SMs: 64, Placements: place4g},
		{ID: 99, ComputeSlices: 1, MaxCount: 0, Placements: place1g}, // not offered on this GPU
	}
}

func TestModelFromDiscoveryCatalogue(t *testing.T) {
	t.Parallel()
	m, err := ModelFromDiscovery(Discovery{PCIDeviceID: 0x233010DE, DeviceName: "NVIDIA H100 80GB HBM3", MemoryBytes: 81559 << 20, Profiles: h100Catalogue()})
	require.NoError(t, err)
	require.Equal(t, "H100-80GB", m.Name)
	require.Equal(t, []uint32{0x233010DE}, m.PCIDeviceIDs)
	require.Equal(t, 132, m.FullSMs)
	require.Equal(t, 7, m.ComputeSlices)
	require.Equal(t, 8, m.MemorySlices)
	var names []string
	for _, p := range m.Profiles {
		names = append(names, p.Name)
	}
	require.Equal(t, []string{"1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"}, names)
	p, ok := m.Profile("2g.20gb")
	require.True(t, ok)
	require.Equal(t, []Placement{{0, 2}, {2, 2}, {4, 2}, {6, 2}}, p.Placements, "sorted")
	// The discovered geometry, not the table's, decides feasibility:
	// 3g@0 + 2g×2 now fits because a 2g may start at 6.
	o, err := NewOracle(m)
	require.NoError(t, err)
	c, err := o.Counts("2g.20gb", "2g.20gb", "2g.20gb", "1g.10gb")
	require.NoError(t, err)
	_, err = o.Extend([]Instance{{"3g.40gb", Placement{0, 4}}}, c)
	require.ErrorIs(t, err, ErrInfeasible, "compute still counts")
	two, err := o.Counts("2g.20gb", "2g.20gb")
	require.NoError(t, err)
	_, err = o.Extend([]Instance{{"3g.40gb", Placement{0, 4}}}, two)
	require.NoError(t, err)
}

func TestModelFromDiscoveryUnknownGPU(t *testing.T) {
	t.Parallel()
	// A GPU the tables lack: names come from go-nvlib's rule.
	cat := h100Catalogue()
	_, err := ModelFromDiscovery(Discovery{PCIDeviceID: 0x999910DE, DeviceName: "NVIDIA X200"})
	require.ErrorIs(t, err, ErrUnknownModel)
	m, err := ModelFromDiscovery(Discovery{PCIDeviceID: 0x999910DE, DeviceName: "NVIDIA X200", MemoryBytes: 81559 << 20, FullSMs: 140, Profiles: cat})
	require.NoError(t, err)
	require.Equal(t, "NVIDIA X200", m.Name)
	require.Equal(t, 140, m.FullSMs)
	require.Equal(t, 80, m.MemoryGB)
	_, ok := m.Profile("1g.10gb+me")
	require.True(t, ok)
	_, ok = m.Profile("7g.80gb")
	require.True(t, ok)

	c := NewCatalog(m)
	got, ok := c.Lookup(0, "nvidia x200")
	require.True(t, ok, "matched by name when the PCI ID is unknown")
	require.Equal(t, m.Name, got.Name)
}

func TestModelFromDiscoveryInstances(t *testing.T) {
	t.Parallel()
	m, err := ModelFromDiscovery(Discovery{PCIDeviceID: 0x20B210DE, DeviceName: "NVIDIA A100-SXM4-80GB", Instances: []DiscoveredInstance{
		{ProfileID: 19, Placement: Placement{7, 1}, SMs: 14, MemoryMiB: 9856},
		{ProfileID: 9, Placement: Placement{0, 4}},
		{ProfileID: -1}, // unknown: ignored
	}})
	require.NoError(t, err)
	require.Equal(t, []uint32{0x20B210DE}, m.PCIDeviceIDs, "keyed by the discovered ID alone")
	p, _ := m.Profile("1g.10gb")
	require.Equal(t, int64(9856), p.MemoryMiB, "measured memory replaces the table's")
	require.Contains(t, p.Placements, Placement{7, 1}, "a placement the hardware used is allowed")
	table, _ := ForPCIDeviceID(0x20B210DE)
	tp, _ := table.Profile("1g.10gb")
	require.NotContains(t, tp.Placements, Placement{7, 1}, "the tables are not changed")

	for _, tc := range []struct {
		name string
		in   DiscoveredInstance
		want error
	}{
		{"unknown profile ID", DiscoveredInstance{ProfileID: 3}, ErrUnknownProfile},
		{"size disagrees (a mock's index read as an ID)", DiscoveredInstance{ProfileID: 9, Placement: Placement{0, 2}}, ErrInvalidPlacement},
	} {
		_, err := ModelFromDiscovery(Discovery{PCIDeviceID: 0x20B210DE, Instances: []DiscoveredInstance{tc.in}})
		require.ErrorIs(t, err, tc.want, tc.name)
	}
	_, err = ModelFromDiscovery(Discovery{PCIDeviceID: 0x233010DE, Profiles: []DiscoveredProfile{
		{ID: 19, ComputeSlices: 1, MaxCount: 7, Placements: []Placement{{0, 1}, {2, 2}}},
	}})
	require.ErrorIs(t, err, ErrInvalidModel)
}

func TestCatalogOverrides(t *testing.T) {
	t.Parallel()
	override, err := ModelFromDiscovery(Discovery{PCIDeviceID: 0x20F110DE, DeviceName: "NVIDIA A100-PCIE-40GB", FullSMs: 100})
	require.NoError(t, err)
	c := NewCatalog(override)

	got, ok := c.Lookup(0x20F110DE, "")
	require.True(t, ok)
	require.Equal(t, 100, got.FullSMs, "the override answers for its ID")
	got, ok = c.Lookup(0x20B010DE, "")
	require.True(t, ok)
	require.Equal(t, 108, got.FullSMs, "the table still answers for the SXM ID it shares")
	got, ok = c.Lookup(0, "NVIDIA H100 80GB HBM3")
	require.True(t, ok)
	require.Equal(t, "H100-80GB", got.Name)
	_, ok = c.Lookup(0x12345678, "Tesla T4")
	require.False(t, ok)

	later := override
	later.FullSMs = 90
	got, _ = NewCatalog(override, later).Lookup(0x20F110DE, "")
	require.Equal(t, 90, got.FullSMs, "the later override wins")

	got.Profiles[0].Placements[0] = Placement{5, 5}
	again, _ := c.Lookup(0x20F110DE, "")
	require.Equal(t, Placement{0, 1}, again.Profiles[0].Placements[0], "Lookup returns copies")
}
