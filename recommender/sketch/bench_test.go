package sketch

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// weekOfCPU is a week at one sample a minute of a diurnal, noisy CPU
// series in cores, the shape the engine sees most.
func weekOfCPU() ([]float64, []time.Time) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 7 * 24 * 60
	v, ts := make([]float64, n), make([]time.Time, n)
	for i := range v {
		day := math.Sin(2 * math.Pi * float64(i) / (24 * 60))
		v[i] = 0.3 * (1 + 0.6*day) * math.Exp(0.3*r.NormFloat64())
		ts[i] = t0.Add(time.Duration(i) * time.Minute)
	}
	return v, ts
}

func BenchmarkAdd(b *testing.B) {
	v, ts := weekOfCPU()
	s := mustConfig(b, DefaultOptions()).New()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = s.Add(v[i], ts[i])
		if i++; i == len(v) {
			i = 0
		}
	}
	b.ReportMetric(float64(s.Buckets()), "buckets")
}

func fullWeek(b *testing.B) *Sketch {
	v, ts := weekOfCPU()
	s := mustConfig(b, DefaultOptions()).New()
	for i := range v {
		_ = s.Add(v[i], ts[i])
	}
	return s
}

func BenchmarkQuantile(b *testing.B) {
	s := fullWeek(b)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		b.Run(percentileLabel(q), func(b *testing.B) {
			for b.Loop() {
				_, _ = s.Quantile(q)
			}
		})
	}
}

func percentileLabel(q float64) string {
	return "p" + string(rune('0'+int(q*10)%10)) + string(rune('0'+int(q*100)%10))
}

func BenchmarkCDF(b *testing.B) {
	s := fullWeek(b)
	for b.Loop() {
		_ = s.CDF(0.4)
	}
}

func BenchmarkMerge(b *testing.B) {
	s := fullWeek(b)
	b.ReportAllocs()
	for b.Loop() {
		c := s.Clone()
		_ = c.Merge(s)
	}
}

func BenchmarkEncodeDecode(b *testing.B) {
	s := fullWeek(b)
	buf, _ := s.MarshalBinary()
	b.ReportMetric(float64(len(buf)), "B/sketch")
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = s.AppendBinary(buf[:0])
		if _, err := s.Config().Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}
