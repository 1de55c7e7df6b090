package recommender

import (
	"errors"
	"fmt"
)

// Sentinel errors for expected outcomes. Callers test them with errors.Is.
var (
	// ErrInsufficientHistory reports that a container has too little
	// history for the requested answer.
	ErrInsufficientHistory = errors.New("insufficient history")
	// ErrNotFound reports an unknown container or workload.
	ErrNotFound = errors.New("not found")
	// ErrInvalidSample reports a sample that cannot be recorded: a NaN,
	// infinite or negative value, a bad key or an unusable time.
	ErrInvalidSample = errors.New("invalid sample")
)

// IngestError reports the samples of a batch that Ingest rejected; every
// other sample of the batch was recorded. errors.As finds it, and finds
// each listed SampleError through it.
type IngestError struct {
	// Rejected counts the rejected samples.
	Rejected int
	// Samples holds the first MaxSampleErrors of them, in batch order.
	Samples []*SampleError
}

// MaxSampleErrors bounds IngestError.Samples, so that a batch of garbage
// cannot make an error as large as itself.
const MaxSampleErrors = 100

func (e *IngestError) Error() string {
	if len(e.Samples) == 0 {
		return fmt.Sprintf("%d samples rejected", e.Rejected)
	}
	return fmt.Sprintf("%d samples rejected, the first: %v", e.Rejected, e.Samples[0])
}

// Unwrap returns the listed SampleErrors.
func (e *IngestError) Unwrap() []error {
	errs := make([]error, len(e.Samples))
	for i, s := range e.Samples {
		errs[i] = s
	}
	return errs
}

// SampleError reports one rejected sample of a batch (see IngestError).
type SampleError struct {
	Index int // position in the batch
	Key   ContainerKey
	Err   error
}

func (e *SampleError) Error() string {
	return fmt.Sprintf("sample %d (%s): %v", e.Index, e.Key, e.Err)
}

func (e *SampleError) Unwrap() error { return e.Err }
