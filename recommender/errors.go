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

// SampleError reports one rejected sample of a batch. Ingest joins one per
// rejected sample with errors.Join; errors.As finds them.
type SampleError struct {
	Index int // position in the batch
	Key   ContainerKey
	Err   error
}

func (e *SampleError) Error() string {
	return fmt.Sprintf("sample %d (%s): %v", e.Index, e.Key, e.Err)
}

func (e *SampleError) Unwrap() error { return e.Err }
