package simulate

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rightsizer/rightsizer/recommender"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recordingSink records everything it is given. It is safe for concurrent
// use; its fields are read through its methods.
type recordingSink struct {
	mu        sync.Mutex
	workloads []recommender.Workload
	samples   []recommender.Sample
	ooms      []recommender.OOMEvent
	batches   int
	// upsertsAtIngest is how many workloads had been upserted when the
	// first batch arrived (-1 before it).
	upsertsAtIngest int

	upsertErr, oomErr, ingestErr error
	// afterIngest, if set, is called with the number of batches so far
	// after each batch is recorded, outside the lock.
	afterIngest func(batches int)
}

func newRecordingSink() *recordingSink { return &recordingSink{upsertsAtIngest: -1} }

func (s *recordingSink) Ingest(batch []recommender.Sample) error {
	s.mu.Lock()
	if s.ingestErr != nil {
		s.mu.Unlock()
		return s.ingestErr
	}
	if s.upsertsAtIngest < 0 {
		s.upsertsAtIngest = len(s.workloads)
	}
	s.samples = append(s.samples, batch...) // copy: the batch is reused
	s.batches++
	n, after := s.batches, s.afterIngest
	s.mu.Unlock()
	if after != nil {
		after(n)
	}
	return nil
}

func (s *recordingSink) RecordOOM(ev recommender.OOMEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.oomErr != nil {
		return s.oomErr
	}
	s.ooms = append(s.ooms, ev)
	return nil
}

func (s *recordingSink) UpsertWorkload(w recommender.Workload) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.upsertErr != nil {
		return s.upsertErr
	}
	s.workloads = append(s.workloads, w)
	return nil
}

func (s *recordingSink) batchCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches
}

// samplesOf returns the recorded samples of one container, in order.
func (s *recordingSink) samplesOf(container string) []recommender.Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []recommender.Sample
	for _, x := range s.samples {
		if x.Key.Container == container {
			out = append(out, x)
		}
	}
	return out
}

func (s *recordingSink) oomEvents() []recommender.OOMEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ooms)
}

// run simulates c for d and returns what the sink recorded.
func run(t *testing.T, c Cluster, seed uint64, d time.Duration) *recordingSink {
	t.Helper()
	o := DefaultOptions()
	o.Seed, o.Duration = seed, d
	sim, err := New(c, o)
	require.NoError(t, err)
	s := newRecordingSink()
	require.NoError(t, sim.Run(t.Context(), s))
	return s
}

// one returns a cluster of one workload.
func one(kind string, replicas int32, cs ...ContainerSpec) Cluster {
	return Cluster{Workloads: []WorkloadSpec{{
		Key:        recommender.WorkloadKey{Namespace: "test", Kind: kind, Name: "w"},
		Replicas:   replicas,
		Containers: cs,
	}}}
}

// ctr returns an app container.
func ctr(name string, req, lim recommender.Amounts, m Model) ContainerSpec {
	return ContainerSpec{Spec: recommender.ContainerSpec{Name: name, Requests: req, Limits: lim}, Model: m}
}

const mib = recommender.MiB

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// quantile returns the q-quantile of v (nearest rank); v is sorted in place.
func quantile(v []float64, q float64) float64 {
	slices.Sort(v)
	return v[int(q*float64(len(v)-1)+0.5)]
}

func cpus(ss []recommender.Sample) []float64 {
	out := make([]float64, len(ss))
	for i, x := range ss {
		out[i] = float64(x.Usage.CPU)
	}
	return out
}
