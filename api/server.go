package api

import (
	"context"
	"errors"
	"maps"
	"math"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/report"
)

// Engine is what the services need of *recommender.Engine.
type Engine interface {
	recommender.Sink
	List(f recommender.Filter) []recommender.Recommendation
	ListWorkloads(f recommender.Filter) []recommender.WorkloadRecommendations
	Workload(k recommender.WorkloadKey) ([]recommender.Recommendation, error)
	Subscribe(ctx context.Context, o recommender.SubscribeOptions) <-chan recommender.Change
	Policy() *recommender.Policy
}

var _ Engine = (*recommender.Engine)(nil)

// services implements the three gRPC services over an Engine. It embeds
// the Unimplemented servers by value, the forward-compatible choice (see
// doc.go).
type services struct {
	rightsizerv1.UnimplementedRecommendationServiceServer
	rightsizerv1.UnimplementedUsageServiceServer
	rightsizerv1.UnimplementedSummaryServiceServer

	engine  Engine
	changes *changelog
	snap    atomic.Pointer[snapshot]
	limiter *RateLimiter
	metrics *serverMetrics
	stop    chan struct{} // closed at shutdown: watches end
}

// refreshSnapshots takes a list snapshot every interval until ctx is done.
func (s *services) refreshSnapshots(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.refresh()
		}
	}
}

func (s *services) refresh() {
	start := time.Now()
	head := s.changes.head() // before reading: a watch from it misses nothing
	s.snap.Store(takeSnapshot(s.engine, head))
	s.metrics.snapshotSeconds.Observe(time.Since(start).Seconds())
}

// ListRecommendations answers from the latest snapshot.
func (s *services) ListRecommendations(_ context.Context, r *rightsizerv1.ListRecommendationsRequest) (*rightsizerv1.ListRecommendationsResponse, error) {
	q, err := parseListQuery(r)
	if err != nil {
		return nil, err
	}
	snap := s.snap.Load()
	page, next, total := snap.page(q)
	resp := &rightsizerv1.ListRecommendationsResponse{
		NextPageToken: next,
		TotalSize:     int32(min(total, math.MaxInt32)),
		ResumeToken:   snap.resume,
	}
	// The page goes out pre-encoded: as unknown fields, which the codec
	// writes as they are, it is on the wire exactly the repeated field
	// "recommendations" (see entry.wire). Marshalling 100 workloads per
	// call was a third of the server's CPU at 1,000 lists a second.
	n := 0
	for _, e := range page {
		n += len(e.wire)
	}
	raw := make([]byte, 0, n)
	for _, e := range page {
		raw = append(raw, e.wire...)
	}
	resp.ProtoReflect().SetUnknown(raw)
	return resp, nil
}

// GetRecommendation computes one workload's recommendation afresh.
func (s *services) GetRecommendation(_ context.Context, r *rightsizerv1.GetRecommendationRequest) (*rightsizerv1.GetRecommendationResponse, error) {
	k := recommender.WorkloadKey{Cluster: r.GetCluster(), Namespace: r.GetNamespace(), Kind: r.GetKind(), Name: r.GetName()}
	if err := k.Validate(); err != nil {
		return nil, toStatus(err)
	}
	recs, err := s.engine.Workload(k)
	if err != nil {
		return nil, toStatus(err)
	}
	// Labels from the snapshot (at most a snapshot interval old) rather
	// than a copy of the whole inventory per call.
	return &rightsizerv1.GetRecommendationResponse{Recommendation: workloadRecommendation(k, s.snap.Load().labels(k), recs)}, nil
}

// WatchRecommendations streams the changelog.
func (s *services) WatchRecommendations(r *rightsizerv1.WatchRecommendationsRequest, stream grpc.ServerStreamingServer[rightsizerv1.WatchRecommendationsResponse]) error {
	f := keyFilter{cluster: r.GetCluster(), namespace: r.GetNamespace(), kind: r.GetKind(), name: r.GetName()}
	s.metrics.watchers.Inc()
	defer s.metrics.watchers.Dec()
	// Headers go out once the position is fixed, so a client that has
	// them (and the REST gateway, which waits for them) misses nothing.
	started := func() error { return stream.SendHeader(metadata.MD{}) }
	err := s.changes.watch(stream.Context(), s.stop, r.GetResumeToken(), &f, started, stream.Send)
	if errors.Is(err, context.Canceled) {
		return nil // the client went away
	}
	return toStatus(err)
}

// GetSummary totals the engine's current recommendations.
func (s *services) GetSummary(_ context.Context, r *rightsizerv1.GetSummaryRequest) (*rightsizerv1.GetSummaryResponse, error) {
	recs := s.engine.List(recommender.Filter{Namespace: r.GetNamespace()})
	if c := r.GetCluster(); c != "" {
		recs = slices.DeleteFunc(recs, func(x recommender.Recommendation) bool { return x.Cluster != c })
	}
	return summarize(recs, s.engine.Policy().Prices()), nil
}

// clientName names the caller for rate limits and logs: its identity, or
// its address when auth is off.
func clientName(ctx context.Context) string {
	if id, ok := IdentityFrom(ctx); ok && id.Name != anonymousIdentity.Name {
		return id.Name
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		// One bucket per host, not per connection.
		if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
			return host
		}
		return p.Addr.String()
	}
	return anonymousIdentity.Name
}

// summarize totals recs with report.Sum (whose rules say what counts:
// every replica, no init containers), per namespace and overall.
func summarize(recs []recommender.Recommendation, prices recommender.Prices) *rightsizerv1.GetSummaryResponse {
	monthly := func(cores, gib float64) float64 {
		return (cores*prices.CoreHour + gib*prices.GiBHour) * prices.HoursMonth
	}
	all := report.Sum(recs)
	out := &rightsizerv1.GetSummaryResponse{
		Cpu:                   &rightsizerv1.ResourceTotals{Unit: "cores", Requested: all.RequestedCores, Recommended: all.RecommendedCores},
		Memory:                &rightsizerv1.ResourceTotals{Unit: "bytes", Requested: all.RequestedGiB * gib, Recommended: all.RecommendedGiB * gib},
		GpuCompute:            &rightsizerv1.ResourceTotals{Unit: "gpus", Requested: all.RequestedGPUs, Recommended: all.RecommendedGPUs},
		GpuMemory:             &rightsizerv1.ResourceTotals{Unit: "bytes", Requested: all.RequestedGPUMemoryGiB * gib, Recommended: all.RecommendedGPUMemoryGiB * gib},
		CurrentMonthlyUsd:     monthly(all.RequestedCores, all.RequestedGiB),
		RecommendedMonthlyUsd: monthly(all.RecommendedCores, all.RecommendedGiB),
		Containers:            int32(all.Containers),
	}
	byNS := map[string][]recommender.Recommendation{}
	workloads := map[string]map[recommender.WorkloadKey]bool{}
	var flagCounts [len(flagValues)]int32
	for i := range recs {
		r := &recs[i]
		byNS[r.Namespace] = append(byNS[r.Namespace], *r)
		if workloads[r.Namespace] == nil {
			workloads[r.Namespace] = map[recommender.WorkloadKey]bool{}
		}
		workloads[r.Namespace][r.WorkloadKey] = true
		for b := range flagValues {
			if r.Flags&(1<<b) != 0 {
				flagCounts[b]++
			}
		}
	}
	for _, ns := range slices.Sorted(maps.Keys(byNS)) {
		t := report.Sum(byNS[ns])
		n := int32(len(workloads[ns]))
		out.Workloads += n
		out.Namespaces = append(out.Namespaces, &rightsizerv1.NamespaceCost{Namespace: ns, Workloads: n,
			CurrentMonthlyUsd: monthly(t.RequestedCores, t.RequestedGiB), RecommendedMonthlyUsd: monthly(t.RecommendedCores, t.RecommendedGiB)})
	}
	for b, n := range flagCounts {
		if n > 0 {
			out.FlagCounts = append(out.FlagCounts, &rightsizerv1.FlagCount{Flag: flagValues[b], Containers: n})
		}
	}
	return out
}

// gib is bytes per GiB, as a float for totals.
const gib = float64(recommender.GiB)
