package apiload

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func goodResult() *Result {
	r := &Result{
		IngestSamplesPerSec: 1.2e6, IngestRuns: []float64{1.1e6, 1.2e6, 1.3e6},
		ListP50Ms: 1, ListP99Ms: 4, ListP999Ms: 8, ListMaxMs: 9, ListRateAchieved: 999, ListRequests: 10_000,
		WatchLagP50Ms: 200, WatchLagP99Ms: 400, WatchLagMaxMs: 500, WatchProbes: 200,
		Targets: DefaultTargets(), Config: echo(DefaultConfig()),
	}
	r.judge()
	return r
}

func TestJudge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*Result)
		want   Pass
	}{
		{"all met", func(*Result) {}, Pass{true, true, true}},
		{"slow ingest", func(r *Result) { r.IngestSamplesPerSec = 999_999 }, Pass{false, true, true}},
		{"list p99 at the target passes", func(r *Result) { r.ListP99Ms = 10 }, Pass{true, true, true}},
		{"list p99 over", func(r *Result) { r.ListP99Ms = 10.01 }, Pass{true, false, true}},
		{"list errors", func(r *Result) { r.ListErrors = 1 }, Pass{true, false, true}},
		{"list rate not kept", func(r *Result) { r.ListRateAchieved = 900 }, Pass{true, false, true}},
		{"no list requests", func(r *Result) { r.ListRequests = 0 }, Pass{true, false, true}},
		{"watch p99 at the target fails", func(r *Result) { r.WatchLagP99Ms = 1000 }, Pass{true, true, false}},
		{"probe lost", func(r *Result) { r.WatchLost = 1 }, Pass{true, true, false}},
		{"no probes", func(r *Result) { r.WatchProbes = 0 }, Pass{true, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := goodResult()
			tc.change(r)
			r.judge()
			require.Equal(t, tc.want, r.Pass)
		})
	}
}

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "out", "api.json")
	r := goodResult()
	r.Host = thisHost(Target{Addr: "127.0.0.1:1", PID: 1})
	require.NoError(t, r.WriteJSON(path))
	require.NoError(t, r.WriteJSON(path), "replaces")

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	for _, k := range []string{
		"host", "ingest_samples_per_sec", "ingest_runs", "list_p50_ms", "list_p99_ms", "list_p999_ms",
		"list_rate_achieved", "watch_lag_p50_ms", "watch_lag_p99_ms", "targets", "pass",
	} {
		require.Contains(t, m, k)
	}
	require.Equal(t, map[string]any{"ingest_samples_per_sec": 1e6, "list_p99_ms": 10.0, "watch_lag_p99_ms": 1000.0}, m["targets"])
	require.Equal(t, map[string]any{"ingest_samples_per_sec": true, "list_p99_ms": true, "watch_lag_p99_ms": true}, m["pass"])
	host := m["host"].(map[string]any)
	require.Positive(t, host["cpus"])
	require.Positive(t, host["gomaxprocs"])
	require.Contains(t, host["go_version"], "go")
	require.Equal(t, true, host["server_spawned"])

	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left")
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), info.Mode().Perm())
}

func TestWriteJSONError(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	require.Error(t, goodResult().WriteJSON(filepath.Join(file, "api.json")), "parent is a file")
}

func TestWriteTable(t *testing.T) {
	t.Parallel()
	r := goodResult()
	r.WatchLost = 1
	r.judge()
	var sb strings.Builder
	require.NoError(t, r.WriteTable(&sb))
	lines := strings.Split(strings.TrimSpace(sb.String()), "\n")
	require.Len(t, lines, 4)
	require.Contains(t, lines[1], "1.20M samples/s (runs 1.10 1.20 1.30)")
	require.Contains(t, lines[1], "pass")
	require.Contains(t, lines[2], "p99 4.00")
	require.Contains(t, lines[3], "1/200 lost")
	require.Contains(t, lines[3], "FAIL")
}
