package gpu

import (
	"time"

	"github.com/rightsizer/rightsizer/gpu/mig"
	"github.com/rightsizer/rightsizer/recommender"
)

// Metric names one NVML reading of a device. A reading that NVML refuses
// (ERROR_NOT_SUPPORTED, ERROR_NO_PERMISSION, a lost GPU…) is left out of
// the device's Has set and its fields are zero; the rest of the device is
// still read.
type Metric uint8

// The readings.
const (
	MetricMemory             Metric = iota // MemoryUsed, MemoryTotal
	MetricUtilization                      // GPUUtil, MemoryUtil (never on MIG-enabled GPUs)
	MetricPower                            // PowerMilliwatts (whole GPUs only)
	MetricProcesses                        // the compute process list, with per-process memory
	MetricProcessUtilization               // per-process SM utilisation (never under MIG)
	MetricGPM                              // GPM (Hopper and newer, from the second Collect on)
	MetricPlacement                        // MIG ProfileID and Placement (needs root)
)

// MetricSet is a set of Metrics, one bit each.
type MetricSet uint16

// Has reports whether m is in the set.
func (s MetricSet) Has(m Metric) bool { return s&(1<<m) != 0 }

// With returns the set with m added.
func (s MetricSet) With(m Metric) MetricSet { return s | 1<<m }

// Snapshot is what one Collect read from every GPU on the node, with the
// processes attributed to containers. It is a value: the collector keeps
// no reference to it.
type Snapshot struct {
	// Time is the time passed to Collect.
	Time time.Time
	// DriverVersion is the NVIDIA driver's version, e.g. "550.54.15";
	// empty when unknown or when there is no GPU.
	DriverVersion string
	// Devices are the physical GPUs, by ascending index. A GPU whose
	// handle or UUID NVML refuses is left out.
	Devices []Device
	// Containers is the GPU usage of each container that had at least one
	// process on a GPU, sorted by PodUID then ContainerID.
	Containers []ContainerUsage
	// Unattributed sums the processes that ContainerOfPID did not know
	// (host processes, exited processes, or every process when no mapper
	// was given): counted, but attributed to no container. Its PodUID
	// and ContainerID are empty.
	Unattributed ContainerUsage
}

// Device is one physical GPU.
type Device struct {
	Index       int    // NVML index (as nvidia-smi shows it)
	UUID        string // "GPU-…"
	Name        string // e.g. "NVIDIA H100 80GB HBM3"
	PCIDeviceID uint32 // e.g. 0x233010DE; keys the mig tables
	// MIGEnabled reports MIG mode as currently applied (not pending).
	// Utilisation and per-process readings are then on the MIG devices.
	MIGEnabled bool
	// Has lists the readings NVML gave for this device.
	Has MetricSet
	// MemoryUsed and MemoryTotal are the GPU's framebuffer; under MIG,
	// the sum over its instances (NVML gives it to root only).
	MemoryUsed, MemoryTotal recommender.Bytes
	// GPUUtil and MemoryUtil are the fractions (0–1) of NVML's last sample
	// period (1/6 s to 1 s, by GPU) in which a kernel ran and in which
	// memory was read or written.
	GPUUtil, MemoryUtil float64
	// PowerMilliwatts is the board's power draw, averaged over 1 s on
	// Ampere (except GA100) and newer, instantaneous before.
	PowerMilliwatts uint32
	// GPM holds whole-GPU GPM metrics over the interval since the
	// previous Collect (not read on MIG-enabled GPUs: see MIGDevice.GPM).
	GPM GPM
	// Processes are the compute processes on a GPU without MIG, by PID.
	Processes []Process
	// MIG are the MIG devices of a MIG-enabled GPU, by MIG index.
	MIG []MIGDevice
}

// MIGDevice is one MIG device: a GPU instance and the compute instance in
// it that NVML exposes as a device with its own "MIG-…" UUID.
type MIGDevice struct {
	Index             int    // NVML's MIG device index under the parent
	UUID              string // "MIG-…", as the device plugin advertises it
	GPUInstanceID     int    // the GI id (nvidia-smi's "GI ID")
	ComputeInstanceID int    // the CI id within the GI
	// ProfileID is the GPU-instance profile ID NVML reports (19, 15, 14,
	// 9, 5, 0… on hardware); -1 when unknown. See package mig.
	ProfileID int
	// Profile is the profile name, e.g. "1g.10gb" or "1c.3g.40gb";
	// empty when neither the tables nor the attributes could name it.
	Profile string
	// Placement is where the GPU instance sits on the memory slices;
	// zero Size when unknown (Has lacks MetricPlacement).
	Placement mig.Placement
	// SMs is the compute instance's SM count; GPUSlices and ComputeSlices
	// are the GPU and compute instance slice counts.
	SMs, GPUSlices, ComputeSlices int
	// Share is the instance's SMs as a fraction of the parent GPU's SMs
	// with MIG off: the GPUs (recommender.GPUCompute) the instance is
	// worth when fully busy. A100 1g: 14/108 ≈ 0.13; H100 7g: 132/132 = 1.
	// 0 when the parent's SM count is unknown.
	Share float64
	// Has lists the readings NVML gave for this MIG device.
	Has MetricSet
	// MemoryUsed and MemoryTotal are the instance's memory.
	MemoryUsed, MemoryTotal recommender.Bytes
	// GPM holds the instance's GPM metrics (GpmMigSampleGet) over the
	// interval since the previous Collect, as fractions of the instance.
	GPM GPM
	// Processes are the compute processes in the instance, by PID.
	Processes []Process
}

// GPM holds GPU Performance Monitoring metrics over an interval, each a
// fraction 0–1 of the device (or MIG instance) they were read on.
type GPM struct {
	// GraphicsUtil is the fraction of time the graphics or compute engine
	// was busy (GPM_METRIC_GRAPHICS_UTIL, DCGM's GR_ENGINE_ACTIVE).
	GraphicsUtil float64
	// SMUtil is the fraction of SM time busy (GPM_METRIC_SM_UTIL).
	SMUtil float64
	// SMOccupancy is the fraction of warp slots occupied
	// (GPM_METRIC_SM_OCCUPANCY).
	SMOccupancy float64
}

// Process is one process using a GPU or MIG device. PIDs are in the host's
// PID namespace (the agent runs with hostPID).
type Process struct {
	PID int
	// Memory is the GPU memory the process uses; valid when HasMemory.
	// NVML withholds it (VALUE_NOT_AVAILABLE) in some containers.
	Memory    recommender.Bytes
	HasMemory bool
	// SMUtil is the fraction (0–1) of time a kernel of this process ran,
	// the mean of NVML's samples of it since the previous Collect; 0 when
	// NVML had no sample of it (it was idle). Valid when HasSMUtil.
	SMUtil    float64
	HasSMUtil bool
	// PodUID and ContainerID are what ContainerOfPID said; both empty
	// when it did not know the PID.
	PodUID, ContainerID string
}

// ContainerUsage is one container's GPU usage in a Snapshot, summed over
// its processes and the devices they ran on.
type ContainerUsage struct {
	PodUID, ContainerID string
	// GPUMemory is the GPU memory its processes use, over all devices.
	GPUMemory recommender.Bytes
	// GPUCompute is the GPUs it kept busy: per whole GPU, the sum of its
	// processes' SMUtil (at most 1 per GPU); per MIG instance, the
	// instance's GPM GraphicsUtil × Share. 1.0 is one GPU fully busy, as
	// recommender.GPUCompute defines it.
	GPUCompute recommender.GPUCompute
	// Has holds recommender.ResourceGPUMemory when every process's memory
	// was known and recommender.ResourceGPUCompute when compute was
	// measured on every device it used; otherwise the value is a lower
	// bound.
	Has recommender.ResourceSet
	// Devices are the UUIDs ("GPU-…" or "MIG-…") it had processes on,
	// sorted.
	Devices []string
	// Processes counts its distinct PIDs.
	Processes int
}
