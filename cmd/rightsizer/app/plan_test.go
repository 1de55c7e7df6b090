package app

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/internal/golden"
	"github.com/rightsizer/rightsizer/nodeplan"
)

// TestPlanGPUGolden pins what `plan --gpu` prints: the demo's shapes and
// layouts, and the mig-parted config for a nodes file.
func TestPlanGPUGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"demo-table", []string{"plan", "--gpu", "--demo", "--duration", "3d"}},
		{"demo-yaml", []string{"plan", "--gpu", "--demo", "--duration", "3d", "--output", "yaml"}},
		{"nodes-yaml", []string{"plan", "--gpu", "--nodes", "testdata/gpu-nodes.yaml", "--output", "yaml"}},
		{"nodes-no-disruption", []string{"plan", "--gpu", "--nodes", "testdata/gpu-nodes.yaml", "--policy", "no-disruption"}},
		{"nodes-single", []string{"plan", "--gpu", "--nodes", "testdata/gpu-nodes.yaml", "--strategy", "single", "--output", "yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The packer's effort is fixed (MaxMoves); its time budget is
			// a safety cutoff that, under -race on a loaded machine, can
			// end the search early and change the plan: far out of reach
			// here, so the golden depends on the seed alone.
			out, _, err := run(t, append(tc.args, "--budget", "10m")...)
			require.NoError(t, err)
			golden.Lines(t, "testdata/plan-"+tc.name+".golden", out)
		})
	}
}

func TestPlanFlagErrors(t *testing.T) {
	requireFlagErrors(t, []flagCase{
		{[]string{"plan"}, []string{"one of --demo and --pods"}},
		{[]string{"plan", "--demo", "--pods", "x.csv"}, []string{"one of --demo and --pods"}},
		{[]string{"plan", "--demo", "--nodes", "n.yaml", "--output", "csv", "--spot-discount", "1", "--max-pods", "-1", "--budget", "0s", "--daemonset-overhead", "cpu=1,gpu=2"},
			[]string{"--nodes is for GPU plans", `--output "csv"`, "--spot-discount 1", "--max-pods -1", "--budget 0s", `unknown key "gpu"`}},
		{[]string{"plan", "--demo", "--daemonset-overhead", "cpu=-1"}, []string{"non-negative"}},
		// Bounded as a pod's requests are, not overflowed.
		{[]string{"plan", "--demo", "--daemonset-overhead", "cpu=1E"}, []string{`cpu="1E"`, "more than 1000000 cores"}},
		{[]string{"plan", "--demo", "--daemonset-overhead", "memory=2Pi"}, []string{`memory="2Pi"`, "more than 1Pi"}},
		{[]string{"plan", "--demo", "--daemonset-overhead", "pods=1e7"}, []string{`pods="1e7"`, "more than 1000000 pods"}},
		{[]string{"plan", "--demo", "--daemonset-overhead", "memory=1e-999999999"}, []string{`memory="1e-999999999": want a non-negative quantity`}},
		{[]string{"plan", "--pods", "/no/such/pods.yaml"}, []string{"no such file"}},
		{[]string{"plan", "--pods", writeConfig(t, "pods:\n  - {name: web, requests: {cpu: 1}, colour: red}\n")}, []string{"colour"}},
		{[]string{"plan", "--pods", "testdata/nodeplan-pods.yaml", "--catalog", writeConfig(t, "instances: [{name: x}]\n")}, []string{"--catalog"}},
		{[]string{"plan", "--pods", "testdata/nodeplan-pods.yaml", "--families", "zz9"}, []string{"zz9"}},
		{[]string{"plan", "--gpu", "--pods", "p.yaml", "--demo"}, []string{"--pods is for node plans"}},
		{[]string{"plan", "--gpu"}, []string{"one of --demo and --nodes"}},
		{[]string{"plan", "--gpu", "--demo", "--gpu-model", "V100", "--strategy", "both", "--policy", "cheapest", "--profile", "lavish", "--output", "csv"},
			[]string{`--gpu-model "V100"`, `--strategy "both"`, "--policy", "--profile", `--output "csv"`}},
		{[]string{"plan", "--gpu", "--nodes", "/no/such/nodes.yaml"}, []string{"no such file"}},
		{[]string{"plan", "--gpu", "--nodes", writeConfig(t, "nodes:\n  - {name: x, model: T4, gpus: 0, colour: red}\n")}, []string{"colour"}},
		{[]string{"plan", "--gpu", "--nodes", writeConfig(t, "nodes:\n  - {name: x, model: T4, gpus: 0}\n  - {name: y, model: H100-80GB, gpus: 99}\n")},
			[]string{`model "T4"`, "gpus 99"}},
		{[]string{"plan", "--gpu", "--nodes", writeConfig(t, "nodes:\n  - {name: x, model: H100-80GB, gpus: 1, demands: [{workload: a, profile: 9g.90gb}]}\n")},
			[]string{"9g.90gb"}},
	})
}

// TestPlanNodesGolden pins what `plan` prints for node plans: the demo's
// current and recommended plans, a pod list with recommendations as a
// table, JSON and NodePools, and a slice of the Alibaba trace's CSV.
func TestPlanNodesGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"nodes-demo", []string{"plan", "--demo", "--duration", "2d"}},
		{"nodes-pods-table", []string{"plan", "--pods", "testdata/nodeplan-pods.yaml", "--capacity-types", "on-demand,spot", "--spot-discount", "0.6"}},
		{"nodes-pods-yaml", []string{"plan", "--pods", "testdata/nodeplan-pods.yaml", "--output", "yaml", "--node-class", "al2023"}},
		{"nodes-openb", []string{"plan", "--pods", "testdata/openb-pods.csv", "--daemonset-overhead", "cpu=200m,memory=256Mi,pods=2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The packer's effort is fixed (MaxMoves); its time budget is
			// a safety cutoff that, under -race on a loaded machine, can
			// end the search early and change the plan: far out of reach
			// here, so the golden depends on the seed alone.
			out, _, err := run(t, append(tc.args, "--budget", "10m")...)
			require.NoError(t, err)
			golden.Lines(t, "testdata/plan-"+tc.name+".golden", out)
		})
	}
}

// TestPlanNodesJSON checks the JSON plan against the pods it was given:
// every pod placed once, the saving between the two plans consistent.
func TestPlanNodesJSON(t *testing.T) {
	out, _, err := run(t, "plan", "--pods", "testdata/nodeplan-pods.yaml", "--output", "json")
	require.NoError(t, err)
	var doc struct {
		Current, Recommended *nodeplan.Result
		Saving               *nodeplan.Saving
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	require.NotNil(t, doc.Recommended)
	require.NotNil(t, doc.Saving)
	for _, r := range []*nodeplan.Result{doc.Current, doc.Recommended} {
		placed := map[int]bool{}
		for _, n := range r.Nodes {
			for _, p := range n.Pods {
				require.False(t, placed[p.Pod], "pod %d placed twice", p.Pod)
				placed[p.Pod] = true
			}
		}
		require.Len(t, placed, 9, "3 web + 2 api + 4 gpu pods")
		require.Empty(t, r.Unplaced)
		require.LessOrEqual(t, r.LowerBoundPerHour, r.CostPerHour+1e-9)
	}
	require.InDelta(t, doc.Current.CostPerHour-doc.Recommended.CostPerHour, doc.Saving.SavingPerHour, 1e-9)
	require.Positive(t, doc.Saving.SavingPerHour, "the recommended requests are smaller")
}

// TestIsCSVHeader tells the Alibaba trace's CSV, in any column order,
// from rightsizer's pod lists and Kubernetes objects.
func TestIsCSVHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		head string
		csv  bool
	}{
		{"name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\nopenb-pod-0000,12000", true},
		{"cpu_milli,memory_mib,name,num_gpu,gpu_milli\r\n", true},
		{"\uFEFFname,cpu_milli,memory_mib", true},
		{"name,cpu_milli", true}, // no newline within the bytes read
		{"name,cpu,memory\n", false},
		{"pods:\n- name: a, b\n", false},
		{"# pods, cpu_milli and more\npods: []\n", false},
		{`{"pods": [{"name": "a,cpu_milli"}]}`, false},
		{"apiVersion: v1\nkind: List\n", false},
		{"", false},
	} {
		require.Equal(t, tc.csv, isCSVHeader([]byte(tc.head)), "%q", tc.head)
	}
}

// TestPlanOpenbColumnOrder plans the trace's CSV with its columns in
// another order: the same plan as in file order.
func TestPlanOpenbColumnOrder(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/openb-pods.csv")
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	var b strings.Builder
	w := csv.NewWriter(&b)
	for _, r := range rows {
		slices.Reverse(r)
		require.NoError(t, w.Write(r))
	}
	w.Flush()
	reversed := filepath.Join(t.TempDir(), "pods.csv")
	require.NoError(t, os.WriteFile(reversed, []byte(b.String()), 0o600))
	want, _, err := run(t, "plan", "--pods", "testdata/openb-pods.csv", "--output", "json", "--budget", "10m")
	require.NoError(t, err)
	got, _, err := run(t, "plan", "--pods", reversed, "--output", "json", "--budget", "10m")
	require.NoError(t, err)
	got = strings.Replace(got, strconv.Quote(reversed), strconv.Quote("testdata/openb-pods.csv"), 1)
	require.JSONEq(t, want, got, "the same plan, only the source differs")
}

// TestPlanDroppedTypes: instance types the DaemonSet overhead leaves no
// room on are named in the table and in a warning, the first five and a
// count of the rest; without overhead, none is.
func TestPlanDroppedTypes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		overhead string
		want     string // in the table's second line; "" for none
	}{
		{"none", "", ""},
		{"one", "memory=256Mi", "1 instance type left out, the DaemonSet overhead leaves no room: t3.nano\n"},
		// 2 cores leave nothing on the 2-vCPU types, whose allocatable
		// CPU is under 2 cores.
		{"many", "cpu=2", "instance types left out, the DaemonSet overhead leaves no room: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, logs, err := run(t, "plan", "--pods", "testdata/nodeplan-pods.yaml", "--daemonset-overhead", tc.overhead, "--budget", "10m")
			require.NoError(t, err)
			lines := strings.SplitN(out, "\n", 3)
			if tc.want == "" {
				require.Empty(t, lines[1])
				require.NotContains(t, logs, "left out")
				return
			}
			require.Contains(t, lines[1]+"\n", tc.want)
			require.Contains(t, logs, "instance types left out")
			if tc.name == "many" {
				require.Regexp(t, `^\d+ instance types left out, .*: [^,]+(, [^,]+){4} and \d+ more$`, lines[1])
			}
		})
	}
}
