package backtest

import (
	"errors"
	"strings"

	"github.com/rightsizer/rightsizer/recommender"
)

// gpuMemoryPerGPU is the memory of the GPU the GenAI trace is assumed to
// run on (an H100-80GB).
const gpuMemoryPerGPU = 80 * recommender.GiB

// Cost returns a score's list price in USD over the scored period, at
// rightsizer's default prices. CPU and RAM cost per core-hour and
// GiB-hour. A GPU shape pays for the larger of its compute share and its
// memory share of a GPU, so GPU data costs, per workload, the larger of
// its GPU-hours and its GPU memory in GPU-hours. The memory-fraction
// dataset has no price: its cost is limit-hours.
func Cost(d *Dataset, s *Score) float64 {
	p := recommender.DefaultPrices()
	switch {
	case d.ComputeIsGPU:
		usd := 0.0
		for _, w := range s.PerWorkload {
			usd += max(w.CPUCoreHours, w.MemGiBHours/gpuMemoryPerGPU.GiB()) * p.GPUHour
		}
		return usd
	case !d.HasCompute:
		return s.MemGiBHours
	}
	return s.CPUCoreHours*p.CoreHour + s.MemGiBHours*p.GiBHour
}

// Risk returns the risk a plot shows: the share of samples whose CPU
// usage exceeded the request, or OOM kills per workload-day where memory
// is the hard constraint: GPU memory (a full GPU fails the workload, while
// GPU busy time above a share only slows it) or a trace with no compute.
func Risk(d *Dataset, s *Score) float64 {
	if d.MemoryIsGPU || !d.HasCompute {
		return s.OOMPerWorkloadDay
	}
	return s.CPUOverFrac
}

// SaveResultPlot draws a result's cost against risk to a PNG.
func SaveResultPlot(path string, r Result, fs []Factory) error {
	if r.ds == nil {
		return errors.New("plot: the result has no dataset (make it with NewResult)")
	}
	baseline := map[string]bool{}
	for _, f := range fs {
		baseline[f.Name] = f.Baseline
	}
	spec := PlotSpec{Title: r.heading(), CostLabel: "list price over the period (USD)", RiskLabel: "share of samples with usage above the request"}
	switch {
	case r.ds.MemoryIsGPU:
		spec.CostLabel = "GPU cost over the period (USD, GPU-hours of the larger of compute and memory share)"
		spec.RiskLabel, spec.LogY = "GPU memory OOM kills per workload-day", true
	case !r.ds.HasCompute:
		spec.CostLabel, spec.RiskLabel, spec.LogY = "requested memory (hours of each pod's limit)", "OOM kills per workload-day", true
	}
	for i := range r.Scores {
		s := &r.Scores[i]
		kind := KindProfile
		switch {
		case baseline[s.Policy]:
			kind = KindBaseline
		case strings.HasPrefix(s.Policy, "budget-"):
			kind = KindBudget
		}
		spec.Points = append(spec.Points, PlotPoint{Policy: s.Policy, Kind: kind, Cost: Cost(r.ds, s), Risk: Risk(r.ds, s)})
	}
	return SavePlot(path, spec)
}
