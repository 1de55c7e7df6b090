package simulate

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
)

// DefaultCluster returns the demo cluster: 51 workloads in the namespaces
// shop, payments, data, ml and platform, about 240 running containers
// (more while nightly jobs run), mixing every archetype. Like most real
// clusters it is over-provisioned: CPU requests are mostly 2–5× the P95 of
// usage and memory requests 1.3–3×, rounded to the values people write
// (250m, 512Mi). The exceptions are deliberate:
//
//   - shop/Deployment/recommendations leaks memory and is OOM-killed every
//     day or two (its memory request is also below its usage);
//   - shop/Deployment/search has a CPU limit below its weekday peak and is
//     throttled every afternoon;
//   - shop/Deployment/email, shop/Deployment/ad-service,
//     payments/Deployment/currency-rates and prometheus's config-reloader
//     sidecar set no requests;
//   - ml/Deployment/llm-inference, ml/Deployment/embedding-service
//     (one GPU each) and ml/StatefulSet/llm-large (two) request whole
//     80 GiB GPUs and use 10–40 % of their compute and memory;
//   - ml/StatefulSet/research-notebook holds a whole 80 GiB GPU with a
//     6 GiB model loaded and does next to nothing with it (under 2 %
//     busy): an idle GPU;
//   - data/Deployment/stream-processor leaks too slowly to be killed
//     within a week.
//
// Names, kinds, replicas and containers are fixed; the seed varies the
// usage levels (±20 %), the over-provisioning factors, the daily peak
// hours and the job schedules. The result is deterministic for a seed.
func DefaultCluster(seed uint64) Cluster {
	b := &clusterBuilder{rng: rand.New(rand.NewPCG(seed, 0x5eedc1a57e12))}
	b.platform()
	b.shop()
	b.payments()
	b.data()
	b.ml()
	return Cluster{Workloads: b.workloads}
}

// clusterBuilder assembles DefaultCluster.
type clusterBuilder struct {
	rng       *rand.Rand
	workloads []WorkloadSpec
}

// sizing says how a container's requests and limits relate to its usage.
type sizing uint8

const (
	// sizeBurstable: CPU request 2–5× P95, memory 1.3–3×, no CPU limit,
	// memory limit 1.5–2× the request.
	sizeBurstable sizing = iota
	// sizeCPULimited: sizeBurstable plus a CPU limit at twice the request.
	sizeCPULimited
	// sizeGuaranteed: limits equal requests; memory 1.6–2.5× P95.
	sizeGuaranteed
	// sizeBatch: CPU request 1.5–3× the plateau, memory 1.3–2×, memory
	// limit twice the request.
	sizeBatch
	// sizeNone: no requests and no limits (BestEffort).
	sizeNone
)

func (b *clusterBuilder) uniform(lo, hi float64) float64 { return lo + (hi-lo)*b.rng.Float64() }

// m returns millicores jittered by ±20 %.
func (b *clusterBuilder) m(v float64) recommender.MilliCPU {
	return recommender.MilliCPU(math.Max(1, math.Round(v*b.uniform(0.8, 1.2))))
}

// mi returns MiB as bytes, jittered by ±20 %.
func (b *clusterBuilder) mi(v float64) recommender.Bytes {
	return recommender.Bytes(math.Round(v * b.uniform(0.8, 1.2) * float64(recommender.MiB)))
}

// peak returns a daily peak time around h o'clock UTC, ±1 h.
func (b *clusterBuilder) peak(h float64) time.Duration {
	return time.Duration((h + b.uniform(-1, 1)) * float64(time.Hour)).Round(time.Minute)
}

// Usage models, one replica each. cpu in millicores, mem in MiB.

func (b *clusterBuilder) steady(cpu, mem, noise float64) Model {
	return Model{Archetype: ArchetypeSteady, CPU: b.m(cpu), Memory: b.mi(mem), Noise: noise}
}

func (b *clusterBuilder) diurnal(peakAt time.Duration, cpu, cpuPeak, mem, memPeak float64) Model {
	base := b.m(cpu)
	mb := b.mi(mem)
	return Model{
		Archetype:  ArchetypeDiurnal,
		CPU:        base,
		CPUPeak:    max(base, b.m(cpuPeak)),
		Memory:     mb,
		MemoryPeak: max(mb, b.mi(memPeak)),
		Noise:      b.uniform(0.06, 0.15),
		PeakAt:     peakAt,
		WeekendDip: b.uniform(0.2, 0.5),
	}
}

func (b *clusterBuilder) bursty(cpu, cpuPeak, mem, memPeak, perDay float64, dur time.Duration) Model {
	base := b.m(cpu)
	mb := b.mi(mem)
	return Model{
		Archetype:     ArchetypeBursty,
		CPU:           base,
		CPUPeak:       max(base, b.m(cpuPeak)),
		Memory:        mb,
		MemoryPeak:    max(mb, b.mi(memPeak)),
		Noise:         b.uniform(0.1, 0.2),
		BurstsPerDay:  perDay * b.uniform(0.8, 1.2),
		BurstDuration: dur,
	}
}

func (b *clusterBuilder) batch(cpu, cpuPeak, mem, memPeak float64) Model {
	base := b.m(cpu)
	mb := b.mi(mem)
	return Model{
		Archetype:  ArchetypeBatch,
		CPU:        base,
		CPUPeak:    max(base, b.m(cpuPeak)),
		Memory:     mb,
		MemoryPeak: max(mb, b.mi(memPeak)),
		Noise:      b.uniform(0.05, 0.12),
	}
}

// gc adds a garbage-collection sawtooth to m.
func gc(m Model, frac float64, every time.Duration) Model {
	m.GCFraction, m.GCInterval = frac, every
	return m
}

// p95 estimates the P95 of a model's CPU (millicores) and memory (bytes)
// over a week, as an engineer sizing it would: the weekday peak for
// diurnal load and job plateaus, the base for bursty (spikes fill less
// than 5 % of the time), the top of the GC sawtooth for memory.
func p95(m *Model) (cpu, mem float64) {
	cpu = float64(max(m.CPU, m.CPUPeak))
	mem = float64(max(m.Memory, m.MemoryPeak))
	if m.Archetype == ArchetypeBursty {
		cpu, mem = float64(m.CPU), float64(m.Memory)
	}
	cpu *= 1 + 1.65*m.Noise
	mem = (mem + m.GCFraction*float64(m.Memory)) * (1 + 1.65*m.Noise/4)
	return cpu, mem
}

// nearest returns the ladder value closest to v in ratio.
func nearest(ladder []float64, v float64) float64 {
	i, _ := slices.BinarySearch(ladder, v)
	switch {
	case i == 0:
		return ladder[0]
	case i == len(ladder):
		return ladder[len(ladder)-1] * math.Ceil(v/ladder[len(ladder)-1])
	case v/ladder[i-1] < ladder[i]/v:
		return ladder[i-1]
	}
	return ladder[i]
}

// roundCPU rounds millicores to a value people write in manifests.
func roundCPU(v float64) recommender.MilliCPU {
	ladder := [...]float64{10, 20, 25, 50, 75, 100, 150, 200, 250, 300, 400, 500, 600, 750,
		1000, 1250, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 16000}
	return recommender.MilliCPU(nearest(ladder[:], v))
}

// roundMem rounds bytes to a value people write in manifests, in MiB.
func roundMem(v float64) recommender.Bytes {
	ladder := [...]float64{16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 640, 768, 1024,
		1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768, 49152, 65536}
	return recommender.Bytes(nearest(ladder[:], v/float64(recommender.MiB))) * recommender.MiB
}

// container returns a container of the given role sized against m.
func (b *clusterBuilder) container(name string, role recommender.ContainerRole, s sizing, m Model) ContainerSpec {
	c := ContainerSpec{Spec: recommender.ContainerSpec{Name: name, Role: role}, Model: m}
	cpu, mem := p95(&m)
	if m.Archetype == ArchetypeBursty {
		// Bursty services are sized for their spikes, not their P95.
		cpu = math.Max(cpu, float64(m.CPUPeak)*b.uniform(0.3, 0.6))
		mem = math.Max(mem, float64(m.MemoryPeak))
	}
	r, l := &c.Spec.Requests, &c.Spec.Limits
	switch s {
	case sizeBurstable, sizeCPULimited:
		r.CPU = roundCPU(cpu * b.uniform(2, 5))
		r.Memory = roundMem(mem * b.uniform(1.3, 3))
		l.Memory = roundMem(math.Max(float64(r.Memory)*b.uniform(1.5, 2), mem*2))
		if s == sizeCPULimited {
			l.CPU = 2 * r.CPU
		}
	case sizeGuaranteed:
		r.CPU = roundCPU(cpu * b.uniform(2, 5))
		r.Memory = roundMem(mem * b.uniform(1.6, 2.5))
		*l = *r
	case sizeBatch:
		r.CPU = roundCPU(cpu * b.uniform(1.5, 3))
		r.Memory = roundMem(mem * b.uniform(1.3, 2))
		l.Memory = 2 * r.Memory
	case sizeNone:
	}
	return c
}

func (b *clusterBuilder) app(name string, s sizing, m Model) ContainerSpec {
	return b.container(name, recommender.RoleApp, s, m)
}

func (b *clusterBuilder) sidecar(name string, s sizing, m Model) ContainerSpec {
	return b.container(name, recommender.RoleSidecar, s, m)
}

func (b *clusterBuilder) init(name string, runtime time.Duration, m Model) ContainerSpec {
	c := b.container(name, recommender.RoleInit, sizeBurstable, m)
	c.Runtime = runtime
	return c
}

// envoy is a service-mesh proxy sidecar whose load follows its app's.
func (b *clusterBuilder) envoy(peakAt time.Duration, cpuPeak float64) ContainerSpec {
	m := b.diurnal(peakAt, cpuPeak/8, cpuPeak, 55, 75)
	c := ContainerSpec{Spec: recommender.ContainerSpec{Name: "istio-proxy", Role: recommender.RoleSidecar}, Model: m}
	// Istio's injected defaults, whatever the app does.
	c.Spec.Requests = recommender.Amounts{CPU: 100, Memory: 128 * recommender.MiB}
	c.Spec.Limits = recommender.Amounts{CPU: 2000, Memory: 1024 * recommender.MiB}
	return c
}

func (b *clusterBuilder) add(ns, kind, name string, replicas int32, cs ...ContainerSpec) {
	b.workloads = append(b.workloads, WorkloadSpec{
		Key: recommender.WorkloadKey{Namespace: ns, Kind: kind, Name: name},
		Labels: map[string]string{
			"app.kubernetes.io/name":    name,
			"app.kubernetes.io/part-of": ns,
		},
		Replicas:   replicas,
		Containers: cs,
	})
}

// last returns the workload added last, to set its schedule or rollouts.
func (b *clusterBuilder) last() *WorkloadSpec { return &b.workloads[len(b.workloads)-1] }

// nightly schedules the last workload's runs daily around h o'clock UTC.
func (b *clusterBuilder) nightly(h float64, minRun, maxRun time.Duration) {
	b.last().Schedule = Schedule{
		At:     time.Duration((h + b.uniform(0, 0.5)) * float64(time.Hour)).Round(time.Minute),
		Every:  24 * time.Hour,
		MinRun: minRun,
		MaxRun: maxRun,
	}
}

func (b *clusterBuilder) rollouts(every time.Duration) { b.last().RolloutEvery = every }

const (
	deploy = "Deployment"
	sts    = "StatefulSet"
	ds     = "DaemonSet"
	cron   = "CronJob"
	nodes  = 20 // nodes the DaemonSets run on
)

func (b *clusterBuilder) platform() {
	const ns = "platform"
	pk := b.peak(14)
	b.add(ns, ds, "node-exporter", nodes,
		b.app("node-exporter", sizeBurstable, b.steady(8, 22, 0.15)))
	b.add(ns, ds, "fluent-bit", nodes,
		b.app("fluent-bit", sizeBurstable, b.diurnal(pk, 12, 60, 35, 60)))
	b.add(ns, ds, "csi-node", nodes,
		b.app("csi-driver", sizeBurstable, b.steady(4, 30, 0.1)),
		b.app("node-driver-registrar", sizeBurstable, b.steady(1, 12, 0.1)))
	b.add(ns, ds, "dcgm-exporter", 2,
		b.app("dcgm-exporter", sizeBurstable, b.steady(25, 180, 0.1)))
	b.add(ns, deploy, "ingress-nginx", 3,
		b.app("controller", sizeBurstable, gc(b.diurnal(pk, 80, 500, 200, 300), 0.2, 5*time.Minute)))
	b.rollouts(5 * 24 * time.Hour)
	b.add(ns, deploy, "cert-manager", 1,
		b.app("cert-manager", sizeBurstable, gc(b.steady(4, 50, 0.2), 0.3, 10*time.Minute)))
	b.add(ns, sts, "prometheus", 2,
		b.app("prometheus", sizeBurstable, gc(b.steady(350, 2500, 0.12), 0.35, 2*time.Hour)),
		b.sidecar("config-reloader", sizeNone, b.steady(1, 16, 0.1)))
	b.add(ns, sts, "loki", 2,
		b.app("loki", sizeBurstable, gc(b.diurnal(pk, 100, 400, 800, 1400), 0.2, 15*time.Minute)))
	b.add(ns, deploy, "grafana", 1,
		b.app("grafana", sizeBurstable, b.bursty(10, 400, 150, 300, 12, 4*time.Minute)))
	b.add(ns, deploy, "keda-operator", 1,
		b.app("keda-operator", sizeBurstable, gc(b.steady(15, 80, 0.1), 0.4, 5*time.Minute)))
	b.add(ns, deploy, "coredns", 2,
		b.app("coredns", sizeCPULimited, b.diurnal(pk, 8, 40, 22, 30)))
	b.add(ns, deploy, "argocd-repo-server", 2,
		b.init("copyutil", 20*time.Second, b.steady(50, 20, 0.1)),
		b.app("repo-server", sizeBurstable, b.bursty(5, 800, 120, 500, 24, 3*time.Minute)))
	b.add(ns, cron, "velero-backup", 1,
		b.app("velero", sizeBatch, b.batch(50, 600, 200, 900)))
	b.nightly(1, time.Hour, 2*time.Hour)
}

func (b *clusterBuilder) shop() {
	const ns = "shop"
	pk := b.peak(14)
	b.add(ns, deploy, "frontend", 8,
		b.init("istio-init", 10*time.Second, b.steady(20, 10, 0.1)),
		b.envoy(pk, 60),
		b.app("frontend", sizeBurstable, gc(b.diurnal(pk, 60, 400, 180, 260), 0.25, 4*time.Minute)))
	b.rollouts(3 * 24 * time.Hour)
	b.add(ns, deploy, "cart", 6,
		b.envoy(pk, 40),
		b.app("cart", sizeBurstable, gc(b.diurnal(pk, 30, 220, 90, 130), 0.5, 2*time.Minute)))
	b.add(ns, deploy, "catalog", 6,
		b.init("config-init", time.Minute, b.steady(150, 60, 0.1)),
		b.envoy(pk, 50),
		b.app("catalog", sizeBurstable, gc(b.diurnal(pk, 100, 700, 700, 900), 0.3, 3*time.Minute)))
	b.rollouts(4 * 24 * time.Hour)
	b.add(ns, deploy, "checkout", 4,
		b.envoy(pk, 30),
		b.app("checkout", sizeCPULimited, gc(b.diurnal(pk, 40, 250, 120, 160), 0.3, 5*time.Minute)))
	b.rollouts(2 * 24 * time.Hour)

	// Under-provisioned on purpose: the CPU limit is below the weekday
	// peak, so search is throttled every afternoon.
	search := b.diurnal(pk, 150, 850, 400, 600)
	search.WeekendDip = 0.2
	b.add(ns, deploy, "search", 3,
		b.envoy(pk, 60),
		ContainerSpec{
			Spec: recommender.ContainerSpec{
				Name:     "search",
				Requests: recommender.Amounts{CPU: 500, Memory: 1024 * recommender.MiB},
				Limits:   recommender.Amounts{CPU: 700, Memory: 2048 * recommender.MiB},
			},
			Model: search,
		})

	// Under-provisioned on purpose: leaks about 20 MiB an hour into a 1 GiB
	// limit, so each replica is OOM-killed every day or two.
	leak := b.diurnal(pk, 40, 200, 280, 320)
	leak.Archetype = ArchetypeLeaking
	leak.LeakPerHour = b.mi(20)
	b.add(ns, deploy, "recommendations", 2,
		b.envoy(pk, 30),
		ContainerSpec{
			Spec: recommender.ContainerSpec{
				Name:     "recommendations",
				Requests: recommender.Amounts{CPU: 500, Memory: 512 * recommender.MiB},
				Limits:   recommender.Amounts{Memory: 1024 * recommender.MiB},
			},
			Model: gc(leak, 0.15, 3*time.Minute),
		})

	b.add(ns, sts, "redis-cart", 1,
		b.app("redis", sizeGuaranteed, b.steady(25, 300, 0.15)),
		b.app("redis-exporter", sizeBurstable, b.steady(3, 15, 0.1)))
	b.add(ns, deploy, "image-resizer", 2,
		b.app("image-resizer", sizeBurstable, b.bursty(5, 1500, 80, 600, 10, 4*time.Minute)))
	b.add(ns, deploy, "email", 2,
		b.app("email", sizeNone, b.steady(5, 60, 0.2)))
	b.add(ns, deploy, "reviews", 2,
		b.app("reviews", sizeBurstable, gc(b.diurnal(pk, 20, 120, 250, 320), 0.3, 4*time.Minute)))
	b.add(ns, deploy, "ad-service", 2,
		b.app("ad-service", sizeNone, b.diurnal(pk, 15, 90, 200, 240)))
	b.add(ns, sts, "postgres", 1,
		b.init("init-chmod", 5*time.Second, b.steady(10, 8, 0.1)),
		b.app("postgres", sizeGuaranteed, b.steady(120, 2048, 0.2)),
		b.app("postgres-exporter", sizeBurstable, b.steady(5, 30, 0.1)))
	b.add(ns, cron, "sitemap-generator", 1,
		b.app("sitemap-generator", sizeBatch, b.batch(100, 900, 300, 1500)))
	b.nightly(3, time.Hour, 3*time.Hour)
}

func (b *clusterBuilder) payments() {
	const ns = "payments"
	pk := b.peak(15)
	b.add(ns, deploy, "payments-api", 6,
		b.init("vault-agent-init", 15*time.Second, b.steady(30, 40, 0.1)),
		b.sidecar("vault-agent", sizeBurstable, b.steady(2, 25, 0.1)),
		b.envoy(pk, 50),
		b.app("payments-api", sizeBurstable, gc(b.diurnal(pk, 50, 300, 250, 330), 0.3, 3*time.Minute)))
	b.rollouts(3 * 24 * time.Hour)
	b.add(ns, deploy, "fraud-detector", 4,
		b.app("fraud-detector", sizeBurstable, gc(b.diurnal(pk, 200, 1200, 1536, 2048), 0.3, 5*time.Minute)))
	b.add(ns, deploy, "ledger", 3,
		b.app("ledger", sizeCPULimited, gc(b.steady(60, 300, 0.12), 0.4, 5*time.Minute)))
	b.add(ns, sts, "postgres", 2,
		b.app("postgres", sizeGuaranteed, b.steady(200, 4096, 0.2)),
		b.app("postgres-exporter", sizeBurstable, b.steady(5, 30, 0.1)))
	b.add(ns, cron, "settlement", 1,
		b.app("settlement", sizeBatch, b.batch(200, 1500, 500, 2000)))
	b.nightly(1.5, time.Hour, 2*time.Hour)
	b.add(ns, cron, "reconciliation", 2,
		b.app("reconciliation", sizeBatch, b.batch(100, 800, 300, 1200)))
	b.nightly(4, time.Hour, 3*time.Hour)
	b.add(ns, deploy, "webhook-dispatcher", 2,
		b.app("webhook-dispatcher", sizeBurstable, b.bursty(10, 600, 60, 200, 16, 3*time.Minute)))
	b.add(ns, deploy, "currency-rates", 1,
		b.app("currency-rates", sizeNone, b.steady(3, 40, 0.15)))
}

func (b *clusterBuilder) data() {
	const ns = "data"
	pk := b.peak(16)
	b.add(ns, sts, "kafka", 5,
		b.app("kafka", sizeBurstable, gc(b.diurnal(pk, 300, 1500, 3072, 4096), 0.25, 5*time.Minute)),
		b.app("jmx-exporter", sizeBurstable, b.steady(10, 120, 0.1)))
	b.add(ns, sts, "zookeeper", 3,
		b.app("zookeeper", sizeBurstable, gc(b.steady(15, 250, 0.1), 0.3, 10*time.Minute)))
	b.add(ns, deploy, "airflow-scheduler", 1,
		b.app("scheduler", sizeBurstable, b.bursty(80, 600, 600, 800, 48, 2*time.Minute)))
	b.add(ns, deploy, "airflow-webserver", 1,
		b.app("webserver", sizeBurstable, b.steady(20, 500, 0.15)))
	b.add(ns, cron, "nightly-etl", 2,
		b.app("etl", sizeBatch, b.batch(300, 3000, 1024, 6144)))
	b.nightly(1, time.Hour, 3*time.Hour)
	b.add(ns, cron, "report-builder", 1,
		b.app("report-builder", sizeBatch, b.batch(100, 700, 400, 1536)))
	b.nightly(5, time.Hour, 2*time.Hour)

	// A slow leak that a week of history shows but no kill reveals.
	slow := gc(b.diurnal(pk, 200, 900, 1200, 1500), 0.2, 5*time.Minute)
	slow.Archetype = ArchetypeLeaking
	slow.LeakPerHour = b.mi(2)
	b.add(ns, deploy, "stream-processor", 3,
		b.app("stream-processor", sizeBurstable, slow))
	b.last().Containers[0].Spec.Limits.Memory = max(b.last().Containers[0].Spec.Limits.Memory, 4096*recommender.MiB)

	b.add(ns, sts, "clickhouse", 2,
		b.app("clickhouse", sizeBurstable, b.bursty(100, 3000, 2048, 6144, 20, 6*time.Minute)))
	b.add(ns, deploy, "ingest-gateway", 4,
		b.app("ingest-gateway", sizeBurstable, b.diurnal(pk, 50, 400, 100, 160)))
	b.add(ns, deploy, "schema-registry", 2,
		b.app("schema-registry", sizeBurstable, gc(b.steady(10, 350, 0.1), 0.3, 15*time.Minute)))
}

func (b *clusterBuilder) ml() {
	const ns = "ml"
	pk := b.peak(15)
	b.add(ns, deploy, "llm-inference", 2, b.gpuServer(pk, 1, 0.05, 0.28, 16, 12, 200, 800, 6144, 8192))
	b.add(ns, deploy, "embedding-service", 2, b.gpuServer(pk, 1, 0.04, 0.22, 3, 6, 100, 500, 3072, 4096))
	b.add(ns, sts, "llm-large", 1, b.gpuServer(pk, 2, 0.2, 0.6, 28, 30, 400, 1500, 12288, 16384))
	b.add(ns, deploy, "feature-store", 2,
		b.app("feature-store", sizeBurstable, gc(b.diurnal(pk, 50, 300, 1024, 1400), 0.2, 5*time.Minute)))
	b.add(ns, deploy, "model-gateway", 2,
		b.envoy(pk, 30),
		b.app("model-gateway", sizeBurstable, b.diurnal(pk, 30, 200, 150, 200)))
	b.add(ns, cron, "model-eval", 1,
		b.app("model-eval", sizeBatch, b.batch(500, 3500, 2048, 8192)))
	b.nightly(2, 2*time.Hour, 3*time.Hour)
	// Added last so that its random draws leave the rest of the cluster
	// as it was.
	b.add(ns, sts, "research-notebook", 1, b.gpuServer(pk, 1, 0.002, 0.01, 6, 0.5, 20, 60, 2048, 2560))
}

// gpuServer returns an inference server requesting gpus whole 80 GiB GPUs:
// busy gpu..gpuPeak GPUs, with weights and a peak KV cache in GiB, and
// modest CPU (millicores) and host memory (MiB).
func (b *clusterBuilder) gpuServer(peakAt time.Duration, gpus int, gpu, gpuPeak, weightsGiB, kvGiB,
	cpu, cpuPeak, mem, memPeak float64) ContainerSpec {
	m := b.diurnal(peakAt, cpu, cpuPeak, mem, memPeak)
	m.Archetype = ArchetypeGPUInference
	j := b.uniform(0.85, 1.15)
	m.GPUCompute = recommender.GPUCompute(gpu * j)
	m.GPUComputePeak = recommender.GPUCompute(gpuPeak * j)
	m.GPUWeights = recommender.Bytes(weightsGiB * float64(recommender.GiB))
	m.GPUKVCache = recommender.Bytes(kvGiB * b.uniform(0.8, 1.2) * float64(recommender.GiB))
	c := b.app("server", sizeBurstable, m)
	// Sized for the model's worst case, not for its traffic.
	c.Spec.Requests.CPU = max(c.Spec.Requests.CPU, recommender.MilliCPU(4000*gpus))
	c.Spec.Requests.Memory = max(c.Spec.Requests.Memory, recommender.Bytes(16*gpus)*recommender.GiB)
	c.Spec.Limits.Memory = max(c.Spec.Limits.Memory, c.Spec.Requests.Memory)
	g := recommender.Amounts{GPUCompute: recommender.GPUCompute(gpus), GPUMemory: recommender.Bytes(80*gpus) * recommender.GiB}
	c.Spec.Requests.GPUCompute, c.Spec.Requests.GPUMemory = g.GPUCompute, g.GPUMemory
	c.Spec.Limits.GPUCompute, c.Spec.Limits.GPUMemory = g.GPUCompute, g.GPUMemory
	return c
}
