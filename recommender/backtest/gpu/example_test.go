package gpu_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
	gpubacktest "github.com/rightsizer/rightsizer/recommender/backtest/gpu"
)

// Five hours of one inference pod at 10 % busy with 8 GiB of its GPU's
// 80: after the first hour's warm-up on its whole GPU, Kruize moves it to
// a 1g.10gb MIG slice (9.6 GiB) at once. Rightsizer's cost and balanced
// profiles take 1g.20gb while one or two hours of history leave the next
// hour's peak uncertain, and 1g.10gb from the third hour on; performance
// keeps 2 GiB over the peak, more than 1g.10gb holds.
func ExampleRun() {
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	pod := gpubacktest.Pod{Name: "llm-0"}
	for i := range 300 {
		pod.Samples = append(pod.Samples, gpubacktest.Sample{
			Time:    start.Add(time.Duration(i) * time.Minute),
			Compute: 0.10,
			Memory:  8 * recommender.GiB,
			Has:     recommender.ResourceSet(0).With(recommender.ResourceGPUCompute).With(recommender.ResourceGPUMemory),
		})
	}
	res, err := gpubacktest.Run(context.Background(), gpubacktest.Trace{Pods: []gpubacktest.Pod{pod}}, gpubacktest.Policies(), gpubacktest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range res.Scores {
		var shapes []string
		for _, w := range s.PodScores[0].Windows[1:] {
			shapes = append(shapes, w.Decision.Allocation.String())
		}
		fmt.Printf("%-11s %.3f GPUs, %d overflows: warm-up, %s\n", s.Policy, s.GPUEquivalents, s.MemOverflowEvents, strings.Join(shapes, ", "))
	}
	// Output:
	// whole-gpu   1.000 GPUs, 0 overflows: warm-up, 1 × GPU, 1 × GPU, 1 × GPU, 1 × GPU
	// kruize      0.314 GPUs, 0 overflows: warm-up, mig 1g.10gb, mig 1g.10gb, mig 1g.10gb, mig 1g.10gb
	// cost        0.357 GPUs, 0 overflows: warm-up, mig 1g.20gb, mig 1g.20gb, mig 1g.10gb, mig 1g.10gb
	// balanced    0.357 GPUs, 0 overflows: warm-up, mig 1g.20gb, mig 1g.20gb, mig 1g.10gb, mig 1g.10gb
	// performance 0.400 GPUs, 0 overflows: warm-up, mig 1g.20gb, mig 1g.20gb, mig 1g.20gb, mig 1g.20gb
}
