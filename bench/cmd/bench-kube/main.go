// Command bench-kube measures Kubernetes discovery on a populated test API
// server (a real kube-apiserver and etcd from make envtest) and writes
// bench/out/kube.json (see kubeload.Result).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	benchout "github.com/rightsizer/rightsizer/bench/internal/out"

	"github.com/rightsizer/rightsizer/bench/kubeload"
	"github.com/rightsizer/rightsizer/internal/kubetest"
)

func main() {
	cfg := kubeload.DefaultConfig()
	out := flag.String("out", "bench/out/kube.json", "where to write the result")
	flag.IntVar(&cfg.Pods, "pods", cfg.Pods, "pods in the test cluster")
	flag.IntVar(&cfg.PodsPerWorkload, "pods-per-workload", cfg.PodsPerWorkload, "pods per Deployment")
	flag.IntVar(&cfg.Runs, "runs", cfg.Runs, "discovery starts to time (the median is reported)")
	flag.DurationVar(&cfg.Steady, "steady", cfg.Steady, "steady-state window")
	flag.Float64Var(&cfg.ChurnPerMin, "churn", cfg.ChurnPerMin, "fraction of pods whose status changes per minute in the window")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg, *out)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-kube:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg kubeload.Config, out string) (err error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cl, err := kubetest.Start()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cl.Stop()) }()
	res, err := kubeload.Run(ctx, cl.Config, cfg, log)
	if err != nil {
		return err
	}
	if err := benchout.WriteJSON(out, res); err != nil {
		return err
	}
	fmt.Printf("%d pods, %d workloads: inventory in %.3f s (median of %d), %d requests at start; steady state %.1f requests/min (%.4f per pod per min) while %.0f pod updates/min; %.0f bytes/min, %.3f of a list-per-minute loop's\n",
		res.Pods, res.Workloads, res.InventoryMedian, len(res.InventorySeconds), res.StartRequests,
		res.SteadyRequestsPerMin, res.RequestsPerPodPerMin, res.PodUpdatesPerMin, res.SteadyBytesPerMin, res.BytesRatio)
	return nil
}
