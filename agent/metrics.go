package agent

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	rounds, samples, unresolved prometheus.Counter
	gpuErrors, deviceErrors     prometheus.Counter
	holderAttributed            prometheus.Counter
	roundSeconds                prometheus.Histogram
	idle                        *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns, sub = "rightsizer", "agent"
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	m := &metrics{
		rounds:           counter("rounds_total", "Collection rounds."),
		samples:          counter("samples_total", "Usage samples made."),
		unresolved:       counter("unresolved_readings_total", "Readings of a cgroup or GPU process whose pod and container the resolver did not know (pod sandboxes, pods not yet seen)."),
		gpuErrors:        counter("gpu_errors_total", "Rounds in which the GPU collector failed."),
		deviceErrors:     counter("podresources_errors_total", "Rounds in which the kubelet's pod-resources API failed."),
		holderAttributed: counter("gpu_holder_attributions_total", "Device readings attributed to the device's only holder because NVML showed no processes."),
		roundSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "round_seconds",
			Help: "Time one round takes.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12)}),
		idle: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "idle_devices",
			Help: "Devices the kubelet can allocate that no container holds, by resource name."}, []string{"resource"}),
	}
	if reg != nil {
		reg.MustRegister(m.rounds, m.samples, m.unresolved, m.gpuErrors, m.deviceErrors, m.holderAttributed, m.roundSeconds, m.idle)
	}
	return m
}
