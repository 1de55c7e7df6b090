package stream

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	queued, connected              prometheus.Gauge
	sentBatches, sentSamples       prometheus.Counter
	droppedBatches, droppedSamples prometheus.Counter
	rejectedSamples, reconnects    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns, sub = "rightsizer", "agent_stream"
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	m := &metrics{
		queued:          gauge("queued_batches", "Batches waiting to be sent."),
		connected:       gauge("connected", "1 while a usage stream is sending."),
		sentBatches:     counter("sent_batches_total", "Batches sent; a batch sent again after its stream failed counts again."),
		sentSamples:     counter("sent_samples_total", "Usage samples sent."),
		droppedBatches:  counter("dropped_batches_total", "Batches dropped because the queue was full (server slow or down)."),
		droppedSamples:  counter("dropped_samples_total", "Usage samples in dropped batches."),
		rejectedSamples: counter("rejected_samples_total", "Usage samples the server rejected."),
		reconnects:      counter("reconnects_total", "Streams that failed and were reopened."),
	}
	if reg != nil {
		reg.MustRegister(m.queued, m.connected, m.sentBatches, m.sentSamples, m.droppedBatches, m.droppedSamples, m.rejectedSamples, m.reconnects)
	}
	return m
}
