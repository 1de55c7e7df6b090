package prombackfill_test

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/api"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/prombackfill"
)

// Backfill the last week of one cluster's usage into an engine at start-up.
// (It needs a Prometheus, so it is compiled but not run.)
func Example() {
	engine, err := recommender.NewEngine(recommender.DefaultOptions())
	if err != nil {
		panic(err)
	}
	client, err := api.NewClient(api.Config{Address: "http://prometheus.monitoring:9090"})
	if err != nil {
		panic(err)
	}
	opts := prombackfill.DefaultOptions()
	opts.History = 7 * 24 * time.Hour
	opts.ExcludeNamespaces = []string{"kube-system"}
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	src, err := prombackfill.New(client, opts)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if err := src.Run(ctx, engine); err != nil {
		// Samples read before the error are in the engine; live sources go on.
		opts.Logger.Warn("backfill incomplete", "err", err)
	}
}
