package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"
	vpaclient "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/rightsizer/rightsizer/internal/kubetest"
)

// TestServeKubernetes runs `serve --kubeconfig` against the real test API
// server: discovery inventories a Deployment that an HPA scales on CPU,
// Prometheus remote-write usage for its pod resolves to it, the API
// answers with the autoscaler's request kept and says why, and the VPA
// that names rightsizer gets rightsizer's numbers in its status.
func TestServeKubernetes(t *testing.T) {
	t.Parallel()
	cl := kubetest.Shared(t)
	ctx := t.Context()
	c, err := kubernetes.NewForConfig(cl.Config)
	require.NoError(t, err)
	const ns = "serve-kube"
	_, err = c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	labels := map[string]string{"app": "web"}
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")}}}}}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}
	d, err := c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-6c8f", OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: d.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-6c8f-x1", Labels: labels, OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
		Spec: spec,
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = c.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MaxReplicas:    5,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](60)}}}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	vc, err := vpaclient.NewForConfig(cl.Config)
	require.NoError(t, err)
	_, err = vc.AutoscalingV1().VerticalPodAutoscalers(ns).Create(ctx, &vpav1.VerticalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: vpav1.VerticalPodAutoscalerSpec{
			TargetRef:    &autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			Recommenders: []*vpav1.VerticalPodAutoscalerRecommenderSelector{{Name: "rightsizer"}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	_, httpAddr, stop := serveUntil(t, "--kubeconfig", cl.KubeconfigFile(t), "--namespaces", ns,
		"--remote-write", "--vpa-interval", "1s", "--metrics-api-interval", "0")
	defer func() { require.NoError(t, stop()) }()
	base := "http://" + httpAddr
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "ready once the inventory is complete")

	// Three hours of cAdvisor series for the pod, a scrape a minute: CPU
	// near 0.2 cores, memory near 300 MiB.
	now := time.Now().Truncate(time.Minute)
	var cpu, mem []prompb.Sample
	total := 0.0
	for i := 180; i >= 0; i-- {
		ts := now.Add(-time.Duration(i) * time.Minute).UnixMilli()
		total += 60 * (0.2 + 0.01*float64(i%5))
		cpu = append(cpu, prompb.Sample{Timestamp: ts, Value: total})
		mem = append(mem, prompb.Sample{Timestamp: ts, Value: float64(300<<20 + (i%7)<<20)})
	}
	series := func(name string, s []prompb.Sample) prompb.TimeSeries {
		return prompb.TimeSeries{Labels: []prompb.Label{
			{Name: "__name__", Value: name}, {Name: "container", Value: "app"},
			{Name: "namespace", Value: ns}, {Name: "pod", Value: "web-6c8f-x1"},
		}, Samples: s}
	}
	body, err := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		series("container_cpu_usage_seconds_total", cpu),
		series("container_memory_working_set_bytes", mem),
	}}).Marshal()
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/write", bytes.NewReader(snappy.Encode(nil, body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	msg, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", msg)

	// The pod's usage lands on its Deployment; the HPA keeps the CPU request.
	var got struct {
		Recommendation struct {
			Containers []struct {
				Reason string `json:"reason"`
			} `json:"containers"`
		} `json:"recommendation"`
	}
	rec := &got.Recommendation
	poll(t, 30*time.Second, func() (bool, string) {
		resp, err := http.Get(base + "/v1/namespaces/" + ns + "/workloads/Deployment/web/recommendation")
		if err != nil {
			return false, err.Error()
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return false, string(b)
		}
		return json.Unmarshal(b, &got) == nil && len(rec.Containers) == 1 && rec.Containers[0].Reason != "", string(b)
	})
	require.Contains(t, rec.Containers[0].Reason, "autoscaler scales on cpu", "%+v", rec)

	// VPA-compatible mode: the VPA that names rightsizer gets the CPU
	// request the HPA needs kept, and a memory target from the usage.
	var vr *vpav1.RecommendedContainerResources
	poll(t, 30*time.Second, func() (bool, string) {
		v, err := vc.AutoscalingV1().VerticalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if v.Status.Recommendation == nil || len(v.Status.Recommendation.ContainerRecommendations) == 0 {
			return false, fmt.Sprintf("%+v", v.Status)
		}
		vr = &v.Status.Recommendation.ContainerRecommendations[0]
		return true, ""
	})
	require.Equal(t, "app", vr.ContainerName)
	require.Equal(t, "500m", ptr.To(vr.Target[corev1.ResourceCPU]).String())
	memTarget := vr.Target[corev1.ResourceMemory]
	require.Greater(t, memTarget.Value(), int64(300<<20), "at least the usage seen")
	require.Less(t, memTarget.Value(), int64(1<<30), "below today's 1Gi request: %s", memTarget.String())
}

// poll calls fn until it reports done or timeout passes, then fails the
// test with what fn last said.
func poll(t *testing.T, timeout time.Duration, fn func() (done bool, last string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		done, last := fn()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done in %v; last: %s", timeout, last)
		}
		<-tick.C
	}
}
