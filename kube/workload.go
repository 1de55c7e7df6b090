package kube

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
