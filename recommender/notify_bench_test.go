package recommender

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// BenchmarkNotify measures one notifier pass over n containers that all
// took a new sample since the last pass, as they do under steady ingest
// (make bench-api ingests 100,000 samples/s into 10,000 containers).
func BenchmarkNotify(b *testing.B) {
	const n = 10_000
	e := newTestEngine(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_ = e.Subscribe(ctx, SubscribeOptions{Threshold: 0.1})
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	keys := make([]ContainerKey, n)
	for i := range keys {
		keys[i] = key("ns"+strconv.Itoa(i%50), "w"+strconv.Itoa(i), "app")
		upsert(b, e, keys[i], Amounts{CPU: 500, Memory: GiB}, Amounts{Memory: 2 * GiB})
	}
	batch := make([]Sample, n)
	step := 0
	fill := func() {
		for i, k := range keys {
			batch[i] = Sample{Key: k, Time: t0.Add(time.Duration(step) * 10 * time.Second),
				Usage: cpuMem(MilliCPU(100+rng.IntN(300)), Bytes(300+rng.IntN(200))*MiB)}
		}
		step++
	}
	for range 360 { // an hour of history
		fill()
		if err := e.Ingest(batch); err != nil {
			b.Fatal(err)
		}
	}
	e.notify()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		fill()
		if err := e.Ingest(batch); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		e.notify()
	}
}
