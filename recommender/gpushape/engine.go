package gpushape

import (
	"math"
	"slices"

	"github.com/rightsizer/rightsizer/recommender"
)

// UsageFromEngine turns the engine's GPU history of a container
// (recommender.Engine.GPUUsage) into a Usage: its per-window memory peaks
// (so that Policy.MemoryRisk sizes memory by risk), their largest as
// MemoryMax, busy time at the engine's quantiles up to its P99.9, the
// hours between the first and last sample, and IdleFraction: the share of
// its recent samples that p.IdleSample would count idle on an allocation
// of capacity current (the one the container has now), as the engine's
// histogram resolves it (recommender.GPUUsage.IdleFraction).
func UsageFromEngine(g recommender.GPUUsage, p Policy, current Capacity) Usage {
	var u Usage
	if len(g.MemoryPeaks) > 0 {
		u.MemoryPeaks, u.MemoryMax = slices.Clone(g.MemoryPeaks), slices.Max(g.MemoryPeaks)
	}
	if len(g.Compute) > 0 {
		u.Compute = slices.Clone(g.Compute)
		u.ComputeMax = max(g.ComputeMax, g.Compute[len(g.Compute)-1].Value)
	}
	u.IdleFraction = g.IdleFraction(recommender.GPUCompute(p.IdleUtilization*float64(current.Compute)),
		recommender.Bytes(p.IdleMemorySlack*float64(current.Memory)))
	if len(u.MemoryPeaks) > 0 || len(u.Compute) > 0 {
		// At least a moment: a single sample is still usage seen.
		u.Hours = math.Max(g.Last.Sub(g.First).Hours(), 1.0/3600)
	}
	return u
}

// UsageFromRecommendation derives a Usage from what the engine's
// Recommendation carries, for callers that have neither the engine nor a
// richer summary (UsageFromEngine).
// p must be the profile the recommendation was computed under (its
// Profile field names it). It recovers:
//
//   - MemoryMax from GPUMemory.Request, which the engine sets to the
//     largest per-window peak × (1 + p.GPU.MemoryMargin): divided back,
//     within a byte;
//   - one compute quantile, at GPUCompute.Percentile, from
//     GPUCompute.Request = P × (1 + p.GPU.ComputeMargin). ComputeAt holds
//     it for every percentile (the engine keeps no maximum in the
//     recommendation), so a policy's percentile different from the
//     profile's reads the profile's;
//   - Hours from the recommendation's history.
//
// IdleFraction stays 0 (a recommendation does not say how much of the
// time was idle; UsageFromEngine does), so no shape from it is flagged
// idle. Memory or compute the engine kept at the
// current request (no usage seen) is left out: no GPU usage at all gives
// Hours 0, and Recommend keeps the current allocation.
func UsageFromRecommendation(r *recommender.Recommendation, p recommender.Profile) Usage {
	var u Usage
	seen := false
	if m := r.GPUMemory; m != nil && !m.Kept {
		u.MemoryMax = recommender.Bytes(math.Floor(float64(m.Request) / (1 + p.GPU.MemoryMargin)))
		seen = true
	}
	if c := r.GPUCompute; c != nil && !c.Kept && c.Percentile > 0 && c.Percentile <= 1 {
		v := float64(c.Request) / (1 + p.GPU.ComputeMargin)
		if finite(v) && v >= 0 {
			u.Compute = []Quantile{{Q: c.Percentile, Value: recommender.GPUCompute(v)}}
			seen = true
		}
	}
	if seen {
		// At least a moment: a single sample is still usage seen.
		u.Hours = math.Max(r.History().Hours(), 1.0/3600)
	}
	return u
}
