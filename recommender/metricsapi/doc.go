// Package metricsapi feeds the recommender from the Kubernetes resource
// metrics API (metrics.k8s.io/v1beta1, served by metrics-server), for
// clusters that have it and no Prometheus.
//
// A Source lists PodMetrics every Interval (30 s by default), one List per
// namespace when namespaces are given and one for the whole cluster
// otherwise, following continue tokens page by page. Each pod is resolved
// to its workload through a recommender.PodResolver (Kubernetes discovery
// implements one from its informers); each container becomes one
// recommender.Sample at the metrics' timestamp, with CPU in millicores
// (the API already reports a rate over its window) and working-set memory
// in bytes. The timestamp of the metrics ingested is remembered per pod,
// so a poll that finds metrics-server's numbers unchanged ingests nothing;
// pods no longer listed are forgotten.
//
// Compared with Prometheus remote-write (recommender/promwrite), the API
// has no CPU throttling, no OOM kills and no history: one sample per
// container per metrics-server scrape, from the moment the source starts.
//
// RBAC: list pods in group metrics.k8s.io.
package metricsapi
