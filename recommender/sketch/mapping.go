package sketch

import "math"

// mapping assigns values to logarithmic buckets without computing a
// logarithm. Each octave [2^e, 2^(e+1)) is cut into the same N = 2^bits
// cells of equal width, found from the top bits of the float's mantissa;
// runs of consecutive cells form the buckets, each run as long as it can be
// while its upper bound stays within γ of its lower bound. Every bucket
// therefore spans a ratio of at most γ, which is what the relative-error
// guarantee needs, and an index is a shift, a mask and a table lookup.
// Because bucket bounds fall on cell edges, a bucket is a little narrower
// than γ on average, so the sketch uses about 4 % more buckets than exact
// ⌊log_γ v⌋ buckets would (mapping_test.go measures it).
//
// A mapping is immutable after newMapping and safe for concurrent use.
type mapping struct {
	shift  uint     // 52 − bits: drops the mantissa bits below the cell
	mask   uint64   // N − 1
	perOct int32    // buckets per octave
	cell   []uint16 // cell → bucket within the octave
	rep    []float64
	// rep[j] is the representative mantissa of bucket j of an octave, in
	// [1, 2]: the harmonic mean of its bounds, whose relative distance to
	// either bound is (hi−lo)/(hi+lo) ≤ (γ−1)/(γ+1) = α.
}

// newMapping returns the mapping for bucket ratio γ > 1.
func newMapping(gamma float64) *mapping {
	// About 16 cells per bucket keeps the waste of rounding bucket bounds to
	// cell edges near 3 %; 6 to 16 bits covers α from 0.5 down to 1e-4.
	bits := uint(math.Ceil(math.Log2(16 / math.Log2(gamma))))
	bits = min(max(bits, 6), 16)
	n := 1 << bits
	m := &mapping{shift: 52 - bits, mask: uint64(n - 1), cell: make([]uint16, n)}
	edge := func(c int) float64 { return 1 + float64(c)/float64(n) }
	start := 0
	for start < n {
		end := start + 1 // the bucket covers cells [start, end)
		for end < n && edge(end+1) <= gamma*edge(start) {
			end++
		}
		for c := start; c < end; c++ {
			m.cell[c] = uint16(len(m.rep))
		}
		lo, hi := edge(start), edge(end)
		m.rep = append(m.rep, 2*lo*hi/(lo+hi))
		start = end
	}
	m.perOct = int32(len(m.rep))
	return m
}

// index returns the bucket of a normal, finite v > 0.
func (m *mapping) index(v float64) int32 {
	b := math.Float64bits(v)
	e := int32(b>>52&0x7ff) - 1023
	return e*m.perOct + int32(m.cell[(b>>m.shift)&m.mask])
}

// value returns the representative value of bucket i.
func (m *mapping) value(i int32) float64 {
	e := i / m.perOct
	j := i % m.perOct
	if j < 0 {
		e, j = e-1, j+m.perOct
	}
	// 2^e from its bits: e is the exponent of a normal float, so it is in
	// [−1022, 1023] (callers only pass indexes of values they mapped).
	return m.rep[j] * math.Float64frombits(uint64(int64(e)+1023)<<52)
}

// exp2 returns 2^x for x in [−1022, 1023] with a relative error below 1e-8,
// several times faster than math.Exp2; decay weights need no more.
func exp2(x float64) float64 {
	n := math.Floor(x)
	f := (x - n) * exp2Cells // in [0, 256)
	k := int(f)
	r := (f - float64(k)) * (math.Ln2 / exp2Cells) // 2^(r/ln2) = e^r, r < 0.0028
	// e^r ≈ 1 + r + r²/2, error below r³/6 < 4e-9.
	p := exp2Table[k] * (1 + r*(1+0.5*r))
	return p * math.Float64frombits(uint64(int64(n)+1023)<<52)
}

const exp2Cells = 256

// exp2Table holds 2^(k/256); computed once, read-only.
var exp2Table = func() (t [exp2Cells]float64) {
	for k := range t {
		t[k] = math.Exp2(float64(k) / exp2Cells)
	}
	return t
}()
