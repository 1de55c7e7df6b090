package vpastatus

import (
	"context"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"
	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned/fake"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/rightsizer/rightsizer/internal/kubetest"
	"github.com/rightsizer/rightsizer/recommender"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// requestLog records the requests a client sends, as "METHOD path".
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (l *requestLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

// count returns how many requests match method and contain path.
func (l *requestLog) count(method, path string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.reqs {
		m, p, _ := strings.Cut(r, " ")
		if m == method && strings.Contains(p, path) {
			n++
		}
	}
	return n
}

// touching returns the requests whose path names the VPA.
func (l *requestLog) touching(name string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.reqs {
		if strings.Contains(r, "/verticalpodautoscalers/"+name) {
			out = append(out, r)
		}
	}
	return out
}

// eventually polls cond until it holds, failing the test at the deadline.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) { return cond() })
	require.NoError(t, err, "waiting for %s", what)
}

// feed ingests one sample a minute for d from start, CPU around cpu
// millicores and memory around mem bytes, with deterministic noise.
func feed(t *testing.T, e *recommender.Engine, k recommender.ContainerKey, start time.Time, d time.Duration, cpu recommender.MilliCPU, mem recommender.Bytes, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 42))
	var batch []recommender.Sample
	for ts := start; ts.Before(start.Add(d)); ts = ts.Add(time.Minute) {
		batch = append(batch, recommender.Sample{Key: k, Time: ts, Usage: recommender.Usage{
			CPU:    cpu + recommender.MilliCPU(rng.IntN(int(cpu)/2)),
			Memory: mem + recommender.Bytes(rng.Int64N(int64(mem)/10)),
			Has:    recommender.ResourceSet(0).With(recommender.ResourceCPU).With(recommender.ResourceMemory),
		}})
	}
	require.NoError(t, e.Ingest(batch))
}

// expected is what the writer must write for r, from the rules on
// vpaAmounts, restated here from the Recommendation's fields.
func expected(r recommender.Recommendation) map[corev1.ResourceName][4]int64 {
	upper := func(ub, lim int64) int64 {
		if lim > 0 {
			return min(ub, lim)
		}
		return ub
	}
	return map[corev1.ResourceName][4]int64{
		corev1.ResourceCPU: {int64(r.CPU.Request), int64(r.CPU.LowerBound),
			upper(int64(r.CPU.UpperBound), int64(r.CPU.Limit)), int64(r.CPU.Uncapped)},
		corev1.ResourceMemory: {int64(r.Memory.Request), int64(r.Memory.LowerBound),
			upper(int64(r.Memory.UpperBound), int64(r.Memory.Limit)), int64(r.Memory.Uncapped)},
	}
}

func newVPA(name, target string, recommenders ...string) *vpav1.VerticalPodAutoscaler {
	vpa := &vpav1.VerticalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: vpav1.VerticalPodAutoscalerSpec{
			TargetRef:    &autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			UpdatePolicy: &vpav1.PodUpdatePolicy{UpdateMode: ptr.To(vpav1.UpdateModeOff)},
		},
	}
	for _, r := range recommenders {
		vpa.Spec.Recommenders = append(vpa.Spec.Recommenders, &vpav1.VerticalPodAutoscalerRecommenderSelector{Name: r})
	}
	return vpa
}

func deployment(name string, containers ...string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}},
		},
	}
	for _, c := range containers {
		d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{
			Name: c, Image: "example.invalid/" + c,
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi"),
			}},
		})
	}
	return d
}

func TestWriter(t *testing.T) {
	cl := kubetest.Shared(t)
	ctx := t.Context()
	kc, err := kubernetes.NewForConfig(cl.Config)
	require.NoError(t, err)
	admin, err := versioned.NewForConfig(cl.Config) // the test's own requests, not counted
	require.NoError(t, err)
	// A namespace of its own in the shared API server, new on every run.
	nsObj, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "vpastatus-"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	ns := nsObj.Name
	for _, d := range []*appsv1.Deployment{deployment("web", "app", "proxy"), deployment("young", "app")} {
		_, err = kc.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
		require.NoError(t, err)
	}

	// The engine: two days of usage for web's two containers, an hour for
	// young's (less than the default profile's MinHistory).
	eng, err := recommender.NewEngine(recommender.DefaultOptions())
	require.NoError(t, err)
	web := recommender.WorkloadKey{Namespace: ns, Kind: "Deployment", Name: "web"}
	young := recommender.WorkloadKey{Namespace: ns, Kind: "Deployment", Name: "young"}
	req := recommender.Amounts{CPU: 1000, Memory: recommender.GiB}
	require.NoError(t, eng.UpsertWorkload(recommender.Workload{Key: web, Replicas: 2, Containers: []recommender.ContainerSpec{
		{Name: "app", Requests: req}, {Name: "proxy", Requests: req},
	}}))
	require.NoError(t, eng.UpsertWorkload(recommender.Workload{Key: young, Replicas: 2, Containers: []recommender.ContainerSpec{{Name: "app", Requests: req}}}))
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	feed(t, eng, recommender.ContainerKey{WorkloadKey: web, Container: "app"}, start, 48*time.Hour, 200, 300*recommender.MiB, 1)
	feed(t, eng, recommender.ContainerKey{WorkloadKey: web, Container: "proxy"}, start, 48*time.Hour, 20, 40*recommender.MiB, 2)
	feed(t, eng, recommender.ContainerKey{WorkloadKey: young, Container: "app"}, start.Add(47*time.Hour), time.Hour, 100, 100*recommender.MiB, 3)

	// The VPAs: three name rightsizer, two belong to other recommenders.
	capped := newVPA("capped", "web", "rightsizer")
	capped.Spec.ResourcePolicy = &vpav1.PodResourcePolicy{ContainerPolicies: []vpav1.ContainerResourcePolicy{
		{ContainerName: "app", MaxAllowed: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
		{ContainerName: "proxy", ControlledResources: &[]corev1.ResourceName{corev1.ResourceMemory}},
	}}
	vpas := []*vpav1.VerticalPodAutoscaler{
		newVPA("ours", "web", "rightsizer"),
		capped,
		newVPA("young", "young", "rightsizer"),
		newVPA("ghost", "ghost", "rightsizer"),
		newVPA("theirs", "web", "default"),
		newVPA("implicit", "web"),
	}
	for _, v := range vpas {
		_, err := admin.AutoscalingV1().VerticalPodAutoscalers(ns).Create(ctx, v, metav1.CreateOptions{})
		require.NoError(t, err)
	}

	// The writer, through a client whose requests are logged.
	var log requestLog
	cfg := rest.CopyConfig(cl.Config)
	cfg.WrapTransport = log.wrap
	client, err := versioned.NewForConfig(cfg)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	opts := DefaultOptions()
	opts.Namespaces = []string{ns}
	opts.Interval = 20 * time.Millisecond
	opts.MinChange = 0 // prove idempotence on exact equality
	opts.QPS, opts.Burst = 100, 10
	opts.Registerer = reg
	w, err := New(client, eng, opts)
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	get := func(name string) *vpav1.VerticalPodAutoscaler {
		v, err := admin.AutoscalingV1().VerticalPodAutoscalers(ns).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		return v
	}
	// update changes a VPA's spec; the writer patches its status
	// meanwhile, so a conflict is retried on a fresh copy.
	update := func(t *testing.T, name string, change func(*vpav1.VerticalPodAutoscaler)) {
		t.Helper()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			v := get(name)
			change(v)
			_, err := admin.AutoscalingV1().VerticalPodAutoscalers(ns).Update(ctx, v, metav1.UpdateOptions{})
			return err
		})
		require.NoError(t, err)
	}
	provided := func(name string) func() (bool, error) {
		return func() (bool, error) {
			_, ok := conditions(&get(name).Status)[vpav1.RecommendationProvided]
			return ok, nil
		}
	}
	for _, name := range []string{"ours", "capped", "young", "ghost"} {
		eventually(t, "status of "+name, provided(name))
	}

	recs, err := eng.Workload(web)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	app, proxy := expected(recs[0]), expected(recs[1])
	t.Logf("app: %+v (flags %v)", app, recs[0].Flags)
	t.Logf("proxy: %+v", proxy)

	t.Run("written from the engine", func(t *testing.T) {
		st := get("ours").Status
		require.Equal(t, summary{"app": app, "proxy": proxy}, summarize(&st))
		require.Equal(t, map[vpav1.VerticalPodAutoscalerConditionType]string{vpav1.RecommendationProvided: "True/"}, conditions(&st))
		require.Equal(t, get("ours").Generation, *st.ObservedGeneration)
	})
	t.Run("resource policy applied", func(t *testing.T) {
		st := get("capped").Status
		cappedApp := app
		cpu := cappedApp[corev1.ResourceCPU]
		require.Greater(t, cpu[0], int64(100), "the test's cap must bind")
		cappedApp[corev1.ResourceCPU] = [4]int64{100, min(cpu[1], 100), 100, cpu[3]} // uncapped stays
		require.Equal(t, summary{
			"app":   cappedApp,
			"proxy": {corev1.ResourceMemory: proxy[corev1.ResourceMemory]},
		}, summarize(&st))
	})
	t.Run("low confidence", func(t *testing.T) {
		st := get("young").Status
		require.NotNil(t, st.Recommendation)
		require.Equal(t, map[vpav1.VerticalPodAutoscalerConditionType]string{
			vpav1.RecommendationProvided: "True/", vpav1.LowConfidence: "True/" + ReasonInsufficientHistory,
		}, conditions(&st))
	})
	t.Run("no data", func(t *testing.T) {
		st := get("ghost").Status
		require.Nil(t, st.Recommendation)
		require.Equal(t, map[vpav1.VerticalPodAutoscalerConditionType]string{vpav1.RecommendationProvided: "False/" + ReasonNoUsageData}, conditions(&st))
	})

	// Idempotence: further loops over unchanged recommendations write
	// nothing. Every loop evaluates the four VPAs that name rightsizer.
	patches := log.count(http.MethodPatch, "/status")
	require.Equal(t, 4, patches, "one write per VPA: %v", log.reqs)
	unchanged := testutil.ToFloat64(w.metrics.syncs.WithLabelValues("unchanged"))
	eventually(t, "five more loops", func() (bool, error) {
		return testutil.ToFloat64(w.metrics.syncs.WithLabelValues("unchanged")) >= unchanged+5*4, nil
	})
	require.Equal(t, patches, log.count(http.MethodPatch, "/status"))

	t.Run("other recommenders' VPAs untouched", func(t *testing.T) {
		for _, name := range []string{"theirs", "implicit"} {
			v := get(name)
			require.Equal(t, vpav1.VerticalPodAutoscalerStatus{}, v.Status, name)
			require.Empty(t, log.touching(name))
		}
	})

	t.Run("new usage is written", func(t *testing.T) {
		feed(t, eng, recommender.ContainerKey{WorkloadKey: web, Container: "app"}, start.Add(48*time.Hour), 24*time.Hour, 900, 300*recommender.MiB, 4)
		recs, err := eng.Workload(web)
		require.NoError(t, err)
		want := expected(recs[0])
		require.NotEqual(t, app, want)
		eventually(t, "the new numbers", func() (bool, error) {
			st := get("ours").Status
			return summarize(&st)["app"][corev1.ResourceCPU] == want[corev1.ResourceCPU], nil
		})
	})

	t.Run("spec changes are written", func(t *testing.T) {
		update(t, "capped", func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.ResourcePolicy.ContainerPolicies[0].MaxAllowed[corev1.ResourceCPU] = resource.MustParse("50m")
		})
		eventually(t, "the new cap", func() (bool, error) {
			v := get("capped")
			st := v.Status
			return summarize(&st)["app"][corev1.ResourceCPU][0] == 50 && *st.ObservedGeneration == v.Generation, nil
		})
	})

	t.Run("a VPA leaving rightsizer is no longer written", func(t *testing.T) {
		update(t, "young", func(v *vpav1.VerticalPodAutoscaler) {
			v.Spec.Recommenders = []*vpav1.VerticalPodAutoscalerRecommenderSelector{{Name: "default"}}
		})
		// Wait until the writer's cache has seen the change: from then on,
		// loops evaluate three VPAs, not four.
		eventually(t, "the cache to drop young", func() (bool, error) {
			got, err := w.lister(ns).VerticalPodAutoscalers(ns).Get("young")
			return err == nil && !selects(got, "rightsizer"), nil
		})
		syncs := func() float64 {
			return testutil.ToFloat64(w.metrics.syncs.WithLabelValues("unchanged")) + testutil.ToFloat64(w.metrics.syncs.WithLabelValues("written"))
		}
		loops := func(k int) {
			n := syncs()
			eventually(t, "more loops", func() (bool, error) { return syncs() >= n+float64(k*3), nil })
		}
		loops(2) // an evaluation that read the cache before the change has ended
		before := len(log.touching("young"))
		feed(t, eng, recommender.ContainerKey{WorkloadKey: young, Container: "app"}, start.Add(48*time.Hour), 24*time.Hour, 900, 300*recommender.MiB, 5)
		loops(5)
		require.Len(t, log.touching("young"), before, "new usage of a VPA that left must not be written")
	})

	require.Zero(t, testutil.ToFloat64(w.metrics.syncs.WithLabelValues("error")))
	require.True(t, slices.ContainsFunc(log.reqs, func(r string) bool {
		return strings.HasPrefix(r, "GET ") && strings.Contains(r, "verticalpodautoscalers")
	}),
		"the writer lists VPAs: %v", log.reqs)
}

// TestForget checks that what the writer remembers of its own writes goes
// with the VPA: on deletion (also as a tombstone) and when it stops naming
// rightsizer.
func TestForget(t *testing.T) {
	t.Parallel()
	eng, err := recommender.NewEngine(recommender.DefaultOptions())
	require.NoError(t, err)
	w, err := New(fake.NewSimpleClientset(), eng, DefaultOptions())
	require.NoError(t, err)
	vpa := newVPA("a", "web", "rightsizer")
	vpa.Namespace = "ns"
	remember := func() {
		w.mu.Lock()
		w.written["ns/a"] = writtenStatus{staleVersion: "1"}
		w.mu.Unlock()
	}
	remembered := func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		_, ok := w.written["ns/a"]
		return ok
	}
	remember()
	w.onDelete(vpa)
	require.False(t, remembered())
	remember()
	w.onDelete(cache.DeletedFinalStateUnknown{Key: "ns/a", Obj: vpa})
	require.False(t, remembered())
	// A cache that moved past the write is believed.
	remember()
	vpa.ResourceVersion = "2"
	require.Same(t, vpa, w.latest("ns/a", vpa))
	require.False(t, remembered())
}
