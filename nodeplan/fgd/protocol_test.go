package fgd

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/nodeplan/place"
	"github.com/rightsizer/rightsizer/recommender"
)

// tinyTrace is four pods, named out of order, asking 2,600 GPU milli.
func tinyTrace() []cluster.Pod {
	return []cluster.Pod{
		{Name: "d", CPU: 1000, GPU: cluster.GPURequest{Count: 1}},
		{Name: "b", CPU: 1000, GPU: cluster.GPURequest{Milli: 600}},
		{Name: "a", CPU: 1000},
		{Name: "c", CPU: 1000, GPU: cluster.GPURequest{Count: 1}},
	}
}

func TestArrivalsInflate(t *testing.T) {
	t.Parallel()
	trace := tinyTrace()
	const capacity = 4000 // 130 % = 5,200 milli
	seq := Arrivals(trace, capacity, 1.3, runRand(42))
	require.Equal(t, seq, Arrivals(trace, capacity, 1.3, runRand(42)), "deterministic per seed")
	require.NotEqual(t, seq, Arrivals(trace, capacity, 1.3, runRand(43)))

	// The trace first, each pod once, shuffled.
	head := slices.Clone(seq[:len(trace)])
	slices.Sort(head)
	require.Equal(t, []int{0, 1, 2, 3}, head)

	// Then draws until the next one's per-GPU milli would pass 5,200.
	total := 0
	for _, i := range seq {
		total += trace[i].GPU.TotalMilli()
	}
	require.LessOrEqual(t, total, 5200)
	require.Greater(t, len(seq), len(trace))
	require.Greater(t, total+600, 5200-1000, "stopped only when a draw no longer fitted")
}

func TestArrivalsStopsOnPerGPUMilli(t *testing.T) {
	t.Parallel()
	// One pod asking 2 whole GPUs: its per-GPU milli (1000) is checked
	// against the target, but 2000 are added, as the simulator does.
	trace := []cluster.Pod{{Name: "x", GPU: cluster.GPURequest{Count: 2}}}
	seq := Arrivals(trace, 1000, 3.5, runRand(1)) // target 3,500
	// 2000 (trace) + 1000 ≤ 3500 → 4000 added; 4000 + 1000 > 3500 → stop.
	require.Equal(t, []int{0, 0}, seq)
}

func TestArrivalsTuneDown(t *testing.T) {
	t.Parallel()
	trace := tinyTrace() // 2,600 milli
	seq := Arrivals(trace, 1000, 1.3, runRand(5))
	total := 0
	for _, i := range seq {
		total += trace[i].GPU.TotalMilli()
	}
	require.LessOrEqual(t, total, 1300)
	require.Less(t, len(seq), len(trace))
	require.Len(t, slices.Compact(slices.Sorted(slices.Values(seq))), len(seq), "removal, no repeats")
}

func TestArrivalsWithoutGPUsEnd(t *testing.T) {
	t.Parallel()
	trace := []cluster.Pod{{Name: "cpu", CPU: 1}}
	seq := Arrivals(trace, 1000, 1.3, runRand(1))
	require.NotEmpty(t, seq)
	require.Empty(t, Arrivals(nil, 1000, 1.3, runRand(1)))
}

func TestPriority(t *testing.T) {
	t.Parallel()
	nodes := []cluster.NodeType{{Name: "n2"}, {Name: "n0"}, {Name: "n1"}, {Name: "n3"}}
	order := Priority(nodes, runRand(42))
	require.Equal(t, order, Priority(nodes, runRand(42)))
	require.ElementsMatch(t, []int{0, 1, 2, 3}, order)
	// The permutation is of the name-sorted nodes: renaming files' rows
	// does not change it.
	shuffled := []cluster.NodeType{nodes[3], nodes[1], nodes[0], nodes[2]}
	o2 := Priority(shuffled, runRand(42))
	for k := range order {
		require.Equal(t, nodes[order[k]].Name, shuffled[o2[k]].Name)
	}
}

func TestBin(t *testing.T) {
	t.Parallel()
	const capacity = 200_000 // 1 % = 2,000 milli
	records := []Record{
		{ArrivedMilli: 0, UsedMilli: 0},             // bin 0
		{ArrivedMilli: 1000, UsedMilli: 1000},       // 0.5 % rounds half to even: bin 0
		{ArrivedMilli: 3000, UsedMilli: 3000},       // 1.5 % → bin 2
		{ArrivedMilli: 4000, UsedMilli: 2000},       // 2 % → bin 2
		{ArrivedMilli: 9999, UsedMilli: 9999},       // 4.9995 % → bin 5; alloc rounded to 5.00
		{ArrivedMilli: 260_000, UsedMilli: 190_000}, // 130 %
	}
	c := Bin(records, capacity)
	require.InDelta(t, 0.25, c[0], 1e-12, "mean of 0 and 0.5")
	require.InDelta(t, (0+0.5+1.5+1)/4.0, c[1], 1e-12, "empty: bins 0..2")
	require.InDelta(t, 1.25, c[2], 1e-12)
	require.InDelta(t, 1.25, c[3], 1e-12, "empty: bins 2..4, only 2 has records")
	require.True(t, math.IsNaN(c[10]), "nothing within one bin")
	require.InDelta(t, 5.0, c[5], 1e-12)
	require.InDelta(t, 95, c[130], 1e-12)
}

func TestRunRecordsEveryAttempt(t *testing.T) {
	t.Parallel()
	types := []cluster.NodeType{
		{Name: "g", Allocatable: cluster.Resources{CPU: 8000, Memory: 64 * recommender.GiB, Pods: 1001}, GPUs: 2, GPUModel: "T4"},
	}
	pods := []cluster.Pod{
		{Name: "w", CPU: 1000, GPU: cluster.GPURequest{Count: 1}},
		{Name: "s", CPU: 1000, GPU: cluster.GPURequest{Milli: 500}},
		{Name: "big", CPU: 1000, GPU: cluster.GPURequest{Count: 2}}, // fails: one GPU is used
		{Name: "s2", CPU: 1000, GPU: cluster.GPURequest{Milli: 500}},
	}
	typical := place.TypicalPods(pods, 100)
	for _, pol := range place.Policies() {
		tr, err := Run(t.Context(), types, []int{0}, pods, []int{0, 1, 2, 3}, pol, place.Config{Typical: typical, Seed: 1})
		require.NoError(t, err, pol)
		require.Equal(t, 1, tr.Failed, pol)
		require.Equal(t, 2000, tr.CapacityMilli)
		require.Equal(t, []Record{{1000, 1000}, {1500, 1500}, {3500, 1500}, {4000, 2000}}, tr.Records, pol)
	}
	_, err := Run(t.Context(), types, []int{0}, pods, []int{0}, "Tetris", place.Config{})
	require.ErrorContains(t, err, "unknown policy")
}

func TestRunStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	types := []cluster.NodeType{{Name: "g", Allocatable: cluster.Resources{CPU: 8000, Pods: 10}, GPUs: 1, GPUModel: "T4"}}
	pods := []cluster.Pod{{Name: "p", CPU: 1}}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Run(ctx, types, []int{0}, pods, []int{0}, place.BestFit, place.Config{})
	require.ErrorIs(t, err, ctx.Err())
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, (&Options{}).Validate())
	bad := Options{
		Seeds: []uint64{1, 1}, Policies: []string{"FGD", "FGD", "Tetris"}, Inflation: math.NaN(),
		Popularity: 101, Workers: -1, OfflinePolicy: "x", Trace: "../x.csv",
	}
	err := bad.Validate()
	for _, want := range []string{"seed 1 twice", `policy "FGD" twice`, `unknown policy "Tetris"`, "inflation NaN",
		"popularity 101", "workers -1", `unknown offline policy "x"`, `file "../x.csv"`} {
		require.ErrorContains(t, err, want)
	}
}

func TestSummarise(t *testing.T) {
	t.Parallel()
	s := summarise([]float64{1, 2, 3, 4})
	require.Equal(t, Stats{Mean: 2.5, SD: math.Sqrt(5.0 / 3), Min: 1, Max: 4, N: 4}, s)
	require.Equal(t, Stats{}, summarise(nil), "no NaN for JSON")
	p := paired([]RunReport{{At100: 2, At130: 1}, {At100: 3, At130: 1}}, []RunReport{{At100: 1, At130: 2}, {At100: 1, At130: 1}}, "A", "B")
	require.Equal(t, 2, p.Wins100)
	require.Equal(t, 0, p.Wins130)
	require.InDelta(t, 1.5, p.At100.Mean, 1e-12)
	require.Equal(t, fmt.Sprint(-0.5), fmt.Sprint(p.At130.Mean))
}
