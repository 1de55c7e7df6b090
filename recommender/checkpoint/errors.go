package checkpoint

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrLocked reports that another process, or another Store in this
	// process, holds the checkpoint file open. Open returns it, wrapped,
	// once Options.LockTimeout has passed.
	ErrLocked = errors.New("checkpoint file is locked by another process or store")
	// ErrClosed reports a call on a Store after Close.
	ErrClosed = errors.New("checkpoint store is closed")
	// ErrInvalidRecord reports a record that cannot be stored: an empty
	// key, or a key or value over bbolt's size limits. Write and Replace
	// wrap it and store nothing.
	ErrInvalidRecord = errors.New("invalid record")
)

// CorruptError reports a checkpoint file that is damaged or is not a
// checkpoint this version of the package can read.
//
// Open returns no error for such a file: it moves the file aside to MovedTo,
// starts an empty store and reports the CorruptError through
// (*Store).Recovered. Load and the write methods return a CorruptError, with
// MovedTo empty, when bbolt panics on a page that was damaged after Open.
type CorruptError struct {
	// Path is the checkpoint file that was found damaged.
	Path string
	// MovedTo is where the damaged file now lies, or "" when it was not
	// moved.
	MovedTo string
	// Err says what is wrong with the file.
	Err error
}

func (e *CorruptError) Error() string {
	if e.MovedTo == "" {
		return fmt.Sprintf("corrupt checkpoint %s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("corrupt checkpoint %s (moved to %s): %v", e.Path, e.MovedTo, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// IsCorrupt reports whether err is, or wraps, a *CorruptError.
func IsCorrupt(err error) bool {
	var ce *CorruptError
	return errors.As(err, &ce)
}
