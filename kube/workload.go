package kube

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rightsizer/rightsizer/recommender"
)

// Kinds of workload keys, as Kubernetes spells them.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindDaemonSet   = "DaemonSet"
	KindReplicaSet  = "ReplicaSet"
	KindJob         = "Job"
	KindCronJob     = "CronJob"
	KindPod         = "Pod"
)

// ResourceGPU is the extended resource of NVIDIA's device plugin: whole GPUs.
const ResourceGPU corev1.ResourceName = "nvidia.com/gpu"

// containers lists a pod spec's containers with their requests and limits:
// init containers first (as the kubelet runs them), restartable ones as
// sidecars, then the app containers.
func containers(spec *corev1.PodSpec) []recommender.ContainerSpec {
	out := make([]recommender.ContainerSpec, 0, len(spec.InitContainers)+len(spec.Containers))
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		role := recommender.RoleInit
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			role = recommender.RoleSidecar
		}
		out = append(out, containerSpec(c, role))
	}
	for i := range spec.Containers {
		out = append(out, containerSpec(&spec.Containers[i], recommender.RoleApp))
	}
	return out
}

func containerSpec(c *corev1.Container, role recommender.ContainerRole) recommender.ContainerSpec {
	return recommender.ContainerSpec{
		Name:     c.Name,
		Role:     role,
		Requests: amounts(c.Resources.Requests),
		Limits:   amounts(c.Resources.Limits),
	}
}

// amounts converts a resource list. Whole GPUs count as GPU compute; GPU
// memory has no Kubernetes resource of its own (MIG profiles name it).
func amounts(l corev1.ResourceList) recommender.Amounts {
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

// memoryLimit returns the memory limit of the named container of a pod.
func memoryLimit(spec *corev1.PodSpec, name string) recommender.Bytes {
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

// controllerOf returns the owner reference marked as controller, if any.
func controllerOf(m *metav1.ObjectMeta) *metav1.OwnerReference {
	for i := range m.OwnerReferences {
		if r := &m.OwnerReferences[i]; r.Controller != nil && *r.Controller {
			return r
		}
	}
	return nil
}

func replicasOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
