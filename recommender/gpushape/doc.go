// Package gpushape recommends the GPU shape a container needs: keep its
// whole GPUs, fewer whole GPUs, a MIG profile, an MPS share or a
// time-slicing share, with a one-line reason and the monthly saving.
//
// It is the step after the engine: the engine keeps each container's GPU
// memory and GPU busy-time history (package recommender); Recommend turns
// a summary of it (Usage), the container's current allocation
// (Allocation), its GPU (Device: the MIG geometry of package gpu/mig and
// the price per GPU-hour, e.g. from package nodeplan/catalog) and a
// rightsizing profile's Policy into a Shape. Package gpu/migpack then packs
// the recommended MIG profiles onto GPUs.
//
// # Rules
//
// GPU memory is a hard constraint: a workload that runs out fails, so the
// shape holds the memory peak plus headroom, or, where per-window peaks
// are known, the memory whose risk of being outgrown in a window is
// within the profile's budget (Policy.MemoryRisk): headroom from the
// peaks' spread rather than a flat fraction. GPU compute is soft: a shape
// short of it runs slower, so it holds a percentile plus headroom. MIG
// profiles are compared by their actual MiB and SMs, never their names (an
// H100 1g.20gb has 26 SMs, 1g.10gb 16). Usage seen on a slice cannot
// exceed the slice: usage at the slice's cap is censored, and the shape
// steps up to hold the cap plus headroom (FlagCapped). A GPU that stays
// idle for long is flagged with what it costs (FlagIdle). Recommend
// documents each rule.
//
// # Sharing mechanisms (research/gpu.md §4)
//
//   - MIG: hardware isolation of memory, cache, bandwidth and faults; up to
//     7 instances on A100, H100, H200 and B200; chosen first wherever the
//     model has it.
//   - MPS: the device plugin's MPS daemon limits each of Replicas clients
//     to 1/Replicas of the memory and of the threads (Volta and newer, at
//     most 48 clients); a fault in one client can take down the others. For
//     steady workloads on GPUs without MIG, or when no MIG profile fits.
//   - Time-slicing: Replicas pods take turns on the whole GPU; nothing is
//     isolated, any replica can take all the memory (FlagUnisolated). For
//     bursty workloads that tolerate it (dev, notebooks), which MPS would
//     throttle at their share.
//
// Every function is pure (values in, values out, no clock or I/O) and safe
// for concurrent use.
package gpushape
