package stream

import (
	"github.com/rightsizer/rightsizer/api/pbconv"
	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
	"github.com/rightsizer/rightsizer/recommender"
)

// encoder turns batches into IngestUsageRequests for one stream. The
// server keeps a list of containers per stream, so each container is
// declared the first time the stream reports it and named by its index
// after that; a new stream starts a new list. Not safe for concurrent use.
type encoder struct {
	index map[recommender.ContainerKey]uint32
}

func newEncoder() *encoder { return &encoder{index: map[recommender.ContainerKey]uint32{}} }

// ref returns k's index, declaring k in req when the stream has not yet.
func (e *encoder) ref(req *rightsizerv1.IngestUsageRequest, k recommender.ContainerKey) uint32 {
	if i, ok := e.index[k]; ok {
		return i
	}
	i := uint32(len(e.index))
	e.index[k] = i
	req.Containers = append(req.Containers, pbconv.ContainerRef(k))
	return i
}

func (e *encoder) encode(b *Batch) *rightsizerv1.IngestUsageRequest {
	req := &rightsizerv1.IngestUsageRequest{
		Samples: make([]*rightsizerv1.UsageSample, 0, len(b.Samples)),
	}
	for i := range b.Samples {
		s := &b.Samples[i]
		p := &rightsizerv1.UsageSample{ContainerIndex: e.ref(req, s.Key), TimeUnixMillis: s.Time.UnixMilli()}
		u := &s.Usage
		if u.Has.Has(recommender.ResourceCPU) {
			p.CpuCores = new(u.CPU.Cores())
		}
		if u.Has.Has(recommender.ResourceMemory) {
			p.MemoryBytes = new(int64(u.Memory))
		}
		if u.Has.Has(recommender.ResourceGPUCompute) {
			p.GpuComputeGpus = new(float64(u.GPUCompute))
		}
		if u.Has.Has(recommender.ResourceGPUMemory) {
			p.GpuMemoryBytes = new(int64(u.GPUMemory))
		}
		if u.HasThrottling {
			p.ThrottledFraction = new(u.ThrottledFraction)
		}
		req.Samples = append(req.Samples, p)
	}
	for i := range b.OOMs {
		ev := &b.OOMs[i]
		req.OomEvents = append(req.OomEvents, &rightsizerv1.OomEvent{
			ContainerIndex: e.ref(req, ev.Key), TimeUnixMillis: ev.Time.UnixMilli(),
			LimitBytes: int64(ev.Limit), UsageBytes: int64(ev.Usage),
		})
	}
	for i := range b.Workloads {
		req.Workloads = append(req.Workloads, pbconv.Workload(&b.Workloads[i]))
	}
	return req
}
