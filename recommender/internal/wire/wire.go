// Package wire reads the little-endian varint encodings of rightsizer's
// checkpoints (sketches and container states) defensively: every read is
// bounds-checked, and the first failure is kept and reported as the
// caller's own "corrupt" error, so decoders stay straight-line code.
package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Reader reads from a byte slice. It is not safe for concurrent use.
type Reader struct {
	b       []byte
	corrupt error
	err     error
}

// NewReader reads b; failures wrap corrupt (a sentinel such as ErrCorrupt).
func NewReader(b []byte, corrupt error) *Reader { return &Reader{b: b, corrupt: corrupt} }

// Err returns the first failure, or nil.
func (r *Reader) Err() error { return r.err }

// Rest returns the bytes not read yet.
func (r *Reader) Rest() []byte { return r.b }

// Fail records a failure (if none is recorded yet) naming what was bad.
func (r *Reader) Fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: bad %s", r.corrupt, what)
	}
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.Fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Varint reads a signed varint.
func (r *Reader) Varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.Fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Float64 reads 8 bytes as a float64, whatever its value.
func (r *Reader) Float64(what string) float64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 8 {
		r.Fail(what)
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

// Byte reads one byte.
func (r *Reader) Byte(what string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.Fail(what)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// Bytes reads n bytes, sharing them with the input.
func (r *Reader) Bytes(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.Fail(what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}
