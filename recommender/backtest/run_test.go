package backtest

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/internal/golden"
	"github.com/rightsizer/rightsizer/recommender"
)

const (
	bitbrainsFixture = "testdata/bitbrains-2d"
	genaiFixture     = "testdata/genai-8h"
)

// allFactories returns the three baselines and the five default rightsizer
// policies, as `rightsizer backtest` runs them.
func allFactories(t *testing.T) []Factory {
	t.Helper()
	fs, err := Factories(BaselineNames(), PolicyNames())
	require.NoError(t, err)
	return fs
}

// runFixture backtests every dataset of a fixture with every policy.
func runFixture(t *testing.T, dir string, opts Options) []Result {
	t.Helper()
	ds, err := LoadDatasets(dir)
	require.NoError(t, err)
	var out []Result
	for _, d := range ds {
		ps, err := NewAll(allFactories(t), d, opts)
		require.NoError(t, err)
		scores, err := Run(t.Context(), d, ps, opts)
		require.NoError(t, err)
		out = append(out, NewResult(d, opts, scores))
	}
	return out
}

// TestGoldenTable pins the table of two short real series: two days of four
// Bitbrains VMs and eight hours of four GenAI pods, every baseline and policy.
func TestGoldenTable(t *testing.T) {
	t.Parallel()
	results := runFixture(t, bitbrainsFixture, Options{Interval: 6 * time.Hour, Warmup: 12 * time.Hour})
	results = append(results, runFixture(t, genaiFixture, Options{})...)
	var b bytes.Buffer
	require.NoError(t, WriteTable(&b, results))
	golden.Lines(t, filepath.Join("testdata", "table.golden"), b.String())
}

// TestReplayIsDeterministic runs the same fixture twice, each run's
// policies in parallel: the figures agree to the bit.
func TestReplayIsDeterministic(t *testing.T) {
	t.Parallel()
	opts := Options{Interval: 6 * time.Hour, Warmup: 12 * time.Hour, Parallel: 8}
	a, b := runFixture(t, bitbrainsFixture, opts), runFixture(t, bitbrainsFixture, opts)
	require.Equal(t, a[0].Scores, b[0].Scores)
}

func TestUsageReactions(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	cases := []struct {
		name      string
		reactsUp  bool
		resizable bool
		opts      Options
		decisions []time.Duration // since t0
		over      float64
	}{
		// 400m is applied at the end of the warm-up; usage (500m) runs
		// above it at 24 h and 25 h, so the controller decides again at
		// 25 h and applies 600m.
		{"reacts", true, true, Options{}, []time.Duration{day, day + time.Hour, 2 * day}, 2.0 / 48},
		{"after three", true, true, Options{ReactAfter: 3}, []time.Duration{day, day + 2*time.Hour, 2 * day}, 3.0 / 48},
		{"not resizable in place", true, false, Options{}, []time.Duration{day, 2 * day}, 24.0 / 48},
		{"reactions off", true, true, Options{NoReactions: true}, []time.Duration{day, 2 * day}, 24.0 / 48},
		{"not a reactor", false, true, Options{}, []time.Duration{day, 2 * day}, 24.0 / 48},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := hourly(72, recommender.Amounts{CPU: 1000, Memory: 2 * recommender.GiB}, func(int) recommender.Usage { return cpuMem(500, recommender.GiB) })
			d.ResizableInPlace = c.resizable
			p := &script{name: "p", reactsUp: c.reactsUp, plan: []Applied{
				{CPURequest: 400, MemoryRequest: recommender.GiB, MemoryLimit: 2 * recommender.GiB},
				{CPURequest: 600, MemoryRequest: recommender.GiB, MemoryLimit: 2 * recommender.GiB},
			}}
			scores, err := Run(t.Context(), d, []Policy{p}, c.opts)
			require.NoError(t, err)
			var got []time.Duration
			for _, at := range p.seenAt {
				got = append(got, at.Sub(t0))
			}
			require.Equal(t, c.decisions, got)
			require.InDelta(t, c.over, scores[0].CPUOverFrac, 1e-12)
		})
	}
}

func TestStabilise(t *testing.T) {
	t.Parallel()
	r := &Rightsizer{opts: RightsizerOptions{Window: 25 * time.Hour}, recent: map[recommender.ContainerKey][]stamped{}}
	k := ckey("w")
	cpu := func(m recommender.MilliCPU) Applied { return Applied{CPURequest: m, MemoryRequest: recommender.GiB} }
	steps := []struct {
		at   time.Duration
		rec  recommender.MilliCPU
		want recommender.MilliCPU
	}{
		{0, 1000, 1000},
		{24 * time.Hour, 300, 1000}, // yesterday's 1000m is in the window
		{48 * time.Hour, 400, 400},  // 1000m has left it, 300m is below
		{49 * time.Hour, 350, 400},
		{80 * time.Hour, 200, 200},
	}
	for _, s := range steps {
		require.Equal(t, s.want, r.stabilise(k, t0.Add(s.at), cpu(s.rec)).CPURequest, "at %v", s.at)
	}
	r.opts.Window = 0
	require.Equal(t, recommender.MilliCPU(5), r.stabilise(k, t0, cpu(5)).CPURequest, "no window, no memory")
}

func TestRises(t *testing.T) {
	t.Parallel()
	base := Applied{CPURequest: 1000, MemoryRequest: recommender.GiB, MemoryLimit: 2 * recommender.GiB}
	cases := []struct {
		name string
		edit func(*Applied)
		want bool
	}{
		{"same", func(*Applied) {}, false},
		{"cpu within 1 %", func(a *Applied) { a.CPURequest = 1009 }, false},
		{"cpu up", func(a *Applied) { a.CPURequest = 1020 }, true},
		{"memory request up", func(a *Applied) { a.MemoryRequest = 2 * recommender.GiB }, true},
		{"memory limit up", func(a *Applied) { a.MemoryLimit = 3 * recommender.GiB }, true},
		{"everything down", func(a *Applied) { *a = Applied{CPURequest: 1, MemoryRequest: 1, MemoryLimit: 1} }, false},
		{"a cpu limit appears", func(a *Applied) { a.CPULimit = 4000 }, false},
	}
	for _, c := range cases {
		next := base
		c.edit(&next)
		require.Equal(t, c.want, rises(next, base, 0.01), c.name)
	}
}

// TestRightsizerDecide drives the adapter on the real engine: down after
// history, held down within MinDownInterval, up at once, and what it
// applies written back to the engine's inventory.
func TestRightsizerDecide(t *testing.T) {
	t.Parallel()
	pol, err := NamedPolicy(recommender.ProfileBalanced)
	require.NoError(t, err)
	r, err := NewRightsizer("balanced", pol, RightsizerOptions{MinDownInterval: 12 * time.Hour})
	require.NoError(t, err)
	k := ckey("api")
	big := Applied{CPURequest: 2000, MemoryRequest: 4 * recommender.GiB, MemoryLimit: 4 * recommender.GiB}
	require.NoError(t, r.UpsertWorkload(recommender.Workload{Key: k.WorkloadKey, Replicas: 1, Containers: []recommender.ContainerSpec{{
		Name: k.Container, Requests: recommender.Amounts{CPU: big.CPURequest, Memory: big.MemoryRequest}, Limits: recommender.Amounts{Memory: big.MemoryLimit},
	}}}))
	_, ok := r.Decide(k, t0, big)
	require.False(t, ok, "no data, no decision")

	var batch []recommender.Sample
	for i := range 24 * 60 {
		batch = append(batch, recommender.Sample{Key: k, Time: t0.Add(time.Duration(i) * time.Minute), Usage: cpuMem(500, recommender.GiB)})
	}
	require.NoError(t, r.Ingest(batch))
	now := t0.Add(24 * time.Hour)

	down, ok := r.Decide(k, now, big)
	require.True(t, ok)
	require.Less(t, down.CPURequest, recommender.MilliCPU(700))
	require.GreaterOrEqual(t, down.CPURequest, recommender.MilliCPU(500))
	require.Less(t, down.MemoryLimit, 2*recommender.GiB)
	rec, err := r.Recommend(k)
	require.NoError(t, err)
	require.Equal(t, down.CPURequest, rec.CPU.CurrentRequest, "the applied request is in the inventory")

	_, ok = r.Decide(k, now.Add(time.Hour), big)
	require.False(t, ok, "within 12 h of a change, nothing goes down")

	// CPU must rise, memory would fall: raise CPU, hold memory.
	mixed := Applied{CPURequest: 100, MemoryRequest: 4 * recommender.GiB, MemoryLimit: 4 * recommender.GiB}
	got, ok := r.Decide(k, now.Add(2*time.Hour), mixed)
	require.True(t, ok)
	require.Equal(t, down.CPURequest, got.CPURequest)
	require.Equal(t, mixed.MemoryRequest, got.MemoryRequest)
	require.Equal(t, mixed.MemoryLimit, got.MemoryLimit)

	got, ok = r.Decide(k, now.Add(15*time.Hour), big)
	require.True(t, ok, "13 h after the last change it may go down")
	require.Equal(t, down, got)
}

func TestLoadDatasets(t *testing.T) {
	t.Parallel()
	ds, err := LoadDatasets(bitbrainsFixture)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	bb := ds[0]
	require.Equal(t, "bitbrains", bb.Name)
	require.True(t, bb.HasCompute && bb.HasMemory && bb.ResizableInPlace)
	require.False(t, bb.ComputeIsGPU || bb.MemoryIsGPU)
	require.Equal(t, 5*time.Minute, bb.Step)
	require.Equal(t, 24*time.Hour, bb.Interval)
	require.Len(t, bb.Workloads, 4)
	for _, w := range bb.Workloads {
		c := w.Containers[0]
		require.Positive(t, c.Requests.CPU, w.Key.Name)
		require.Equal(t, c.Requests.Memory, c.Limits.Memory, "a VM's memory is its limit")
	}
	requireTimeOrder(t, bb)

	ds, err = LoadDatasets(genaiFixture)
	require.NoError(t, err)
	require.Len(t, ds, 2)
	g, mf := ds[0], ds[1]
	require.Equal(t, "genai", g.Name)
	require.True(t, g.ComputeIsGPU && g.MemoryIsGPU)
	require.False(t, g.ResizableInPlace, "GPU shapes do not resize in place")
	require.Equal(t, time.Hour, g.Interval)
	for _, s := range g.Samples {
		require.Zero(t, s.Usage.Has&^recommender.ResourceSet(0).With(recommender.ResourceCPU).With(recommender.ResourceMemory), "GPU values move onto the two channels")
		require.LessOrEqual(t, s.Usage.CPU, recommender.MilliCPU(1000), "one GPU busy at most")
	}
	requireTimeOrder(t, g)
	require.Equal(t, "genai-memfrac", mf.Name)
	require.False(t, mf.HasCompute)
	for _, w := range mf.Workloads {
		require.Equal(t, recommender.GiB, w.Containers[0].Limits.Memory, "nominal limit")
	}
	for _, s := range mf.Samples {
		require.LessOrEqual(t, s.Usage.Memory, 2*recommender.GiB)
	}
	requireTimeOrder(t, mf)

	_, err = LoadDatasets(filepath.Join(t.TempDir(), "missing"))
	require.Error(t, err)
	_, err = LoadDatasets(t.TempDir())
	require.Error(t, err, "an empty folder is no trace")
}

func requireTimeOrder(t *testing.T, d *Dataset) {
	t.Helper()
	require.NotEmpty(t, d.Samples)
	for i := 1; i < len(d.Samples); i++ {
		require.False(t, d.Samples[i].Time.Before(d.Samples[i-1].Time), "%s sample %d", d.Name, i)
	}
	require.False(t, d.End().Before(d.Start()))
}

func TestReportFormats(t *testing.T) {
	t.Parallel()
	results := runFixture(t, genaiFixture, Options{})
	require.Len(t, results, 2)

	var md bytes.Buffer
	require.NoError(t, WriteMarkdown(&md, results))
	lines := strings.Split(md.String(), "\n")
	require.Equal(t, "### genai: 4 workloads, 1.0 workload-days scored, 2022-09-11 01:12 to 2022-09-11 09:11, a decision every 1h after a 2h warm-up", lines[0])
	require.Equal(t, "| policy | GPU-h | above request | unmet GPU-h | GPU memory GiB-h | OOM kills | OOM/workload-day | changes/workload-day |", lines[2])
	require.Equal(t, "|---|---:|---:|---:|---:|---:|---:|---:|", lines[3])
	require.Contains(t, md.String(), "| policy | memory request, limit-h | OOM kills | OOM/workload-day | changes/workload-day |", "no compute columns without compute")
	require.Equal(t, 2*(len(allFactories(t))+5), strings.Count(md.String(), "\n"), "heading, blank, header, rule, rows, blank: per dataset")

	var js bytes.Buffer
	require.NoError(t, WriteJSON(&js, results))
	var back []map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	require.Len(t, back, 2)
	require.Equal(t, "genai", back[0]["dataset"])
	require.Equal(t, "1h", back[0]["decision_interval"])
	require.Equal(t, "2h", back[0]["warmup"])
	scores := back[0]["scores"].([]any)
	require.Len(t, scores, 8)
	first := scores[0].(map[string]any)
	for _, key := range []string{"policy", "cpu_core_hours", "cpu_over_frac", "cpu_unmet_core_hours", "mem_gib_hours", "oom_events", "changes_per_day", "per_workload"} {
		require.Contains(t, first, key)
	}
}

func TestCostAndRisk(t *testing.T) {
	t.Parallel()
	p := recommender.DefaultPrices()
	s := &Score{CPUCoreHours: 100, MemGiBHours: 400, CPUOverFrac: 0.02, OOMPerWorkloadDay: 0.5, PerWorkload: []WorkloadScore{
		{CPUCoreHours: 10, MemGiBHours: 80 * 5}, // memory-bound: 5 GPU-hours
		{CPUCoreHours: 3, MemGiBHours: 80},      // compute-bound: 3 GPU-hours
	}}
	cases := []struct {
		name       string
		d          Dataset
		cost, risk float64
	}{
		{"cpu and memory", Dataset{HasCompute: true, HasMemory: true}, 100*p.CoreHour + 400*p.GiBHour, 0.02},
		{"gpu", Dataset{HasCompute: true, HasMemory: true, ComputeIsGPU: true, MemoryIsGPU: true}, (10 + 3) * p.GPUHour, 0.5},
		{"memory only", Dataset{HasMemory: true}, 400, 0.5},
	}
	for _, c := range cases {
		require.InDelta(t, c.cost, Cost(&c.d, s), 1e-9, c.name)
		require.InDelta(t, c.risk, Risk(&c.d, s), 1e-12, c.name)
	}
}

func TestSaveResultPlot(t *testing.T) {
	t.Parallel()
	results := runFixture(t, bitbrainsFixture, Options{Interval: 6 * time.Hour, Warmup: 12 * time.Hour})
	path := filepath.Join(t.TempDir(), "bitbrains.png")
	require.NoError(t, SaveResultPlot(path, results[0], allFactories(t)))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err)
	require.Greater(t, img.Bounds().Dx(), 400)

	require.ErrorContains(t, SaveResultPlot(path, Result{Dataset: "x"}, nil), "no dataset")
}

// TestPolicyFactoryOptions: how rightsizer applies its advice follows the
// dataset. In place (Bitbrains) the controller applies the live request;
// on GPU data a change restarts the pod, so it goes down at most every
// 12 h; without reactions it applies the stable request.
func TestPolicyFactoryOptions(t *testing.T) {
	t.Parallel()
	f, err := PolicyFactory(recommender.ProfileBalanced)
	require.NoError(t, err)
	cases := []struct {
		name string
		d    Dataset
		opts Options
		want RightsizerOptions
	}{
		{"in place", Dataset{Interval: 24 * time.Hour, ResizableInPlace: true}, Options{},
			RightsizerOptions{Window: 24*time.Hour + time.Minute, Live: true}},
		{"in place, no reactions", Dataset{Interval: 24 * time.Hour, ResizableInPlace: true}, Options{NoReactions: true},
			RightsizerOptions{Window: 24*time.Hour + time.Minute}},
		{"restarts", Dataset{Interval: time.Hour}, Options{},
			RightsizerOptions{Window: time.Hour + time.Minute, MinDownInterval: 12 * time.Hour}},
		{"interval given", Dataset{Interval: time.Hour}, Options{Interval: 6 * time.Hour},
			RightsizerOptions{Window: 6*time.Hour + time.Minute, MinDownInterval: 12 * time.Hour}},
	}
	for _, c := range cases {
		p, err := f.New(&c.d, c.opts)
		require.NoError(t, err, c.name)
		require.Equal(t, c.want, p.(*Rightsizer).opts, c.name)
		require.Equal(t, "balanced", p.Name())
	}
}

func TestFactories(t *testing.T) {
	t.Parallel()
	fs, err := Factories([]string{"krr"}, []string{"budget-2", "cost"})
	require.NoError(t, err)
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
	}
	require.Equal(t, []string{"krr", "budget-2", "cost"}, names)
	require.True(t, fs[0].Baseline)
	require.False(t, fs[1].Baseline)

	_, err = Factories([]string{"vpa", "vpa", "goldilocks"}, []string{"nope"})
	require.ErrorContains(t, err, `policy "vpa" given twice`)
	require.ErrorContains(t, err, `unknown baseline "goldilocks"`)
	require.ErrorContains(t, err, `unknown profile "nope"`)
}
