package replay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rightsizer/rightsizer/recommender"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeSink records what a Source feeds it. It is safe for concurrent use.
type fakeSink struct {
	// Hooks, set before the sink is used.
	strict    bool                                   // reject invalid samples with SampleErrors
	keep      bool                                   // record every sample
	ingestErr func(batch []recommender.Sample) error // extra error for a batch
	upsertErr func(w recommender.Workload) error     // error for an upsert
	onIngest  func(call int, b []recommender.Sample) // runs after each Ingest

	mu         sync.Mutex
	calls      []string // "upsert" or "ingest", in order
	upserts    []recommender.Workload
	samples    []recommender.Sample // only when keep
	batchSizes []int
	ingested   int
	rejected   int
	disorder   []string // samples out of (time, key) order
	last       recommender.Sample
}

func (f *fakeSink) UpsertWorkload(w recommender.Workload) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "upsert")
	if f.upsertErr != nil {
		if err := f.upsertErr(w); err != nil {
			return err
		}
	}
	f.upserts = append(f.upserts, w)
	return nil
}

func (f *fakeSink) RecordOOM(recommender.OOMEvent) error { return errors.New("unexpected oom event") }

func (f *fakeSink) Ingest(batch []recommender.Sample) error {
	f.mu.Lock()
	var errs []error
	f.calls = append(f.calls, "ingest")
	f.batchSizes = append(f.batchSizes, len(batch))
	for i, s := range batch {
		if f.ingested > 0 && sampleBefore(s, f.last) {
			f.disorder = append(f.disorder, fmt.Sprintf("%s@%s after %s@%s", s.Key, s.Time, f.last.Key, f.last.Time))
		}
		f.last = s
		f.ingested++
		if f.strict {
			if err := validSample(s); err != nil {
				f.rejected++
				errs = append(errs, &recommender.SampleError{Index: i, Key: s.Key, Err: err})
			}
		}
	}
	if f.keep {
		f.samples = append(f.samples, batch...)
	}
	call := len(f.batchSizes)
	f.mu.Unlock()
	if f.onIngest != nil {
		f.onIngest(call, batch)
	}
	if f.ingestErr != nil {
		errs = append(errs, f.ingestErr(batch))
	}
	return errors.Join(errs...)
}

// sampleBefore reports whether a sorts strictly before b in All's order.
func sampleBefore(a, b recommender.Sample) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return compareKeys(a.Key, b.Key) < 0
}

// validSample reports why s is not a sample a strict engine would accept.
func validSample(s recommender.Sample) error {
	if err := s.Key.Validate(); err != nil {
		return err
	}
	if s.Time.IsZero() || s.Time.Unix() < 0 {
		return fmt.Errorf("%w: time %s", recommender.ErrInvalidSample, s.Time)
	}
	u := s.Usage
	if u.Has == 0 {
		return fmt.Errorf("%w: no resources", recommender.ErrInvalidSample)
	}
	if u.Has.Has(recommender.ResourceCPU) && (u.CPU < 0 || u.CPU > maxCores*1000) {
		return fmt.Errorf("%w: cpu %d", recommender.ErrInvalidSample, u.CPU)
	}
	for _, b := range []struct {
		r recommender.Resource
		v recommender.Bytes
	}{{recommender.ResourceMemory, u.Memory}, {recommender.ResourceGPUMemory, u.GPUMemory}} {
		if u.Has.Has(b.r) && (b.v < 0 || float64(b.v) > maxBytes) {
			return fmt.Errorf("%w: %s %d", recommender.ErrInvalidSample, b.r, b.v)
		}
	}
	g := float64(u.GPUCompute)
	if u.Has.Has(recommender.ResourceGPUCompute) && (math.IsNaN(g) || math.IsInf(g, 0) || g < 0 || g > 1) {
		return fmt.Errorf("%w: gpu compute %v", recommender.ErrInvalidSample, g)
	}
	return nil
}

// checkSamples fails t unless every sample of src is valid and they come
// in (time, key) order, and returns them.
func checkSamples(t testing.TB, src *Source) []recommender.Sample {
	t.Helper()
	got := slices.Collect(src.All())
	if len(got) != src.Len() {
		t.Fatalf("All yielded %d samples, Len is %d", len(got), src.Len())
	}
	for i, s := range got {
		if err := validSample(s); err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if i > 0 && !sampleBefore(got[i-1], s) {
			t.Fatalf("sample %d (%s@%s) not after sample %d (%s@%s)", i, s.Key, s.Time, i-1, got[i-1].Key, got[i-1].Time)
		}
	}
	if len(got) > 0 && (!got[0].Time.Equal(src.Start()) || !got[len(got)-1].Time.Equal(src.End())) {
		t.Fatalf("Start %s End %s, samples span %s to %s", src.Start(), src.End(), got[0].Time, got[len(got)-1].Time)
	}
	return got
}

// memInput is an in-memory trace file.
func memInput(path string, vm int, data []byte) input {
	return input{path: path, vm: vm, open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}}
}

// unix returns the UTC time sec seconds after the epoch.
func unix(sec int64) time.Time { return time.Unix(sec, 0).UTC() }
