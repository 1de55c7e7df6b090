// Command eval-gpu backtests GPU shapes (rightsizer's cost, balanced and
// performance profiles, and the whole-gpu and kruize baselines) on the
// Alibaba GenAI trace in shared/data, assumed to run on H100-80GB, checks
// the target against kruize, prints a table and writes bench/out/gpu.json.
// -pods even|odd scores one half of the pods (the profiles' settings
// were chosen on the even half); -no-reactions leaves every policy to
// act only at decision points; -min-saving replaces the profiles' minimum
// saving for a reshape (0: any saving).
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"

	"github.com/rightsizer/rightsizer/bench"
	gpubacktest "github.com/rightsizer/rightsizer/recommender/backtest/gpu"
)

func main() {
	path := flag.String("out", "bench/out/gpu.json", "file to write")
	warmup := flag.Duration("warmup", gpubacktest.DefaultWarmup, "history a pod needs before any policy resizes it (one whole GPU until then)")
	pods := flag.String("pods", "all", "pods to score: all, or the even or odd half by name order")
	noReactions := flag.Bool("no-reactions", false, "rightsizer's profiles do not reshape a pod at an overflow, only at decision points")
	minSaving := flag.Float64("min-saving", -1, "the share of a shape's GPUs a reshape must save, for every profile (0: any saving); negative keeps the profiles' own")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts := bench.GPUEvalOptions{
		Backtest: gpubacktest.Options{Warmup: *warmup, NoReactions: *noReactions},
		Pods:     *pods,
	}
	if *minSaving >= 0 {
		opts.MinSaving = minSaving
	}
	res, err := bench.RunGPUEval(ctx, opts)
	bench.Finish("eval-gpu", *path, res, err)
}
