// Package pbconv converts the engine's types to the API's messages. The
// server's answers and the clients that send usage (the node agent's
// stream) spell them the same way because they share these functions; the
// way back, with its validation of outside input, is the server's (api).
package pbconv

import (
	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
	"github.com/rightsizer/rightsizer/recommender"
)

// WorkloadRef is k as the API names a workload.
func WorkloadRef(k recommender.WorkloadKey) *rightsizerv1.WorkloadRef {
	return &rightsizerv1.WorkloadRef{Cluster: k.Cluster, Namespace: k.Namespace, Kind: k.Kind, Name: k.Name}
}

// ContainerRef is k as the API names a container.
func ContainerRef(k recommender.ContainerKey) *rightsizerv1.ContainerRef {
	return &rightsizerv1.ContainerRef{Workload: WorkloadRef(k.WorkloadKey), Container: k.Container}
}

// Role is r as the API's enum.
func Role(r recommender.ContainerRole) rightsizerv1.ContainerRole {
	switch r {
	case recommender.RoleInit:
		return rightsizerv1.ContainerRole_CONTAINER_ROLE_INIT
	case recommender.RoleSidecar:
		return rightsizerv1.ContainerRole_CONTAINER_ROLE_SIDECAR
	}
	return rightsizerv1.ContainerRole_CONTAINER_ROLE_APP
}

// Amounts is a in the API's units.
func Amounts(a recommender.Amounts) *rightsizerv1.ResourceAmounts {
	return &rightsizerv1.ResourceAmounts{CpuMillicores: int64(a.CPU), MemoryBytes: int64(a.Memory),
		GpuComputeGpus: float64(a.GPUCompute), GpuMemoryBytes: int64(a.GPUMemory)}
}

// resources maps recommender.Resource, by value, to the API's enum.
var resources = [...]rightsizerv1.Resource{
	recommender.ResourceCPU:        rightsizerv1.Resource_RESOURCE_CPU,
	recommender.ResourceMemory:     rightsizerv1.Resource_RESOURCE_MEMORY,
	recommender.ResourceGPUCompute: rightsizerv1.Resource_RESOURCE_GPU_COMPUTE,
	recommender.ResourceGPUMemory:  rightsizerv1.Resource_RESOURCE_GPU_MEMORY,
}

// Workload is w's inventory record as IngestUsage takes it.
func Workload(w *recommender.Workload) *rightsizerv1.Workload {
	out := &rightsizerv1.Workload{Workload: WorkloadRef(w.Key), Labels: w.Labels, Replicas: w.Replicas, Managed: w.Managed}
	for _, c := range w.Containers {
		out.Containers = append(out.Containers, &rightsizerv1.ContainerSpec{
			Name: c.Name, Role: Role(c.Role), Requests: Amounts(c.Requests), Limits: Amounts(c.Limits),
		})
	}
	for r, v := range resources {
		if w.AutoscaledOn.Has(recommender.Resource(r)) {
			out.AutoscaledOn = append(out.AutoscaledOn, v)
		}
	}
	return out
}
