package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/rightsizer/rightsizer/kube/namespaces"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/rightsizer/rightsizer/kube/podspec"
	"github.com/rightsizer/rightsizer/recommender"
)

// Inventory is what discovery keeps current. The recommender's Engine
// implements it.
type Inventory interface {
	UpsertWorkload(w recommender.Workload) error
	DeleteWorkload(k recommender.WorkloadKey)
	RecordOOM(ev recommender.OOMEvent) error
}

// Options configure discovery.
type Options struct {
	// Cluster names the cluster in every workload key; empty for the
	// local one.
	Cluster string
	// Namespaces, if set, are the only namespaces watched (one watch per
	// namespace and resource); otherwise every namespace is.
	Namespaces []string
	// ExcludeNamespaces are never inventoried.
	ExcludeNamespaces []string
	// Selector is a label selector that workloads (by their own labels)
	// and pods must match; empty matches everything. ReplicaSets and
	// autoscalers are watched unfiltered: they only link the others.
	Selector string
	// Workers reconcile workloads after the first complete inventory.
	Workers int
	Logger  *slog.Logger
}

// Validate checks the options.
func (o *Options) Validate() error {
	var errs []error
	errs = append(errs, namespaces.Validate(o.Namespaces, o.ExcludeNamespaces)...)
	if _, err := labels.Parse(o.Selector); err != nil {
		errs = append(errs, fmt.Errorf("selector: %w", err))
	}
	if o.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers must not be negative, got %d", o.Workers))
	}
	return errors.Join(errs...)
}

// Discovery keeps an Inventory current from the API server. Create it with
// New and start it with Run. WorkloadOf is safe for concurrent use.
type Discovery struct {
	inv       Inventory
	opts      Options
	log       *slog.Logger
	excluded  map[string]bool
	factories []interface {
		Start(stop <-chan struct{})
		Shutdown()
	}
	synced []cache.InformerSynced
	scopes map[string]*scope // by namespace; "" holds every namespace
	queue  workqueue.TypedRateLimitingInterface[recommender.WorkloadKey]
	ready  chan struct{}
}

// New wires informers for the scopes the options select. dyn may be nil;
// KEDA ScaledObjects are watched only when dyn is set and the cluster
// serves keda.sh/v1alpha1.
func New(client kubernetes.Interface, dyn dynamic.Interface, inv Inventory, opts Options) (*Discovery, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Workers == 0 {
		opts.Workers = 2
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	d := &Discovery{
		inv:      inv,
		opts:     opts,
		log:      opts.Logger,
		excluded: map[string]bool{},
		scopes:   map[string]*scope{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[recommender.WorkloadKey](),
			workqueue.TypedRateLimitingQueueConfig[recommender.WorkloadKey]{Name: "rightsizer-discovery"}),
		ready: make(chan struct{}),
	}
	for _, ns := range opts.ExcludeNamespaces {
		d.excluded[ns] = true
	}
	keda := dyn != nil && Serves(client, scaledObjects.GroupVersion().String(), scaledObjects.Resource)
	if dyn != nil && !keda {
		d.log.Info("KEDA ScaledObjects not served by this cluster; HPAs only")
	}
	namespaces := opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	for _, ns := range namespaces {
		sc := d.newScope(client, dyn, ns, keda)
		d.scopes[ns] = sc
	}
	return d, nil
}

// Serves reports whether the API server serves resource (plural, as in
// "scaledobjects") in groupVersion ("keda.sh/v1alpha1"). Optional APIs
// (KEDA, VPA, metrics.k8s.io) are checked once, at start: an informer on
// an API that is not served never syncs.
func Serves(client kubernetes.Interface, groupVersion, resource string) bool {
	rl, err := client.Discovery().ServerResourcesForGroupVersion(groupVersion)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(rl.APIResources, func(r metav1.APIResource) bool { return r.Name == resource })
}

// Ready is closed once the first complete inventory is in the Inventory.
func (d *Discovery) Ready() <-chan struct{} { return d.ready }

// Run starts the informers, waits for their caches, reconciles every
// workload once (then closes Ready), and keeps reconciling until ctx ends.
func (d *Discovery) Run(ctx context.Context) error {
	defer func() {
		d.queue.ShutDown()
		for _, f := range d.factories {
			f.Shutdown()
		}
	}()
	for _, f := range d.factories {
		f.Start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), d.synced...) {
		return fmt.Errorf("kubernetes discovery: caches not synced: %w", ctx.Err())
	}
	// Every object the informers listed has enqueued its workload by now:
	// drain them on this goroutine, so Ready means a complete inventory.
	n := 0
	for d.queue.Len() > 0 && d.processNext() {
		n++
	}
	d.log.Info("kubernetes inventory complete", "workloads", n)
	close(d.ready)
	var wg sync.WaitGroup
	for range d.opts.Workers {
		wg.Go(func() {
			for d.processNext() {
			}
		})
	}
	<-ctx.Done()
	d.queue.ShutDown()
	wg.Wait()
	return nil
}

func (d *Discovery) processNext() bool {
	k, shutdown := d.queue.Get()
	if shutdown {
		return false
	}
	defer d.queue.Done(k)
	// Reconciling reads only caches and writes to memory: nothing in it is
	// transient, so an error is logged and the key dropped, not retried.
	if err := d.reconcile(k); err != nil {
		d.log.Warn("workload not inventoried", "workload", k.String(), "err", err)
	}
	d.queue.Forget(k)
	return true
}

func (d *Discovery) key(ns, kind, name string) recommender.WorkloadKey {
	return recommender.WorkloadKey{Cluster: d.opts.Cluster, Namespace: ns, Kind: kind, Name: name}
}

func (d *Discovery) enqueue(ns, kind, name string) {
	if d.excluded[ns] {
		return
	}
	d.queue.Add(d.key(ns, kind, name))
}

// scopeOf returns the informers that hold namespace ns, or nil.
func (d *Discovery) scopeOf(ns string) *scope {
	if d.excluded[ns] {
		return nil
	}
	if sc := d.scopes[metav1.NamespaceAll]; sc != nil {
		return sc
	}
	return d.scopes[ns]
}

// WorkloadOf implements recommender.PodResolver from the caches. A pod whose
// owner is not cached yet is not known.
func (d *Discovery) WorkloadOf(ns, pod string) (recommender.WorkloadKey, bool) {
	sc := d.scopeOf(ns)
	if sc == nil {
		return recommender.WorkloadKey{}, false
	}
	p, err := sc.pods.Pods(ns).Get(pod)
	if err != nil {
		return recommender.WorkloadKey{}, false
	}
	return d.ownerOf(sc, ns, &p.ObjectMeta)
}

// ownerOf resolves an object to its top-level workload by its controller
// references, through the ReplicaSet and Job caches.
func (d *Discovery) ownerOf(sc *scope, ns string, m *metav1.ObjectMeta) (recommender.WorkloadKey, bool) {
	ref := controllerOf(m)
	if ref == nil {
		return d.key(ns, KindPod, m.Name), true
	}
	switch ref.Kind {
	case KindReplicaSet:
		rs, err := sc.replicaSets.ReplicaSets(ns).Get(ref.Name)
		if err != nil {
			return recommender.WorkloadKey{}, false
		}
		if o := controllerOf(&rs.ObjectMeta); o != nil {
			return d.key(ns, o.Kind, o.Name), true
		}
	case KindJob:
		j, err := sc.jobs.Jobs(ns).Get(ref.Name)
		if err != nil {
			return recommender.WorkloadKey{}, false
		}
		if o := controllerOf(&j.ObjectMeta); o != nil {
			return d.key(ns, o.Kind, o.Name), true
		}
	}
	return d.key(ns, ref.Kind, ref.Name), true
}

// reconcile rebuilds the workload k from the caches and upserts it, or
// deletes it when its owner is gone.
func (d *Discovery) reconcile(k recommender.WorkloadKey) error {
	sc := d.scopeOf(k.Namespace)
	if sc == nil {
		d.inv.DeleteWorkload(k)
		return nil
	}
	w, err := sc.workload(k)
	if apierrors.IsNotFound(err) {
		d.inv.DeleteWorkload(k)
		return nil
	}
	if err != nil {
		return err
	}
	w.Key = k
	w.AutoscaledOn = sc.autoscaledOn(k)
	return d.inv.UpsertWorkload(w)
}

// podChanged enqueues the workload a pod stands for when no other
// informer does (bare pods and pods of controllers rightsizer does not
// watch) and records OOM kills that its status shows.
func (d *Discovery) podChanged(old, cur *corev1.Pod) {
	if d.excluded[cur.Namespace] {
		return
	}
	ref := controllerOf(&cur.ObjectMeta)
	switch {
	case ref == nil:
		d.enqueue(cur.Namespace, KindPod, cur.Name)
	case !watchedKinds[ref.Kind]:
		d.enqueue(cur.Namespace, ref.Kind, ref.Name)
	}
	d.recordOOMs(old, cur)
}

// recordOOMs reports each container whose last termination is an OOM kill
// that old (nil for a pod seen for the first time) did not show yet.
func (d *Discovery) recordOOMs(old, cur *corev1.Pod) {
	for _, st := range slices.Concat(cur.Status.InitContainerStatuses, cur.Status.ContainerStatuses) {
		t := st.LastTerminationState.Terminated
		if t == nil || t.Reason != "OOMKilled" || (old != nil && !newTermination(old, st.Name, t)) {
			continue
		}
		sc := d.scopeOf(cur.Namespace)
		if sc == nil {
			return
		}
		wk, ok := d.ownerOf(sc, cur.Namespace, &cur.ObjectMeta)
		if !ok {
			continue
		}
		ev := recommender.OOMEvent{
			Key:   recommender.ContainerKey{WorkloadKey: wk, Container: st.Name},
			Time:  t.FinishedAt.Time,
			Limit: podspec.MemoryLimit(&cur.Spec, st.Name),
		}
		if err := d.inv.RecordOOM(ev); err != nil {
			d.log.Debug("OOM kill not recorded", "container", ev.Key.String(), "err", err)
		}
	}
}

// newTermination reports whether t differs from the last termination that
// old showed for the container.
func newTermination(old *corev1.Pod, name string, t *corev1.ContainerStateTerminated) bool {
	for _, st := range slices.Concat(old.Status.InitContainerStatuses, old.Status.ContainerStatuses) {
		if st.Name == name {
			o := st.LastTerminationState.Terminated
			return o == nil || !o.FinishedAt.Equal(&t.FinishedAt) || o.ContainerID != t.ContainerID
		}
	}
	return true
}

// watchedKinds are the controllers with informers of their own.
var watchedKinds = map[string]bool{
	KindReplicaSet: true, KindJob: true, KindStatefulSet: true, KindDaemonSet: true,
}

var _ recommender.PodResolver = (*Discovery)(nil)
