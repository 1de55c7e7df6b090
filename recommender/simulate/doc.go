// Package simulate generates the resource usage of a realistic Kubernetes
// cluster on a virtual clock, deterministically and far faster than real
// time. It is the default usage source of `rightsizer recommend --demo` and
// of the demo server, so the rest of rightsizer can run with no cluster.
//
// A [Cluster] is plain data: workloads, each with replicas and containers,
// each container with its requests and limits and a usage [Model] made of an
// [Archetype] (steady, diurnal, bursty, leaking, batch, gpu-inference) and a
// few parameters. [DefaultCluster] builds a mixed, over-provisioned cluster
// of 51 workloads and about 240 running containers, with the usual
// exceptions: a leaking service that is OOM-killed every day or two, a
// CPU-limited service that is throttled at its daily peak, containers with
// no requests, and GPU inference servers that use a fraction of the GPUs
// they request.
//
// A [Simulator] implements [recommender.UsageSource]. Run first upserts
// every workload into the sink, then advances the virtual clock by
// Options.Step at a time and, at each step, records the OOM kills of that
// step and ingests one batch with one sample per running replica and
// container. Samples carry the container key without the pod: the replicas
// of a workload share it. A sample at time t describes the step (t-Step, t],
// as metrics-server's do.
//
// Lifecycle. Every long-running pod starts at Options.Start, as after a
// deploy: its init containers run first, one after the other, for their
// Runtime each; native sidecars run from the pod's start; app containers
// start when the last init container is done. A workload with a
// RolloutEvery restarts its replicas one step apart at random (exponential)
// intervals; a CronJob's pods exist only while a run is active. A container
// whose memory reaches its limit is OOM-killed and restarts in place with a
// fresh working set; its pod and init containers do not rerun.
//
// Limits. CPU demand above a CPU limit is served at the limit and reported
// as throttling: Usage.ThrottledFraction = 1 − limit/demand, the share of
// demanded CPU time refused, standing in for the share of CFS periods
// throttled. Every sample of a container with a CPU limit has
// HasThrottling set (with a zero fraction when demand fits); containers
// without one never do. A kill is recorded with OOMEvent.Limit and
// OOMEvent.Usage both equal to the memory limit (the working set at the
// kill), before the batch of its step, whose sample for that replica
// already shows the restarted process.
//
// Determinism. The sample stream is a pure function of the Cluster and of
// Options.Seed, Start, Step and Duration: each replica of each container
// draws from its own random stream, keyed by the seed and by its name, so
// adding a workload does not change the others. Pacing (Speed, Clock) never
// changes the values; a paced run that falls behind its clock catches up
// without waiting. Each Run replays the stream from Start.
//
// Units are those of package recommender: CPU in millicores, memory in
// bytes, GPU compute in GPUs busy, GPU memory in bytes. Times of day are UTC.
package simulate
