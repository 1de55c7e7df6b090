package kube

import (
	"fmt"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/rightsizer/rightsizer/kube/podspec"
	"github.com/rightsizer/rightsizer/recommender"
)

var scaledObjects = schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledobjects"}

// ownerIndex indexes pods by their controller reference, "Kind/Name", so
// that a workload of a kind without an informer finds its pods.
const ownerIndex = "controller"

// scope holds the listers of one namespace, or of every namespace.
type scope struct {
	pods         corelisters.PodLister
	podIndex     cache.Indexer
	replicaSets  appslisters.ReplicaSetLister
	deployments  appslisters.DeploymentLister
	statefulSets appslisters.StatefulSetLister
	daemonSets   appslisters.DaemonSetLister
	jobs         batchlisters.JobLister
	cronJobs     batchlisters.CronJobLister
	hpas         autoscalinglisters.HorizontalPodAutoscalerLister
	scaled       cache.GenericLister // nil without KEDA
}

func (d *Discovery) newScope(client kubernetes.Interface, dyn dynamic.Interface, ns string, keda bool) *scope {
	all := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns),
		informers.WithTransform(trim))
	sel := all
	if d.opts.Selector != "" {
		sel = informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns),
			informers.WithTransform(trim),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = d.opts.Selector }))
		d.factories = append(d.factories, sel)
	}
	d.factories = append(d.factories, all)

	pods := sel.Core().V1().Pods()
	_ = pods.Informer().AddIndexers(cache.Indexers{ownerIndex: func(obj any) ([]string, error) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return nil, nil
		}
		if ref := controllerOf(&p.ObjectMeta); ref != nil {
			return []string{ref.Kind + "/" + ref.Name}, nil
		}
		return nil, nil
	}})
	sc := &scope{
		pods:         pods.Lister(),
		podIndex:     pods.Informer().GetIndexer(),
		replicaSets:  all.Apps().V1().ReplicaSets().Lister(),
		deployments:  sel.Apps().V1().Deployments().Lister(),
		statefulSets: sel.Apps().V1().StatefulSets().Lister(),
		daemonSets:   sel.Apps().V1().DaemonSets().Lister(),
		jobs:         sel.Batch().V1().Jobs().Lister(),
		cronJobs:     sel.Batch().V1().CronJobs().Lister(),
		hpas:         all.Autoscaling().V2().HorizontalPodAutoscalers().Lister(),
	}
	add := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandlerFuncs) {
		// The registration's error only reports a stopped informer, and
		// these have not started.
		_, _ = inf.AddEventHandler(h)
		d.synced = append(d.synced, inf.HasSynced)
	}
	add(pods.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if p, ok := obj.(*corev1.Pod); ok {
				d.podChanged(nil, p)
			}
		},
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*corev1.Pod)
			c, ok2 := cur.(*corev1.Pod)
			if ok1 && ok2 {
				d.podChanged(o, c)
			}
		},
		DeleteFunc: d.onDelete(func(m metav1.Object) (string, string, bool) {
			ref := controllerOf(asMeta(m))
			switch {
			case ref == nil:
				return KindPod, m.GetName(), true
			case !watchedKinds[ref.Kind]:
				return ref.Kind, ref.Name, true
			}
			return "", "", false
		}),
	})
	// Controllers stand for themselves, unless they belong to another
	// controller: a Deployment's ReplicaSets and a CronJob's Jobs change
	// nothing that the owner's template does not already say.
	self := func(kind string) func(m metav1.Object) (string, string, bool) {
		return func(m metav1.Object) (string, string, bool) {
			if ref := controllerOf(asMeta(m)); ref != nil {
				if kind == KindReplicaSet && ref.Kind == KindDeployment || kind == KindJob && ref.Kind == KindCronJob {
					return "", "", false
				}
				return ref.Kind, ref.Name, true
			}
			return kind, m.GetName(), true
		}
	}
	for kind, inf := range map[string]cache.SharedIndexInformer{
		KindDeployment:  sel.Apps().V1().Deployments().Informer(),
		KindStatefulSet: sel.Apps().V1().StatefulSets().Informer(),
		KindDaemonSet:   sel.Apps().V1().DaemonSets().Informer(),
		KindReplicaSet:  all.Apps().V1().ReplicaSets().Informer(),
		KindJob:         sel.Batch().V1().Jobs().Informer(),
		KindCronJob:     sel.Batch().V1().CronJobs().Informer(),
	} {
		add(inf, d.handlers(self(kind)))
	}
	add(all.Autoscaling().V2().HorizontalPodAutoscalers().Informer(), d.handlers(func(m metav1.Object) (string, string, bool) {
		h, ok := m.(*autoscalingv2.HorizontalPodAutoscaler)
		if !ok {
			return "", "", false
		}
		return h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name, true
	}))
	if keda {
		f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, ns, nil)
		d.factories = append(d.factories, f)
		gi := f.ForResource(scaledObjects)
		sc.scaled = gi.Lister()
		add(gi.Informer(), d.handlers(func(m metav1.Object) (string, string, bool) {
			so, err := toScaledObject(m)
			if err != nil {
				return "", "", false
			}
			return scaleTargetKind(so), so.Spec.ScaleTargetRef.Name, true
		}))
	}
	return sc
}

// handlers enqueue the workload that target names for an object, on every
// add, update (old and new target, which may differ) and delete.
func (d *Discovery) handlers(target func(m metav1.Object) (kind, name string, ok bool)) cache.ResourceEventHandlerFuncs {
	on := func(obj any) {
		if m, ok := obj.(metav1.Object); ok {
			if kind, name, ok := target(m); ok {
				d.enqueue(m.GetNamespace(), kind, name)
			}
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    on,
		UpdateFunc: func(old, cur any) { on(old); on(cur) },
		DeleteFunc: d.onDelete(target),
	}
}

// onDelete unwraps the tombstone of an object deleted while the watch was
// down before enqueueing its workload.
func (d *Discovery) onDelete(target func(m metav1.Object) (string, string, bool)) func(obj any) {
	return func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if m, ok := obj.(metav1.Object); ok {
			if kind, name, ok := target(m); ok {
				d.enqueue(m.GetNamespace(), kind, name)
			}
		}
	}
}

func asMeta(m metav1.Object) *metav1.ObjectMeta {
	return &metav1.ObjectMeta{Name: m.GetName(), Namespace: m.GetNamespace(), OwnerReferences: m.GetOwnerReferences()}
}

// trim drops what discovery never reads before an object enters a cache:
// managed fields, the last-applied annotation and, for pods, volumes,
// environment and probes. It keeps 5,000 pods' caches small.
func trim(obj any) (any, error) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t, nil
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return obj, nil
	}
	m.SetManagedFields(nil)
	if a := m.GetAnnotations(); a != nil {
		delete(a, corev1.LastAppliedConfigAnnotation)
	}
	if p, ok := obj.(*corev1.Pod); ok {
		p.Spec.Volumes = nil
		for _, cs := range [][]corev1.Container{p.Spec.Containers, p.Spec.InitContainers} {
			for i := range cs {
				c := &cs[i]
				c.Env, c.EnvFrom, c.VolumeMounts, c.Command, c.Args = nil, nil, nil, nil, nil
				c.LivenessProbe, c.ReadinessProbe, c.StartupProbe = nil, nil, nil
			}
		}
		p.Status.Conditions = nil
	}
	return obj, nil
}

// workload builds the inventory record of k from the caches. It returns a
// NotFound error when k's owner is gone.
func (sc *scope) workload(k recommender.WorkloadKey) (recommender.Workload, error) {
	ns, name := k.Namespace, k.Name
	switch k.Kind {
	case KindDeployment:
		o, err := sc.deployments.Deployments(ns).Get(name)
		if err != nil {
			return recommender.Workload{}, err
		}
		return fromTemplate(o.Labels, replicasOr(o.Spec.Replicas, 1), &o.Spec.Template.Spec), nil
	case KindStatefulSet:
		o, err := sc.statefulSets.StatefulSets(ns).Get(name)
		if err != nil {
			return recommender.Workload{}, err
		}
		return fromTemplate(o.Labels, replicasOr(o.Spec.Replicas, 1), &o.Spec.Template.Spec), nil
	case KindDaemonSet:
		o, err := sc.daemonSets.DaemonSets(ns).Get(name)
		if err != nil {
			return recommender.Workload{}, err
		}
		// A DaemonSet runs one pod per eligible node.
		return fromTemplate(o.Labels, o.Status.DesiredNumberScheduled, &o.Spec.Template.Spec), nil
	case KindCronJob:
		o, err := sc.cronJobs.CronJobs(ns).Get(name)
		if err != nil {
			return recommender.Workload{}, err
		}
		js := &o.Spec.JobTemplate.Spec
		return fromTemplate(o.Labels, replicasOr(js.Parallelism, 1), &js.Template.Spec), nil
	case KindJob:
		o, err := sc.jobs.Jobs(ns).Get(name)
		if err != nil {
			return recommender.Workload{}, err
		}
		return fromTemplate(o.Labels, replicasOr(o.Spec.Parallelism, 1), &o.Spec.Template.Spec), nil
	case KindReplicaSet:
		o, err := sc.replicaSets.ReplicaSets(ns).Get(name)
		if err != nil {
			return recommender.Workload{}, err
		}
		return fromTemplate(o.Labels, replicasOr(o.Spec.Replicas, 1), &o.Spec.Template.Spec), nil
	case KindPod:
		o, err := sc.pods.Pods(ns).Get(name)
		if err != nil {
			return recommender.Workload{}, err
		}
		return fromTemplate(o.Labels, 1, &o.Spec), nil
	}
	// A controller without an informer (an Argo Rollout, a custom
	// operator's pods): its pods say what it runs.
	objs, err := sc.podIndex.ByIndex(ownerIndex, k.Kind+"/"+k.Name)
	if err != nil {
		return recommender.Workload{}, err
	}
	var first *corev1.Pod
	n := int32(0)
	for _, obj := range objs {
		if p, ok := obj.(*corev1.Pod); ok && p.Namespace == ns {
			if first == nil {
				first = p
			}
			n++
		}
	}
	if first == nil {
		return recommender.Workload{}, apierrors.NewNotFound(schema.GroupResource{Resource: k.Kind}, name)
	}
	return fromTemplate(nil, n, &first.Spec), nil
}

func fromTemplate(l map[string]string, replicas int32, spec *corev1.PodSpec) recommender.Workload {
	return recommender.Workload{Labels: l, Replicas: replicas, Containers: podspec.Containers(spec)}
}

// autoscaledOn lists the resources that an HPA or a KEDA ScaledObject
// scales k on. Both kinds of autoscaler are few per namespace.
func (sc *scope) autoscaledOn(k recommender.WorkloadKey) recommender.ResourceSet {
	var set recommender.ResourceSet
	hpas, _ := sc.hpas.HorizontalPodAutoscalers(k.Namespace).List(labels.Everything())
	for _, h := range hpas {
		if h.Spec.ScaleTargetRef.Kind != k.Kind || h.Spec.ScaleTargetRef.Name != k.Name {
			continue
		}
		for _, m := range h.Spec.Metrics {
			switch {
			case m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil:
				set = withResource(set, m.Resource.Name)
			case m.Type == autoscalingv2.ContainerResourceMetricSourceType && m.ContainerResource != nil:
				set = withResource(set, m.ContainerResource.Name)
			}
		}
	}
	if sc.scaled == nil {
		return set
	}
	objs, _ := sc.scaled.ByNamespace(k.Namespace).List(labels.Everything())
	for _, obj := range objs {
		so, err := toScaledObject(obj)
		if err != nil || scaleTargetKind(so) != k.Kind || so.Spec.ScaleTargetRef.Name != k.Name {
			continue
		}
		for _, t := range so.Spec.Triggers {
			// KEDA's cpu and memory scalers become HPA Resource metrics.
			set = withResource(set, corev1.ResourceName(t.Type))
		}
	}
	return set
}

func withResource(set recommender.ResourceSet, r corev1.ResourceName) recommender.ResourceSet {
	switch r {
	case corev1.ResourceCPU:
		return set.With(recommender.ResourceCPU)
	case corev1.ResourceMemory:
		return set.With(recommender.ResourceMemory)
	}
	return set
}

// toScaledObject converts what the dynamic informer holds into KEDA's type.
func toScaledObject(obj any) (*kedav1alpha1.ScaledObject, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("scaledobject: unexpected %T", obj)
	}
	so := new(kedav1alpha1.ScaledObject)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, so); err != nil {
		return nil, fmt.Errorf("scaledobject %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return so, nil
}

// scaleTargetKind is the kind a ScaledObject scales; KEDA defaults it to
// Deployment.
func scaleTargetKind(so *kedav1alpha1.ScaledObject) string {
	if so.Spec.ScaleTargetRef == nil || so.Spec.ScaleTargetRef.Kind == "" {
		return KindDeployment
	}
	return so.Spec.ScaleTargetRef.Kind
}
