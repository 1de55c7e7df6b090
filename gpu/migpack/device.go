package migpack

import (
	"fmt"
	"strings"

	"github.com/rightsizer/rightsizer/gpu"
	"github.com/rightsizer/rightsizer/gpu/mig"
)

// GPUFromDevice returns a GPU's current state, as the agent collected it,
// for PlanNode. A GPU instance split into several compute instances (MIG
// devices sharing a GPU-instance ID) is one Slot under its GPU-instance
// profile, in use if any of its compute instances is (by the first
// workload found, in MIG index order). workloadOf maps a device UUID
// ("GPU-…" or "MIG-…") to the workload using it, "" for none (kubelet's
// pod-resources List gives it); nil means nothing is in use. It fails,
// wrapping ErrInvalidInput, on an instance whose profile m lacks.
func GPUFromDevice(d gpu.Device, m mig.Model, workloadOf func(uuid string) string) (GPU, error) {
	if workloadOf == nil {
		workloadOf = func(string) string { return "" }
	}
	g := GPU{Index: d.Index, MIGEnabled: d.MIGEnabled}
	if !d.MIGEnabled {
		g.Workload = workloadOf(d.UUID)
		return g, nil
	}
	byGI := map[int]int{} // GPU-instance ID → index in g.Instances
	for _, md := range d.MIG {
		w := workloadOf(md.UUID)
		if i, ok := byGI[md.GPUInstanceID]; ok && md.GPUInstanceID >= 0 {
			if g.Instances[i].Workload == "" {
				g.Instances[i].Workload = w
			}
			continue
		}
		name, ok := instanceProfile(md, m)
		if !ok {
			return GPU{}, fmt.Errorf("gpu %d: MIG device %s: profile %q (ID %d) is not a %s profile: %w", d.Index, md.UUID, md.Profile, md.ProfileID, m.Name, ErrInvalidInput)
		}
		if md.GPUInstanceID >= 0 {
			byGI[md.GPUInstanceID] = len(g.Instances)
		}
		g.Instances = append(g.Instances, Slot{Profile: name, Placement: md.Placement, Workload: w})
	}
	return g, nil
}

// instanceProfile names a MIG device's GPU-instance profile in m: by NVML
// profile ID when the model has it with the same GPU slices, else by name
// with any compute-instance prefix ("1c.") removed.
func instanceProfile(md gpu.MIGDevice, m mig.Model) (string, bool) {
	if md.ProfileID >= 0 {
		if p, ok := m.ProfileByID(md.ProfileID); ok && (md.GPUSlices == 0 || md.GPUSlices == p.ComputeSlices) {
			return p.Name, true
		}
	}
	name := md.Profile
	if c, rest, ok := strings.Cut(name, "c."); ok && !strings.Contains(c, ".") {
		name = rest
	}
	if _, ok := m.Profile(name); ok {
		return name, true
	}
	return "", false
}

// DiscoveryFromDevice gathers what the agent saw of a GPU's MIG geometry
// for mig.ModelFromDiscovery: its PCI ID, name and memory, and one
// DiscoveredInstance per GPU instance (SMs only from a compute instance
// that spans its GPU instance; memory only when read).
func DiscoveryFromDevice(d gpu.Device) mig.Discovery {
	out := mig.Discovery{PCIDeviceID: d.PCIDeviceID, DeviceName: d.Name}
	if d.Has.Has(gpu.MetricMemory) && d.MemoryTotal > 0 {
		out.MemoryBytes = uint64(d.MemoryTotal)
	}
	seen := map[int]bool{}
	for _, md := range d.MIG {
		if md.GPUInstanceID >= 0 {
			if seen[md.GPUInstanceID] {
				continue
			}
			seen[md.GPUInstanceID] = true
		}
		in := mig.DiscoveredInstance{ProfileID: md.ProfileID}
		if md.Has.Has(gpu.MetricPlacement) {
			in.Placement = md.Placement
		}
		if md.GPUSlices > 0 && md.ComputeSlices == md.GPUSlices {
			in.SMs = md.SMs
		}
		if md.Has.Has(gpu.MetricMemory) && md.MemoryTotal > 0 {
			in.MemoryMiB = int64(md.MemoryTotal) >> 20
		}
		out.Instances = append(out.Instances, in)
	}
	return out
}
