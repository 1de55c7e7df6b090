// Package agent is the node agent's round: every interval it reads the
// node's container cgroups (agent/cgroup) and GPUs (gpu), names each
// container as the server does (agent/pods), and hands one batch of usage
// samples and OOM kills to the stream to the server (agent/stream).
//
// Attribution. A cgroup reading carries a pod UID and a container ID; the
// pod resolver turns them into a recommender.ContainerKey, or the reading
// is skipped (the pod sandbox, a pod not yet in the resolver's cache) and
// counted. GPU usage arrives per container from the collector's
// process-to-cgroup mapping, which makes time-sliced GPUs attributable.
// Where NVML shows no processes (an agent without hostPID, a driver that
// withholds them), the kubelet's pod-resources API says which container
// holds each device: a device held by exactly one container gives it the
// device's memory used and busy time. Devices nobody holds are reported
// as idle.
package agent
