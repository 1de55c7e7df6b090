package pods_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/rightsizer/rightsizer/agent/pods"
)

// The agent resolves what it reads in cgroup paths: a pod UID and a
// container ID.
func Example() {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		slog.Error("not in a cluster", "err", err)
		return
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		slog.Error("kubernetes client", "err", err)
		return
	}
	r, err := pods.New(client, pods.Options{NodeName: os.Getenv("NODE_NAME"), Logger: slog.Default()})
	if err != nil {
		slog.Error("pod resolver", "err", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-r.Ready():
	case err := <-done:
		slog.Error("pod resolver stopped", "err", err)
		return
	}
	if c, ok := r.Container("0b7d2a7e_11aa_4000_8000_0123456789ab", "containerd://4f1c9e"); ok && !c.Ephemeral {
		fmt.Println(c.Key, c.Spec.Role, c.Spec.Requests.CPU)
	}
	cancel()
	if err := <-done; err != nil {
		slog.Error("pod resolver stopped", "err", err)
	}
}
