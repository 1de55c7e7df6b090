package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender/backtest"
)

var (
	bitbrainsFixture = filepath.Join("..", "..", "..", "recommender", "backtest", "testdata", "bitbrains-2d")
	genaiFixture     = filepath.Join("..", "..", "..", "recommender", "backtest", "testdata", "genai-8h")
)

func TestBacktestFlagErrors(t *testing.T) {
	t.Parallel()
	requireFlagErrors(t, []flagCase{
		{[]string{"backtest"}, []string{"--replay DIR is required"}},
		{[]string{"backtest", "--replay", "x", "-o", "xml", "--interval", "-1h", "--warmup", "soon", "--plot", "x.jpg"},
			[]string{`--output "xml"`, `--interval "-1h"`, `--warmup "soon"`, `--plot "x.jpg": want a .png file`}},
		{[]string{"backtest", "--replay", "x", "--change-threshold", "0"}, []string{"--change-threshold 0: want a fraction above 0"}},
		{[]string{"backtest", "--replay", "x", "--change-threshold", "NaN"}, []string{"--change-threshold NaN"}},
		{[]string{"backtest", "--replay", bitbrainsFixture, "--policy", "nope,budget-90", "--baselines", "vpa,goldilocks"},
			[]string{`unknown profile "nope"`, `policy "budget-90"`, `unknown baseline "goldilocks"`}},
		{[]string{"backtest", "--replay", bitbrainsFixture, "--policy", "balanced,balanced"}, []string{`policy "balanced" given twice`}},
		{[]string{"backtest", "--replay", bitbrainsFixture, "--policy", "", "--baselines", ""}, []string{"nothing to run"}},
		{[]string{"backtest", "--replay", "/no/such/trace"}, []string{"--replay", "/no/such/trace"}},
		{[]string{"backtest", "--replay", bitbrainsFixture, "--warmup", "30d"}, []string{"warm-up 720h0m0s is longer than the bitbrains trace"}},
		{[]string{"backtest", "extra"}, []string{"unknown command"}},
	})
}

func TestBacktestMarkdown(t *testing.T) {
	t.Parallel()
	out, logs, err := run(t, "backtest", "--replay", bitbrainsFixture, "--interval", "6h", "--warmup", "12h", "-o", "markdown")
	require.NoError(t, err)
	require.Contains(t, logs, "backtest done")
	require.True(t, strings.HasPrefix(out, "### bitbrains: 4 workloads, 6.0 workload-days scored"), out)
	for _, p := range append(backtest.BaselineNames(), backtest.PolicyNames()...) {
		require.Contains(t, out, "| "+p+" |")
	}
}

// TestBacktestJSONAndPolicyFile runs one baseline against a policy file,
// without reactions, and reads the JSON back.
func TestBacktestJSONAndPolicyFile(t *testing.T) {
	t.Parallel()
	pol := filepath.Join(t.TempDir(), "lean.yaml")
	require.NoError(t, os.WriteFile(pol, []byte("defaultProfile: lean\nprofiles:\n  lean: {base: cost, cpu: {requestPercentile: 0.7}}\n"), 0o600))
	out, _, err := run(t, "backtest", "--replay", bitbrainsFixture, "--interval", "6h", "--warmup", "12h",
		"--baselines", "vpa", "--policy", "balanced,"+pol, "--react=false", "-o", "json")
	require.NoError(t, err)
	var results []backtest.Result
	require.NoError(t, json.Unmarshal([]byte(out), &results))
	require.Len(t, results, 1)
	r := results[0]
	require.Equal(t, "bitbrains", r.Dataset)
	require.Equal(t, "6h", r.Interval)
	var names []string
	for _, s := range r.Scores {
		names = append(names, s.Policy)
		require.Len(t, s.PerWorkload, 4, s.Policy)
		require.Positive(t, s.CPUCoreHours, s.Policy)
	}
	require.Equal(t, []string{"vpa", "balanced", "lean"}, names, "baselines first, then the policies as given")
	require.Less(t, r.Scores[2].CPUCoreHours, r.Scores[1].CPUCoreHours, "P70 asks for less than P90")

	// Counting every change, however small, counts at least as many.
	out, _, err = run(t, "backtest", "--replay", bitbrainsFixture, "--interval", "6h", "--warmup", "12h",
		"--baselines", "vpa", "--policy", "balanced,"+pol, "--react=false", "-o", "json", "--change-threshold", "1e-9")
	require.NoError(t, err)
	var all []backtest.Result
	require.NoError(t, json.Unmarshal([]byte(out), &all))
	for i, s := range all[0].Scores {
		require.GreaterOrEqual(t, s.ChangesPerDay, r.Scores[i].ChangesPerDay, s.Policy)
		require.Equal(t, r.Scores[i].CPUCoreHours, s.CPUCoreHours, "the threshold only counts")
	}
}

func TestBacktestPlots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, logs, err := run(t, "backtest", "--replay", genaiFixture, "--plot", filepath.Join(dir, "genai.png"))
	require.NoError(t, err)
	require.Contains(t, logs, "wrote plot")
	for _, f := range []string{"genai-genai.png", "genai-genai-memfrac.png"} {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, "a trace with two datasets writes a plot for each")
		require.Positive(t, st.Size())
	}
}

// TestBacktestGPU runs `backtest --gpu` on the eight-hour GenAI fixture:
// a row per GPU policy, whole-gpu reserving one GPU per pod, and JSON
// that decodes.
func TestBacktestGPU(t *testing.T) {
	t.Parallel()
	out, _, err := run(t, "backtest", "--replay", genaiFixture, "--gpu")
	require.NoError(t, err)
	for _, p := range []string{"whole-gpu", "kruize", "cost", "balanced", "performance"} {
		require.Contains(t, out, p)
	}
	type result struct {
		Pods   int `json:"pods"`
		Scores []struct {
			Policy         string  `json:"policy"`
			GPUEquivalents float64 `json:"gpu_equivalents"`
			Overflows      int     `json:"mem_overflow_events"`
		} `json:"scores"`
	}
	decode := func(args ...string) result {
		t.Helper()
		js, _, err := run(t, append([]string{"backtest", "--replay", genaiFixture, "--gpu", "--output", "json"}, args...)...)
		require.NoError(t, err)
		var res result
		require.NoError(t, json.Unmarshal([]byte(js), &res))
		require.Len(t, res.Scores, 5)
		return res
	}
	res := decode()
	require.Equal(t, "whole-gpu", res.Scores[0].Policy)
	require.InDelta(t, float64(res.Pods), res.Scores[0].GPUEquivalents, 1e-9)

	// --react=false: rightsizer's profiles wait for the next hour after an
	// overflow, as the baselines do. On this fixture that turns each
	// profile's one overflowing sample into kruize's three.
	still := decode("--react=false")
	for i, s := range still.Scores {
		r := res.Scores[i]
		require.Equal(t, r.Policy, s.Policy)
		switch s.Policy {
		case "whole-gpu", "kruize":
			require.Equal(t, r, s, "baselines never react")
		default:
			require.Equal(t, 1, r.Overflows, s.Policy)
			require.Equal(t, 3, s.Overflows, s.Policy)
		}
	}
}
