// Package gpu backtests GPU shapes (package recommender/gpushape) on a
// GPU usage trace: it walks forward over each pod, lets each policy decide
// the pod's shape from its past only, scores the window that follows
// against what the pod really used, and packs each window's shapes onto
// GPUs (package gpu/migpack) to count the GPUs the cluster would need. It
// is the GPU half of the backtest; importers name it gpubacktest, since
// the top-level package gpu is the node agent's telemetry.
//
// # The walk
//
// Decision points fall every Options.Interval (1 h) from the trace's
// first sample. At each, for every pod with samples in the window that
// follows, a Policy gets the pod's samples before the decision point, the
// allocation it holds (its previous decision, one whole GPU at first) and
// the GPU, and returns a Decision that holds for the window. Warm-up:
// until a pod has Options.Warmup (1 h) of history from its first sample,
// every policy keeps one whole GPU, the allocation the trace ran on, so
// that no policy sizes from nothing. A GPU shape changes by restarting
// the pod, so policies act at decision points, with one exception: a pod
// that overflows its shape's memory fails and restarts anyway, and a
// policy that reacts to it (OOMReactor: rightsizer's profiles, as its
// controller does; not whole-gpu or kruize) is asked at once, from the
// history up to the overflow, and its new shape holds from the next
// sample to the window's end (Options.NoReactions turns this off).
// Other policies see the overflow at the next decision point, through
// the history, their pod failing meanwhile.
//
// # Scoring
//
// Each sample stands for the time since the pod's previous sample, at
// most two trace steps (one for a pod's first). Per policy:
//
//   - gpu_equivalents: Decision.GPUs (whole GPUs reserved: 1 per GPU, a
//     MIG instance the larger of its memory and compute slice fractions, a
//     share 1/replicas) averaged over each pod's time, summed over pods;
//     one GPU per pod gives the number of pods;
//   - mem_overflow_events: samples whose GPU memory exceeds the shape's
//     memory (Decision.Memory: the MIG instance's measured MiB, the
//     GPU's, or a share's 1/replicas), per sample; a reacting policy's
//     overflow is one sample, a failed restart, where another's lasts
//     until the next decision point;
//   - reactions: reshapes after an overflow within a window, each a
//     restart;
//   - mem_gib_hours: the shape's memory integrated over time;
//   - layout_gpus: per window, the GPUs the running pods' shapes need
//     once packed (MIG profiles and whole GPUs by migpack.Pack under the
//     mixed strategy, MPS and time-slicing shares ⌈n/replicas⌉ per
//     mechanism and replica count), averaged over windows; a window with
//     a reaction counts the shape it ends with.
//
// # Policies
//
//   - Rightsizer: gpushape.Recommend under a rightsizing profile, from an
//     exact summary of the history (UsageOf), hourly memory peaks
//     included, so that each profile sizes memory by its risk per
//     decision window; it reacts to overflows.
//   - WholeGPU: keep one GPU.
//   - Kruize: Kruize's rule, the smallest profile whose memory and SM
//     fractions both hold the P98 of 15-minute peaks (research/gpu.md §4.3).
//
// # The GenAI trace
//
// Load reads Alibaba's cluster-trace-v2026-GenAI (package
// recommender/replay): GPU busy time is the duty cycle over 100, in GPUs,
// one GPU per pod, and GPU memory is in bytes. The trace names no GPU:
// DefaultDevice assumes an H100-80GB, priced from the embedded AWS
// catalog.
//
// Run is pure apart from its goroutines: no clock or I/O.
package gpu
