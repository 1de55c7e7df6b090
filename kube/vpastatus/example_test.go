package vpastatus_test

import (
	"context"
	"log/slog"
	"os/signal"
	"syscall"

	"k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"
	"k8s.io/client-go/rest"

	"github.com/rightsizer/rightsizer/kube/vpastatus"
	"github.com/rightsizer/rightsizer/recommender"
)

// Wiring the writer in a pod: the engine is fed by the usage sources and
// Kubernetes discovery; VPAs that name "rightsizer" get its numbers.
func ExampleNew() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg, err := rest.InClusterConfig()
	if err != nil {
		slog.Error("no in-cluster config", "err", err)
		return
	}
	engine, err := recommender.NewEngine(recommender.DefaultOptions())
	if err != nil {
		slog.Error("engine", "err", err)
		return
	}
	opts := vpastatus.DefaultOptions()
	opts.Logger = slog.Default()
	w, err := vpastatus.New(versioned.NewForConfigOrDie(cfg), engine, opts)
	if err != nil {
		slog.Error("vpa status writer", "err", err)
		return
	}
	if err := w.Run(ctx); err != nil {
		slog.Error("vpa status writer stopped", "err", err)
	}
}
