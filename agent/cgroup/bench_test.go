package cgroup_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rightsizer/rightsizer/agent/cgroup"
	"github.com/rightsizer/rightsizer/agent/cgroup/cgroupfake"
)

// A node with 100 pods of two containers each: 300 container cgroups
// with the sandboxes, the shape make bench-agent measures.
const benchPods, benchPerPod = 100, 2

func newBenchTree(tb testing.TB, cfg cgroupfake.Config) *cgroupfake.Tree {
	tb.Helper()
	tree, err := cgroupfake.New(filepath.Join(tb.TempDir(), "cgroup"), cfg)
	require.NoError(tb, err)
	return tree
}

// TestFakeTree checks the synthetic trees against the reader for every
// driver and runtime: what the generator ran is what the reader reads.
func TestFakeTree(t *testing.T) {
	t.Parallel()
	for _, d := range []cgroupfake.Driver{cgroupfake.DriverSystemd, cgroupfake.DriverCgroupfs} {
		for _, rt := range []cgroupfake.Runtime{cgroupfake.RuntimeContainerd, cgroupfake.RuntimeCRIO} {
			t.Run(fmt.Sprintf("driver=%d/runtime=%d", d, rt), func(t *testing.T) {
				t.Parallel()
				tree := newBenchTree(t, cgroupfake.Config{Pods: 6, ContainersPerPod: 2, Driver: d, Runtime: rt, Seed: 1})
				t0 := time.Unix(1_700_000_000, 0)
				clk := clocktesting.NewFakePassiveClock(t0)
				r, err := cgroup.New(cgroup.Options{Root: tree.Root, Clock: clk})
				require.NoError(t, err)
				t.Cleanup(func() { require.NoError(t, r.Close()) })
				require.Len(t, r.Read(nil), len(tree.Containers))
				require.NoError(t, tree.Advance(10*time.Second))
				clk.SetTime(t0.Add(10 * time.Second))
				got := r.Read(nil)
				require.Len(t, got, len(tree.Containers))
				byID := map[string]cgroup.Reading{}
				for _, rd := range got {
					byID[rd.ContainerID] = rd
				}
				for _, c := range tree.Containers {
					rd, ok := byID[c.ID]
					require.True(t, ok, c.ID)
					require.Equal(t, c.PodUID, rd.PodUID)
					require.InDelta(t, c.Cores, rd.CPUCores, 1e-6)
					require.Equal(t, c.CurrentBytes, rd.MemoryCurrentBytes)
					require.Equal(t, c.LimitBytes, rd.MemoryLimitBytes)
				}
			})
		}
	}
}

// BenchmarkRound measures one Read of 300 containers, with a full scan
// of the directories in every round and with the default, which stats
// them and lists none when nothing changed. The tree's counters do not
// move between rounds: parsing costs the same.
func BenchmarkRound(b *testing.B) {
	tree := newBenchTree(b, cgroupfake.Config{Pods: benchPods, ContainersPerPod: benchPerPod, Seed: 1})
	for _, bc := range []struct {
		name   string
		rescan time.Duration
	}{{"scan=full", -1}, {"scan=changes", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			r, err := cgroup.New(cgroup.Options{Root: tree.Root, RescanInterval: bc.rescan})
			require.NoError(b, err)
			b.Cleanup(func() { require.NoError(b, r.Close()) })
			rs := r.Read(nil)
			require.Len(b, rs, len(tree.Containers))
			b.ReportAllocs()
			for b.Loop() {
				rs = r.Read(rs[:0])
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(tree.Containers)), "ns/container")
		})
	}
}

// BenchmarkScan measures a round's scan alone: listing every directory
// (a full scan), and checking them for changes (the rounds between).
func BenchmarkScan(b *testing.B) {
	tree := newBenchTree(b, cgroupfake.Config{Pods: benchPods, ContainersPerPod: benchPerPod, Seed: 1})
	for _, full := range []bool{true, false} {
		b.Run(fmt.Sprintf("full=%v", full), func(b *testing.B) {
			r, err := cgroup.New(cgroup.Options{Root: tree.Root})
			require.NoError(b, err)
			b.Cleanup(func() { require.NoError(b, r.Close()) })
			require.Len(b, r.Read(nil), len(tree.Containers))
			b.ReportAllocs()
			for b.Loop() {
				r.Scan(full)
			}
		})
	}
}

// BenchmarkReadFile compares ways to read a memory.stat: open, read and
// close into a reused buffer (what the reader does for files it reads
// once), pread of a file kept open (what it does each round), os.ReadFile,
// and os.Open with a reused buffer. Where this machine has a cgroup v2 hierarchy, it also
// reads a real cpu.stat, whose cost is the kernel's as much as ours.
func BenchmarkReadFile(b *testing.B) {
	tree := newBenchTree(b, cgroupfake.Config{Pods: 1, ContainersPerPod: 1, Seed: 1})
	paths := map[string]string{"fixture": filepath.Join(tree.Containers[1].Dir, "memory.stat")}
	for _, p := range []string{"/sys/fs/cgroup/cpu.stat", "/sys/fs/cgroup/unified/cpu.stat"} {
		if _, err := os.Stat(p); err == nil {
			paths["kernel-cpu.stat"] = p
			break
		}
	}
	for _, name := range []string{"fixture", "kernel-cpu.stat"} {
		path, ok := paths[name]
		if !ok {
			continue
		}
		b.Run(name+"/open-read-close", func(b *testing.B) {
			buf := make([]byte, 8<<10)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = cgroup.ReadInto(path, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/pread-kept-open", func(b *testing.B) {
			f, err := os.Open(path)
			require.NoError(b, err)
			b.Cleanup(func() { _ = f.Close() })
			buf := make([]byte, 8<<10)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/os.ReadFile", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := os.ReadFile(path); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/os.Open", func(b *testing.B) {
			buf := make([]byte, 8<<10)
			b.ReportAllocs()
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(f, buf); err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
					b.Fatal(err)
				}
				_ = f.Close()
			}
		})
	}
}
