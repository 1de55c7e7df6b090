package api

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"k8s.io/apimachinery/pkg/util/validation"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
	"github.com/rightsizer/rightsizer/recommender"
)

// Limits on what one ingest stream may carry, beyond the message size.
const (
	// MaxLabels bounds a workload's labels (Kubernetes has no limit; a
	// flood of labels is an attack on memory, not a real workload).
	MaxLabels = 64
	// maxContainersPerWorkload bounds a workload's container specs.
	maxContainersPerWorkload = 64
	// maxRejections bounds the rejections reported per stream.
	maxRejections = 100
	// MaxStreamContainers bounds the containers one ingest stream declares
	// (about 200 bytes each, held until the stream ends).
	MaxStreamContainers = 100_000
)

// ingestStream is the state of one IngestUsage call: the containers the
// stream has declared, and buffers reused across its batches.
type ingestStream struct {
	s       *services
	client  string
	resp    rightsizerv1.IngestUsageResponse
	batch   int64
	keys    []recommender.ContainerKey
	keyErrs []error
	samples []recommender.Sample
	index   []int32 // samples[i] came from the batch's sample index[i]
}

// IngestUsage records a client stream of batches (see the proto). A bad
// sample, event or workload is rejected alone; a batch is rejected whole
// only when its rate-limit wait would exceed the server's bound.
func (s *services) IngestUsage(stream grpc.ClientStreamingServer[rightsizerv1.IngestUsageRequest, rightsizerv1.IngestUsageResponse]) error {
	ctx := stream.Context()
	st := &ingestStream{s: s, client: clientName(ctx)}
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&st.resp)
		}
		if err != nil {
			return err
		}
		n := len(req.GetSamples())
		if err := s.limiter.Wait(ctx, st.client, n); err != nil {
			if errors.Is(err, ErrRateLimited) {
				st.reject("batch", 0, fmt.Sprintf("%d samples: %v", n, err))
				st.resp.RejectedSamples += int64(n)
				s.metrics.rejected.WithLabelValues("rate_limited").Add(float64(n))
				st.batch++
				continue
			}
			return toStatus(err)
		}
		st.ingest(req)
		st.batch++
	}
}

func (st *ingestStream) reject(item string, i int, why string) {
	if len(st.resp.Rejections) < maxRejections {
		st.resp.Rejections = append(st.resp.Rejections, &rightsizerv1.Rejection{BatchIndex: st.batch, Item: item, ItemIndex: int64(i), Reason: why})
	}
}

// ingest records one batch: workloads first (so that this batch's samples
// meet their inventory), then OOM events, then samples.
func (st *ingestStream) ingest(req *rightsizerv1.IngestUsageRequest) {
	e := st.s.engine
	for i, w := range req.GetWorkloads() {
		wl, err := workloadOf(w)
		if err == nil {
			err = e.UpsertWorkload(wl)
		}
		if err != nil {
			st.resp.RejectedWorkloads++
			st.reject("workload", i, err.Error())
			continue
		}
		st.resp.AcceptedWorkloads++
	}
	for i, c := range req.GetContainers() {
		if len(st.keys) == MaxStreamContainers {
			st.reject("container", i, fmt.Sprintf("the stream already declared %d containers: open another stream", MaxStreamContainers))
			continue
		}
		k := containerKey(c)
		st.keys = append(st.keys, k)
		st.keyErrs = append(st.keyErrs, k.Validate())
	}
	key := func(i uint32) (recommender.ContainerKey, error) {
		if int(i) >= len(st.keys) {
			return recommender.ContainerKey{}, fmt.Errorf("container_index %d is out of range: the stream has declared %d containers", i, len(st.keys))
		}
		return st.keys[i], st.keyErrs[i]
	}
	for i, ev := range req.GetOomEvents() {
		k, err := key(ev.GetContainerIndex())
		if err == nil {
			err = oomCheck(ev)
		}
		if err == nil {
			err = e.RecordOOM(recommender.OOMEvent{Key: k, Time: time.UnixMilli(ev.GetTimeUnixMillis()),
				Limit: recommender.Bytes(ev.GetLimitBytes()), Usage: recommender.Bytes(ev.GetUsageBytes())})
		}
		if err != nil {
			st.resp.RejectedOomEvents++
			st.reject("oom_event", i, err.Error())
			continue
		}
		st.resp.AcceptedOomEvents++
	}
	st.samples, st.index = st.samples[:0], st.index[:0]
	rejected := 0
	for i, p := range req.GetSamples() {
		k, err := key(p.GetContainerIndex())
		if err != nil {
			rejected++
			st.reject("sample", i, err.Error())
			continue
		}
		u, err := usageOf(p)
		if err != nil {
			rejected++
			st.reject("sample", i, err.Error())
			continue
		}
		st.samples = append(st.samples, recommender.Sample{Key: k, Time: time.UnixMilli(p.GetTimeUnixMillis()), Usage: u})
		st.index = append(st.index, int32(i))
	}
	if len(st.samples) > 0 {
		err := e.Ingest(st.samples)
		var ie *recommender.IngestError
		switch {
		case errors.As(err, &ie):
			rejected += ie.Rejected
			for _, se := range ie.Samples {
				st.reject("sample", int(st.index[se.Index]), se.Err.Error())
			}
		case err != nil: // not expected from the engine, but lose nothing silently
			rejected += len(st.samples)
			st.reject("batch", 0, err.Error())
		}
	}
	accepted := len(req.GetSamples()) - rejected
	st.resp.AcceptedSamples += int64(accepted)
	st.resp.RejectedSamples += int64(rejected)
	st.s.metrics.ingested.Add(float64(accepted))
	if rejected > 0 {
		st.s.metrics.rejected.WithLabelValues("invalid").Add(float64(rejected))
	}
}

func containerKey(c *rightsizerv1.ContainerRef) recommender.ContainerKey {
	w := c.GetWorkload()
	return recommender.ContainerKey{
		WorkloadKey: recommender.WorkloadKey{Cluster: w.GetCluster(), Namespace: w.GetNamespace(), Kind: w.GetKind(), Name: w.GetName()},
		Container:   c.GetContainer(),
	}
}

// usageOf converts a sample's values; the engine checks their ranges.
func usageOf(p *rightsizerv1.UsageSample) (recommender.Usage, error) {
	var u recommender.Usage
	if p.CpuCores != nil {
		c := p.GetCpuCores()
		if math.IsNaN(c) || c < 0 || c > maxCores {
			return u, fmt.Errorf("%w: cpu_cores %v is not in [0, %d]", recommender.ErrInvalidSample, c, maxCores)
		}
		u.CPU, u.Has = recommender.MilliCPUFromCores(c), u.Has.With(recommender.ResourceCPU)
	}
	if p.MemoryBytes != nil {
		u.Memory, u.Has = recommender.Bytes(p.GetMemoryBytes()), u.Has.With(recommender.ResourceMemory)
	}
	if p.GpuComputeGpus != nil {
		u.GPUCompute, u.Has = recommender.GPUCompute(p.GetGpuComputeGpus()), u.Has.With(recommender.ResourceGPUCompute)
	}
	if p.GpuMemoryBytes != nil {
		u.GPUMemory, u.Has = recommender.Bytes(p.GetGpuMemoryBytes()), u.Has.With(recommender.ResourceGPUMemory)
	}
	if p.ThrottledFraction != nil {
		u.ThrottledFraction, u.HasThrottling = p.GetThrottledFraction(), true
	}
	return u, nil
}

// maxCores bounds a CPU sample: far above any node, far below where
// millicores overflow.
const maxCores = 1 << 20

func oomCheck(ev *rightsizerv1.OomEvent) error {
	if ev.GetLimitBytes() < 0 || ev.GetUsageBytes() < 0 {
		return fmt.Errorf("%w: negative limit_bytes or usage_bytes", recommender.ErrInvalidSample)
	}
	return nil
}

// workloadOf validates and converts an inventory record, reporting every
// problem at once.
func workloadOf(w *rightsizerv1.Workload) (recommender.Workload, error) {
	ref := w.GetWorkload()
	out := recommender.Workload{
		Key:      recommender.WorkloadKey{Cluster: ref.GetCluster(), Namespace: ref.GetNamespace(), Kind: ref.GetKind(), Name: ref.GetName()},
		Replicas: w.GetReplicas(),
		Managed:  w.GetManaged(),
	}
	var errs []error
	if err := out.Key.Validate(); err != nil {
		errs = append(errs, err)
	}
	if out.Replicas < 0 {
		errs = append(errs, fmt.Errorf("replicas %d is negative", out.Replicas))
	}
	if n := len(w.GetLabels()); n > MaxLabels {
		errs = append(errs, fmt.Errorf("%d labels: at most %d", n, MaxLabels))
	} else if n > 0 {
		out.Labels = make(map[string]string, n)
		for k, v := range w.GetLabels() {
			for _, msg := range validation.IsQualifiedName(k) {
				errs = append(errs, fmt.Errorf("label key %.64q: %s", k, msg))
			}
			for _, msg := range validation.IsValidLabelValue(v) {
				errs = append(errs, fmt.Errorf("label %.64q value %.64q: %s", k, v, msg))
			}
			out.Labels[k] = v
		}
	}
	if n := len(w.GetContainers()); n > maxContainersPerWorkload {
		errs = append(errs, fmt.Errorf("%d containers: at most %d", n, maxContainersPerWorkload))
	}
	seen := map[string]bool{}
	for i, c := range w.GetContainers() {
		spec, err := containerSpecOf(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("containers[%d]: %w", i, err))
			continue
		}
		if seen[spec.Name] {
			errs = append(errs, fmt.Errorf("containers[%d]: duplicate name %q", i, spec.Name))
		}
		seen[spec.Name] = true
		out.Containers = append(out.Containers, spec)
	}
	for _, r := range w.GetAutoscaledOn() {
		switch r {
		case rightsizerv1.Resource_RESOURCE_CPU:
			out.AutoscaledOn = out.AutoscaledOn.With(recommender.ResourceCPU)
		case rightsizerv1.Resource_RESOURCE_MEMORY:
			out.AutoscaledOn = out.AutoscaledOn.With(recommender.ResourceMemory)
		case rightsizerv1.Resource_RESOURCE_GPU_COMPUTE:
			out.AutoscaledOn = out.AutoscaledOn.With(recommender.ResourceGPUCompute)
		case rightsizerv1.Resource_RESOURCE_GPU_MEMORY:
			out.AutoscaledOn = out.AutoscaledOn.With(recommender.ResourceGPUMemory)
		default:
			errs = append(errs, fmt.Errorf("autoscaled_on: unknown resource %d", r))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return recommender.Workload{}, fmt.Errorf("workload %s: %w", out.Key, err)
	}
	return out, nil
}

func containerSpecOf(c *rightsizerv1.ContainerSpec) (recommender.ContainerSpec, error) {
	spec := recommender.ContainerSpec{Name: c.GetName()}
	var errs []error
	if msgs := validation.IsDNS1123Label(spec.Name); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("name %.64q: %s", spec.Name, msgs[0]))
	}
	switch c.GetRole() {
	case rightsizerv1.ContainerRole_CONTAINER_ROLE_UNSPECIFIED, rightsizerv1.ContainerRole_CONTAINER_ROLE_APP:
	case rightsizerv1.ContainerRole_CONTAINER_ROLE_INIT:
		spec.Role = recommender.RoleInit
	case rightsizerv1.ContainerRole_CONTAINER_ROLE_SIDECAR:
		spec.Role = recommender.RoleSidecar
	default:
		errs = append(errs, fmt.Errorf("unknown role %d", c.GetRole()))
	}
	var err error
	if spec.Requests, err = amountsOf(c.GetRequests()); err != nil {
		errs = append(errs, fmt.Errorf("requests: %w", err))
	}
	if spec.Limits, err = amountsOf(c.GetLimits()); err != nil {
		errs = append(errs, fmt.Errorf("limits: %w", err))
	}
	return spec, errors.Join(errs...)
}

func amountsOf(a *rightsizerv1.ResourceAmounts) (recommender.Amounts, error) {
	out := recommender.Amounts{
		CPU:        recommender.MilliCPU(a.GetCpuMillicores()),
		Memory:     recommender.Bytes(a.GetMemoryBytes()),
		GPUCompute: recommender.GPUCompute(a.GetGpuComputeGpus()),
		GPUMemory:  recommender.Bytes(a.GetGpuMemoryBytes()),
	}
	var errs []error
	for _, f := range [...]struct {
		name string
		v    int64
	}{{"cpu_millicores", a.GetCpuMillicores()}, {"memory_bytes", a.GetMemoryBytes()}, {"gpu_memory_bytes", a.GetGpuMemoryBytes()}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s %d is negative", f.name, f.v))
		}
	}
	if g := a.GetGpuComputeGpus(); math.IsNaN(g) || g < 0 || g > 1024 {
		errs = append(errs, fmt.Errorf("gpu_compute_gpus %s is not in [0, 1024]", strconv.FormatFloat(g, 'g', -1, 64)))
	}
	return out, errors.Join(errs...)
}
