package simulate

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
)

func TestArchetypes(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	tests := []struct {
		name     string
		cluster  Cluster
		duration time.Duration
		check    func(t *testing.T, s *recordingSink)
	}{
		{
			name: "steady is flat with autocorrelated noise and a gc sawtooth",
			cluster: one("Deployment", 1, ctr("app", recommender.Amounts{}, recommender.Amounts{}, Model{
				Archetype: ArchetypeSteady, CPU: 200, Memory: 256 * mib, Noise: 0.1,
				GCFraction: 0.3, GCInterval: 10 * time.Minute,
			})),
			duration: 2 * day,
			check: func(t *testing.T, s *recordingSink) {
				ss := s.samplesOf("app")
				require.Len(t, ss, 2*24*60)
				c := cpus(ss)
				require.InDelta(t, 200, mean(c), 20)
				// AR(1) with a 10-minute correlation time at 1-minute steps:
				// neighbours are strongly correlated, unlike white noise.
				require.Greater(t, lag1(c), 0.7)
				drops := 0
				for i := 1; i < len(ss); i++ {
					if ss[i-1].Usage.Memory-ss[i].Usage.Memory > 30*mib {
						drops++
					}
				}
				require.Greater(t, drops, 100, "collections in two days")
				require.Less(t, drops, 600)
			},
		},
		{
			name: "diurnal peaks in the daytime and dips at weekends",
			cluster: one("Deployment", 3, ctr("app", recommender.Amounts{}, recommender.Amounts{}, Model{
				Archetype: ArchetypeDiurnal, CPU: 100, CPUPeak: 1000, Memory: 200 * mib, MemoryPeak: 300 * mib,
				Noise: 0.1, PeakAt: 14 * time.Hour, WeekendDip: 0.5,
			})),
			duration: 7 * day,
			check: func(t *testing.T, s *recordingSink) {
				var dayW, nightW, dayWE []float64
				var hourly [24][]float64
				same, times := 0, 0
				ss := s.samplesOf("app")
				for i, x := range ss {
					h := x.Time.Hour()
					weekend := x.Time.Weekday() == time.Saturday || x.Time.Weekday() == time.Sunday
					switch {
					case h >= 12 && h < 16 && !weekend:
						dayW = append(dayW, float64(x.Usage.CPU))
					case h >= 12 && h < 16:
						dayWE = append(dayWE, float64(x.Usage.CPU))
					case h < 4:
						nightW = append(nightW, float64(x.Usage.CPU))
					}
					hourly[h] = append(hourly[h], float64(x.Usage.CPU))
					if i%3 == 0 {
						times++
						if ss[i].Usage == ss[i+1].Usage && ss[i+1].Usage == ss[i+2].Usage {
							same++
						}
					}
				}
				require.Greater(t, mean(dayW), 4*mean(nightW))
				require.Less(t, mean(dayWE), 0.8*mean(dayW))
				peak := 0
				for h := range hourly {
					if mean(hourly[h]) > mean(hourly[peak]) {
						peak = h
					}
				}
				require.InDelta(t, 14, peak, 1.5, "hour of the highest mean")
				require.Less(t, same, times/10, "replicas draw independent noise")
			},
		},
		{
			name: "bursty idles with short rare spikes",
			cluster: one("Deployment", 1, ctr("app", recommender.Amounts{}, recommender.Amounts{}, Model{
				Archetype: ArchetypeBursty, CPU: 20, CPUPeak: 2000, Memory: 100 * mib, MemoryPeak: 400 * mib,
				Noise: 0.1, BurstsPerDay: 12, BurstDuration: 5 * time.Minute,
			})),
			duration: 4 * day,
			check: func(t *testing.T, s *recordingSink) {
				c := cpus(s.samplesOf("app"))
				spikes, high := 0, 0
				for i, v := range c {
					if v > 500 {
						high++
						if i == 0 || c[i-1] <= 500 {
							spikes++
						}
					}
				}
				// Spikes that follow each other closely merge, so count
				// them and their mean length rather than each one's.
				require.InDelta(t, 48, spikes, 28, "about 12 a day for 4 days")
				require.InDelta(t, 5, float64(high)/float64(spikes), 2.5, "mean spike length in steps")
				require.Less(t, float64(high)/float64(len(c)), 0.1)
				require.Less(t, quantile(c, 0.5), 40.0)
				require.Greater(t, quantile(c, 1), 1000.0)
			},
		},
		{
			name: "leaking is OOM-killed at its limit and restarts fresh",
			cluster: one("Deployment", 2, ctr("app",
				recommender.Amounts{CPU: 100, Memory: 256 * mib}, recommender.Amounts{Memory: 512 * mib},
				Model{Archetype: ArchetypeLeaking, CPU: 50, Memory: 200 * mib, Noise: 0.1, LeakPerHour: 50 * mib})),
			duration: 2 * day,
			check: func(t *testing.T, s *recordingSink) {
				ooms := s.oomEvents()
				// (512 - 200) / 50 ≈ 6 h per kill, for 2 replicas over 2 days.
				require.InDelta(t, 16, len(ooms), 6)
				ss := s.samplesOf("app")
				byTime := make(map[time.Time][]recommender.Bytes)
				for _, x := range ss {
					require.LessOrEqual(t, x.Usage.Memory, 512*mib)
					byTime[x.Time] = append(byTime[x.Time], x.Usage.Memory)
				}
				for _, ev := range ooms {
					require.Equal(t, "app", ev.Key.Container)
					require.Equal(t, 512*mib, ev.Limit)
					require.Equal(t, 512*mib, ev.Usage)
					// One replica restarted: its sample at the kill is fresh,
					// and just before it, one was close to the limit.
					require.Less(t, minBytes(byTime[ev.Time]), 300*mib)
					require.Greater(t, maxBytes(byTime[ev.Time.Add(-time.Minute)]), 450*mib)
				}
			},
		},
		{
			name: "batch samples only while a run is active",
			cluster: func() Cluster {
				c := one("CronJob", 2, ctr("job", recommender.Amounts{CPU: 2000, Memory: 2048 * mib}, recommender.Amounts{},
					Model{Archetype: ArchetypeBatch, CPU: 100, CPUPeak: 1500, Memory: 300 * mib, MemoryPeak: 1200 * mib, Noise: 0.05}))
				c.Workloads[0].Schedule = Schedule{At: 2 * time.Hour, Every: 24 * time.Hour, MinRun: time.Hour, MaxRun: 3 * time.Hour}
				return c
			}(),
			duration: 3 * day,
			check: func(t *testing.T, s *recordingSink) {
				runs := make(map[int][]recommender.Sample)
				for _, x := range s.samplesOf("job") {
					since := x.Time.Sub(x.Time.Truncate(24 * time.Hour))
					require.Greater(t, since, 2*time.Hour, "no samples before the run")
					require.LessOrEqual(t, since, 5*time.Hour+time.Minute, "no samples after the longest run")
					d := x.Time.YearDay()
					runs[d] = append(runs[d], x)
				}
				require.Len(t, runs, 3)
				for _, r := range runs {
					first, last := r[0].Time, r[len(r)-1].Time
					require.Equal(t, 2*time.Hour+time.Minute, first.Sub(first.Truncate(24*time.Hour)), "the first sample covers the run's first step")
					d := last.Sub(first) + time.Minute
					require.GreaterOrEqual(t, d, time.Hour)
					require.LessOrEqual(t, d, 3*time.Hour)
					require.Len(t, r, 2*int(d/time.Minute), "both pods, every step of the run")
					// Memory grows through the run.
					require.Greater(t, r[len(r)-1].Usage.Memory, r[1].Usage.Memory+400*mib)
				}
			},
		},
		{
			name: "gpu inference stays within its GPU request",
			cluster: one("Deployment", 2,
				ctr("server",
					recommender.Amounts{CPU: 4000, Memory: 16 * recommender.GiB, GPUCompute: 1, GPUMemory: 80 * recommender.GiB},
					recommender.Amounts{GPUCompute: 1, GPUMemory: 80 * recommender.GiB},
					Model{Archetype: ArchetypeGPUInference, CPU: 200, CPUPeak: 800, Memory: 6 * recommender.GiB,
						Noise: 0.3, PeakAt: 14 * time.Hour, GPUCompute: 0.1, GPUComputePeak: 0.8,
						GPUWeights: 16 * recommender.GiB, GPUKVCache: 80 * recommender.GiB}),
				ctr("cpu-only", recommender.Amounts{}, recommender.Amounts{},
					Model{Archetype: ArchetypeSteady, CPU: 10, Memory: 10 * mib})),
			duration: 2 * day,
			check: func(t *testing.T, s *recordingSink) {
				var day, night []float64
				capped := 0
				for _, x := range s.samplesOf("server") {
					u := x.Usage
					require.True(t, u.Has.Has(recommender.ResourceGPUCompute))
					require.True(t, u.Has.Has(recommender.ResourceGPUMemory))
					require.LessOrEqual(t, float64(u.GPUCompute), 1.0)
					require.LessOrEqual(t, u.GPUMemory, 80*recommender.GiB)
					require.GreaterOrEqual(t, u.GPUMemory, 16*recommender.GiB, "the weights stay loaded")
					if u.GPUMemory == 80*recommender.GiB {
						capped++
					}
					switch h := x.Time.Hour(); {
					case h >= 12 && h < 16:
						day = append(day, float64(u.GPUCompute))
					case h < 4:
						night = append(night, float64(u.GPUCompute))
					}
				}
				require.Greater(t, capped, 0, "a KV cache larger than the GPU is capped")
				require.Greater(t, mean(day), 3*mean(night))
				for _, x := range s.samplesOf("cpu-only") {
					require.False(t, x.Usage.Has.Has(recommender.ResourceGPUCompute))
					require.False(t, x.Usage.Has.Has(recommender.ResourceGPUMemory))
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := run(t, tt.cluster, 42, tt.duration)
			tt.check(t, s)
		})
	}
}

func TestThrottling(t *testing.T) {
	t.Parallel()
	diurnal := Model{Archetype: ArchetypeDiurnal, CPU: 100, CPUPeak: 1000, Memory: 100 * mib, Noise: 0.1, PeakAt: 14 * time.Hour}
	tests := []struct {
		name      string
		limit     recommender.MilliCPU
		throttled bool
	}{
		{name: "limit below the peak throttles at peak", limit: 600, throttled: true},
		{name: "limit far above demand never throttles", limit: 4000},
		{name: "no limit is never throttled", limit: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := one("Deployment", 2, ctr("app", recommender.Amounts{CPU: 300}, recommender.Amounts{CPU: tt.limit}, diurnal))
			ss := run(t, c, 7, 2*24*time.Hour).samplesOf("app")
			throttled, maxCPU := 0, recommender.MilliCPU(0)
			for _, x := range ss {
				u := x.Usage
				maxCPU = max(maxCPU, u.CPU)
				require.Equal(t, tt.limit > 0, u.HasThrottling, "throttling is reported where a CFS quota exists")
				require.True(t, u.ThrottledFraction >= 0 && u.ThrottledFraction < 1)
				if tt.limit > 0 {
					require.LessOrEqual(t, u.CPU, tt.limit)
				}
				if u.ThrottledFraction > 0 {
					throttled++
					require.Equal(t, tt.limit, u.CPU, "throttled only when demand exceeds the limit")
					require.InDelta(t, 14, x.Time.Hour(), 6, "throttled in the daytime around the 14:00 peak: %s", x.Time)
				}
			}
			if tt.throttled {
				require.Greater(t, throttled, 60, "a few hours a day")
				require.Less(t, throttled, len(ss)/2)
			} else {
				require.Zero(t, throttled)
			}
			if tt.limit == 0 {
				require.Greater(t, maxCPU, recommender.MilliCPU(900), "unlimited demand is served")
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	steady := Model{Archetype: ArchetypeSteady, CPU: 50, Memory: 50 * mib}
	c := one("Deployment", 2,
		ContainerSpec{Spec: recommender.ContainerSpec{Name: "init-a", Role: recommender.RoleInit}, Runtime: 90 * time.Second, Model: steady},
		ContainerSpec{Spec: recommender.ContainerSpec{Name: "init-b", Role: recommender.RoleInit}, Model: steady},
		ContainerSpec{Spec: recommender.ContainerSpec{Name: "proxy", Role: recommender.RoleSidecar}, Model: steady},
		ctr("app", recommender.Amounts{}, recommender.Amounts{}, steady))
	start := DefaultStart()
	at := func(min int) time.Time { return start.Add(time.Duration(min) * time.Minute) }
	times := func(ss []recommender.Sample) []time.Time {
		var out []time.Time
		for i, x := range ss {
			if i == 0 || !x.Time.Equal(ss[i-1].Time) {
				out = append(out, x.Time)
			}
		}
		return out
	}

	t.Run("init containers run in turn, then the app", func(t *testing.T) {
		t.Parallel()
		s := run(t, c, 1, 10*time.Minute)
		require.Equal(t, []time.Time{at(1), at(2)}, times(s.samplesOf("init-a")), "90s is two steps")
		require.Equal(t, []time.Time{at(3)}, times(s.samplesOf("init-b")), "zero runtime is one step")
		require.Len(t, s.samplesOf("proxy"), 2*10, "a sidecar runs from the pod's start")
		require.Equal(t, at(4), s.samplesOf("app")[0].Time)
		require.Len(t, s.samplesOf("app"), 2*7)
	})
	t.Run("rollouts restart every replica and rerun init containers", func(t *testing.T) {
		t.Parallel()
		c := c
		c.Workloads = []WorkloadSpec{c.Workloads[0]}
		c.Workloads[0].RolloutEvery = 6 * time.Hour
		s := run(t, c, 1, 3*24*time.Hour)
		inits := s.samplesOf("init-b")
		require.Greater(t, len(inits), 2*4, "initial start plus several rollouts")
		require.Zero(t, len(inits)%2, "both replicas restart")
		steps := 3 * 24 * 60
		proxy := len(s.samplesOf("proxy"))
		require.Less(t, proxy, 2*steps, "a restarting replica is absent for a step")
		require.Greater(t, proxy, 2*steps-len(inits)-2)
	})
}

// lag1 returns the lag-1 autocorrelation of v.
func lag1(v []float64) float64 {
	m := mean(v)
	var num, den float64
	for i := range v {
		d := v[i] - m
		den += d * d
		if i > 0 {
			num += d * (v[i-1] - m)
		}
	}
	return num / den
}

func minBytes(v []recommender.Bytes) recommender.Bytes {
	out := recommender.Bytes(math.MaxInt64)
	for _, x := range v {
		out = min(out, x)
	}
	return out
}

func maxBytes(v []recommender.Bytes) recommender.Bytes {
	var out recommender.Bytes
	for _, x := range v {
		out = max(out, x)
	}
	return out
}
