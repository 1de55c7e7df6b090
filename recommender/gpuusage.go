package recommender

import (
	"fmt"
	"slices"
	"time"
)

// GPUUsage is a container's GPU history as the engine keeps it: what a GPU
// shape is chosen from (package gpushape), richer than the one request a
// Recommendation carries.
type GPUUsage struct {
	// MemoryPeaks are the largest GPU memory in use in each peak window
	// (the profile's PeakInterval, up to its window count), oldest first;
	// windows without samples are left out. The last is the newest window,
	// which may still be in progress.
	MemoryPeaks []Bytes
	// Compute is GPU busy time, in GPUs, at GPUComputeQuantiles of the
	// decayed samples, ascending; empty when no busy time was seen.
	Compute []GPUQuantile
	// ComputeMax is busy time at the P99.9, the robust "highest" of the
	// sketch (see peakQuantile); 0 when none was seen.
	ComputeMax GPUCompute
	// First and Last are the times of the container's first and last
	// sample, of any resource.
	First, Last time.Time
	// MemoryBaseline is the GPU memory the container holds when it does
	// nothing (model weights, CUDA context): the least memory of its
	// recent samples with both compute and memory; 0 without such samples.
	MemoryBaseline Bytes

	idle gpuIdle // a copy of the container's
}

// IdleFraction returns the share (0–1) of the container's recent samples
// with both GPU compute and memory in which compute was under
// computeBelow and memory at most memorySlack above MemoryBaseline: the
// share of time a GPU allocation was idle, for an allocation of which
// computeBelow and memorySlack are the idle thresholds (gpushape's
// Policy.IdleSample). Samples are weighted by the profile's half-life, as
// the engine's sketches are, so it describes recent days. It errs low by
// at most the resolution of the engine's histogram (19 % of compute, 6 %
// of memory); 0 without samples.
func (u *GPUUsage) IdleFraction(computeBelow GPUCompute, memorySlack Bytes) float64 {
	return u.idle.idleFraction(computeBelow, memorySlack)
}

// GPUQuantile is one point of a GPU busy-time distribution: Q of the
// (decayed) samples were at or below Value.
type GPUQuantile struct {
	// Q is in (0, 1].
	Q float64 `json:"q"`
	// Value is GPU busy time in GPUs.
	Value GPUCompute `json:"value"`
}

// GPUComputeQuantiles are the quantiles GPUUsage.Compute reports: those
// the GPU profiles use (P60 cost, P90 balanced, P98 performance) and their
// neighbours.
var GPUComputeQuantiles = [...]float64{0.5, 0.6, 0.9, 0.95, 0.98, 0.99}

// GPUUsage returns container k's GPU history. ErrNotFound if the engine
// has seen no GPU usage of it. It takes k's stripe lock for a few
// microseconds.
func (e *Engine) GPUUsage(k ContainerKey) (GPUUsage, error) {
	st, h := e.locate(&k)
	st.mu.Lock()
	defer st.mu.Unlock()
	cs := st.get(h, &k)
	if cs == nil || cs.gpu == nil {
		return GPUUsage{}, fmt.Errorf("GPU usage of container %s: %w", k, ErrNotFound)
	}
	g := cs.gpu
	u := GPUUsage{First: time.Unix(0, cs.first).UTC(), Last: time.Unix(0, cs.last).UTC()}
	u.MemoryPeaks = g.memPeaks.values(nil)
	u.idle, u.MemoryBaseline = g.idle.clone(), g.idle.baseline()
	slices.Reverse(u.MemoryPeaks) // values lists the newest first
	if !g.compute.Empty() {
		for _, q := range GPUComputeQuantiles {
			u.Compute = append(u.Compute, GPUQuantile{Q: q, Value: GPUCompute(percentileEstimator{q}.estimate(&g.compute))})
		}
		u.ComputeMax = GPUCompute(percentileEstimator{peakQuantile}.estimate(&g.compute))
	}
	return u, nil
}
