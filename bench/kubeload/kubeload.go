// Package kubeload measures Kubernetes discovery against a real API
// server: how long discovery takes to a complete inventory of a cluster of
// a given size, and how many API requests (and bytes) it costs, at start
// and in steady state while pods churn, against a list-per-loop baseline
// (what a recommender that re-lists the cluster every loop pays).
package kubeload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/rightsizer/rightsizer/bench/internal/stats"
	"github.com/rightsizer/rightsizer/kube"
	"github.com/rightsizer/rightsizer/recommender"
)

// Config sizes the run.
type Config struct {
	Pods            int           // pods in the cluster
	PodsPerWorkload int           // pods per Deployment
	Namespaces      int           // spread over this many namespaces
	Runs            int           // discovery starts timed; the median is reported
	Steady          time.Duration // steady-state window, with churn
	ChurnPerMin     float64       // fraction of pods whose status changes per minute in that window
}

// DefaultConfig is the 5,000 pods.
func DefaultConfig() Config {
	return Config{Pods: 5000, PodsPerWorkload: 10, Namespaces: 10, Runs: 3, Steady: 60 * time.Second, ChurnPerMin: 0.05}
}

// Result is what bench/out/kube.json holds.
type Result struct {
	Pods      int `json:"pods"`
	Workloads int `json:"workloads"`
	// InventorySeconds is the median time from starting discovery to its
	// first complete inventory.
	InventorySeconds []float64 `json:"inventory_seconds_runs"`
	InventoryMedian  float64   `json:"inventory_seconds"`
	// StartRequests are the API requests discovery made to get there
	// (lists and the watches that follow them), median over the runs.
	StartRequests int   `json:"start_requests"`
	StartBytes    int64 `json:"start_bytes"`
	// Steady state: requests per minute over the window, while
	// ChurnPerMin of the pods changed status per minute.
	SteadySeconds        float64 `json:"steady_window_seconds"`
	SteadyRequestsPerMin float64 `json:"steady_requests_per_min"`
	SteadyBytesPerMin    float64 `json:"steady_bytes_per_min"`
	RequestsPerPodPerMin float64 `json:"steady_requests_per_pod_per_min"`
	PodUpdatesPerMin     float64 `json:"pod_updates_per_min"`
	// Baseline: one loop of "list every pod, ReplicaSet and controller",
	// as a recommender that re-lists per loop does, measured once; per
	// minute at one loop a minute.
	BaselineRequestsPerMin float64 `json:"baseline_list_loop_requests_per_min"`
	BaselineBytesPerMin    float64 `json:"baseline_list_loop_bytes_per_min"`
	BytesRatio             float64 `json:"steady_bytes_vs_baseline"`
}

// counter counts the requests and response bytes of a client.
type counter struct {
	requests atomic.Int64
	bytes    atomic.Int64
}

func (c *counter) wrap(cfg *rest.Config) *rest.Config {
	cp := rest.CopyConfig(cfg)
	cp.QPS, cp.Burst = 1000, 2000
	cp.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			c.requests.Add(1)
			resp, err := rt.RoundTrip(r)
			if resp != nil && resp.Body != nil {
				resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.bytes}
			}
			return resp, err
		})
	})
	return cp
}

func (c *counter) read() (int64, int64) { return c.requests.Load(), c.bytes.Load() }

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// nopInventory discards what discovery finds but counts workloads.
type nopInventory struct {
	mu        sync.Mutex
	workloads map[recommender.WorkloadKey]struct{}
}

func (n *nopInventory) UpsertWorkload(w recommender.Workload) error {
	n.mu.Lock()
	n.workloads[w.Key] = struct{}{}
	n.mu.Unlock()
	return nil
}
func (n *nopInventory) DeleteWorkload(recommender.WorkloadKey) {}
func (n *nopInventory) RecordOOM(recommender.OOMEvent) error   { return nil }
func (n *nopInventory) len() int                               { n.mu.Lock(); defer n.mu.Unlock(); return len(n.workloads) }

// Run populates the cluster behind admin (a fresh one: it creates
// namespaces named load-N) and measures discovery.
func Run(ctx context.Context, admin *rest.Config, cfg Config, log *slog.Logger) (Result, error) {
	if cfg.Pods <= 0 || cfg.PodsPerWorkload <= 0 || cfg.Namespaces <= 0 || cfg.Runs <= 0 {
		return Result{}, fmt.Errorf("kubeload: pods, pods per workload, namespaces and runs must be positive: %+v", cfg)
	}
	var setup counter
	client, err := kubernetes.NewForConfig(setup.wrap(admin))
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	pods, err := populate(ctx, client, cfg)
	if err != nil {
		return Result{}, err
	}
	log.Info("cluster populated", "pods", len(pods), "seconds", time.Since(start).Seconds())

	res := Result{Pods: len(pods)}
	var reqs []float64
	var bytes []float64
	for i := range cfg.Runs {
		var c counter
		inv := &nopInventory{workloads: map[recommender.WorkloadKey]struct{}{}}
		secs, stop, err := startDiscovery(ctx, c.wrap(admin), inv)
		if err != nil {
			return Result{}, err
		}
		r, b := c.read()
		res.InventorySeconds = append(res.InventorySeconds, secs)
		reqs, bytes = append(reqs, float64(r)), append(bytes, float64(b))
		res.Workloads = inv.len()
		log.Info("inventory complete", "run", i, "seconds", secs, "requests", r, "bytes", b, "workloads", res.Workloads)
		if i < cfg.Runs-1 {
			if err := stop(); err != nil {
				return Result{}, err
			}
			continue
		}
		// The last run stays up for the steady-state window.
		r0, b0 := c.read()
		updates, err := churn(ctx, client, pods, cfg)
		if err := errors.Join(err, stop()); err != nil {
			return Result{}, err
		}
		r1, b1 := c.read()
		mins := cfg.Steady.Minutes()
		res.SteadySeconds = cfg.Steady.Seconds()
		res.SteadyRequestsPerMin = float64(r1-r0) / mins
		res.SteadyBytesPerMin = float64(b1-b0) / mins
		res.RequestsPerPodPerMin = res.SteadyRequestsPerMin / float64(len(pods))
		res.PodUpdatesPerMin = float64(updates) / mins
	}
	res.InventoryMedian = stats.Median(res.InventorySeconds)
	res.StartRequests, res.StartBytes = int(stats.Median(reqs)), int64(stats.Median(bytes))

	var base counter
	bc, err := kubernetes.NewForConfig(base.wrap(admin))
	if err != nil {
		return Result{}, err
	}
	if err := listLoop(ctx, bc); err != nil {
		return Result{}, err
	}
	r, b := base.read()
	res.BaselineRequestsPerMin, res.BaselineBytesPerMin = float64(r), float64(b)
	if b > 0 {
		res.BytesRatio = res.SteadyBytesPerMin / float64(b)
	}
	return res, nil
}

// startDiscovery runs discovery until stop is called and returns the time
// it took to a complete inventory.
func startDiscovery(ctx context.Context, cfg *rest.Config, inv kube.Inventory) (float64, func() error, error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 0, nil, err
	}
	d, err := kube.New(client, nil, inv, kube.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-done:
		cancel()
		return 0, nil, fmt.Errorf("discovery stopped: %w", err)
	}
	secs := time.Since(t0).Seconds()
	return secs, func() error { cancel(); return <-done }, nil
}

// listLoop is one loop of the baseline: list pods, ReplicaSets and the
// controllers, in pages of 500 as kubectl does.
func listLoop(ctx context.Context, c kubernetes.Interface) error {
	lists := []func(metav1.ListOptions) (string, error){
		func(o metav1.ListOptions) (string, error) {
			l, err := c.CoreV1().Pods("").List(ctx, o)
			if err != nil {
				return "", err
			}
			return l.Continue, nil
		},
		func(o metav1.ListOptions) (string, error) {
			l, err := c.AppsV1().ReplicaSets("").List(ctx, o)
			if err != nil {
				return "", err
			}
			return l.Continue, nil
		},
		func(o metav1.ListOptions) (string, error) {
			l, err := c.AppsV1().Deployments("").List(ctx, o)
			if err != nil {
				return "", err
			}
			return l.Continue, nil
		},
	}
	for _, list := range lists {
		cont := ""
		for {
			next, err := list(metav1.ListOptions{Limit: 500, Continue: cont})
			if err != nil {
				return err
			}
			if next == "" {
				break
			}
			cont = next
		}
	}
	return nil
}

type podRef struct{ ns, name string }

// populate creates Deployments with a ReplicaSet and pods each, as the
// controller manager would (the test cluster runs none).
func populate(ctx context.Context, c kubernetes.Interface, cfg Config) ([]podRef, error) {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	var mu sync.Mutex
	var pods []podRef
	workloads := (cfg.Pods + cfg.PodsPerWorkload - 1) / cfg.PodsPerWorkload
	for i := range cfg.Namespaces {
		ns := fmt.Sprintf("load-%d", i)
		if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	for w := range workloads {
		ns := fmt.Sprintf("load-%d", w%cfg.Namespaces)
		n := min(cfg.PodsPerWorkload, cfg.Pods-w*cfg.PodsPerWorkload)
		g.Go(func() error {
			created, err := workload(ctx, c, ns, fmt.Sprintf("svc-%d", w), n)
			mu.Lock()
			pods = append(pods, created...)
			mu.Unlock()
			return err
		})
	}
	return pods, g.Wait()
}

func workload(ctx context.Context, c kubernetes.Interface, ns, name string, pods int) ([]podRef, error) {
	labels := map[string]string{"app": name}
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1",
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")}}}}}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}
	sel := &metav1.LabelSelector{MatchLabels: labels}
	d, err := c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(int32(pods)), Selector: sel, Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-7d9f6", Labels: labels, OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "apps/v1", Kind: "Deployment", Name: name, UID: d.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(pods)), Selector: sel, Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]podRef, 0, pods)
	for i := range pods {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", rs.Name, i), Labels: labels,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name,
					UID: rs.UID, Controller: ptr.To(true)}}},
			Spec: spec,
		}
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return out, err
		}
		out = append(out, podRef{ns, p.Name})
	}
	return out, nil
}

// churn changes the status of ChurnPerMin of the pods per minute, evenly
// over the window, as restarts and readiness flips do in a real cluster.
func churn(ctx context.Context, c kubernetes.Interface, pods []podRef, cfg Config) (int, error) {
	total := int(cfg.ChurnPerMin * float64(len(pods)) * cfg.Steady.Minutes())
	deadline := time.Now().Add(cfg.Steady)
	if total == 0 {
		select {
		case <-time.After(time.Until(deadline)):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return 0, nil
	}
	every := cfg.Steady / time.Duration(total)
	tick := time.NewTicker(every)
	defer tick.Stop()
	n := 0
	for ; n < total; n++ {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return n, ctx.Err()
		}
		ref := pods[(n*7919)%len(pods)] // a fixed stride: deterministic, spread
		p, err := c.CoreV1().Pods(ref.ns).Get(ctx, ref.name, metav1.GetOptions{})
		if err != nil {
			return n, err
		}
		p.Status.Message = fmt.Sprintf("churn %d", n)
		if _, err := c.CoreV1().Pods(ref.ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			return n, err
		}
	}
	select {
	case <-time.After(time.Until(deadline)):
	case <-ctx.Done():
		return n, ctx.Err()
	}
	return n, nil
}
