package recommender

import "github.com/prometheus/client_golang/prometheus"

// engineMetrics are the engine's Prometheus metrics. With a nil
// Registerer they are created but not registered, so updating them is
// always safe and costs an atomic add.
type engineMetrics struct {
	samples       prometheus.Counter
	rejected      prometheus.Counter
	ooms          prometheus.Counter
	notifications prometheus.Counter
	checkpoints   *prometheus.CounterVec
	ckptSeconds   prometheus.Histogram
	ckptRecords   prometheus.Counter
}

const metricsNamespace = "rightsizer"

func newEngineMetrics(r prometheus.Registerer, e *Engine) *engineMetrics {
	m := &engineMetrics{
		samples: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: "engine", Name: "samples_ingested_total",
			Help: "Usage samples recorded.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: "engine", Name: "samples_rejected_total",
			Help: "Usage samples rejected as invalid (NaN, negative, bad key or time, too many containers).",
		}),
		ooms: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: "engine", Name: "oom_events_total",
			Help: "OOM kills recorded.",
		}),
		notifications: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: "engine", Name: "notifications_total",
			Help: "Recommendation changes delivered to subscribers.",
		}),
		checkpoints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: "engine", Name: "checkpoints_total",
			Help: "Checkpoint writes by result.",
		}, []string{"result"}),
		ckptSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Subsystem: "engine", Name: "checkpoint_duration_seconds",
			Help:    "Time to write a checkpoint.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		ckptRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Subsystem: "engine", Name: "checkpoint_records_written_total",
			Help: "Container and workload records written to checkpoints.",
		}),
	}
	if r != nil {
		containers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: metricsNamespace, Subsystem: "engine", Name: "containers",
			Help: "Containers with usage state.",
		}, func() float64 { return float64(e.Len()) })
		r.MustRegister(m.samples, m.rejected, m.ooms, m.notifications, m.checkpoints, m.ckptSeconds, m.ckptRecords, containers)
	}
	return m
}

func (m *engineMetrics) ingested(ok, rejected int) {
	if ok > 0 {
		m.samples.Add(float64(ok))
	}
	if rejected > 0 {
		m.rejected.Add(float64(rejected))
	}
}
