package app

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "serve.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestServeConfigErrors(t *testing.T) {
	t.Parallel()
	bad := writeConfig(t, `
grpcAddr: 0.0.0.0:8081
colour: blue
watch:
  retention: forever
  threshold: 0
ingest:
  ratePerClient: -5
  maxMessageBytes: 10
tls:
  certFile: only-a-cert.pem
demo:
  enabled: true
  speed: 0
`)
	requireFlagErrors(t, []flagCase{
		// Unknown keys and type errors are reported together, by line.
		{[]string{"serve", "--config", bad}, []string{"line 3: field colour not found"}},
		{[]string{"serve", "--config", writeConfig(t, "grpcAddr: [1, 2]\nsnapshotInterval: {a: b}\n")},
			[]string{"line 1:", "line 2:"}},
		{[]string{"serve", "--config", "/no/such/file.yaml"}, []string{"--config", "no such file"}},
		// Every semantic problem at once.
		{[]string{"serve", "--grpc-addr", "0.0.0.0:8081", "--http-addr", "nonsense", "--watch-retention", "forever",
			"--watch-threshold", "0", "--ingest-rate", "-5", "--max-message-bytes", "10", "--tls-cert-file", "c.pem",
			"--demo", "--demo-speed", "0", "--snapshot-interval", "1ns", "--notify-interval", "2s"},
			[]string{
				"refusing to serve 0.0.0.0:8081 without authentication",
				`http address "nonsense"`,
				`watch retention "forever"`,
				"watch threshold 0",
				"ingest rate -5",
				"max receive size 10 bytes",
				"--tls-cert-file and --tls-key-file together",
				"demo speed 0",
				`snapshot interval "1ns"`,
				"notify interval 2s is not in (0, 1s]",
			}},
		{[]string{"serve", "--tokens-file", "t.yaml", "--no-auth"}, []string{"--no-auth contradicts"}},
		// Kubernetes and Prometheus settings, all at once.
		{[]string{"serve", "--namespaces", "a", "--kube-auth", "--remote-write", "--prometheus-url", "http://p:9090", "--backfill-days", "0"},
			[]string{"--namespaces needs --kubeconfig or --in-cluster", "--kube-auth needs --kubeconfig or --in-cluster", "backfill days 0"}},
		{[]string{"serve", "--kubeconfig", "k", "--in-cluster", "--namespaces", "Bad_NS", "--exclude-namespaces", "Bad_NS",
			"--selector", "a in (", "--metrics-api-interval", "1ms", "--vpa-interval", "soon", "--vpa-recommender", "default"},
			[]string{"not both", `namespace "Bad_NS"`, "selector", `metrics api interval "1ms"`, `vpa interval "soon"`, `recommender name "default"`}},
		{[]string{"serve", "--kubeconfig", "/no/such/kubeconfig", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"},
			[]string{"--kubeconfig", "no such file"}},
		{[]string{"serve", "--tokens-file", "/no/such/tokens.yaml", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"},
			[]string{"--tokens-file", "no such file"}},
	})
}

func TestServeFlagsOverrideConfig(t *testing.T) {
	t.Parallel()
	c := defaultServeConfig()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	c.AddFlags(fs)
	require.NoError(t, fs.Parse([]string{"--config", writeConfig(t, "grpcAddr: 0.0.0.0:9\nhttpAddr: 127.0.0.1:7\nwatch:\n  maxEvents: 5\n"), "--grpc-addr", "127.0.0.1:0"}))
	require.NoError(t, c.load(fs))
	require.Equal(t, "127.0.0.1:0", c.GRPCAddr, "the flag wins")
	require.Equal(t, "127.0.0.1:7", c.HTTPAddr, "the file beats the default")
	require.Equal(t, 5, c.Watch.MaxEvents)
	require.Equal(t, "15m0s", c.Watch.Retention, "the default stays")
	require.NoError(t, c.Validate())
}

// serveUntil runs `rightsizer serve args…` until stop is called, returning
// the gRPC and HTTP addresses from the banner (the banner is printed once
// both listen) and a stop function that returns the command's error.
func serveUntil(t *testing.T, args ...string) (grpcAddr, httpAddr string, stop func() error) {
	t.Helper()
	pr, pw := io.Pipe()
	cmd := NewCommand(pw, io.Discard)
	cmd.SetArgs(append([]string{"serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, args...))
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		errc <- cmd.ExecuteContext(ctx)
		_ = pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if a, ok := strings.CutPrefix(line, "gRPC  "); ok {
			grpcAddr = a
		}
		if a, ok := strings.CutPrefix(line, "HTTP  http://"); ok {
			httpAddr, _, _ = strings.Cut(a, " ")
		}
		if line == "Try:" {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	require.NotEmpty(t, grpcAddr)
	require.NotEmpty(t, httpAddr)
	return grpcAddr, httpAddr, func() error { cancel(); return <-errc }
}

func TestServeDemoCheckpointsAndRestores(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addrFile := filepath.Join(dir, "addr.json")
	grpcAddr, httpAddr, stop := serveUntil(t, "--demo", "--data-dir", dir, "--addr-file", addrFile)

	var addrs map[string]string
	b, err := os.ReadFile(addrFile)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &addrs))
	require.Equal(t, map[string]string{"grpc": grpcAddr, "http": httpAddr}, addrs)

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	recs := rightsizerv1.NewRecommendationServiceClient(conn)
	// The demo is feeding the engine: the first container to get a
	// recommendation makes an ADDED event.
	stream, err := recs.WatchRecommendations(t.Context(), &rightsizerv1.WatchRecommendationsRequest{})
	require.NoError(t, err)
	ev, err := stream.Recv()
	require.NoError(t, err)
	require.NotEmpty(t, ev.GetWorkload().GetName())

	resp, err := http.Get("http://" + httpAddr + "/openapi.yaml")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	require.NoError(t, stop(), "graceful shutdown")
	require.FileExists(t, filepath.Join(dir, "rightsizer.db"))

	// A second server on the same data dir starts from the checkpoint.
	grpcAddr, _, stop = serveUntil(t, "--data-dir", dir)
	conn2, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer func() { _ = conn2.Close() }()
	list, err := rightsizerv1.NewRecommendationServiceClient(conn2).ListRecommendations(t.Context(), &rightsizerv1.ListRecommendationsRequest{})
	require.NoError(t, err)
	require.Positive(t, list.GetTotalSize(), "restored workloads")
	require.NoError(t, stop())
}

// TestValidateSaysEachProblemOnce: discovery and the VPA writer both check
// the namespace lists; a bad one is reported once.
func TestValidateSaysEachProblemOnce(t *testing.T) {
	t.Parallel()
	_, _, err := run(t, "serve", "--kubeconfig", "k", "--namespaces", "Bad_NS")
	require.Error(t, err)
	require.Equal(t, 1, strings.Count(err.Error(), `namespace "Bad_NS"`), "%v", err)
}
