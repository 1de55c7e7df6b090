// Package gpu is the node agent's GPU collector: it reads NVIDIA GPUs
// through NVML (github.com/NVIDIA/go-nvml) and attributes their memory and
// compute to the containers whose processes use them.
//
// The flow, per Collect (the agent calls it every tick, 1–10 s):
//
//	NVML ──► per GPU: identity, memory, utilisation, power, GPM
//	         per process: memory (GetComputeRunningProcesses, + MPS clients)
//	                      SM busy (GetProcessUtilization since the last tick)
//	         per MIG device: profile, placement, SMs, memory, processes, GPM
//	     ──► ContainerOfPID (injected; /proc/<pid>/cgroup in the agent)
//	     ──► Snapshot: devices, per-container usage, unattributed usage
//
// # GPU compute, in GPUs busy
//
// Container compute is a recommender.GPUCompute: 1.0 is one GPU fully busy.
// On a whole GPU it is the container's share of the time a kernel ran
// (NVML's per-process SM utilisation, summed over its processes, at most 1
// per GPU), so two containers time-slicing one GPU at 40 % and 50 % read
// 0.4 and 0.5. Under MIG, NVML has neither device nor per-process
// utilisation; a MIG instance's busy fraction comes from GPM (Hopper and
// newer) and is scaled by the instance's Share, its SMs over the parent
// GPU's SMs with MIG off. So a fully busy H100 1g.10gb (16 of 132 SMs)
// reads 0.12 GPUs, not 1: usage on different slices and on whole GPUs is
// comparable, sums to at most the GPUs present, and a shape recommender
// can turn it back into SMs (GPUCompute × full SMs) to pick a profile by
// actual SMs. (A100's 7g has 98 of 108 SMs, so a fully busy A100 7g is
// 0.91 GPUs: the SMs MIG gives up are real.)
//
// Device-wide readings (GPUUtil without per-process utilisation, MIG GPM)
// go to a container only when it is the device's sole owner: processes of
// another container or unattributed processes on the same device make its
// compute unknown rather than guessed. ContainerUsage.Has says which of
// memory and compute are complete; a container without ResourceGPUCompute
// has a lower bound. The agent may still attribute a whole device it knows
// a container owns (from the kubelet's pod-resources) using Device values.
//
// # Errors and missing GPUs
//
// New never panics. Without libnvidia-ml (no driver), with an NVML that
// will not initialise, with no GPU, or in a binary built without cgo, it
// logs one line and returns a Collector that reads nothing, with an error
// wrapping ErrNoGPU: the agent runs CPU-only. go-nvml's Init returns
// ERROR_LIBRARY_NOT_FOUND without a driver (tested here against the real
// bindings); optional entry points that older drivers lack (GPM, MIG, MPS
// lists) are looked up once with LookupSymbol and never called when absent,
// because go-nvml binds symbols lazily and a missing one would abort the
// process. Once running, a reading NVML refuses for one device
// (ERROR_NOT_SUPPORTED, ERROR_NO_PERMISSION, ERROR_GPU_IS_LOST…) is left
// out of that device's Has set and logged once per device, metric and
// error; the rest is still read.
//
// # Read-only
//
// The collector only queries: it never calls SetMigMode, creates or
// destroys GPU or compute instances, changes clocks, power limits or
// compute modes. GPM sample buffers it allocates are freed on Close and
// when a device or GPU instance disappears.
//
// # Build
//
// go-nvml needs cgo. The NVML-backed Collector is built with cgo only
// (nvml.go); without cgo New returns ErrNoGPU (nvml_nocgo.go), so the
// package, its types and package mig build with CGO_ENABLED=0 for
// cmd/rightsizer. Only cmd/rightsizer-agent links NVML. libnvidia-ml.so.1 is
// loaded at run time, not at link time: no driver is needed to build or
// test. Tests use go-nvml's mock servers through package gpufake.
//
// Package mig holds our own MIG geometry tables (profiles, slices, SMs,
// memory and placements per GPU model) and checks placements against them;
// go-nvml's mock geometry for H100, H200 and B200 is not trusted.
package gpu
