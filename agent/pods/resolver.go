package pods

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/rightsizer/rightsizer/recommender"
)

// Options configure a Resolver.
type Options struct {
	// NodeName is the node whose pods are resolved (the agent's own, from
	// the downward API). Required.
	NodeName string
	// Cluster names the cluster in every key, as the server's
	// kube.Options.Cluster does; empty for the local cluster.
	Cluster string
	// RequestTimeout bounds each GET of a Job or ReplicaSet. Default 10 s.
	RequestTimeout time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Validate reports every invalid option.
func (o *Options) Validate() error {
	var errs []error
	if o.NodeName == "" {
		errs = append(errs, errors.New("node name is required"))
	}
	if o.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("request timeout %v is negative", o.RequestTimeout))
	}
	return errors.Join(errs...)
}

// Resolver maps the pods and containers of one node to workload keys, from
// a node-scoped pod informer. Lookups are map reads under a read lock,
// without API calls or allocation; they are safe for concurrent use and
// may be called before Ready (they miss until the cache has synced).
type Resolver struct {
	client  kubernetes.Interface
	opts    Options
	log     *slog.Logger
	factory informers.SharedInformerFactory
	synced  cache.InformerSynced
	ready   chan struct{}
	// queue holds owners to GET; made by Run, as it runs a goroutine.
	// Only the informer's handler goroutine and Run's worker use it.
	queue workqueue.TypedRateLimitingInterface[types.UID]

	mu     sync.RWMutex // guards the maps below
	byUID  map[types.UID]*podEntry
	byName map[nsName]*podEntry
	byID   map[string]containerRef // container ID without scheme
	owners map[types.UID]*ownerEntry
}

type nsName struct{ namespace, name string }

// podEntry is what the resolver keeps of a pod. It is never modified
// after it is stored: an update stores a new one.
type podEntry struct {
	uid             types.UID
	namespace, name string
	// workload is the pod's workload unless lookup is set, in which case
	// it is owners[lookup].workload, once that owner has been read.
	workload   recommender.WorkloadKey
	lookup     types.UID
	containers []containerEntry
	ids        []string // the container IDs indexed in byID
}

type containerEntry struct {
	spec      recommender.ContainerSpec
	ephemeral bool
}

type containerRef struct {
	pod *podEntry
	i   int // index in pod.containers
}

// ownerEntry is a Job or ReplicaSet whose own controller is the workload
// of its pods, read with a GET.
type ownerEntry struct {
	kind, namespace, name string
	pods                  int // pods on the node that it owns; at zero it is forgotten
	state                 ownerState
	workload              recommender.WorkloadKey // when state is ownerKnown
}

type ownerState uint8

const (
	ownerPending ownerState = iota // not read yet, or the last GET failed
	ownerKnown                     // workload is set
	ownerGone                      // deleted (or replaced by another of the same name)
)

// New returns a resolver of opts.NodeName's pods. It starts nothing: Run
// does.
func New(client kubernetes.Interface, opts Options) (*Resolver, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("pod resolver options: %w", err)
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 10 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Resolver{
		client: client,
		opts:   opts,
		log:    log,
		ready:  make(chan struct{}),
		byUID:  map[types.UID]*podEntry{},
		byName: map[nsName]*podEntry{},
		byID:   map[string]containerRef{},
		owners: map[types.UID]*ownerEntry{},
	}
	node := fields.OneTermEqualSelector("spec.nodeName", opts.NodeName).String()
	r.factory = informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = node }),
		informers.WithTransform(trim))
	inf := r.factory.Core().V1().Pods().Informer()
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.upsert(obj) },
		UpdateFunc: func(_, obj any) { r.upsert(obj) },
		DeleteFunc: r.remove,
	})
	if err != nil {
		return nil, fmt.Errorf("pod resolver: %w", err)
	}
	r.synced = reg.HasSynced
	return r, nil
}

// Ready is closed once every pod of the node listed at start has been
// seen. Pods owned by Jobs (and by ReplicaSets not of a Deployment)
// resolve when their owner's GET returns, shortly after.
func (r *Resolver) Ready() <-chan struct{} { return r.ready }

// Run watches the node's pods and reads the owners of those that need it,
// until ctx ends. It returns nil then, or an error if ctx ends before the
// cache has synced. Call it once.
func (r *Resolver) Run(ctx context.Context) error {
	r.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[types.UID](time.Second, 5*time.Minute),
		workqueue.TypedRateLimitingQueueConfig[types.UID]{})
	var wg sync.WaitGroup
	defer func() {
		r.queue.ShutDown()
		wg.Wait()
		r.factory.Shutdown() // waits for the informer's goroutines
	}()
	r.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), r.synced) {
		return fmt.Errorf("pod resolver: cache not synced: %w", ctx.Err())
	}
	close(r.ready)
	// One worker: GETs happen once per Job or odd ReplicaSet on the node.
	wg.Go(func() {
		for r.lookupNext(ctx) {
		}
	})
	<-ctx.Done()
	return nil
}

// Resolve returns the key of the container with ID containerID in the pod
// with UID podUID. The ID may carry its runtime's scheme
// ("containerd://…", "cri-o://…"); the UID may be spelled with
// underscores, as systemd cgroup paths spell it. An empty podUID matches
// any pod. It reports false for a pod not on the node (or not yet seen), a
// container ID that the pod's status does not show (not yet reported by
// the kubelet, or the pod's sandbox), and a pod whose owner is still being
// read. Ephemeral containers resolve too: see Container.
func (r *Resolver) Resolve(podUID, containerID string) (recommender.ContainerKey, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.containerLocked(podUID, containerID)
	if !ok {
		return recommender.ContainerKey{}, false
	}
	w, ok := r.workloadLocked(c.pod)
	if !ok {
		return recommender.ContainerKey{}, false
	}
	return recommender.ContainerKey{WorkloadKey: w, Container: c.pod.containers[c.i].spec.Name}, true
}

// ResolvePod returns the key of a container named by its pod's namespace
// and name, as the kubelet's pod-resources API names it.
func (r *Resolver) ResolvePod(namespace, pod, container string) (recommender.ContainerKey, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p := r.byName[nsName{namespace, pod}]
	if p == nil || !slices.ContainsFunc(p.containers, func(c containerEntry) bool { return c.spec.Name == container }) {
		return recommender.ContainerKey{}, false
	}
	w, ok := r.workloadLocked(p)
	if !ok {
		return recommender.ContainerKey{}, false
	}
	return recommender.ContainerKey{WorkloadKey: w, Container: container}, true
}

// Container is what the resolver knows of one container.
type Container struct {
	Key    recommender.ContainerKey
	Pod    string // the pod's name; Key names its workload
	PodUID types.UID
	// Spec holds the container's role (app, init, sidecar), requests and
	// limits from the pod's spec.
	Spec recommender.ContainerSpec
	// Ephemeral marks a debugging container (kubectl debug): it has no
	// resources and no place in its workload's template, so its usage is
	// best left out of recommendations.
	Ephemeral bool
}

// Container returns what Resolve does, with the container's pod and spec.
func (r *Resolver) Container(podUID, containerID string) (Container, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.containerLocked(podUID, containerID)
	if !ok {
		return Container{}, false
	}
	w, ok := r.workloadLocked(c.pod)
	if !ok {
		return Container{}, false
	}
	e := &c.pod.containers[c.i]
	return Container{
		Key:       recommender.ContainerKey{WorkloadKey: w, Container: e.spec.Name},
		Pod:       c.pod.name,
		PodUID:    c.pod.uid,
		Spec:      e.spec,
		Ephemeral: e.ephemeral,
	}, true
}

// Pod is what the resolver knows of one pod.
type Pod struct {
	Namespace, Name string
	UID             types.UID
	Workload        recommender.WorkloadKey
	// Containers lists the pod's init containers (role init or sidecar),
	// then its app containers, with requests and limits; ephemeral
	// containers are left out. The caller owns the slice.
	Containers []recommender.ContainerSpec
}

// Pod returns the pod with UID uid (spelled with dashes or underscores).
// It reports false for a pod not on the node or whose owner is still being
// read.
func (r *Resolver) Pod(uid string) (Pod, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p := r.byUID[normalizeUID(uid)]
	if p == nil {
		return Pod{}, false
	}
	w, ok := r.workloadLocked(p)
	if !ok {
		return Pod{}, false
	}
	out := Pod{Namespace: p.namespace, Name: p.name, UID: p.uid, Workload: w,
		Containers: make([]recommender.ContainerSpec, 0, len(p.containers))}
	for _, c := range p.containers {
		if !c.ephemeral {
			out.Containers = append(out.Containers, c.spec)
		}
	}
	return out, true
}

func (r *Resolver) containerLocked(podUID, containerID string) (containerRef, bool) {
	c, ok := r.byID[stripScheme(containerID)]
	if !ok || podUID != "" && c.pod.uid != normalizeUID(podUID) {
		return containerRef{}, false
	}
	return c, true
}

func (r *Resolver) workloadLocked(p *podEntry) (recommender.WorkloadKey, bool) {
	if p.lookup == "" {
		return p.workload, true
	}
	if o := r.owners[p.lookup]; o != nil && o.state == ownerKnown {
		return o.workload, true
	}
	return recommender.WorkloadKey{}, false
}

// stripScheme removes the runtime's "<scheme>://" from a container ID
// (containerd://, cri-o://, docker://).
func stripScheme(id string) string {
	if i := strings.Index(id, "://"); i >= 0 {
		return id[i+3:]
	}
	return id
}

// normalizeUID turns a UID as the systemd cgroup driver spells it
// (pod<uid>.slice with '_' for '-') back into the API's spelling.
func normalizeUID(uid string) types.UID {
	if strings.IndexByte(uid, '_') >= 0 {
		uid = strings.ReplaceAll(uid, "_", "-")
	}
	return types.UID(uid)
}

// upsert stores a pod added or updated, on the informer's handler
// goroutine.
func (r *Resolver) upsert(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	e := r.entry(p)
	r.mu.Lock()
	defer r.mu.Unlock()
	// Hold the new owner before the old one is released, so that a pod
	// update does not forget (and read again) the owner they share.
	if e.lookup != "" {
		r.holdLocked(e.lookup, p)
	}
	key := nsName{e.namespace, e.name}
	if old := r.byName[key]; old != nil {
		// The same pod, or one recreated under its name (a StatefulSet's):
		// the informer's key is the name, so both arrive as updates.
		r.dropLocked(old)
	}
	r.byName[key] = e
	r.byUID[e.uid] = e
	r.indexLocked(e, p)
}

// indexLocked maps the container IDs of p's statuses to e's containers.
func (r *Resolver) indexLocked(e *podEntry, p *corev1.Pod) {
	index := func(ss []corev1.ContainerStatus) {
		for i := range ss {
			s := &ss[i]
			c := slices.IndexFunc(e.containers, func(c containerEntry) bool { return c.spec.Name == s.Name })
			if c < 0 {
				continue
			}
			for _, id := range [2]string{s.ContainerID, lastID(s)} {
				if id = stripScheme(id); id != "" {
					r.byID[id] = containerRef{pod: e, i: c}
					e.ids = append(e.ids, id)
				}
			}
		}
	}
	index(p.Status.InitContainerStatuses)
	index(p.Status.ContainerStatuses)
	index(p.Status.EphemeralContainerStatuses)
}

func lastID(s *corev1.ContainerStatus) string {
	if t := s.LastTerminationState.Terminated; t != nil {
		return t.ContainerID
	}
	return ""
}

// remove forgets a deleted pod, on the informer's handler goroutine.
func (r *Resolver) remove(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.byName[nsName{p.Namespace, p.Name}]; e != nil && e.uid == p.UID {
		r.dropLocked(e)
	}
}

// dropLocked removes e from every map and releases its owner.
func (r *Resolver) dropLocked(e *podEntry) {
	key := nsName{e.namespace, e.name}
	if r.byName[key] == e {
		delete(r.byName, key)
	}
	if r.byUID[e.uid] == e {
		delete(r.byUID, e.uid)
	}
	for _, id := range e.ids {
		if r.byID[id].pod == e {
			delete(r.byID, id)
		}
	}
	if e.lookup != "" {
		if o := r.owners[e.lookup]; o != nil {
			if o.pods--; o.pods <= 0 {
				delete(r.owners, e.lookup)
			}
		}
	}
}
