package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/internal/realdata"
	gpubacktest "github.com/rightsizer/rightsizer/recommender/backtest/gpu"
)

// TestGPUEvalOnFixture runs `make eval-gpu`'s pipeline on the backtest's
// eight-hour GenAI fixture (four pods) and checks gpu.json: the issue's
// keys for every policy, the target per rightsizer profile, and the table.
func TestGPUEvalOnFixture(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "recommender", "backtest", "testdata", "genai-8h")
	res, err := runGPUEval(t.Context(), dir, "genai-8h", GPUEvalOptions{})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "out", "gpu.json")
	require.NoError(t, res.Write(path))

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc struct {
		Device   string                                `json:"device"`
		Pods     int                                   `json:"pods"`
		Order    []string                              `json:"order"`
		Policies map[string]map[string]json.RawMessage `json:"policies"`
		Targets  []Target                              `json:"targets"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	require.Equal(t, "H100-80GB", doc.Device)
	require.Equal(t, 4, doc.Pods)
	require.Equal(t, []string{"whole-gpu", "kruize", "cost", "balanced", "performance"}, doc.Order)
	for _, p := range doc.Order {
		for _, k := range []string{"gpu_equivalents", "mem_overflow_events", "layout_gpus", "mem_gib_hours", "reactions"} {
			require.Contains(t, doc.Policies[p], k, "%s %s", p, k)
		}
	}
	var eq float64
	require.NoError(t, json.Unmarshal(doc.Policies["whole-gpu"]["gpu_equivalents"], &eq))
	require.InDelta(t, 4, eq, 1e-9, "one GPU per pod")

	// overflow_rate is failed pod-hours over scored pod-hours; memory_risk
	// is the profile's, absent for the baselines.
	scored := res.PodHours - res.WarmupPodHours
	require.Positive(t, scored)
	for name, f := range res.Policies {
		require.InDelta(t, float64(f.MemOverflowPodHours)/scored, f.OverflowRate, 1e-5, name)
		want := map[string]float64{"cost": 0.03, "balanced": 0.02, "performance": 0.005}[name]
		require.Equal(t, want, f.MemoryRisk, name)
	}
	require.Equal(t, 3, strings.Count(tabOf(t, res), "overflow_rate within"), "one calibration line per profile")

	var required []string
	for _, tg := range doc.Targets {
		if tg.Required {
			required = append(required, tg.Name)
		}
	}
	require.Equal(t, []string{
		"balanced: fewer gpu_equivalents than kruize, no more mem_overflow_events",
		"balanced: fewer gpu_equivalents than kruize, no more mem_overflow_pod_hours",
	}, required, "the issue's target, for the default profile, on overflow samples and on failed decisions")

	tab := tabOf(t, res)
	for _, p := range doc.Order {
		require.Contains(t, tab, p)
	}
	require.Equal(t, 6, strings.Count(tab, "fewer gpu_equivalents than kruize"), "the target and its failed-decision variant")
}

func tabOf(t *testing.T, res *GPUEvalResult) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, res.Table(&b))
	return b.String()
}

// TestGPUEvalPods scores the fixture's halves and checks the options
// reach the result.
func TestGPUEvalPods(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "recommender", "backtest", "testdata", "genai-8h")
	for _, tc := range []struct {
		opts      GPUEvalOptions
		podSet    string
		pods      int
		reactions bool
		err       string
	}{
		{opts: GPUEvalOptions{}, podSet: "all", pods: 4, reactions: true},
		{opts: GPUEvalOptions{Pods: "even"}, podSet: "even", pods: 2, reactions: true},
		{opts: GPUEvalOptions{Pods: "odd", Backtest: gpubacktest.Options{NoReactions: true}}, podSet: "odd", pods: 2},
		{opts: GPUEvalOptions{Pods: "third"}, err: `pods "third" is not all, even or odd`},
	} {
		t.Run(tc.podSet+tc.err, func(t *testing.T) {
			t.Parallel()
			res, err := runGPUEval(t.Context(), dir, "genai-8h", tc.opts)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.podSet, res.PodSet)
			require.Equal(t, tc.pods, res.Pods)
			require.Equal(t, tc.reactions, res.Reactions)
			require.InDelta(t, float64(tc.pods), res.Policies["whole-gpu"].GPUEquivalents, 1e-9)
			if !tc.reactions {
				for p, f := range res.Policies {
					require.Zero(t, f.Reactions, p)
				}
			}
		})
	}
}

// TestGPUEvalMinSaving backs the profiles' MinSaving on the GenAI trace:
// against reshaping for any saving, every profile restarts pods less
// often, reserves at most 1 % more GPUs and overflows no more, and
// balanced still meets both required targets.
func TestGPUEvalMinSaving(t *testing.T) {
	t.Parallel()
	dir := realdata.Dir(t, GPUEvalDataset)
	zero := 0.0
	free, err := runGPUEval(t.Context(), dir, GPUEvalDataset, GPUEvalOptions{MinSaving: &zero})
	require.NoError(t, err)
	stable, err := runGPUEval(t.Context(), dir, GPUEvalDataset, GPUEvalOptions{})
	require.NoError(t, err)
	for _, name := range []string{"cost", "balanced", "performance"} {
		f, s := free.Policies[name], stable.Policies[name]
		require.Less(t, s.Reshapes, f.Reshapes, name)
		require.LessOrEqual(t, s.GPUEquivalents, 1.01*f.GPUEquivalents, name)
		require.LessOrEqual(t, s.MemOverflowEvents, f.MemOverflowEvents, name)
	}
	for _, tg := range stable.Targets {
		if tg.Required {
			require.True(t, tg.Pass, tg.Detail)
		}
	}
}
