package stream

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/rightsizer/rightsizer/api"
	"github.com/rightsizer/rightsizer/api/apitest"
	"github.com/rightsizer/rightsizer/recommender"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is a real rightsizer API server on 127.0.0.1:0 with its engine.
type server struct {
	engine *recommender.Engine
	addr   string
	stop   func()
}

func startServer(t *testing.T, auth *api.Authenticator) *server {
	t.Helper()
	engine, err := recommender.NewEngine(recommender.DefaultOptions())
	require.NoError(t, err)
	o := api.DefaultOptions()
	o.Engine, o.Auth, o.ShutdownTimeout = engine, auth, 0
	addr, stop := apitest.Start(t, o)
	return &server{engine: engine, addr: addr, stop: stop}
}

var epoch = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func key(name string) recommender.ContainerKey {
	return recommender.ContainerKey{WorkloadKey: recommender.WorkloadKey{Namespace: "shop", Kind: "Deployment", Name: name}, Container: "app"}
}

// batch is one round for the named containers at minute i.
func batch(i int, names ...string) Batch {
	var b Batch
	for _, n := range names {
		b.Samples = append(b.Samples, recommender.Sample{Key: key(n), Time: epoch.Add(time.Duration(i) * time.Minute), Usage: recommender.Usage{
			CPU: 250, Memory: 300 * recommender.MiB, GPUCompute: 0.5, GPUMemory: 4 * recommender.GiB, ThrottledFraction: 0.1,
			Has: recommender.ResourceSet(0).With(recommender.ResourceCPU).With(recommender.ResourceMemory).
				With(recommender.ResourceGPUCompute).With(recommender.ResourceGPUMemory),
			HasThrottling: true,
		}})
	}
	return b
}

// samples returns how many samples the engine holds for the container.
func samples(t *testing.T, e *recommender.Engine, name string) int64 {
	t.Helper()
	r, err := e.Recommend(key(name))
	if err != nil {
		return 0
	}
	return r.Samples
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 20*time.Second, 5*time.Millisecond, what)
}

func run(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

func TestStreamDelivers(t *testing.T) {
	srv := startServer(t, nil)
	opts := DefaultOptions()
	opts.Target = srv.addr
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	c, err := New(opts)
	require.NoError(t, err)
	run(t, c)
	for i := range 5 {
		c.Send(batch(i, "web", "api"))
	}
	c.Send(Batch{}) // empty: ignored
	oom := Batch{OOMs: []recommender.OOMEvent{{Key: key("web"), Time: epoch.Add(3 * time.Minute), Limit: recommender.GiB}},
		Workloads: []recommender.Workload{{Key: key("web").WorkloadKey, Replicas: 3, AutoscaledOn: recommender.ResourceSet(0).With(recommender.ResourceMemory),
			Containers: []recommender.ContainerSpec{{Name: "app", Requests: recommender.Amounts{CPU: 500, Memory: recommender.GiB}}}}}}
	c.Send(oom)
	eventually(t, "every sample and the workload arrive", func() bool {
		ws := srv.engine.Workloads()
		return samples(t, srv.engine, "web") == 5 && samples(t, srv.engine, "api") == 5 && len(ws) == 1 && ws[0].Replicas == 3
	})
	r, err := srv.engine.Recommend(key("web"))
	require.NoError(t, err)
	require.NotZero(t, r.Flags&recommender.FlagOOM, "the OOM kill arrived: %v", r.Reason)
	require.Equal(t, recommender.ResourceSet(0).With(recommender.ResourceMemory), srv.engine.Workloads()[0].AutoscaledOn)
	require.Equal(t, 10.0, testutil.ToFloat64(c.metrics.sentSamples))
	require.Zero(t, testutil.ToFloat64(c.metrics.droppedBatches))
}

// TestStreamOutage: while the server is unreachable the queue stays
// bounded, dropping the oldest; when a server appears, what was kept
// arrives.
func TestStreamOutage(t *testing.T) {
	r := manual.NewBuilderWithScheme("test")
	r.InitialState(resolver.State{Addresses: []resolver.Address{{Addr: "127.0.0.1:1"}}}) // nothing listens there
	opts := DefaultOptions()
	opts.Target, opts.MaxBatches = "test:///rightsizer", 3
	opts.MinBackoff, opts.MaxBackoff = time.Millisecond, 10*time.Millisecond
	opts.DialOptions = []grpc.DialOption{grpc.WithResolvers(r)}
	c, err := New(opts)
	require.NoError(t, err)
	run(t, c)
	for i := range 6 {
		c.Send(batch(i, "web"))
	}
	eventually(t, "the failing stream has given its batch back", func() bool {
		return c.Queued() == 3 && testutil.ToFloat64(c.metrics.reconnects) >= 1
	})
	require.GreaterOrEqual(t, testutil.ToFloat64(c.metrics.droppedBatches), 3.0)

	srv := startServer(t, nil)
	r.UpdateState(resolver.State{Addresses: []resolver.Address{{Addr: srv.addr}}})
	eventually(t, "the kept batches arrive", func() bool { return samples(t, srv.engine, "web") == 3 })
	r2, err := srv.engine.Recommend(key("web"))
	require.NoError(t, err)
	require.Equal(t, epoch.Add(5*time.Minute), r2.LastSample.UTC(), "the newest were kept")

	// The server goes away and another comes: the stream moves on. A
	// batch sent into the dying stream may be lost (see Client.stream), so
	// this one is sent once the client has seen the failure.
	failures := testutil.ToFloat64(c.metrics.reconnects)
	srv.stop()
	eventually(t, "the client sees the server go", func() bool { return testutil.ToFloat64(c.metrics.reconnects) > failures })
	c.Send(batch(6, "web"))
	srv2 := startServer(t, nil)
	r.UpdateState(resolver.State{Addresses: []resolver.Address{{Addr: srv2.addr}}})
	eventually(t, "the batch sent during the restart arrives", func() bool { return samples(t, srv2.engine, "web") == 1 })
}

func TestStreamToken(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.yaml")
	require.NoError(t, os.WriteFile(tokens, []byte("tokens:\n  - name: agent\n    token: s3cr3t-agent-token-0123456789\n    roles: [ingest]\n"), 0o600))
	auth, err := api.LoadTokens(tokens)
	require.NoError(t, err)
	srv := startServer(t, auth)
	tok := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tok, []byte("wrong-token-0123456789abcdef\n"), 0o600))

	opts := DefaultOptions()
	opts.Target, opts.TokenFile = srv.addr, tok
	opts.MinBackoff, opts.MaxBackoff = time.Millisecond, 10*time.Millisecond
	c, err := New(opts)
	require.NoError(t, err)
	run(t, c)
	c.Send(batch(0, "web"))
	eventually(t, "a bad token is refused and retried", func() bool { return testutil.ToFloat64(c.metrics.reconnects) >= 1 })
	require.Zero(t, samples(t, srv.engine, "web"))
	// The kubelet rotates the token: the next stream reads the new one.
	require.NoError(t, os.WriteFile(tok, []byte("s3cr3t-agent-token-0123456789\n"), 0o600))
	eventually(t, "the rotated token is accepted", func() bool { return samples(t, srv.engine, "web") == 1 })
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Options)
		ok   bool
	}{
		{"defaults with a target", func(o *Options) { o.Target = "x:1" }, true},
		{"no target", func(*Options) {}, false},
		{"no queue", func(o *Options) { o.Target, o.MaxBatches = "x:1", 0 }, false},
		{"short lifetime", func(o *Options) { o.Target, o.StreamLifetime = "x:1", time.Millisecond }, false},
		{"backoff upside down", func(o *Options) { o.Target, o.MinBackoff, o.MaxBackoff = "x:1", time.Second, time.Millisecond }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.edit(&o)
			require.Equal(t, tc.ok, o.Validate() == nil, "%v", o.Validate())
		})
	}
}
