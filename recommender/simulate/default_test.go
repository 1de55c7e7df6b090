package simulate

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
)

func TestDefaultClusterComposition(t *testing.T) {
	t.Parallel()
	c := DefaultCluster(1)
	require.NoError(t, c.Validate())
	require.Equal(t, c, DefaultCluster(1), "deterministic for a seed")
	require.NotEqual(t, c, DefaultCluster(2))

	namespaces := map[string]int{}
	kinds := map[string]int{}
	archetypes := map[Archetype]int{}
	roles := map[recommender.ContainerRole]int{}
	var running int32
	noRequests, gpuWorkloads := 0, 0
	for _, w := range c.Workloads {
		namespaces[w.Key.Namespace]++
		kinds[w.Key.Kind]++
		require.Equal(t, w.Key.Kind == "CronJob", w.Schedule.scheduled(), w.Key.String())
		for _, cs := range w.Containers {
			archetypes[cs.Model.Archetype]++
			roles[cs.Spec.Role]++
			if cs.Spec.Role != recommender.RoleInit && !w.Schedule.scheduled() {
				running += w.Replicas
			}
			if cs.Spec.Requests == (recommender.Amounts{}) {
				noRequests++
			}
			if g := cs.Spec.Requests.GPUCompute; g > 0 {
				gpuWorkloads++
				require.Contains(t, []recommender.GPUCompute{1, 2}, g, "whole GPUs")
				require.Equal(t, recommender.Bytes(g)*80*recommender.GiB, cs.Spec.Requests.GPUMemory)
			}
		}
	}
	require.GreaterOrEqual(t, len(c.Workloads), 40)
	require.LessOrEqual(t, len(c.Workloads), 60)
	require.GreaterOrEqual(t, running, int32(150), "long-running containers")
	require.LessOrEqual(t, running, int32(300))
	require.Len(t, namespaces, 5)
	for _, k := range []string{"Deployment", "StatefulSet", "DaemonSet", "CronJob"} {
		require.Positive(t, kinds[k], k)
	}
	for a := ArchetypeSteady; a < numArchetypes; a++ {
		require.Positive(t, archetypes[a], a.String())
	}
	require.Positive(t, roles[recommender.RoleInit])
	require.Positive(t, roles[recommender.RoleSidecar])
	require.GreaterOrEqual(t, noRequests, 3)
	require.GreaterOrEqual(t, gpuWorkloads, 3)
}

// statsSink keeps every CPU, memory and GPU value per container, and counts
// OOM kills and throttled samples. It is safe for concurrent use.
type statsSink struct {
	mu       sync.Mutex
	specs    map[recommender.ContainerKey]recommender.ContainerSpec
	replicas map[recommender.ContainerKey]int32
	series   map[recommender.ContainerKey]*series
	ooms     map[recommender.ContainerKey]int
	maxBatch int
}

type series struct {
	cpu, mem, gpu []float64
	throttled     int
}

func newStatsSink() *statsSink {
	return &statsSink{
		specs:    map[recommender.ContainerKey]recommender.ContainerSpec{},
		replicas: map[recommender.ContainerKey]int32{},
		series:   map[recommender.ContainerKey]*series{},
		ooms:     map[recommender.ContainerKey]int{},
	}
}

func (s *statsSink) Ingest(batch []recommender.Sample) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxBatch = max(s.maxBatch, len(batch))
	var last *series
	for i := range batch {
		x := &batch[i]
		// The replicas of a container come one after the other.
		if i == 0 || x.Key != batch[i-1].Key {
			last = s.series[x.Key]
			if last == nil {
				last = &series{}
				s.series[x.Key] = last
			}
		}
		last.cpu = append(last.cpu, float64(x.Usage.CPU))
		last.mem = append(last.mem, float64(x.Usage.Memory))
		if x.Usage.Has.Has(recommender.ResourceGPUCompute) {
			last.gpu = append(last.gpu, float64(x.Usage.GPUCompute))
		}
		if x.Usage.ThrottledFraction > 0 {
			last.throttled++
		}
	}
	return nil
}

func (s *statsSink) RecordOOM(ev recommender.OOMEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ooms[ev.Key]++
	return nil
}

func (s *statsSink) UpsertWorkload(w recommender.Workload) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range w.Containers {
		k := recommender.ContainerKey{WorkloadKey: w.Key, Container: c.Name}
		s.specs[k] = c
		s.replicas[k] = w.Replicas
	}
	return nil
}

func TestDefaultClusterWeek(t *testing.T) {
	t.Parallel()
	sim, err := New(DefaultCluster(1), DefaultOptions())
	require.NoError(t, err)
	s := newStatsSink()
	require.NoError(t, sim.Run(t.Context(), s))
	require.Equal(t, DefaultStart().Add(7*24*time.Hour), sim.Now())
	require.GreaterOrEqual(t, s.maxBatch, 150)
	require.LessOrEqual(t, s.maxBatch, 300)

	// Requests against the P95 of usage over the week, per replica times
	// replicas, summed over the containers.
	var reqCPU, p95CPU, reqMem, p95Mem float64
	for k, spec := range s.specs {
		r := float64(s.replicas[k])
		ser := s.series[k]
		require.NotNil(t, ser, "every container runs at least once in a week: %s", k)
		reqCPU += r * float64(spec.Requests.CPU)
		reqMem += r * float64(spec.Requests.Memory)
		p95CPU += r * quantile(ser.cpu, 0.95)
		p95Mem += r * quantile(ser.mem, 0.95)
	}
	t.Logf("cpu: requested %.0fm, p95 %.0fm (%.2fx); memory: requested %.1fGi, p95 %.1fGi (%.2fx)",
		reqCPU, p95CPU, reqCPU/p95CPU, reqMem/float64(recommender.GiB), p95Mem/float64(recommender.GiB), reqMem/p95Mem)
	require.GreaterOrEqual(t, reqCPU, 2*p95CPU, "over-provisioned CPU")
	require.GreaterOrEqual(t, reqMem, 1.3*p95Mem, "over-provisioned memory")

	key := func(ns, kind, name, container string) recommender.ContainerKey {
		return recommender.ContainerKey{
			WorkloadKey: recommender.WorkloadKey{Namespace: ns, Kind: kind, Name: name},
			Container:   container,
		}
	}
	// The deliberate exceptions.
	leak := key("shop", "Deployment", "recommendations", "recommendations")
	require.GreaterOrEqual(t, s.ooms[leak], 3, "two replicas killed every day or two")
	require.LessOrEqual(t, s.ooms[leak], 14)
	for k, n := range s.ooms {
		require.Equal(t, leak, k, "only the leaking service is killed (%d kills)", n)
	}
	search := key("shop", "Deployment", "search", "search")
	require.Positive(t, s.series[search].throttled)
	notebook := key("ml", "StatefulSet", "research-notebook", "server")
	gpus := 0
	for k, ser := range s.series {
		if k != search {
			require.Zero(t, ser.throttled, "only search is throttled: %s", k)
		}
		if len(ser.gpu) > 0 {
			gpus++
			share := quantile(ser.gpu, 0.95) / float64(s.specs[k].Requests.GPUCompute)
			if k == notebook {
				require.Less(t, share, 0.02, "%s idles: %.3f of its GPU at P95", k, share)
				continue
			}
			require.True(t, share >= 0.1 && share <= 0.4, "%s uses %.2f of its GPUs at P95", k, share)
		}
	}
	require.Equal(t, 4, gpus)
}
