// Package agentload measures the node agent's cgroup reader on a
// synthetic node: a tree of container cgroups (agent/cgroup/cgroupfake)
// whose counters advance between rounds as a kernel's would, read round
// after round. It reports the reader's CPU time per round (getrusage,
// not wall time) and the process's RSS against the targets, the
// cost of rescanning the directories each round against keeping the
// discovered set, and, as the baseline measured in the same run, a
// straightforward reader: a directory walk and os.ReadFile for every file
// each round, parsed with strings.Fields, as cAdvisor-style collectors do.
package agentload

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rightsizer/rightsizer/agent/cgroup"
	"github.com/rightsizer/rightsizer/agent/cgroup/cgroupfake"
	"github.com/rightsizer/rightsizer/bench/internal/stats"
)

// Config sizes the run.
type Config struct {
	// Containers is the node's application containers; with
	// ContainersPerPod they make Containers/ContainersPerPod pods, each
	// with a sandbox cgroup too, which the reader reads like any other.
	Containers       int
	ContainersPerPod int
	// Rounds is how many rounds are measured, after a first that only
	// primes the reader; Baseline how many the straightforward reader
	// runs.
	Rounds, Baseline int
	// Interval is the time each round stands for: the counters advance by
	// it and the reader's clock moves by it. Nothing sleeps.
	Interval time.Duration
	// Dir is where the tree is written; empty is a new temporary
	// directory, removed after.
	Dir  string
	Seed uint64
}

// DefaultConfig is the node: 200 containers read every 10 s.
func DefaultConfig() Config {
	return Config{Containers: 200, ContainersPerPod: 2, Rounds: 300, Baseline: 50, Interval: 10 * time.Second, Seed: 1}
}

// Targets are the limits.
type Targets struct {
	CPUMsPerRound float64 `json:"cpu_ms_per_round"`
	RSSMiB        float64 `json:"rss_mib"`
}

// Result is what bench/out/agent.json holds. CPU and wall times are
// medians over the measured rounds.
type Result struct {
	Containers      int     `json:"containers"`
	Pods            int     `json:"pods"`
	Cgroups         int     `json:"cgroups"` // containers and sandboxes: what each round reads
	Rounds          int     `json:"rounds"`
	IntervalSeconds float64 `json:"interval_seconds"`

	// The reader as the agent runs it, with its default options: each
	// round stats the directories and lists those that changed (none
	// here), and every minute one lists them all. The mean includes
	// those full scans.
	CPUMsPerRound     float64 `json:"cpu_ms_per_round"`
	CPUMsPerRoundP90  float64 `json:"cpu_ms_per_round_p90"`
	CPUMsPerRoundMean float64 `json:"cpu_ms_per_round_mean"`
	WallMsPerRound    float64 `json:"wall_ms_per_round"`
	CPUUsPerCgroup    float64 `json:"cpu_us_per_cgroup"`
	AllocsPerRound    float64 `json:"allocs_per_round"`
	BytesPerRound     float64 `json:"alloc_bytes_per_round"`
	// The same rounds listing every directory every round: the
	// difference is what a full scan costs.
	FullScanCPUMsPerRound float64 `json:"full_scan_cpu_ms_per_round"`
	FullScanCPUMs         float64 `json:"full_scan_cpu_ms"`
	// The straightforward reader, and how many times more CPU it takes.
	BaselineCPUMsPerRound float64 `json:"baseline_cpu_ms_per_round"`
	BaselineRatio         float64 `json:"baseline_cpu_ratio"`

	// Process memory after the rounds: VmRSS from /proc/self/status and
	// the Go heap in use. OpenFiles counts the process's descriptors,
	// almost all the reader's (seven per cgroup). On a node each is a
	// cgroupfs file whose kernel buffer RSS does not show, but the
	// agent's memory cgroup is charged: KernelKiBPerCgroupFile measures
	// it on this machine's own cgroup files (0 where it cannot), and
	// KernelMiB is that times the files held.
	RSSMiB                 float64 `json:"rss_mib"`
	HeapInuseMiB           float64 `json:"heap_inuse_mib"`
	OpenFiles              int     `json:"open_files"`
	KernelKiBPerCgroupFile float64 `json:"kernel_kib_per_cgroup_file"`
	KernelMiB              float64 `json:"kernel_mib_for_open_files"`

	// Correctness of what was measured: the largest difference between
	// the CPU the generator ran each container at and what the reader
	// reported, and the reader's error counts.
	MaxCPUErrorCores float64 `json:"max_cpu_error_cores"`
	FileErrors       uint64  `json:"file_errors"`
	Vanished         uint64  `json:"vanished"`

	Targets Targets `json:"targets"`
	PassCPU bool    `json:"pass_cpu"`
	PassRSS bool    `json:"pass_rss"`
	Pass    bool    `json:"pass"`

	GoVersion  string `json:"go_version"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Note       string `json:"note"`
}

// DefaultTargets are the issue's: 5 ms of CPU per round and 30 MiB.
var DefaultTargets = Targets{CPUMsPerRound: 5, RSSMiB: 30}

// Run builds the tree and measures the reader on it.
func Run(cfg Config) (res Result, err error) {
	if cfg.Containers <= 0 || cfg.ContainersPerPod <= 0 || cfg.Rounds <= 0 || cfg.Interval <= 0 {
		return Result{}, errors.New("agentload: sizes and interval must be positive")
	}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bench-agent-"); err != nil {
			return Result{}, err
		}
		defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	}
	pods := (cfg.Containers + cfg.ContainersPerPod - 1) / cfg.ContainersPerPod
	tree, err := cgroupfake.New(filepath.Join(dir, "cgroup"), cgroupfake.Config{
		Pods: pods, ContainersPerPod: cfg.ContainersPerPod, Driver: cgroupfake.DriverSystemd, Seed: cfg.Seed,
	})
	if err != nil {
		return Result{}, err
	}
	res = Result{
		Containers: pods * cfg.ContainersPerPod, Pods: pods, Cgroups: len(tree.Containers), Rounds: cfg.Rounds,
		IntervalSeconds: cfg.Interval.Seconds(), Targets: DefaultTargets,
		GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Note: "fixture tree on a regular file system: the CPU is the reader's (syscalls and parsing); " +
			"on a node the kernel also generates each cgroup file, memory.stat most expensively",
	}

	every, err := measure(tree, cfg, 0) // the default
	if err != nil {
		return Result{}, err
	}
	res.CPUMsPerRound = stats.Median(every.cpuMs)
	res.CPUMsPerRoundP90 = quantile(every.cpuMs, 0.9)
	res.CPUMsPerRoundMean = mean(every.cpuMs)
	res.WallMsPerRound = stats.Median(every.wallMs)
	res.CPUUsPerCgroup = 1000 * res.CPUMsPerRound / float64(res.Cgroups)
	res.AllocsPerRound, res.BytesPerRound = every.allocs, every.bytes
	res.RSSMiB, res.HeapInuseMiB, res.OpenFiles = every.rssMiB, every.heapMiB, every.openFiles
	res.MaxCPUErrorCores, res.FileErrors, res.Vanished = every.maxErr, every.fileErrors, every.vanished

	full, err := measure(tree, cfg, -1)
	if err != nil {
		return Result{}, err
	}
	res.FullScanCPUMsPerRound = stats.Median(full.cpuMs)
	res.FullScanCPUMs = res.FullScanCPUMsPerRound - res.CPUMsPerRound

	if cfg.Baseline > 0 {
		var base []float64
		for range cfg.Baseline {
			if err := tree.Advance(cfg.Interval); err != nil {
				return Result{}, err
			}
			runtime.GC()
			c0 := processCPU()
			n, sum, err := baselineRound(tree.Root)
			if err != nil {
				return Result{}, err
			}
			base = append(base, ms(processCPU()-c0))
			if n != res.Cgroups || sum == 0 {
				return Result{}, fmt.Errorf("baseline read %d cgroups (want %d), values summing to %d", n, res.Cgroups, sum)
			}
		}
		res.BaselineCPUMsPerRound = stats.Median(base)
		res.BaselineRatio = res.BaselineCPUMsPerRound / res.CPUMsPerRound
	}

	if perFile, err := cgroupFileKernelBytes(7 * res.Cgroups); err == nil {
		res.KernelKiBPerCgroupFile = perFile / 1024
		res.KernelMiB = perFile * float64(7*res.Cgroups) / (1 << 20)
	}

	res.PassCPU = res.CPUMsPerRound <= res.Targets.CPUMsPerRound
	res.PassRSS = res.RSSMiB <= res.Targets.RSSMiB
	res.Pass = res.PassCPU && res.PassRSS && res.FileErrors == 0 && res.MaxCPUErrorCores < 1e-3
	return res, nil
}

type measurement struct {
	cpuMs, wallMs        []float64
	allocs, bytes        float64
	rssMiB, heapMiB      float64
	openFiles            int
	maxErr               float64
	fileErrors, vanished uint64
}

// measure runs the reader for cfg.Rounds rounds (after a priming one)
// with the given rescan interval, timing each Read alone: the tree is
// advanced, and the garbage that advancing makes is collected, before
// the clock starts.
func measure(tree *cgroupfake.Tree, cfg Config, rescan time.Duration) (m measurement, err error) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	r, err := cgroup.New(cgroup.Options{Root: tree.Root, Clock: clk, RescanInterval: rescan})
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, r.Close()) }()
	cores := make(map[string]float64, len(tree.Containers))
	for _, c := range tree.Containers {
		cores[c.ID] = c.Cores
	}
	rs := r.Read(nil)
	var ms0, ms1 runtime.MemStats
	var mallocs, bytes uint64
	for range cfg.Rounds {
		if err := tree.Advance(cfg.Interval); err != nil {
			return m, err
		}
		clk.t = clk.t.Add(cfg.Interval)
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		c0, w0 := processCPU(), time.Now()
		rs = r.Read(rs[:0])
		c1, w1 := processCPU(), time.Now()
		runtime.ReadMemStats(&ms1)
		mallocs += ms1.Mallocs - ms0.Mallocs
		bytes += ms1.TotalAlloc - ms0.TotalAlloc
		m.cpuMs = append(m.cpuMs, ms(c1-c0))
		m.wallMs = append(m.wallMs, ms(w1.Sub(w0)))
		if len(rs) != len(tree.Containers) {
			return m, fmt.Errorf("read %d cgroups, want %d", len(rs), len(tree.Containers))
		}
		for i := range rs {
			if !rs[i].Valid.Has(cgroup.FieldCPU) {
				return m, fmt.Errorf("no CPU for %s", rs[i].ContainerID)
			}
			m.maxErr = math.Max(m.maxErr, math.Abs(rs[i].CPUCores-cores[rs[i].ContainerID]))
		}
	}
	m.allocs = float64(mallocs) / float64(cfg.Rounds)
	m.bytes = float64(bytes) / float64(cfg.Rounds)
	if m.rssMiB, err = rssMiB(); err != nil {
		return m, err
	}
	runtime.ReadMemStats(&ms1)
	m.heapMiB = float64(ms1.HeapInuse) / (1 << 20)
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		m.openFiles = len(ents)
	}
	s := r.Stats()
	for _, n := range s.FileErrors {
		m.fileErrors += n
	}
	m.vanished = s.Vanished
	return m, nil
}

// baselineRound is the straightforward reader: walk the tree, and for
// each container read every file with os.ReadFile and split it with
// strings.Fields. It returns how many containers it read, and the sum of
// the numbers it parsed, which keeps the parsing from being optimised
// away.
func baselineRound(root string) (n int, sum uint64, err error) {
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if _, _, ok := cgroup.ParsePath(p); !ok {
			return nil
		}
		n++
		for _, f := range []string{"cpu.stat", "memory.current", "memory.stat", "memory.max", "memory.events", "cpu.pressure", "memory.pressure"} {
			b, err := os.ReadFile(filepath.Join(p, f))
			if err != nil {
				return err
			}
			for _, line := range strings.Split(string(b), "\n") {
				for _, field := range strings.Fields(line) {
					if _, v, ok := strings.Cut(field, "="); ok {
						field = v
					}
					if x, err := strconv.ParseUint(field, 10, 64); err == nil {
						sum += x
					}
				}
			}
		}
		return fs.SkipDir
	})
	return n, sum, err
}

// fakeClock is the reader's clock: each round stands for Interval.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time                  { return c.t }
func (c *fakeClock) Since(t time.Time) time.Duration { return c.t.Sub(t) }

// processCPU returns the process's user plus system CPU time, all
// threads, from getrusage: precise to the microsecond on Linux, whose
// accounting scales the ticks to the scheduler's exact run time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssMiB returns VmRSS from /proc/self/status.
func rssMiB() (float64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				break
			}
			kb, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mean(xs []float64) float64 {
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(max(1, len(xs)))
}

// quantile returns the q-quantile of xs (nearest rank).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	slices.Sort(s)
	return s[max(0, min(len(s)-1, int(math.Ceil(q*float64(len(s))))-1))]
}
