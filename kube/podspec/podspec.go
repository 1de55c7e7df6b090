// Package podspec reads a pod spec the one way rightsizer's inventory
// does, for the server's discovery (package kube) and the node agent
// (agent/pods) alike: every container with its role, requests and limits.
package podspec

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/rightsizer/rightsizer/recommender"
)

// ResourceGPU is the extended resource of NVIDIA's device plugin: whole GPUs.
const ResourceGPU corev1.ResourceName = "nvidia.com/gpu"

// Containers lists a pod spec's containers with their requests and limits:
// init containers first (as the kubelet runs them), restartable ones as
// sidecars, then the app containers.
func Containers(spec *corev1.PodSpec) []recommender.ContainerSpec {
	out := make([]recommender.ContainerSpec, 0, len(spec.InitContainers)+len(spec.Containers))
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		role := recommender.RoleInit
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			role = recommender.RoleSidecar
		}
		out = append(out, Container(c, role))
	}
	for i := range spec.Containers {
		out = append(out, Container(&spec.Containers[i], recommender.RoleApp))
	}
	return out
}

// Container is one container's spec in the given role.
func Container(c *corev1.Container, role recommender.ContainerRole) recommender.ContainerSpec {
	return recommender.ContainerSpec{
		Name:     c.Name,
		Role:     role,
		Requests: Amounts(c.Resources.Requests),
		Limits:   Amounts(c.Resources.Limits),
	}
}

// Amounts converts a resource list. Whole GPUs count as GPU compute; GPU
// memory has no Kubernetes resource of its own (MIG profiles name it).
func Amounts(l corev1.ResourceList) recommender.Amounts {
	var a recommender.Amounts
	if q, ok := l[corev1.ResourceCPU]; ok {
		a.CPU = recommender.MilliCPU(q.MilliValue())
	}
	if q, ok := l[corev1.ResourceMemory]; ok {
		a.Memory = recommender.Bytes(q.Value())
	}
	if q, ok := l[ResourceGPU]; ok {
		a.GPUCompute = recommender.GPUCompute(q.AsApproximateFloat64())
	}
	return a
}

// MemoryLimit returns the memory limit of the named container of a pod.
func MemoryLimit(spec *corev1.PodSpec, name string) recommender.Bytes {
	for _, cs := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
		for i := range cs {
			if cs[i].Name == name {
				if q, ok := cs[i].Resources.Limits[corev1.ResourceMemory]; ok {
					return recommender.Bytes(q.Value())
				}
				return 0
			}
		}
	}
	return 0
}
