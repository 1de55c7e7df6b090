package migpack

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/gpu"
	"github.com/rightsizer/rightsizer/gpu/mig"
)

func TestGPUFromDevice(t *testing.T) {
	t.Parallel()
	m := h100(t)
	placed := gpu.MetricSet(0).With(gpu.MetricPlacement).With(gpu.MetricMemory)
	d := gpu.Device{
		Index: 2, UUID: "GPU-2", Name: "NVIDIA H100 80GB HBM3", PCIDeviceID: 0x233010DE, MIGEnabled: true,
		Has: gpu.MetricSet(0).With(gpu.MetricMemory), MemoryTotal: 81559 << 20,
		MIG: []gpu.MIGDevice{
			// A 3g GPU instance split into two 1-slice compute instances.
			{Index: 0, UUID: "MIG-a", GPUInstanceID: 1, ComputeInstanceID: 0, ProfileID: 9, Profile: "1c.3g.40gb",
				Placement: mig.Placement{Start: 4, Size: 4}, SMs: 20, GPUSlices: 3, ComputeSlices: 1, Has: placed, MemoryTotal: 40192 << 20},
			{Index: 1, UUID: "MIG-b", GPUInstanceID: 1, ComputeInstanceID: 1, ProfileID: 9, Profile: "1c.3g.40gb",
				Placement: mig.Placement{Start: 4, Size: 4}, SMs: 20, GPUSlices: 3, ComputeSlices: 1, Has: placed},
			{Index: 2, UUID: "MIG-c", GPUInstanceID: 7, ProfileID: 19, Profile: "1g.10gb",
				Placement: mig.Placement{Start: 0, Size: 1}, SMs: 16, GPUSlices: 1, ComputeSlices: 1, Has: placed, MemoryTotal: 9856 << 20},
			// No profile ID (NVML refused GetGpuInstanceById): named from attributes.
			{Index: 3, UUID: "MIG-d", GPUInstanceID: -1, ProfileID: -1, Profile: "1g.10gb", GPUSlices: 1, ComputeSlices: 1},
		},
	}
	workloads := map[string]string{"MIG-b": "ns/p/c", "MIG-c": "ns/q/c"}
	g, err := GPUFromDevice(d, m, func(uuid string) string { return workloads[uuid] })
	require.NoError(t, err)
	require.Equal(t, GPU{Index: 2, MIGEnabled: true, Instances: []Slot{
		{Profile: "3g.40gb", Placement: mig.Placement{Start: 4, Size: 4}, Workload: "ns/p/c"},
		{Profile: "1g.10gb", Placement: mig.Placement{Start: 0, Size: 1}, Workload: "ns/q/c"},
		{Profile: "1g.10gb"},
	}}, g)

	off, err := GPUFromDevice(gpu.Device{Index: 0, UUID: "GPU-0"}, m, func(string) string { return "ns/r/c" })
	require.NoError(t, err)
	require.Equal(t, GPU{Index: 0, Workload: "ns/r/c"}, off)

	_, err = GPUFromDevice(gpu.Device{MIGEnabled: true, MIG: []gpu.MIGDevice{{UUID: "MIG-x", ProfileID: -1, Profile: "1g.5gb"}}}, m, nil)
	require.ErrorIs(t, err, ErrInvalidInput)

	// What the agent saw refines the tables.
	disc := DiscoveryFromDevice(d)
	require.Equal(t, uint64(81559<<20), disc.MemoryBytes)
	require.Equal(t, []mig.DiscoveredInstance{
		{ProfileID: 9, Placement: mig.Placement{Start: 4, Size: 4}, MemoryMiB: 40192},
		{ProfileID: 19, Placement: mig.Placement{Start: 0, Size: 1}, SMs: 16, MemoryMiB: 9856},
		{ProfileID: -1},
	}, disc.Instances)
	model, err := mig.ModelFromDiscovery(disc)
	require.NoError(t, err)
	require.Equal(t, "H100-80GB", model.Name)
	p, _ := model.Profile("3g.40gb")
	require.Equal(t, 60, p.SMs, "a partial compute instance's SMs are not the GPU instance's")
}
