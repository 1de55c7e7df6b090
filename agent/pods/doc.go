// Package pods names the containers that the node agent observes the way
// the server does: as a recommender.ContainerKey, the container of a
// workload (Deployment, StatefulSet, DaemonSet, CronJob, Job, bare Pod, or
// another controller).
//
// The agent finds pod UIDs and container IDs in cgroup paths, and pod
// namespaces and names in the kubelet's pod-resources API. A Resolver
// answers both from one pod informer scoped to the node (field selector
// spec.nodeName), so a DaemonSet of agents on 5,000 nodes costs the API
// server one small watch each, and the agent's cache holds at most the
// node's pods (110 by default), trimmed to what resolution reads.
//
// # Owner rollup without cluster-wide informers
//
// The server (package kube) follows controller references through
// cluster-wide ReplicaSet and Job caches. An agent on every node must not
// watch every ReplicaSet in the cluster, so it reaches the same answers
// differently:
//
//   - A pod owned by a ReplicaSet named "<deployment>-<hash>", where <hash>
//     is the pod's pod-template-hash label, belongs to Deployment
//     <deployment>: the Deployment controller names its ReplicaSets
//     d.Name + "-" + podTemplateSpecHash and puts that hash in their pod
//     template's labels (pkg/controller/deployment/sync.go,
//     getNewReplicaSet). No API call.
//   - A pod owned by a Job, or by a ReplicaSet without that shape (a bare
//     ReplicaSet, or one of another controller such as an Argo Rollout),
//     belongs to that owner's controller, if it has one (a CronJob, the
//     Rollout), else to the owner itself. The owner is read with one GET,
//     cached by its UID until the last of its pods on the node is gone, so
//     the pods of one Job cost one GET however many there are.
//   - StatefulSets, DaemonSets and other controllers own their pods
//     directly; a pod with no controller is its own workload, Kind "Pod".
//
// # Permissions
//
// The agent's ServiceAccount needs list and watch on pods, and get on
// jobs (batch) and replicasets (apps).
package pods
