package simulate

import (
	"context"
	"errors"
	"hash"
	"hash/fnv"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rightsizer/rightsizer/recommender"
)

// hashSink hashes everything it is given, in order.
type hashSink struct {
	h       hash.Hash64
	samples int
}

func newHashSink() *hashSink { return &hashSink{h: fnv.New64a()} }

func (s *hashSink) Ingest(batch []recommender.Sample) error {
	var buf [8]byte
	put := func(v uint64) {
		for i := range buf {
			buf[i] = byte(v >> (8 * i))
		}
		_, _ = s.h.Write(buf[:])
	}
	for _, x := range batch {
		_, _ = s.h.Write([]byte(x.Key.String()))
		put(uint64(x.Time.UnixNano()))
		u := x.Usage
		put(uint64(u.CPU))
		put(uint64(u.Memory))
		put(math.Float64bits(float64(u.GPUCompute)))
		put(uint64(u.GPUMemory))
		put(math.Float64bits(u.ThrottledFraction))
		put(uint64(u.Has))
	}
	s.samples += len(batch)
	return nil
}

func (s *hashSink) RecordOOM(ev recommender.OOMEvent) error {
	_, _ = s.h.Write([]byte("oom " + ev.Key.String() + ev.Time.String()))
	return nil
}

func (s *hashSink) UpsertWorkload(w recommender.Workload) error {
	_, _ = s.h.Write([]byte("upsert " + w.Key.String()))
	return nil
}

func TestDeterminism(t *testing.T) {
	t.Parallel()
	streamHash := func(t *testing.T, clusterSeed, seed uint64) uint64 {
		o := DefaultOptions()
		o.Seed, o.Duration = seed, 24*time.Hour
		sim, err := New(DefaultCluster(clusterSeed), o)
		require.NoError(t, err)
		s := newHashSink()
		require.NoError(t, sim.Run(t.Context(), s))
		require.Greater(t, s.samples, 100_000)
		return s.h.Sum64()
	}
	base := streamHash(t, 1, 1)
	tests := []struct {
		name              string
		clusterSeed, seed uint64
		same              bool
	}{
		{name: "same seeds give the same stream", clusterSeed: 1, seed: 1, same: true},
		{name: "another simulation seed changes the stream", clusterSeed: 1, seed: 2},
		{name: "another cluster seed changes the stream", clusterSeed: 2, seed: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := streamHash(t, tt.clusterSeed, tt.seed)
			if tt.same {
				require.Equal(t, base, got)
			} else {
				require.NotEqual(t, base, got)
			}
		})
	}
	t.Run("each run replays the stream", func(t *testing.T) {
		t.Parallel()
		o := DefaultOptions()
		o.Duration = 6 * time.Hour
		sim, err := New(DefaultCluster(3), o)
		require.NoError(t, err)
		a, b := newHashSink(), newHashSink()
		require.NoError(t, sim.Run(t.Context(), a))
		require.NoError(t, sim.Run(t.Context(), b))
		require.Equal(t, a.h.Sum64(), b.h.Sum64())
	})
	t.Run("pacing does not change the values", func(t *testing.T) {
		t.Parallel()
		c := one("Deployment", 2, ctr("app", recommender.Amounts{}, recommender.Amounts{},
			Model{Archetype: ArchetypeBursty, CPU: 10, CPUPeak: 500, Memory: 50 * mib, Noise: 0.2}))
		o := DefaultOptions()
		o.Duration = time.Hour
		fast, err := New(c, o)
		require.NoError(t, err)
		a := newHashSink()
		require.NoError(t, fast.Run(t.Context(), a))

		o.Speed = 3600 // an hour of virtual time per second, on a fake clock
		fc := clocktesting.NewFakeClock(time.Unix(0, 0))
		o.Clock = fc
		paced, err := New(c, o)
		require.NoError(t, err)
		b := newHashSink()
		synctest.Test(t, func(t *testing.T) {
			errc := make(chan error, 1)
			go func() { errc <- paced.Run(t.Context(), b) }()
			synctest.Wait()
			fc.Step(time.Second)
			require.NoError(t, <-errc)
		})
		require.Equal(t, a.h.Sum64(), b.h.Sum64())
	})
	t.Run("backfill plays at once, then pacing takes over", func(t *testing.T) {
		t.Parallel()
		c := one("Deployment", 1, ctr("app", recommender.Amounts{}, recommender.Amounts{},
			Model{Archetype: ArchetypeSteady, CPU: 10, Memory: 50 * mib}))
		o := DefaultOptions()
		o.Duration, o.Backfill, o.Speed = 2*time.Hour, time.Hour, 60 // then a virtual minute per second
		fc := clocktesting.NewFakeClock(time.Unix(0, 0))
		o.Clock = fc
		sim, err := New(c, o)
		require.NoError(t, err)
		synctest.Test(t, func(t *testing.T) {
			errc := make(chan error, 1)
			go func() { errc <- sim.Run(t.Context(), newHashSink()) }()
			synctest.Wait() // the hour of backfill, with no clock step
			require.Equal(t, o.Start.Add(time.Hour), sim.Now())
			fc.Step(time.Second)
			synctest.Wait()
			require.Equal(t, o.Start.Add(time.Hour+time.Minute), sim.Now())
			fc.Step(time.Minute)
			require.NoError(t, <-errc)
		})
	})
}

func TestSamplesAreValid(t *testing.T) {
	t.Parallel()
	c := DefaultCluster(5)
	o := DefaultOptions()
	o.Seed, o.Duration = 5, 2*24*time.Hour
	sim, err := New(c, o)
	require.NoError(t, err)
	s := &checkingSink{specs: map[recommender.ContainerKey]recommender.ContainerSpec{}, valid: map[recommender.ContainerKey]bool{}}
	require.NoError(t, sim.Run(t.Context(), s))
	require.Empty(t, s.problems)
	require.Greater(t, s.samples, 500_000)
	require.Positive(t, s.ooms)
}

// checkingSink checks every sample and OOM event as it arrives, keeping up
// to 10 problems. It is safe for concurrent use.
type checkingSink struct {
	mu       sync.Mutex
	specs    map[recommender.ContainerKey]recommender.ContainerSpec
	valid    map[recommender.ContainerKey]bool
	problems []string
	samples  int
	ooms     int
}

func (s *checkingSink) problem(k recommender.ContainerKey, tm time.Time, p string) {
	if len(s.problems) < 10 {
		s.problems = append(s.problems, k.String()+" at "+tm.Format(time.RFC3339)+": "+p)
	}
}

func (s *checkingSink) UpsertWorkload(w recommender.Workload) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.samples > 0 {
		s.problem(recommender.ContainerKey{WorkloadKey: w.Key}, time.Time{}, "upserted after samples")
	}
	for _, c := range w.Containers {
		s.specs[recommender.ContainerKey{WorkloadKey: w.Key, Container: c.Name}] = c
	}
	return nil
}

func (s *checkingSink) RecordOOM(ev recommender.OOMEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ooms++
	if spec, ok := s.specs[ev.Key]; !ok || ev.Limit != spec.Limits.Memory || ev.Usage <= 0 {
		s.problem(ev.Key, ev.Time, "oom event without the container's memory limit")
	}
	return nil
}

func (s *checkingSink) Ingest(batch []recommender.Sample) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range batch {
		s.samples++
		if !s.valid[x.Key] {
			if err := x.Key.Validate(); err != nil {
				s.problem(x.Key, x.Time, err.Error())
			}
			s.valid[x.Key] = true
		}
		spec, ok := s.specs[x.Key]
		if !ok {
			s.problem(x.Key, x.Time, "not upserted")
			continue
		}
		if p := sampleProblem(x, spec); p != "" {
			s.problem(x.Key, x.Time, p)
		}
	}
	return nil
}

// sampleProblem returns what is wrong with a sample of a container with
// the given spec, or "".
func sampleProblem(x recommender.Sample, spec recommender.ContainerSpec) string {
	u := x.Usage
	cpuMem := recommender.ResourceSet(0).With(recommender.ResourceCPU).With(recommender.ResourceMemory)
	gpu := u.Has.Has(recommender.ResourceGPUCompute)
	switch {
	case x.Time.Sub(DefaultStart())%time.Minute != 0 || !x.Time.After(DefaultStart()):
		return "off the step grid"
	case u.Has&cpuMem != cpuMem:
		return "cpu or memory missing"
	case u.CPU < 0 || u.Memory <= 0 || u.GPUMemory < 0:
		return "negative cpu, memory or gpu memory, or no memory"
	case math.IsNaN(float64(u.GPUCompute)) || u.GPUCompute < 0:
		return "gpu compute is NaN or negative"
	case math.IsNaN(u.ThrottledFraction) || u.ThrottledFraction < 0 || u.ThrottledFraction > 1:
		return "throttled fraction outside [0, 1]"
	case spec.Limits.CPU > 0 && u.CPU > spec.Limits.CPU:
		return "cpu above its limit"
	case spec.Limits.CPU == 0 && (u.HasThrottling || u.ThrottledFraction != 0):
		return "throttled without a cpu limit"
	case spec.Limits.Memory > 0 && u.Memory > spec.Limits.Memory:
		return "memory above its limit"
	case gpu != u.Has.Has(recommender.ResourceGPUMemory) || gpu != (spec.Requests.GPUCompute > 0):
		return "gpu resources reported without a gpu request, or partly"
	case gpu && (u.GPUCompute > spec.Requests.GPUCompute || u.GPUMemory > spec.Requests.GPUMemory):
		return "gpu use above the gpu request"
	}
	return ""
}

func TestPacing(t *testing.T) {
	t.Parallel()
	c := one("Deployment", 2, ctr("app", recommender.Amounts{}, recommender.Amounts{},
		Model{Archetype: ArchetypeSteady, CPU: 10, Memory: 10 * mib}))
	options := func(fc *clocktesting.FakeClock, d time.Duration) Options {
		// A virtual minute per real second.
		return Options{Seed: 1, Step: time.Minute, Speed: 60, Duration: d, Clock: fc}
	}

	t.Run("the clock drives the steps until cancelled", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			fc := clocktesting.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			sim, err := New(c, options(fc, 0))
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			sink := newRecordingSink()
			errc := make(chan error, 1)
			go func() { errc <- sim.Run(ctx, sink) }()

			synctest.Wait()
			require.Zero(t, sink.batchCount(), "the first step waits for its time")
			require.Equal(t, DefaultStart(), sim.Now())
			require.ErrorIs(t, sim.Run(ctx, newRecordingSink()), ErrRunning)

			for i := 1; i <= 3; i++ {
				fc.Step(time.Second)
				synctest.Wait()
				require.Equal(t, i, sink.batchCount())
				require.Equal(t, DefaultStart().Add(time.Duration(i)*time.Minute), sim.Now())
			}
			fc.Step(time.Second / 2)
			synctest.Wait()
			require.Equal(t, 3, sink.batchCount(), "half a step is not enough")
			fc.Step(time.Second/2 + 9*time.Second)
			synctest.Wait()
			require.Equal(t, 13, sink.batchCount(), "a late simulation catches up")

			cancel()
			require.ErrorIs(t, <-errc, context.Canceled)
			require.Equal(t, 13, sink.batchCount())
		})
	})
	t.Run("the run ends at its duration", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			fc := clocktesting.NewFakeClock(time.Unix(0, 0))
			sim, err := New(c, options(fc, 5*time.Minute))
			require.NoError(t, err)
			sink := newRecordingSink()
			errc := make(chan error, 1)
			go func() { errc <- sim.Run(t.Context(), sink) }()
			for range 5 {
				synctest.Wait()
				fc.Step(time.Second)
			}
			require.NoError(t, <-errc)
			require.Equal(t, 5, sink.batchCount())
			require.Equal(t, DefaultStart().Add(5*time.Minute), sim.Now())
		})
	})
}

func TestRunCancelled(t *testing.T) {
	t.Parallel()
	c := one("Deployment", 1, ctr("app", recommender.Amounts{}, recommender.Amounts{},
		Model{Archetype: ArchetypeSteady, CPU: 10, Memory: 10 * mib}))
	o := DefaultOptions()
	o.Duration = 0 // until cancelled
	sim, err := New(c, o)
	require.NoError(t, err)

	t.Run("during the run", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		sink := newRecordingSink()
		sink.afterIngest = func(n int) {
			if n == 100 {
				cancel()
			}
		}
		require.ErrorIs(t, sim.Run(ctx, sink), context.Canceled)
		require.Equal(t, 100, sink.batchCount())
		require.Equal(t, DefaultStart().Add(100*time.Minute), sim.Now())
	})
	t.Run("before the run", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		sink := newRecordingSink()
		require.ErrorIs(t, sim.Run(ctx, sink), context.Canceled)
		require.Empty(t, sink.workloads)
	})
}

func TestRunSinkErrors(t *testing.T) {
	t.Parallel()
	errSink := errors.New("sink is full")
	c := one("Deployment", 1, ctr("app", recommender.Amounts{}, recommender.Amounts{Memory: 100 * mib},
		Model{Archetype: ArchetypeLeaking, CPU: 10, Memory: 50 * mib, LeakPerHour: 100 * mib}))
	tests := []struct {
		name    string
		arrange func(s *recordingSink)
		want    string
	}{
		{name: "upsert", arrange: func(s *recordingSink) { s.upsertErr = errSink }, want: "upsert workload test/Deployment/w: "},
		{name: "ingest", arrange: func(s *recordingSink) { s.ingestErr = errSink }, want: "ingest 1 samples at 2026-11-02T00:01:00Z: "},
		{name: "oom", arrange: func(s *recordingSink) { s.oomErr = errSink }, want: "record oom of test/Deployment/w/app at "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim, err := New(c, DefaultOptions())
			require.NoError(t, err)
			s := newRecordingSink()
			tt.arrange(s)
			err = sim.Run(t.Context(), s)
			require.ErrorIs(t, err, errSink)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestNewCopiesTheCluster(t *testing.T) {
	t.Parallel()
	c := DefaultCluster(1)
	sim, err := New(c, Options{Duration: time.Minute})
	require.NoError(t, err)
	c.Workloads[0].Containers[0].Spec.Name = "changed"
	c.Workloads[0].Labels["app.kubernetes.io/name"] = "changed"
	s := newRecordingSink()
	require.NoError(t, sim.Run(t.Context(), s))
	require.Equal(t, DefaultCluster(1).Workloads[0].Containers[0].Spec.Name, s.workloads[0].Containers[0].Name)
	require.Equal(t, DefaultCluster(1).Workloads[0].Key.Name, s.workloads[0].Labels["app.kubernetes.io/name"])
}

func TestNewReportsEveryProblem(t *testing.T) {
	t.Parallel()
	c := one("Deployment", -1, ctr("app", recommender.Amounts{}, recommender.Amounts{}, Model{}))
	_, err := New(c, Options{Step: -time.Second})
	require.ErrorContains(t, err, "invalid options: step -1s")
	require.ErrorContains(t, err, "invalid cluster: ")
	require.ErrorContains(t, err, "replicas -1 is negative")
	require.ErrorContains(t, err, "unknown archetype 0")
}
