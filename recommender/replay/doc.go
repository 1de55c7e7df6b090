// Package replay replays real usage traces into a recommender.Sink.
//
// Open reads a trace folder into memory, detects its format from the file
// names, and returns a Source. The Source implements
// recommender.UsageSource: Run upserts one recommender.Workload per traced
// workload, then ingests every sample in global time order. Consumers that
// drive time themselves (a walk-forward backtest) use All instead.
//
// # Formats
//
// FormatBitbrains is the Grid Workloads Archive GWA-T-12 "Bitbrains Rnd"
// trace: one file <n>.csv per VM, fields separated by ';' and a tab, one
// row every 300 s. Each VM becomes the workload bitbrains/VM/vm-<n> with one
// container "main". Units:
//   - "Timestamp [ms]" is epoch SECONDS despite its header.
//   - CPU usage in cores is "CPU usage [MHZ]" divided by the speed of one
//     core ("CPU capacity provisioned [MHZ]" / "CPU cores"), stored as
//     recommender.MilliCPU (rounded to the nearest millicore). It can exceed
//     the provisioned cores: some VMs run above their nominal clock.
//   - Memory is "Memory usage [KB]" × 1024 bytes.
//   - Requests are the last non-zero "CPU cores" and
//     "Memory capacity provisioned [KB]" × 1024 in the trace, the
//     provisioning in force when the trace ends. Provisioning changes
//     during the month for some VMs.
//   - Rows whose timestamp repeats are dropped, keeping the first in file
//     order (SkipDuplicate). Rows with no CPU and no memory capacity are a
//     VM that is switched off; they are dropped (SkipUnprovisioned). A row
//     with memory capacity but no CPU capacity yields a memory-only sample.
//   - "Memory usage [KB]" is 0 in about 17% of the rows of running VMs,
//     which looks like a gap in the measurement rather than a VM using no
//     memory: those samples carry CPU only, unless Options.KeepZeroMemory
//     is set.
//
// FormatGenAI is Alibaba cluster-trace-v2026-GenAI: three comma-separated
// files with columns value, timestamp_anon (seconds, shifted) and
// container_ip (an MD5 hash of the pod IP, the join key). Each pod with GPU
// metrics becomes the workload genai/Pod/pod-<first 16 hex digits of the
// hash> (the full hash if 16 digits are not unique) with one container
// "main". Units:
//   - pod_gpu_duty_cycle_anon.csv is GPU busy percent (0–100); it becomes
//     recommender.GPUCompute = value/100.
//   - pod_gpu_memory_used_bytes_anon.csv is GPU memory in bytes.
//   - Samples of the two files that share a pod and a timestamp are joined
//     into one Sample with both resources in Usage.Has; the rest stand
//     alone with one resource each.
//   - pod_memory_util_anon.csv is a fraction (0–1) of an unknown memory
//     limit. It is NOT ingested as memory; Source.MemoryUtil exposes it.
//   - The trace has no requests. Each pod is assumed to hold one whole GPU:
//     Requests.GPUCompute = 1 and Requests.GPUMemory =
//     Options.GPUMemoryPerGPU (80 GiB, an H100-80GB, by default).
//
// # Bad input
//
// Open never panics on input. A malformed row (wrong field count, a field
// that is not a number, NaN, ±Inf, a negative value, or a value beyond the
// sanity bounds: more than 10,000 cores, more than 1 PiB, a timestamp after
// the year 2261) is skipped and counted by reason; see Source.Skipped. A
// header without a required column, a line longer than MaxLineBytes, or
// more rows than Options.MaxRows is an error naming the file.
//
// # Memory
//
// Samples are held in per-workload columns (time, CPU, memory, GPU
// compute, GPU memory and a resource bitmask): about 25 bytes per Bitbrains
// sample and 25 bytes per GenAI sample. The samples a Source hands out share
// one recommender.ContainerKey per workload.
package replay
