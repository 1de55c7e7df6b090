package metricsapi

import "github.com/prometheus/client_golang/prometheus"

// metrics are the source's Prometheus metrics. With a nil Registerer they
// are created but not registered, so updating them is always safe. Label
// values are fixed sets.
type metrics struct {
	polls           *prometheus.CounterVec // result: ok, error
	samples         prometheus.Counter
	samplesRejected prometheus.Counter
	podsSkipped     *prometheus.CounterVec // reason: unresolved, unchanged, excluded, no_timestamp
	valuesDropped   *prometheus.CounterVec // resource: cpu, memory
	trackedPods     prometheus.Gauge
	pollSeconds     prometheus.Histogram
}

func newMetrics(r prometheus.Registerer) *metrics {
	const ns, sub = "rightsizer", "metricsapi"
	m := &metrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "polls_total",
			Help: "Polls of metrics.k8s.io by result; error when any List failed.",
		}, []string{"result"}),
		samples: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "samples_ingested_total",
			Help: "Container samples the sink recorded.",
		}),
		samplesRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "samples_rejected_total",
			Help: "Container samples the sink rejected.",
		}),
		podsSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "pods_skipped_total",
			Help: "Pod metrics not ingested, by reason: unresolved (the resolver does not know the pod yet), unchanged (timestamp already ingested), excluded (namespace), no_timestamp.",
		}, []string{"reason"}),
		valuesDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "values_dropped_total",
			Help: "Container usage values dropped as invalid (negative), by resource.",
		}, []string{"resource"}),
		trackedPods: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "tracked_pods",
			Help: "Pods whose last ingested timestamp is remembered.",
		}),
		pollSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "poll_duration_seconds",
			Help:    "Time of one poll, all namespaces and pages, ingestion included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 8),
		}),
	}
	for _, v := range []string{"ok", "error"} {
		m.polls.WithLabelValues(v)
	}
	for _, v := range []string{"unresolved", "unchanged", "excluded", "no_timestamp"} {
		m.podsSkipped.WithLabelValues(v)
	}
	for _, v := range []string{"cpu", "memory"} {
		m.valuesDropped.WithLabelValues(v)
	}
	if r != nil {
		r.MustRegister(m.polls, m.samples, m.samplesRejected, m.podsSkipped, m.valuesDropped, m.trackedPods, m.pollSeconds)
	}
	return m
}
