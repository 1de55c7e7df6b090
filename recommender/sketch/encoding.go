package sketch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rightsizer/rightsizer/recommender/internal/wire"
)

// The binary encoding, version 1, little-endian:
//
//	"rsk" 0x01                      magic and version
//	float64  relative accuracy
//	uvarint  half-life (ns)
//	uvarint  max buckets
//	float64  min value
//	varint   decay reference (ns since the epoch)
//	float64  zero-bucket weight
//	varint   index of the first stored bucket
//	uvarint  n, the number of stored buckets (≤ max buckets)
//	n×float32 bucket weights
//
// Leading and trailing empty buckets are not stored. A sketch with 150
// buckets encodes in about 640 bytes.
const (
	magic   = "rsk"
	version = 1
)

// ErrCorrupt reports bytes that are not a valid sketch encoding.
var ErrCorrupt = errors.New("corrupt sketch encoding")

// AppendBinary appends the encoding of s to b.
func (s *Sketch) AppendBinary(b []byte) ([]byte, error) {
	lo, hi := 0, len(s.counts)
	for lo < hi && s.counts[lo] == 0 {
		lo++
	}
	for hi > lo && s.counts[hi-1] == 0 {
		hi--
	}
	o := s.cfg.opts
	b = append(b, magic...)
	b = append(b, version)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(o.RelativeAccuracy))
	b = binary.AppendUvarint(b, uint64(o.HalfLife))
	b = binary.AppendUvarint(b, uint64(o.MaxBuckets))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(o.MinValue))
	b = binary.AppendVarint(b, s.ref)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.zero))
	b = binary.AppendVarint(b, int64(s.offset)+int64(lo))
	b = binary.AppendUvarint(b, uint64(hi-lo))
	for _, c := range s.counts[lo:hi] {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(c))
	}
	return b, nil
}

// MarshalBinary returns the encoding of s.
func (s *Sketch) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, 48+4*len(s.counts)))
}

// header is the part of an encoding before the weights.
type header struct {
	opts   Options
	ref    int64
	zero   float64
	offset int64
	n      uint64
	rest   []byte
}

func decodeHeader(data []byte) (header, error) {
	if len(data) < len(magic)+1 || string(data[:len(magic)]) != magic {
		return header{}, fmt.Errorf("%w: missing magic", ErrCorrupt)
	}
	if v := data[len(magic)]; v != version {
		return header{}, fmt.Errorf("%w: unsupported version %d", ErrCorrupt, v)
	}
	d := wire.NewReader(data[len(magic)+1:], ErrCorrupt)
	var h header
	h.opts.RelativeAccuracy = d.Float64("relative accuracy")
	hl := d.Uvarint("half-life")
	mb := d.Uvarint("max buckets")
	h.opts.MinValue = d.Float64("min value")
	h.ref = d.Varint("reference time")
	h.zero = d.Float64("zero weight")
	h.offset = d.Varint("offset")
	h.n = d.Uvarint("bucket count")
	if err := d.Err(); err != nil {
		return header{}, err
	}
	if hl > math.MaxInt64 || mb > MaxBucketsLimit {
		return header{}, fmt.Errorf("%w: half-life or max buckets out of range", ErrCorrupt)
	}
	h.opts.HalfLife = time.Duration(hl)
	h.opts.MaxBuckets = int(mb)
	if err := h.opts.Validate(); err != nil {
		return header{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	h.rest = d.Rest()
	return h, nil
}

// DecodeOptions returns the Options recorded in an encoding, so that a
// caller can find or make the matching Config before calling Decode.
func DecodeOptions(data []byte) (Options, error) {
	h, err := decodeHeader(data)
	return h.opts, err
}

// Decode returns a new sketch with its own Config from an encoding.
func Decode(data []byte) (*Sketch, error) {
	opts, err := DecodeOptions(data)
	if err != nil {
		return nil, err
	}
	cfg, err := NewConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return cfg.Decode(data)
}

// Decode returns the sketch encoded in data, which must have been encoded
// under the same relative accuracy, half-life, max buckets and min value
// as c (ErrMismatch otherwise). Every field is checked: bad bytes give
// ErrCorrupt, never a panic, and allocation is bounded by MaxBuckets.
func (c *Config) Decode(data []byte) (*Sketch, error) {
	h, err := decodeHeader(data)
	if err != nil {
		return nil, err
	}
	if h.opts != c.opts {
		return nil, fmt.Errorf("%w: encoded with %+v, config has %+v", ErrMismatch, h.opts, c.opts)
	}
	if h.n > uint64(c.opts.MaxBuckets) {
		return nil, fmt.Errorf("%w: %d buckets exceed the maximum %d", ErrCorrupt, h.n, c.opts.MaxBuckets)
	}
	if uint64(len(h.rest)) != 4*h.n {
		return nil, fmt.Errorf("%w: %d bytes of weights for %d buckets", ErrCorrupt, len(h.rest), h.n)
	}
	if h.n > 0 && (h.offset < int64(c.minIndex) || h.offset+int64(h.n)-1 > int64(c.maxIndex)) {
		return nil, fmt.Errorf("%w: buckets [%d, %d) outside [%d, %d]", ErrCorrupt, h.offset, h.offset+int64(h.n), c.minIndex, c.maxIndex)
	}
	if !validWeight(h.zero) {
		return nil, fmt.Errorf("%w: zero weight %v", ErrCorrupt, h.zero)
	}
	if c.halfLife > 0 && h.ref%c.halfLife != 0 {
		return nil, fmt.Errorf("%w: reference time %d is not a multiple of the half-life", ErrCorrupt, h.ref)
	}
	s := &Sketch{cfg: c, ref: h.ref, zero: h.zero, total: h.zero}
	if h.n > 0 {
		s.offset = int32(h.offset)
		s.counts = make([]float32, h.n)
		for i := range s.counts {
			w := math.Float32frombits(binary.LittleEndian.Uint32(h.rest[4*i:]))
			if !validWeight(float64(w)) {
				return nil, fmt.Errorf("%w: bucket weight %v", ErrCorrupt, w)
			}
			s.counts[i] = w
			s.total += float64(w)
		}
	}
	if math.IsInf(s.total, 0) {
		return nil, fmt.Errorf("%w: total weight overflows", ErrCorrupt)
	}
	return s, nil
}

func validWeight(w float64) bool { return w >= 0 && w <= math.MaxFloat32 }
