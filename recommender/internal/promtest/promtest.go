// Package promtest runs a real Prometheus server for integration tests:
// Debian's build (2.42), which `make prometheus` unpacks into
// bin/prometheus-deb without installing or starting a service. Tests find
// the binaries through RIGHTSIZER_PROMETHEUS and RIGHTSIZER_PROMTOOL; when
// they are unset the tests skip, unless RIGHTSIZER_REQUIRE_PROMETHEUS is
// set (as `make test` does, so that CI never skips them).
package promtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The environment variables the Makefile sets.
const (
	EnvPrometheus = "RIGHTSIZER_PROMETHEUS"
	EnvPromtool   = "RIGHTSIZER_PROMTOOL"
	EnvRequire    = "RIGHTSIZER_REQUIRE_PROMETHEUS"
)

// Binaries returns the paths of prometheus and promtool. It skips the test
// when they are not configured, or fails it if RIGHTSIZER_REQUIRE_PROMETHEUS
// is set.
func Binaries(t testing.TB) (prometheus, promtool string) {
	t.Helper()
	prometheus, promtool = os.Getenv(EnvPrometheus), os.Getenv(EnvPromtool)
	if prometheus == "" || promtool == "" {
		if os.Getenv(EnvRequire) != "" {
			t.Fatalf("%s and %s must name Debian's prometheus and promtool (run make prometheus)", EnvPrometheus, EnvPromtool)
		}
		t.Skipf("skipping: set %s and %s to a Prometheus 2.42 build (make prometheus fetches one into bin/prometheus-deb)", EnvPrometheus, EnvPromtool)
	}
	for _, p := range []*string{&prometheus, &promtool} {
		abs, err := fromModuleRoot(*p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(abs); err != nil {
			t.Fatalf("prometheus binary: %v (run make prometheus)", err)
		}
		*p = abs
	}
	return prometheus, promtool
}

// fromModuleRoot makes a relative path absolute against the directory of
// the module's go.mod: tests run in their package's directory, but a path
// like bin/prometheus-deb/... is meant from the repository root.
func fromModuleRoot(p string) (string, error) {
	if filepath.IsAbs(p) {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, p), nil
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, p), nil
		}
	}
}

// Server is a running Prometheus.
type Server struct {
	// URL is its base URL, http://127.0.0.1:PORT.
	URL string
	// Client talks to it; its idle connections close at cleanup.
	Client *http.Client
	logs   *SyncBuffer
}

// Logs returns what Prometheus has logged so far.
func (s *Server) Logs() string { return s.logs.String() }

// Start runs prometheus with the given configuration (YAML) on a free
// port of 127.0.0.1 and waits, up to a minute, until it reports ready. The
// data directory may already hold blocks. The server stops when the test
// ends.
func Start(t testing.TB, bin, config, dataDir string) *Server {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// --web.listen-address=127.0.0.1:0 would not tell the port: take a
	// free one and retry if another process grabs it before Prometheus.
	var lastErr error
	for range 5 {
		s, err := start(t, bin, cfg, dataDir)
		if err == nil {
			return s
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("start prometheus: %v", lastErr)
	return nil
}

func start(t testing.TB, bin, cfg, dataDir string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logs := &SyncBuffer{}
	cmd := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+dataDir,
		"--storage.tsdb.retention.time=30d",
		"--web.listen-address="+addr,
		"--log.level=info",
	)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		select {
		case <-exited:
			return
		default:
		}
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	s := &Server{URL: "http://" + addr, Client: client, logs: logs}
	if err := s.waitReady(exited); err != nil {
		stop()
		client.CloseIdleConnections()
		return nil, fmt.Errorf("%w; logs:\n%s", err, tail(logs.String(), 4000))
	}
	t.Cleanup(func() {
		stop()
		client.CloseIdleConnections()
		if t.Failed() {
			t.Logf("prometheus logs:\n%s", tail(logs.String(), 8000))
		}
	})
	return s, nil
}

// waitReady polls /-/ready until it answers 200, the process exits, or a
// minute passes.
func (s *Server) waitReady(exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/-/ready", nil)
		if err != nil {
			return err
		}
		if resp, err := s.Client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("prometheus exited before it was ready")
		case <-ctx.Done():
			return errors.New("prometheus not ready within a minute")
		case <-tick.C:
		}
	}
}

// freePort returns a port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// CreateBlocks runs promtool to turn an OpenMetrics file into TSDB blocks
// in dataDir, for a Prometheus started on it afterwards.
func CreateBlocks(t testing.TB, promtool, openMetrics, dataDir string) {
	t.Helper()
	cmd := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", openMetrics, dataDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool tsdb create-blocks-from openmetrics: %v\n%s", err, tail(string(out), 4000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// SyncBuffer is a bytes.Buffer safe for concurrent use: a process or a
// logger writes while the test reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Counter returns the value of the series of counter family name in reg
// whose label has value, failing the test when there is none.
func Counter(t testing.TB, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}
