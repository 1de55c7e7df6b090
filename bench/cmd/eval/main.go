// Command eval backtests rightsizer's policies against the provisioned
// requests, VPA and KRR on the real traces in shared/data, checks the
// targets, and writes bench/out/eval.json, eval.md and eval-<dataset>.png.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/rightsizer/rightsizer/bench"
)

func main() {
	out := flag.String("out", "bench/out", "folder for eval.json, eval.md and the plots")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := bench.RunEval(ctx)
	if err == nil {
		err = res.Write(*out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "eval:", err)
		os.Exit(1)
	}
	failed := 0
	for _, t := range res.Targets {
		if t.Required && !t.Pass {
			failed++
		}
		fmt.Printf("%-9s  %-9s %s: %s\n", t.Mark(), t.Dataset, t.Name, t.Detail)
	}
	fmt.Printf("wrote %s/eval.json, eval.md and plots in %s\n", *out, res.Elapsed)
	if failed > 0 {
		fmt.Printf("%d required targets missed\n", failed)
	}
}
