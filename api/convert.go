package api

import (
	"cmp"
	"slices"
	"time"

	"github.com/rightsizer/rightsizer/api/pbconv"

	"google.golang.org/protobuf/types/known/timestamppb"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
	"github.com/rightsizer/rightsizer/recommender"
)

// Conversions from the engine's types to the API's. They copy; nothing
// returned aliases engine state.

// flagValues maps recommender.Flags bits, in order, to the API's enum.
var flagValues = [...]rightsizerv1.Flag{
	rightsizerv1.Flag_FLAG_INSUFFICIENT_HISTORY,
	rightsizerv1.Flag_FLAG_OOM,
	rightsizerv1.Flag_FLAG_THROTTLED,
	rightsizerv1.Flag_FLAG_CAPPED,
	rightsizerv1.Flag_FLAG_AUTOSCALED,
	rightsizerv1.Flag_FLAG_NO_REQUEST,
}

func flagsOf(f recommender.Flags) []rightsizerv1.Flag {
	var out []rightsizerv1.Flag
	for i, v := range flagValues {
		if f&(1<<i) != 0 {
			out = append(out, v)
		}
	}
	return out
}

// engineFlags converts API flags back to a bit set; unknown values are
// reported as false.
func engineFlags(fs []rightsizerv1.Flag) (recommender.Flags, bool) {
	var out recommender.Flags
	for _, f := range fs {
		i := slices.Index(flagValues[:], f)
		if i < 0 {
			return 0, false
		}
		out |= 1 << i
	}
	return out, true
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func memoryRecommendation(m *recommender.ResourceRecommendation[recommender.Bytes]) *rightsizerv1.MemoryRecommendation {
	return &rightsizerv1.MemoryRecommendation{
		RequestBytes:         int64(m.Request),
		LimitBytes:           int64(m.Limit),
		LowerBoundBytes:      int64(m.LowerBound),
		UpperBoundBytes:      int64(m.UpperBound),
		UncappedRequestBytes: int64(m.Uncapped),
		CurrentRequestBytes:  int64(m.CurrentRequest),
		CurrentLimitBytes:    int64(m.CurrentLimit),
		Percentile:           m.Percentile * 100,
		RiskFraction:         m.Risk,
		OomRiskFraction:      m.OOMRisk,
		Kept:                 m.Kept,
	}
}

// containerRecommendation converts one container's advice.
func containerRecommendation(r *recommender.Recommendation) *rightsizerv1.ContainerRecommendation {
	c := &r.CPU
	out := &rightsizerv1.ContainerRecommendation{
		Container: r.Container,
		Role:      pbconv.Role(r.Role),
		Replicas:  r.Replicas,
		Profile:   r.Profile,
		Cpu: &rightsizerv1.CpuRecommendation{
			RequestMillicores:         int64(c.Request),
			LimitMillicores:           int64(c.Limit),
			LowerBoundMillicores:      int64(c.LowerBound),
			UpperBoundMillicores:      int64(c.UpperBound),
			UncappedRequestMillicores: int64(c.Uncapped),
			LiveRequestMillicores:     int64(cmp.Or(c.Live, c.Request)),
			CurrentRequestMillicores:  int64(c.CurrentRequest),
			CurrentLimitMillicores:    int64(c.CurrentLimit),
			Percentile:                c.Percentile * 100,
			RiskFraction:              c.Risk,
			Kept:                      c.Kept,
		},
		Memory:              memoryRecommendation(&r.Memory),
		Confidence:          r.Confidence,
		FirstSampleTime:     timestamp(r.FirstSample),
		LastSampleTime:      timestamp(r.LastSample),
		Samples:             r.Samples,
		MonthlyCostDeltaUsd: r.MonthlyCostDelta,
		Reason:              r.Reason,
		Flags:               flagsOf(r.Flags),
	}
	if g := r.GPUCompute; g != nil {
		out.GpuCompute = &rightsizerv1.GpuComputeRecommendation{
			RequestGpus:        float64(g.Request),
			LowerBoundGpus:     float64(g.LowerBound),
			UpperBoundGpus:     float64(g.UpperBound),
			CurrentRequestGpus: float64(g.CurrentRequest),
			Percentile:         g.Percentile * 100,
			RiskFraction:       g.Risk,
		}
	}
	if g := r.GPUMemory; g != nil {
		out.GpuMemory = memoryRecommendation(g)
	}
	return out
}

// workloadRecommendation converts the advice for a workload's containers
// (all of one workload, in container order).
func workloadRecommendation(k recommender.WorkloadKey, labels map[string]string, recs []recommender.Recommendation) *rightsizerv1.WorkloadRecommendation {
	out := &rightsizerv1.WorkloadRecommendation{Workload: pbconv.WorkloadRef(k), Labels: labels}
	var flags recommender.Flags
	for i := range recs {
		r := &recs[i]
		out.Containers = append(out.Containers, containerRecommendation(r))
		out.MonthlySavingsUsd -= r.MonthlyCostDelta
		out.MaxRiskFraction = max(out.MaxRiskFraction, r.CPU.Risk)
		flags |= r.Flags
	}
	out.Flags = flagsOf(flags)
	return out
}

func previousRequirements(q *recommender.Requirements) *rightsizerv1.PreviousRequirements {
	return &rightsizerv1.PreviousRequirements{
		CpuRequestMillicores: int64(q.CPURequest),
		CpuLimitMillicores:   int64(q.CPULimit),
		MemoryRequestBytes:   int64(q.MemoryRequest),
		MemoryLimitBytes:     int64(q.MemoryLimit),
		GpuComputeGpus:       float64(q.GPUCompute),
		GpuMemoryBytes:       int64(q.GPUMemory),
	}
}
