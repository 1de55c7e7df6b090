package apiload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
)

// fakeServer is a minimal UsageService and RecommendationService: it
// counts samples, resolves their containers against the stream-wide list
// (each batch's containers appended to those of the batches before it),
// checks their times (monotonic per container, not in the future), lists
// fixed pages of the fleet's workloads and tells watchers when a
// container gets its first sample.
type fakeServer struct {
	rightsizerv1.UnimplementedUsageServiceServer
	rightsizerv1.UnimplementedRecommendationServiceServer

	mu            sync.Mutex
	last          map[string]int64 // newest sample time per container
	workloads     map[string]bool  // fleet workloads upserted
	accepted      int64
	declared      int64 // container refs received, every stream
	streams       int64 // IngestUsage streams opened
	maxContainers int   // a stream may declare
	violations    []string
	reject        string                                                     // if set, every sample is rejected for this reason
	subs          map[chan *rightsizerv1.WatchRecommendationsResponse]string // namespace filter
}

func newFakeServer() *fakeServer {
	return &fakeServer{
		last: map[string]int64{}, workloads: map[string]bool{}, maxContainers: MaxStreamContainers,
		subs: map[chan *rightsizerv1.WatchRecommendationsResponse]string{},
	}
}

// maxSkew is the fake's allowance for samples stamped in the future.
const maxSkew = 5 * time.Second

// streamList is one IngestUsage stream's containers, as the server keeps
// them: every batch's containers appended to the list, up to a limit,
// which samples index. Declaring a container twice on a stream is legal but wasted, so
// the fake reports it as a violation.
type streamList struct {
	refs []*rightsizerv1.ContainerRef
	keys map[string]bool
}

func containerKey(ref *rightsizerv1.ContainerRef) string {
	return ref.GetWorkload().GetNamespace() + "/" + ref.GetWorkload().GetName() + "/" + ref.GetContainer()
}

// declare appends refs, as many as fit under limit, and returns the
// index in refs of the first that did not fit (-1 if all did) and the
// keys declared before. The server rejects a container past the limit
// and goes on with the stream.
func (l *streamList) declare(refs []*rightsizerv1.ContainerRef, limit int) (full int, again []string) {
	if l.keys == nil {
		l.keys = map[string]bool{}
	}
	for i, ref := range refs {
		if len(l.refs) == limit {
			return i, again
		}
		k := containerKey(ref)
		if l.keys[k] {
			again = append(again, k)
		}
		l.keys[k] = true
		l.refs = append(l.refs, ref)
	}
	return -1, again
}

// ref returns the container at index i, or an error if the list has
// none.
func (l *streamList) ref(i uint32) (*rightsizerv1.ContainerRef, error) {
	if int(i) >= len(l.refs) {
		return nil, fmt.Errorf("container_index %d beyond the stream's %d containers", i, len(l.refs))
	}
	return l.refs[i], nil
}

func (f *fakeServer) IngestUsage(s grpc.ClientStreamingServer[rightsizerv1.IngestUsageRequest, rightsizerv1.IngestUsageResponse]) error {
	var resp rightsizerv1.IngestUsageResponse
	var list streamList
	f.mu.Lock()
	f.streams++
	f.mu.Unlock()
	for batch := int64(0); ; batch++ {
		req, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return s.SendAndClose(&resp)
		}
		if err != nil {
			return err
		}
		f.ingest(req, &list, &resp, batch)
	}
}

func (f *fakeServer) ingest(req *rightsizerv1.IngestUsageRequest, list *streamList, resp *rightsizerv1.IngestUsageResponse, batch int64) {
	now := time.Now().Add(maxSkew).UnixMilli()
	f.mu.Lock()
	defer f.mu.Unlock()
	full, again := list.declare(req.GetContainers(), f.maxContainers)
	declared := len(req.GetContainers())
	if full >= 0 {
		declared = full
		for i := full; i < len(req.GetContainers()) && len(resp.Rejections) < 100; i++ {
			resp.Rejections = append(resp.Rejections, &rightsizerv1.Rejection{
				BatchIndex: batch, Item: "container", ItemIndex: int64(i),
				Reason: fmt.Sprintf("the stream already declared %d containers", f.maxContainers),
			})
		}
	}
	f.declared += int64(declared)
	for _, k := range again {
		f.violations = append(f.violations, fmt.Sprintf("%s declared again in batch %d", k, batch))
	}
	for _, w := range req.GetWorkloads() {
		if w.GetWorkload().GetNamespace() == Namespace {
			f.workloads[w.GetWorkload().GetName()] = true
		}
		resp.AcceptedWorkloads++
	}
	for i, s := range req.GetSamples() {
		reason := f.reject
		ref, err := list.ref(s.GetContainerIndex())
		switch {
		case reason != "":
		case err != nil:
			reason = err.Error()
		case s.CpuCores == nil || s.MemoryBytes == nil:
			reason = "no usage"
		}
		if reason != "" {
			resp.RejectedSamples++
			if len(resp.Rejections) < 100 {
				resp.Rejections = append(resp.Rejections, &rightsizerv1.Rejection{
					BatchIndex: batch, Item: "sample", ItemIndex: int64(i), Reason: reason,
				})
			}
			continue
		}
		key := containerKey(ref)
		t := s.GetTimeUnixMillis()
		last, seen := f.last[key]
		if t > now || t < last {
			f.violations = append(f.violations, fmt.Sprintf("%s at %d after %d (now %d)", key, t, last, now))
		}
		f.last[key] = max(t, last)
		f.accepted++
		resp.AcceptedSamples++
		if seen {
			continue
		}
		ev := &rightsizerv1.WatchRecommendationsResponse{
			Type:           rightsizerv1.RecommendationEventType_RECOMMENDATION_EVENT_TYPE_ADDED,
			Workload:       ref.GetWorkload(),
			Recommendation: &rightsizerv1.ContainerRecommendation{Container: ref.GetContainer()},
		}
		for ch, ns := range f.subs {
			if ns == "" || ns == ref.GetWorkload().GetNamespace() {
				select {
				case ch <- ev:
				default: // a slow watcher loses events; the test would see lost probes
				}
			}
		}
	}
}

// fakePages is the number of pages the fake lists: tokens "page-1" to
// "page-{fakePages-1}".
const fakePages = 20

func (f *fakeServer) ListRecommendations(_ context.Context, req *rightsizerv1.ListRecommendationsRequest) (*rightsizerv1.ListRecommendationsResponse, error) {
	page := 0
	if tok := req.GetPageToken(); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "page-"))
		if err != nil || !strings.HasPrefix(tok, "page-") || n <= 0 || n >= fakePages {
			return nil, status.Errorf(codes.InvalidArgument, "bad page token %q", tok)
		}
		page = n
	}
	f.mu.Lock()
	total := len(f.workloads)
	f.mu.Unlock()
	resp := &rightsizerv1.ListRecommendationsResponse{TotalSize: int32(total)}
	for i := range int(req.GetPageSize()) {
		resp.Recommendations = append(resp.Recommendations, &rightsizerv1.WorkloadRecommendation{
			Workload: &rightsizerv1.WorkloadRef{Namespace: Namespace, Kind: Kind, Name: WorkloadName(page*int(req.GetPageSize()) + i)},
		})
	}
	if page+1 < fakePages {
		resp.NextPageToken = "page-" + strconv.Itoa(page+1)
	}
	return resp, nil
}

func (f *fakeServer) WatchRecommendations(req *rightsizerv1.WatchRecommendationsRequest, s grpc.ServerStreamingServer[rightsizerv1.WatchRecommendationsResponse]) error {
	ch := make(chan *rightsizerv1.WatchRecommendationsResponse, 4096)
	f.mu.Lock()
	f.subs[ch] = req.GetNamespace()
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
	}()
	for {
		select {
		case <-s.Context().Done():
			return s.Context().Err()
		case ev := <-ch:
			if err := s.Send(ev); err != nil {
				return err
			}
		}
	}
}

// serveFake serves f on a fresh loopback port until the returned stop.
func serveFake(f *fakeServer) (addr string, stop func(), err error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	s := grpc.NewServer()
	rightsizerv1.RegisterUsageServiceServer(s, f)
	rightsizerv1.RegisterRecommendationServiceServer(s, f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(lis)
	}()
	return lis.Addr().String(), func() {
		s.Stop()
		<-done
	}, nil
}

func startFake(t *testing.T) (*fakeServer, string) {
	t.Helper()
	f := newFakeServer()
	addr, stop, err := serveFake(f)
	require.NoError(t, err)
	t.Cleanup(stop)
	return f, addr
}
