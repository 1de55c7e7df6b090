package promseries

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the counters of a mapping, shared by the receiver and the
// backfill under their own subsystem (rightsizer_<subsystem>_…). With a
// nil Registerer they are created but not registered, so updating them is
// always safe. Safe for concurrent use.
type Metrics struct {
	series, points, ignored, stale, evicted prometheus.Counter
	dropped, samples, ooms                  *prometheus.CounterVec
}

// NewMetrics creates the counters and registers them on r, if not nil.
func NewMetrics(r prometheus.Registerer, subsystem string) *Metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "rightsizer", Subsystem: subsystem, Name: name, Help: help})
	}
	vec := func(name, help, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "rightsizer", Subsystem: subsystem, Name: name, Help: help}, []string{label})
	}
	m := &Metrics{
		series:  counter("series_total", "Series received."),
		points:  counter("points_total", "Points (Prometheus samples) received."),
		ignored: counter("ignored_series_total", "Series of metrics, containers or reasons that the mapping does not use."),
		stale:   counter("stale_markers_total", "Staleness markers received (a series ended)."),
		evicted: counter("evicted_state_total", "Per-series state entries evicted to stay within the configured bounds."),
		dropped: vec("dropped_points_total", "Points dropped, by reason: invalid_value (NaN, Inf, negative), invalid_time, invalid_labels (the recommender's key rules), out_of_order, unresolved (owner unknown during warm-up).", "reason"),
		samples: vec("samples_total", "Usage samples handed to the recommender, by result (ingested, rejected).", "result"),
		ooms:    vec("oom_kills_total", "OOM kills handed to the recommender, by result (recorded, rejected).", "result"),
	}
	for r := range NumDropReasons {
		m.dropped.WithLabelValues(r.String())
	}
	m.samples.WithLabelValues("ingested")
	m.samples.WithLabelValues("rejected")
	m.ooms.WithLabelValues("recorded")
	m.ooms.WithLabelValues("rejected")
	if r != nil {
		r.MustRegister(m.series, m.points, m.ignored, m.stale, m.evicted, m.dropped, m.samples, m.ooms)
	}
	return m
}

// Observe adds a Map call's stats.
func (m *Metrics) Observe(s *Stats) {
	m.series.Add(float64(s.Series))
	m.points.Add(float64(s.Points))
	m.ignored.Add(float64(s.Ignored))
	m.stale.Add(float64(s.Stale))
	m.evicted.Add(float64(s.Evicted))
	for r, n := range s.Dropped {
		if n > 0 {
			m.dropped.WithLabelValues(DropReason(r).String()).Add(float64(n))
		}
	}
}

// Handed counts samples and OOM kills given to the sink and how many of
// each it rejected.
func (m *Metrics) Handed(samples, samplesRejected, ooms, oomsRejected int) {
	m.samples.WithLabelValues("ingested").Add(float64(samples - samplesRejected))
	m.samples.WithLabelValues("rejected").Add(float64(samplesRejected))
	m.ooms.WithLabelValues("recorded").Add(float64(ooms - oomsRejected))
	m.ooms.WithLabelValues("rejected").Add(float64(oomsRejected))
}
