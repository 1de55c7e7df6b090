package podfile

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/rightsizer/rightsizer/internal/golden"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// render writes a file's pods one per line, for golden files and diffs.
func render(f *File) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "pods %d, skipped %d, recommended %v\n", len(f.Current), f.Skipped, f.HasRecommended)
	for i := range f.Current {
		c, r := &f.Current[i], &f.Recommended[i]
		fmt.Fprintf(&sb, "%s cpu=%v mem=%v", c.Name, c.CPU, mem(c.Memory))
		switch g := c.GPU; {
		case g.Count > 0:
			fmt.Fprintf(&sb, " gpus=%d", g.Count)
		case g.Milli > 0:
			fmt.Fprintf(&sb, " gpu=%dm", g.Milli)
		}
		if len(c.GPU.Models) > 0 {
			fmt.Fprintf(&sb, " models=%s", strings.Join(c.GPU.Models, ","))
		}
		for _, k := range slices.Sorted(maps.Keys(c.NodeSelector)) {
			fmt.Fprintf(&sb, " %s=%s", k, c.NodeSelector[k])
		}
		for _, t := range c.Tolerations {
			fmt.Fprintf(&sb, " tolerates(%s,%s,%s,%s)", t.Key, t.Operator, t.Value, t.Effect)
		}
		if r.CPU != c.CPU || r.Memory != c.Memory {
			fmt.Fprintf(&sb, " -> cpu=%v mem=%v", r.CPU, mem(r.Memory))
		}
		sb.WriteByte('\n')
	}
	for _, d := range f.DaemonSets {
		fmt.Fprintf(&sb, "daemonset %s cpu=%v mem=%v gpus=%d\n", d.Name, d.CPU, mem(d.Memory), d.GPU.Count)
	}
	return sb.String()
}

// mem formats bytes exactly, as a Kubernetes quantity.
func mem(b recommender.Bytes) string {
	return resource.NewQuantity(int64(b), resource.BinarySI).String()
}

// checkFile checks what every File must satisfy.
func checkFile(t testing.TB, f *File, maxPods int) {
	t.Helper()
	require.Len(t, f.Recommended, len(f.Current))
	require.LessOrEqual(t, len(f.Current), maxPods)
	require.GreaterOrEqual(t, f.Skipped, 0)
	names := make(map[string]bool, len(f.Current))
	for i := range f.Current {
		c, r := &f.Current[i], &f.Recommended[i]
		require.NoError(t, c.Validate())
		require.NoError(t, r.Validate())
		require.Equal(t, c.Name, r.Name)
		require.Equal(t, c.GPU, r.GPU)
		require.NotEmpty(t, c.Name)
		require.False(t, names[c.Name], "duplicate name %q", c.Name)
		names[c.Name] = true
		require.LessOrEqual(t, c.CPU, MaxPodCPU)
		require.LessOrEqual(t, c.Memory, MaxPodMemory)
		require.LessOrEqual(t, c.GPU.Count, MaxPodGPUs)
	}
	ds := make(map[string]bool, len(f.DaemonSets))
	for i := range f.DaemonSets {
		d := &f.DaemonSets[i]
		require.NoError(t, d.Validate())
		require.False(t, ds[d.Name], "duplicate DaemonSet %q", d.Name)
		ds[d.Name] = true
	}
}

func TestReadTestdata(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"compact.yaml", "kubectl-pods.yaml", "kubectl-pods.json", "deployment.yaml"} {
		t.Run(name, func(t *testing.T) { // not parallel: both kubectl-pods files share a golden file
			data, err := os.ReadFile(filepath.Join("testdata", name))
			require.NoError(t, err)
			f, err := Read(bytes.NewReader(data))
			require.NoError(t, err)
			checkFile(t, f, MaxPods)
			golden.Lines(t, filepath.Join("testdata", strings.TrimSuffix(name, filepath.Ext(name))+".golden"), render(f))
		})
	}
}

func TestKubectlYAMLAndJSONAgree(t *testing.T) {
	t.Parallel()
	read := func(name string) *File {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(t, err)
		f, err := Read(bytes.NewReader(data))
		require.NoError(t, err)
		return f
	}
	y, j := read("kubectl-pods.yaml"), read("kubectl-pods.json")
	require.Equal(t, y, j)
	require.Equal(t, 1, y.Skipped, "the Succeeded backup pod")
	require.False(t, y.HasRecommended)
	require.Equal(t, []cluster.Pod{
		{
			// The init container's 1 CPU outweighs nginx's 250m plus the
			// proxy's 100m limit (its request by default); memory is
			// 256Mi + 128Mi.
			Name: "shop/web-7d9f8b6c5d-x2k4p", CPU: 1000, Memory: 384 * recommender.MiB,
			NodeSelector: map[string]string{"kubernetes.io/arch": "amd64"},
			Tolerations: []cluster.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: "Exists", Effect: "NoExecute"},
				{Key: "node.kubernetes.io/unreachable", Operator: "Exists", Effect: "NoExecute"},
			},
		},
		{
			// The app, its sidecar and the pod overhead; GPUs from
			// limits.
			Name: "ml/trainer-0", CPU: 16000 + 200 + 250, Memory: 120*recommender.GiB + 220*recommender.MiB,
			GPU:          cluster.GPURequest{Count: 4},
			NodeSelector: map[string]string{"node.kubernetes.io/instance-type": "p4d.24xlarge"},
			Tolerations:  []cluster.Toleration{{Key: "nvidia.com/gpu", Operator: "Exists", Effect: "NoSchedule"}},
		},
	}, y.Current)
	require.Equal(t, y.Current, y.Recommended)
	require.Equal(t, cluster.Resources{CPU: 100, Memory: 64 * recommender.MiB, Pods: 1}, y.DaemonSetOverhead(), "kube-proxy")
}

func TestReadGood(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     string // render's output
	}{
		{
			name: "compact defaults",
			in:   "pods:\n- name: a\n",
			want: "pods 1, skipped 0, recommended false\na cpu=0 mem=0\n",
		},
		{
			name: "replicas given are indexed, zero replicas none",
			in:   "pods:\n- {name: a, replicas: 2, requests: {cpu: 1}}\n- {name: b, replicas: 1}\n- {name: c, replicas: 0}\n",
			want: "pods 3, skipped 0, recommended false\na-0 cpu=1 mem=0\na-1 cpu=1 mem=0\nb-0 cpu=0 mem=0\n",
		},
		{
			name: "numbers and strings as quantities, rounding up",
			in:   "pods:\n- {name: a, requests: {cpu: 0.0001, memory: 1000.5}}\n- {name: b, requests: {cpu: '2.5', memory: '1e3'}}\n",
			want: "pods 2, skipped 0, recommended false\na cpu=1m mem=1001\nb cpu=2500m mem=1k\n",
		},
		{
			name: "recommended replaces only what it gives",
			in:   "pods:\n- {name: a, requests: {cpu: 1, memory: 1Gi}, recommended: {cpu: 300m}}\n- {name: b, requests: {cpu: 1}}\n",
			want: "pods 2, skipped 0, recommended true\na cpu=1 mem=1Gi -> cpu=300m mem=1Gi\nb cpu=1 mem=0\n",
		},
		{
			name: "whole GPUs with models from requests",
			in:   "pods:\n- {name: a, requests: {nvidia.com/gpu: 2}, gpu: {models: [T4]}}\n",
			want: "pods 1, skipped 0, recommended false\na cpu=0 mem=0 gpus=2 models=T4\n",
		},
		{
			name: "gpu count zero is no GPU",
			in:   "pods:\n- {name: a, gpu: {count: 0}}\n",
			want: "pods 1, skipped 0, recommended false\na cpu=0 mem=0\n",
		},
		{
			name: "JSON compact list",
			in:   `{"pods": [{"name": "a", "namespace": "n", "requests": {"cpu": "250m", "memory": 1048576}, "gpu": {"milli": 250}}]}`,
			want: "pods 1, skipped 0, recommended false\nn/a cpu=250m mem=1Mi gpu=250m\n",
		},
		{
			name: "JSON stream and YAML documents mix compact lists",
			in:   "{\"pods\": [{\"name\": \"a\"}]}\n{\"pods\": [{\"name\": \"b\"}]}\n",
			want: "pods 2, skipped 0, recommended false\na cpu=0 mem=0\nb cpu=0 mem=0\n",
		},
		{
			name: "YAML documents, empty ones and a document start with content",
			in:   "# leading comment\n---\npods: [{name: a}]\n---\n---\n--- {pods: [{name: b}]}\n...\n",
			want: "pods 2, skipped 0, recommended false\na cpu=0 mem=0\nb cpu=0 mem=0\n",
		},
		{
			name: "invalid UTF-8 in JSON becomes U+FFFD",
			in:   "{\"pods\": [{\"name\": \"a\xffb\"}]}",
			want: "pods 1, skipped 0, recommended false\na\ufffdb cpu=0 mem=0\n",
		},
		{
			name: "flow-style YAML that looks like JSON",
			in:   "{pods: [{name: a, requests: {cpu: 1,}},]}",
			want: "pods 1, skipped 0, recommended false\na cpu=1 mem=0\n",
		},
		{
			name: "empty list",
			in:   "pods: []\n",
			want: "pods 0, skipped 0, recommended false\n",
		},
		{
			name: "byte order mark and CRLF",
			in:   "\xef\xbb\xbfpods:\r\n- name: a\r\n",
			want: "pods 1, skipped 0, recommended false\na cpu=0 mem=0\n",
		},
		{
			name: "Pod without namespace, finished pods skipped",
			in: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, resources: {requests: {cpu: 1}}}]}\n---\n" +
				"apiVersion: v1\nkind: Pod\nmetadata: {name: q}\nspec: {containers: [{name: c}]}\nstatus: {phase: Failed}\n",
			want: "pods 1, skipped 1, recommended false\np cpu=1 mem=0\n",
		},
		{
			name: "typed PodList items without kind",
			in:   `{"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [{"metadata": {"name": "p", "namespace": "n"}, "spec": {"containers": [{"name": "c"}]}}]}`,
			want: "pods 1, skipped 0, recommended false\nn/p cpu=0 mem=0\n",
		},
		{
			name: "DeploymentList and replicas default",
			in:   "apiVersion: apps/v1\nkind: DeploymentList\nitems:\n- metadata: {name: d}\n  spec: {template: {spec: {containers: [{name: c, resources: {requests: {memory: 1Mi}}}]}}}\n",
			want: "pods 1, skipped 0, recommended false\nd-0 cpu=0 mem=1Mi\n",
		},
		{
			name: "ReplicaSet with zero replicas",
			in:   "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: r}\nspec: {replicas: 0, selector: {}, template: {spec: {containers: [{name: c}]}}}\n",
			want: "pods 0, skipped 0, recommended false\n",
		},
		{
			name: "finished Job skipped, suspended Job none",
			in: "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec: {parallelism: 3, template: {spec: {containers: [{name: c}]}}}\n" +
				"status: {conditions: [{type: Complete, status: 'True'}]}\n---\n" +
				"apiVersion: batch/v1\nkind: Job\nmetadata: {name: k}\nspec: {suspend: true, template: {spec: {containers: [{name: c}]}}}\n",
			want: "pods 0, skipped 3, recommended false\n",
		},
		{
			name: "DaemonSets and the pods they own are overhead, the largest of each",
			in: "apiVersion: v1\nkind: List\nitems:\n" +
				"- {apiVersion: v1, kind: Pod, metadata: {name: a, namespace: ks, ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: proxy, uid: u, controller: true}]}, spec: {containers: [{name: c, resources: {requests: {cpu: 100m, memory: 10Mi}}}]}}\n" +
				"- {apiVersion: v1, kind: Pod, metadata: {name: b, namespace: ks, ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: proxy, uid: u, controller: true}]}, spec: {containers: [{name: c, resources: {requests: {cpu: 50m, memory: 20Mi}}}]}}\n" +
				"- {apiVersion: v1, kind: Pod, metadata: {name: c, namespace: ks, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: dns, uid: v, controller: true}]}, spec: {containers: [{name: c}]}}\n" +
				"- {apiVersion: apps/v1, kind: DaemonSet, metadata: {name: logs, namespace: ks}, spec: {selector: {}, template: {spec: {containers: [{name: c, resources: {requests: {cpu: 1}}}]}}}}\n",
			want: "pods 1, skipped 0, recommended false\nks/c cpu=0 mem=0\ndaemonset ks/proxy cpu=100m mem=20Mi gpus=0\ndaemonset ks/logs cpu=1 mem=0 gpus=0\n",
		},
		{
			name: "Job without parallelism runs one pod",
			in:   "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j, namespace: ns}\nspec: {template: {spec: {containers: [{name: c}]}}}\n",
			want: "pods 1, skipped 0, recommended false\nns/j-0 cpu=0 mem=0\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Read(strings.NewReader(tt.in))
			require.NoError(t, err)
			checkFile(t, f, MaxPods)
			require.Equal(t, tt.want, render(f))
		})
	}
}

// podWith is a Pod document with the given spec (flow YAML).
func podWith(spec string) string {
	return "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: " + spec + "\n"
}

func TestEffectiveRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, spec string
		cpu        recommender.MilliCPU
		mem        recommender.Bytes
		gpus       int
	}{
		{"containers sum", "{containers: [{name: a, resources: {requests: {cpu: 1, memory: 1Gi}}}, {name: b, resources: {requests: {cpu: 500m, memory: 1Gi}}}]}", 1500, 2 * recommender.GiB, 0},
		{"limits stand in for requests", "{containers: [{name: a, resources: {limits: {cpu: 2, memory: 3Gi}, requests: {memory: 1Gi}}}]}", 2000, recommender.GiB, 0},
		{"init container is a floor", "{initContainers: [{name: i, resources: {requests: {cpu: 4}}}], containers: [{name: a, resources: {requests: {cpu: 1, memory: 1Gi}}}]}", 4000, recommender.GiB, 0},
		{"sidecars add to the app", "{initContainers: [{name: s, restartPolicy: Always, resources: {requests: {cpu: 1}}}], containers: [{name: a, resources: {requests: {cpu: 1}}}]}", 2000, 0, 0},
		{
			// The init container after the sidecar runs beside it: 1 + 3.
			"init container after a sidecar",
			"{initContainers: [{name: s, restartPolicy: Always, resources: {requests: {cpu: 1}}}, {name: i, resources: {requests: {cpu: 3}}}], containers: [{name: a, resources: {requests: {cpu: 1}}}]}",
			4000, 0, 0,
		},
		{
			// The init container before the sidecar runs alone: max(3, 1+1).
			"init container before a sidecar",
			"{initContainers: [{name: i, resources: {requests: {cpu: 3}}}, {name: s, restartPolicy: Always, resources: {requests: {cpu: 1}}}], containers: [{name: a, resources: {requests: {cpu: 1}}}]}",
			3000, 0, 0,
		},
		{"overhead adds", "{overhead: {cpu: 100m, memory: 10Mi}, containers: [{name: a, resources: {requests: {cpu: 1}}}]}", 1100, 10 * recommender.MiB, 0},
		{"pod-level requests replace", "{resources: {requests: {cpu: 3}}, containers: [{name: a, resources: {requests: {cpu: 1, memory: 1Gi}}}]}", 3000, recommender.GiB, 0},
		{"pod-level limit when no container asks", "{resources: {limits: {cpu: 2, memory: 2Gi}}, containers: [{name: a, resources: {requests: {memory: 1Gi}}}]}", 2000, recommender.GiB, 0},
		{"GPUs from limits, summed and floored by init", "{initContainers: [{name: i, resources: {limits: {nvidia.com/gpu: 3}}}], containers: [{name: a, resources: {limits: {nvidia.com/gpu: 1}}}, {name: b, resources: {requests: {nvidia.com/gpu: 1}, limits: {nvidia.com/gpu: 1}}}]}", 0, 0, 3},
		{"other resources ignored", "{containers: [{name: a, resources: {requests: {ephemeral-storage: 1Gi, example.com/foo: 3}}}]}", 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Read(strings.NewReader(podWith(tt.spec)))
			require.NoError(t, err)
			require.Len(t, f.Current, 1)
			p := f.Current[0]
			require.Equal(t, tt.cpu, p.CPU, "cpu")
			require.Equal(t, tt.mem, p.Memory, "memory")
			require.Equal(t, tt.gpus, p.GPU.Count, "gpus")
		})
	}
}

func TestReadBad(t *testing.T) {
	t.Parallel()
	deploy := func(spec string) string {
		return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: ns}\nspec: " + spec + "\n"
	}
	tests := []struct {
		name, in string
		want     []string // substrings of the error
	}{
		{"empty", "", []string{"pod list is empty"}},
		{"only comments", "# nothing\n---\n", []string{"pod list is empty"}},
		{"JSON syntax", "{\"pods\": [\n  {\"name\": \"a\" \"b\"}\n]}", []string{"JSON: syntax error at line 2, column 16", "invalid character '\"' after object key:value pair"}},
		{"JSON syntax in second value", "{\"pods\": []}\n  {\"pods\": [}", []string{"JSON document 2: syntax error at line 2, column 13"}},
		{"JSON second value truncated", "{\"pods\": []}\n\n  {\"pods\": [", []string{"JSON document 2: syntax error: the input ends inside the value that starts at line 3, column 3"}},
		{"JSON truncated", "{\"pods\": [", []string{"JSON: syntax error", "ends inside the value that starts at line 1, column 1"}},
		{"JSON array", `[{"name": "a"}]`, []string{"JSON: want a mapping", "not a list"}},
		{"second JSON value bad", "{\"pods\": []} 3", []string{"JSON document 2 (line 1, column 14): want a mapping", "not a number"}},
		{"YAML syntax with absolute line", "pods: []\n---\n# c\npods: [\n  - name: a\n  name: b\n", []string{"document 2 (line 2)", "yaml: line 4:"}},
		{"YAML duplicate key in document 2", "pods: []\n---\npods:\n- name: a\n  name: b\n", []string{"document 2 (line 2)", "line 5: key \"name\" already set"}},
		{"YAML duplicate key", "pods:\n- name: a\n  name: b\n", []string{"document 1 (line 1)", `key "name" already set`}},
		{"YAML NaN", "pods:\n- {name: a, requests: {cpu: .nan}}\n", []string{"document 1", "NaN"}},
		{"YAML content after a flow mapping", "{pods: [{name: a}]}\n{pods: [{name: b}]}\n", []string{"JSON: syntax error at line 1, column 2", "read as YAML, document 1 (line 1): content after the document's mapping that starts at line 1", "separate documents with ---"}},
		{"YAML content after a flow list", "# c\n---\n[1, 2] 3\n", []string{"document 1 (line 2): content after the document's list that starts at line 3"}},
		{"scalar document", "hello\n", []string{"want a mapping", "not a string"}},
		{"neither", "foo: 1\n", []string{"neither a pod list", "nor a Kubernetes object"}},
		{"unknown top-level key", "pods: []\nnodes: []\n", []string{`unknown field "nodes"`}},
		{"unknown pod key", "pods:\n- {name: a, reqests: {cpu: 1}}\n", []string{`unknown field "pods[0].reqests"`}},
		{"wrong type", "pods:\n- {name: a, replicas: many}\n", []string{"field pods.replicas: got a JSON string, want an integer"}},
		{"fractional replicas", "pods:\n- {name: a, replicas: 1.5}\n", []string{"pods.replicas", "want an integer"}},
		{"pods not a list", "pods: {name: a}\n", []string{"field pods: got a JSON object, want a list"}},
		{"missing name", "pods:\n- {requests: {cpu: 1}}\n", []string{"pods[0]: name is missing"}},
		{"name with control character", "pods:\n- {name: \"a\\u0007b\"}\n", []string{`pods[0]: name "a\ab" holds '\a'`}},
		{"name with slash", "pods:\n- {name: a/b}\n", []string{`name "a/b" holds '/'`}},
		{"name with space", "pods:\n- {name: 'a b'}\n", []string{`holds ' '`}},
		{"huge name", "pods:\n- {name: " + strings.Repeat("x", 300) + "}\n", []string{"name \"xxxxxxxx", "…", "300 bytes long, more than 253"}},
		{"huge namespace", "pods:\n- {name: a, namespace: " + strings.Repeat("n", 64) + "}\n", []string{"namespace", "more than 63"}},
		{"invalid UTF-8", "pods:\n- {name: \"a\xffb\"}\n", []string{"document 1 (line 1)", "invalid"}},
		{"YAML 1.1 boolean", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: no}\n", []string{"field metadata.namespace: got a JSON bool, want a string", "quote it"}},
		{"negative replicas", "pods:\n- {name: a, replicas: -1}\n", []string{"pods[0] (a): replicas -1 is negative"}},
		{"too many replicas", "pods:\n- {name: a, replicas: 1000001}\n", []string{"1000001 replicas make more than 1000000 pods"}},
		{"bad quantity", "pods:\n- {name: a, requests: {cpu: lots}}\n", []string{`pods[0] (a): requests.cpu: "lots" is not a quantity`}},
		{"bool quantity", "pods:\n- {name: a, requests: {cpu: true}}\n", []string{`requests.cpu: "true" is not a quantity`}},
		{"null quantity", "pods:\n- {name: a, requests: {memory: null}}\n", []string{`requests.memory: "null" is not a quantity`}},
		{"negative cpu", "pods:\n- {name: a, requests: {cpu: -1}}\n", []string{`requests.cpu: "-1" is negative`}},
		{"huge cpu", "pods:\n- {name: a, requests: {cpu: 1e7}}\n", []string{"requests.cpu", "more than 1000000 cores"}},
		{"huge memory", "pods:\n- {name: a, requests: {memory: 2Pi}}\n", []string{"requests.memory", "more than 1Pi"}},
		{"enormous exponent", "pods:\n- {name: a, requests: {memory: 1e400}}\n", []string{"requests.memory", "more than 1Pi"}},
		{"exponent too large", "pods:\n- {name: a, requests: {cpu: '1e999999999'}}\n", []string{`requests.cpu: "1e999999999" is out of range`}},
		{"exponent too small", "pods:\n- {name: a, requests: {memory: '1e-999999999'}}\n", []string{`requests.memory: "1e-999999999" is out of range`}},
		{"too many digits", "pods:\n- {name: a, requests: {cpu: '" + strings.Repeat("9", 5000) + "'}}\n", []string{"requests.cpu", "5000 bytes long, more than 64"}},
		{"exponent too small in object", `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": 1e-999999999}}}]}}`, []string{`spec.containers[0].resources.limits.cpu: "1e-999999999" is out of range`}},
		{"too many digits in object", podWith("{volumes: [{name: v, emptyDir: {sizeLimit: '" + strings.Repeat("1", 100) + "'}}], containers: [{name: c}]}"), []string{"spec.volumes[0].emptyDir.sizeLimit", "100 bytes long"}},
		{"unknown resource", "pods:\n- {name: a, requests: {ephemeral-storage: 1Gi}}\n", []string{"requests.ephemeral-storage: unknown resource"}},
		{"fractional GPUs", "pods:\n- {name: a, requests: {nvidia.com/gpu: 0.5}}\n", []string{"requests.nvidia.com/gpu", "not a whole number of GPUs"}},
		{"too many GPUs", "pods:\n- {name: a, gpu: {count: 2000}}\n", []string{"gpu.count 2000: want 0..1024"}},
		{"count and milli", "pods:\n- {name: a, gpu: {count: 1, milli: 500}}\n", []string{"pods[0] (a): gpu: give count", "not both"}},
		{"count twice", "pods:\n- {name: a, requests: {nvidia.com/gpu: 1}, gpu: {count: 1}}\n", []string{"gpu.count: whole GPUs are already given"}},
		{"milli and whole GPUs", "pods:\n- {name: a, requests: {nvidia.com/gpu: 1}, gpu: {milli: 100}}\n", []string{"gpu.milli: whole GPUs are already given"}},
		{"milli zero", "pods:\n- {name: a, gpu: {milli: 0}}\n", []string{"gpu.milli 0: want a share of one GPU in 1..999"}},
		{"milli whole", "pods:\n- {name: a, gpu: {milli: 1000}}\n", []string{"gpu.milli 1000"}},
		{"models without GPU", "pods:\n- {name: a, gpu: {models: [T4]}}\n", []string{"gpu.models: given for a pod that asks for no GPU"}},
		{"bad model", "pods:\n- {name: a, gpu: {count: 1, models: ['']}}\n", []string{"gpu.models[0]: model is missing"}},
		{"recommended GPU", "pods:\n- {name: a, recommended: {nvidia.com/gpu: 1}}\n", []string{"recommended.nvidia.com/gpu: unknown resource"}},
		{"recommended negative", "pods:\n- {name: a, recommended: {memory: -1Gi}}\n", []string{"recommended.memory", "negative"}},
		{"bad selector key", "pods:\n- {name: a, nodeSelector: {'bad key': x}}\n", []string{`nodeSelector key "bad key"`}},
		{"bad selector value", "pods:\n- {name: a, nodeSelector: {pool: 'a b'}}\n", []string{`nodeSelector[pool] value "a b"`}},
		{"selector value not a string", "pods:\n- {name: a, nodeSelector: {pool: 1}}\n", []string{"pods.nodeSelector", "want a string"}},
		{"toleration operator", "pods:\n- {name: a, tolerations: [{key: k, operator: Lt, value: '3'}]}\n", []string{`tolerations[0]: operator "Lt": want Equal or Exists`}},
		{"toleration Exists with value", "pods:\n- {name: a, tolerations: [{key: k, operator: Exists, value: v}]}\n", []string{"operator Exists takes no value"}},
		{"toleration empty key Equal", "pods:\n- {name: a, tolerations: [{value: v}]}\n", []string{"needs a key"}},
		{"toleration effect", "pods:\n- {name: a, tolerations: [{operator: Exists, effect: Never}]}\n", []string{`effect "Never"`}},
		{"toleration unknown field", "pods:\n- {name: a, tolerations: [{key: k, tolerationSeconds: 3}]}\n", []string{`unknown field "pods[0].tolerations[0].tolerationSeconds"`}},
		{"duplicate names", "pods:\n- {name: a}\n- {name: a}\n", []string{`pods[1] (a): pod name "a" appears twice`}},
		{"replica name collides", "pods:\n- {name: a, replicas: 2}\n- {name: a-1}\n", []string{`pod name "a-1" appears twice`}},
		{"unknown kind", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n", []string{`document 1 (line 1): kind "Service" (apiVersion "v1") holds no pods to plan`}},
		{"CronJob hint", "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: s}\n", []string{"give the Jobs it makes instead"}},
		{"bad DaemonSet pod", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: d, uid: u, controller: true}]}\nspec: {containers: [{name: c, resources: {requests: {cpu: -1}}}]}\n", []string{"(Pod p): container \"c\": resources.requests.cpu"}},
		{"unknown list kind", "apiVersion: v1\nkind: ServiceList\nitems: []\n", []string{`kind "ServiceList"`}},
		{"unknown kind in List", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n", []string{`items[0]: kind "ConfigMap"`}},
		{"List item without kind", "apiVersion: v1\nkind: List\nitems:\n- {metadata: {name: c}}\n", []string{"items[0]: no kind"}},
		{"nested List", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: List, items: []}\n", []string{`items[0]: a "List" inside a List`}},
		{"wrong apiVersion", "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: d}\n", []string{`Deployment of apiVersion "extensions/v1beta1": want apps/v1`}},
		{"kind not a string", "kind: 3\n", []string{"field kind: got a JSON number, want a string"}},
		{"unknown field in pod spec", deploy("{template: {spec: {containers: [{name: c, resource: {}}]}}}"), []string{`document 1 (line 1): unknown field "spec.template.spec.containers[0].resource"`}},
		{"duplicate field in object", "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"p\", \"name\": \"q\"}}", []string{`duplicate field "metadata.name"`}},
		{"bad quantity in object", deploy("{template: {spec: {containers: [{name: c, resources: {requests: {cpu: lots}}}]}}}"), []string{`spec.template.spec.containers[0].resources.requests.cpu: "lots" is not a quantity`}},
		{"negative quantity in object", deploy("{template: {spec: {containers: [{name: c, resources: {requests: {memory: -1}}}]}}}"), []string{`(Deployment ns/d): container "c": resources.requests.memory: "-1" is negative`}},
		{"huge sum in object", deploy("{template: {spec: {containers: [{name: a, resources: {requests: {memory: 1Pi}}}, {name: b, resources: {requests: {memory: 1Pi}}}]}}}"), []string{"requests 2Pi memory in all, more than 1Pi"}},
		{"fractional GPUs in object", podWith("{containers: [{name: c, resources: {limits: {nvidia.com/gpu: 500m}}}]}"), []string{`container "c": resources.limits.nvidia.com/gpu: "500m" is not a whole number`}},
		{"GPU requests differ from limits", podWith("{containers: [{name: c, resources: {requests: {nvidia.com/gpu: 1}, limits: {nvidia.com/gpu: 2}}}]}"), []string{"requests \"1\" and limits \"2\" differ"}},
		{"bad overhead", podWith("{overhead: {cpu: -1}, containers: [{name: c}]}"), []string{"overhead.cpu", "negative"}},
		{"bad pod-level request", podWith("{resources: {requests: {cpu: 2e6}}, containers: [{name: c}]}"), []string{"resources.requests.cpu", "more than 1000000 cores"}},
		{"Lt toleration in object", podWith("{tolerations: [{key: k, operator: Lt, value: '5'}], containers: [{name: c}]}"), []string{`tolerations[0]: operator "Lt"`}},
		{"object without name", "apiVersion: v1\nkind: Pod\nmetadata: {generateName: p-}\n", []string{"Pod: metadata.name is missing"}},
		{"object with bad namespace", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: \"a\\tb\"}\n", []string{"Pod: metadata.namespace", `holds '\t'`}},
		{"negative Deployment replicas", deploy("{replicas: -2, template: {spec: {containers: [{name: c}]}}}"), []string{"(Deployment ns/d): replicas -2 is negative"}},
		{"same pod twice", podWith("{containers: [{name: c}]}") + "---\n" + podWith("{containers: [{name: c}]}"), []string{`document 2 (line 5) (Pod p): pod name "p" appears twice`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Read(strings.NewReader(tt.in))
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestQuantityFieldsKnown checks that findBadQuantity looks at every
// quantity of the kinds read, so that none reaches resource.Quantity's
// decoder unchecked.
func TestQuantityFieldsKnown(t *testing.T) {
	t.Parallel()
	quantity := reflect.TypeFor[resource.Quantity]()
	seen := map[reflect.Type]bool{}
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() == reflect.Map {
			if typ.Elem() == quantity {
				name := path[strings.LastIndexByte(path, '.')+1:]
				require.Contains(t, quantityMaps, name, "map of quantities at %s", path)
				return
			}
			walk(typ.Elem(), path+"[]")
			return
		}
		if typ == quantity {
			name := path[strings.LastIndexByte(path, '.')+1:]
			require.Contains(t, quantityFields, name, "quantity at %s", path)
			return
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				name = f.Name
			}
			walk(f.Type, path+"."+name)
		}
	}
	for _, obj := range []any{corev1.Pod{}, appsv1.Deployment{}, appsv1.StatefulSet{}, appsv1.ReplicaSet{}, batchv1.Job{}, kubeList{}} {
		walk(reflect.TypeOf(obj), reflect.TypeOf(obj).Name())
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	small := limits{inputBytes: 64, pods: 5}
	_, err := read(strings.NewReader("pods:\n- {name: a}\n"+strings.Repeat("# pad\n", 20)), small)
	require.ErrorContains(t, err, "pod list is larger than 64 bytes")

	_, err = read(strings.NewReader("pods:\n- {name: a, replicas: 3}\n- {name: b, replicas: 3}\n"), small)
	require.ErrorContains(t, err, "pods[1] (b): 3 replicas make more than 5 pods in all")

	f, err := read(strings.NewReader("pods:\n- {name: a, replicas: 3}\n- {name: b, replicas: 2}\n"), small)
	require.NoError(t, err)
	require.Len(t, f.Current, 5)

	// A million pods of 1Pi each would overflow sums over them.
	_, err = Read(strings.NewReader("pods:\n- {name: a, replicas: 1000000, requests: {memory: 1Pi}}\n"))
	require.ErrorContains(t, err, "the pods ask for more than")
}

func TestSharedSlicesAreClipped(t *testing.T) {
	t.Parallel()
	f, err := Read(strings.NewReader("pods:\n- {name: a, replicas: 2, tolerations: [{operator: Exists}], gpu: {count: 1, models: [T4]}}\n"))
	require.NoError(t, err)
	p := f.Current[0]
	p.Tolerations = append(p.Tolerations, cluster.Toleration{Key: "x", Operator: "Exists"})
	p.GPU.Models = append(p.GPU.Models, "V100")
	require.Len(t, f.Current[1].Tolerations, 1)
	require.Len(t, f.Current[1].GPU.Models, 1)
	require.Equal(t, []string{"T4"}, f.Recommended[0].GPU.Models)
}

func BenchmarkRead(b *testing.B) {
	for _, name := range []string{"compact", "kubectl"} {
		var sb strings.Builder
		const pods = 10_000
		if name == "compact" {
			sb.WriteString("pods:\n")
			for i := range pods {
				fmt.Fprintf(&sb, "- {name: p%d, namespace: ns, requests: {cpu: 250m, memory: 512Mi}, recommended: {cpu: 100m, memory: 300Mi}, nodeSelector: {pool: general}}\n", i)
			}
		} else {
			sb.WriteString("apiVersion: v1\nkind: List\nitems:\n")
			for i := range pods {
				fmt.Fprintf(&sb, "- apiVersion: v1\n  kind: Pod\n  metadata: {name: p%d, namespace: ns}\n  spec:\n    containers:\n    - name: c\n      resources: {requests: {cpu: 250m, memory: 512Mi}, limits: {memory: 1Gi}}\n    nodeSelector: {pool: general}\n  status: {phase: Running}\n", i)
			}
		}
		data := []byte(sb.String())
		b.Run("fmt="+name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				f, err := Read(bytes.NewReader(data))
				if err != nil || len(f.Current) != pods {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(pods)*float64(b.N)/b.Elapsed().Seconds(), "pods/s")
		})
	}
}
