// Command bench-kube measures Kubernetes discovery on a populated test API
// server (a real kube-apiserver and etcd from make envtest) and writes
// bench/out/kube.json (see kubeload.Result).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

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
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(b, '\n'))
	return err
}
