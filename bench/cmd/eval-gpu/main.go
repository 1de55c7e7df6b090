// Command eval-gpu backtests GPU shapes (rightsizer's cost, balanced and
// performance profiles, and the whole-gpu and kruize baselines) on the
// Alibaba GenAI trace in shared/data, assumed to run on H100-80GB, checks
// the target against kruize, prints a table and writes bench/out/gpu.json.
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
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := bench.RunGPUEval(ctx, gpubacktest.Options{Warmup: *warmup})
	bench.Finish("eval-gpu", *path, res, err)
}
