package apiload

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/rightsizer/rightsizer/bench/internal/stats"

	"github.com/stretchr/testify/require"
)

// shortConfig is a run of a fraction of a second per phase.
func shortConfig() Config {
	c := DefaultConfig()
	c.Workloads, c.SetupSamples = 2_000, 3
	c.IngestDuration, c.Runs = 150*time.Millisecond, 2
	c.ListRate, c.ListDuration, c.ListWorkers = 200, 250*time.Millisecond, 8
	c.BackgroundRate = 20_000
	c.Probes, c.ProbeRate = 10, 100
	c.ReadyTimeout = 10 * time.Second
	return c
}

func TestRunAgainstFake(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*Config)
	}{
		{"default shape", func(*Config) {}},
		{"several minutes per batch, one stream, no background", func(c *Config) {
			c.SamplesPerContainer, c.SetupSamples, c.Streams, c.BackgroundRate = 5, 5, 1, 0
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, addr := startFake(t)
			cfg := shortConfig()
			tc.change(&cfg)
			res, err := Run(t.Context(), cfg, Target{Addr: addr}, nil)
			require.NoError(t, err)

			f.mu.Lock()
			accepted, violations, containers, declared := f.accepted, f.violations, len(f.last), f.declared
			f.mu.Unlock()
			require.Empty(t, violations, "every container's samples in time order, none in the future, none declared twice on a stream")
			// Each stream declares the fleet's containers it sends once: setup
			// and each run share the fleet out, background streams own it
			// all (but may stop before they reach every block), each probe
			// declares its own.
			bg := 0
			if cfg.BackgroundRate > 0 {
				bg = 2
			}
			probes := int64(containers - cfg.Workloads)
			require.GreaterOrEqual(t, declared, int64(cfg.Workloads)+probes)
			require.LessOrEqual(t, declared, int64(cfg.Workloads*(1+cfg.Runs+bg))+probes)
			require.Equal(t, accepted, res.SamplesAccepted, "every sample the fake took is accounted for")
			require.GreaterOrEqual(t, accepted, int64(cfg.Workloads*cfg.SetupSamples))
			// The fleet plus one container per probe and at least one warm-up.
			require.Greater(t, containers, cfg.Workloads+cfg.Probes)

			require.Len(t, res.IngestRuns, cfg.Runs)
			for _, r := range res.IngestRuns {
				require.Positive(t, r)
			}
			require.Equal(t, stats.Median(res.IngestRuns), res.IngestSamplesPerSec)
			require.Positive(t, res.IngestClientCPUNsPerSample)
			require.Zero(t, res.IngestServerCPUNsPerSample, "no server process to measure")

			require.Equal(t, 50, res.ListRequests, "rate × duration, open loop")
			require.Zero(t, res.ListErrors, res.ListFirstError)
			require.Equal(t, fakePages, res.ListPages)
			require.Equal(t, cfg.Workloads, res.ListTotalSize)
			require.Positive(t, res.ListP50Ms)
			require.LessOrEqual(t, res.ListP50Ms, res.ListP99Ms)
			require.LessOrEqual(t, res.ListP99Ms, res.ListP999Ms)
			require.LessOrEqual(t, res.ListP999Ms, res.ListMaxMs)
			// Elapsed is at least the duration, so the rate cannot exceed
			// the schedule's; a slow host may stretch it.
			require.Positive(t, res.ListRateAchieved)
			require.LessOrEqual(t, res.ListRateAchieved, cfg.ListRate)

			require.Equal(t, cfg.Probes, res.WatchProbes)
			require.Zero(t, res.WatchLost)
			require.Positive(t, res.WatchLagP50Ms)
			require.LessOrEqual(t, res.WatchLagP50Ms, res.WatchLagP99Ms)
			require.LessOrEqual(t, res.WatchLagP99Ms, res.WatchLagMaxMs)
			require.Less(t, res.WatchLagMaxMs, float64(cfg.ProbeTimeout/time.Millisecond))

			if cfg.BackgroundRate > 0 {
				require.Positive(t, res.ListBackgroundSamplesPerSec)
				require.Positive(t, res.WatchBackgroundSamplesPerSec)
				require.Less(t, res.ListBackgroundSamplesPerSec, 2*cfg.BackgroundRate, "paced, not flat out")
			} else {
				require.Zero(t, res.ListBackgroundSamplesPerSec)
			}
			require.Equal(t, DefaultTargets(), res.Targets)
			require.Equal(t, cfg.Workloads, res.Config.Workloads)
			require.False(t, math.IsNaN(res.ListP99Ms))
			require.NoError(t, res.WriteJSON(filepath.Join(t.TempDir(), "api.json")))
		})
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	cfg := shortConfig()
	cfg.Streams = 0
	_, err := Run(t.Context(), cfg, Target{Addr: "127.0.0.1:1"}, nil)
	require.ErrorContains(t, err, "streams 0")
}

// A server that rejects samples fails the run loudly.
func TestRunFailsOnRejection(t *testing.T) {
	t.Parallel()
	f, addr := startFake(t)
	f.mu.Lock()
	f.reject = "no reason"
	f.mu.Unlock()
	_, err := Run(t.Context(), shortConfig(), Target{Addr: addr}, nil)
	require.ErrorContains(t, err, "server rejected 3000 samples and 0 workloads, first: sample 0 of batch 0: no reason")
}

// Probes declare their containers at the next index of their stream's
// list, and move to a fresh stream when the list is full.
func TestWatchProbeStreams(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		limit       int // containers per stream, the client's and the fake's
		minStreams  int
		exactStream bool
	}{
		{"one stream", MaxStreamContainers, 1, true},
		{"full streams roll over", 3, 4, false}, // at least 11 probes, 3 a stream
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, addr := startFake(t)
			f.mu.Lock()
			f.maxContainers = tc.limit
			f.mu.Unlock()
			cfg := shortConfig()
			cfg.BackgroundRate = 0
			fleet, err := NewFleet(cfg, time.Now())
			require.NoError(t, err)
			r := &runner{cfg: cfg, target: Target{Addr: addr}, fleet: fleet, codec: newFrameCodec(), streamContainers: tc.limit}
			require.NoError(t, r.dial())
			defer func() { require.NoError(t, r.close()) }()
			var res Result
			require.NoError(t, r.watch(t.Context(), &res))
			require.Equal(t, cfg.Probes, res.WatchProbes)
			require.Zero(t, res.WatchLost)

			f.mu.Lock()
			defer f.mu.Unlock()
			require.Empty(t, f.violations)
			probes := int64(len(f.last))
			require.Greater(t, probes, int64(cfg.Probes), "every probe and at least one warm-up")
			require.Equal(t, probes, f.declared, "each probe container declared once")
			require.Equal(t, f.accepted, r.accepted, "samples of every stream counted")
			require.GreaterOrEqual(t, f.streams, int64(tc.minStreams))
			if tc.exactStream {
				require.Equal(t, int64(tc.minStreams), f.streams)
			} else {
				require.GreaterOrEqual(t, f.streams, (probes+int64(tc.limit)-1)/int64(tc.limit))
			}
		})
	}
}
