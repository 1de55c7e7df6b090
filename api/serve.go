package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"
)

// Server serves the API over gRPC and, through grpc-gateway, REST.
type Server struct {
	opts     Options
	svc      *services
	grpc     *grpc.Server
	health   *health.Server
	stopping atomic.Bool
}

// serverMetrics are the server's own metrics (gRPC call metrics come from
// go-grpc-middleware's provider).
type serverMetrics struct {
	ingested        prometheus.Counter
	rejected        *prometheus.CounterVec
	watchers        prometheus.Gauge
	snapshotSeconds prometheus.Histogram
}

func newServerMetrics(reg prometheus.Registerer) *serverMetrics {
	m := &serverMetrics{
		ingested: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rightsizer_api_ingested_samples_total", Help: "Usage samples recorded through IngestUsage."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rightsizer_api_rejected_samples_total", Help: "Usage samples rejected by IngestUsage, by reason."}, []string{"reason"}),
		watchers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rightsizer_api_watchers", Help: "Open WatchRecommendations streams."}),
		snapshotSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rightsizer_api_snapshot_seconds", Help: "Time to take a list snapshot of every workload.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
	}
	reg.MustRegister(m.ingested, m.rejected, m.watchers, m.snapshotSeconds)
	return m
}

// New validates o and builds a server; Serve runs it.
func New(o Options) (*Server, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("api options: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	epoch := make([]byte, 6)
	_, _ = rand.Read(epoch)
	svc := &services{
		engine:  o.Engine,
		changes: newChangelog(hex.EncodeToString(epoch), o.WatchRetention, o.WatchMaxEvents, time.Now),
		limiter: NewRateLimiter(o.IngestRate, o.IngestBurst, 10_000, o.IngestMaxWait),
		metrics: newServerMetrics(o.Registry),
	}
	pm := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	o.Registry.MustRegister(pm)
	s := &Server{opts: o, svc: svc, health: health.NewServer()}
	s.grpc = newGRPCServer(&s.opts, svc, s.health, pm)
	return s, nil
}

// ready is /readyz and the health service's view.
func (s *Server) ready() error {
	switch {
	case s.stopping.Load():
		return errors.New("shutting down")
	case s.svc.snap.Load() == nil:
		return errors.New("starting")
	case s.opts.Ready != nil:
		return s.opts.Ready()
	}
	return nil
}

// Serve serves gRPC on grpcLis and HTTP on httpLis (either may be nil)
// until ctx is done, then shuts down gracefully within
// Options.ShutdownTimeout: health turns NOT_SERVING, watches end with
// UNAVAILABLE, in-flight calls finish. The caller owns the listeners'
// addresses; Serve closes them. It returns the first serving error, or nil.
func (s *Server) Serve(ctx context.Context, grpcLis, httpLis net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	svc := s.svc
	svc.stop = make(chan struct{})
	// The pump's subscription takes the engine's baselines first, so the
	// first snapshot's resume token is already covered by the stream.
	pumpCtx, stopPump := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { svc.changes.pump(pumpCtx, svc.engine, s.opts.WatchThreshold) })
	svc.refresh()
	wg.Go(func() { svc.refreshSnapshots(pumpCtx, s.opts.SnapshotInterval) })
	defer func() { stopPump(); wg.Wait() }()

	pipe := bufconn.Listen(1 << 20)
	errc := make(chan error, 3)
	var served sync.WaitGroup
	serveGRPC := func(l net.Listener) {
		served.Go(func() {
			if err := s.grpc.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				errc <- fmt.Errorf("serve gRPC on %s: %w", l.Addr(), err)
			}
		})
	}
	serveGRPC(internalListener{pipe})
	if grpcLis != nil {
		serveGRPC(grpcLis)
	}
	conn, err := newGatewayConn(func(ctx context.Context, _ string) (net.Conn, error) { return pipe.DialContext(ctx) }, s.opts.MaxRecvBytes)
	if err != nil {
		s.grpc.Stop()
		return fmt.Errorf("gateway connection: %w", err)
	}
	defer func() { _ = conn.Close() }()
	var hs *http.Server
	if httpLis != nil {
		h, err := newHTTPHandler(ctx, conn, &s.opts, s.ready)
		if err != nil {
			s.grpc.Stop()
			return err
		}
		hs = &http.Server{
			Handler:           h,
			TLSConfig:         s.opts.TLS,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelWarn),
		}
		served.Go(func() {
			var err error
			if s.opts.TLS != nil {
				err = hs.ServeTLS(httpLis, "", "")
			} else {
				err = hs.Serve(httpLis)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve HTTP on %s: %w", httpLis.Addr(), err)
			}
		})
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.shutdown(hs)
	served.Wait()
	return serveErr
}

// shutdown stops taking calls, ends watches and lets in-flight calls
// finish within the timeout.
func (s *Server) shutdown(hs *http.Server) {
	s.stopping.Store(true)
	s.health.Shutdown()
	close(s.svc.stop)
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	if hs != nil {
		if err := hs.Shutdown(ctx); err != nil {
			s.opts.Logger.Warn("HTTP shutdown did not finish in time", "err", err)
			_ = hs.Close()
		}
	}
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.opts.Logger.Warn("gRPC graceful stop did not finish in time; closing connections")
		s.grpc.Stop()
		<-done
	}
}
