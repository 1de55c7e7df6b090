package cgroup

import "github.com/prometheus/client_golang/prometheus"

// collector exports a Reader's counters as Prometheus metrics. It reads
// the same atomics as Stats, so Read pays nothing for metrics.
type collector struct{ s *counters }

const metricsNamespace, metricsSubsystem = "rightsizer", "agent_cgroup"

var (
	descRounds = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "rounds_total"),
		"Rounds read.", nil, nil)
	descScans = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "scans_total"),
		"Directory scans for container cgroups.", nil, nil)
	descScanErrors = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "scan_errors_total"),
		"Scans that could not list the cgroup root.", nil, nil)
	descVanished = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "vanished_total"),
		"Container cgroups that disappeared between a scan and a read.", nil, nil)
	descFileErrors = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "file_errors_total"),
		"Cgroup interface files that could not be read or parsed, by file name.", []string{"file"}, nil)
	descContainers = prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, "containers"),
		"Container cgroups known.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRounds, descScans, descScanErrors, descVanished, descFileErrors, descContainers} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descRounds, c.s.rounds.Load())
	counter(descScans, c.s.scans.Load())
	counter(descScanErrors, c.s.scanErrors.Load())
	counter(descVanished, c.s.vanished.Load())
	for f := range numFiles {
		counter(descFileErrors, c.s.fileErrors[f].Load(), fileNames[f])
	}
	ch <- prometheus.MustNewConstMetric(descContainers, prometheus.GaugeValue, float64(c.s.containers.Load()))
}
