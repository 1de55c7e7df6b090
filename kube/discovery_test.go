package kube

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/rightsizer/rightsizer/internal/kubetest"
	"github.com/rightsizer/rightsizer/recommender"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(kubetest.Wrap(m)) }

// recorder is an Inventory that remembers what discovery told it.
type recorder struct {
	mu        sync.Mutex
	workloads map[recommender.WorkloadKey]recommender.Workload
	ooms      []recommender.OOMEvent
	upserts   int
}

func newRecorder() *recorder {
	return &recorder{workloads: map[recommender.WorkloadKey]recommender.Workload{}}
}

func (r *recorder) UpsertWorkload(w recommender.Workload) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.workloads[w.Key] = w
	r.upserts++
	return nil
}

func (r *recorder) DeleteWorkload(k recommender.WorkloadKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.workloads, k)
}

func (r *recorder) RecordOOM(ev recommender.OOMEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ooms = append(r.ooms, ev)
	return nil
}

func (r *recorder) get(k recommender.WorkloadKey) (recommender.Workload, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.workloads[k]
	return w, ok
}

func (r *recorder) keys() []recommender.WorkloadKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Collect(maps.Keys(r.workloads))
}

// env is one test's namespace in the shared API server.
type env struct {
	t   *testing.T
	ctx context.Context
	c   kubernetes.Interface
	dyn dynamic.Interface
	ns  string
}

var nsSeq struct {
	sync.Mutex
	n int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cl := kubetest.Shared(t)
	c, err := kubernetes.NewForConfig(cl.Config)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cl.Config)
	require.NoError(t, err)
	nsSeq.Lock()
	nsSeq.n++
	ns := fmt.Sprintf("t%d-%s", nsSeq.n, "discovery")
	nsSeq.Unlock()
	ctx := t.Context()
	_, err = c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	return &env{t: t, ctx: ctx, c: c, dyn: dyn, ns: ns}
}

// start runs discovery over the test's namespace until the test ends and
// waits for its first complete inventory.
func (e *env) start(inv Inventory, opts Options) *Discovery {
	e.t.Helper()
	if opts.Namespaces == nil {
		opts.Namespaces = []string{e.ns}
	}
	d, err := New(e.c, e.dyn, inv, opts)
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		require.NoError(e.t, <-done)
	})
	select {
	case <-d.Ready():
	case err := <-done:
		e.t.Fatalf("discovery stopped before its inventory was complete: %v", err)
	case <-time.After(30 * time.Second):
		e.t.Fatal("no complete inventory in 30s")
	}
	return d
}

func (e *env) key(kind, name string) recommender.WorkloadKey {
	return recommender.WorkloadKey{Namespace: e.ns, Kind: kind, Name: name}
}

func owner(kind, name string) []metav1.OwnerReference {
	api := "apps/v1"
	if kind == KindJob || kind == KindCronJob {
		api = "batch/v1"
	}
	return []metav1.OwnerReference{{APIVersion: api, Kind: kind, Name: name, UID: types.UID("u-" + name), Controller: ptr.To(true)}}
}

func res(cpu, mem string) corev1.ResourceList {
	l := corev1.ResourceList{}
	if cpu != "" {
		l[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		l[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return l
}

// podSpec has an init container, a native sidecar and an app container.
func podSpec() corev1.PodSpec {
	return corev1.PodSpec{
		InitContainers: []corev1.Container{
			{Name: "migrate", Image: "x", Resources: corev1.ResourceRequirements{Requests: res("100m", "64Mi")}},
			{Name: "proxy", Image: "x", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Resources: corev1.ResourceRequirements{Requests: res("50m", "32Mi"), Limits: res("", "64Mi")}},
		},
		Containers: []corev1.Container{{Name: "app", Image: "x", Resources: corev1.ResourceRequirements{
			Requests: res("250m", "256Mi"), Limits: res("1", "512Mi")}}},
	}
}

func template(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}}, Spec: podSpec()}
}

func selector(app string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
}

func (e *env) pod(name string, owners []metav1.OwnerReference, labels map[string]string) *corev1.Pod {
	e.t.Helper()
	p, err := e.c.CoreV1().Pods(e.ns).Create(e.ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners, Labels: labels},
		Spec:       podSpec(),
	}, metav1.CreateOptions{})
	require.NoError(e.t, err)
	return p
}

// deployment creates a Deployment with a ReplicaSet and pods as the
// controller manager would (the test cluster runs none).
func (e *env) deployment(name string, replicas int32, labels map[string]string) {
	e.t.Helper()
	_, err := e.c.AppsV1().Deployments(e.ns).Create(e.ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: selector(name), Template: template(name)},
	}, metav1.CreateOptions{})
	require.NoError(e.t, err)
	rs := name + "-5d4f8"
	_, err = e.c.AppsV1().ReplicaSets(e.ns).Create(e.ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: rs, OwnerReferences: owner(KindDeployment, name)},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas), Selector: selector(name), Template: template(name)},
	}, metav1.CreateOptions{})
	require.NoError(e.t, err)
	for i := range replicas {
		e.pod(fmt.Sprintf("%s-%d", rs, i), owner(KindReplicaSet, rs), map[string]string{"app": name})
	}
}

func wantContainers() []recommender.ContainerSpec {
	return []recommender.ContainerSpec{
		{Name: "migrate", Role: recommender.RoleInit, Requests: recommender.Amounts{CPU: 100, Memory: 64 * recommender.MiB}},
		{Name: "proxy", Role: recommender.RoleSidecar, Requests: recommender.Amounts{CPU: 50, Memory: 32 * recommender.MiB},
			Limits: recommender.Amounts{Memory: 64 * recommender.MiB}},
		{Name: "app", Role: recommender.RoleApp, Requests: recommender.Amounts{CPU: 250, Memory: 256 * recommender.MiB},
			Limits: recommender.Amounts{CPU: 1000, Memory: 512 * recommender.MiB}},
	}
}

func TestDiscoveryOwnerRollup(t *testing.T) {
	e := newEnv(t)
	e.deployment("web", 3, map[string]string{"team": "a"})
	_, err := e.c.AppsV1().StatefulSets(e.ns).Create(e.ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec:       appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2), Selector: selector("db"), Template: template("db")},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	e.pod("db-0", owner(KindStatefulSet, "db"), nil)
	_, err = e.c.BatchV1().CronJobs(e.ns).Create(e.ctx, &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly"},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{Spec: func() corev1.PodSpec {
				s := podSpec()
				s.RestartPolicy = corev1.RestartPolicyNever
				return s
			}()}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = e.c.BatchV1().Jobs(e.ns).Create(e.ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly-2901", OwnerReferences: owner(KindCronJob, "nightly")},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: func() corev1.PodSpec {
			s := podSpec()
			s.RestartPolicy = corev1.RestartPolicyNever
			return s
		}()}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	e.pod("nightly-2901-abcde", owner(KindJob, "nightly-2901"), nil)
	e.pod("debug", nil, nil)
	e.pod("canary-7f9c-1", []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "canary", UID: "u1", Controller: ptr.To(true)}}, nil)
	e.pod("canary-7f9c-2", []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "canary", UID: "u1", Controller: ptr.To(true)}}, nil)

	inv := newRecorder()
	d := e.start(inv, Options{})

	for _, tc := range []struct {
		kind, name string
		replicas   int32
		labels     map[string]string
	}{
		{KindDeployment, "web", 3, map[string]string{"team": "a"}},
		{KindStatefulSet, "db", 2, nil},
		{KindCronJob, "nightly", 1, nil},
		{KindPod, "debug", 1, nil},
		{"Rollout", "canary", 2, nil},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			w, ok := inv.get(e.key(tc.kind, tc.name))
			require.True(t, ok, "not inventoried; have %v", inv.keys())
			require.Equal(t, tc.replicas, w.Replicas)
			require.Equal(t, wantContainers(), w.Containers)
			if tc.labels != nil {
				require.Equal(t, tc.labels, w.Labels)
			}
		})
	}
	require.Len(t, inv.keys(), 5, "ReplicaSets and Jobs that belong to a controller are not workloads of their own")

	for _, tc := range []struct{ pod, kind, name string }{
		{"web-5d4f8-0", KindDeployment, "web"},
		{"db-0", KindStatefulSet, "db"},
		{"nightly-2901-abcde", KindCronJob, "nightly"},
		{"debug", KindPod, "debug"},
		{"canary-7f9c-1", "Rollout", "canary"},
	} {
		got, ok := d.WorkloadOf(e.ns, tc.pod)
		require.True(t, ok, tc.pod)
		require.Equal(t, e.key(tc.kind, tc.name), got, tc.pod)
	}
	_, ok := d.WorkloadOf(e.ns, "no-such-pod")
	require.False(t, ok)
	_, ok = d.WorkloadOf("other", "web-5d4f8-0")
	require.False(t, ok, "a namespace outside the scope is not known")

	// Changes flow through: a scale-up, then a delete.
	dep, err := e.c.AppsV1().Deployments(e.ns).Get(e.ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	dep.Spec.Replicas = ptr.To[int32](5)
	_, err = e.c.AppsV1().Deployments(e.ns).Update(e.ctx, dep, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		w, _ := inv.get(e.key(KindDeployment, "web"))
		return w.Replicas == 5
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, e.c.AppsV1().StatefulSets(e.ns).Delete(e.ctx, "db", metav1.DeleteOptions{}))
	require.Eventually(t, func() bool {
		_, ok := inv.get(e.key(KindStatefulSet, "db"))
		return !ok
	}, 10*time.Second, 10*time.Millisecond)
}

func TestDiscoveryAutoscalers(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"cpu-hpa", "mem-keda", "both", "none", "other-metric"} {
		e.deployment(name, 1, nil)
	}
	hpa := func(name, target string, metrics ...autoscalingv2.MetricSpec) {
		_, err := e.c.AutoscalingV2().HorizontalPodAutoscalers(e.ns).Create(e.ctx, &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: KindDeployment, Name: target},
				MinReplicas:    ptr.To[int32](1), MaxReplicas: 10, Metrics: metrics,
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	util := autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](70)}
	hpa("cpu-hpa", "cpu-hpa", autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: util}})
	hpa("both", "both", autoscalingv2.MetricSpec{Type: autoscalingv2.ContainerResourceMetricSourceType,
		ContainerResource: &autoscalingv2.ContainerResourceMetricSource{Name: corev1.ResourceMemory, Container: "app", Target: util}})
	hpa("other-metric", "other-metric", autoscalingv2.MetricSpec{Type: autoscalingv2.PodsMetricSourceType,
		Pods: &autoscalingv2.PodsMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "qps"},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("10"))}}})
	scaled := func(name, target string, triggers ...string) {
		var ts []any
		for _, tr := range triggers {
			ts = append(ts, map[string]any{"type": tr, "metricType": "Utilization", "metadata": map[string]any{"value": "60"}})
		}
		_, err := e.dyn.Resource(scaledObjects).Namespace(e.ns).Create(e.ctx, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
			"metadata": map[string]any{"name": name},
			"spec":     map[string]any{"scaleTargetRef": map[string]any{"name": target}, "triggers": ts},
		}}, metav1.CreateOptions{})
		require.NoError(t, err, "the real KEDA CRD accepts it")
	}
	scaled("mem-keda", "mem-keda", "memory")
	scaled("both-cpu", "both", "cpu")

	inv := newRecorder()
	e.start(inv, Options{})
	cpu := recommender.ResourceSet(0).With(recommender.ResourceCPU)
	mem := recommender.ResourceSet(0).With(recommender.ResourceMemory)
	for _, tc := range []struct {
		name string
		want recommender.ResourceSet
	}{
		{"cpu-hpa", cpu},
		{"mem-keda", mem},
		{"both", cpu | mem},
		{"none", 0},
		{"other-metric", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, ok := inv.get(e.key(KindDeployment, tc.name))
			require.True(t, ok)
			require.Equal(t, tc.want, w.AutoscaledOn)
		})
	}
	// Removing the autoscaler clears the flag.
	require.NoError(t, e.c.AutoscalingV2().HorizontalPodAutoscalers(e.ns).Delete(e.ctx, "cpu-hpa", metav1.DeleteOptions{}))
	require.Eventually(t, func() bool {
		w, _ := inv.get(e.key(KindDeployment, "cpu-hpa"))
		return w.AutoscaledOn == 0
	}, 10*time.Second, 10*time.Millisecond)
}

func TestDiscoveryScope(t *testing.T) {
	a, b := newEnv(t), newEnv(t)
	a.deployment("kept", 1, map[string]string{"tier": "web"})
	a.deployment("unlabelled", 1, nil)
	b.deployment("dropped", 1, map[string]string{"tier": "web"})
	for _, tc := range []struct {
		name string
		opts Options
		want []recommender.WorkloadKey
	}{
		{"include", Options{Namespaces: []string{a.ns}}, []recommender.WorkloadKey{
			a.key(KindDeployment, "kept"), a.key(KindDeployment, "unlabelled")}},
		{"selector", Options{Namespaces: []string{a.ns, b.ns}, Selector: "tier=web"}, []recommender.WorkloadKey{
			a.key(KindDeployment, "kept"), b.key(KindDeployment, "dropped")}},
		{"exclude", Options{Namespaces: []string{}, ExcludeNamespaces: []string{b.ns}, Selector: "tier=web", Cluster: ""}, []recommender.WorkloadKey{
			a.key(KindDeployment, "kept")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := newRecorder()
			a.start(inv, tc.opts)
			got := slices.DeleteFunc(inv.keys(), func(k recommender.WorkloadKey) bool {
				return k.Namespace != a.ns && k.Namespace != b.ns // other tests' namespaces
			})
			slices.SortFunc(got, func(x, y recommender.WorkloadKey) int { return compareKeys(x, y) })
			require.Equal(t, tc.want, got)
		})
	}
}

func compareKeys(a, b recommender.WorkloadKey) int {
	if a.Namespace != b.Namespace {
		if a.Namespace < b.Namespace {
			return -1
		}
		return 1
	}
	switch {
	case a.Name < b.Name:
		return -1
	case a.Name > b.Name:
		return 1
	}
	return 0
}

func TestDiscoveryOOM(t *testing.T) {
	e := newEnv(t)
	e.deployment("leaky", 1, nil)
	inv := newRecorder()
	e.start(inv, Options{Cluster: ""})
	p, err := e.c.CoreV1().Pods(e.ns).Get(e.ctx, "leaky-5d4f8-0", metav1.GetOptions{})
	require.NoError(t, err)
	at := metav1.NewTime(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "app", RestartCount: 1, Image: "x", ImageID: "x",
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			Reason: "OOMKilled", ExitCode: 137, FinishedAt: at, ContainerID: "containerd://1"}},
	}}
	p, err = e.c.CoreV1().Pods(e.ns).UpdateStatus(e.ctx, p, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		inv.mu.Lock()
		defer inv.mu.Unlock()
		return len(inv.ooms) == 1
	}, 10*time.Second, 10*time.Millisecond)
	// An unrelated status update of the same pod does not count it again.
	p.Status.Message = "still here"
	_, err = e.c.CoreV1().Pods(e.ns).UpdateStatus(e.ctx, p, metav1.UpdateOptions{})
	require.NoError(t, err)
	e.deployment("marker", 1, nil) // a later event through the same queue
	require.Eventually(t, func() bool {
		_, ok := inv.get(e.key(KindDeployment, "marker"))
		return ok
	}, 10*time.Second, 10*time.Millisecond)
	inv.mu.Lock()
	defer inv.mu.Unlock()
	require.Len(t, inv.ooms, 1)
	require.Equal(t, recommender.OOMEvent{
		Key:   recommender.ContainerKey{WorkloadKey: e.key(KindDeployment, "leaky"), Container: "app"},
		Time:  at.Local(),
		Limit: 512 * recommender.MiB,
	}, normalize(inv.ooms[0]))
}

func normalize(ev recommender.OOMEvent) recommender.OOMEvent {
	ev.Time = ev.Time.Local()
	return ev
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		ok   bool
	}{
		{"empty", Options{}, true},
		{"bad namespace", Options{Namespaces: []string{"Not_A_Label"}}, false},
		{"both", Options{Namespaces: []string{"a"}, ExcludeNamespaces: []string{"a"}}, false},
		{"bad selector", Options{Selector: "a in (b"}, false},
		{"negative workers", Options{Workers: -1}, false},
		{"fine", Options{Namespaces: []string{"a", "b"}, ExcludeNamespaces: []string{"c"}, Selector: "tier=web,env!=dev"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			require.Equal(t, tc.ok, err == nil, "err: %v", err)
		})
	}
}
