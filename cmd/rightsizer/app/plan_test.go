package app

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/internal/golden"
)

// TestPlanGPUGolden pins what `plan --gpu` prints: the demo's shapes and
// layouts, and the mig-parted config for a nodes file.
func TestPlanGPUGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"demo-table", []string{"plan", "--gpu", "--demo", "--duration", "2d"}},
		{"demo-yaml", []string{"plan", "--gpu", "--demo", "--duration", "2d", "--output", "yaml"}},
		{"nodes-yaml", []string{"plan", "--gpu", "--nodes", "testdata/gpu-nodes.yaml", "--output", "yaml"}},
		{"nodes-no-disruption", []string{"plan", "--gpu", "--nodes", "testdata/gpu-nodes.yaml", "--policy", "no-disruption"}},
		{"nodes-single", []string{"plan", "--gpu", "--nodes", "testdata/gpu-nodes.yaml", "--strategy", "single", "--output", "yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := run(t, tc.args...)
			require.NoError(t, err)
			golden.Lines(t, "testdata/plan-"+tc.name+".golden", out)
		})
	}
}

func TestPlanFlagErrors(t *testing.T) {
	requireFlagErrors(t, []flagCase{
		{[]string{"plan", "--demo"}, []string{"give --gpu"}},
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
