package gpu_test

import (
	"context"
	"fmt"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
	gpubacktest "github.com/rightsizer/rightsizer/recommender/backtest/gpu"
)

// Three hours of one inference pod at 10 % busy with 8 GiB of its GPU's
// 80: after the first hour's warm-up on its whole GPU, rightsizer's cost
// profile and Kruize both move it to a 1g.10gb MIG slice, 1/7 of a GPU.
func ExampleRun() {
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	pod := gpubacktest.Pod{Name: "llm-0"}
	for i := range 180 {
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
		fmt.Printf("%-11s %.3f GPUs, %d overflows, %.0f GiB-hours\n", s.Policy, s.GPUEquivalents, s.MemOverflowEvents, s.MemGiBHours)
	}
	// Output:
	// whole-gpu   1.000 GPUs, 0 overflows, 240 GiB-hours
	// kruize      0.429 GPUs, 0 overflows, 99 GiB-hours
	// cost        0.429 GPUs, 0 overflows, 99 GiB-hours
	// balanced    0.429 GPUs, 0 overflows, 99 GiB-hours
	// performance 0.500 GPUs, 0 overflows, 119 GiB-hours
}
