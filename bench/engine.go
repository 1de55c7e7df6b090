// Package bench holds rightsizer's end-to-end benchmarks and evaluation
// harnesses. Every speed figure is measured in one run against a baseline
// on the same data, repeated, and reported as a median.
package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/rightsizer/rightsizer/bench/internal/stats"

	vpamodel "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/model"
	vpautil "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/util"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/simulate"
	"github.com/rightsizer/rightsizer/recommender/sketch"
)

// EngineConfig sizes the engine benchmark.
type EngineConfig struct {
	Seed uint64
	// Repeats of each timed measurement; the median is reported.
	Repeats int
	// Week is the simulated history per container (one sample a minute).
	Week time.Duration
	// Containers bounds the simulated containers compared with VPA.
	Containers int
	// EngineContainers, EngineGoroutines and EngineSamples size the
	// concurrent-ingest measurement; EngineSamples is per timed repeat.
	EngineContainers int
	EngineGoroutines int
	EngineSamples    int
	// EngineStripes overrides the engine's stripe count; 0 keeps its default.
	EngineStripes int
}

// DefaultEngineConfig is the configuration of `make bench-engine`.
func DefaultEngineConfig() EngineConfig {
	return EngineConfig{
		Seed: 1, Repeats: 7, Week: 7 * 24 * time.Hour, Containers: 200,
		EngineContainers: 100_000, EngineGoroutines: 8, EngineSamples: 12_000_000,
	}
}

// EngineResult is bench/out/engine.json.
type EngineResult struct {
	OursInsertNs                float64   `json:"ours_insert_ns"`
	VPAInsertNs                 float64   `json:"vpa_insert_ns"`
	InsertSpeedup               float64   `json:"insert_speedup"`
	OursQueryNs                 float64   `json:"ours_query_ns"`
	VPAQueryNs                  float64   `json:"vpa_query_ns"`
	OursStateBytes              float64   `json:"ours_state_bytes"`
	VPAStateBytes               float64   `json:"vpa_state_bytes"`
	OursMaxRelErr               float64   `json:"ours_max_rel_err"`
	VPAMaxRelErr                float64   `json:"vpa_max_rel_err"`
	OursMaxRelErrAll            float64   `json:"ours_max_rel_err_all"`
	VPAMaxRelErrAll             float64   `json:"vpa_max_rel_err_all"`
	OursMemoryMaxRelErr         float64   `json:"ours_memory_max_rel_err"`
	EngineSamplesPerSec         float64   `json:"engine_samples_per_sec"`
	EngineSamplesPerSecRuns     []float64 `json:"engine_samples_per_sec_runs"`
	EngineHeapBytesPerContainer float64   `json:"engine_heap_bytes_per_container"`
	EngineCPUNsPerSample        float64   `json:"engine_cpu_ns_per_sample"`

	Containers       int      `json:"containers_compared"`
	SamplesPerSeries int      `json:"samples_per_container"`
	EngineContainers int      `json:"engine_containers"`
	EngineGoroutines int      `json:"engine_goroutines"`
	Repeats          int      `json:"repeats"`
	GOMAXPROCS       int      `json:"gomaxprocs"`
	GoVersion        string   `json:"go_version"`
	Notes            []string `json:"notes"`
}

// series is one container's week: CPU in cores, memory in bytes.
type series struct {
	t   []time.Time
	cpu []float64
	mem []float64
}

// simulatedWeek runs the simulator's default cluster with one replica per
// workload for cfg.Week and returns one series per container, dropping
// containers that ran for less than a day (jobs and init containers).
func simulatedWeek(cfg EngineConfig) ([]series, error) {
	c := simulate.DefaultCluster(cfg.Seed)
	for i := range c.Workloads {
		c.Workloads[i].Replicas = 1
	}
	o := simulate.DefaultOptions()
	o.Seed, o.Duration = cfg.Seed, cfg.Week
	sim, err := simulate.New(c, o)
	if err != nil {
		return nil, err
	}
	sink := &captureSink{byKey: map[recommender.ContainerKey]*series{}}
	if err := sim.Run(context.Background(), sink); err != nil {
		return nil, err
	}
	keys := make([]recommender.ContainerKey, 0, len(sink.byKey))
	for k, s := range sink.byKey {
		if len(s.t) >= 24*60 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b recommender.ContainerKey) int {
		return cmpStrings(a.String(), b.String())
	})
	out := make([]series, 0, len(keys))
	for _, k := range keys {
		out = append(out, *sink.byKey[k])
	}
	// Repeat the set with scaled copies up to the requested count, so the
	// comparison spans more containers than the simulated cluster has.
	base := len(out)
	r := rand.New(rand.NewPCG(cfg.Seed, 99))
	for len(out) < cfg.Containers && base > 0 {
		s := out[len(out)%base]
		f := math.Exp(r.NormFloat64())
		cp := series{t: s.t, cpu: make([]float64, len(s.cpu)), mem: make([]float64, len(s.mem))}
		for i := range s.cpu {
			cp.cpu[i], cp.mem[i] = s.cpu[i]*f, s.mem[i]*f
		}
		out = append(out, cp)
	}
	return out[:min(len(out), cfg.Containers)], nil
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// captureSink keeps every sample per container.
type captureSink struct {
	mu    sync.Mutex
	byKey map[recommender.ContainerKey]*series
}

func (c *captureSink) Ingest(samples []recommender.Sample) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range samples {
		if !s.Usage.Has.Has(recommender.ResourceCPU) || !s.Usage.Has.Has(recommender.ResourceMemory) {
			continue
		}
		x := c.byKey[s.Key]
		if x == nil {
			x = &series{}
			c.byKey[s.Key] = x
		}
		x.t = append(x.t, s.Time)
		x.cpu = append(x.cpu, s.Usage.CPU.Cores())
		x.mem = append(x.mem, float64(s.Usage.Memory))
	}
	return nil
}

func (c *captureSink) RecordOOM(recommender.OOMEvent) error      { return nil }
func (c *captureSink) UpsertWorkload(recommender.Workload) error { return nil }

// vpaCPUHistogram returns a histogram with VPA's CPU options.
func vpaCPUHistogram() vpautil.Histogram {
	cfg := vpamodel.GetAggregationsConfig()
	return vpautil.NewDecayingHistogram(cfg.CPUHistogramOptions, cfg.CPUHistogramDecayHalfLife)
}

// RunEngine measures everything in EngineResult.
func RunEngine(cfg EngineConfig) (EngineResult, error) {
	res := EngineResult{
		Containers: cfg.Containers, EngineContainers: cfg.EngineContainers, EngineGoroutines: cfg.EngineGoroutines,
		Repeats: cfg.Repeats, GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
	}
	week, err := simulatedWeek(cfg)
	if err != nil {
		return res, fmt.Errorf("simulate: %w", err)
	}
	res.Containers = len(week)
	res.SamplesPerSeries = len(week[0].t)
	sk, err := sketch.NewConfig(sketch.DefaultOptions()) // 1 %, 24 h half-life: VPA's
	if err != nil {
		return res, err
	}

	// Inserts: every CPU sample of every container, ours and VPA's
	// alternating so both see the same machine noise.
	var oursIns, vpaIns, oursQ, vpaQ []float64
	var ours []*sketch.Sketch
	var vpas []vpautil.Histogram
	for range cfg.Repeats {
		ours, vpas = make([]*sketch.Sketch, len(week)), make([]vpautil.Histogram, len(week))
		n := 0
		start := time.Now()
		for i, s := range week {
			ours[i] = sk.New()
			for j, v := range s.cpu {
				_ = ours[i].Add(v, s.t[j])
			}
			n += len(s.cpu)
		}
		oursIns = append(oursIns, float64(time.Since(start).Nanoseconds())/float64(n))
		start = time.Now()
		for i, s := range week {
			vpas[i] = vpaCPUHistogram()
			for j, v := range s.cpu {
				vpas[i].AddSample(v, 0.1, s.t[j]) // VPA's CPU sample weight
			}
		}
		vpaIns = append(vpaIns, float64(time.Since(start).Nanoseconds())/float64(n))

		const queries = 200
		start = time.Now()
		sink := 0.0
		for range queries {
			for _, o := range ours {
				v, _ := o.Quantile(0.9)
				sink += v
			}
		}
		oursQ = append(oursQ, float64(time.Since(start).Nanoseconds())/float64(queries*len(ours)))
		start = time.Now()
		for range queries {
			for _, h := range vpas {
				sink += h.Percentile(0.9)
			}
		}
		vpaQ = append(vpaQ, float64(time.Since(start).Nanoseconds())/float64(queries*len(vpas)))
		if sink < 0 {
			return res, fmt.Errorf("impossible")
		}
	}
	res.OursInsertNs, res.VPAInsertNs = stats.Median(oursIns), stats.Median(vpaIns)
	res.InsertSpeedup = res.VPAInsertNs / res.OursInsertNs
	res.OursQueryNs, res.VPAQueryNs = stats.Median(oursQ), stats.Median(vpaQ)

	// Accuracy against the exact decayed quantiles of the same samples.
	res.OursMaxRelErr, res.VPAMaxRelErr, res.OursMaxRelErrAll, res.VPAMaxRelErrAll, res.OursMemoryMaxRelErr = accuracy(week, ours, vpas, sk)

	// State per container after the week: our engine's whole container
	// state against VPA's ContainerState plus AggregateContainerState.
	if res.OursStateBytes, err = oursStateBytes(week); err != nil {
		return res, err
	}
	res.VPAStateBytes = vpaStateBytes(week)

	runs, cpuNs, heap, err := engineIngest(cfg)
	if err != nil {
		return res, err
	}
	res.EngineSamplesPerSecRuns, res.EngineSamplesPerSec = runs, stats.Median(runs)
	res.EngineCPUNsPerSample = stats.Median(cpuNs)
	res.EngineHeapBytesPerContainer = heap
	res.Notes = []string{
		"insert/query: CPU series in cores; ours is sketch.Sketch (1 % accuracy, 24 h half-life), VPA's is util.NewDecayingHistogram with VPA's CPU options (5 % buckets, 24 h half-life); same samples, alternating, median of repeats",
		"query: the P90 of a full week's sketch/histogram",
		"max_rel_err: worst |estimate−exact|/exact over P50, P90, P95, P99 of every container's decayed CPU distribution, for exact values ≥ 0.05 cores (beyond VPA's 0.01-core first bucket); *_all: every value",
		"state_bytes: heap per container after a week at one sample a minute; ours: the engine's whole state (CPU and memory sketches, memory peaks, map entry and key); VPA: model.ContainerState + model.AggregateContainerState fed the same CPU and memory samples, in a map",
		"engine: one sample = one container observation with CPU and memory; the goroutines ingest batches of 1,000 random containers after a warm-up that creates them all",
		"engine_cpu_ns_per_sample: process CPU time (user+system, from getrusage) per sample, median of repeats; less sensitive than wall time to other tenants of a shared host",
	}
	return res, nil
}

// quantilesChecked are the quantiles whose error is reported.
var quantilesChecked = []float64{0.5, 0.9, 0.95, 0.99}

func accuracy(week []series, ours []*sketch.Sketch, vpas []vpautil.Histogram, sk *sketch.Config) (ours05, vpa05, oursAll, vpaAll, oursMem float64) {
	for i, s := range week {
		end := s.t[len(s.t)-1]
		w := make([]float64, len(s.t))
		for j, t := range s.t {
			w[j] = math.Exp2(-end.Sub(t).Hours() / 24)
		}
		mem := sk.New()
		for j, v := range s.mem {
			_ = mem.Add(v, s.t[j])
		}
		for _, q := range quantilesChecked {
			exact := weightedQuantile(s.cpu, w, q)
			if exact <= 0 {
				continue
			}
			o, _ := ours[i].Quantile(q)
			eo := math.Abs(o-exact) / exact
			ev := math.Abs(vpas[i].Percentile(q)-exact) / exact
			oursAll, vpaAll = math.Max(oursAll, eo), math.Max(vpaAll, ev)
			if exact >= 0.05 {
				ours05, vpa05 = math.Max(ours05, eo), math.Max(vpa05, ev)
			}
			exactMem := weightedQuantile(s.mem, w, q)
			m, _ := mem.Quantile(q)
			if exactMem > 0 {
				oursMem = math.Max(oursMem, math.Abs(m-exactMem)/exactMem)
			}
		}
	}
	return ours05, vpa05, oursAll, vpaAll, oursMem
}

// weightedQuantile is the exact weighted empirical quantile.
func weightedQuantile(xs, ws []float64, q float64) float64 {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return xs[idx[a]] < xs[idx[b]] })
	total := 0.0
	for _, w := range ws {
		total += w
	}
	cum := 0.0
	for _, i := range idx {
		cum += ws[i]
		if cum >= q*total {
			return xs[i]
		}
	}
	return xs[idx[len(idx)-1]]
}

// heapNow returns live heap bytes after a full GC.
func heapNow() float64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc)
}

func oursStateBytes(week []series) (float64, error) {
	o := recommender.DefaultOptions()
	o.Stripes = 1
	e, err := recommender.NewEngine(o)
	if err != nil {
		return 0, err
	}
	before := heapNow()
	batch := make([]recommender.Sample, 0, 1024)
	for i, s := range week {
		k := benchKey(i)
		for j := range s.t {
			batch = append(batch, recommender.Sample{Key: k, Time: s.t[j], Usage: recommender.Usage{
				CPU: recommender.MilliCPUFromCores(s.cpu[j]), Memory: recommender.Bytes(s.mem[j]),
				Has: recommender.ResourceSet(0).With(recommender.ResourceCPU).With(recommender.ResourceMemory),
			}})
			if len(batch) == cap(batch) {
				if err := e.Ingest(batch); err != nil {
					return 0, err
				}
				batch = batch[:0]
			}
		}
	}
	if err := e.Ingest(batch); err != nil {
		return 0, err
	}
	after := heapNow()
	runtime.KeepAlive(e)
	return (after - before) / float64(len(week)), nil
}

type vpaContainer struct {
	c *vpamodel.ContainerState
	a *vpamodel.AggregateContainerState
}

func vpaStateBytes(week []series) float64 {
	before := heapNow()
	m := make(map[recommender.ContainerKey]vpaContainer)
	for i, s := range week {
		a := vpamodel.NewAggregateContainerState()
		c := vpamodel.NewContainerState(vpamodel.Resources{}, a)
		for j := range s.t {
			c.AddSample(&vpamodel.ContainerUsageSample{MeasureStart: s.t[j], Usage: vpamodel.CPUAmountFromCores(s.cpu[j]), Resource: vpamodel.ResourceCPU})
			c.AddSample(&vpamodel.ContainerUsageSample{MeasureStart: s.t[j], Usage: vpamodel.MemoryAmountFromBytes(s.mem[j]), Resource: vpamodel.ResourceMemory})
		}
		m[benchKey(i)] = vpaContainer{c, a}
	}
	after := heapNow()
	runtime.KeepAlive(m)
	return (after - before) / float64(len(week))
}

func benchKey(i int) recommender.ContainerKey {
	return recommender.ContainerKey{
		WorkloadKey: recommender.WorkloadKey{Namespace: fmt.Sprintf("ns-%03d", i%100), Kind: "Deployment", Name: fmt.Sprintf("workload-%06d", i)},
		Container:   "app",
	}
}

// engineIngest measures concurrent ingest into cfg.EngineContainers
// containers and the heap each tracked container costs.
func engineIngest(cfg EngineConfig) (runs, cpuNs []float64, heap float64, err error) {
	n := cfg.EngineContainers
	keys := make([]recommender.ContainerKey, n)
	levels := make([]float64, n)
	r := rand.New(rand.NewPCG(cfg.Seed, 7))
	for i := range keys {
		keys[i] = benchKey(i)
		levels[i] = math.Exp(r.NormFloat64()*1.2 + 5) // millicores, median ~150m
	}
	// A pool of batches per goroutine, reused across passes: generating
	// samples is not what is measured.
	const batchSize = 1000
	perG := max(cfg.EngineSamples/cfg.EngineGoroutines/batchSize, 1)
	poolBatches := min(perG, 100)
	pools := make([][][]recommender.Sample, cfg.EngineGoroutines)
	t0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	has := recommender.ResourceSet(0).With(recommender.ResourceCPU).With(recommender.ResourceMemory)
	for g := range pools {
		gr := rand.New(rand.NewPCG(cfg.Seed, uint64(g)+100))
		pools[g] = make([][]recommender.Sample, poolBatches)
		for b := range pools[g] {
			batch := make([]recommender.Sample, batchSize)
			for i := range batch {
				c := gr.IntN(n)
				noise := math.Exp(gr.NormFloat64() * 0.3)
				batch[i] = recommender.Sample{
					Key:  keys[c],
					Time: t0.Add(time.Duration(b*batchSize+i) * 10 * time.Second),
					Usage: recommender.Usage{
						CPU: recommender.MilliCPU(levels[c] * noise), Memory: recommender.Bytes(levels[c] * 4 * float64(recommender.MiB) * (0.9 + 0.1*noise)),
						Has: has,
					},
				}
			}
			pools[g][b] = batch
		}
	}
	before := heapNow()
	o := recommender.DefaultOptions()
	if cfg.EngineStripes > 0 {
		o.Stripes = cfg.EngineStripes
	}
	e, err := recommender.NewEngine(o)
	if err != nil {
		return nil, nil, 0, err
	}
	// Warm-up: create every container.
	warm := make([]recommender.Sample, 0, batchSize)
	for i, k := range keys {
		warm = append(warm, recommender.Sample{Key: k, Time: t0, Usage: recommender.Usage{CPU: recommender.MilliCPU(levels[i]), Memory: recommender.Bytes(levels[i] * 4 * float64(recommender.MiB)), Has: has}})
		if len(warm) == batchSize {
			if err := e.Ingest(warm); err != nil {
				return nil, nil, 0, err
			}
			warm = warm[:0]
		}
	}
	for range cfg.Repeats {
		var wg sync.WaitGroup
		errs := make(chan error, cfg.EngineGoroutines)
		cpu0 := processCPU()
		start := time.Now()
		for g := range cfg.EngineGoroutines {
			wg.Go(func() {
				for b := range perG {
					if err := e.Ingest(pools[g][b%poolBatches]); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		el := time.Since(start)
		cpu := processCPU() - cpu0
		close(errs)
		if err := <-errs; err != nil {
			return nil, nil, 0, err
		}
		n := float64(perG * batchSize * cfg.EngineGoroutines)
		runs = append(runs, n/el.Seconds())
		cpuNs = append(cpuNs, float64(cpu.Nanoseconds())/n)
	}
	after := heapNow()
	runtime.KeepAlive(e)
	runtime.KeepAlive(pools) // measured in both readings: keep it live
	runtime.KeepAlive(keys)
	if e.Len() != n {
		return nil, nil, 0, fmt.Errorf("engine tracks %d containers, want %d", e.Len(), n)
	}
	return runs, cpuNs, (after - before) / float64(n), nil
}

// processCPU returns the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
