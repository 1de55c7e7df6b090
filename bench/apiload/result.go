package apiload

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// Result is bench/out/api.json.
type Result struct {
	Host Host `json:"host"`

	// Ingest throughput: samples the server accepted per second, median of
	// the runs, and each run's figure in order.
	IngestSamplesPerSec float64   `json:"ingest_samples_per_sec"`
	IngestRuns          []float64 `json:"ingest_runs"`
	// CPU time per accepted sample, median of the runs: the server's
	// (only when the harness started it) and the load generator's.
	IngestServerCPUNsPerSample float64 `json:"ingest_server_cpu_ns_per_sample,omitempty"`
	IngestClientCPUNsPerSample float64 `json:"ingest_client_cpu_ns_per_sample"`

	// List latency from each request's scheduled send, successful
	// requests only.
	ListP50Ms        float64 `json:"list_p50_ms"`
	ListP99Ms        float64 `json:"list_p99_ms"`
	ListP999Ms       float64 `json:"list_p999_ms"`
	ListMaxMs        float64 `json:"list_max_ms"`
	ListRateAchieved float64 `json:"list_rate_achieved"`
	ListRequests     int     `json:"list_requests"`
	ListErrors       int     `json:"list_errors"`
	ListFirstError   string  `json:"list_first_error,omitempty"`
	ListPages        int     `json:"list_pages"`
	ListTotalSize    int     `json:"list_total_size"`
	ListPageBytes    int     `json:"list_page_bytes"`
	// ListBackgroundSamplesPerSec is the ingest rate achieved during the
	// list measurement.
	ListBackgroundSamplesPerSec float64 `json:"list_background_samples_per_sec"`
	// CPU cores used on average during the list measurement: the
	// server's (only when the harness started it) and the load
	// generator's, background ingest included.
	ListServerCPUCores float64 `json:"list_server_cpu_cores,omitempty"`
	ListClientCPUCores float64 `json:"list_client_cpu_cores"`

	// Watch lag from just before a probe's Send to its ADDED event.
	WatchLagP50Ms                float64 `json:"watch_lag_p50_ms"`
	WatchLagP99Ms                float64 `json:"watch_lag_p99_ms"`
	WatchLagMaxMs                float64 `json:"watch_lag_max_ms"`
	WatchProbes                  int     `json:"watch_probes"`
	WatchLost                    int     `json:"watch_lost"`
	WatchBackgroundSamplesPerSec float64 `json:"watch_background_samples_per_sec"`

	// SamplesAccepted counts every sample the server acknowledged, all
	// phases together.
	SamplesAccepted int64 `json:"samples_accepted"`

	Targets Targets  `json:"targets"`
	Pass    Pass     `json:"pass"`
	Config  Echo     `json:"config"`
	Notes   []string `json:"notes"`
}

// Host describes where the figures were taken.
type Host struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	// Server is the gRPC address driven; ServerSpawned says whether the
	// harness started that server (and so measured its CPU time).
	Server        string `json:"server"`
	ServerSpawned bool   `json:"server_spawned"`
}

func thisHost(t Target) Host {
	return Host{
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		OS: runtime.GOOS, Arch: runtime.GOARCH, Server: t.Addr, ServerSpawned: t.PID > 0,
	}
}

// Targets are the goals on a 2-core machine.
type Targets struct {
	IngestSamplesPerSec float64 `json:"ingest_samples_per_sec"`
	ListP99Ms           float64 `json:"list_p99_ms"`
	WatchLagP99Ms       float64 `json:"watch_lag_p99_ms"`
}

// DefaultTargets: at least 1,000,000 samples/s, list p99 at most 10 ms,
// watch lag p99 under 1 s.
func DefaultTargets() Targets {
	return Targets{IngestSamplesPerSec: 1e6, ListP99Ms: 10, WatchLagP99Ms: 1000}
}

// Pass says which targets were met.
type Pass struct {
	IngestSamplesPerSec bool `json:"ingest_samples_per_sec"`
	ListP99Ms           bool `json:"list_p99_ms"`
	WatchLagP99Ms       bool `json:"watch_lag_p99_ms"`
}

// judge sets r.Pass from r.Targets. A list passes only with no errors and
// at least 95 % of its rate; a watch only with no probe lost.
func (r *Result) judge() {
	t := r.Targets
	r.Pass = Pass{
		IngestSamplesPerSec: r.IngestSamplesPerSec >= t.IngestSamplesPerSec,
		ListP99Ms: r.ListRequests > 0 && r.ListErrors == 0 && r.ListP99Ms <= t.ListP99Ms &&
			r.ListRateAchieved >= 0.95*r.Config.ListRate,
		WatchLagP99Ms: r.WatchProbes > 0 && r.WatchLost == 0 && r.WatchLagP99Ms < t.WatchLagP99Ms,
	}
}

// Echo is the configuration of the run, as it is reported.
type Echo struct {
	Workloads           int     `json:"workloads"`
	BatchSize           int     `json:"batch_size"`
	SamplesPerContainer int     `json:"samples_per_container"`
	SetupSamples        int     `json:"setup_samples"`
	Streams             int     `json:"streams"`
	IngestDurationS     float64 `json:"ingest_duration_s"`
	Runs                int     `json:"runs"`
	ListRate            float64 `json:"list_rate"`
	ListDurationS       float64 `json:"list_duration_s"`
	PageSize            int     `json:"page_size"`
	BackgroundRate      float64 `json:"background_samples_per_sec"`
	Probes              int     `json:"probes"`
	ProbeRate           float64 `json:"probe_rate"`
	Seed                uint64  `json:"seed"`
}

func echo(c Config) Echo {
	return Echo{
		Workloads: c.Workloads, BatchSize: c.BatchSize, SamplesPerContainer: c.SamplesPerContainer,
		SetupSamples: c.SetupSamples, Streams: c.Streams, IngestDurationS: c.IngestDuration.Seconds(), Runs: c.Runs,
		ListRate: c.ListRate, ListDurationS: c.ListDuration.Seconds(), PageSize: c.PageSize,
		BackgroundRate: c.BackgroundRate, Probes: c.Probes, ProbeRate: c.ProbeRate, Seed: c.Seed,
	}
}

var notes = []string{
	"ingest: each of config.streams IngestUsage client streams (one connection each) sends pre-encoded batches of config.batch_size samples over its own share of the fleet's containers for config.ingest_duration_s; samples/s = samples the server's final responses report accepted / time from the first send to the last response; median of config.runs runs. Each stream declares each of its containers once, in its first batch of them (IngestUsageRequest.containers is a stream-wide list), and sends samples only after that. A send copies the batch's encoding and writes its sample times (one minute later per container each pass), it does not marshal",
	"list: ListRecommendations with page_size config.page_size and a page token drawn at random (seeded) from a full walk of the pages done just before; open loop at config.list_rate requests/s for config.list_duration_s, latency from each request's scheduled send time, so queueing behind a stall counts (no coordinated omission); percentiles by nearest rank over successful requests; pass needs no errors and 95 % of the rate. The generator scans each response's wire format and counts its recommendations rather than decoding them, to keep its CPU off the cores the server needs; list_page_bytes is the first page's encoded size",
	"watch_lag: WatchRecommendations on the probe namespace; each probe upserts a brand-new workload, declares its container and ingests its first samples on one stream (a fresh one when its list of containers is full), timed from just before Send to the receipt of the container's ADDED event; probes are a seeded Poisson process; a probe with no event within the probe timeout is lost and fails the target",
	"background: during list and watch one more stream ingests config.background_samples_per_sec into the fleet in batches of config.batch_size, paced open loop; *_background_samples_per_sec is what the server accepted",
	"cpu_ns_per_sample: user+system CPU time per accepted sample during the ingest runs (server from /proc, 10 ms ticks; client from getrusage); the load generator shares the host's cores with the server",
}

// WriteJSON writes r to path, indented, replacing any file there in one
// rename, and makes path's directory if need be.
func (r *Result) WriteJSON(path string) (err error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, os.Remove(f.Name()))
		}
	}()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Chmod(0o644); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// WriteTable prints the figures against their targets for people.
func (r *Result) WriteTable(w io.Writer) error {
	verdict := func(ok bool) string {
		if ok {
			return "pass"
		}
		return "FAIL"
	}
	t := r.Targets
	_, err := fmt.Fprintf(w,
		"%-12s %-44s %-16s %s\n"+
			"%-12s %-44s %-16s %s\n"+
			"%-12s %-44s %-16s %s\n"+
			"%-12s %-44s %-16s %s\n",
		"measure", "result", "target", "",
		"ingest", fmt.Sprintf("%.2fM samples/s (runs %s)", r.IngestSamplesPerSec/1e6, millions(r.IngestRuns)),
		fmt.Sprintf("≥ %.2fM/s", t.IngestSamplesPerSec/1e6), verdict(r.Pass.IngestSamplesPerSec),
		"list", fmt.Sprintf("p50 %.2f p99 %.2f p99.9 %.2f ms, %.0f/s, %d err", r.ListP50Ms, r.ListP99Ms, r.ListP999Ms, r.ListRateAchieved, r.ListErrors),
		fmt.Sprintf("p99 ≤ %g ms", t.ListP99Ms), verdict(r.Pass.ListP99Ms),
		"watch lag", fmt.Sprintf("p50 %.0f p99 %.0f max %.0f ms, %d/%d lost", r.WatchLagP50Ms, r.WatchLagP99Ms, r.WatchLagMaxMs, r.WatchLost, r.WatchProbes),
		fmt.Sprintf("p99 < %g ms", t.WatchLagP99Ms), verdict(r.Pass.WatchLagP99Ms))
	return err
}

func millions(xs []float64) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.2f", x/1e6)
	}
	return s
}
