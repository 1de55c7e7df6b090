package pods

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/rightsizer/rightsizer/recommender"
)

func (r *Resolver) key(namespace, kind, name string) recommender.WorkloadKey {
	return recommender.WorkloadKey{Cluster: r.opts.Cluster, Namespace: namespace, Kind: kind, Name: name}
}

// entry builds what the resolver keeps of p, rolling p up to its workload
// where that needs no API call.
func (r *Resolver) entry(p *corev1.Pod) *podEntry {
	e := &podEntry{uid: p.UID, namespace: p.Namespace, name: p.Name, containers: specs(&p.Spec)}
	ref := metav1.GetControllerOfNoCopy(p)
	switch {
	case ref == nil:
		e.workload = r.key(p.Namespace, kindPod, p.Name)
	case ref.Kind == kindReplicaSet:
		if d, ok := deploymentOf(ref.Name, p.Labels[podTemplateHashLabel]); ok {
			e.workload = r.key(p.Namespace, kindDeployment, d)
		} else {
			e.lookup = ref.UID
		}
	case ref.Kind == kindJob:
		e.lookup = ref.UID
	default:
		e.workload = r.key(p.Namespace, ref.Kind, ref.Name)
	}
	return e
}

// deploymentOf returns the Deployment that owns a ReplicaSet named rs
// whose pods carry the pod-template-hash label hash: the Deployment
// controller names the ReplicaSet "<deployment>-<hash>".
func deploymentOf(rs, hash string) (string, bool) {
	if hash == "" || len(rs) <= len(hash)+1 || !strings.HasSuffix(rs, hash) || rs[len(rs)-len(hash)-1] != '-' {
		return "", false
	}
	return rs[:len(rs)-len(hash)-1], true
}

// holdLocked counts one more pod of the owner uid (p's controller),
// queueing a GET of an owner not seen before.
func (r *Resolver) holdLocked(uid types.UID, p *corev1.Pod) {
	o := r.owners[uid]
	if o == nil {
		ref := metav1.GetControllerOfNoCopy(p)
		o = &ownerEntry{kind: ref.Kind, namespace: p.Namespace, name: ref.Name}
		r.owners[uid] = o
		r.queue.Add(uid)
	}
	o.pods++
}

// lookupNext reads one queued owner and records its workload. It returns
// false once the queue is shut down.
func (r *Resolver) lookupNext(ctx context.Context) bool {
	uid, shutdown := r.queue.Get()
	if shutdown {
		return false
	}
	defer r.queue.Done(uid)
	r.mu.RLock()
	o := r.owners[uid]
	var kind, ns, name string
	if o != nil { // kind, namespace and name never change
		kind, ns, name = o.kind, o.namespace, o.name
	}
	r.mu.RUnlock()
	if o == nil { // its pods went while it waited
		r.queue.Forget(uid)
		return true
	}
	state, w, err := r.readOwner(ctx, uid, kind, ns, name)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("read pod owner failed, will retry", "kind", kind, "owner", ns+"/"+name, "err", err)
			r.queue.AddRateLimited(uid)
		}
		return true
	}
	r.queue.Forget(uid)
	r.mu.Lock()
	if o := r.owners[uid]; o != nil {
		o.state, o.workload = state, w
	}
	r.mu.Unlock()
	return true
}

// readOwner GETs a Job or ReplicaSet and returns the workload of its pods:
// its own controller if it has one, else itself. An owner deleted, or
// replaced by another of the same name, is gone: its pods are being
// deleted or orphaned, and an orphan's next update resolves it as a bare
// pod.
func (r *Resolver) readOwner(ctx context.Context, uid types.UID, kind, ns, name string) (ownerState, recommender.WorkloadKey, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.RequestTimeout)
	defer cancel()
	var obj metav1.Object
	var err error
	switch kind {
	case kindJob:
		obj, err = r.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	case kindReplicaSet:
		obj, err = r.client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
	default:
		return ownerGone, recommender.WorkloadKey{}, nil // entry never queues another kind
	}
	switch {
	case apierrors.IsNotFound(err):
		return ownerGone, recommender.WorkloadKey{}, nil
	case err != nil:
		return ownerPending, recommender.WorkloadKey{}, fmt.Errorf("get %s %s/%s: %w", strings.ToLower(kind), ns, name, err)
	case obj.GetUID() != uid:
		return ownerGone, recommender.WorkloadKey{}, nil
	}
	if c := metav1.GetControllerOfNoCopy(obj); c != nil {
		return ownerKnown, r.key(ns, c.Kind, c.Name), nil
	}
	return ownerKnown, r.key(ns, kind, name), nil
}
