package sketch

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Errors returned for data that a sketch cannot take. None of them leaves
// the sketch changed.
var (
	// ErrInvalidValue reports a NaN, infinite or negative value.
	ErrInvalidValue = errors.New("value must be finite and non-negative")
	// ErrInvalidQuantile reports a quantile outside [0, 1].
	ErrInvalidQuantile = errors.New("quantile must be in [0, 1]")
	// ErrEmpty reports a query on a sketch that holds no weight.
	ErrEmpty = errors.New("sketch is empty")
	// ErrMismatch reports a merge of sketches with different relative
	// accuracy or half-life, or a decode under the wrong Config.
	ErrMismatch = errors.New("sketch parameters do not match")
	// ErrInvalidOptions reports Options that Validate rejects.
	ErrInvalidOptions = errors.New("invalid sketch options")
)

// Limits on Options.
const (
	// MinRelativeAccuracy and MaxRelativeAccuracy bound Options.RelativeAccuracy.
	MinRelativeAccuracy = 1e-4
	MaxRelativeAccuracy = 0.5
	// MinBuckets and MaxBucketsLimit bound Options.MaxBuckets.
	MinBuckets      = 16
	MaxBucketsLimit = 1 << 16
)

// maxExponent bounds the decay exponent of a fresh sample before the
// sketch renormalises. Counts are float32 (largest ≈ 2^128), so 2^32 leaves
// 2^96 of room for the number of samples in one bucket.
const maxExponent = 32

// Options configure a sketch. The zero value is not valid; start from
// DefaultOptions.
type Options struct {
	// RelativeAccuracy is α: every quantile the sketch returns is within
	// α × (true value) of the exact weighted quantile of the values added
	// (as long as the sketch has not collapsed buckets, see MaxBuckets).
	// Default 0.01 (1 %).
	RelativeAccuracy float64
	// HalfLife is the exponential decay half-life: a sample's weight halves
	// for every HalfLife that passes after it. Zero disables decay.
	HalfLife time.Duration
	// MaxBuckets bounds memory to 4 bytes per bucket. When the values span
	// more buckets than this, the lowest buckets collapse into one and the
	// quantiles whose rank falls in them are over-estimated; the highest
	// quantiles, the ones rightsizing uses, keep the guarantee. With α = 1 %
	// the default 2048 buckets cover a dynamic range of e^81.
	MaxBuckets int
	// MinValue is the smallest value that gets its own bucket; values in
	// [0, MinValue) are counted together as zero. Default 1e-9.
	MinValue float64
}

// DefaultOptions returns 1 % relative accuracy, a 24 h half-life (as VPA's
// recommender), 2048 buckets at most and 1e-9 as the smallest value.
func DefaultOptions() Options {
	return Options{RelativeAccuracy: 0.01, HalfLife: 24 * time.Hour, MaxBuckets: 2048, MinValue: 1e-9}
}

// Validate reports every problem with the options at once.
func (o Options) Validate() error {
	var errs []error
	if !(o.RelativeAccuracy >= MinRelativeAccuracy && o.RelativeAccuracy <= MaxRelativeAccuracy) {
		errs = append(errs, fmt.Errorf("relative accuracy %v not in [%v, %v]", o.RelativeAccuracy, MinRelativeAccuracy, MaxRelativeAccuracy))
	}
	if o.HalfLife < 0 {
		errs = append(errs, fmt.Errorf("half-life %v is negative", o.HalfLife))
	}
	if o.MaxBuckets < MinBuckets || o.MaxBuckets > MaxBucketsLimit {
		errs = append(errs, fmt.Errorf("max buckets %d not in [%d, %d]", o.MaxBuckets, MinBuckets, MaxBucketsLimit))
	}
	if !(o.MinValue >= 0x1p-1022 && o.MinValue < 1) {
		errs = append(errs, fmt.Errorf("min value %v not in [2^-1022, 1)", o.MinValue))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	return nil
}

// Config is the immutable, shareable part of a sketch: its accuracy,
// half-life and limits. Many sketches point at one Config, which keeps each
// sketch small. A Config is safe for concurrent use.
type Config struct {
	opts Options
	m    *mapping

	halfLife int64   // ns; 0 = no decay
	invHL    float64 // 1/halfLife in 1/ns
	minIndex int32   // index of MinValue
	maxIndex int32   // index of math.MaxFloat64
}

// NewConfig validates opts and returns the Config for them.
func NewConfig(opts Options) (*Config, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	a := opts.RelativeAccuracy
	c := &Config{opts: opts, m: newMapping((1 + a) / (1 - a)), halfLife: int64(opts.HalfLife)}
	if c.halfLife > 0 {
		c.invHL = 1 / float64(c.halfLife)
	}
	c.minIndex = c.m.index(opts.MinValue)
	c.maxIndex = c.m.index(math.MaxFloat64)
	return c, nil
}

// Options returns the options the Config was made from.
func (c *Config) Options() Options { return c.opts }

// New returns an empty sketch that uses c.
func (c *Config) New() *Sketch { return &Sketch{cfg: c} }

// Make returns an empty sketch that uses c, as a value to embed in a
// larger struct (saving a pointer and an allocation per sketch). Do not
// copy a Sketch after use: copies share their buckets; use Clone.
func (c *Config) Make() Sketch { return Sketch{cfg: c} }

// index maps v ≥ MinValue to its bucket.
func (c *Config) index(v float64) int32 { return c.m.index(v) }

// value returns bucket i's representative, within α of every value in it.
func (c *Config) value(i int32) float64 { return c.m.value(i) }

// Sketch is a mergeable quantile sketch with a guaranteed relative error and
// exponential time decay (DDSketch-style logarithmic buckets, stored densely
// from an offset as float32 weights).
//
// Add is O(1) (amortised: the bucket array grows when a value falls outside
// the range seen so far); Quantile and CDF are O(buckets); Merge is
// O(buckets of both). Memory is about 64 bytes plus 4 bytes per bucket
// between the smallest and the largest value seen, at most MaxBuckets.
//
// Decay works by inflating the weight of newer samples, 2^((t−ref)/HalfLife)
// for a sample at time t, which is the same as deflating older ones; the
// sketch renormalises when the exponent grows large. Queries therefore do
// not depend on the time they are asked at.
//
// A Sketch is not safe for concurrent use.
type Sketch struct {
	cfg    *Config
	ref    int64     // decay reference time, ns since the epoch; a multiple of HalfLife
	zero   float64   // weight of values below MinValue
	total  float64   // weight of every value; equals zero + Σ counts
	offset int32     // bucket index of counts[0]
	counts []float32 // weight per bucket
}

// Config returns the sketch's Config.
func (s *Sketch) Config() *Config { return s.cfg }

// Add records value v observed at time t with unit weight (before decay).
// It returns ErrInvalidValue for NaN, ±Inf and negative values, leaving the
// sketch unchanged. A time far earlier than the samples already held yields
// a weight that underflows to nothing; callers bound times (the engine
// rejects times before 2000 and beyond its clock's horizon).
func (s *Sketch) Add(v float64, t time.Time) error {
	if !(v >= 0 && v <= math.MaxFloat64) {
		return ErrInvalidValue
	}
	w := 1.0
	if s.cfg.halfLife > 0 {
		w = s.weight(t.UnixNano())
	}
	if v < s.cfg.opts.MinValue {
		s.zero += w
		s.total += w
		return nil
	}
	s.addToBucket(s.cfg.index(v), w)
	return nil
}

// weight returns the decay weight of a sample at tns, renormalising first
// when the exponent would pass maxExponent.
func (s *Sketch) weight(tns int64) float64 {
	if s.total == 0 {
		// Empty: anchor the reference at the sample, on a HalfLife multiple
		// so that sketches fed by one clock share references.
		s.ref = floorMultiple(tns, s.cfg.halfLife)
	}
	x := float64(tns-s.ref) * s.cfg.invHL
	if x > maxExponent {
		s.shiftRef(floorMultiple(tns, s.cfg.halfLife))
		x = float64(tns-s.ref) * s.cfg.invHL
	}
	return exp2(x)
}

// shiftRef moves the reference time forward to ref (a HalfLife multiple
// later than s.ref) and scales every weight so that relative weights stay
// the same.
func (s *Sketch) shiftRef(ref int64) {
	k := (ref - s.ref) / s.cfg.halfLife // whole half-lives, ≥ 0
	s.ref = ref
	if k == 0 {
		return
	}
	s.scale(-int(min(k, 2048)))
}

// scale multiplies every weight by 2^exp and recomputes the total.
func (s *Sketch) scale(exp int) {
	s.zero = math.Ldexp(s.zero, exp)
	s.total = s.zero
	for i, c := range s.counts {
		c = float32(math.Ldexp(float64(c), exp))
		s.counts[i] = c
		s.total += float64(c)
	}
}

// addToBucket adds w to bucket i, growing or collapsing the store as needed.
func (s *Sketch) addToBucket(i int32, w float64) {
	j := int(i) - int(s.offset)
	if j < 0 || j >= len(s.counts) {
		j = s.grow(i)
	}
	// Account the total with the rounded increment so that the total stays
	// exactly the sum that Quantile walks.
	before := s.counts[j]
	after := before + float32(w)
	s.counts[j] = after
	s.total += float64(after) - float64(before)
}

// grow makes room for bucket i and returns its position in counts. When the
// span would pass MaxBuckets it keeps the highest buckets and folds the
// lowest into the new lowest bucket.
func (s *Sketch) grow(i int32) int {
	maxB := int32(s.cfg.opts.MaxBuckets)
	if len(s.counts) == 0 {
		// Start with a little room on both sides; most series stay within a
		// factor of a few of their first value.
		slack := min(8, (maxB-1)/2)
		lo := max(i-slack, s.cfg.minIndex)
		hi := min(i+slack, s.cfg.maxIndex)
		s.offset = lo
		s.counts = make([]float32, hi-lo+1)
		return int(i - lo)
	}
	lo, hi := s.offset, s.offset+int32(len(s.counts))-1
	newLo, newHi := min(lo, i), max(hi, i)
	if newHi-newLo+1 > maxB {
		// Keep the top maxB buckets; anything below joins the lowest.
		newLo = newHi - maxB + 1
	}
	// Over-allocate by an eighth in the direction of growth, so that a
	// drifting series does not reallocate on every new bucket.
	n := newHi - newLo + 1
	extra := min(n/8+2, maxB-n)
	if i < lo {
		newLo = max(newLo-extra, s.cfg.minIndex)
	} else {
		newHi = min(newHi+extra, s.cfg.maxIndex)
	}
	counts := make([]float32, newHi-newLo+1)
	for k, c := range s.counts {
		idx := max(int32(k)+lo, newLo) // below the kept range: collapse
		counts[idx-newLo] += c
	}
	s.offset, s.counts = newLo, counts
	return int(max(i, newLo) - newLo)
}

// floorMultiple rounds t down to a multiple of m (m > 0).
func floorMultiple(t, m int64) int64 {
	r := t % m
	if r < 0 {
		r += m
	}
	return t - r
}

// Empty reports whether the sketch holds no weight.
func (s *Sketch) Empty() bool { return s.total == 0 }

// Buckets returns the number of buckets the sketch stores.
func (s *Sketch) Buckets() int { return len(s.counts) }

// Weight returns the decayed total weight as of time at: each sample counts
// 2^−(age/HalfLife), so without decay it is the number of samples, and with
// decay it is the "effective" number of recent samples.
func (s *Sketch) Weight(at time.Time) float64 {
	if s.cfg.halfLife == 0 || s.total == 0 {
		return s.total
	}
	return s.total * math.Exp2(-float64(at.UnixNano()-s.ref)*s.cfg.invHL)
}

// Quantile returns the weighted q-quantile of the values added: the
// smallest value x such that values ≤ x carry at least q of the weight.
// The result is within RelativeAccuracy × x of the exact answer (see
// MaxBuckets for the one exception). Quantile(0) is the minimum and
// Quantile(1) the maximum, within the same accuracy.
func (s *Sketch) Quantile(q float64) (float64, error) {
	if !(q >= 0 && q <= 1) {
		return 0, ErrInvalidQuantile
	}
	if s.total == 0 {
		return 0, ErrEmpty
	}
	rank := q * s.total
	if q > 0.5 {
		// High quantiles, the common case, are nearer the top: walk down
		// while what lies above the bucket still leaves rank reached,
		// skipping whole chunks first.
		above, slack := 0.0, s.total-rank
		j := len(s.counts)
		for j >= chunk {
			c := sum32(s.counts[j-chunk : j])
			if above+c > slack {
				break
			}
			above += c
			j -= chunk
		}
		for j--; j >= 0; j-- {
			c := float64(s.counts[j])
			if c > 0 && above+c > slack {
				return s.cfg.value(s.offset + int32(j)), nil
			}
			above += c
		}
		return 0, nil
	}
	cum := s.zero
	if cum > 0 && cum >= rank {
		return 0, nil
	}
	j := 0
	for ; j+chunk <= len(s.counts); j += chunk {
		c := sum32(s.counts[j : j+chunk])
		if cum+c >= rank && c > 0 {
			break
		}
		cum += c
	}
	for ; j < len(s.counts); j++ {
		c := s.counts[j]
		if c == 0 {
			continue
		}
		cum += float64(c)
		if cum >= rank {
			return s.cfg.value(s.offset + int32(j)), nil
		}
	}
	// Rounding left rank a hair above the total: the answer is the maximum.
	for j := len(s.counts) - 1; j >= 0; j-- {
		if s.counts[j] > 0 {
			return s.cfg.value(s.offset + int32(j)), nil
		}
	}
	return 0, nil
}

// chunk is how many buckets the quantile walk skips at once.
const chunk = 8

// sum32 adds weights in four independent sums, so the additions do not
// wait on each other.
func sum32(c []float32) float64 {
	var a0, a1, a2, a3 float64
	for len(c) >= 4 {
		a0 += float64(c[0])
		a1 += float64(c[1])
		a2 += float64(c[2])
		a3 += float64(c[3])
		c = c[4:]
	}
	for _, x := range c {
		a0 += float64(x)
	}
	return (a0 + a1) + (a2 + a3)
}

// CDF returns the fraction of the weight at or below v, consistent with
// Quantile: CDF(Quantile(q)) ≥ q. A bucket counts as below v when its
// representative value is at most v, so the answer is exact for values
// that are themselves bucket representatives and otherwise off by at most
// the weight of the one bucket that holds v. CDF of a negative or NaN value
// is 0; of an empty sketch, 0.
func (s *Sketch) CDF(v float64) float64 {
	if s.total == 0 || !(v >= 0) {
		return 0
	}
	below := s.zero
	if v >= s.cfg.opts.MinValue && len(s.counts) > 0 {
		i := s.cfg.index(math.Min(v, math.MaxFloat64))
		if s.cfg.value(i) > v {
			i--
		}
		n := int(i) - int(s.offset) + 1
		below += sum32(s.counts[:max(0, min(n, len(s.counts)))])
	}
	return math.Min(below/s.total, 1)
}

// Merge adds other's weights into s. Both must share relative accuracy and
// half-life (ErrMismatch otherwise, leaving s unchanged); MaxBuckets of s
// applies to the result. Decay references are aligned first, so the result
// equals the sketch of both streams. other is not changed.
func (s *Sketch) Merge(other *Sketch) error {
	if !s.cfg.compatible(other.cfg) {
		return ErrMismatch
	}
	if other.total == 0 {
		return nil
	}
	oz := other.zero // read before s changes: other may be s
	exp := 0         // scale for other's weights
	if s.cfg.halfLife > 0 {
		switch {
		case s.total == 0:
			s.ref = other.ref
		case other.ref > s.ref:
			s.shiftRef(other.ref)
		case other.ref < s.ref:
			exp = -int(min((s.ref-other.ref)/s.cfg.halfLife, 2048))
		}
	}
	s.zero += math.Ldexp(oz, exp)
	s.total += math.Ldexp(oz, exp)
	for k, c := range other.counts {
		if c == 0 {
			continue
		}
		s.addToBucket(other.offset+int32(k), math.Ldexp(float64(c), exp))
	}
	return nil
}

// compatible reports whether sketches of c and o can merge.
func (c *Config) compatible(o *Config) bool {
	return c == o || (c.opts.RelativeAccuracy == o.opts.RelativeAccuracy && c.halfLife == o.halfLife)
}

// Clone returns an independent copy of s.
func (s *Sketch) Clone() *Sketch {
	c := *s
	c.counts = append([]float32(nil), s.counts...)
	return &c
}

// Reset empties the sketch, keeping its storage.
func (s *Sketch) Reset() {
	clear(s.counts)
	s.zero, s.total, s.ref = 0, 0, 0
}
