package recommender

import "context"

// Sink receives what a UsageSource observes. The Engine implements it.
// Implementations are safe for concurrent use.
type Sink interface {
	// Ingest records usage samples. A sample that fails validation is
	// rejected on its own; the rest of the batch is still recorded. The
	// error, if any, is an *IngestError listing the rejected samples.
	// Ingest does not retain the slice.
	Ingest(samples []Sample) error
	// RecordOOM records an OOM kill or a memory-pressure eviction.
	RecordOOM(ev OOMEvent) error
	// UpsertWorkload adds or replaces a workload in the inventory.
	UpsertWorkload(w Workload) error
}

// UsageSource is anything that feeds a Sink: a trace replay, the simulator,
// metrics.k8s.io, Prometheus remote-write, the node agent's stream.
type UsageSource interface {
	// Run feeds sink until the source is exhausted (returning nil) or ctx
	// is cancelled (returning ctx.Err()).
	Run(ctx context.Context, sink Sink) error
}

// PodResolver maps a running pod to the workload it rolls up to. Sources
// that see pods rather than workloads (metrics.k8s.io, Prometheus series,
// the node agent) resolve through it; Kubernetes discovery implements it
// from its informers' caches. Implementations are safe for concurrent use
// and must not call the API server per lookup.
type PodResolver interface {
	// WorkloadOf returns the owning workload of namespace/pod, or false
	// when the pod is not (yet) known.
	WorkloadOf(namespace, pod string) (WorkloadKey, bool)
}
