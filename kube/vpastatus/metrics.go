package vpastatus

import "github.com/prometheus/client_golang/prometheus"

// metrics are the writer's Prometheus metrics. With a nil Registerer they
// are created but not registered, so updating them is always safe.
type metrics struct {
	// syncs counts VPA evaluations by result: written, unchanged, error.
	syncs        *prometheus.CounterVec
	writeSeconds prometheus.Histogram
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rightsizer", Subsystem: "vpastatus", Name: "syncs_total",
			Help: "Evaluations of VPAs that name rightsizer, by result: written, unchanged (no write), error.",
		}, []string{"result"}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "rightsizer", Subsystem: "vpastatus", Name: "write_duration_seconds",
			Help:    "Time of one VPA status patch, excluding the wait for the rate limiter.",
			Buckets: prometheus.ExponentialBuckets(0.002, 4, 8),
		}),
	}
	for _, r := range []string{"written", "unchanged", "error"} {
		m.syncs.WithLabelValues(r) // export zeros, so rates work from the start
	}
	if r != nil {
		r.MustRegister(m.syncs, m.writeSeconds)
	}
	return m
}
