// Command eval-plan proves the node planner on the Alibaba GPU trace in
// shared/data: the FGD paper's online protocol (rightsizer's policy beside
// the re-implemented and published baselines), the plan of the default
// trace's 8,152 pods onto the AWS catalog against its lower bound, and the
// time to plan 10,000 pods. It prints a table and writes
// bench/out/nodeplan.json.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"

	"github.com/rightsizer/rightsizer/bench"
)

func main() {
	path := flag.String("out", "bench/out/nodeplan.json", "file to write")
	runs := flag.Int("timing-runs", 3, "how many times to time the 10,000-pod plan (the median is reported)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := bench.RunPlanEval(ctx, bench.PlanEvalOptions{TimingRuns: *runs})
	bench.Finish("eval-plan", *path, res, err)
}
