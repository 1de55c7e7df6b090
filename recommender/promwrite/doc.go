// Package promwrite receives Prometheus remote-write 1.0 requests
// (a snappy-compressed, block format, protobuf prometheus.WriteRequest)
// and feeds the cAdvisor and kube-state-metrics series in them to a
// recommender.Sink: container CPU as a rate of
// container_cpu_usage_seconds_total, working-set memory, the throttled
// fraction of CFS periods, and OOM kills. The mapping of series to samples
// is the one recommender/prombackfill uses for past data, so that live and
// past usage agree; see recommender/internal/promseries for its rules.
//
// Point a Prometheus (or an agent that speaks remote-write 1.0) at it:
//
//	remote_write:
//	  - url: http://rightsizer:8080/api/v1/write
//	    write_relabel_configs:
//	      - source_labels: [__name__]
//	        regex: container_(cpu_usage_seconds|cpu_cfs_(throttled_)?periods)_total|container_memory_working_set_bytes|kube_pod_container_status_(restarts_total|last_terminated_reason)|kube_(pod|replicaset|job)_owner
//	        action: keep
//
// The relabelling is optional (other series are ignored and counted) but
// saves the sender's bandwidth.
//
// Answers follow the specification: 204 when the request was read, even
// if some points were dropped (they are counted, and a retry would not
// help); 400 for a body that is not a snappy-compressed WriteRequest or
// carries the wrong Content-Type or Content-Encoding, with a message
// saying why; 413 when the body or its decoded size exceeds
// Options.MaxDecodedBytes (checked from snappy's length header before
// decoding); 405 for a method other than POST; 415 for remote-write 2.0
// messages; and 500 when the sink fails, so that the sender retries.
// Senders do not retry 4xx answers.
package promwrite
