package sketch

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gonum.org/v1/gonum/stat"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	t0        = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	quantiles = []float64{0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98, 0.99, 0.999, 1}
)

func mustConfig(t testing.TB, o Options) *Config {
	t.Helper()
	c, err := NewConfig(o)
	require.NoError(t, err)
	return c
}

func noDecay() Options {
	o := DefaultOptions()
	o.HalfLife = 0
	return o
}

// distributions are the synthetic series of the accuracy tests, each drawn
// from a seeded generator.
var distributions = []struct {
	name string
	gen  func(r *rand.Rand) float64
}{
	{"uniform", func(r *rand.Rand) float64 { return r.Float64() * 4 }},
	{"normal", func(r *rand.Rand) float64 { return math.Abs(500 + 120*r.NormFloat64()) }},
	{"lognormal", func(r *rand.Rand) float64 { return math.Exp(3 + 1.5*r.NormFloat64()) }},
	{"pareto", func(r *rand.Rand) float64 { return 10 / math.Pow(1-r.Float64(), 1/1.2) }},
	{"bimodal", func(r *rand.Rand) float64 {
		if r.IntN(10) < 7 {
			return math.Abs(200 + 20*r.NormFloat64())
		}
		return math.Abs(2e9 + 3e8*r.NormFloat64())
	}},
	{"with-zeros", func(r *rand.Rand) float64 {
		if r.IntN(4) == 0 {
			return 0
		}
		return r.ExpFloat64() * 50
	}},
}

// exactQuantile is the oracle: gonum's weighted empirical quantile, the
// smallest x whose cumulative weight reaches q of the total.
func exactQuantile(q float64, xs, ws []float64) float64 {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return xs[idx[a]] < xs[idx[b]] })
	sx := make([]float64, len(xs))
	var sw []float64
	if ws != nil {
		sw = make([]float64, len(xs))
	}
	for k, i := range idx {
		sx[k] = xs[i]
		if ws != nil {
			sw[k] = ws[i]
		}
	}
	return stat.Quantile(q, stat.Empirical, sx, sw)
}

// requireAccurate asserts every quantile of s is within α of the oracle.
func requireAccurate(t *testing.T, s *Sketch, xs, ws []float64) {
	t.Helper()
	alpha := s.Config().Options().RelativeAccuracy
	for _, q := range quantiles {
		if ws != nil && q == 1 {
			// Under decay the maximum may be an ancient sample weighing
			// 2^-300 of the total: not a meaningful quantile, and gonum's
			// sum and cumulative sum round differently there.
			continue
		}
		got, err := s.Quantile(q)
		require.NoError(t, err)
		want := exactQuantile(q, xs, ws)
		if want < s.Config().Options().MinValue {
			require.Zero(t, got, "q=%v", q)
			continue
		}
		require.LessOrEqual(t, math.Abs(got-want), alpha*want*(1+1e-9), "q=%v got=%v want=%v", q, got, want)
	}
}

func TestQuantileAccuracy(t *testing.T) {
	t.Parallel()
	for _, alpha := range []float64{0.01, 0.002, 0.05} {
		for _, d := range distributions {
			t.Run(d.name, func(t *testing.T) {
				t.Parallel()
				o := noDecay()
				o.RelativeAccuracy = alpha
				// At 0.2 % the widest series span more than the default
				// 2048 buckets; TestMaxBucketsCollapse covers that case.
				o.MaxBuckets = MaxBucketsLimit
				s := mustConfig(t, o).New()
				r := rand.New(rand.NewPCG(7, uint64(len(d.name))))
				xs := make([]float64, 20000)
				for i := range xs {
					xs[i] = d.gen(r)
					require.NoError(t, s.Add(xs[i], t0))
				}
				requireAccurate(t, s, xs, nil)
				require.InDelta(t, float64(len(xs)), s.Weight(t0), 1e-6)
			})
		}
	}
}

// TestQuantileAccuracyDecay checks the guarantee against the exact
// quantile under the same decay weights, over a week at one sample a
// minute with a 24 h half-life.
func TestQuantileAccuracyDecay(t *testing.T) {
	t.Parallel()
	for _, d := range distributions {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			s := mustConfig(t, DefaultOptions()).New()
			r := rand.New(rand.NewPCG(11, uint64(len(d.name))))
			const n = 7 * 24 * 60
			xs, ws := make([]float64, n), make([]float64, n)
			for i := range xs {
				ts := t0.Add(time.Duration(i) * time.Minute)
				// A trend, so that decay changes the answer.
				xs[i] = d.gen(r) * (1 + float64(i)/n)
				ws[i] = math.Exp2(-float64(n-1-i) / (24 * 60))
				require.NoError(t, s.Add(xs[i], ts))
			}
			requireAccurate(t, s, xs, ws)
		})
	}
}

func TestDecayHalvesWeight(t *testing.T) {
	t.Parallel()
	s := mustConfig(t, DefaultOptions()).New()
	// Two old samples at 1 and one fresh sample at 100: one day later the
	// old pair weighs as much as the fresh one, so the median sits between.
	require.NoError(t, s.Add(1, t0))
	require.NoError(t, s.Add(1, t0))
	require.NoError(t, s.Add(100, t0.Add(24*time.Hour)))
	require.InDelta(t, 0.5, s.CDF(1.01), 1e-6)
	require.InDelta(t, 2.0, s.Weight(t0.Add(24*time.Hour)), 1e-6)
	require.InDelta(t, 1.0, s.Weight(t0.Add(48*time.Hour)), 1e-6)
}

// TestRenormalise runs a sketch across far more than maxExponent
// half-lives and checks that weights stay finite and recent data rules.
func TestRenormalise(t *testing.T) {
	t.Parallel()
	o := DefaultOptions()
	o.HalfLife = time.Hour
	s := mustConfig(t, o).New()
	for h := range 24 * 30 {
		v := 10.0
		if h >= 24*29 {
			v = 1000 // the last day
		}
		require.NoError(t, s.Add(v, t0.Add(time.Duration(h)*time.Hour)))
	}
	require.False(t, math.IsInf(s.total, 0) || math.IsNaN(s.total))
	med, err := s.Quantile(0.5)
	require.NoError(t, err)
	require.InEpsilon(t, 1000, med, 0.01)
	// An out-of-order sample from long ago weighs nothing.
	require.NoError(t, s.Add(1e6, t0))
	p99, err := s.Quantile(0.99)
	require.NoError(t, err)
	require.InEpsilon(t, 1000, p99, 0.01)
}

func TestInvalidInputs(t *testing.T) {
	t.Parallel()
	s := mustConfig(t, DefaultOptions()).New()
	require.NoError(t, s.Add(5, t0))
	before, err := s.MarshalBinary()
	require.NoError(t, err)
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1, -math.SmallestNonzeroFloat64} {
		require.ErrorIs(t, s.Add(v, t0), ErrInvalidValue, "v=%v", v)
	}
	for _, q := range []float64{-0.1, 1.1, math.NaN()} {
		_, err := s.Quantile(q)
		require.ErrorIs(t, err, ErrInvalidQuantile)
	}
	_, err = mustConfig(t, DefaultOptions()).New().Quantile(0.5)
	require.ErrorIs(t, err, ErrEmpty)

	other := DefaultOptions()
	other.RelativeAccuracy = 0.02
	o := mustConfig(t, other).New()
	require.NoError(t, o.Add(1, t0))
	require.ErrorIs(t, s.Merge(o), ErrMismatch)
	other = DefaultOptions()
	other.HalfLife = time.Hour
	o = mustConfig(t, other).New()
	require.NoError(t, o.Add(1, t0))
	require.ErrorIs(t, s.Merge(o), ErrMismatch)

	after, err := s.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, before, after, "rejected input changed the sketch")
	require.Zero(t, s.CDF(math.NaN()))
	require.Zero(t, s.CDF(-3))
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, DefaultOptions().Validate())
	bad := Options{RelativeAccuracy: 2, HalfLife: -time.Second, MaxBuckets: 3, MinValue: 0}
	err := bad.Validate()
	require.ErrorIs(t, err, ErrInvalidOptions)
	for _, want := range []string{"relative accuracy", "half-life", "max buckets", "min value"} {
		require.ErrorContains(t, err, want)
	}
}

func TestMergeEqualsUnion(t *testing.T) {
	t.Parallel()
	for _, halfLife := range []time.Duration{0, 24 * time.Hour, time.Hour} {
		t.Run(halfLife.String(), func(t *testing.T) {
			t.Parallel()
			o := DefaultOptions()
			o.HalfLife = halfLife
			cfg := mustConfig(t, o)
			all, a, b := cfg.New(), cfg.New(), cfg.New()
			r := rand.New(rand.NewPCG(3, 4))
			var xs, ws []float64
			for i := range 20000 {
				ts := t0.Add(time.Duration(i) * time.Minute)
				v := math.Exp(2 + r.NormFloat64())
				if r.IntN(5) == 0 {
					v = 0
				}
				xs = append(xs, v)
				if halfLife > 0 {
					// Relative to the last sample, so no weight overflows.
					ws = append(ws, math.Exp2(-float64(time.Duration(19999-i)*time.Minute)/float64(halfLife)))
				}
				require.NoError(t, all.Add(v, ts))
				// Split so the two halves have different references.
				if i < 8000 || r.IntN(3) == 0 {
					require.NoError(t, a.Add(v, ts))
				} else {
					require.NoError(t, b.Add(v, ts))
				}
			}
			require.NoError(t, a.Merge(b))
			for _, q := range quantiles {
				got, err := a.Quantile(q)
				require.NoError(t, err)
				want, err := all.Quantile(q)
				require.NoError(t, err)
				require.InEpsilon(t, want+1e-300, got+1e-300, 1e-9, "q=%v", q)
			}
			requireAccurate(t, a, xs, ws)
			end := t0.Add(20000 * time.Minute)
			require.InEpsilon(t, all.Weight(end), a.Weight(end), 1e-6)

			// Merging the other way round gives the same answer.
			require.NoError(t, b.Merge(a))
			self := all.Clone()
			require.NoError(t, self.Merge(self))
			require.InEpsilon(t, 2*all.Weight(end), self.Weight(end), 1e-9)
		})
	}
}

func TestCDFConsistentWithQuantile(t *testing.T) {
	t.Parallel()
	s := mustConfig(t, noDecay()).New()
	r := rand.New(rand.NewPCG(5, 6))
	for range 5000 {
		require.NoError(t, s.Add(r.ExpFloat64()*1e3, t0))
	}
	for _, q := range quantiles {
		v, err := s.Quantile(q)
		require.NoError(t, err)
		require.GreaterOrEqual(t, s.CDF(v), q-1e-12, "q=%v", q)
	}
	require.Equal(t, 1.0, s.CDF(math.MaxFloat64))
	require.Equal(t, 1.0, s.CDF(math.Inf(1)))
}

func TestMaxBucketsCollapse(t *testing.T) {
	t.Parallel()
	o := noDecay()
	o.MaxBuckets = 64
	s := mustConfig(t, o).New()
	var xs []float64
	for i := range 4000 {
		// Twelve decades: far more than 64 buckets at 1 %.
		v := math.Pow(10, float64(i%1200)/100-3)
		xs = append(xs, v)
		require.NoError(t, s.Add(v, t0))
	}
	require.LessOrEqual(t, s.Buckets(), 64)
	// The top of the distribution keeps the guarantee...
	for _, q := range []float64{0.999, 1} {
		got, err := s.Quantile(q)
		require.NoError(t, err)
		want := exactQuantile(q, xs, nil)
		require.InEpsilon(t, want, got, 0.01)
	}
	// ...and below the kept range quantiles are over-estimates, never under.
	got, err := s.Quantile(0.1)
	require.NoError(t, err)
	require.Greater(t, got, exactQuantile(0.1, xs, nil))
}

func TestMappingGuarantee(t *testing.T) {
	t.Parallel()
	for _, alpha := range []float64{MinRelativeAccuracy, 0.001, 0.01, 0.02, 0.1, MaxRelativeAccuracy} {
		gamma := (1 + alpha) / (1 - alpha)
		m := newMapping(gamma)
		// Every bucket spans at most γ, and its representative is within α
		// of both its bounds.
		n := len(m.cell)
		lo := 0
		for j := range int(m.perOct) {
			hi := lo
			for hi < n && int(m.cell[hi]) == j {
				hi++
			}
			l, h := 1+float64(lo)/float64(n), 1+float64(hi)/float64(n)
			require.LessOrEqual(t, h/l, gamma*(1+1e-12), "alpha=%v bucket %d", alpha, j)
			require.LessOrEqual(t, (m.rep[j]-l)/l, alpha*(1+1e-12))
			require.LessOrEqual(t, (h-m.rep[j])/h, alpha*(1+1e-12))
			lo = hi
		}
		require.Equal(t, n, lo)
		// The cost of cell-aligned bounds: buckets per octave against the
		// ideal 1/log₂(γ), which an octave must round up to an integer.
		ideal := 1 / math.Log2(gamma)
		require.LessOrEqual(t, float64(m.perOct), math.Ceil(ideal*1.05), "alpha=%v", alpha)
	}
}

func TestMappingMonotone(t *testing.T) {
	t.Parallel()
	cfg := mustConfig(t, DefaultOptions())
	r := rand.New(rand.NewPCG(9, 9))
	vs := []float64{cfg.opts.MinValue, 1, 2, 3, math.MaxFloat64, 0x1p-1022}
	for range 20000 {
		vs = append(vs, math.Exp(r.Float64()*80-30))
	}
	slices.Sort(vs)
	for k := 1; k < len(vs); k++ {
		require.LessOrEqual(t, cfg.index(vs[k-1]), cfg.index(vs[k]))
	}
	for _, v := range vs[1:] {
		i := cfg.index(v)
		require.LessOrEqual(t, math.Abs(cfg.value(i)-v), 0.01*v*(1+1e-12), "v=%v", v)
	}
}

func TestExp2(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 1))
	for range 100000 {
		x := r.Float64()*200 - 100
		require.InEpsilon(t, math.Exp2(x), exp2(x), 1e-8, "x=%v", x)
	}
	for _, x := range []float64{0, 1, -1, 32, -1022, 1023, 0.5} {
		require.InEpsilon(t, math.Exp2(x), exp2(x), 1e-8, "x=%v", x)
	}
}

func TestEncodingRoundTrip(t *testing.T) {
	t.Parallel()
	for _, d := range distributions {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			s := mustConfig(t, DefaultOptions()).New()
			r := rand.New(rand.NewPCG(2, uint64(len(d.name))))
			for i := range 3000 {
				require.NoError(t, s.Add(d.gen(r), t0.Add(time.Duration(i)*time.Minute)))
			}
			b, err := s.MarshalBinary()
			require.NoError(t, err)
			got, err := s.Config().Decode(b)
			require.NoError(t, err)
			for _, q := range quantiles {
				w, _ := s.Quantile(q)
				g, _ := got.Quantile(q)
				require.Equal(t, w, g, "q=%v", q)
			}
			require.InEpsilon(t, s.total, got.total, 1e-12)
			b2, err := got.MarshalBinary()
			require.NoError(t, err)
			require.Equal(t, b, b2, "encoding is not canonical")
			// A fresh Config decodes it too.
			got2, err := Decode(b)
			require.NoError(t, err)
			require.InEpsilon(t, s.total, got2.total, 1e-12)
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	cfg := mustConfig(t, DefaultOptions())
	s := cfg.New()
	for i := range 100 {
		require.NoError(t, s.Add(float64(i+1), t0.Add(time.Duration(i)*time.Minute)))
	}
	good, err := s.MarshalBinary()
	require.NoError(t, err)
	// The weights start after the header; flip the first weight's sign.
	hdr := len(good) - 4*len(trimmed(s.counts))
	withWeight := func(f float32) []byte {
		b := slices.Clone(good)
		u := math.Float32bits(f)
		b[hdr], b[hdr+1], b[hdr+2], b[hdr+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
		return b
	}
	other := DefaultOptions()
	other.HalfLife = time.Hour
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"magic", append([]byte("xsk"), good[3:]...), ErrCorrupt},
		{"version", append([]byte("rsk\x09"), good[4:]...), ErrCorrupt},
		{"trailing", append(slices.Clone(good), 0), ErrCorrupt},
		{"negative weight", withWeight(-1), ErrCorrupt},
		{"nan weight", withWeight(float32(math.NaN())), ErrCorrupt},
		{"inf weight", withWeight(float32(math.Inf(1))), ErrCorrupt},
		{"mismatch", mustEncode(t, mustConfig(t, other).New()), ErrMismatch},
	}
	for n := range len(good) {
		cases = append(cases, struct {
			name string
			data []byte
			want error
		}{"truncated", good[:n], ErrCorrupt})
	}
	for _, c := range cases {
		_, err := cfg.Decode(c.data)
		require.ErrorIs(t, err, c.want, c.name)
	}
}

func trimmed(c []float32) []float32 {
	lo, hi := 0, len(c)
	for lo < hi && c[lo] == 0 {
		lo++
	}
	for hi > lo && c[hi-1] == 0 {
		hi--
	}
	return c[lo:hi]
}

func mustEncode(t *testing.T, s *Sketch) []byte {
	t.Helper()
	b, err := s.MarshalBinary()
	require.NoError(t, err)
	return b
}

func TestResetAndClone(t *testing.T) {
	t.Parallel()
	s := mustConfig(t, DefaultOptions()).New()
	require.NoError(t, s.Add(3, t0))
	c := s.Clone()
	s.Reset()
	require.True(t, s.Empty())
	require.False(t, c.Empty())
	require.NoError(t, s.Add(7, t0.Add(time.Hour)))
	v, err := s.Quantile(1)
	require.NoError(t, err)
	require.InEpsilon(t, 7, v, 0.01)
}

// FuzzDecode feeds arbitrary bytes to the decoder: it must never panic,
// and whatever it accepts must re-encode to the same bytes and answer
// queries.
func FuzzDecode(f *testing.F) {
	cfg, err := NewConfig(DefaultOptions())
	if err != nil {
		f.Fatal(err)
	}
	s := cfg.New()
	for i := range 50 {
		_ = s.Add(float64(i*i), t0.Add(time.Duration(i)*time.Minute))
	}
	good, _ := s.MarshalBinary()
	f.Add(good)
	f.Add(good[:20])
	empty, _ := cfg.New().MarshalBinary()
	f.Add(empty)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrMismatch) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		b, err := d.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Config().Decode(b); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !d.Empty() {
			if _, err := d.Quantile(0.9); err != nil {
				t.Fatal(err)
			}
		}
		_ = d.Add(1, t0)
		_ = d.CDF(10)
	})
}

// FuzzAccuracy reads values from arbitrary bytes and checks the guarantee
// against the exact quantile.
func FuzzAccuracy(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\xf0\x7f\x00\x00\x00\x00\x00\x00\xf0\x3f"))
	cfg, err := NewConfig(noDecay())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := cfg.New()
		var xs []float64
		for len(data) >= 8 {
			v := math.Float64frombits(uint64(data[0]) | uint64(data[1])<<8 | uint64(data[2])<<16 | uint64(data[3])<<24 |
				uint64(data[4])<<32 | uint64(data[5])<<40 | uint64(data[6])<<48 | uint64(data[7])<<56)
			data = data[8:]
			err := s.Add(v, t0)
			if !(v >= 0 && v <= math.MaxFloat64) {
				if !errors.Is(err, ErrInvalidValue) {
					t.Fatalf("value %v accepted", v)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			xs = append(xs, v)
		}
		if len(xs) == 0 {
			return
		}
		// Values spanning more than MaxBuckets lose the guarantee below the
		// kept range, by design; check only the maximum then.
		qs := quantiles
		if s.Buckets() >= cfg.opts.MaxBuckets {
			qs = []float64{1}
		}
		for _, q := range qs {
			got, err := s.Quantile(q)
			if err != nil {
				t.Fatal(err)
			}
			want := exactQuantile(q, xs, nil)
			if want < cfg.opts.MinValue {
				if got != 0 {
					t.Fatalf("q=%v got %v want 0", q, got)
				}
				continue
			}
			if math.Abs(got-want) > 0.01*want*(1+1e-9) {
				t.Fatalf("q=%v got %v want %v", q, got, want)
			}
		}
	})
}
