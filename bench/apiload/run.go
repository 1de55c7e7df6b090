package apiload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rightsizer/rightsizer/bench/internal/stats"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Target is the server a run drives.
type Target struct {
	// Addr is the host:port of its gRPC listener, on loopback: the
	// connection is plaintext.
	Addr string
	// PID, if positive, is its process, whose CPU time is reported.
	PID int
}

// runner holds a run's connections and fleet. Its phases run one at a
// time.
type runner struct {
	cfg    Config
	target Target
	fleet  *Fleet
	codec  frameCodec
	log    *slog.Logger

	ingestConns                 []*grpc.ClientConn // one per stream
	bgConn, listConn, watchConn *grpc.ClientConn

	streamContainers int   // containers one stream may declare
	accepted         int64 // samples acknowledged, every phase
	pageBytes        int   // encoded size of the first list page
}

// Run drives target through setup, ingest, list and watch (see the
// package doc) and returns the figures; log, if not nil, gets a line per
// phase.
func Run(ctx context.Context, cfg Config, target Target, log *slog.Logger) (res *Result, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fleet, err := NewFleet(cfg, time.Now())
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, target: target, fleet: fleet, codec: newFrameCodec(), log: log, streamContainers: MaxStreamContainers}
	defer func() { err = errors.Join(err, r.close()) }()
	if err := r.dial(); err != nil {
		return nil, err
	}

	res = &Result{Host: thisHost(target), Targets: DefaultTargets(), Config: echo(cfg), Notes: notes}
	log.Info("setup", "workloads", cfg.Workloads, "samples_per_container", cfg.SetupSamples)
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	var server, client []float64
	for i := range cfg.Runs {
		run, err := r.ingestRun(ctx)
		if err != nil {
			return nil, fmt.Errorf("ingest run %d: %w", i+1, err)
		}
		log.Info("ingest", "run", i+1, "samples_per_sec", run.samplesPerSec)
		res.IngestRuns = append(res.IngestRuns, run.samplesPerSec)
		server, client = append(server, run.serverCPUNs), append(client, run.clientCPUNs)
	}
	res.IngestSamplesPerSec = stats.Median(res.IngestRuns)
	res.IngestServerCPUNsPerSample, res.IngestClientCPUNsPerSample = stats.Median(server), stats.Median(client)

	log.Info("list", "rate", cfg.ListRate, "duration", cfg.ListDuration, "background_rate", cfg.BackgroundRate)
	if err := r.list(ctx, res); err != nil {
		return nil, err
	}
	log.Info("watch", "probes", cfg.Probes, "rate", cfg.ProbeRate)
	if err := r.watch(ctx, res); err != nil {
		return nil, err
	}
	res.SamplesAccepted = r.accepted
	res.judge()
	return res, nil
}

func (r *runner) dial() error {
	dial := func() (*grpc.ClientConn, error) {
		// Large fixed flow-control windows, as a client that pulls pages
		// of 40 KB a thousand times a second should set: with gRPC's
		// default 64 KiB windows growing by BDP estimation, list p99 was
		// 110 ms, spent waiting for window updates.
		c, err := grpc.NewClient(r.target.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(1<<20), grpc.WithInitialConnWindowSize(16<<20))
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", r.target.Addr, err)
		}
		return c, nil
	}
	var err error
	for range r.cfg.Streams {
		c, e := dial()
		if e != nil {
			return e
		}
		r.ingestConns = append(r.ingestConns, c)
	}
	if r.bgConn, err = dial(); err != nil {
		return err
	}
	if r.listConn, err = dial(); err != nil {
		return err
	}
	r.watchConn, err = dial()
	return err
}

func (r *runner) close() error {
	var errs []error
	for _, c := range append(r.ingestConns, r.bgConn, r.listConn, r.watchConn) {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
