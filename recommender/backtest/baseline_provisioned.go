package backtest

import (
	"fmt"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
)

// Provisioned is the do-nothing baseline: every container keeps the
// requests and limits it was provisioned with. It is what the other
// policies save against.
//
// It is safe for concurrent use (it has no state).
type Provisioned struct{}

var _ Policy = (*Provisioned)(nil)

// NewProvisioned returns the provisioned baseline.
func NewProvisioned() *Provisioned { return &Provisioned{} }

// Name returns "provisioned".
func (*Provisioned) Name() string { return "provisioned" }

// Ingest accepts and ignores the samples.
func (*Provisioned) Ingest([]recommender.Sample) error { return nil }

// RecordOOM accepts and ignores the kill.
func (*Provisioned) RecordOOM(recommender.OOMEvent) error { return nil }

// UpsertWorkload accepts and ignores the workload.
func (*Provisioned) UpsertWorkload(recommender.Workload) error { return nil }

// Decide never changes anything: it returns current and ok = false.
func (*Provisioned) Decide(_ recommender.ContainerKey, _ time.Time, current Applied) (Applied, bool) {
	return current, false
}

// The helpers below are shared by the baselines that keep data (VPA and
// KRR): the checks that make them honour recommender.Sink's contract.

// Times a baseline accepts: those whose UnixNano is defined (the baselines
// keep times as nanoseconds since the epoch).
var (
	minBaselineTime = time.Unix(0, -1<<63)
	maxBaselineTime = time.Unix(0, 1<<63-1)
)

// checkTime reports why t cannot be recorded, or nil.
func checkTime(t time.Time) error {
	if t.IsZero() || t.Before(minBaselineTime) || t.After(maxBaselineTime) {
		return fmt.Errorf("%w: time %v outside the years 1678 to 2262", recommender.ErrInvalidSample, t)
	}
	return nil
}

// checkSample reports why s cannot be recorded, or nil. The key is
// checked once per container, when its state is created.
func checkSample(s *recommender.Sample) error {
	u := &s.Usage
	switch {
	case u.Has.Has(recommender.ResourceCPU) && u.CPU < 0:
		return fmt.Errorf("%w: negative cpu", recommender.ErrInvalidSample)
	case u.Has.Has(recommender.ResourceMemory) && u.Memory < 0:
		return fmt.Errorf("%w: negative memory", recommender.ErrInvalidSample)
	}
	return checkTime(s.Time)
}

// checkOOM reports why ev cannot be recorded, or nil.
func checkOOM(ev *recommender.OOMEvent) error {
	if ev.Limit < 0 || ev.Usage < 0 {
		return fmt.Errorf("%w: negative limit or usage", recommender.ErrInvalidSample)
	}
	if err := checkTime(ev.Time); err != nil {
		return err
	}
	return ev.Key.Validate()
}

// checkWorkload reports why w cannot be recorded, or nil.
func checkWorkload(w *recommender.Workload) error {
	for _, c := range w.Containers {
		if err := (recommender.ContainerKey{WorkloadKey: w.Key, Container: c.Name}).Validate(); err != nil {
			return err
		}
	}
	return nil
}

// rejects collects the samples of a batch that Ingest rejects.
type rejects struct{ ie recommender.IngestError }

func (r *rejects) add(i int, k recommender.ContainerKey, err error) {
	r.ie.Rejected++
	if len(r.ie.Samples) < recommender.MaxSampleErrors {
		r.ie.Samples = append(r.ie.Samples, &recommender.SampleError{Index: i, Key: k, Err: err})
	}
}

// err returns the *recommender.IngestError, or nil if nothing was rejected.
func (r *rejects) err() error {
	if r.ie.Rejected == 0 {
		return nil
	}
	ie := r.ie
	return &ie
}

// errOutOfOrder is the reason for rejecting a sample older than the
// container's previous one: both baselines need time order (VPA's model
// drops such samples itself; KRR's window is kept sorted).
var errOutOfOrder = fmt.Errorf("%w: older than the container's previous sample", recommender.ErrInvalidSample)
