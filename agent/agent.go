package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rightsizer/rightsizer/agent/cgroup"
	"github.com/rightsizer/rightsizer/agent/podresources"
	"github.com/rightsizer/rightsizer/agent/stream"
	"github.com/rightsizer/rightsizer/gpu"
	"github.com/rightsizer/rightsizer/recommender"
)

// Resolver names containers the way the server does. agent/pods
// implements it from a node-scoped pod informer.
type Resolver interface {
	Resolve(podUID, containerID string) (recommender.ContainerKey, bool)
	ResolvePod(namespace, pod, container string) (recommender.ContainerKey, bool)
}

// CgroupReader is agent/cgroup's Reader.
type CgroupReader interface {
	Read(dst []cgroup.Reading) []cgroup.Reading
}

// Devices is agent/podresources' Client.
type Devices interface {
	Snapshot(ctx context.Context) (*podresources.Snapshot, error)
}

// Sender is agent/stream's Client.
type Sender interface{ Send(b stream.Batch) }

// Config holds what a round reads from and sends to. GPU and Devices
// may be nil (a node without GPUs, a kubelet without pod-resources).
type Config struct {
	Cgroups  CgroupReader
	GPU      gpu.Collector
	Devices  Devices
	Resolver Resolver
	Sender   Sender
	// Interval between rounds; 1 s at least.
	Interval   time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Agent runs rounds. Round is not safe for concurrent use; Run calls it
// from one goroutine.
type Agent struct {
	cfg      Config
	log      *slog.Logger
	metrics  *metrics
	readings []cgroup.Reading
	// byID finds a container's sample in the batch being built by pod UID
	// and container ID (two replicas on one node share a key but not an
	// ID); byKey by key, for devices that pod-resources names by pod.
	byID  map[[2]string]int
	byKey map[recommender.ContainerKey]int
}

// New checks cfg and returns an Agent.
func New(cfg Config) (*Agent, error) {
	var errs []error
	if cfg.Cgroups == nil {
		errs = append(errs, errors.New("no cgroup reader"))
	}
	if cfg.Resolver == nil {
		errs = append(errs, errors.New("no pod resolver"))
	}
	if cfg.Sender == nil {
		errs = append(errs, errors.New("no sender"))
	}
	if cfg.Interval < time.Second {
		errs = append(errs, fmt.Errorf("interval %v: want at least 1s", cfg.Interval))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{cfg: cfg, log: log, metrics: newMetrics(cfg.Registerer),
		byID: map[[2]string]int{}, byKey: map[recommender.ContainerKey]int{}}, nil
}

// Run does a round every Interval until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	t := time.NewTicker(a.cfg.Interval)
	defer t.Stop()
	for {
		a.cfg.Sender.Send(a.Round(ctx, time.Now()))
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
	}
}

// Round reads everything once and returns the batch it made (also what
// Run sends).
func (a *Agent) Round(ctx context.Context, now time.Time) stream.Batch {
	start := time.Now()
	var b stream.Batch
	clear(a.byID)
	clear(a.byKey)
	a.readings = a.cfg.Cgroups.Read(a.readings[:0])
	for i := range a.readings {
		a.cgroupSample(&b, &a.readings[i])
	}
	if a.cfg.GPU != nil {
		a.gpuSamples(ctx, &b, now)
	}
	a.metrics.rounds.Inc()
	a.metrics.samples.Add(float64(len(b.Samples)))
	a.metrics.roundSeconds.Observe(time.Since(start).Seconds())
	return b
}

// sample returns the batch's sample of container id (pod UID, container
// ID; zero when only the key is known) under key k at t, adding one if
// needed. Each replica on the node is a sample of its own: the engine
// merges replicas.
func (a *Agent) sample(b *stream.Batch, id [2]string, k recommender.ContainerKey, t time.Time) *recommender.Sample {
	i, ok := a.byID[id]
	if id == ([2]string{}) {
		i, ok = a.byKey[k]
	}
	if !ok {
		i = len(b.Samples)
		b.Samples = append(b.Samples, recommender.Sample{Key: k, Time: t})
		if id != ([2]string{}) {
			a.byID[id] = i
		}
		a.byKey[k] = i
	}
	return &b.Samples[i]
}

func (a *Agent) cgroupSample(b *stream.Batch, r *cgroup.Reading) {
	k, ok := a.cfg.Resolver.Resolve(r.PodUID, r.ContainerID)
	if !ok {
		// Pod sandboxes have cgroups of their own, and a new pod's cgroup
		// can appear before the resolver's watch shows its pod.
		a.metrics.unresolved.Inc()
		return
	}
	if r.Valid.Has(cgroup.FieldOOMKills) && r.OOMKills > 0 {
		b.OOMs = append(b.OOMs, recommender.OOMEvent{Key: k, Time: r.Time,
			Limit: recommender.Bytes(r.MemoryLimitBytes), Usage: recommender.Bytes(r.WorkingSetBytes)})
	}
	if !r.Valid.Has(cgroup.FieldCPU) && !r.Valid.Has(cgroup.FieldWorkingSet) {
		return
	}
	s := a.sample(b, [2]string{r.PodUID, r.ContainerID}, k, r.Time)
	u := &s.Usage
	if r.Valid.Has(cgroup.FieldCPU) {
		u.CPU = recommender.MilliCPUFromCores(r.CPUCores)
		u.Has = u.Has.With(recommender.ResourceCPU)
	}
	if r.Valid.Has(cgroup.FieldThrottling) {
		u.ThrottledFraction, u.HasThrottling = r.ThrottledFraction, true
	}
	if r.Valid.Has(cgroup.FieldWorkingSet) {
		u.Memory = recommender.Bytes(r.WorkingSetBytes)
		u.Has = u.Has.With(recommender.ResourceMemory)
	}
}

func (a *Agent) gpuSamples(ctx context.Context, b *stream.Batch, now time.Time) {
	snap, err := a.cfg.GPU.Collect(now)
	if err != nil {
		a.metrics.gpuErrors.Inc()
		a.log.Debug("GPU collection failed", "err", err)
		return
	}
	attributed := map[recommender.ContainerKey]bool{}
	for i := range snap.Containers {
		c := &snap.Containers[i]
		k, ok := a.cfg.Resolver.Resolve(c.PodUID, c.ContainerID)
		if !ok {
			a.metrics.unresolved.Inc()
			continue
		}
		addGPU(&a.sample(b, [2]string{c.PodUID, c.ContainerID}, k, now).Usage, c.GPUMemory, c.GPUCompute, c.Has)
		attributed[k] = true
	}
	if a.cfg.Devices == nil || len(snap.Devices) == 0 {
		return
	}
	held, err := a.cfg.Devices.Snapshot(ctx)
	if err != nil {
		a.metrics.deviceErrors.Inc()
		a.log.Debug("pod-resources unavailable", "err", err)
		return
	}
	for res, ids := range held.Idle {
		a.metrics.idle.WithLabelValues(res).Set(float64(len(ids)))
	}
	// A device that NVML showed no processes for, held by one container:
	// the device's use is that container's.
	for i := range snap.Devices {
		d := &snap.Devices[i]
		if len(d.MIG) == 0 && len(d.Processes) == 0 && d.Has.Has(gpu.MetricMemory) {
			var busy *float64
			if d.Has.Has(gpu.MetricUtilization) {
				busy = &d.GPUUtil
			}
			a.holderSample(b, held, d.UUID, d.MemoryUsed, busy, 1, attributed, now)
		}
		for j := range d.MIG {
			m := &d.MIG[j]
			if len(m.Processes) == 0 && m.Has.Has(gpu.MetricMemory) {
				var busy *float64
				if m.Has.Has(gpu.MetricGPM) {
					busy = &m.GPM.GraphicsUtil
				}
				a.holderSample(b, held, m.UUID, m.MemoryUsed, busy, m.Share, attributed, now)
			}
		}
	}
}

// holderSample attributes a device's memory used and busy fraction (of
// share of a GPU) to the one container that holds it, unless the
// collector already attributed that container from its processes.
func (a *Agent) holderSample(b *stream.Batch, held *podresources.Snapshot, id string, mem recommender.Bytes, busy *float64, share float64, attributed map[recommender.ContainerKey]bool, now time.Time) {
	holders := held.Devices[id]
	if len(holders) != 1 {
		return // idle, or shared: a time-sliced device's use cannot be split without processes
	}
	h := holders[0]
	k, ok := a.cfg.Resolver.ResolvePod(h.Namespace, h.Pod, h.Container)
	if !ok || attributed[k] {
		return
	}
	has := recommender.ResourceSet(0).With(recommender.ResourceGPUMemory)
	var compute recommender.GPUCompute
	if busy != nil {
		compute = recommender.GPUCompute(*busy * share)
		has = has.With(recommender.ResourceGPUCompute)
	}
	addGPU(&a.sample(b, [2]string{}, k, now).Usage, mem, compute, has)
	a.metrics.holderAttributed.Inc()
}

func addGPU(u *recommender.Usage, mem recommender.Bytes, compute recommender.GPUCompute, has recommender.ResourceSet) {
	if has.Has(recommender.ResourceGPUMemory) {
		u.GPUMemory += mem
		u.Has = u.Has.With(recommender.ResourceGPUMemory)
	}
	if has.Has(recommender.ResourceGPUCompute) {
		u.GPUCompute += compute
		u.Has = u.Has.With(recommender.ResourceGPUCompute)
	}
}
