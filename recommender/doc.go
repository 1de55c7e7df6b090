// Package recommender is rightsizer's streaming recommendation engine: it
// turns a stream of usage samples into request and limit recommendations.
//
// The flow, per container (all replicas of one container share a state,
// keyed by cluster/namespace/kind/name/container):
//
//	Sample ──► containerState ──► estimator chain ──► Recommendation
//	           CPU sketch          percentile → margin → floor/cap
//	           memory sketch       bounds from the rank's uncertainty
//	           daily memory peaks  risk = 1 − CDF(request)
//	           OOM kills, throttling
//
// Usage goes into decaying quantile sketches (package sketch: 1 % relative
// error, a half-life per profile), so recent behaviour counts most and
// memory stays bounded whatever the history. Memory also keeps the peak of
// each window (VPA's daily peaks), because memory is incompressible: the
// request comes from the distribution, the limit from the peaks. OOM kills
// raise the limit from what was observed at the kill, never from an
// earlier bump, so the bump cannot feed on itself. Throttling marks CPU
// usage as censored at its limit.
//
// A Policy maps each workload to a Profile (cost, balanced, performance,
// or one a policy file defines, with per-namespace and per-workload
// overrides). Estimation is a pure function of a state, a profile and the
// inventory's current requests: no clock, no I/O, so it is the same in the
// live server, the replay and the backtest.
//
// The Engine holds the states in lock stripes keyed by a hash of the
// container key: ingest from many goroutines, queries (one container, a
// workload, a namespace, everything), subscriptions that hear within a
// second that a recommendation moved, and crash-safe checkpoints to a bbolt
// file (package checkpoint). Sources that feed it (trace replay, the
// simulator, and later Kubernetes and the node agent) implement
// UsageSource and write to a Sink.
package recommender
