// Package promseries maps Prometheus series of cAdvisor and
// kube-state-metrics to recommender samples, OOM events and workload keys.
// The remote-write receiver (recommender/promwrite) and the PromQL
// backfill (recommender/prombackfill) share it, so that live and past
// usage of the same data map to the same samples.
//
// What it reads:
//
//   - container_cpu_usage_seconds_total: a counter; its increase over the
//     interval between two points, divided by that interval, is the CPU
//     sample (cores, rounded to millicores). A decrease is a counter reset:
//     the counter restarted from zero, as PromQL's rate() assumes.
//   - container_memory_working_set_bytes: a gauge, the memory sample.
//   - container_cpu_cfs_throttled_periods_total over
//     container_cpu_cfs_periods_total, both increases over the same
//     interval: the throttled fraction.
//   - kube_pod_container_status_restarts_total rising at the same
//     timestamp (the same kube-state-metrics scrape) at which
//     kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}
//     is 1: an OOM kill. The reason series alone stays at 1 until the next
//     termination, so it cannot count kills (kube-state-metrics #2153); the
//     restart count alone cannot say why the container died.
//   - kube_pod_owner, kube_replicaset_owner and kube_job_owner: who owns a
//     pod, a ReplicaSet and a Job, so that a pod rolls up to its Deployment
//     or CronJob the way KRR does.
//
// The cAdvisor series of one container instance (one scrape target, one
// cgroup) share every label but __name__ (and cpu="total" on old cAdvisor
// versions), and one scrape stamps them with one timestamp. The Mapper
// joins the CPU, memory and throttling points of an instance that share a
// timestamp into one recommender.Sample, as the node agent and the
// simulator send them, so that a sample counts one observation whatever
// the source. Series of the pod cgroup (container "" or "POD") and
// per-CPU series are skipped.
//
// A pod resolves to its workload through, in order: a
// recommender.PodResolver (Kubernetes discovery), ownership learned from
// the stream, and otherwise a bare "Pod" workload. While ownership is
// still being learned (Options.OwnerWarmup) an unknown pod's points are
// dropped rather than keyed to a bare Pod that would live on in the engine
// beside the real workload.
//
// All state (previous counter values, pending joins, owners) is bounded
// by Options.MaxInstances and Options.MaxOwners: entries not seen for
// Options.StaleAfter go first, then arbitrary ones.
package promseries
