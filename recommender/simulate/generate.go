package simulate

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
)

// Correlation times of the AR(1) noise and lags of the slow levels.
const (
	cpuNoiseTau = 10 * time.Minute
	memNoiseTau = time.Hour
	kvCacheTau  = 15 * time.Minute
)

// params is a Model with its defaults applied and its container's caps,
// converted to per-step float64 quantities for the hot loop.
type params struct {
	arch             Archetype
	cpu, cpuSwing    float64 // millicores; swing = peak - base
	mem, memSwing    float64 // bytes
	peakAt           float64 // seconds past midnight UTC
	weekendDip       float64 // fraction of the swing lost on weekends
	usesLoad         bool    // whether the daily curve drives the archetype
	cpuPhi, cpuInnov float64 // AR(1) persistence and innovation of CPU and GPU noise
	memPhi, memInnov float64 // of memory noise
	memAlpha         float64 // per-step EWMA weight of the memory level
	kvAlpha          float64 // per-step EWMA weight of the KV cache fill
	gcAmp, gcRate    float64 // sawtooth amplitude in bytes; growth per step at mid load
	leakPerStep      float64 // bytes
	burstP           float64 // probability per step that a spike starts
	burstSteps       float64 // mean spike length in steps
	gpu, gpuSwing    float64 // GPUs busy
	gpuWeights       float64 // bytes
	gpuKV            float64 // bytes

	// Caps from the container spec; zero means none.
	cpuLimit, memLimit float64
	gpuCap, gpuMemCap  float64
}

// newParams derives the per-step parameters of m for a container with the
// given spec, sampled every step.
func newParams(m *Model, spec *recommender.ContainerSpec, step time.Duration) params {
	perStep := func(d time.Duration) float64 { return float64(step) / float64(d) } // fraction of d per step
	ar := func(tau time.Duration, sigma float64) (phi, innov float64) {
		phi = math.Exp(-perStep(tau))
		return phi, sigma * math.Sqrt(1-phi*phi)
	}
	p := params{
		arch:       m.Archetype,
		cpu:        float64(m.CPU),
		mem:        float64(m.Memory),
		peakAt:     m.PeakAt.Seconds(),
		weekendDip: m.WeekendDip,
		gpu:        float64(m.GPUCompute),
		gpuWeights: float64(m.GPUWeights),
		gpuKV:      float64(m.GPUKVCache),
		cpuLimit:   float64(spec.Limits.CPU),
		memLimit:   float64(spec.Limits.Memory),
		gpuCap:     float64(spec.Limits.GPUCompute),
		gpuMemCap:  float64(spec.Limits.GPUMemory),
	}
	switch m.Archetype {
	case ArchetypeDiurnal, ArchetypeLeaking, ArchetypeGPUInference:
		p.usesLoad = true
	}
	p.cpuSwing = math.Max(0, float64(m.CPUPeak-m.CPU))
	p.memSwing = math.Max(0, float64(m.MemoryPeak-m.Memory))
	p.gpuSwing = math.Max(0, float64(m.GPUComputePeak-m.GPUCompute))
	p.cpuPhi, p.cpuInnov = ar(cpuNoiseTau, m.Noise)
	p.memPhi, p.memInnov = ar(memNoiseTau, m.Noise/4)

	// How fast the working set follows its target: slowly for services
	// whose caches fill with traffic, quickly for spikes and job phases.
	memTau := 30 * time.Minute
	switch m.Archetype {
	case ArchetypeSteady:
		memTau = time.Hour
	case ArchetypeBursty, ArchetypeBatch:
		memTau = 5 * time.Minute
	case ArchetypeGPUInference:
		memTau = 15 * time.Minute
	}
	p.memAlpha = 1 - math.Exp(-perStep(memTau))
	p.kvAlpha = 1 - math.Exp(-perStep(kvCacheTau))

	if m.GCFraction > 0 {
		iv := m.GCInterval
		if iv == 0 {
			iv = DefaultGCInterval
		}
		p.gcAmp = m.GCFraction * float64(m.Memory)
		p.gcRate = p.gcAmp * math.Min(1, perStep(iv))
	}
	p.leakPerStep = float64(m.LeakPerHour) * perStep(time.Hour)

	bpd, bd := m.BurstsPerDay, m.BurstDuration
	if bpd == 0 {
		bpd = DefaultBurstsPerDay
	}
	if bd == 0 {
		bd = DefaultBurstDuration
	}
	p.burstP = math.Min(1, bpd*perStep(24*time.Hour))
	p.burstSteps = math.Max(1, float64(bd)/float64(step))

	if p.gpuCap == 0 {
		p.gpuCap = float64(spec.Requests.GPUCompute)
	}
	if p.gpuMemCap == 0 {
		p.gpuMemCap = float64(spec.Requests.GPUMemory)
	}
	return p
}

// env is what every container of a workload sees at one step.
type env struct {
	sod      float64 // seconds past midnight UTC at the end of the step
	weekend  bool    // Saturday or Sunday, UTC
	traffic  float64 // the workload's traffic of the day, around 1
	load     float64 // the container's daily load curve at this step (usesLoad only)
	progress float64 // batch: fraction of the run done, in (0, 1]
}

// dailyLoad is the traffic curve shared by diurnal, leaking and
// gpu-inference containers, around 0 at night and 1 at the weekday peak:
//
//	load(t) = traffic(day) · (1 − dip(t)) · ((1 + cos 2π(t − PeakAt)/24h) / 2)²
//
// The square narrows the daytime hump and flattens the night, as real
// request rates do. dip(t) is WeekendDip on Saturdays and Sundays (UTC) and
// 0 otherwise; traffic(day) is drawn once a day per workload from
// N(1, 0.08²) clipped to [0.8, 1.2], so some days are busier than others
// for every replica and container of the workload alike.
func dailyLoad(p *params, e *env) float64 {
	const day = 24 * 60 * 60
	s := 0.5 + 0.5*math.Cos(2*math.Pi*(e.sod-p.peakAt)/day)
	l := s * s * e.traffic
	if e.weekend {
		l *= 1 - p.weekendDip
	}
	return l
}

// replicaState is the evolving state of one replica of one container.
// Noise persists across restarts; the rest is reset by restart.
type replicaState struct {
	rng         *rand.Rand
	pod         int64   // start step of the pod this state belongs to
	cpuN, memN  float64 // AR(1) noise, relative
	gpuN        float64 // AR(1) noise of GPU compute, relative
	level       float64 // memory level following its target, bytes
	gc, gcMax   float64 // heap grown since the last collection; where the next one happens
	leaked      float64 // bytes
	leakPerStep float64 // this process's leak rate, bytes per step
	burstLeft   int     // steps of the current spike still to run
	burstLevel  float64 // height of the current spike, fraction of the swing
	kv          float64 // KV cache fill, fraction of GPUKVCache at peak
}

// restart resets the state of a process that starts now.
func (r *replicaState) restart(p *params) {
	r.level = p.mem
	r.gc = 0
	r.gcMax = p.gcAmp * (0.7 + 0.6*r.rng.Float64())
	r.leaked = 0
	r.leakPerStep = p.leakPerStep * (0.85 + 0.3*r.rng.Float64())
	r.burstLeft = 0
	r.kv = 0
}

// noise advances the CPU and memory AR(1) noise by one step and returns the
// multiplicative factors, never negative.
func (r *replicaState) noise(p *params) (cpuF, memF float64) {
	r.cpuN = p.cpuPhi*r.cpuN + p.cpuInnov*r.rng.NormFloat64()
	r.memN = p.memPhi*r.memN + p.memInnov*r.rng.NormFloat64()
	return math.Max(0, 1+r.cpuN), math.Max(0, 1+r.memN)
}

// memory moves the working set one step towards target and returns it
// with the GC sawtooth, the leak and the noise factor applied. The heap
// grows by gcRate·(0.5 + load) per step, so collections come faster at
// high load, and drops to zero when it reaches a threshold drawn anew at
// each collection within ±30 % of the amplitude.
func (r *replicaState) memory(p *params, target, load, memF float64) float64 {
	r.level += p.memAlpha * (target - r.level)
	if p.gcAmp > 0 {
		r.gc += p.gcRate * (0.5 + load)
		if r.gc >= r.gcMax {
			r.gc = 0
			r.gcMax = p.gcAmp * (0.7 + 0.6*r.rng.Float64())
		}
	}
	return (r.level + r.gc + r.leaked) * memF
}

// steady generates flat demand: CPU = Model.CPU·(1 + n), where n is AR(1)
// noise with standard deviation Model.Noise and a 10-minute correlation
// time; the working set sits at Model.Memory with a quarter of the noise
// (1-hour correlation) plus the GC sawtooth, if any.
func (r *replicaState) steady(p *params) (cpu, mem float64) {
	cf, mf := r.noise(p)
	return p.cpu * cf, r.memory(p, p.mem, 0.5, mf)
}

// diurnal generates demand that follows the daily curve (see dailyLoad):
// CPU = (CPU + (CPUPeak − CPU)·load)·(1 + n); the working set follows
// Memory + (MemoryPeak − Memory)·load with a 30-minute lag (caches fill and
// drain with traffic) plus GC sawtooth and slow noise.
func (r *replicaState) diurnal(p *params, e *env) (cpu, mem float64) {
	cf, mf := r.noise(p)
	return (p.cpu + p.cpuSwing*e.load) * cf, r.memory(p, p.mem+p.memSwing*e.load, e.load, mf)
}

// bursty generates a low base with spikes: each step a spike starts with
// probability BurstsPerDay·Step/24h (Poisson arrivals, per replica), lasts
// 0.5–1.5× BurstDuration (at least one step) and lifts CPU by 50–100 % of
// (CPUPeak − CPU), drawn per spike. The working set rises by the same
// share of (MemoryPeak − Memory) with a 5-minute lag and drains after.
func (r *replicaState) bursty(p *params) (cpu, mem float64) {
	if r.burstLeft == 0 && r.rng.Float64() < p.burstP {
		r.burstLeft = max(1, int(math.Round(p.burstSteps*(0.5+r.rng.Float64()))))
		r.burstLevel = 0.5 + 0.5*r.rng.Float64()
	}
	l := 0.0
	if r.burstLeft > 0 {
		l = r.burstLevel
		r.burstLeft--
	}
	cf, mf := r.noise(p)
	return (p.cpu + p.cpuSwing*l) * cf, r.memory(p, p.mem+p.memSwing*l, l, mf)
}

// leaking generates a diurnal service that leaks: each process leaks
// LeakPerHour ± 15 % (drawn at each start) on top of the diurnal working
// set, until the working set reaches the memory limit. The simulator then
// records an OOM kill and restarts the container with a fresh working set;
// with a limit L, a base B and a leak rate R the kills come about every
// (L − B)/R.
func (r *replicaState) leaking(p *params, e *env) (cpu, mem float64) {
	r.leaked += r.leakPerStep
	return r.diurnal(p, e)
}

// batch generates one run of a job, given its progress x in (0, 1]: CPU
// ramps from CPU to CPUPeak over the first 5 % of the run, then holds a
// plateau that moves ±15 % through three stages (read, transform, write),
// times (1 + n); the working set grows towards
// Memory + (MemoryPeak − Memory)·x^0.7 as the job accumulates state, with a
// 5-minute lag. Outside runs the pod does not exist and nothing is sampled.
func (r *replicaState) batch(p *params, e *env) (cpu, mem float64) {
	x := e.progress
	l := math.Min(1, x/0.05) * (0.85 + 0.15*math.Sin(2*math.Pi*3*x))
	cf, mf := r.noise(p)
	return (p.cpu + p.cpuSwing*l) * cf, r.memory(p, p.mem+p.memSwing*math.Pow(x, 0.7), l, mf)
}

// gpuInference generates a model server driven by the daily request curve:
// GPU compute = (GPUCompute + (GPUComputePeak − GPUCompute)·load)·(1 + n)
// with its own AR(1) noise; GPU memory = GPUWeights + GPUKVCache·kv, where
// the KV cache fill kv follows load with a 15-minute lag, so it is mostly
// flat with a daytime hump. Both are capped at the container's GPU limit,
// or its request if no limit is set. CPU (tokenisation, batching) and host
// memory follow load as for diurnal.
func (r *replicaState) gpuInference(p *params, e *env, u *recommender.Usage) (cpu, mem float64) {
	r.gpuN = p.cpuPhi*r.gpuN + p.cpuInnov*r.rng.NormFloat64()
	r.kv += p.kvAlpha * (e.load - r.kv)
	cpu, mem = r.diurnal(p, e)
	gc := (p.gpu + p.gpuSwing*e.load) * math.Max(0, 1+r.gpuN)
	gm := p.gpuWeights + p.gpuKV*r.kv
	u.GPUCompute = recommender.GPUCompute(math.Min(gc, p.gpuCap))
	u.GPUMemory = recommender.Bytes(math.Min(math.Round(gm), p.gpuMemCap))
	u.Has = u.Has.With(recommender.ResourceGPUCompute).With(recommender.ResourceGPUMemory)
	return cpu, mem
}
