package api

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/rightsizer/rightsizer/api/internal/testpki"
	"github.com/rightsizer/rightsizer/api/openapi"
	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
	"github.com/rightsizer/rightsizer/recommender"
)

// testServer is a real Server on 127.0.0.1:0 over a real engine.
type testServer struct {
	engine   *recommender.Engine
	srv      *Server
	grpcAddr string
	httpURL  string
	http     *http.Client
	stop     func() error // cancels Serve and returns its error
}

type serverOption func(*Options)

func startServer(t *testing.T, opts ...serverOption) *testServer {
	t.Helper()
	eo := recommender.DefaultOptions()
	eo.MaxFutureSkew = 5 * time.Minute
	eo.NotifyInterval = 20 * time.Millisecond
	engine, err := recommender.NewEngine(eo)
	require.NoError(t, err)
	o := DefaultOptions()
	o.Engine, o.Registry = engine, prometheus.NewRegistry()
	// Tests take snapshots themselves (refreshSnapshot), so that a list
	// sees exactly what was ingested before it.
	o.SnapshotInterval = time.Hour
	for _, f := range opts {
		f(&o)
	}
	srv, err := New(o)
	require.NoError(t, err)
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = engine.Run(ctx) })
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, gl, hl) }()
	ts := &testServer{engine: engine, srv: srv, grpcAddr: gl.Addr().String(), httpURL: "http://" + hl.Addr().String(), http: &http.Client{}}
	if o.TLS != nil {
		ts.httpURL = "https://" + hl.Addr().String()
	}
	var once sync.Once
	var serveErr error
	ts.stop = func() error {
		once.Do(func() {
			cancel()
			serveErr = <-errc
			wg.Wait()
		})
		return serveErr
	}
	t.Cleanup(func() { require.NoError(t, ts.stop()) })
	return ts
}

func (ts *testServer) dial(t *testing.T, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(ts.grpcAddr, grpc.WithTransportCredentials(creds))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// get calls the REST gateway and decodes a JSON response into out (if
// not nil), returning the status code and body.
func (ts *testServer) get(t *testing.T, path, token string, out proto.Message) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.httpURL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ts.http.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil && resp.StatusCode == http.StatusOK {
		require.NoError(t, protojson.Unmarshal(body, out), string(body))
	}
	return resp.StatusCode, string(body)
}

// refreshSnapshot retakes the list snapshot and checks it holds n workloads.
func (ts *testServer) refreshSnapshot(t *testing.T, n int) {
	t.Helper()
	ts.srv.svc.refresh()
	require.Len(t, ts.srv.svc.snap.Load().byName, n)
}

var testBase = time.Now().Add(-48 * time.Hour).Truncate(time.Minute)

// workload returns an inventory record with one container "app".
func testWorkload(ns, name string, cpuMilli, memMiB int64, labels map[string]string) *rightsizerv1.Workload {
	return &rightsizerv1.Workload{
		Workload: &rightsizerv1.WorkloadRef{Namespace: ns, Kind: "Deployment", Name: name},
		Labels:   labels,
		Replicas: 2,
		Containers: []*rightsizerv1.ContainerSpec{{
			Name:     "app",
			Requests: &rightsizerv1.ResourceAmounts{CpuMillicores: cpuMilli, MemoryBytes: memMiB << 20},
			Limits:   &rightsizerv1.ResourceAmounts{MemoryBytes: 2 * memMiB << 20},
		}},
	}
}

func containerRef(ns, name string) *rightsizerv1.ContainerRef {
	return &rightsizerv1.ContainerRef{Workload: &rightsizerv1.WorkloadRef{Namespace: ns, Kind: "Deployment", Name: name}, Container: "app"}
}

// usageBatch is n minutes of steady usage of one container from start.
func usageBatch(ref *rightsizerv1.ContainerRef, start time.Time, n int, cores float64, memBytes int64) *rightsizerv1.IngestUsageRequest {
	req := &rightsizerv1.IngestUsageRequest{Containers: []*rightsizerv1.ContainerRef{ref}}
	for i := range n {
		req.Samples = append(req.Samples, &rightsizerv1.UsageSample{
			TimeUnixMillis: start.Add(time.Duration(i) * time.Minute).UnixMilli(),
			CpuCores:       proto.Float64(cores * (1 + 0.1*float64(i%5))),
			MemoryBytes:    proto.Int64(memBytes),
		})
	}
	return req
}

// ingest sends reqs on one stream. Each request's indexes count from its
// own containers; ingest shifts them to the stream's list.
func ingest(ctx context.Context, conn *grpc.ClientConn, reqs ...*rightsizerv1.IngestUsageRequest) (*rightsizerv1.IngestUsageResponse, error) {
	stream, err := rightsizerv1.NewUsageServiceClient(conn).IngestUsage(ctx)
	if err != nil {
		return nil, err
	}
	offset := uint32(0)
	for _, r := range reqs {
		r = proto.CloneOf(r)
		for _, p := range r.GetSamples() {
			p.ContainerIndex += offset
		}
		for _, e := range r.GetOomEvents() {
			e.ContainerIndex += offset
		}
		offset += uint32(len(r.GetContainers()))
		if err := stream.Send(r); err != nil {
			break // the status comes from CloseAndRecv
		}
	}
	return stream.CloseAndRecv()
}

// seed loads three namespaces of workloads, each over-provisioned by a
// different amount so that savings order differs from name order.
func seed(t *testing.T, ts *testServer, conn *grpc.ClientConn) []string {
	ctx := t.Context()
	t.Helper()
	var reqs []*rightsizerv1.IngestUsageRequest
	var names []string
	for i := range 12 {
		ns := []string{"shop", "data", "ml"}[i%3]
		name := fmt.Sprintf("svc-%02d", i)
		names = append(names, ns+"/"+name)
		w := testWorkload(ns, name, int64(500+250*i), 512, map[string]string{"team": ns, "tier": []string{"web", "batch"}[i%2]})
		b := usageBatch(containerRef(ns, name), testBase, 600, 0.05+0.01*float64(i), 100<<20)
		b.Workloads = []*rightsizerv1.Workload{w}
		reqs = append(reqs, b)
	}
	resp, err := ingest(ctx, conn, reqs...)
	require.NoError(t, err)
	require.EqualValues(t, 12*600, resp.GetAcceptedSamples(), resp.GetRejections())
	require.EqualValues(t, 12, resp.GetAcceptedWorkloads())
	ts.refreshSnapshot(t, 12)
	return names
}

func TestEveryRPCOverGRPCAndREST(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.dial(t, nil)
	ctx := t.Context()
	seed(t, ts, conn)
	recs := rightsizerv1.NewRecommendationServiceClient(conn)

	t.Run("list pages by savings, through both transports", func(t *testing.T) {
		var grpcKeys, restKeys []string
		var savings []float64
		token := ""
		for {
			resp, err := recs.ListRecommendations(ctx, &rightsizerv1.ListRecommendationsRequest{
				OrderBy: rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_SAVINGS, PageSize: 5, PageToken: token})
			require.NoError(t, err)
			require.EqualValues(t, 12, resp.GetTotalSize())
			require.NotEmpty(t, resp.GetResumeToken())
			for _, w := range resp.GetRecommendations() {
				grpcKeys = append(grpcKeys, w.GetWorkload().GetName())
				savings = append(savings, w.GetMonthlySavingsUsd())
				require.Len(t, w.GetContainers(), 1)
				require.Equal(t, "app", w.GetContainers()[0].GetContainer())
			}
			var rest rightsizerv1.ListRecommendationsResponse
			code, body := ts.get(t, "/v1/recommendations?order_by=RECOMMENDATION_ORDER_SAVINGS&page_size=5&page_token="+url.QueryEscape(token), "", &rest)
			require.Equal(t, http.StatusOK, code, body)
			for _, w := range rest.GetRecommendations() {
				restKeys = append(restKeys, w.GetWorkload().GetName())
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		require.Len(t, grpcKeys, 12)
		require.Equal(t, grpcKeys, restKeys)
		for i := 1; i < len(savings); i++ {
			require.GreaterOrEqual(t, savings[i-1], savings[i], "savings order")
		}
	})

	t.Run("list filters", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			req  *rightsizerv1.ListRecommendationsRequest
			rest string
			want int
		}{
			{"namespace", &rightsizerv1.ListRecommendationsRequest{Namespace: "shop"}, "namespace=shop", 4},
			{"label selector", &rightsizerv1.ListRecommendationsRequest{LabelSelector: "team=data,tier=batch"}, "label_selector=" + url.QueryEscape("team=data,tier=batch"), 2},
			{"set selector", &rightsizerv1.ListRecommendationsRequest{LabelSelector: "team in (ml,shop)"}, "label_selector=" + url.QueryEscape("team in (ml,shop)"), 8},
			{"kind and name", &rightsizerv1.ListRecommendationsRequest{Kind: "Deployment", Name: "svc-03"}, "kind=Deployment&name=svc-03", 1},
			{"min savings excludes all", &rightsizerv1.ListRecommendationsRequest{MinMonthlySavingsUsd: 1e9}, "min_monthly_savings_usd=1e9", 0},
			{"flags", &rightsizerv1.ListRecommendationsRequest{Flags: []rightsizerv1.Flag{rightsizerv1.Flag_FLAG_OOM}}, "flags=FLAG_OOM", 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp, err := recs.ListRecommendations(ctx, tc.req)
				require.NoError(t, err)
				require.Len(t, resp.GetRecommendations(), tc.want)
				require.EqualValues(t, tc.want, resp.GetTotalSize())
				var rest rightsizerv1.ListRecommendationsResponse
				code, body := ts.get(t, "/v1/recommendations?"+tc.rest, "", &rest)
				require.Equal(t, http.StatusOK, code, body)
				require.Len(t, rest.GetRecommendations(), tc.want)
			})
		}
	})

	t.Run("get", func(t *testing.T) {
		resp, err := recs.GetRecommendation(ctx, &rightsizerv1.GetRecommendationRequest{Namespace: "shop", Kind: "Deployment", Name: "svc-03"})
		require.NoError(t, err)
		w := resp.GetRecommendation()
		require.Equal(t, map[string]string{"team": "shop", "tier": "batch"}, w.GetLabels())
		c := w.GetContainers()[0]
		require.EqualValues(t, 1250, c.GetCpu().GetCurrentRequestMillicores())
		require.Less(t, c.GetCpu().GetRequestMillicores(), int64(1250))
		require.Positive(t, w.GetMonthlySavingsUsd())
		require.NotEmpty(t, c.GetReason())

		var rest rightsizerv1.GetRecommendationResponse
		code, body := ts.get(t, "/v1/namespaces/shop/workloads/Deployment/svc-03/recommendation", "", &rest)
		require.Equal(t, http.StatusOK, code, body)
		require.True(t, proto.Equal(resp, &rest))

		_, err = recs.GetRecommendation(ctx, &rightsizerv1.GetRecommendationRequest{Namespace: "shop", Kind: "Deployment", Name: "nope"})
		require.Equal(t, codes.NotFound, status.Code(err))
		code, body = ts.get(t, "/v1/namespaces/shop/workloads/Deployment/nope/recommendation", "", nil)
		require.Equal(t, http.StatusNotFound, code)
		require.Contains(t, body, "not found")
	})

	t.Run("summary", func(t *testing.T) {
		resp, err := rightsizerv1.NewSummaryServiceClient(conn).GetSummary(ctx, &rightsizerv1.GetSummaryRequest{})
		require.NoError(t, err)
		require.EqualValues(t, 12, resp.GetWorkloads())
		require.EqualValues(t, 12, resp.GetContainers())
		// 2 replicas of 500m + 250m·i, i = 0..11.
		require.InDelta(t, 2*(12*0.5+0.25*66), resp.GetCpu().GetRequested(), 1e-9)
		require.Less(t, resp.GetCpu().GetRecommended(), resp.GetCpu().GetRequested())
		require.Len(t, resp.GetNamespaces(), 3)
		require.Equal(t, "data", resp.GetNamespaces()[0].GetNamespace())
		require.Greater(t, resp.GetCurrentMonthlyUsd(), resp.GetRecommendedMonthlyUsd())

		var rest rightsizerv1.GetSummaryResponse
		code, body := ts.get(t, "/v1/summary?namespace=ml", "", &rest)
		require.Equal(t, http.StatusOK, code, body)
		require.EqualValues(t, 4, rest.GetWorkloads())
		require.Len(t, rest.GetNamespaces(), 1)
	})

	t.Run("watch over gRPC and REST", func(t *testing.T) {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := recs.WatchRecommendations(wctx, &rightsizerv1.WatchRecommendationsRequest{Namespace: "new"})
		require.NoError(t, err)
		req, err := http.NewRequestWithContext(wctx, http.MethodGet, ts.httpURL+"/v1/recommendations:watch?namespace=new", nil)
		require.NoError(t, err)
		httpResp, err := ts.http.Do(req)
		require.NoError(t, err)
		defer func() { _ = httpResp.Body.Close() }()
		require.Equal(t, http.StatusOK, httpResp.StatusCode)
		// Both streams are registered once their first byte could flow;
		// the watch reads from the changelog position at its start, so
		// ingest only after the server has accepted both: a header read
		// on gRPC, the status line on REST.
		_, err = stream.Header()
		require.NoError(t, err)

		b := usageBatch(containerRef("new", "fresh"), testBase, 30, 0.2, 50<<20)
		_, err = ingest(ctx, conn, b)
		require.NoError(t, err)

		ev, err := stream.Recv()
		require.NoError(t, err)
		require.Equal(t, rightsizerv1.RecommendationEventType_RECOMMENDATION_EVENT_TYPE_ADDED, ev.GetType())
		require.Equal(t, "fresh", ev.GetWorkload().GetName())
		require.NotEmpty(t, ev.GetResumeToken())

		line, err := bufio.NewReader(httpResp.Body).ReadBytes('\n')
		require.NoError(t, err)
		var wrapped struct {
			Result json.RawMessage `json:"result"`
		}
		require.NoError(t, json.Unmarshal(line, &wrapped), string(line))
		var restEv rightsizerv1.WatchRecommendationsResponse
		require.NoError(t, protojson.Unmarshal(wrapped.Result, &restEv))
		require.Equal(t, ev.GetResumeToken(), restEv.GetResumeToken())
	})

	t.Run("health, reflection, readiness, metrics, OpenAPI", func(t *testing.T) {
		hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		require.Equal(t, healthpb.HealthCheckResponse_SERVING, hc.GetStatus())

		rs, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
		require.NoError(t, err)
		require.NoError(t, rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}))
		lr, err := rs.Recv()
		require.NoError(t, err)
		var services []string
		for _, s := range lr.GetListServicesResponse().GetService() {
			services = append(services, s.GetName())
		}
		require.Subset(t, services, []string{"rightsizer.v1.RecommendationService", "rightsizer.v1.UsageService", "rightsizer.v1.SummaryService", "grpc.health.v1.Health"})
		require.NoError(t, rs.CloseSend())

		for _, p := range []string{"/healthz", "/readyz"} {
			code, _ := ts.get(t, p, "", nil)
			require.Equal(t, http.StatusOK, code, p)
		}
		code, body := ts.get(t, "/metrics", "", nil)
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, body, "rightsizer_api_ingested_samples_total")
		require.Contains(t, body, `grpc_server_handled_total{grpc_code="OK",grpc_method="ListRecommendations"`)

		code, body = ts.get(t, OpenAPIPath, "", nil)
		require.Equal(t, http.StatusOK, code)
		onDisk, err := os.ReadFile("openapi/rightsizer.swagger.yaml")
		require.NoError(t, err)
		require.Equal(t, string(onDisk), body, "the served OpenAPI document is the committed file")
		require.Equal(t, string(openapi.Spec), body)
	})
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(o *Options) { o.MaxRecvBytes = 64 << 10 })
	conn := ts.dial(t, nil)
	ctx := t.Context()
	recs := rightsizerv1.NewRecommendationServiceClient(conn)

	t.Run("list arguments: every problem at once, gRPC and HTTP 400", func(t *testing.T) {
		_, err := recs.ListRecommendations(ctx, &rightsizerv1.ListRecommendationsRequest{
			PageSize: -1, LabelSelector: "a in (", PageToken: "!!", MinMonthlySavingsUsd: math.NaN(),
			OrderBy: 99, Flags: []rightsizerv1.Flag{42}})
		require.Equal(t, codes.InvalidArgument, status.Code(err))
		for _, field := range []string{"page_size", "label_selector", "page_token", "min_monthly_savings_usd", "order_by", "flags"} {
			require.Contains(t, status.Convert(err).Message(), field+":")
		}
		for _, q := range []string{"page_size=5000", "label_selector=" + url.QueryEscape("a in ("), "page_token=garbage", "order_by=NOPE", "page_size=abc", "unknown_key=1"} {
			code, body := ts.get(t, "/v1/recommendations?"+q, "", nil)
			require.Equal(t, http.StatusBadRequest, code, "%s: %s", q, body)
			require.Contains(t, body, `"message"`)
		}
	})

	t.Run("a page token is bound to its filters", func(t *testing.T) {
		tok := encodePageToken(&listQuery{digest: 1}, &entry{key: recommender.WorkloadKey{Namespace: "a", Kind: "b", Name: "c"}})
		_, err := recs.ListRecommendations(ctx, &rightsizerv1.ListRecommendationsRequest{PageToken: tok})
		require.Equal(t, codes.InvalidArgument, status.Code(err))
		require.Contains(t, status.Convert(err).Message(), "other filters")
	})

	t.Run("ingest rejects bad items alone", func(t *testing.T) {
		good := containerRef("ns", "ok")
		req := &rightsizerv1.IngestUsageRequest{
			Containers: []*rightsizerv1.ContainerRef{good, {Workload: &rightsizerv1.WorkloadRef{Namespace: "a/b", Kind: "Deployment", Name: "x"}, Container: "c"}},
			Samples: []*rightsizerv1.UsageSample{
				{ContainerIndex: 0, TimeUnixMillis: testBase.UnixMilli(), CpuCores: proto.Float64(0.5)},
				{ContainerIndex: 0, TimeUnixMillis: testBase.UnixMilli(), CpuCores: proto.Float64(math.NaN())},
				{ContainerIndex: 0, TimeUnixMillis: testBase.UnixMilli(), MemoryBytes: proto.Int64(-1)},
				{ContainerIndex: 0, TimeUnixMillis: testBase.UnixMilli(), CpuCores: proto.Float64(math.Inf(1))},
				{ContainerIndex: 1, TimeUnixMillis: testBase.UnixMilli(), CpuCores: proto.Float64(0.5)},
				{ContainerIndex: 7, TimeUnixMillis: testBase.UnixMilli(), CpuCores: proto.Float64(0.5)},
				{ContainerIndex: 0, TimeUnixMillis: time.Now().Add(time.Hour).UnixMilli(), CpuCores: proto.Float64(0.5)},
				{ContainerIndex: 0, TimeUnixMillis: testBase.UnixMilli()},
				{ContainerIndex: 0, TimeUnixMillis: testBase.Add(time.Minute).UnixMilli(), GpuComputeGpus: proto.Float64(-2)},
				{ContainerIndex: 0, TimeUnixMillis: testBase.Add(time.Minute).UnixMilli(), MemoryBytes: proto.Int64(1 << 30)},
			},
			OomEvents: []*rightsizerv1.OomEvent{{ContainerIndex: 0, TimeUnixMillis: testBase.UnixMilli(), LimitBytes: -5}, {ContainerIndex: 3}},
			Workloads: []*rightsizerv1.Workload{
				testWorkload("ns", "ok", 100, 64, map[string]string{"app": "ok"}),
				testWorkload("ns", "labels", 100, 64, hugeLabels()),
				testWorkload("ns", "badlabel", 100, 64, map[string]string{"bad key!": "x", "ok": strings.Repeat("v", 70)}),
				{Workload: &rightsizerv1.WorkloadRef{Namespace: "ns", Kind: "Deployment", Name: "neg"}, Replicas: -1,
					Containers: []*rightsizerv1.ContainerSpec{{Name: "Bad_Name", Requests: &rightsizerv1.ResourceAmounts{CpuMillicores: -5, GpuComputeGpus: math.NaN()}}}},
			},
		}
		resp, err := ingest(ctx, conn, req)
		require.NoError(t, err)
		require.EqualValues(t, 2, resp.GetAcceptedSamples())
		require.EqualValues(t, 8, resp.GetRejectedSamples())
		require.EqualValues(t, 1, resp.GetAcceptedWorkloads())
		require.EqualValues(t, 3, resp.GetRejectedWorkloads())
		require.EqualValues(t, 2, resp.GetRejectedOomEvents())
		reasons := map[string]string{}
		for _, r := range resp.GetRejections() {
			reasons[fmt.Sprintf("%s %d", r.GetItem(), r.GetItemIndex())] = r.GetReason()
		}
		for k, want := range map[string]string{
			"sample 1":    "cpu_cores NaN",
			"sample 2":    "negative memory",
			"sample 3":    "cpu_cores +Inf",
			"sample 4":    "contains '/'",
			"sample 5":    "out of range",
			"sample 6":    "future",
			"sample 7":    "no values",
			"sample 8":    "gpu compute",
			"workload 1":  "65 labels: at most 64",
			"workload 2":  "label key",
			"workload 3":  "replicas -1 is negative",
			"oom_event 0": "negative",
			"oom_event 1": "out of range",
		} {
			require.Contains(t, reasons[k], want, k)
		}
		require.Contains(t, reasons["workload 3"], "cpu_millicores -5 is negative")
		require.Contains(t, reasons["workload 3"], "gpu_compute_gpus NaN")
		r, err := ts.engine.Recommend(recommender.ContainerKey{WorkloadKey: recommender.WorkloadKey{Namespace: "ns", Kind: "Deployment", Name: "ok"}, Container: "app"})
		require.NoError(t, err)
		require.EqualValues(t, 2, r.Samples)
	})

	t.Run("containers are declared once per stream", func(t *testing.T) {
		stream, err := rightsizerv1.NewUsageServiceClient(conn).IngestUsage(ctx)
		require.NoError(t, err)
		first := usageBatch(containerRef("ns", "s0"), testBase, 2, 0.1, 1)
		second := usageBatch(containerRef("ns", "s1"), testBase, 2, 0.1, 1)
		for _, p := range second.Samples {
			p.ContainerIndex = 1 // the second container of the stream
		}
		third := usageBatch(nil, testBase.Add(time.Hour), 3, 0.1, 1)
		third.Containers = nil // refers back to both, and past them
		third.Samples[1].ContainerIndex, third.Samples[2].ContainerIndex = 1, 2
		for _, r := range []*rightsizerv1.IngestUsageRequest{first, second, third} {
			require.NoError(t, stream.Send(r))
		}
		resp, err := stream.CloseAndRecv()
		require.NoError(t, err)
		require.EqualValues(t, 6, resp.GetAcceptedSamples())
		require.Len(t, resp.GetRejections(), 1)
		require.Equal(t, int64(2), resp.GetRejections()[0].GetBatchIndex())
		require.Contains(t, resp.GetRejections()[0].GetReason(), "the stream has declared 2 containers")
		for name, want := range map[string]int64{"s0": 3, "s1": 3} {
			r, err := ts.engine.Recommend(recommender.ContainerKey{WorkloadKey: recommender.WorkloadKey{Namespace: "ns", Kind: "Deployment", Name: name}, Container: "app"})
			require.NoError(t, err)
			require.Equal(t, want, r.Samples, name)
		}
	})

	t.Run("oversized and malformed messages", func(t *testing.T) {
		big := usageBatch(containerRef("ns", "big"), testBase, 5000, 0.1, 1)
		_, err := ingest(ctx, conn, big)
		require.Equal(t, codes.ResourceExhausted, status.Code(err), err)

		stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, "/rightsizer.v1.UsageService/IngestUsage", grpc.ForceCodecV2(rawCodec{}))
		require.NoError(t, err)
		require.NoError(t, stream.SendMsg([]byte{0x0a, 0xff, 0xff, 0xff}))
		require.NoError(t, stream.CloseSend())
		err = stream.RecvMsg(new([]byte))
		require.Error(t, err)
		require.NotEqual(t, codes.OK, status.Code(err))
		require.Contains(t, status.Convert(err).Message(), "unmarshal")

		// The server is still fine.
		_, err = recs.ListRecommendations(ctx, &rightsizerv1.ListRecommendationsRequest{})
		require.NoError(t, err)
	})
}

func hugeLabels() map[string]string {
	m := map[string]string{}
	for i := range MaxLabels + 1 {
		m[fmt.Sprintf("l%d", i)] = "v"
	}
	return m
}

func TestAuthMatrix(t *testing.T) {
	t.Parallel()
	pki := testpki.New(t)
	tlsConf, err := ServerTLSConfig(TLSOptions{CertFile: pki.ServerCertFile, KeyFile: pki.ServerKeyFile, ClientCAFile: pki.CAFile})
	require.NoError(t, err)
	auth := testAuthenticator(t)
	ts := startServer(t, func(o *Options) { o.Auth, o.TLS = auth, tlsConf })
	ctx := t.Context()

	clientTLS := func(cert *tls.Certificate) *tls.Config {
		c := &tls.Config{RootCAs: pki.CAPool, MinVersion: tls.VersionTLS12}
		if cert != nil {
			c.Certificates = []tls.Certificate{*cert}
		}
		return c
	}
	dashboard, agent := pki.Client(t, "dashboard"), pki.Client(t, "node-agent")
	stranger := pki.Client(t, "stranger")

	type caller struct {
		name  string
		token string
		cert  *tls.Certificate
	}
	callers := []caller{
		{"no credential", "", nil},
		{"wrong token", "s3cr-wrong-0123456789", nil},
		{"read", readToken, nil},
		{"ingest", ingestToken, nil},
		{"admin", adminToken, nil},
		{"mTLS read+ingest", "", &dashboard},
		{"mTLS ingest", "", &agent},
		{"mTLS unknown name", "", &stranger},
	}
	// want[caller] = codes for list, ingest, summary.
	want := map[string][3]codes.Code{
		"no credential":     {codes.Unauthenticated, codes.Unauthenticated, codes.Unauthenticated},
		"wrong token":       {codes.Unauthenticated, codes.Unauthenticated, codes.Unauthenticated},
		"read":              {codes.OK, codes.PermissionDenied, codes.OK},
		"ingest":            {codes.PermissionDenied, codes.OK, codes.PermissionDenied},
		"admin":             {codes.OK, codes.OK, codes.OK},
		"mTLS read+ingest":  {codes.OK, codes.OK, codes.OK},
		"mTLS ingest":       {codes.PermissionDenied, codes.OK, codes.PermissionDenied},
		"mTLS unknown name": {codes.Unauthenticated, codes.Unauthenticated, codes.Unauthenticated},
	}
	httpCode := map[codes.Code]int{codes.OK: http.StatusOK, codes.Unauthenticated: http.StatusUnauthorized, codes.PermissionDenied: http.StatusForbidden}
	for _, c := range callers {
		t.Run(c.name, func(t *testing.T) {
			conn := ts.dial(t, credentials.NewTLS(clientTLS(c.cert)))
			cctx := ctx
			if c.token != "" {
				cctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
			}
			w := want[c.name]
			_, err := rightsizerv1.NewRecommendationServiceClient(conn).ListRecommendations(cctx, &rightsizerv1.ListRecommendationsRequest{})
			require.Equal(t, w[0], status.Code(err), "list: %v", err)
			_, err = ingest(cctx, conn, usageBatch(containerRef("auth", "x"), testBase, 1, 0.1, 1))
			require.Equal(t, w[1], status.Code(err), "ingest: %v", err)
			_, err = rightsizerv1.NewSummaryServiceClient(conn).GetSummary(cctx, &rightsizerv1.GetSummaryRequest{})
			require.Equal(t, w[2], status.Code(err), "summary: %v", err)
			if err != nil {
				require.NotContains(t, err.Error(), secretMark)
			}

			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(c.cert)}}
			defer hc.CloseIdleConnections()
			rts := *ts
			rts.http = hc
			for i, path := range []string{"/v1/recommendations", "", "/v1/summary"} {
				if path == "" {
					continue // ingest has no REST mapping
				}
				code, body := rts.get(t, path, c.token, nil)
				require.Equal(t, httpCode[w[i]], code, "%s: %s", path, body)
			}
			// Health and the OpenAPI document need no credential.
			_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			require.NoError(t, err)
			code, _ := rts.get(t, OpenAPIPath, "", nil)
			require.Equal(t, http.StatusOK, code)
		})
	}

	t.Run("a forged client-name header is not trusted over REST", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(nil)}}
		defer hc.CloseIdleConnections()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.httpURL+"/v1/summary", nil)
		require.NoError(t, err)
		req.Header.Set("Grpc-Metadata-"+ClientCNMetadataKey, "dashboard")
		req.Header.Set(ClientCNMetadataKey, "dashboard")
		resp, err := hc.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})

	t.Run("an untrusted client certificate fails the handshake", func(t *testing.T) {
		bad := pki.Untrusted(t, "dashboard")
		c := clientTLS(nil)
		// Send it even though its issuer is not one the server asks for,
		// as an attacker would (a well-behaved client would send none).
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &bad, nil }
		conn := ts.dial(t, credentials.NewTLS(c))
		_, err := rightsizerv1.NewSummaryServiceClient(conn).GetSummary(ctx, &rightsizerv1.GetSummaryRequest{})
		require.Equal(t, codes.Unavailable, status.Code(err), err)
	})
}

func TestWatchResumesWithoutLoss(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	conn := ts.dial(t, nil)
	ctx := t.Context()
	recs := rightsizerv1.NewRecommendationServiceClient(conn)

	// Each new container makes exactly one ADDED event.
	add := func(name string) {
		t.Helper()
		_, err := ingest(ctx, conn, usageBatch(containerRef("w", name), testBase, 10, 0.1, 1<<20))
		require.NoError(t, err)
	}
	recv := func(stream grpc.ServerStreamingClient[rightsizerv1.WatchRecommendationsResponse]) *rightsizerv1.WatchRecommendationsResponse {
		t.Helper()
		ev, err := stream.Recv()
		require.NoError(t, err)
		return ev
	}

	list, err := recs.ListRecommendations(ctx, &rightsizerv1.ListRecommendationsRequest{})
	require.NoError(t, err)
	wctx, cancel := context.WithCancel(ctx)
	stream, err := recs.WatchRecommendations(wctx, &rightsizerv1.WatchRecommendationsRequest{ResumeToken: list.GetResumeToken()})
	require.NoError(t, err)
	add("a")
	first := recv(stream)
	require.Equal(t, "a", first.GetWorkload().GetName())
	cancel() // the client goes away

	add("b") // while disconnected
	add("c")
	stream, err = recs.WatchRecommendations(ctx, &rightsizerv1.WatchRecommendationsRequest{ResumeToken: first.GetResumeToken()})
	require.NoError(t, err)
	// b and c may come in either order: one notifier pass can see both.
	require.ElementsMatch(t, []string{"b", "c"}, []string{recv(stream).GetWorkload().GetName(), recv(stream).GetWorkload().GetName()})

	// A watch from the list's token, taken before all three, replays all.
	stream, err = recs.WatchRecommendations(ctx, &rightsizerv1.WatchRecommendationsRequest{ResumeToken: list.GetResumeToken()})
	require.NoError(t, err)
	require.Equal(t, "a", recv(stream).GetWorkload().GetName())
	require.ElementsMatch(t, []string{"b", "c"}, []string{recv(stream).GetWorkload().GetName(), recv(stream).GetWorkload().GetName()})

	for _, tc := range []struct {
		token string
		code  codes.Code
	}{
		{"garbage", codes.InvalidArgument},
		{ts.srv.svc.changes.epoch + ".999999", codes.InvalidArgument}, // ahead of the stream
		{"0123456789ab.1", codes.OutOfRange},                          // another process
	} {
		stream, err := recs.WatchRecommendations(ctx, &rightsizerv1.WatchRecommendationsRequest{ResumeToken: tc.token})
		require.NoError(t, err)
		_, err = stream.Recv()
		require.Equal(t, tc.code, status.Code(err), tc.token)
	}

	t.Run("shutdown ends watches with UNAVAILABLE", func(t *testing.T) {
		stream, err := recs.WatchRecommendations(ctx, &rightsizerv1.WatchRecommendationsRequest{})
		require.NoError(t, err)
		_, err = stream.Header()
		require.NoError(t, err)
		require.NoError(t, ts.stop())
		_, err = stream.Recv()
		require.Equal(t, codes.Unavailable, status.Code(err), err)
	})
}

// panicEngine panics on Workload, to prove recovery.
type panicEngine struct{ Engine }

func (panicEngine) Workload(recommender.WorkloadKey) ([]recommender.Recommendation, error) {
	panic("boom")
}

func TestPanicBecomesInternal(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(o *Options) { o.Engine = panicEngine{o.Engine} })
	recs := rightsizerv1.NewRecommendationServiceClient(ts.dial(t, nil))
	_, err := recs.GetRecommendation(t.Context(), &rightsizerv1.GetRecommendationRequest{Namespace: "a", Kind: "b", Name: "c"})
	require.Equal(t, codes.Internal, status.Code(err))
	require.NotContains(t, err.Error(), "boom")
	_, err = recs.ListRecommendations(t.Context(), &rightsizerv1.ListRecommendationsRequest{})
	require.NoError(t, err)
}

// rawCodec sends bytes as they are, to deliver malformed messages.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }
