//go:build cgo

package gpu_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/gpu"
	"github.com/rightsizer/rightsizer/gpu/gpufake"
	"github.com/rightsizer/rightsizer/gpu/mig"
	"github.com/rightsizer/rightsizer/recommender"
)

const gib = recommender.GiB

// t0 is the first tick; tests advance it by the agent's 10 s interval.
var t0 = time.Unix(1_700_000_000, 0)

// containers is a ContainerOfPID over a fixed table that counts its calls.
type containers struct {
	mu    sync.Mutex
	byPID map[int][2]string
	calls map[int]int
}

func newContainers(m map[int][2]string) *containers {
	return &containers{byPID: m, calls: map[int]int{}}
}

func (c *containers) of(pid int) (string, string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[pid]++
	v, ok := c.byPID[pid]
	return v[0], v[1], ok
}

// records is a slog handler that keeps what was logged.
type records struct {
	mu   sync.Mutex
	msgs []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := rec.Level.String() + " " + rec.Message
	rec.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
	r.msgs = append(r.msgs, s)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

func (r *records) count(level slog.Level) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if len(m) > len(level.String()) && m[:len(level.String())] == level.String() {
			n++
		}
	}
	return n
}

func collector(t *testing.T, srv *gpufake.Server, c *containers) (gpu.Collector, *records) {
	t.Helper()
	logs := &records{}
	opts := gpu.Options{Logger: slog.New(logs)}
	if c != nil {
		opts.ContainerOfPID = c.of
	}
	col, err := gpu.NewFromNVML(srv, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, col.Close()) })
	return col, logs
}

func proc(pid int, mem recommender.Bytes) nvml.ProcessInfo {
	return nvml.ProcessInfo{Pid: uint32(pid), UsedGpuMemory: uint64(mem)}
}

func sample(pid int, ts uint64, sm uint32) nvml.ProcessUtilizationSample {
	return nvml.ProcessUtilizationSample{Pid: uint32(pid), TimeStamp: ts, SmUtil: sm}
}

func container(t *testing.T, s gpu.Snapshot, pod, ctr string) gpu.ContainerUsage {
	t.Helper()
	for _, c := range s.Containers {
		if c.PodUID == pod && c.ContainerID == ctr {
			return c
		}
	}
	t.Fatalf("no container %s/%s in %+v", pod, ctr, s.Containers)
	return gpu.ContainerUsage{}
}

var both = recommender.ResourceSet(0).With(recommender.ResourceGPUMemory).With(recommender.ResourceGPUCompute)

func TestAttribution(t *testing.T) {
	t.Parallel()
	h100 := func() mig.Model { m, _ := mig.ForPCIDeviceID(0x233010DE); return m }()
	profile := func(name string) mig.Profile { p, _ := h100.Profile(name); return p }
	type want struct {
		pod, ctr  string
		memory    recommender.Bytes
		compute   float64
		has       recommender.ResourceSet
		devices   []string
		processes int
	}
	gpuUUID := func(i int) string { return "GPU-0000000" + string(rune('0'+i)) + "-0000-4000-8000-000000000000" }
	for _, tc := range []struct {
		name         string
		setup        func(*gpufake.Server)
		owners       map[int][2]string
		gpm          bool // check the second Collect, the first with GPM
		want         []want
		unattributed want
	}{
		{
			name: "two containers time-slicing one GPU, and a host process",
			setup: func(s *gpufake.Server) {
				g := s.GPUs[0]
				g.Processes = []nvml.ProcessInfo{proc(100, 4*gib), proc(101, 1*gib), proc(200, 8*gib), proc(300, gib/2)}
				g.Samples = []nvml.ProcessUtilizationSample{
					sample(100, 10, 30), sample(100, 20, 50), // mean 0.4
					sample(101, 20, 10),
					sample(200, 15, 40),
					sample(300, 15, 5),
				}
			},
			owners: map[int][2]string{100: {"pod-a", "ctr-a"}, 101: {"pod-a", "ctr-a"}, 200: {"pod-b", "ctr-b"}},
			want: []want{
				{"pod-a", "ctr-a", 5 * gib, 0.5, both, []string{gpuUUID(0)}, 2},
				{"pod-b", "ctr-b", 8 * gib, 0.4, both, []string{gpuUUID(0)}, 1},
			},
			unattributed: want{"", "", gib / 2, 0.05, both, []string{gpuUUID(0)}, 1},
		},
		{
			name: "one container on two GPUs",
			setup: func(s *gpufake.Server) {
				s.GPUs[1].Processes = []nvml.ProcessInfo{proc(400, 30*gib)}
				s.GPUs[1].Samples = []nvml.ProcessUtilizationSample{sample(400, 5, 60)}
				s.GPUs[2].Processes = []nvml.ProcessInfo{proc(401, 20*gib)}
				s.GPUs[2].Samples = []nvml.ProcessUtilizationSample{sample(401, 5, 20)}
			},
			owners: map[int][2]string{400: {"pod-c", "ctr-c"}, 401: {"pod-c", "ctr-c"}},
			want:   []want{{"pod-c", "ctr-c", 50 * gib, 0.8, both, []string{gpuUUID(1), gpuUUID(2)}, 2}},
		},
		{
			name: "one process on two GPUs is one process; its busy time adds up",
			setup: func(s *gpufake.Server) {
				for _, g := range s.GPUs[:2] {
					g.Processes = []nvml.ProcessInfo{proc(450, 10*gib)}
					g.Samples = []nvml.ProcessUtilizationSample{sample(450, 5, 90)}
				}
			},
			owners: map[int][2]string{450: {"pod-d", "ctr-d"}},
			want:   []want{{"pod-d", "ctr-d", 20 * gib, 1.8, both, []string{gpuUUID(0), gpuUUID(1)}, 1}},
		},
		{
			name: "processes of one container beyond one GPU are capped at one GPU",
			setup: func(s *gpufake.Server) {
				g := s.GPUs[0]
				g.Processes = []nvml.ProcessInfo{proc(460, gib), proc(461, gib)}
				g.Samples = []nvml.ProcessUtilizationSample{sample(460, 5, 70), sample(461, 5, 60)}
			},
			owners: map[int][2]string{460: {"pod-e", "ctr-e"}, 461: {"pod-e", "ctr-e"}},
			want:   []want{{"pod-e", "ctr-e", 2 * gib, 1, both, []string{gpuUUID(0)}, 2}},
		},
		{
			name: "idle processes: no samples since the last read is zero, measured",
			setup: func(s *gpufake.Server) {
				s.GPUs[0].Processes = []nvml.ProcessInfo{proc(470, 3*gib)}
			},
			owners: map[int][2]string{470: {"pod-f", "ctr-f"}},
			want:   []want{{"pod-f", "ctr-f", 3 * gib, 0, both, []string{gpuUUID(0)}, 1}},
		},
		{
			name: "MIG slices: one container each, compute from GPM as a share of the GPU",
			gpm:  true,
			setup: func(s *gpufake.Server) {
				g := s.GPUs[3]
				g.GPMSupported = true
				small := g.AddMIG(profile("1g.10gb"), 0)
				small.Processes = []nvml.ProcessInfo{proc(500, 2*gib)}
				small.GPM = gpufake.GPMValues{GraphicsUtil: 50, SMUtil: 40, SMOccupancy: 20}
				big := g.AddMIG(profile("3g.40gb"), 4)
				big.Processes = []nvml.ProcessInfo{proc(600, 30*gib), proc(601, 1*gib)}
				big.GPM = gpufake.GPMValues{GraphicsUtil: 80}
			},
			owners: map[int][2]string{500: {"pod-g", "ctr-g"}, 600: {"pod-h", "ctr-h"}, 601: {"pod-h", "ctr-h"}},
			want: []want{
				{"pod-g", "ctr-g", 2 * gib, 0.5 * 16 / 132, both, []string{"MIG-00000003-0001-4000-8000-000000000000"}, 1},
				{"pod-h", "ctr-h", 31 * gib, 0.8 * 60 / 132, both, []string{"MIG-00000003-0002-4000-8000-000000000000"}, 2},
			},
		},
		{
			name: "a MIG slice shared by two containers: memory each, compute unknown",
			gpm:  true,
			setup: func(s *gpufake.Server) {
				g := s.GPUs[3]
				g.GPMSupported = true
				m := g.AddMIG(profile("2g.20gb"), 0)
				m.Processes = []nvml.ProcessInfo{proc(700, 3*gib), proc(701, 4*gib)}
				m.GPM = gpufake.GPMValues{GraphicsUtil: 90}
			},
			owners: map[int][2]string{700: {"pod-i", "ctr-i"}, 701: {"pod-j", "ctr-j"}},
			want: []want{
				{"pod-i", "ctr-i", 3 * gib, 0, recommender.ResourceSet(0).With(recommender.ResourceGPUMemory), []string{"MIG-00000003-0001-4000-8000-000000000000"}, 1},
				{"pod-j", "ctr-j", 4 * gib, 0, recommender.ResourceSet(0).With(recommender.ResourceGPUMemory), []string{"MIG-00000003-0001-4000-8000-000000000000"}, 1},
			},
		},
		{
			name: "MIG without GPM (A100-style): memory only",
			setup: func(s *gpufake.Server) {
				m := s.GPUs[3].AddMIG(profile("1g.10gb"), 6)
				m.Processes = []nvml.ProcessInfo{proc(800, gib)}
			},
			owners: map[int][2]string{800: {"pod-k", "ctr-k"}},
			want:   []want{{"pod-k", "ctr-k", gib, 0, recommender.ResourceSet(0).With(recommender.ResourceGPUMemory), []string{"MIG-00000003-0001-4000-8000-000000000000"}, 1}},
		},
		{
			name: "no per-process utilisation: a sole owner gets the device's",
			setup: func(s *gpufake.Server) {
				g := s.GPUs[4]
				g.Errors["GetProcessUtilization"] = nvml.ERROR_NOT_SUPPORTED
				g.Util = nvml.Utilization{Gpu: 70, Memory: 30}
				g.Processes = []nvml.ProcessInfo{proc(900, 5*gib), proc(901, gib)}
			},
			owners: map[int][2]string{900: {"pod-l", "ctr-l"}, 901: {"pod-l", "ctr-l"}},
			want:   []want{{"pod-l", "ctr-l", 6 * gib, 0.7, both, []string{gpuUUID(4)}, 2}},
		},
		{
			name: "no per-process utilisation and a shared device: compute unknown",
			setup: func(s *gpufake.Server) {
				g := s.GPUs[4]
				g.Errors["GetProcessUtilization"] = nvml.ERROR_NOT_SUPPORTED
				g.Util = nvml.Utilization{Gpu: 70}
				g.Processes = []nvml.ProcessInfo{proc(910, gib), proc(911, gib)}
			},
			owners:       map[int][2]string{910: {"pod-m", "ctr-m"}},
			want:         []want{{"pod-m", "ctr-m", gib, 0, recommender.ResourceSet(0).With(recommender.ResourceGPUMemory), []string{gpuUUID(4)}, 1}},
			unattributed: want{"", "", gib, 0, recommender.ResourceSet(0).With(recommender.ResourceGPUMemory), []string{gpuUUID(4)}, 1},
		},
		{
			name: "memory NVML withholds (VALUE_NOT_AVAILABLE): a lower bound",
			setup: func(s *gpufake.Server) {
				g := s.GPUs[5]
				g.Processes = []nvml.ProcessInfo{proc(920, 2*gib), {Pid: 921, UsedGpuMemory: ^uint64(0)}}
			},
			owners: map[int][2]string{920: {"pod-n", "ctr-n"}, 921: {"pod-n", "ctr-n"}},
			want:   []want{{"pod-n", "ctr-n", 2 * gib, 0, recommender.ResourceSet(0).With(recommender.ResourceGPUCompute), []string{gpuUUID(5)}, 2}},
		},
		{
			name: "MPS clients listed twice count once",
			setup: func(s *gpufake.Server) {
				g := s.GPUs[6]
				g.Processes = []nvml.ProcessInfo{proc(930, gib)}
				g.MPSProcesses = []nvml.ProcessInfo{proc(930, 2*gib), proc(931, 3*gib)}
				g.Samples = []nvml.ProcessUtilizationSample{sample(930, 3, 20), sample(931, 3, 30)}
			},
			owners: map[int][2]string{930: {"pod-o", "ctr-o"}, 931: {"pod-o", "ctr-o"}},
			want:   []want{{"pod-o", "ctr-o", 5 * gib, 0.5, both, []string{gpuUUID(6)}, 2}},
		},
		{
			name: "a sampled PID absent from the process list has no memory there",
			setup: func(s *gpufake.Server) {
				g := s.GPUs[7]
				g.Processes = []nvml.ProcessInfo{proc(940, gib)}
				g.Samples = []nvml.ProcessUtilizationSample{sample(940, 3, 10), sample(941, 3, 30)}
			},
			owners: map[int][2]string{940: {"pod-p", "ctr-p"}, 941: {"pod-p", "ctr-p"}},
			want:   []want{{"pod-p", "ctr-p", gib, 0.4, both, []string{gpuUUID(7)}, 2}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := gpufake.Wrap(dgxh100.New())
			tc.setup(srv)
			owners := newContainers(tc.owners)
			col, logs := collector(t, srv, owners)
			// Two ticks: GPM needs a pair of samples; per-process samples
			// are all consumed by the first.
			s1, err := col.Collect(t0)
			require.NoError(t, err)
			s, err := col.Collect(t0.Add(10 * time.Second))
			require.NoError(t, err)
			require.Len(t, s.Devices, 8)
			if !tc.gpm {
				s = s1 // the first read consumed the per-process samples
			}
			got := map[[2]string]gpu.ContainerUsage{}
			for _, c := range s.Containers {
				got[[2]string{c.PodUID, c.ContainerID}] = c
			}
			require.Len(t, got, len(tc.want))
			check := func(w want, c gpu.ContainerUsage) {
				t.Helper()
				require.Equal(t, w.memory, c.GPUMemory, "memory")
				require.InDelta(t, w.compute, float64(c.GPUCompute), 1e-9, "compute")
				require.Equal(t, w.has, c.Has, "has")
				require.Equal(t, w.devices, c.Devices, "devices")
				require.Equal(t, w.processes, c.Processes, "processes")
			}
			for _, w := range tc.want {
				c, ok := got[[2]string{w.pod, w.ctr}]
				require.True(t, ok, "container %s/%s", w.pod, w.ctr)
				check(w, c)
			}
			check(tc.unattributed, s.Unattributed)
			// Every PID is looked up once per Collect, whatever the
			// number of devices it is on.
			for pid, n := range owners.calls {
				require.LessOrEqual(t, n, 2, "pid %d", pid)
			}
			require.Zero(t, logs.count(slog.LevelWarn), logs.msgs)
		})
	}
}

func TestMIGDevices(t *testing.T) {
	t.Parallel()
	h100, _ := mig.ForPCIDeviceID(0x233010DE)
	p := func(name string) mig.Profile { x, _ := h100.Profile(name); return x }
	srv := gpufake.Wrap(dgxh100.New())
	g := srv.GPUs[0]
	g.GPMSupported = true
	g.MemoryInfo.Used = 0
	a := g.AddMIG(p("1g.20gb"), 6)
	a.Memory.Used = 3 << 30
	b := g.AddMIG(p("3g.40gb"), 0)
	b.ComputeInstanceID = 2
	b.Attributes.ComputeInstanceSliceCount = 1 // a 1c.3g compute instance
	b.Attributes.MultiprocessorCount = 16
	c := g.AddMockMIG(nvml.GPU_INSTANCE_PROFILE_1_SLICE_REV2, 4) // mock geometry: ID 9 = an index, 16 SMs, 1-slice placement
	c.Errors["GetComputeRunningProcesses"] = nvml.ERROR_NO_PERMISSION
	col, logs := collector(t, srv, nil)

	s, err := col.Collect(t0)
	require.NoError(t, err)
	d := s.Devices[0]
	require.True(t, d.MIGEnabled)
	require.False(t, d.Has.Has(gpu.MetricUtilization), "no utilisation under MIG")
	require.False(t, d.Has.Has(gpu.MetricProcessUtilization))
	require.Empty(t, d.Processes, "processes are read on the MIG devices")
	require.Len(t, d.MIG, 3)

	m := d.MIG[0]
	require.Equal(t, "MIG-00000000-0001-4000-8000-000000000000", m.UUID)
	require.Equal(t, "1g.20gb", m.Profile)
	require.Equal(t, 15, m.ProfileID)
	require.Equal(t, mig.Placement{Start: 6, Size: 2}, m.Placement)
	require.NoError(t, h100.ValidatePlacement(m.Profile, m.Placement))
	require.Equal(t, 26, m.SMs)
	require.InDelta(t, 26.0/132, m.Share, 1e-12)
	require.Equal(t, recommender.Bytes(3<<30), m.MemoryUsed)
	require.Equal(t, recommender.Bytes(19968)<<20, m.MemoryTotal)
	require.False(t, m.Has.Has(gpu.MetricGPM), "the first Collect primes GPM")

	require.Equal(t, "1c.3g.40gb", d.MIG[1].Profile)
	require.Equal(t, 2, d.MIG[1].ComputeInstanceID)
	require.InDelta(t, 16.0/132, d.MIG[1].Share, 1e-12)

	// The mock's own profile: its ID (an index) collides with the real
	// 3g's ID 9, so the name comes from the attributes instead.
	require.Equal(t, 9, d.MIG[2].ProfileID)
	require.Equal(t, "1g.20gb", d.MIG[2].Profile)
	require.Equal(t, mig.Placement{Start: 4, Size: 1}, d.MIG[2].Placement)
	require.Error(t, h100.ValidatePlacement(d.MIG[2].Profile, d.MIG[2].Placement), "the mock's placement is not a real one")
	require.False(t, d.MIG[2].Has.Has(gpu.MetricProcesses))
	require.Equal(t, 1, logs.count(slog.LevelWarn), "one warning for the refused process list")

	a.GPM = gpufake.GPMValues{GraphicsUtil: 25, SMUtil: 12, SMOccupancy: 6}
	s, err = col.Collect(t0.Add(10 * time.Second))
	require.NoError(t, err)
	m = s.Devices[0].MIG[0]
	require.True(t, m.Has.Has(gpu.MetricGPM))
	require.Equal(t, gpu.GPM{GraphicsUtil: 0.25, SMUtil: 0.12, SMOccupancy: 0.06}, m.GPM)
	_, err = col.Collect(t0.Add(20 * time.Second))
	require.NoError(t, err)
	require.Equal(t, 1, logs.count(slog.LevelWarn), "the same failure is logged once")

	// A reconfiguration that removes the instances frees their GPM buffers.
	g.MIGDevices = nil
	_, err = col.Collect(t0.Add(30 * time.Second))
	require.NoError(t, err)
	require.Equal(t, srv.Allocated, srv.Freed)
}

func TestProcessUtilizationReadsOnlyNewSamples(t *testing.T) {
	t.Parallel()
	srv := gpufake.Wrap(dgxa100.New())
	g := srv.GPUs[0]
	g.Processes = []nvml.ProcessInfo{proc(1, gib)}
	g.Samples = []nvml.ProcessUtilizationSample{sample(1, 100, 90), sample(1, 200, 70)}
	col, _ := collector(t, srv, newContainers(map[int][2]string{1: {"p", "c"}}))
	var lastSeen []uint64
	read := g.GetProcessUtilizationFunc
	g.GetProcessUtilizationFunc = func(last uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
		lastSeen = append(lastSeen, last)
		return read(last)
	}
	for i, tc := range []struct {
		add  []nvml.ProcessUtilizationSample
		want float64
	}{
		{nil, 0.8}, // both buffered samples
		{nil, 0},   // nothing new: NOT_FOUND, idle
		{[]nvml.ProcessUtilizationSample{sample(1, 300, 20)}, 0.2}, // only the new one
		{[]nvml.ProcessUtilizationSample{sample(1, 250, 99)}, 0},   // older than the last seen: ignored
	} {
		g.Samples = append(g.Samples, tc.add...)
		s, err := col.Collect(t0.Add(time.Duration(i) * 10 * time.Second))
		require.NoError(t, err)
		require.True(t, s.Devices[0].Has.Has(gpu.MetricProcessUtilization))
		require.InDelta(t, tc.want, float64(container(t, s, "p", "c").GPUCompute), 1e-9, "tick %d", i)
	}
	require.Equal(t, []uint64{0, 200, 200, 300}, lastSeen)
}

func TestMetricErrorsSkipOnlyThatMetric(t *testing.T) {
	t.Parallel()
	const noMetric gpu.Metric = 255
	all := gpu.MetricSet(0).With(gpu.MetricMemory).With(gpu.MetricUtilization).With(gpu.MetricPower).
		With(gpu.MetricProcesses).With(gpu.MetricProcessUtilization)
	for _, tc := range []struct {
		method  string
		ret     nvml.Return
		missing gpu.Metric
		warns   int
	}{
		{"GetUtilizationRates", nvml.ERROR_NOT_SUPPORTED, gpu.MetricUtilization, 0},
		{"GetPowerUsage", nvml.ERROR_NOT_SUPPORTED, gpu.MetricPower, 0},
		{"GetPowerUsage", nvml.ERROR_UNKNOWN, gpu.MetricPower, 1},
		{"GetMemoryInfo", nvml.ERROR_NO_PERMISSION, gpu.MetricMemory, 1},
		{"GetComputeRunningProcesses", nvml.ERROR_GPU_IS_LOST, gpu.MetricProcesses, 1},
		{"GetProcessUtilization", nvml.ERROR_NOT_SUPPORTED, gpu.MetricProcessUtilization, 0},
		{"GetProcessUtilization", nvml.ERROR_INSUFFICIENT_SIZE, gpu.MetricProcessUtilization, 0}, // with no samples: no samples
		{"GetMigMode", nvml.ERROR_NOT_SUPPORTED, 255, 0},                                         // a GPU without MIG: nothing missing
	} {
		t.Run(tc.method+"/"+tc.ret.Error(), func(t *testing.T) {
			t.Parallel()
			srv := gpufake.Wrap(dgxa100.New())
			srv.GPUs[2].Errors[tc.method] = tc.ret
			for _, g := range srv.GPUs {
				g.Processes = []nvml.ProcessInfo{proc(10, gib)}
			}
			col, logs := collector(t, srv, nil)
			for range 2 { // the second read logs nothing new
				s, err := col.Collect(t0)
				require.NoError(t, err)
				require.Len(t, s.Devices, 8)
				for i, d := range s.Devices {
					want := all
					if i == 2 && tc.missing != noMetric {
						want &^= 1 << tc.missing
					}
					if i == 2 && tc.ret == nvml.ERROR_INSUFFICIENT_SIZE {
						want = all // go-nvml's "no samples"
					}
					require.Equal(t, want, d.Has, "device %d", i)
					require.Equal(t, i, d.Index)
				}
			}
			require.Equal(t, tc.warns, logs.count(slog.LevelWarn), logs.msgs)
		})
	}
}

func TestDeviceWithoutUUIDIsSkipped(t *testing.T) {
	t.Parallel()
	srv := gpufake.Wrap(dgxa100.New())
	srv.GPUs[1].Errors["GetUUID"] = nvml.ERROR_GPU_IS_LOST
	srv.GPUs[1].Processes = []nvml.ProcessInfo{proc(5, gib)}
	col, logs := collector(t, srv, nil)
	s, err := col.Collect(t0)
	require.NoError(t, err)
	require.Len(t, s.Devices, 7)
	require.Equal(t, []int{0, 2, 3, 4, 5, 6, 7}, func() (ix []int) {
		for _, d := range s.Devices {
			ix = append(ix, d.Index)
		}
		return ix
	}())
	require.Zero(t, s.Unattributed.Processes)
	require.Equal(t, 1, logs.count(slog.LevelWarn))
}

func TestCollectFailsWhenGPUsCannotBeCounted(t *testing.T) {
	t.Parallel()
	srv := gpufake.Wrap(dgxa100.New())
	col, _ := collector(t, srv, nil)
	srv.Errors["DeviceGetCount"] = nvml.ERROR_UNKNOWN
	s, err := col.Collect(t0)
	require.ErrorIs(t, err, nvml.ERROR_UNKNOWN)
	require.Equal(t, t0, s.Time)
	require.Empty(t, s.Devices)
	delete(srv.Errors, "DeviceGetCount")
	srv.Errors["DeviceGetHandleByIndex"] = nvml.ERROR_UNKNOWN
	s, err = col.Collect(t0)
	require.NoError(t, err, "one handle failing is per device")
	require.Empty(t, s.Devices)
}

func TestNoGPU(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		lib  func() nvml.Interface
	}{
		{"no driver (real go-nvml, missing library)", func() nvml.Interface {
			return nvml.New(nvml.WithLibraryPath("/nonexistent/libnvidia-ml.so.1"))
		}},
		{"init fails", func() nvml.Interface {
			s := gpufake.Wrap(dgxa100.New())
			s.Errors["Init"] = nvml.ERROR_DRIVER_NOT_LOADED
			return s
		}},
		{"init panics", func() nvml.Interface {
			s := gpufake.Wrap(dgxa100.New())
			s.InitFunc = func() nvml.Return { panic("symbol lookup") }
			return s
		}},
		{"no devices", func() nvml.Interface {
			s := gpufake.Wrap(dgxa100.New())
			s.GPUs = nil
			return s
		}},
		{"devices cannot be counted", func() nvml.Interface {
			s := gpufake.Wrap(dgxa100.New())
			s.Errors["DeviceGetCount"] = nvml.ERROR_NO_PERMISSION
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logs := &records{}
			col, err := gpu.NewFromNVML(tc.lib(), gpu.Options{Logger: slog.New(logs)})
			require.ErrorIs(t, err, gpu.ErrNoGPU)
			require.NotNil(t, col)
			require.Equal(t, []string{"INFO no gpu, running cpu-only reason=" + err.Error()}, logs.msgs)
			s, err := col.Collect(t0)
			require.NoError(t, err)
			require.Equal(t, gpu.Snapshot{Time: t0}, s)
			require.NoError(t, col.Close())
		})
	}
	t.Run("New with a missing library", func(t *testing.T) {
		t.Parallel()
		col, err := gpu.New(gpu.Options{LibraryPath: "/nonexistent/libnvidia-ml.so.1"})
		require.ErrorIs(t, err, gpu.ErrNoGPU)
		require.ErrorIs(t, err, nvml.ERROR_LIBRARY_NOT_FOUND)
		s, err := col.Collect(t0)
		require.NoError(t, err)
		require.Empty(t, s.Devices)
	})
}

func TestGPM(t *testing.T) {
	t.Parallel()
	t.Run("whole GPU, paced", func(t *testing.T) {
		t.Parallel()
		srv := gpufake.Wrap(dgxh100.New())
		srv.GPUs[0].GPMSupported = true
		srv.GPUs[0].GPM = gpufake.GPMValues{GraphicsUtil: 60, SMUtil: 45, SMOccupancy: 30}
		col, _ := collector(t, srv, nil)
		for _, tc := range []struct {
			at   time.Duration
			want bool
		}{
			{0, false},                     // primes
			{10 * time.Second, true},       // a pair
			{10*time.Second + 50e6, false}, // 50 ms later: too soon for NVML
			{10*time.Second + 150e6, true}, // 150 ms after the last sample
			{20 * time.Second, true},       //
			{20*time.Second + 99e6, false}, //
			{20*time.Second + 100e6, true}, // exactly the minimum
			{30 * time.Second, true},       //
		} {
			s, err := col.Collect(t0.Add(tc.at))
			require.NoError(t, err)
			d := s.Devices[0]
			require.Equal(t, tc.want, d.Has.Has(gpu.MetricGPM), "at %v", tc.at)
			if tc.want {
				require.Equal(t, gpu.GPM{GraphicsUtil: 0.6, SMUtil: 0.45, SMOccupancy: 0.3}, d.GPM)
			}
			require.False(t, s.Devices[1].Has.Has(gpu.MetricGPM), "GPU 1 has no GPM support")
		}
		require.Equal(t, 2, srv.Allocated, "one pair of buffers, for GPU 0")
	})
	t.Run("driver without GPM symbols", func(t *testing.T) {
		t.Parallel()
		srv := gpufake.Wrap(dgxh100.New())
		srv.MissingSymbols["nvmlGpmMetricsGet"] = true
		for _, g := range srv.GPUs {
			g.GPMSupported = true
			g.GpmQueryDeviceSupportFunc = func() (nvml.GpmSupport, nvml.Return) {
				panic("GPM called on a driver without it")
			}
		}
		col, _ := collector(t, srv, nil)
		for i := range 3 {
			s, err := col.Collect(t0.Add(time.Duration(i) * time.Second))
			require.NoError(t, err)
			require.False(t, s.Devices[0].Has.Has(gpu.MetricGPM))
		}
		require.Zero(t, srv.Allocated)
	})
	t.Run("metric errors", func(t *testing.T) {
		t.Parallel()
		srv := gpufake.Wrap(dgxh100.New())
		srv.GPUs[0].GPMSupported = true
		srv.Errors["GpmMetricsGet"] = nvml.ERROR_NOT_SUPPORTED
		srv.GPUs[1].GPMSupported = true
		srv.GPUs[1].Errors["GpmSampleGet"] = nvml.ERROR_UNKNOWN
		col, logs := collector(t, srv, nil)
		for i := range 3 {
			s, err := col.Collect(t0.Add(time.Duration(i) * time.Second))
			require.NoError(t, err)
			require.False(t, s.Devices[0].Has.Has(gpu.MetricGPM))
			require.False(t, s.Devices[1].Has.Has(gpu.MetricGPM))
			require.True(t, s.Devices[0].Has.Has(gpu.MetricUtilization), "the rest is read")
		}
		require.Equal(t, 1, logs.count(slog.LevelWarn), logs.msgs)
	})
}

func TestClose(t *testing.T) {
	t.Parallel()
	srv := gpufake.Wrap(dgxh100.New())
	for _, g := range srv.GPUs {
		g.GPMSupported = true
	}
	col, err := gpu.NewFromNVML(srv, gpu.Options{})
	require.NoError(t, err)
	_, err = col.Collect(t0)
	require.NoError(t, err)
	require.Equal(t, 16, srv.Allocated)
	require.NoError(t, col.Close())
	require.NoError(t, col.Close(), "idempotent")
	require.Equal(t, 16, srv.Freed)
	require.Equal(t, 1, srv.Shutdowns)
	_, err = col.Collect(t0)
	require.ErrorIs(t, err, gpu.ErrClosed)
}

func TestCollectIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	srv := gpufake.Wrap(dgxh100.New())
	for _, g := range srv.GPUs {
		g.GPMSupported = true
		g.Processes = []nvml.ProcessInfo{proc(1, gib)}
	}
	col, _ := collector(t, srv, newContainers(map[int][2]string{1: {"p", "c"}}))
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 10 {
				s, err := col.Collect(t0.Add(time.Duration(i*10+j) * time.Second))
				if err != nil || len(s.Containers) != 1 {
					panic(errors.Join(err, errors.New("bad snapshot")))
				}
			}
		})
	}
	wg.Wait()
}

func TestMIGModeOffHasNoMIGDevices(t *testing.T) {
	t.Parallel()
	srv := gpufake.Wrap(dgxa100.New())
	srv.GPUs[0].Processes = []nvml.ProcessInfo{proc(3, gib)}
	srv.GPUs[0].MigMode = nvml.DEVICE_MIG_DISABLE
	col, _ := collector(t, srv, nil)
	s, err := col.Collect(t0)
	require.NoError(t, err)
	require.False(t, s.Devices[0].MIGEnabled)
	require.Empty(t, s.Devices[0].MIG)
	require.Equal(t, "Mock NVIDIA A100-SXM4-40GB", s.Devices[0].Name)
	require.Equal(t, uint32(0x20B010DE), s.Devices[0].PCIDeviceID)
	require.Equal(t, "550.54.15", s.DriverVersion)
	require.Equal(t, recommender.Bytes(40960)<<20, s.Devices[0].MemoryTotal)
	require.Equal(t, 1, s.Unattributed.Processes)
}
