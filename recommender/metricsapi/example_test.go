package metricsapi_test

import (
	"context"
	"errors"
	"log/slog"
	"os/signal"
	"syscall"

	"k8s.io/client-go/rest"
	"k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/metricsapi"
)

// Wiring the poller in a pod. The resolver is Kubernetes discovery
// (kube.Discovery) in the real binary; here a stand-in resolves every pod
// to a bare Pod.
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
	src, err := metricsapi.New(versioned.NewForConfigOrDie(cfg), barePods{}, metricsapi.DefaultOptions())
	if err != nil {
		slog.Error("metrics api source", "err", err)
		return
	}
	if err := src.Run(ctx, engine); err != nil && !errors.Is(err, context.Canceled) {
		slog.Error("metrics api source stopped", "err", err)
	}
}

type barePods struct{}

func (barePods) WorkloadOf(ns, pod string) (recommender.WorkloadKey, bool) {
	return recommender.WorkloadKey{Namespace: ns, Kind: "Pod", Name: pod}, true
}
