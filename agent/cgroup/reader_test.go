package cgroup

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"
)

// The fixtures in testdata hold one tree per cgroup driver and runtime,
// each with a Guaranteed, a Burstable and a BestEffort pod of one
// container plus its sandbox. Containers of the same role hold the same
// counters in every tree (the values below); IDs and UIDs differ.
type role int

const (
	roleSandbox role = iota
	roleGuaranteed
	roleBurstable
	roleBesteffort
)

type fixtureContainer struct {
	uid, id string
	role    role
}

var fixtures = []struct {
	name       string
	containers []fixtureContainer
}{
	{"systemd-containerd", []fixtureContainer{
		{"9bad4893-9ad8-5ce9-d73f-7c4101fa07c7", "a726d10d2cc64046932967ddf4cfec12d3e0923f9d46fd5f08791fde07bc1868", roleSandbox},
		{"9bad4893-9ad8-5ce9-d73f-7c4101fa07c7", "fbde386dafa51da5010d4c9f045bbca689cfc8f0ae0f99013f7ec4f1b2d9458b", roleGuaranteed},
		{"8f3d39e9-c418-8a76-97f6-dadca81673d1", "252ac82924d68bdf3eeb4a98fac40824c27bcc29692e47698f2943bdd81cd457", roleSandbox},
		{"8f3d39e9-c418-8a76-97f6-dadca81673d1", "ad7576f920d4ebfc42181f175f5b8c4f798e2449383db6c21a197c720590be36", roleBurstable},
		{"15b29fb0-1bdb-81bc-f8d0-bb2cb928b9b2", "68aed48874177f41f799b8d23d0b2d07bcc427375ca7d2b76a09c55db4138602", roleSandbox},
		{"15b29fb0-1bdb-81bc-f8d0-bb2cb928b9b2", "6ffcc2818a4e3dce53e97044451131b3dc9a524d14bb8a513eb7f441ea6ebd16", roleBesteffort},
	}},
	{"systemd-crio", []fixtureContainer{
		{"155816b4-bcba-2a3f-370b-94aed9d2b4b2", "80fe1c172d684c0353ad525667cd1e5a0e89366bbaf1101bac31ebf19e63db84", roleSandbox},
		{"155816b4-bcba-2a3f-370b-94aed9d2b4b2", "d99e4b6c86cb537da0d6694bbd829d595044a46b0ac53d06d7ddb7e090c3c449", roleGuaranteed},
		{"00c2eff1ebb819830b667dfa8fc2246a", "607d5b65dcea4d08f0df1c2b0d23b78b4c61a35a785e36e701913446e622d470", roleSandbox},
		{"00c2eff1ebb819830b667dfa8fc2246a", "0e46d94646b7c6f06b4df41edc5d5c109170842be06df5a5eb2af9e910138af3", roleBurstable},
		{"d03c5662-1a9f-f908-7993-9b74bd67c004", "8d4e6073d75f73a57527f885d730b65749445b2313d9b2008987868c61675465", roleSandbox},
		{"d03c5662-1a9f-f908-7993-9b74bd67c004", "eb6f3cc4a8fb614a37c7e40cf594c8316604d8f13fde3a65244ea185c2addaf8", roleBesteffort},
	}},
	{"cgroupfs-containerd", []fixtureContainer{
		{"2d735c39-c395-b31e-2df9-b384bf53d9fb", "de7d238169cbdd01f64ca297200df659cc094b3df9e5fe38b4fa06dfb0c788a1", roleSandbox},
		{"2d735c39-c395-b31e-2df9-b384bf53d9fb", "9d71ea450de2324a1012f318ada3f9e402be3d31bb4072809903400a66f16352", roleGuaranteed},
		{"0c19d863-8caa-236c-03ef-a5d66e5ec6ed", "42f6bb8a06e3c71c178ba903ca4db1b858779e5fa59e90c98243c64191838a99", roleSandbox},
		{"0c19d863-8caa-236c-03ef-a5d66e5ec6ed", "72932672be748d8ebd31ca8f7d73a7792b5a9f97cbe69328b23fb62388760d15", roleBurstable},
		{"dc392638-6257-7e8f-a7af-4027e4aae47b", "57bb5b884f2d5e8e4cee311b4a8c603eafdc99d7d5a220d50f0e1d5215e16bbe", roleSandbox},
		{"dc392638-6257-7e8f-a7af-4027e4aae47b", "b3331b39d103c4dae192c57d65e511d7bf14939333024039c157d5d0946dd5f0", roleBesteffort},
	}},
	{"cgroupfs-crio", []fixtureContainer{
		{"c99131be-6df4-752c-758b-3dd984e1cabf", "ac4a6d5b277389a0208eaa7b6c329029cdde8260ccccab1c969022c03d31e5da", roleSandbox},
		{"c99131be-6df4-752c-758b-3dd984e1cabf", "c13a89f5014820ade96de018ad45237a74a60c0638e6c478598b48450f23d765", roleGuaranteed},
		{"30d7232603a9f60fad300ba747656bb1", "9a83a3dcc1435c2db1ba366cb1826f66ea8d32235ae90d6b84f3e6431e16e65e", roleSandbox},
		{"30d7232603a9f60fad300ba747656bb1", "11a0b0412fc525944964a8b5a97c62d9d2e6c8e7ccd06f5e4645eb83dcfd2faf", roleBurstable},
		{"44e4fa4a-f6d2-d332-5ef4-a6266a622430", "8a41c60bb130400b016fa867a63bbc4c4764f4394d7709c31b0c2c671fd25d85", roleSandbox},
		{"44e4fa4a-f6d2-d332-5ef4-a6266a622430", "aebf3f2001dedb4b724e6cc612c1f324ef431ea33661bb9483a784f1c8071fa7", roleBesteffort},
	}},
}

// round1 is what the first round reads from each role's files: no rates,
// which need a previous reading.
var round1 = map[role]Reading{
	roleSandbox: {
		MemoryCurrentBytes: 217088, WorkingSetBytes: 217088, AnonBytes: 45056,
		OOMKillsTotal: 0,
	},
	roleGuaranteed: {
		MemoryCurrentBytes: 412385280, WorkingSetBytes: 412385280 - 62914560,
		AnonBytes: 301989888, FileBytes: 104857600, InactiveFileBytes: 62914560, ActiveFileBytes: 41943040,
		MemoryLimitBytes: 536870912, OOMKillsTotal: 2,
		CPUPressure:    Pressure{SomeAvg10: 3.12, FullAvg10: 2.80},
		MemoryPressure: Pressure{SomeAvg10: 0.41, FullAvg10: 0.20},
	},
	roleBurstable: {
		MemoryCurrentBytes: 1288486912, WorkingSetBytes: 1288486912 - 349999104,
		AnonBytes: 905969664, FileBytes: 373293056, InactiveFileBytes: 349999104, ActiveFileBytes: 23293952,
		MemoryLimitBytes: 2147483648,
	},
	roleBesteffort: {
		// inactive_file above memory.current: the working set floors at 0.
		MemoryCurrentBytes: 25165824, WorkingSetBytes: 0,
		AnonBytes: 8388608, FileBytes: 16777216, InactiveFileBytes: 31457280,
		CPUPressure: Pressure{SomeAvg10: 0.25, FullAvg10: 0.10},
	},
}

const firstFields = FieldMemory | FieldMemoryStat | FieldWorkingSet | FieldMemoryLimit | FieldOOMKillsTotal | FieldCPUPressure | FieldMemoryPressure

const allFields = firstFields | FieldCPU | FieldThrottling | FieldOOMKills | FieldCPUStall | FieldMemoryStall

// advance changes a role's files as 10 s of running would.
func advance(t *testing.T, dir string, r role) {
	t.Helper()
	switch r {
	case roleSandbox:
		addKey(t, dir, "cpu.stat", "usage_usec", 1_000)
	case roleGuaranteed:
		addKey(t, dir, "cpu.stat", "usage_usec", 15_000_000)
		addKey(t, dir, "cpu.stat", "nr_periods", 100)
		addKey(t, dir, "cpu.stat", "nr_throttled", 25)
		addKey(t, dir, "cpu.stat", "throttled_usec", 2_500_000)
		writeFile(t, dir, "memory.current", "421527552\n")
		setKey(t, dir, "memory.stat", "inactive_file", "67108864")
		addKey(t, dir, "memory.events", "oom_kill", 1)
		setPressure(t, dir, "cpu.pressure", "some", "12.50", 1_250_000)
		setPressure(t, dir, "cpu.pressure", "full", "10.00", 1_000_000)
		setPressure(t, dir, "memory.pressure", "some", "0.41", 50_000)
		setPressure(t, dir, "memory.pressure", "full", "0.20", 20_000)
	case roleBurstable:
		addKey(t, dir, "cpu.stat", "usage_usec", 4_200_000)
		addKey(t, dir, "cpu.stat", "nr_periods", 100)
	case roleBesteffort:
		// No CPU limit: nr_periods stays 0.
		addKey(t, dir, "cpu.stat", "usage_usec", 800_000)
	}
}

// round2 is what the second round, 10 s after the first, derives from
// advance's changes.
var round2 = map[role]Reading{
	roleSandbox: {
		CPUCores:           0.0001,
		MemoryCurrentBytes: 217088, WorkingSetBytes: 217088, AnonBytes: 45056,
	},
	roleGuaranteed: {
		CPUCores: 1.5, ThrottledFraction: 0.25, ThrottledTime: 2500 * time.Millisecond,
		MemoryCurrentBytes: 421527552, WorkingSetBytes: 421527552 - 67108864,
		AnonBytes: 301989888, FileBytes: 104857600, InactiveFileBytes: 67108864, ActiveFileBytes: 41943040,
		MemoryLimitBytes: 536870912, OOMKills: 1, OOMKillsTotal: 3,
		CPUPressure:    Pressure{SomeAvg10: 12.5, FullAvg10: 10, SomeStall: 1250 * time.Millisecond, FullStall: time.Second},
		MemoryPressure: Pressure{SomeAvg10: 0.41, FullAvg10: 0.20, SomeStall: 50 * time.Millisecond, FullStall: 20 * time.Millisecond},
	},
	roleBurstable: {
		CPUCores:           0.42,
		MemoryCurrentBytes: 1288486912, WorkingSetBytes: 1288486912 - 349999104,
		AnonBytes: 905969664, FileBytes: 373293056, InactiveFileBytes: 349999104, ActiveFileBytes: 23293952,
		MemoryLimitBytes: 2147483648,
	},
	roleBesteffort: {
		CPUCores:           0.08,
		MemoryCurrentBytes: 25165824, AnonBytes: 8388608, FileBytes: 16777216, InactiveFileBytes: 31457280,
		CPUPressure: Pressure{SomeAvg10: 0.25, FullAvg10: 0.10},
	},
}

func TestReadFixtures(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			t.Parallel()
			root := copyFixture(t, fx.name)
			clk := clocktesting.NewFakePassiveClock(t0)
			reg := prometheus.NewRegistry()
			r, err := New(Options{Root: root, Clock: clk, Registerer: reg})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, r.Close()) })

			got := r.Read(nil)
			listings := r.Stats().Listings
			require.Len(t, got, len(fx.containers))
			for _, c := range fx.containers {
				want := round1[c.role]
				want.PodUID, want.ContainerID, want.Time, want.Valid = c.uid, c.id, t0, firstFields
				requireReading(t, want, find(t, got, c.id))
			}

			for _, c := range fx.containers {
				advance(t, containerDir(t, root, c.id), c.role)
			}
			clk.SetTime(t0.Add(10 * time.Second))
			got = r.Read(got[:0])
			require.Len(t, got, len(fx.containers))
			for _, c := range fx.containers {
				want := round2[c.role]
				want.PodUID, want.ContainerID, want.Time, want.Valid = c.uid, c.id, t0.Add(10*time.Second), allFields
				want.Interval = 10 * time.Second
				requireReading(t, want, find(t, got, c.id))
			}

			s := r.Stats()
			require.Equal(t, uint64(2), s.Rounds)
			require.Equal(t, uint64(1), s.Scans, "one full scan, at the start")
			require.Equal(t, listings, s.Listings, "no directory changed: none listed again")
			require.Equal(t, len(fx.containers), s.Containers)
			require.Zero(t, s.Vanished)
			for name, n := range s.FileErrors {
				require.Zero(t, n, name)
			}
			require.Equal(t, float64(len(fx.containers)), gauge(t, reg, "rightsizer_agent_cgroup_containers"))
			n, err := testutil.GatherAndCount(reg, "rightsizer_agent_cgroup_file_errors_total")
			require.NoError(t, err)
			require.Equal(t, int(numFiles), n, "one series per file")
		})
	}
}

// TestReadChanges drives the reader through what happens on a node
// between rounds, on the systemd/containerd fixture.
func TestReadChanges(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const fixture = "systemd-containerd"
	fx := fixtures[0]
	require.Equal(t, fixture, fx.name)
	guaranteed, burstableSandbox, burstable := fx.containers[1], fx.containers[2], fx.containers[3]
	require.Equal(t, roleGuaranteed, guaranteed.role)
	require.Equal(t, roleBurstable, burstable.role)
	newID := strings.Repeat("5e", 32)
	var listingsAfterFirstRound uint64 // shared by one case's rounds

	type round struct {
		// change is applied before the round; dt is how far the clock
		// moves.
		change func(t *testing.T, root string)
		// afterScan runs between the round's scan and its reads.
		afterScan func(t *testing.T, root string)
		dt        time.Duration
		check     func(t *testing.T, got []Reading, s Stats)
	}
	for _, tc := range []struct {
		name   string
		rescan time.Duration
		rounds []round
	}{
		{
			name: "memory controller missing",
			rounds: []round{
				{change: func(t *testing.T, root string) {
					for _, f := range []string{"memory.current", "memory.stat", "memory.max", "memory.events", "memory.pressure"} {
						require.NoError(t, os.Remove(filepath.Join(containerDir(t, root, burstable.id), f)))
					}
				}, check: func(t *testing.T, got []Reading, s Stats) {
					rd := find(t, got, burstable.id)
					require.Equal(t, FieldCPUPressure, rd.Valid)
					require.Equal(t, uint64(1), s.FileErrors["memory.current"])
					require.Equal(t, uint64(1), s.FileErrors["memory.pressure"])
					require.Zero(t, s.FileErrors["cpu.stat"])
					require.Zero(t, s.Vanished)
				}},
				{change: func(t *testing.T, root string) { advance(t, containerDir(t, root, burstable.id), roleBurstable) },
					dt: 10 * time.Second,
					check: func(t *testing.T, got []Reading, s Stats) {
						rd := find(t, got, burstable.id)
						require.Equal(t, FieldCPU|FieldThrottling|FieldCPUPressure|FieldCPUStall, rd.Valid)
						require.InDelta(t, 0.42, rd.CPUCores, 1e-12)
						require.Equal(t, uint64(2), s.FileErrors["memory.stat"])
					}},
			},
		},
		{
			name: "malformed cpu.stat",
			rounds: []round{
				{check: func(t *testing.T, got []Reading, s Stats) {}},
				{change: func(t *testing.T, root string) {
					writeFile(t, containerDir(t, root, guaranteed.id), "cpu.stat", "usage_usec 12ab\n")
				}, dt: 10 * time.Second, check: func(t *testing.T, got []Reading, s Stats) {
					rd := find(t, got, guaranteed.id)
					require.False(t, rd.Valid.Has(FieldCPU))
					require.False(t, rd.Valid.Has(FieldThrottling))
					require.True(t, rd.Valid.Has(FieldMemory|FieldOOMKills|FieldCPUStall))
					require.Equal(t, uint64(1), s.FileErrors["cpu.stat"])
				}},
				{change: func(t *testing.T, root string) {
					writeFile(t, containerDir(t, root, guaranteed.id), "cpu.stat", "usage_usec 9000000000\nnr_periods 1\nnr_throttled 0\nthrottled_usec 0\n")
				}, dt: 10 * time.Second, check: func(t *testing.T, got []Reading, s Stats) {
					// The previous round had no valid cpu.stat: no rate
					// yet, rather than one over the wrong interval.
					rd := find(t, got, guaranteed.id)
					require.False(t, rd.Valid.Has(FieldCPU))
				}},
				{change: func(t *testing.T, root string) {
					addKey(t, containerDir(t, root, guaranteed.id), "cpu.stat", "usage_usec", 5_000_000)
				}, dt: 5 * time.Second, check: func(t *testing.T, got []Reading, s Stats) {
					rd := find(t, got, guaranteed.id)
					require.True(t, rd.Valid.Has(FieldCPU|FieldThrottling))
					require.InDelta(t, 1.0, rd.CPUCores, 1e-12)
					require.Equal(t, 5*time.Second, rd.Interval)
				}},
			},
		},
		{
			name: "counters went backwards",
			rounds: []round{
				{check: func(t *testing.T, got []Reading, s Stats) {}},
				{change: func(t *testing.T, root string) {
					dir := containerDir(t, root, guaranteed.id)
					setKey(t, dir, "cpu.stat", "usage_usec", "10")
					setKey(t, dir, "memory.events", "oom_kill", "0")
					setPressure(t, dir, "cpu.pressure", "some", "0.00", 0)
					writeFile(t, dir, "cpu.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=5\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=5\n")
				}, dt: 10 * time.Second, check: func(t *testing.T, got []Reading, s Stats) {
					rd := find(t, got, guaranteed.id)
					require.Equal(t, allFields&^(FieldCPU|FieldThrottling|FieldOOMKills|FieldCPUStall), rd.Valid)
				}},
				{change: func(t *testing.T, root string) {
					dir := containerDir(t, root, guaranteed.id)
					addKey(t, dir, "cpu.stat", "usage_usec", 2_000_000)
				}, dt: 10 * time.Second, check: func(t *testing.T, got []Reading, s Stats) {
					rd := find(t, got, guaranteed.id)
					require.Equal(t, allFields, rd.Valid)
					require.InDelta(t, 0.2, rd.CPUCores, 1e-12)
				}},
			},
		},
		{
			name: "clock did not advance",
			rounds: []round{
				{check: func(t *testing.T, got []Reading, s Stats) {}},
				{change: func(t *testing.T, root string) { advance(t, containerDir(t, root, guaranteed.id), roleGuaranteed) },
					check: func(t *testing.T, got []Reading, s Stats) {
						rd := find(t, got, guaranteed.id)
						require.Equal(t, firstFields, rd.Valid)
						require.Zero(t, rd.Interval)
					}},
			},
		},
		{
			name: "container restarted: old removed, new created",
			rounds: []round{
				{check: func(t *testing.T, got []Reading, s Stats) { require.Len(t, got, 6) }},
				{change: func(t *testing.T, root string) {
					require.NoError(t, os.RemoveAll(containerDir(t, root, burstable.id)))
				}, dt: 10 * time.Second, check: func(t *testing.T, got []Reading, s Stats) {
					require.Len(t, got, 5, "the pod's link count fell: listed again")
					require.False(t, slices.ContainsFunc(got, func(r Reading) bool { return r.ContainerID == burstable.id }))
					require.Equal(t, 5, s.Containers)
				}},
				{change: func(t *testing.T, root string) {
					copyContainer(t, root, burstableSandbox.id, "cri-containerd-"+newID+".scope")
				}, dt: 10 * time.Second, check: func(t *testing.T, got []Reading, s Stats) {
					require.Len(t, got, 6)
					rd := find(t, got, newID)
					require.Equal(t, burstable.uid, rd.PodUID)
					require.Equal(t, firstFields, rd.Valid, "a new container's first reading has no rates")
					require.Equal(t, uint64(1), s.Scans, "found without a full scan")
				}},
			},
		},
		{
			name:   "container replaced within a round, full scans",
			rescan: -1,
			rounds: []round{
				{check: func(t *testing.T, got []Reading, s Stats) { require.Len(t, got, 6) }},
				{change: func(t *testing.T, root string) {
					copyContainer(t, root, burstable.id, "cri-containerd-"+newID+".scope")
					require.NoError(t, os.RemoveAll(containerDir(t, root, burstable.id)))
				}, dt: 10 * time.Second, check: func(t *testing.T, got []Reading, s Stats) {
					require.Len(t, got, 6)
					require.False(t, slices.ContainsFunc(got, func(r Reading) bool { return r.ContainerID == burstable.id }))
					require.Equal(t, firstFields, find(t, got, newID).Valid)
					require.Equal(t, uint64(2), s.Scans)
				}},
			},
		},
		{
			name: "container removed between scan and read",
			rounds: []round{
				{afterScan: func(t *testing.T, root string) {
					require.NoError(t, os.RemoveAll(containerDir(t, root, guaranteed.id)))
				}, check: func(t *testing.T, got []Reading, s Stats) {
					require.Len(t, got, 5)
					require.Equal(t, uint64(1), s.Vanished)
					require.Equal(t, 5, s.Containers)
					listingsAfterFirstRound = s.Listings
					for name, n := range s.FileErrors {
						require.Zero(t, n, name)
					}
				}},
				{dt: 10 * time.Second, check: func(t *testing.T, got []Reading, s Stats) {
					require.Len(t, got, 5)
					require.Equal(t, uint64(1), s.Scans)
					// Only the vanished container's pod is listed again.
					require.Equal(t, listingsAfterFirstRound+1, s.Listings)
				}},
			},
		},
		{
			name: "pod created",
			rounds: []round{
				{check: func(t *testing.T, got []Reading, s Stats) { require.Len(t, got, 6) }},
				{change: func(t *testing.T, root string) {
					pod := filepath.Dir(containerDir(t, root, burstable.id))
					dst := filepath.Join(filepath.Dir(pod), "kubepods-burstable-pod"+strings.ReplaceAll(testUID, "-", "_")+".slice")
					require.NoError(t, os.CopyFS(dst, os.DirFS(pod)))
					require.NoError(t, os.Rename(filepath.Join(dst, filepath.Base(containerDir(t, root, burstable.id))),
						filepath.Join(dst, "cri-containerd-"+newID+".scope")))
				}, dt: 10 * time.Second, check: func(t *testing.T, got []Reading, s Stats) {
					require.Len(t, got, 8, "both containers of the new pod, its sandbox and the copy of the burstable one")
					require.Equal(t, testUID, find(t, got, newID).PodUID)
					require.Equal(t, uint64(1), s.Scans)
				}},
			},
		},
		{
			name: "pod removed",
			rounds: []round{
				{check: func(t *testing.T, got []Reading, s Stats) { require.Len(t, got, 6) }},
				{change: func(t *testing.T, root string) {
					require.NoError(t, os.RemoveAll(filepath.Dir(containerDir(t, root, guaranteed.id))))
				}, dt: 10 * time.Second, check: func(t *testing.T, got []Reading, s Stats) {
					require.Len(t, got, 4)
					require.Equal(t, 4, s.Containers)
					require.Zero(t, s.Vanished, "gone at the scan, before any read")
				}},
			},
		},
		{
			name: "no root",
			rounds: []round{
				{change: func(t *testing.T, root string) { require.NoError(t, os.RemoveAll(root)) },
					check: func(t *testing.T, got []Reading, s Stats) {
						require.Empty(t, got)
						require.Equal(t, uint64(1), s.ScanErrors)
					}},
			},
		},
		{
			name: "cpu pressure without a full line",
			rounds: []round{
				{change: func(t *testing.T, root string) {
					writeFile(t, containerDir(t, root, guaranteed.id), "cpu.pressure", "some avg10=1.50 avg60=0.00 avg300=0.00 total=100\n")
				}, check: func(t *testing.T, got []Reading, s Stats) {}},
				{change: func(t *testing.T, root string) {
					writeFile(t, containerDir(t, root, guaranteed.id), "cpu.pressure", "some avg10=2.50 avg60=0.00 avg300=0.00 total=3100\n")
				}, dt: 10 * time.Second, check: func(t *testing.T, got []Reading, s Stats) {
					rd := find(t, got, guaranteed.id)
					require.True(t, rd.Valid.Has(FieldCPUPressure|FieldCPUStall))
					require.Equal(t, Pressure{SomeAvg10: 2.5, SomeStall: 3 * time.Millisecond}, rd.CPUPressure)
				}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := copyFixture(t, fixture)
			clk := clocktesting.NewFakePassiveClock(t0)
			r, err := New(Options{Root: root, Clock: clk, RescanInterval: tc.rescan})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, r.Close()) })
			var got []Reading
			for i, rd := range tc.rounds {
				if rd.change != nil {
					rd.change(t, root)
				}
				clk.SetTime(clk.Now().Add(rd.dt))
				r.afterScan = nil
				if rd.afterScan != nil {
					r.afterScan = func() { rd.afterScan(t, root) }
				}
				got = r.Read(got[:0])
				t.Logf("round %d: %d readings", i+1, len(got))
				rd.check(t, got, r.Stats())
			}
		})
	}
}

func TestReadRootIsKubepods(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ fixture, sub string }{
		{"systemd-containerd", "kubepods.slice"},
		{"cgroupfs-crio", "kubepods"},
		{"cgroupfs-containerd", "kubepods/burstable"},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			t.Parallel()
			root := copyFixture(t, tc.fixture)
			r, err := New(Options{Root: filepath.Join(root, tc.sub)})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, r.Close()) })
			want := 6
			if strings.Contains(tc.sub, "/") {
				want = 2
			}
			require.Len(t, r.Read(nil), want)
		})
	}
}

// TestReaderClosesFiles checks that the files held open are closed when
// their container goes and when the reader does.
func TestReaderClosesFiles(t *testing.T) {
	t.Parallel()
	root := copyFixture(t, "cgroupfs-crio")
	r, err := New(Options{Root: root})
	require.NoError(t, err)
	require.Len(t, r.Read(nil), 6)
	all := slices.Clone(r.list)
	open := func(c *container) int {
		n := 0
		for _, fd := range c.fds {
			if fd >= 0 {
				n++
			}
		}
		return n
	}
	for _, c := range all {
		require.Equal(t, int(numFiles), open(c), c.id)
	}
	gone := fixtures[3].containers[2].id
	require.NoError(t, os.RemoveAll(filepath.Dir(containerDir(t, root, gone))))
	require.Len(t, r.Read(nil), 4)
	for _, c := range all {
		if c.pod.uid == fixtures[3].containers[2].uid {
			require.Zero(t, open(c), c.id)
		} else {
			require.Equal(t, int(numFiles), open(c), c.id)
		}
	}
	require.NoError(t, r.Close())
	for _, c := range all {
		require.Zero(t, open(c), c.id)
	}
	require.Zero(t, r.Stats().Containers)
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, DefaultOptions().Validate())
	require.ErrorContains(t, Options{}.Validate(), "root")
	_, err := New(Options{})
	require.Error(t, err)
}

func TestFieldString(t *testing.T) {
	t.Parallel()
	require.Equal(t, "cpu|memory_stall", (FieldCPU | FieldMemoryStall).String())
	require.Empty(t, Field(0).String())
	require.True(t, allFields.Has(FieldOOMKills|FieldCPU))
	require.False(t, firstFields.Has(FieldCPU))
}

// requireReading compares readings, floats to within rounding.
func requireReading(t *testing.T, want, got Reading) {
	t.Helper()
	require.True(t, want.Time.Equal(got.Time), "time %v, want %v", got.Time, want.Time)
	for _, f := range []struct {
		name      string
		want, got *float64
	}{
		{"cpu cores", &want.CPUCores, &got.CPUCores},
		{"throttled fraction", &want.ThrottledFraction, &got.ThrottledFraction},
		{"cpu some avg10", &want.CPUPressure.SomeAvg10, &got.CPUPressure.SomeAvg10},
		{"cpu full avg10", &want.CPUPressure.FullAvg10, &got.CPUPressure.FullAvg10},
		{"memory some avg10", &want.MemoryPressure.SomeAvg10, &got.MemoryPressure.SomeAvg10},
		{"memory full avg10", &want.MemoryPressure.FullAvg10, &got.MemoryPressure.FullAvg10},
	} {
		require.InDelta(t, *f.want, *f.got, 1e-12, "%s of %s", f.name, want.ContainerID)
		*f.want, *f.got = 0, 0
	}
	want.Time, got.Time = time.Time{}, time.Time{}
	require.Equal(t, want, got)
}

func find(t *testing.T, rs []Reading, id string) Reading {
	t.Helper()
	i := slices.IndexFunc(rs, func(r Reading) bool { return r.ContainerID == id })
	require.GreaterOrEqual(t, i, 0, "no reading for %s", id)
	return rs[i]
}

func gauge(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// copyFixture copies testdata/name to a fresh directory that the test
// may change.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "cgroup")
	require.NoError(t, os.CopyFS(dst, os.DirFS(filepath.Join("testdata", name))))
	return dst
}

// containerDir finds the cgroup directory of container id under root.
func containerDir(t *testing.T, root, id string) string {
	t.Helper()
	var dir string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.Contains(d.Name(), id) && !strings.Contains(d.Name(), "conmon") {
			dir = p
			return fs.SkipAll
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, dir, "no cgroup for %s", id)
	return dir
}

// copyContainer copies container id's cgroup to a new one in its pod.
func copyContainer(t *testing.T, root, id, name string) {
	t.Helper()
	src := containerDir(t, root, id)
	require.NoError(t, os.CopyFS(filepath.Join(filepath.Dir(src), name), os.DirFS(src)))
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
}

// editLines rewrites a file line by line, with plain string handling
// that shares nothing with the parsers under test.
func editLines(t *testing.T, dir, name string, edit func(fields []string) []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.Join(edit(strings.Fields(l)), " ")
	}
	writeFile(t, dir, name, strings.Join(lines, "\n")+"\n")
}

func setKey(t *testing.T, dir, name, key, value string) {
	t.Helper()
	found := false
	editLines(t, dir, name, func(f []string) []string {
		if f[0] == key {
			f[1], found = value, true
		}
		return f
	})
	require.True(t, found, "%s has no %s", name, key)
}

func addKey(t *testing.T, dir, name, key string, delta uint64) {
	t.Helper()
	found := false
	editLines(t, dir, name, func(f []string) []string {
		if f[0] == key {
			v, err := strconv.ParseUint(f[1], 10, 64)
			require.NoError(t, err)
			f[1], found = strconv.FormatUint(v+delta, 10), true
		}
		return f
	})
	require.True(t, found, "%s has no %s", name, key)
}

// setPressure sets a PSI line's avg10 and adds to its total.
func setPressure(t *testing.T, dir, name, line, avg10 string, addTotal uint64) {
	t.Helper()
	editLines(t, dir, name, func(f []string) []string {
		if f[0] != line {
			return f
		}
		for i, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "avg10":
				f[i+1] = "avg10=" + avg10
			case "total":
				n, err := strconv.ParseUint(v, 10, 64)
				require.NoError(t, err)
				f[i+1] = "total=" + strconv.FormatUint(n+addTotal, 10)
			}
		}
		return f
	})
}
