package vpastatus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"
	vpainformers "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/informers/externalversions"
	vpalisters "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/listers/autoscaling.k8s.io/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/rightsizer/rightsizer/recommender"
)

// Recommender answers with a workload's recommendations, one per
// container; an error wrapping recommender.ErrNotFound when it knows
// nothing of the workload. *recommender.Engine implements it. It must be
// safe for concurrent use.
type Recommender interface {
	Workload(k recommender.WorkloadKey) ([]recommender.Recommendation, error)
}

var _ Recommender = (*recommender.Engine)(nil)

// maxRetries bounds the quick (rate-limited) retries of a failed write;
// after them the VPA waits for the next Interval.
const maxRetries = 5

// Writer writes rightsizer's recommendations into the status of the VPA
// objects that name it. Create it with New and start it with Run, once.
//
// Concurrency: informer handlers and the Interval's ticker only enqueue
// VPA keys (namespace/name) into a deduplicating work queue, so a VPA
// waiting to be written is in the queue once however often it changed;
// Options.Workers goroutines take keys from it, read the VPA from the
// informer's cache, ask the Recommender, and write through one shared
// token bucket. A key is never processed by two workers at once.
type Writer struct {
	client  versioned.Interface
	rec     Recommender
	opts    Options
	log     *slog.Logger
	clock   clock.WithTicker
	metrics *metrics
	limiter *rate.Limiter

	excluded  map[string]bool
	factories []vpainformers.SharedInformerFactory
	listers   map[string]vpalisters.VerticalPodAutoscalerLister // by namespace; "" holds every namespace
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]

	// mu guards written.
	mu sync.Mutex
	// written remembers, per VPA key, the status the last write returned
	// and the resourceVersion the cache held before it, until the cache
	// moves past that version: a VPA evaluated again before the watch has
	// delivered rightsizer's own write would otherwise look unwritten and
	// be written twice. Resource versions are compared for equality only,
	// as the API allows. At most one entry per VPA.
	written map[string]writtenStatus
}

// New wires the VPA informers and returns a writer; nothing runs until
// Run. client reaches the API server with the right to list and watch
// VPAs and to patch their status subresource.
func New(client versioned.Interface, rec Recommender, opts Options) (*Writer, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("vpa status options: %w", err)
	}
	if client == nil || rec == nil {
		return nil, errors.New("vpa status writer needs a client and a recommender")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{
		client:   client,
		rec:      rec,
		opts:     opts,
		log:      opts.Logger,
		clock:    opts.Clock,
		metrics:  newMetrics(opts.Registerer),
		limiter:  rate.NewLimiter(rate.Limit(opts.QPS), opts.Burst),
		excluded: map[string]bool{},
		listers:  map[string]vpalisters.VerticalPodAutoscalerLister{},
		written:  map[string]writtenStatus{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "rightsizer-vpastatus"}),
	}
	for _, ns := range opts.ExcludeNamespaces {
		w.excluded[ns] = true
	}
	scopes := opts.Namespaces
	if len(scopes) == 0 {
		scopes = []string{metav1.NamespaceAll}
	}
	for _, ns := range scopes {
		// No informer resync: the Interval's loop re-evaluates instead,
		// from the cache, without waking every handler.
		f := vpainformers.NewSharedInformerFactoryWithOptions(client, 0, vpainformers.WithNamespace(ns))
		inf := f.Autoscaling().V1().VerticalPodAutoscalers()
		if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    w.onEvent,
			UpdateFunc: func(_, obj any) { w.onEvent(obj) },
			DeleteFunc: w.onDelete,
		}); err != nil {
			return nil, fmt.Errorf("watch vpas: %w", err)
		}
		w.factories = append(w.factories, f)
		w.listers[ns] = inf.Lister()
		w.synced = append(w.synced, inf.Informer().HasSynced)
	}
	return w, nil
}

// onEvent enqueues a VPA that names rightsizer. It runs on informer
// goroutines and the ticker's; the queue is safe for that.
func (w *Writer) onEvent(obj any) {
	vpa, ok := obj.(*vpav1.VerticalPodAutoscaler)
	if !ok || w.excluded[vpa.Namespace] || !selects(vpa, w.opts.RecommenderName) {
		return
	}
	w.queue.Add(vpa.Namespace + "/" + vpa.Name)
}

// onDelete drops what the writer remembers of a deleted VPA; its status
// went with it.
func (w *Writer) onDelete(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		w.forget(key)
	}
}

// Run starts the informers, waits for their caches, and writes until ctx
// is done; then it stops the workers (a write in flight is cancelled) and
// returns nil. It returns an error only when the caches never sync.
func (w *Writer) Run(ctx context.Context) error {
	defer func() {
		w.queue.ShutDown()
		for _, f := range w.factories {
			f.Shutdown()
		}
	}()
	for _, f := range w.factories {
		f.Start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), w.synced...) {
		return fmt.Errorf("vpa status: caches not synced: %w", ctx.Err())
	}
	var wg sync.WaitGroup
	for range w.opts.Workers {
		wg.Go(func() {
			for w.processNext(ctx) {
			}
		})
	}
	t := w.clock.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			w.queue.ShutDown()
			wg.Wait()
			return nil
		case <-t.C():
			w.enqueueAll()
		}
	}
}

// enqueueAll enqueues every selected VPA in the caches. Keys already
// waiting are not added twice.
func (w *Writer) enqueueAll() {
	for _, l := range w.listers {
		vpas, err := l.List(labels.Everything())
		if err != nil { // a cache list cannot fail; keep the signature honest
			w.log.Warn("list cached vpas", "err", err)
			continue
		}
		for _, vpa := range vpas {
			w.onEvent(vpa)
		}
	}
}

func (w *Writer) processNext(ctx context.Context) bool {
	key, shutdown := w.queue.Get()
	if shutdown {
		return false
	}
	defer w.queue.Done(key)
	err := w.sync(ctx, key)
	switch {
	case err == nil || ctx.Err() != nil:
		w.queue.Forget(key)
	case w.queue.NumRequeues(key) < maxRetries:
		w.log.Warn("vpa status not written, retrying", "vpa", key, "err", err)
		w.queue.AddRateLimited(key)
	default:
		w.log.Warn("vpa status not written, waiting for the next interval", "vpa", key, "err", err)
		w.queue.Forget(key)
	}
	return true
}

// lister returns the lister that holds namespace ns.
func (w *Writer) lister(ns string) vpalisters.VerticalPodAutoscalerLister {
	if l, ok := w.listers[ns]; ok {
		return l
	}
	return w.listers[metav1.NamespaceAll]
}

// sync evaluates one VPA and writes its status if it changed.
func (w *Writer) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key this writer made; nothing to retry
	}
	l := w.lister(ns)
	if l == nil {
		return nil
	}
	vpa, err := l.VerticalPodAutoscalers(ns).Get(name)
	if apierrors.IsNotFound(err) {
		w.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if w.excluded[ns] || !selects(vpa, w.opts.RecommenderName) {
		w.forget(key)
		return nil // its spec changed since it was enqueued
	}
	vpa = w.latest(key, vpa)
	in := statusInput{vpa: vpa, now: metav1.NewTime(w.clock.Now())}
	k, err := workloadKey(w.opts.Cluster, ns, vpa.Spec.TargetRef)
	if err != nil {
		in.targetErr = err
	} else if in.recs, err = w.rec.Workload(k); errors.Is(err, recommender.ErrNotFound) {
		in.notFound = true
	} else if err != nil {
		w.metrics.syncs.WithLabelValues("error").Inc()
		return fmt.Errorf("recommendations of %s: %w", k, err)
	}
	st := settle(vpa.Status, desiredStatus(in), w.opts.MinChange)
	if st == nil {
		w.metrics.syncs.WithLabelValues("unchanged").Inc()
		return nil
	}
	got, err := w.write(ctx, vpa, st)
	if err != nil {
		w.metrics.syncs.WithLabelValues("error").Inc()
		return err
	}
	w.mu.Lock()
	if got != nil {
		w.written[key] = writtenStatus{staleVersion: vpa.ResourceVersion, status: got.Status}
	} else {
		delete(w.written, key)
	}
	w.mu.Unlock()
	w.metrics.syncs.WithLabelValues("written").Inc()
	w.log.Debug("vpa status written", "vpa", key, "containers", containerCount(st))
	return nil
}

// writtenStatus is a status rightsizer wrote that the cache may not hold
// yet.
type writtenStatus struct {
	staleVersion string // the resourceVersion before the write
	status       vpav1.VerticalPodAutoscalerStatus
}

// latest returns the cached VPA, with the status of rightsizer's own last
// write in place of the cached one while the cache has not caught up with
// it. The cached object is not modified.
func (w *Writer) latest(key string, vpa *vpav1.VerticalPodAutoscaler) *vpav1.VerticalPodAutoscaler {
	w.mu.Lock()
	defer w.mu.Unlock()
	ws, ok := w.written[key]
	switch {
	case !ok:
		return vpa
	case ws.staleVersion != vpa.ResourceVersion:
		delete(w.written, key) // the cache has moved on: it knows best
		return vpa
	}
	view := *vpa // shallow: only Status is replaced, nothing is written through
	view.Status = ws.status
	return &view
}

func (w *Writer) forget(key string) {
	w.mu.Lock()
	delete(w.written, key)
	w.mu.Unlock()
}

func containerCount(st *vpav1.VerticalPodAutoscalerStatus) int {
	if st.Recommendation == nil {
		return 0
	}
	return len(st.Recommendation.ContainerRecommendations)
}

// statusPatch is a JSON merge patch of the status subresource. Every
// field rightsizer owns is present, recommendation as null when there is
// none, so the patch replaces them whole: merge patches replace lists
// (containerRecommendations, conditions) rather than merge them. Like
// upstream's recommender, it carries no resourceVersion: rightsizer is the
// only writer of these fields, and a stale cache then costs at worst one
// redundant write instead of a conflict and a retry.
type statusPatch struct {
	Status struct {
		Recommendation     *vpav1.RecommendedPodResources         `json:"recommendation"`
		Conditions         []vpav1.VerticalPodAutoscalerCondition `json:"conditions"`
		ObservedGeneration *int64                                 `json:"observedGeneration,omitempty"`
	} `json:"status"`
}

// write patches the VPA's status, after waiting for a token of the shared
// bucket, and returns the VPA the API server answered with; nil, and no
// error, when the VPA was deleted meanwhile.
func (w *Writer) write(ctx context.Context, vpa *vpav1.VerticalPodAutoscaler, st *vpav1.VerticalPodAutoscalerStatus) (*vpav1.VerticalPodAutoscaler, error) {
	var p statusPatch
	p.Status.Recommendation, p.Status.Conditions, p.Status.ObservedGeneration = st.Recommendation, st.Conditions, st.ObservedGeneration
	if p.Status.Conditions == nil {
		p.Status.Conditions = []vpav1.VerticalPodAutoscalerCondition{}
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode vpa status: %w", err)
	}
	if err := w.limiter.Wait(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, w.opts.WriteTimeout)
	defer cancel()
	start := time.Now()
	got, err := w.client.AutoscalingV1().VerticalPodAutoscalers(vpa.Namespace).Patch(ctx, vpa.Name, types.MergePatchType, body, metav1.PatchOptions{}, "status")
	w.metrics.writeSeconds.Observe(time.Since(start).Seconds())
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("patch status of vpa %s/%s: %w", vpa.Namespace, vpa.Name, err)
	}
	return got, nil
}
