package cgroup_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rightsizer/rightsizer/agent/cgroup"
)

// Two rounds over a node's cgroup tree (here a fixture, copied so that
// its counters can move): the first has no rates, the second has the CPU
// used in between.
func Example() {
	root, err := os.MkdirTemp("", "cgroup-example")
	if err != nil {
		panic(err)
	}
	defer func() { _ = os.RemoveAll(root) }()
	if err := os.CopyFS(root, os.DirFS("testdata/cgroupfs-containerd")); err != nil {
		panic(err)
	}
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	r, err := cgroup.New(cgroup.Options{Root: root, Clock: clk})
	if err != nil {
		panic(err)
	}
	defer func() { _ = r.Close() }()

	rs := r.Read(nil)
	fmt.Println(len(rs), "containers; first has CPU:", rs[0].Valid.Has(cgroup.FieldCPU))

	// Ten seconds on, the Guaranteed pod's container has used 15 s of CPU.
	const id = "9d71ea450de2324a1012f318ada3f9e402be3d31bb4072809903400a66f16352"
	stat := filepath.Join(root, "kubepods", "pod2d735c39-c395-b31e-2df9-b384bf53d9fb", id, "cpu.stat")
	b, err := os.ReadFile(stat)
	if err != nil {
		panic(err)
	}
	b = []byte(strings.Replace(string(b), "usage_usec 8361112930", "usage_usec 8376112930", 1))
	if err := os.WriteFile(stat, b, 0o644); err != nil {
		panic(err)
	}
	clk.SetTime(clk.Now().Add(10 * time.Second))

	for _, rd := range r.Read(rs[:0]) {
		if rd.ContainerID == id {
			fmt.Printf("pod %s: %.2f cores, working set %d MiB of %d MiB, %d OOM kills\n",
				rd.PodUID, rd.CPUCores, rd.WorkingSetBytes>>20, rd.MemoryLimitBytes>>20, rd.OOMKillsTotal)
		}
	}
	// Output:
	// 6 containers; first has CPU: false
	// pod 2d735c39-c395-b31e-2df9-b384bf53d9fb: 1.50 cores, working set 333 MiB of 512 MiB, 2 OOM kills
}

func ExampleParsePath() {
	uid, id, ok := cgroup.ParsePath("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod6f1f5c3e_8b1a_4c9d_9e2f_0a1b2c3d4e5f.slice/" +
		"cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope")
	fmt.Println(uid, id[:12], ok)
	// Output: 6f1f5c3e-8b1a-4c9d-9e2f-0a1b2c3d4e5f 0123456789ab true
}
