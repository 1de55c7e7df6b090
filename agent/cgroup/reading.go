package cgroup

import (
	"strings"
	"time"
)

// Field is a set of Reading fields that hold a value. A field is missing
// when its file could not be read or parsed, when the container's
// controller does not provide it, or, for rates and deltas, on the first
// reading of a container and after a counter went backwards.
type Field uint16

// The fields of a Reading, as bits of a Field.
const (
	// FieldCPU: CPUCores. Needs a previous reading.
	FieldCPU Field = 1 << iota
	// FieldThrottling: ThrottledFraction and ThrottledTime. Needs a
	// previous reading and the cpu controller.
	FieldThrottling
	// FieldMemory: MemoryCurrentBytes.
	FieldMemory
	// FieldMemoryStat: AnonBytes, FileBytes, ActiveFileBytes and
	// InactiveFileBytes.
	FieldMemoryStat
	// FieldWorkingSet: WorkingSetBytes. Needs memory.current and
	// memory.stat from the same round.
	FieldWorkingSet
	// FieldMemoryLimit: MemoryLimitBytes.
	FieldMemoryLimit
	// FieldOOMKillsTotal: OOMKillsTotal.
	FieldOOMKillsTotal
	// FieldOOMKills: OOMKills. Needs a previous reading.
	FieldOOMKills
	// FieldCPUPressure: CPUPressure's averages.
	FieldCPUPressure
	// FieldCPUStall: CPUPressure's stall times. Needs a previous reading.
	FieldCPUStall
	// FieldMemoryPressure: MemoryPressure's averages.
	FieldMemoryPressure
	// FieldMemoryStall: MemoryPressure's stall times. Needs a previous
	// reading.
	FieldMemoryStall
)

var fieldNames = [...]string{
	"cpu", "throttling", "memory", "memory_stat", "working_set", "memory_limit",
	"oom_kills_total", "oom_kills", "cpu_pressure", "cpu_stall", "memory_pressure", "memory_stall",
}

// Has reports whether f holds every field of g.
func (f Field) Has(g Field) bool { return f&g == g }

// String lists f's fields, joined by "|".
func (f Field) String() string {
	var names []string
	for i, n := range fieldNames {
		if f&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, "|")
}

// Pressure is one resource's pressure stall information (PSI) for a
// cgroup.
type Pressure struct {
	// SomeAvg10 is the share of the last 10 s, in percent (0–100), in
	// which at least one of the cgroup's tasks was stalled on the
	// resource; FullAvg10 the share in which all non-idle tasks were.
	// The kernel computes them; they need no previous reading.
	SomeAvg10, FullAvg10 float64
	// SomeStall and FullStall are the stall times accumulated over the
	// reading's Interval (the kernel's "total", differenced).
	SomeStall, FullStall time.Duration
}

// Reading is one container cgroup's usage over one round. Readings are
// values: the reader keeps no reference to them. Only the fields in Valid
// hold values; the others are zero.
type Reading struct {
	// PodUID is the pod's UID, with dashes.
	PodUID string
	// ContainerID is the runtime's container ID, 64 hex digits, without
	// a "containerd://" or "cri-o://" scheme. The pod's sandbox has one
	// too.
	ContainerID string
	// Time is when the reader began to read the container's files
	// (cpu.stat first), by its clock.
	Time time.Time
	// Interval is the time since this container's previous reading, by
	// the monotonic clock: what the rates and deltas cover. Zero on the
	// first reading, and when the clock did not move forward.
	Interval time.Duration
	// Valid says which of the fields below hold values.
	Valid Field

	// CPUCores is the CPU used over Interval, in cores (CPU-seconds per
	// second): cpu.stat usage_usec differenced and divided by Interval.
	CPUCores float64
	// ThrottledFraction is the share (0–1) of the CFS periods elapsed in
	// Interval in which the container was throttled, and zero when none
	// elapsed (no CPU limit); ThrottledTime is the time its tasks spent
	// throttled in Interval. Both count only the container's own limit.
	ThrottledFraction float64
	ThrottledTime     time.Duration

	// MemoryCurrentBytes is memory.current: all memory charged to the
	// cgroup, page cache included.
	MemoryCurrentBytes uint64
	// WorkingSetBytes is MemoryCurrentBytes less the inactive page cache
	// (memory.stat inactive_file), floored at zero: the kubelet's and
	// cAdvisor's working set, which is what the kubelet evicts on.
	WorkingSetBytes uint64
	// AnonBytes, FileBytes, ActiveFileBytes and InactiveFileBytes are
	// memory.stat's anon, file, active_file and inactive_file.
	AnonBytes, FileBytes, ActiveFileBytes, InactiveFileBytes uint64
	// MemoryLimitBytes is memory.max; 0 means no limit ("max").
	MemoryLimitBytes uint64

	// OOMKills is how many of the container's processes an OOM killer
	// killed during Interval (memory.events oom_kill, differenced); a
	// rise is an OOM kill. OOMKillsTotal is the count since the cgroup
	// was created: on a first reading it may hold kills from before the
	// reader started, which is why OOMKills then is missing.
	OOMKills, OOMKillsTotal uint64

	// CPUPressure and MemoryPressure are cpu.pressure and
	// memory.pressure.
	CPUPressure, MemoryPressure Pressure
}
