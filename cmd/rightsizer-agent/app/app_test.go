package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/rightsizer/rightsizer/agent/cgroup/cgroupfake"
	"github.com/rightsizer/rightsizer/api"
	"github.com/rightsizer/rightsizer/api/apitest"
	"github.com/rightsizer/rightsizer/internal/kubetest"
	"github.com/rightsizer/rightsizer/recommender"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(kubetest.Wrap(m)) }

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"--server is required", "--node-name"}},
		{[]string{"--server", "x:1", "--node-name", "n", "--interval", "10ms", "--insecure", "--tls-ca-file", "ca.pem", "--log-level", "loud"},
			[]string{"--interval 10ms", "--insecure contradicts", "--log-level"}},
		{[]string{"--colour", "blue"}, []string{"unknown flag: --colour"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Setenv("NODE_NAME", "")
			err := Run(t.Context(), tc.args, io.Discard, io.Discard)
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

// TestAgentCommand runs the agent as its DaemonSet pod would: pods from the
// real API server (scoped to its node), cgroups from a tree in the
// kernel's formats, no GPU, streaming to a real rightsizer server.
func TestAgentCommand(t *testing.T) {
	cl := kubetest.Shared(t)
	ctx := t.Context()
	kc, err := kubernetes.NewForConfig(cl.Config)
	require.NoError(t, err)
	const ns, node = "agent-cmd", "node-a"
	_, err = kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)

	root := t.TempDir()
	tree, err := cgroupfake.New(root, cgroupfake.Config{Pods: 1, ContainersPerPod: 1, Seed: 3})
	require.NoError(t, err)
	var app *cgroupfake.Container
	for _, c := range tree.Containers {
		if !c.Sandbox {
			app = c
		}
	}
	require.NotNil(t, app)

	// A StatefulSet's pod on this node, with the tree's pod UID and
	// container ID. The UID is the API server's to choose, so the tree is
	// renamed after the pod instead.
	ss, err := kc.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "postgres", Image: "x"}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	p, err := kc.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db-0", Labels: map[string]string{"app": "db"}, OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: ss.UID, Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "postgres", Image: "x"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "postgres", Image: "x", ImageID: "x", ContainerID: "containerd://" + app.ID}}
	_, err = kc.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	require.NoError(t, err)
	renamePod(t, root, app.PodUID, string(p.UID))

	engine, err := recommender.NewEngine(recommender.DefaultOptions())
	require.NoError(t, err)
	o := api.DefaultOptions()
	o.Engine, o.ShutdownTimeout = engine, 0
	server, _ := apitest.Start(t, o)

	addrFile := filepath.Join(t.TempDir(), "addr")
	actx, stopAgent := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- Run(actx, []string{"--server", server, "--insecure", "--node-name", node,
			"--kubeconfig", cl.KubeconfigFile(t), "--cgroup-root", root, "--no-gpu", "--interval", "1s",
			"--metrics-addr", "127.0.0.1:0", "--addr-file", addrFile}, io.Discard, &logs)
	}()
	key := recommender.ContainerKey{WorkloadKey: recommender.WorkloadKey{Namespace: ns, Kind: "StatefulSet", Name: "db"}, Container: "postgres"}
	require.Eventually(t, func() bool {
		_ = tree.Advance(time.Second) // the kernel's counters move on
		r, err := engine.Recommend(key)
		return err == nil && r.Samples >= 2
	}, 30*time.Second, 100*time.Millisecond, "samples for the StatefulSet's container arrive")

	addr, err := os.ReadFile(addrFile)
	require.NoError(t, err)
	resp, err := http.Get("http://" + strings.TrimSpace(string(addr)) + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Contains(t, string(body), "rightsizer_agent_rounds_total")
	require.Contains(t, string(body), "rightsizer_agent_stream_sent_samples_total")

	stopAgent()
	require.NoError(t, <-done)
}

// renamePod moves the tree's pod cgroup to the UID the API server gave the
// pod (systemd driver: dashes become underscores in the slice name).
func renamePod(t *testing.T, root, from, to string) {
	t.Helper()
	u := func(s string) string { return strings.ReplaceAll(s, "-", "_") }
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || !strings.Contains(d.Name(), u(from)) {
			return err
		}
		if err := os.Rename(path, filepath.Join(filepath.Dir(path), strings.ReplaceAll(d.Name(), u(from), u(to)))); err != nil {
			return err
		}
		return filepath.SkipDir
	})
	require.NoError(t, err)
}
