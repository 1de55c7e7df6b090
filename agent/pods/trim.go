package pods

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rightsizer/rightsizer/kube/podspec"
	"github.com/rightsizer/rightsizer/recommender"
)

// Kinds of workload keys and the GPU resource, as package kube spells
// them (a test checks that they agree). They are copied, not imported:
// package kube links KEDA and controller-runtime, which would double the
// agent's binary and its memory at start.
const (
	kindDeployment = "Deployment"
	kindReplicaSet = "ReplicaSet"
	kindJob        = "Job"
	kindPod        = "Pod"
)

// podTemplateHashLabel is the label the Deployment controller puts on its
// ReplicaSets' pod templates (apps/v1 DefaultDeploymentUniqueLabelKey).
const podTemplateHashLabel = "pod-template-hash"

// trim replaces a pod, before it enters the informer's cache, by a copy
// holding only what resolution reads: identity, the controller reference,
// the pod-template-hash label, each container's name, resources and
// restart policy, and each container status's IDs. A full pod is 5–20 KiB
// of JSON; what is left is a few hundred bytes. trim is idempotent, as
// client-go asks of a transform.
func trim(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // a DeletedFinalStateUnknown tombstone
	}
	out := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            p.Name,
			Namespace:       p.Namespace,
			UID:             p.UID,
			ResourceVersion: p.ResourceVersion,
		},
		Spec: corev1.PodSpec{
			NodeName:       p.Spec.NodeName,
			InitContainers: trimContainers(p.Spec.InitContainers),
			Containers:     trimContainers(p.Spec.Containers),
		},
		Status: corev1.PodStatus{
			Phase:                      p.Status.Phase,
			InitContainerStatuses:      trimStatuses(p.Status.InitContainerStatuses),
			ContainerStatuses:          trimStatuses(p.Status.ContainerStatuses),
			EphemeralContainerStatuses: trimStatuses(p.Status.EphemeralContainerStatuses),
		},
	}
	if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
		out.OwnerReferences = []metav1.OwnerReference{*ref}
	}
	if h, ok := p.Labels[podTemplateHashLabel]; ok {
		out.Labels = map[string]string{podTemplateHashLabel: h}
	}
	if len(p.Spec.EphemeralContainers) > 0 {
		out.Spec.EphemeralContainers = make([]corev1.EphemeralContainer, len(p.Spec.EphemeralContainers))
		for i := range p.Spec.EphemeralContainers {
			out.Spec.EphemeralContainers[i].Name = p.Spec.EphemeralContainers[i].Name
		}
	}
	return out, nil
}

func trimContainers(cs []corev1.Container) []corev1.Container {
	if len(cs) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i := range cs {
		out[i] = corev1.Container{
			Name:          cs[i].Name,
			Resources:     corev1.ResourceRequirements{Requests: cs[i].Resources.Requests, Limits: cs[i].Resources.Limits},
			RestartPolicy: cs[i].RestartPolicy,
		}
	}
	return out
}

// trimStatuses keeps each status's name and container IDs: the running
// one and that of the last terminated instance, whose cgroup the agent
// may still read in the round after a crash or an OOM kill.
func trimStatuses(ss []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(ss) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(ss))
	for i := range ss {
		out[i] = corev1.ContainerStatus{Name: ss[i].Name, ContainerID: ss[i].ContainerID}
		if t := ss[i].LastTerminationState.Terminated; t != nil && t.ContainerID != "" {
			out[i].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ContainerID: t.ContainerID}
		}
	}
	return out
}

// specs lists a pod's containers as the server's inventory does (package
// kube): init containers first, restartable ones as sidecars, then the
// app containers. Ephemeral containers have no resources and are not in
// any workload's template; they are listed last, as RoleApp, and marked.
func specs(spec *corev1.PodSpec) []containerEntry {
	cs := podspec.Containers(spec)
	out := make([]containerEntry, 0, len(cs)+len(spec.EphemeralContainers))
	for _, c := range cs {
		out = append(out, containerEntry{spec: c})
	}
	for i := range spec.EphemeralContainers {
		out = append(out, containerEntry{spec: recommender.ContainerSpec{Name: spec.EphemeralContainers[i].Name}, ephemeral: true})
	}
	return out
}
