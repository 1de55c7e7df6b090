//go:build cgo

package main

import (
	"fmt"
	"io"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/rightsizer/rightsizer/gpu/mig"
)

// printGeometry lists, for every GPU, the GPU-instance profiles and
// possible placements the driver reports (read-only queries, valid with
// MIG on or off), next to our table's entry for the same profile ID.
func printGeometry(w io.Writer, library string) error {
	lib := nvml.New()
	if library != "" {
		lib = nvml.New(nvml.WithLibraryPath(library))
	}
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return fmt.Errorf("init nvml: %w", ret)
	}
	defer func() { _ = lib.Shutdown() }() // read-only session; nothing to flush
	n, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return fmt.Errorf("count gpus: %w", ret)
	}
	for i := range n {
		d, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			fmt.Fprintf(w, "GPU %d: %v\n", i, ret)
			continue
		}
		name, _ := d.GetName()
		pci, _ := d.GetPciInfo()
		mem, _ := d.GetMemoryInfo()
		model, known := mig.Lookup(pci.PciDeviceId, name)
		fmt.Fprintf(w, "GPU %d %q pci %#08x memory %d MiB table %s\n", i, name, pci.PciDeviceId, mem.Total>>20, modelName(model, known))
		for idx := range nvml.GPU_INSTANCE_PROFILE_COUNT {
			info, ret := d.GetGpuInstanceProfileInfo(idx)
			if ret == nvml.ERROR_NOT_SUPPORTED || ret == nvml.ERROR_INVALID_ARGUMENT {
				continue
			}
			if ret != nvml.SUCCESS {
				fmt.Fprintf(w, "  profile index %d: %v\n", idx, ret)
				continue
			}
			var places []mig.Placement
			pls, ret := d.GetGpuInstancePossiblePlacements(&info)
			for _, p := range pls {
				places = append(places, mig.Placement{Start: int(p.Start), Size: int(p.Size)})
			}
			derived := mig.ProfileName(int(info.SliceCount), int(info.SliceCount), info.MemorySizeMB, mem.Total)
			fmt.Fprintf(w, "  index %2d id %2d %-10s slices %d max %d SMs %3d memory %6d MiB placements %v (%v)\n",
				idx, info.Id, derived, info.SliceCount, info.InstanceCount, info.MultiprocessorCount, info.MemorySizeMB, places, ret)
			if !known {
				continue
			}
			if p, ok := model.ProfileByID(int(info.Id)); ok {
				fmt.Fprintf(w, "           table %-10s slices %d max %d SMs %3d memory %6d MiB placements %v\n",
					p.Name, p.ComputeSlices, p.MaxCount, p.SMs, p.MemoryMiB, p.Placements)
			} else {
				fmt.Fprintf(w, "           table has no profile id %d\n", info.Id)
			}
		}
	}
	return nil
}
