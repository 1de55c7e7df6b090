//go:build linux

package cgroup

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHostCgroup reads this machine's own cgroup v2 hierarchy. It reads
// the test's own cgroup while the test burns CPU; then, where it may
// create cgroups, it builds a pod's layout in a new cgroup, runs a child
// process that burns a known amount of CPU in it, and checks that the
// reader finds the container and sees that CPU. It removes every cgroup
// it creates. Not parallel: it measures CPU.
func TestHostCgroup(t *testing.T) {
	mount, own, err := hostCgroup2()
	if err != nil {
		t.Skipf("no cgroup v2 hierarchy to read: %v", err)
	}
	t.Logf("cgroup2 mounted at %s; this test runs in %s", mount, own)

	t.Run("own cgroup", func(t *testing.T) {
		r, err := New(Options{Root: own})
		require.NoError(t, err)
		c := newContainer(&dir{path: filepath.Dir(own), uid: "self"}, filepath.Base(own), "self")
		defer c.close()
		_, ok := r.sample(c)
		require.True(t, ok)
		const spent = 200 * time.Millisecond
		for start := processCPU(); processCPU()-start < spent; {
			burnSink++
		}
		rd, ok := r.sample(c)
		require.True(t, ok)
		require.True(t, rd.Valid.Has(FieldCPU), "valid %v; file errors %v", rd.Valid, r.Stats().FileErrors)
		used := time.Duration(rd.CPUCores * float64(rd.Interval))
		t.Logf("own cgroup used %v of CPU in %v while this test spent %v (fields %v)", used, rd.Interval, spent, rd.Valid)
		// The cgroup holds this process and maybe others: at least
		// what the test spent, less the rounding of the kernel's
		// accounting.
		require.GreaterOrEqual(t, used, spent*9/10)
	})

	t.Run("child cgroup", func(t *testing.T) {
		parent := own
		if own != mount {
			parent = filepath.Dir(own)
		}
		var uidBytes [16]byte
		_, _ = rand.Read(uidBytes[:])
		h := hex.EncodeToString(uidBytes[:])
		uid := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
		var idBytes [32]byte
		_, _ = rand.Read(idBytes[:])
		id := hex.EncodeToString(idBytes[:])

		base := filepath.Join(parent, fmt.Sprintf("rightsizer-test-%d-%s", os.Getpid(), h[:8]))
		if err := os.Mkdir(base, 0o755); err != nil {
			t.Skipf("cannot create a cgroup under %s (%v): only the own-cgroup check ran", parent, err)
		}
		created := []string{base}
		t.Cleanup(func() {
			for _, d := range slices.Backward(created) {
				if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Errorf("cgroup left behind: %v", err)
				}
			}
		})
		// Enable cpu and memory down the tree where the parent offers
		// them; without them the reader still has usage_usec and PSI.
		var enabled []string
		if b, err := os.ReadFile(filepath.Join(base, "cgroup.controllers")); err == nil {
			for _, c := range strings.Fields(string(b)) {
				if c == "cpu" || c == "memory" {
					enabled = append(enabled, c)
				}
			}
		}
		scope := base
		for _, d := range []string{"kubepods.slice", "kubepods-burstable.slice", "kubepods-burstable-pod" + strings.ReplaceAll(uid, "-", "_") + ".slice", "cri-containerd-" + id + ".scope"} {
			for _, c := range enabled {
				if err := os.WriteFile(filepath.Join(scope, "cgroup.subtree_control"), []byte("+"+c), 0o644); err != nil {
					t.Logf("cannot enable %s in %s: %v", c, scope, err)
					enabled = slices.DeleteFunc(enabled, func(s string) bool { return s == c })
				}
			}
			scope = filepath.Join(scope, d)
			require.NoError(t, os.Mkdir(scope, 0o755))
			created = append(created, scope)
		}
		t.Logf("created %s with controllers %v", scope, enabled)

		cmd := exec.Command(os.Args[0], "-test.run=^$")
		const spend = 300 * time.Millisecond
		cmd.Env = append(os.Environ(), burnEnv+"="+spend.String())
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		if err := os.WriteFile(filepath.Join(scope, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
			t.Skipf("cannot move a process into %s: %v", scope, err)
		}

		gotUID, gotID, ok := ContainerOfPID("/proc", cmd.Process.Pid)
		require.True(t, ok, "ContainerOfPID of the child")
		require.Equal(t, uid, gotUID)
		require.Equal(t, id, gotID)

		// No full scan during the test: the last rounds find the
		// removed cgroup through the files held open, and its
		// successor through the pod listed again because of it.
		r, err := New(Options{Root: base, RescanInterval: time.Hour})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, r.Close()) })
		got := r.Read(nil)
		require.Len(t, got, 1)
		require.Equal(t, uid, got[0].PodUID)
		require.Equal(t, id, got[0].ContainerID)
		require.False(t, got[0].Valid.Has(FieldCPU), "no rate on the first reading")
		if slices.Contains(enabled, "memory") {
			require.True(t, got[0].Valid.Has(FieldMemory|FieldMemoryStat|FieldWorkingSet|FieldMemoryLimit|FieldOOMKillsTotal), "valid %v", got[0].Valid)
			require.NotZero(t, got[0].MemoryCurrentBytes)
			t.Logf("child memory: current %d B, working set %d B, anon %d B", got[0].MemoryCurrentBytes, got[0].WorkingSetBytes, got[0].AnonBytes)
		} else {
			require.NotZero(t, r.Stats().FileErrors["memory.current"], "no memory controller: counted, not fatal")
		}

		_, err = stdin.Write([]byte{1})
		require.NoError(t, err)
		require.NoError(t, cmd.Wait())
		childCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()

		got = r.Read(got[:0])
		require.Len(t, got, 1)
		rd := got[0]
		require.True(t, rd.Valid.Has(FieldCPU), "valid %v", rd.Valid)
		used := time.Duration(rd.CPUCores * float64(rd.Interval))
		t.Logf("child burned %v (whole life %v); the reader saw %v over %v = %.3f cores; fields %v",
			spend, childCPU, used, rd.Interval, rd.CPUCores, rd.Valid)
		// The cgroup saw the burn, and no more than the child's whole
		// life (which includes its start, before it was moved in).
		require.GreaterOrEqual(t, used, spend*9/10)
		require.LessOrEqual(t, used, childCPU+20*time.Millisecond)
		if _, err := os.Stat(filepath.Join(scope, "cpu.pressure")); err == nil {
			require.True(t, rd.Valid.Has(FieldCPUPressure|FieldCPUStall), "valid %v", rd.Valid)
		}
		if slices.Contains(enabled, "cpu") {
			require.True(t, rd.Valid.Has(FieldThrottling), "valid %v", rd.Valid)
			require.Zero(t, rd.ThrottledFraction, "no CPU limit set")
		}

		// The container restarts: its cgroup is removed and its
		// successor's created in the same pod, which leaves the pod's
		// link count as it was. The old one's open files now fail
		// with ENODEV: it is forgotten, and its pod listed again the
		// round after, which finds the new one.
		require.NoError(t, os.Remove(scope))
		next := filepath.Join(filepath.Dir(scope), "cri-containerd-"+strings.Repeat("ab", 32)+".scope")
		require.NoError(t, os.Mkdir(next, 0o755))
		created = append(created, next)
		got = r.Read(got[:0])
		require.Empty(t, got)
		s := r.Stats()
		require.Equal(t, uint64(1), s.Vanished)
		require.Zero(t, s.Containers)
		got = r.Read(got[:0])
		require.Len(t, got, 1)
		require.Equal(t, strings.Repeat("ab", 32), got[0].ContainerID)
		require.Equal(t, uid, got[0].PodUID)
		require.Equal(t, uint64(1), r.Stats().Scans, "found without a full scan")
	})
}

// hostCgroup2 finds where the cgroup v2 hierarchy is mounted and the
// directory of this process's cgroup in it.
func hostCgroup2() (mount, own string, err error) {
	var path string
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", "", err
	}
	for line := range strings.Lines(string(b)) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			path = p
		}
	}
	if path == "" {
		return "", "", errors.New("no cgroup v2 line in /proc/self/cgroup")
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// id parent major:minor root mount-point options … - fstype source options
		pre, post, ok := strings.Cut(s.Text(), " - ")
		fields := strings.Fields(pre)
		if !ok || len(fields) < 5 || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		root, mnt := fields[3], fields[4]
		rel, ok := strings.CutPrefix(path, root)
		if !ok || strings.HasPrefix(rel, "/..") {
			return "", "", fmt.Errorf("cgroup %s is outside the mount of %s at %s", path, root, mnt)
		}
		own = filepath.Join(mnt, rel)
		if _, err := os.Stat(own); err != nil {
			return "", "", err
		}
		return mnt, own, nil
	}
	if err := s.Err(); err != nil {
		return "", "", err
	}
	return "", "", errors.New("no cgroup2 mount")
}
