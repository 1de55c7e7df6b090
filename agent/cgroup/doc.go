// Package cgroup reads the resource usage of every Kubernetes container
// on a node from the cgroup v2 hierarchy: CPU used and throttled, memory
// (working set, anonymous, page cache, limit), OOM kills and pressure
// stall information, once a round, as Readings that the agent streams to
// the server.
//
// # Finding containers
//
// The kubelet gives each pod a cgroup and the runtime gives each of its
// containers one below it; their names carry the pod's UID and the
// container's ID (ParsePath):
//
//	systemd driver:  kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope
//	                 kubepods.slice/kubepods-pod<uid>.slice/crio-<id>.scope            (Guaranteed)
//	cgroupfs driver: kubepods/besteffort/pod<uid>/<id>                                  (containerd)
//	                 kubepods/pod<uid>/crio-<id>                                        (CRI-O, Guaranteed)
//
// CRI-O's crio-conmon-<id> monitor cgroups are skipped. Each pod's sandbox
// ("pause") container has a cgroup of its own and is reported like the
// others: only the pod's status, which lists its containers' IDs and not
// the sandbox's, tells them apart. ContainerOfPID maps a process to its
// container the same way, for the GPU collector.
//
// A Reader lists the tree in full once a minute (Options.RescanInterval).
// In the rounds between, it stats each directory it knows and lists only
// those whose link count changed, which on cgroupfs is every pod or
// container created or removed, and the pod of any container whose files
// have gone: new containers are found within a round for a stat per pod.
//
// # Reading
//
// Per container and round the reader reads cpu.stat, memory.current,
// memory.stat, memory.max, memory.events, cpu.pressure and
// memory.pressure. It keeps the seven files open and rereads them with
// pread at offset 0, which makes the kernel regenerate them: a syscall per
// file instead of three and a five-level path lookup. The price is seven
// descriptors per container and the kernel's seq_file buffer behind each,
// some 4 KiB charged to the agent's memory cgroup (make bench-agent
// measures it). Files are parsed by hand from one reused buffer: a round
// on an unchanged tree allocates only the C string of each directory
// path it stats, some 100 small allocations for 100 pods.
//
// Counters are differenced against the container's previous round, over
// the time between the two readings by the injected clock (never file
// times): a container's first Reading has no rates, a counter that went
// backwards gives none for that round, and a file that cannot be read or
// parsed leaves its fields out of that Reading (Reading.Valid) and is
// counted in Stats and the rightsizer_agent_cgroup_file_errors_total
// metric. A container whose cgroup disappears, which is routine, is
// forgotten with its state and files.
//
// The working set is memory.current less memory.stat's inactive_file,
// floored at zero, as cAdvisor and the kubelet compute it; OOM kills come
// from memory.events' oom_kill, which counts the container's processes
// killed by any OOM killer.
//
// # Cost
//
// make bench-agent reads a synthetic node of 200 containers (300 cgroups
// with the sandboxes) whose counters advance every round, and reports
// CPU time per round and RSS against the 5 ms and 30 MiB, with a
// straightforward os.ReadFile-and-strings.Fields reader as its baseline.
package cgroup
