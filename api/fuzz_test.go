package api

import (
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
	"github.com/rightsizer/rightsizer/recommender"
)

// FuzzIngest decodes arbitrary bytes as an ingest batch, as the server
// does, and records it into a real engine: nothing may panic, and every
// sample is counted exactly once as accepted or rejected.
func FuzzIngest(f *testing.F) {
	good := usageBatch(containerRef("ns", "w"), time.Unix(1_700_000_000, 0), 3, 0.2, 1<<20)
	good.Workloads = []*rightsizerv1.Workload{testWorkload("ns", "w", 100, 64, map[string]string{"a": "b"})}
	bad := usageBatch(containerRef("n/s", "w"), time.Unix(0, 0), 2, math.NaN(), -1)
	bad.Samples[0].ContainerIndex = 9
	for _, m := range []proto.Message{good, bad, &rightsizerv1.IngestUsageRequest{}} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	engine, err := recommender.NewEngine(recommender.DefaultOptions())
	if err != nil {
		f.Fatal(err)
	}
	svc := &services{engine: engine, metrics: newServerMetrics(prometheus.NewRegistry())}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req rightsizerv1.IngestUsageRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		st := &ingestStream{s: svc}
		st.ingest(&req)
		r := &st.resp
		if got := r.GetAcceptedSamples() + r.GetRejectedSamples(); got != int64(len(req.GetSamples())) {
			t.Fatalf("%d samples counted, %d sent", got, len(req.GetSamples()))
		}
		if got := r.GetAcceptedWorkloads() + r.GetRejectedWorkloads(); got != int64(len(req.GetWorkloads())) {
			t.Fatalf("%d workloads counted, %d sent", got, len(req.GetWorkloads()))
		}
		if len(r.GetRejections()) > maxRejections {
			t.Fatalf("%d rejections reported", len(r.GetRejections()))
		}
	})
}

// FuzzListQuery parses hostile list requests (selectors, tokens, sizes)
// and pages a snapshot with them.
func FuzzListQuery(f *testing.F) {
	s := testSnapshot()
	f.Add("", "", int32(0), int32(0), "", 0.0)
	f.Add("a", "even=true,x in (a,b)", int32(5), int32(2), "eyJkIjoxfQ", 3.0)
	f.Add("b", "!even", int32(-1), int32(9), "!!", math.NaN())
	f.Fuzz(func(t *testing.T, ns, selector string, size, order int32, token string, minSavings float64) {
		req := &rightsizerv1.ListRecommendationsRequest{Namespace: ns, LabelSelector: selector, PageSize: size,
			OrderBy: rightsizerv1.RecommendationOrder(order), PageToken: token, MinMonthlySavingsUsd: minSavings}
		q, err := parseListQuery(req)
		if err != nil {
			return
		}
		page, _, total := s.page(q)
		if len(page) > q.pageSize || len(page) > total {
			t.Fatalf("page of %d, size %d, total %d", len(page), q.pageSize, total)
		}
	})
}
