package apiload

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
)

// requestTimeout bounds one list request.
const requestTimeout = 10 * time.Second

// pageTokens waits up to ReadyTimeout for the server's list to count the
// whole fleet, then walks every page and returns the token of each ("" for
// the first) and the total size.
func (r *runner) pageTokens(ctx context.Context) ([]string, int, error) {
	client := rightsizerv1.NewRecommendationServiceClient(r.listConn)
	req := &rightsizerv1.ListRecommendationsRequest{PageSize: int32(r.cfg.PageSize)}
	deadline := time.NewTimer(r.cfg.ReadyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var first *rightsizerv1.ListRecommendationsResponse
	for {
		resp, err := client.ListRecommendations(ctx, req)
		if err != nil {
			return nil, 0, fmt.Errorf("list: %w", err)
		}
		if int(resp.GetTotalSize()) >= r.cfg.Workloads {
			first = resp
			break
		}
		// The server refreshes its list about every second.
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-deadline.C:
			return nil, 0, fmt.Errorf("list counts %d workloads %v after setup, want %d", resp.GetTotalSize(), r.cfg.ReadyTimeout, r.cfg.Workloads)
		case <-tick.C:
		}
	}
	total := int(first.GetTotalSize())
	r.pageBytes = proto.Size(first)
	maxPages := total/r.cfg.PageSize + 2
	tokens := []string{""}
	for tok := first.GetNextPageToken(); tok != ""; {
		if len(tokens) >= maxPages {
			return nil, 0, fmt.Errorf("list: more than %d pages of %d for %d workloads", maxPages, r.cfg.PageSize, total)
		}
		tokens = append(tokens, tok)
		resp, err := client.ListRecommendations(ctx, &rightsizerv1.ListRecommendationsRequest{PageSize: int32(r.cfg.PageSize), PageToken: tok})
		if err != nil {
			return nil, 0, fmt.Errorf("list page %d: %w", len(tokens)-1, err)
		}
		tok = resp.GetNextPageToken()
	}
	return tokens, total, nil
}

// list measures ListRecommendations open loop, with background ingest.
func (r *runner) list(ctx context.Context, res *Result) error {
	tokens, total, err := r.pageTokens(ctx)
	if err != nil {
		return err
	}
	res.ListPages, res.ListTotalSize, res.ListPageBytes = len(tokens), total, r.pageBytes
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 2))
	picks := make([]int, int(math.Ceil(r.cfg.ListRate*r.cfg.ListDuration.Seconds()))+1)
	for i := range picks {
		picks[i] = rng.IntN(len(tokens))
	}
	stop, err := r.background(ctx)
	if err != nil {
		return err
	}
	cpu := r.startCPU()
	loop := OpenLoop{Rate: r.cfg.ListRate, Duration: r.cfg.ListDuration, Workers: r.cfg.ListWorkers}
	st := loop.Run(ctx, func(ctx context.Context, i int) error {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		req := &rightsizerv1.ListRecommendationsRequest{PageSize: int32(r.cfg.PageSize), PageToken: tokens[picks[i%len(picks)]]}
		var page pageScan
		err := r.listConn.Invoke(ctx, rightsizerv1.RecommendationService_ListRecommendations_FullMethodName, req, &page, grpc.ForceCodecV2(r.codec))
		if err != nil {
			return err
		}
		if page.recommendations == 0 {
			return errEmptyPage
		}
		return nil
	})
	res.ListServerCPUCores, res.ListClientCPUCores = cpu()
	bg, err := stop()
	if err != nil {
		return err
	}
	s := Summarize(st.Latencies)
	res.ListP50Ms, res.ListP99Ms, res.ListP999Ms, res.ListMaxMs = s.P50, s.P99, s.P999, s.Max
	res.ListRateAchieved, res.ListRequests, res.ListErrors = st.Rate(), st.OK+st.Errors, st.Errors
	if st.FirstErr != nil {
		res.ListFirstError = st.FirstErr.Error()
	}
	res.ListBackgroundSamplesPerSec = bg
	return ctx.Err()
}
