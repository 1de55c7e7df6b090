package pods

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/rightsizer/rightsizer/internal/kubetest"
	"github.com/rightsizer/rightsizer/kube/podspec"
	"github.com/rightsizer/rightsizer/recommender"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(kubetest.Wrap(m)) }

// env is one test's namespace and nodes in the shared API server. Node
// names are the test's own, so that no other test's pods are in scope.
type env struct {
	t     *testing.T
	ctx   context.Context
	cfg   *rest.Config
	admin kubernetes.Interface
	ns    string
	// gets counts the GETs of single Jobs and ReplicaSets in the test's
	// namespace, by resource ("jobs", "replicasets"), made by clients
	// from client().
	mu   sync.Mutex
	gets map[string]int
}

var seq atomic.Int32

func newEnv(t *testing.T) *env {
	t.Helper()
	cl := kubetest.Shared(t)
	admin, err := kubernetes.NewForConfig(cl.Config)
	require.NoError(t, err)
	e := &env{t: t, ctx: t.Context(), cfg: cl.Config, admin: admin, ns: fmt.Sprintf("pods-t%d", seq.Add(1)), gets: map[string]int{}}
	_, err = admin.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	return e
}

func (e *env) node(n string) string { return e.ns + "-" + n }

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// client returns a clientset acting as cfg (nil: the admin) whose GETs of
// one Job or ReplicaSet in the test's namespace are counted.
func (e *env) client(cfg *rest.Config) kubernetes.Interface {
	e.t.Helper()
	if cfg == nil {
		cfg = e.cfg
	}
	cfg = rest.CopyConfig(cfg)
	prefix := "/namespaces/" + e.ns + "/"
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodGet {
				if _, rest, ok := strings.Cut(req.URL.Path, prefix); ok {
					if res, name, ok := strings.Cut(rest, "/"); ok && name != "" && (res == "jobs" || res == "replicasets") {
						e.mu.Lock()
						e.gets[res]++
						e.mu.Unlock()
					}
				}
			}
			return rt.RoundTrip(req)
		})
	}
	c, err := kubernetes.NewForConfig(cfg)
	require.NoError(e.t, err)
	return c
}

func (e *env) getCount(res string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gets[res]
}

// start runs a resolver until the test ends and waits until it is ready.
func (e *env) start(c kubernetes.Interface, opts Options) *Resolver {
	e.t.Helper()
	r, err := New(c, opts)
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		require.NoError(e.t, <-done)
	})
	select {
	case <-r.Ready():
	case err := <-done:
		e.t.Fatalf("resolver stopped before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		e.t.Fatal("resolver not ready in 30s")
	}
	return r
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

// podSpec has an init container, a native sidecar and an app container
// with a GPU.
func podSpec(node string) corev1.PodSpec {
	return corev1.PodSpec{
		NodeName: node,
		InitContainers: []corev1.Container{
			{Name: "migrate", Image: "x", Resources: corev1.ResourceRequirements{Requests: res("100m", "64Mi")}},
			{Name: "proxy", Image: "x", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Resources: corev1.ResourceRequirements{Requests: res("50m", "32Mi"), Limits: res("", "64Mi")}},
		},
		Containers: []corev1.Container{{Name: "app", Image: "x", Resources: corev1.ResourceRequirements{
			Requests: res("250m", "256Mi"),
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi"), podspec.ResourceGPU: resource.MustParse("1")},
		}}},
		Volumes: []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
	}
}

func wantSpecs() []recommender.ContainerSpec {
	return []recommender.ContainerSpec{
		{Name: "migrate", Role: recommender.RoleInit, Requests: recommender.Amounts{CPU: 100, Memory: 64 * recommender.MiB}},
		{Name: "proxy", Role: recommender.RoleSidecar, Requests: recommender.Amounts{CPU: 50, Memory: 32 * recommender.MiB},
			Limits: recommender.Amounts{Memory: 64 * recommender.MiB}},
		// The API server defaults an extended resource's request to its limit.
		{Name: "app", Role: recommender.RoleApp, Requests: recommender.Amounts{CPU: 250, Memory: 256 * recommender.MiB, GPUCompute: 1},
			Limits: recommender.Amounts{CPU: 1000, Memory: 512 * recommender.MiB, GPUCompute: 1}},
	}
}

// ids are the container IDs, with their runtime's scheme, that a pod's
// status reports: "<pod>-<container>".
func ids(pod string) map[string]string {
	return map[string]string{
		"migrate": "containerd://" + pod + "-migrate",
		"proxy":   "cri-o://" + pod + "-proxy",
		"app":     "containerd://" + pod + "-app",
	}
}

func controller(apiVersion, kind, name string, uid types.UID) *metav1.OwnerReference {
	if uid == "" {
		uid = types.UID("uid-" + strings.ToLower(kind) + "-" + name)
	}
	return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: ptr.To(true)}
}

// pod creates a pod bound to node (no scheduler runs) and reports the
// container IDs of ids(name) in its status, as the kubelet would.
func (e *env) pod(name, node string, owner *metav1.OwnerReference, labels map[string]string) *corev1.Pod {
	e.t.Helper()
	m := metav1.ObjectMeta{Name: name, Labels: labels}
	if owner != nil {
		m.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	p, err := e.admin.CoreV1().Pods(e.ns).Create(e.ctx, &corev1.Pod{ObjectMeta: m, Spec: podSpec(node)}, metav1.CreateOptions{})
	require.NoError(e.t, err)
	id := ids(name)
	st := func(c string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: c, Image: "x", ImageID: "x", ContainerID: id[c]}
	}
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{st("migrate"), st("proxy")}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{st("app")}
	p, err = e.admin.CoreV1().Pods(e.ns).UpdateStatus(e.ctx, p, metav1.UpdateOptions{})
	require.NoError(e.t, err)
	return p
}

func (e *env) deletePod(name string) {
	e.t.Helper()
	// Grace period 0: no kubelet runs to confirm a graceful deletion.
	require.NoError(e.t, e.admin.CoreV1().Pods(e.ns).Delete(e.ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))
}

func (e *env) key(kind, name, container string) recommender.ContainerKey {
	return recommender.ContainerKey{WorkloadKey: recommender.WorkloadKey{Cluster: "prod", Namespace: e.ns, Kind: kind, Name: name}, Container: container}
}

// eventually polls cond until it holds, failing the test after a deadline.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	require.Eventually(e.t, cond, 30*time.Second, 10*time.Millisecond, what)
}

func resolves(r *Resolver, p *corev1.Pod, container string) func() bool {
	return func() bool {
		_, ok := r.Resolve(string(p.UID), ids(p.Name)[container])
		return ok
	}
}

func TestResolver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	nodeA, nodeB := e.node("a"), e.node("b")

	// Listed at start: pods of a Deployment, a StatefulSet, a DaemonSet,
	// a bare pod, a pod on the other node.
	web := e.pod("web-5d4f8b9c7-x2x9q", nodeA, controller("apps/v1", "ReplicaSet", "web-5d4f8b9c7", ""),
		map[string]string{"app": "web", podTemplateHashLabel: "5d4f8b9c7"})
	db := e.pod("db-0", nodeA, controller("apps/v1", "StatefulSet", "db", ""), nil)
	ds := e.pod("logs-7hx2k", nodeA, controller("apps/v1", "DaemonSet", "logs", ""), nil)
	bare := e.pod("debug", nodeA, nil, nil)
	elsewhere := e.pod("web-5d4f8b9c7-zz9kq", nodeB, controller("apps/v1", "ReplicaSet", "web-5d4f8b9c7", ""),
		map[string]string{podTemplateHashLabel: "5d4f8b9c7"})

	r := e.start(e.client(nil), Options{NodeName: nodeA, Cluster: "prod"})

	for _, tc := range []struct {
		pod  *corev1.Pod
		kind string
		name string
	}{
		{web, "Deployment", "web"},
		{db, "StatefulSet", "db"},
		{ds, "DaemonSet", "logs"},
		{bare, "Pod", "debug"},
	} {
		for _, c := range []string{"migrate", "proxy", "app"} {
			got, ok := r.Resolve(string(tc.pod.UID), ids(tc.pod.Name)[c])
			require.True(t, ok, "%s/%s", tc.pod.Name, c)
			require.Equal(t, e.key(tc.kind, tc.name, c), got)
			got, ok = r.ResolvePod(e.ns, tc.pod.Name, c)
			require.True(t, ok, "%s/%s", tc.pod.Name, c)
			require.Equal(t, e.key(tc.kind, tc.name, c), got)
		}
		p, ok := r.Pod(string(tc.pod.UID))
		require.True(t, ok)
		require.Equal(t, Pod{Namespace: e.ns, Name: tc.pod.Name, UID: tc.pod.UID, Workload: e.key(tc.kind, tc.name, "").WorkloadKey,
			Containers: wantSpecs()}, p)
	}
	// The Deployment's pods roll up without reading the ReplicaSet.
	require.Zero(t, e.getCount("replicasets"))

	t.Run("spellings", func(t *testing.T) {
		app := ids(web.Name)["app"]
		// The systemd cgroup driver's UID, an ID without its scheme, any pod.
		for _, uid := range []string{strings.ReplaceAll(string(web.UID), "-", "_"), ""} {
			got, ok := r.Resolve(uid, strings.TrimPrefix(app, "containerd://"))
			require.True(t, ok, uid)
			require.Equal(t, e.key("Deployment", "web", "app"), got)
		}
		c, ok := r.Container(string(web.UID), app)
		require.True(t, ok)
		require.Equal(t, Container{Key: e.key("Deployment", "web", "app"), Pod: web.Name, PodUID: web.UID, Spec: wantSpecs()[2]}, c)
	})

	t.Run("misses", func(t *testing.T) {
		for _, tc := range []struct{ name, uid, id string }{
			{"another pod's container", string(db.UID), ids(web.Name)["app"]},
			{"unknown container (a sandbox)", string(web.UID), "containerd://pause"},
			{"no container ID", string(web.UID), ""},
			{"pod on another node", string(elsewhere.UID), ids(elsewhere.Name)["app"]},
			{"unknown pod", "0b7d2a7e-0000-4000-8000-000000000000", ids(web.Name)["app"]},
		} {
			_, ok := r.Resolve(tc.uid, tc.id)
			require.False(t, ok, tc.name)
		}
		for _, tc := range []struct{ name, pod, container string }{
			{"pod on another node", elsewhere.Name, "app"},
			{"unknown container", web.Name, "nope"},
		} {
			_, ok := r.ResolvePod(e.ns, tc.pod, tc.container)
			require.False(t, ok, tc.name)
		}
		_, ok := r.Pod(string(elsewhere.UID))
		require.False(t, ok)
	})

	t.Run("other node", func(t *testing.T) {
		rb := e.start(e.client(nil), Options{NodeName: nodeB, Cluster: "prod"})
		got, ok := rb.Resolve(string(elsewhere.UID), ids(elsewhere.Name)["app"])
		require.True(t, ok)
		require.Equal(t, e.key("Deployment", "web", "app"), got)
		_, ok = rb.Resolve(string(web.UID), ids(web.Name)["app"])
		require.False(t, ok)
	})

	t.Run("watched", func(t *testing.T) {
		// Created after the start: a controller the resolver has no rule
		// for, and a restart that leaves the last container's ID behind.
		wf := e.pod("etl-step-1", nodeA, controller("argoproj.io/v1alpha1", "Workflow", "etl", ""), nil)
		e.eventually("workflow pod", resolves(r, wf, "app"))
		got, _ := r.Resolve(string(wf.UID), ids(wf.Name)["app"])
		require.Equal(t, e.key("Workflow", "etl", "app"), got)

		p, err := e.admin.CoreV1().Pods(e.ns).Get(e.ctx, wf.Name, metav1.GetOptions{})
		require.NoError(t, err)
		p.Status.ContainerStatuses[0].ContainerID = "containerd://etl-step-1-app-2"
		p.Status.ContainerStatuses[0].RestartCount = 1
		p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
			ExitCode: 137, Reason: "OOMKilled", ContainerID: ids(wf.Name)["app"]}
		_, err = e.admin.CoreV1().Pods(e.ns).UpdateStatus(e.ctx, p, metav1.UpdateOptions{})
		require.NoError(t, err)
		e.eventually("restarted container", func() bool {
			_, ok := r.Resolve(string(wf.UID), "containerd://etl-step-1-app-2")
			return ok
		})
		got, ok := r.Resolve(string(wf.UID), ids(wf.Name)["app"])
		require.True(t, ok, "the last terminated container still resolves")
		require.Equal(t, e.key("Workflow", "etl", "app"), got)
	})

	t.Run("ephemeral container", func(t *testing.T) {
		p, err := e.admin.CoreV1().Pods(e.ns).Get(e.ctx, bare.Name, metav1.GetOptions{})
		require.NoError(t, err)
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debugger", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile}}}
		p, err = e.admin.CoreV1().Pods(e.ns).UpdateEphemeralContainers(e.ctx, p.Name, p, metav1.UpdateOptions{})
		require.NoError(t, err)
		p.Status.EphemeralContainerStatuses = []corev1.ContainerStatus{{Name: "debugger", Image: "busybox", ImageID: "x", ContainerID: "containerd://debugger-1"}}
		_, err = e.admin.CoreV1().Pods(e.ns).UpdateStatus(e.ctx, p, metav1.UpdateOptions{})
		require.NoError(t, err)
		e.eventually("ephemeral container", func() bool {
			_, ok := r.Resolve(string(bare.UID), "containerd://debugger-1")
			return ok
		})
		c, ok := r.Container(string(bare.UID), "containerd://debugger-1")
		require.True(t, ok)
		require.Equal(t, Container{Key: e.key("Pod", "debug", "debugger"), Pod: "debug", PodUID: bare.UID,
			Spec: recommender.ContainerSpec{Name: "debugger"}, Ephemeral: true}, c)
		pod, ok := r.Pod(string(bare.UID))
		require.True(t, ok)
		require.Equal(t, wantSpecs(), pod.Containers, "ephemeral containers are not the pod's")
	})

	t.Run("deletion forgets", func(t *testing.T) {
		e.deletePod(ds.Name)
		e.eventually("deleted pod forgotten", func() bool { return !resolves(r, ds, "app")() })
		_, ok := r.ResolvePod(e.ns, ds.Name, "app")
		require.False(t, ok)
		_, ok = r.Pod(string(ds.UID))
		require.False(t, ok)
		r.mu.RLock()
		defer r.mu.RUnlock()
		for id, c := range r.byID {
			require.NotEqual(t, ds.UID, c.pod.uid, "container %s of the deleted pod still indexed", id)
		}
	})

	t.Run("recreated under the same name", func(t *testing.T) {
		e.deletePod(db.Name)
		db2 := e.pod(db.Name, nodeA, controller("apps/v1", "StatefulSet", "db", ""), nil)
		e.eventually("new pod", func() bool { _, ok := r.Pod(string(db2.UID)); return ok })
		_, ok := r.Pod(string(db.UID))
		require.False(t, ok)
	})
}

// Jobs and ReplicaSets that are not a Deployment's are read once per
// owner, and forgotten with their last pod.
func TestResolverOwnerLookups(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := e.node("a")
	r := e.start(e.client(nil), Options{NodeName: node, Cluster: "prod"})

	cj, err := e.admin.BatchV1().CronJobs(e.ns).Create(e.ctx, &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly"},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "app", Image: "x"}}}},
		}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	job := func(name string, owner *metav1.OwnerReference) *batchv1.Job {
		m := metav1.ObjectMeta{Name: name}
		if owner != nil {
			m.OwnerReferences = []metav1.OwnerReference{*owner}
		}
		j, err := e.admin.BatchV1().Jobs(e.ns).Create(e.ctx, &batchv1.Job{ObjectMeta: m, Spec: cj.Spec.JobTemplate.Spec}, metav1.CreateOptions{})
		require.NoError(t, err)
		return j
	}
	nightly := job("nightly-29417580", controller("batch/v1", "CronJob", cj.Name, cj.UID))
	once := job("backfill", nil)
	jobRef := func(j *batchv1.Job) *metav1.OwnerReference { return controller("batch/v1", "Job", j.Name, j.UID) }

	rs := func(name string, owner *metav1.OwnerReference) *appsv1.ReplicaSet {
		m := metav1.ObjectMeta{Name: name}
		if owner != nil {
			m.OwnerReferences = []metav1.OwnerReference{*owner}
		}
		sel := map[string]string{"app": name}
		o, err := e.admin.AppsV1().ReplicaSets(e.ns).Create(e.ctx, &appsv1.ReplicaSet{ObjectMeta: m, Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x"}}}},
		}}, metav1.CreateOptions{})
		require.NoError(t, err)
		return o
	}
	// A ReplicaSet of an Argo Rollout: its pods carry
	// rollouts-pod-template-hash, not pod-template-hash.
	rollout := rs("canary-6f7c8d9b5", controller("argoproj.io/v1alpha1", "Rollout", "canary", ""))
	legacy := rs("legacy", nil)
	rsRef := func(o *appsv1.ReplicaSet) *metav1.OwnerReference {
		return controller("apps/v1", "ReplicaSet", o.Name, o.UID)
	}

	n1 := e.pod("nightly-29417580-a", node, jobRef(nightly), nil)
	b1 := e.pod("backfill-q8v2x", node, jobRef(once), nil)
	c1 := e.pod("canary-6f7c8d9b5-k2j4p", node, rsRef(rollout), map[string]string{"rollouts-pod-template-hash": "6f7c8d9b5"})
	l1 := e.pod("legacy-m3n4b", node, rsRef(legacy), nil)
	// A pod whose Job is gone (its owner reference dangles) stays
	// unresolved rather than inventing a workload.
	g1 := e.pod("gone-1", node, controller("batch/v1", "Job", "gone", ""), nil)

	for _, tc := range []struct {
		pod        *corev1.Pod
		kind, name string
	}{
		{n1, "CronJob", "nightly"},
		{b1, "Job", "backfill"},
		{c1, "Rollout", "canary"},
		{l1, "ReplicaSet", "legacy"},
	} {
		e.eventually(tc.pod.Name, resolves(r, tc.pod, "app"))
		got, _ := r.Resolve(string(tc.pod.UID), ids(tc.pod.Name)["app"])
		require.Equal(t, e.key(tc.kind, tc.name, "app"), got)
		got, ok := r.ResolvePod(e.ns, tc.pod.Name, "proxy")
		require.True(t, ok)
		require.Equal(t, e.key(tc.kind, tc.name, "proxy"), got)
	}
	e.eventually("gone job read", func() bool {
		r.mu.RLock()
		defer r.mu.RUnlock()
		o := r.owners[g1.OwnerReferences[0].UID]
		return o != nil && o.state == ownerGone
	})
	require.False(t, resolves(r, g1, "app")())
	require.Equal(t, 3, e.getCount("jobs"))
	require.Equal(t, 2, e.getCount("replicasets"))

	// The second pod of a Job costs no GET.
	n2 := e.pod("nightly-29417580-b", node, jobRef(nightly), nil)
	e.eventually(n2.Name, resolves(r, n2, "app"))
	got, _ := r.Resolve(string(n2.UID), ids(n2.Name)["migrate"])
	require.Equal(t, e.key("CronJob", "nightly", "migrate"), got)
	require.Equal(t, 3, e.getCount("jobs"))

	// Once the Job's last pod is gone, so is its cache entry: a later pod
	// reads the Job again.
	e.deletePod(n1.Name)
	e.deletePod(n2.Name)
	e.eventually("job forgotten", func() bool {
		r.mu.RLock()
		defer r.mu.RUnlock()
		return r.owners[nightly.UID] == nil
	})
	n3 := e.pod("nightly-29417580-c", node, jobRef(nightly), nil)
	e.eventually(n3.Name, resolves(r, n3, "app"))
	require.Equal(t, 4, e.getCount("jobs"))
}

// A failed GET (here: forbidden) is retried with backoff until it works.
func TestResolverOwnerRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := e.node("a")
	user := e.ns + "-agent"
	cfg, err := kubetest.Shared(t).AddUser(user)
	require.NoError(t, err)
	rbac := e.admin.RbacV1()
	_, err = rbac.ClusterRoles().Create(e.ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = rbac.ClusterRoleBindings().Create(e.ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx := context.Background() // the test's context is done by now
		_ = rbac.ClusterRoleBindings().Delete(ctx, user, metav1.DeleteOptions{})
		_ = rbac.ClusterRoles().Delete(ctx, user, metav1.DeleteOptions{})
	})
	r := e.start(e.client(cfg), Options{NodeName: node, Cluster: "prod"})

	j, err := e.admin.BatchV1().Jobs(e.ns).Create(e.ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "once"}, Spec: batchv1.JobSpec{
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "app", Image: "x"}}}},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)
	p := e.pod("once-abcde", node, controller("batch/v1", "Job", j.Name, j.UID), nil)
	e.eventually("a forbidden GET", func() bool { return e.getCount("jobs") >= 1 })
	require.False(t, resolves(r, p, "app")())

	_, err = rbac.Roles(e.ns).Create(e.ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "jobs"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get"}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = rbac.RoleBindings(e.ns).Create(e.ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "jobs"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "jobs"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	e.eventually("resolved after the retry", resolves(r, p, "app"))
	got, _ := r.Resolve(string(p.UID), ids(p.Name)["app"])
	require.Equal(t, e.key("Job", "once", "app"), got)
}
