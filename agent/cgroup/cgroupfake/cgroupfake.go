// Package cgroupfake writes synthetic cgroup v2 trees of Kubernetes
// containers, laid out as the kubelet lays them out and in the kernel's
// file formats, whose counters advance as a running node's would. The
// cgroup reader's benchmarks and make bench-agent read them: a real
// hierarchy cannot be filled with hundreds of pods at will.
//
// A Tree is not safe for concurrent use.
package cgroupfake

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Driver is the kubelet's cgroup driver, which decides the names.
type Driver uint8

const (
	// DriverSystemd: kubepods.slice/kubepods-burstable.slice/
	// kubepods-burstable-pod<uid>.slice/<runtime>-<id>.scope.
	DriverSystemd Driver = iota
	// DriverCgroupfs: kubepods/burstable/pod<uid>/<id>.
	DriverCgroupfs
)

// Runtime is the container runtime, which names container cgroups.
type Runtime uint8

const (
	// RuntimeContainerd: cri-containerd-<id>.scope, or the bare ID.
	RuntimeContainerd Runtime = iota
	// RuntimeCRIO: crio-<id>.scope or crio-<id>, each beside CRI-O's
	// crio-conmon-<id> monitor cgroup.
	RuntimeCRIO
)

// Config shapes a Tree.
type Config struct {
	// Pods is the number of pods, spread over the Guaranteed, Burstable
	// and BestEffort classes in turn.
	Pods int
	// ContainersPerPod is each pod's containers, not counting its
	// sandbox, which has a cgroup too.
	ContainersPerPod int
	Driver           Driver
	Runtime          Runtime
	// Seed makes IDs and usage reproducible.
	Seed uint64
}

// Container is one container cgroup: what it runs at, and the counters
// its files hold now.
type Container struct {
	PodUID, ID, Dir string
	QOS             string // "guaranteed", "burstable" or "besteffort"
	Sandbox         bool

	// Cores is the CPU the container uses, which Advance adds to its
	// usage. ThrottledShare is the fraction of CFS periods in which it is
	// throttled, where it has a CPU limit.
	Cores, ThrottledShare float64
	CPULimited            bool

	UsageUsec, Periods, Throttled, ThrottledUsec             uint64
	CurrentBytes, AnonBytes, FileBytes, InactiveFileBytes    uint64
	ActiveFileBytes, LimitBytes, OOMKills                    uint64
	CPUSomeUsec, CPUFullUsec, MemorySomeUsec, MemoryFullUsec uint64
}

// Tree is a synthetic hierarchy under Root.
type Tree struct {
	Root       string
	Containers []*Container
	rng        *rand.Rand
	buf        []byte
}

// interfaceFiles are the other files of a cgroup directory on a 6.x
// kernel with every controller on, created empty so that listing a
// directory costs what it costs on a node.
var interfaceFiles = strings.Fields(`cgroup.controllers cgroup.events cgroup.freeze cgroup.kill
cgroup.max.depth cgroup.max.descendants cgroup.pressure cgroup.procs cgroup.stat cgroup.subtree_control
cgroup.threads cgroup.type cpu.idle cpu.max cpu.max.burst cpu.stat.local cpu.uclamp.max cpu.uclamp.min
cpu.weight cpu.weight.nice cpuset.cpus cpuset.cpus.effective cpuset.cpus.exclusive
cpuset.cpus.exclusive.effective cpuset.cpus.partition cpuset.mems cpuset.mems.effective
hugetlb.1GB.current hugetlb.1GB.events hugetlb.1GB.events.local hugetlb.1GB.max hugetlb.1GB.numa_stat
hugetlb.1GB.rsvd.current hugetlb.1GB.rsvd.max hugetlb.2MB.current hugetlb.2MB.events
hugetlb.2MB.events.local hugetlb.2MB.max hugetlb.2MB.numa_stat hugetlb.2MB.rsvd.current
hugetlb.2MB.rsvd.max io.max io.pressure io.prio.class io.stat io.weight irq.pressure
memory.events.local memory.high memory.low memory.min memory.numa_stat memory.oom.group memory.peak
memory.reclaim memory.swap.current memory.swap.events memory.swap.high memory.swap.max memory.swap.peak
memory.zswap.current memory.zswap.max memory.zswap.writeback misc.current misc.events misc.max
pids.current pids.events pids.max pids.peak rdma.current rdma.max`)

// New writes a tree under root, which must not exist or be empty, and
// returns it. Every counter starts from a plausible running value.
func New(root string, cfg Config) (*Tree, error) {
	if cfg.Pods < 0 || cfg.ContainersPerPod < 0 {
		return nil, errors.New("cgroupfake: negative size")
	}
	t := &Tree{Root: root, rng: rand.New(rand.NewPCG(cfg.Seed, 0x5eed))}
	kube := filepath.Join(root, "kubepods")
	if cfg.Driver == DriverSystemd {
		kube = filepath.Join(root, "kubepods.slice")
	}
	if err := t.mkdir(kube); err != nil {
		return nil, err
	}
	for _, q := range []string{"burstable", "besteffort"} {
		if err := t.mkdir(t.qosDir(cfg, kube, q)); err != nil {
			return nil, err
		}
	}
	// The node's own services, which the reader must not descend into.
	if err := t.mkdir(filepath.Join(root, "system.slice", "containerd.service")); err != nil {
		return nil, err
	}
	for i := range cfg.Pods {
		qos := [...]string{"guaranteed", "burstable", "besteffort"}[i%3]
		uid := t.uuid()
		var podDir string
		switch {
		case cfg.Driver == DriverSystemd && qos == "guaranteed":
			podDir = filepath.Join(kube, "kubepods-pod"+strings.ReplaceAll(uid, "-", "_")+".slice")
		case cfg.Driver == DriverSystemd:
			podDir = filepath.Join(t.qosDir(cfg, kube, qos), "kubepods-"+qos+"-pod"+strings.ReplaceAll(uid, "-", "_")+".slice")
		case qos == "guaranteed":
			podDir = filepath.Join(kube, "pod"+uid)
		default:
			podDir = filepath.Join(t.qosDir(cfg, kube, qos), "pod"+uid)
		}
		if err := t.mkdir(podDir); err != nil {
			return nil, err
		}
		for j := range cfg.ContainersPerPod + 1 {
			c := t.newContainer(uid, qos, j == 0)
			name := c.ID
			switch {
			case cfg.Runtime == RuntimeContainerd && cfg.Driver == DriverSystemd:
				name = "cri-containerd-" + c.ID + ".scope"
			case cfg.Runtime == RuntimeCRIO && cfg.Driver == DriverSystemd:
				name = "crio-" + c.ID + ".scope"
			case cfg.Runtime == RuntimeCRIO:
				name = "crio-" + c.ID
			}
			c.Dir = filepath.Join(podDir, name)
			if err := t.mkdir(c.Dir); err != nil {
				return nil, err
			}
			if cfg.Runtime == RuntimeCRIO {
				conmon := strings.Replace(name, "crio-", "crio-conmon-", 1)
				if err := t.mkdir(filepath.Join(podDir, conmon)); err != nil {
					return nil, err
				}
			}
			if err := t.write(c); err != nil {
				return nil, err
			}
			t.Containers = append(t.Containers, c)
		}
	}
	return t, nil
}

func (t *Tree) qosDir(cfg Config, kube, qos string) string {
	if cfg.Driver == DriverSystemd {
		return filepath.Join(kube, "kubepods-"+qos+".slice")
	}
	return filepath.Join(kube, qos)
}

func (t *Tree) newContainer(uid, qos string, sandbox bool) *Container {
	var id [32]byte
	for i := range id {
		id[i] = byte(t.rng.Uint32())
	}
	c := &Container{PodUID: uid, ID: hex.EncodeToString(id[:]), QOS: qos, Sandbox: sandbox}
	const mib = 1 << 20
	if sandbox {
		c.Cores = 0.0001
		c.AnonBytes = 300 << 10
	} else {
		c.Cores = 0.02 + 1.5*t.rng.Float64()
		c.AnonBytes = uint64(20+t.rng.IntN(2000)) * mib
		c.FileBytes = uint64(t.rng.IntN(500)) * mib
		c.CPULimited = qos != "besteffort"
		if c.CPULimited {
			c.ThrottledShare = 0.2 * t.rng.Float64()
		}
		if qos != "besteffort" {
			c.LimitBytes = (c.AnonBytes + c.FileBytes) * 2
		}
	}
	c.InactiveFileBytes = c.FileBytes * 2 / 3
	c.ActiveFileBytes = c.FileBytes - c.InactiveFileBytes
	c.CurrentBytes = c.AnonBytes + c.FileBytes + 2*mib
	// An hour of running so far.
	c.advance(t.rng, time.Hour)
	return c
}

// Advance moves every container's counters on by d, as d of running
// would, and rewrites its files. Memory wanders by up to 1% a call.
func (t *Tree) Advance(d time.Duration) error {
	for _, c := range t.Containers {
		c.advance(t.rng, d)
		if err := t.write(c); err != nil {
			return err
		}
	}
	return nil
}

func (c *Container) advance(rng *rand.Rand, d time.Duration) {
	usec := uint64(d / time.Microsecond)
	c.UsageUsec += uint64(c.Cores * float64(usec))
	if c.CPULimited {
		periods := usec / 100_000 // the default 100 ms CFS period
		throttled := uint64(c.ThrottledShare * float64(periods))
		c.Periods += periods
		c.Throttled += throttled
		c.ThrottledUsec += throttled * 20_000
		c.CPUSomeUsec += throttled * 20_000
		c.CPUFullUsec += throttled * 15_000
	}
	if !c.Sandbox {
		wander := func(v uint64) uint64 { return uint64(float64(v) * (0.99 + 0.02*rng.Float64())) }
		c.AnonBytes = wander(c.AnonBytes)
		c.FileBytes = wander(c.FileBytes)
		c.InactiveFileBytes = c.FileBytes * 2 / 3
		c.ActiveFileBytes = c.FileBytes - c.InactiveFileBytes
		c.CurrentBytes = c.AnonBytes + c.FileBytes + 2<<20
		c.MemorySomeUsec += usec / 1000
		c.MemoryFullUsec += usec / 2000
	}
}

func (t *Tree) mkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range append(interfaceFiles, "cpu.stat", "cpu.pressure", "memory.current", "memory.stat",
		"memory.max", "memory.events", "memory.pressure") {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// write rewrites c's files from its counters.
func (t *Tree) write(c *Container) error {
	u := strconv.AppendUint
	files := []struct {
		name string
		fill func(b []byte) []byte
	}{
		{"cpu.stat", func(b []byte) []byte {
			b = append(u(append(b, "usage_usec "...), c.UsageUsec, 10), '\n')
			b = append(u(append(b, "user_usec "...), c.UsageUsec*4/5, 10), '\n')
			b = append(u(append(b, "system_usec "...), c.UsageUsec-c.UsageUsec*4/5, 10), '\n')
			b = append(u(append(b, "nr_periods "...), c.Periods, 10), '\n')
			b = append(u(append(b, "nr_throttled "...), c.Throttled, 10), '\n')
			b = append(u(append(b, "throttled_usec "...), c.ThrottledUsec, 10), '\n')
			return append(b, "nr_bursts 0\nburst_usec 0\n"...)
		}},
		{"memory.current", func(b []byte) []byte { return append(u(b, c.CurrentBytes, 10), '\n') }},
		{"memory.stat", func(b []byte) []byte { return c.memoryStat(b) }},
		{"memory.max", func(b []byte) []byte {
			if c.LimitBytes == 0 {
				return append(b, "max\n"...)
			}
			return append(u(b, c.LimitBytes, 10), '\n')
		}},
		{"memory.events", func(b []byte) []byte {
			b = append(b, "low 0\nhigh 0\nmax 0\noom "...)
			b = append(u(b, c.OOMKills, 10), "\noom_kill "...)
			return append(u(b, c.OOMKills, 10), "\noom_group_kill 0\n"...)
		}},
		{"cpu.pressure", func(b []byte) []byte { return pressure(b, c.CPUSomeUsec, c.CPUFullUsec) }},
		{"memory.pressure", func(b []byte) []byte { return pressure(b, c.MemorySomeUsec, c.MemoryFullUsec) }},
	}
	for _, f := range files {
		t.buf = f.fill(t.buf[:0])
		if err := os.WriteFile(filepath.Join(c.Dir, f.name), t.buf, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	return nil
}

func pressure(b []byte, some, full uint64) []byte {
	b = append(b, "some avg10=0.00 avg60=0.00 avg300=0.00 total="...)
	b = strconv.AppendUint(b, some, 10)
	b = append(b, "\nfull avg10=0.00 avg60=0.00 avg300=0.00 total="...)
	return append(strconv.AppendUint(b, full, 10), '\n')
}

// memoryStat writes memory.stat with all the keys of a 6.x kernel, in its
// order, so that parsing costs what it does on a node.
func (c *Container) memoryStat(b []byte) []byte {
	for _, kv := range []struct {
		k string
		v uint64
	}{
		{"anon", c.AnonBytes}, {"file", c.FileBytes}, {"kernel", 1 << 20}, {"kernel_stack", 65536},
		{"pagetables", 122880}, {"sec_pagetables", 0}, {"percpu", 8192}, {"sock", 0}, {"vmalloc", 0},
		{"shmem", 0}, {"zswap", 0}, {"zswapped", 0}, {"file_mapped", c.FileBytes / 4}, {"file_dirty", 0},
		{"file_writeback", 0}, {"swapcached", 0}, {"anon_thp", 0}, {"file_thp", 0}, {"shmem_thp", 0},
		{"inactive_anon", c.AnonBytes}, {"active_anon", 0}, {"inactive_file", c.InactiveFileBytes},
		{"active_file", c.ActiveFileBytes}, {"unevictable", 0}, {"slab_reclaimable", 245760},
		{"slab_unreclaimable", 286720}, {"slab", 532480}, {"workingset_refault_anon", 0},
		{"workingset_refault_file", 12}, {"workingset_activate_anon", 0}, {"workingset_activate_file", 3},
		{"workingset_restore_anon", 0}, {"workingset_restore_file", 0}, {"workingset_nodereclaim", 0},
		{"pgscan", 120}, {"pgsteal", 118}, {"pgscan_kswapd", 0}, {"pgscan_direct", 120},
		{"pgscan_khugepaged", 0}, {"pgsteal_kswapd", 0}, {"pgsteal_direct", 118}, {"pgsteal_khugepaged", 0},
		{"pgfault", c.UsageUsec / 1000}, {"pgmajfault", 211}, {"pgrefill", 40}, {"pgactivate", 5120},
		{"pgdeactivate", 38}, {"pglazyfree", 0}, {"pglazyfreed", 0}, {"zswpin", 0}, {"zswpout", 0},
		{"zswpwb", 0}, {"thp_fault_alloc", 0}, {"thp_collapse_alloc", 0}, {"thp_swpout", 0},
		{"thp_swpout_fallback", 0},
	} {
		b = append(append(b, kv.k...), ' ')
		b = append(strconv.AppendUint(b, kv.v, 10), '\n')
	}
	return b
}

// uuid returns a random lower-case UUID, as the API server gives pods.
func (t *Tree) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(t.rng.Uint32())
	}
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
