package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
	"github.com/rightsizer/rightsizer/recommender"
)

// BenchmarkIngestBatch decodes and records batches of 1,000 samples, one
// per container of 1,000, without the network: the server's CPU per
// sample once a stream has declared its containers ("decode", "record"),
// and for a batch that declares them all ("decode-declaring").
func BenchmarkIngestBatch(b *testing.B) {
	engine, err := recommender.NewEngine(recommender.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	svc := &services{engine: engine, metrics: newServerMetrics(prometheus.NewRegistry())}
	start := time.Now().Add(-8 * 24 * time.Hour)
	req := &rightsizerv1.IngestUsageRequest{}
	for i := range 1000 {
		req.Containers = append(req.Containers, containerRef("bench", fmt.Sprintf("workload-%05d", i)))
		req.Samples = append(req.Samples, &rightsizerv1.UsageSample{ContainerIndex: uint32(i), TimeUnixMillis: start.UnixMilli(),
			CpuCores: proto.Float64(0.25), MemoryBytes: proto.Int64(200 << 20)})
	}
	st := &ingestStream{s: svc}
	st.ingest(&rightsizerv1.IngestUsageRequest{Containers: req.Containers}) // declared once
	declaring, _ := proto.Marshal(req)
	req.Containers = nil
	steady, _ := proto.Marshal(req)
	for _, bc := range []struct {
		name string
		raw  []byte
	}{{"decode-declaring", declaring}, {"decode", steady}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var r rightsizerv1.IngestUsageRequest
				if err := proto.Unmarshal(bc.raw, &r); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/sample")
		})
	}
	b.Run("record", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			for _, s := range req.Samples {
				s.TimeUnixMillis = start.Add(time.Duration(i) * time.Minute).UnixMilli()
			}
			st.ingest(req)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/sample")
	})
}

// BenchmarkList measures what a list of 100 out of 10,000 workloads costs
// the server: taking the snapshot (once a second), and a page of it
// marshalled as the response.
func BenchmarkList(b *testing.B) {
	engine, err := recommender.NewEngine(recommender.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now().Add(-8 * 24 * time.Hour)
	for i := range 10_000 {
		w := testWorkload("bench", fmt.Sprintf("w%05d", i), 500, 256, map[string]string{"team": fmt.Sprint(i % 20)})
		wl, err := workloadOf(w)
		if err != nil {
			b.Fatal(err)
		}
		if err := engine.UpsertWorkload(wl); err != nil {
			b.Fatal(err)
		}
		var samples []recommender.Sample
		for m := range 30 {
			samples = append(samples, recommender.Sample{Key: recommender.ContainerKey{WorkloadKey: wl.Key, Container: "app"},
				Time: start.Add(time.Duration(m) * time.Minute), Usage: recommender.Usage{CPU: recommender.MilliCPU(100 + i%50 + m),
					Memory: 100 << 20, Has: recommender.ResourceSet(0).With(recommender.ResourceCPU).With(recommender.ResourceMemory)}})
		}
		if err := engine.Ingest(samples); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("snapshot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			takeSnapshot(engine, "x.0")
		}
	})
	snap := takeSnapshot(engine, "x.0")
	svc := &services{}
	svc.snap.Store(snap)
	b.Run("page", func(b *testing.B) {
		b.ReportAllocs()
		req := &rightsizerv1.ListRecommendationsRequest{PageSize: 100, OrderBy: rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_SAVINGS}
		for b.Loop() {
			resp, err := svc.ListRecommendations(b.Context(), req)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := proto.Marshal(resp); err != nil {
				b.Fatal(err)
			}
		}
	})
}
