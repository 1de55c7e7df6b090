// Package kube discovers what runs in a Kubernetes cluster and what it
// requests, and keeps the recommender's inventory current from it.
//
// Discovery watches pods and their owners through shared informers (one
// list, then a watch, per resource and namespace scope: never a List per
// loop), resolves each pod to the workload it rolls up to (Pod → ReplicaSet
// → Deployment; StatefulSet; DaemonSet; Job → CronJob; bare pods), and
// upserts one recommender.Workload per owner with the requests and limits
// of every container, init and sidecar containers included. Workloads that
// an HPA or a KEDA ScaledObject scales on CPU or memory are flagged, so
// the engine keeps that resource's request (VPA issue #6060's feedback
// loop). It also reports OOMKilled terminations it sees in pod status, and
// answers pod → workload lookups for sources that see pods
// (recommender.PodResolver) from its caches.
//
// Events only enqueue workload keys; workers rebuild a workload from the
// listers, so a burst of pod updates costs one upsert.
package kube
