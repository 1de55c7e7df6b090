package api

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Server. Start from DefaultOptions.
type Options struct {
	// Engine answers every call. Required.
	Engine Engine
	// Auth checks callers; nil serves everyone with every role (the
	// serve command allows that only on loopback addresses) unless Kube
	// is set.
	Auth *Authenticator
	// Kube, if set, checks bearer tokens with Kubernetes TokenReview and
	// SubjectAccessReview (see KubeAuthenticator). With Auth also set,
	// Auth's tokens and client certificates are checked first and only a
	// token Auth does not hold goes to Kubernetes; with Auth nil, only
	// Kubernetes tokens are accepted.
	Kube *KubeAuthenticator
	// TLS, if set, serves gRPC and HTTP over TLS (mTLS when it verifies
	// client certificates); see ServerTLSConfig.
	TLS *tls.Config
	// Logger; nil discards.
	Logger *slog.Logger
	// Registry receives the server's metrics and is served at /metrics;
	// nil creates one.
	Registry *prometheus.Registry
	// MaxRecvBytes bounds one received gRPC message (an ingest batch).
	// Default 16 MiB: a batch of 100,000 samples with its containers.
	MaxRecvBytes int
	// MaxConcurrentStreams bounds the streams of one HTTP/2 connection.
	MaxConcurrentStreams uint32
	// IngestRate is each client's sustained ingest rate in samples per
	// second, IngestBurst the samples it may send at once, and
	// IngestMaxWait the longest a batch waits for its turn before it is
	// rejected. A client is its identity, or its host without auth.
	// IngestRate 0 means unlimited.
	IngestRate    float64
	IngestBurst   int
	IngestMaxWait time.Duration
	// WatchThreshold is the relative move of a request or limit that makes
	// a watch event (default 0.1, VPA's updater threshold).
	WatchThreshold float64
	// WatchRetention and WatchMaxEvents bound the change stream kept for
	// watchers that reconnect: events older than the retention, or beyond
	// the count, are dropped (a resume token before them gets OUT_OF_RANGE).
	WatchRetention time.Duration
	WatchMaxEvents int
	// SnapshotInterval is how often the list snapshot is retaken: lists
	// are at most this stale. Default 1 s.
	SnapshotInterval time.Duration
	// ShutdownTimeout bounds the graceful part of shutdown (default 10 s).
	ShutdownTimeout time.Duration
	// RemoteWrite, if set, is served at RemoteWritePath on the HTTP
	// address to callers with the ingest role (a Prometheus remote-write
	// receiver, such as promwrite.Receiver).
	RemoteWrite http.Handler
	// Ready reports whether the server should take traffic (/readyz and
	// the gRPC health service); nil means ready once serving.
	Ready func() error
}

// authn returns the authenticator that Auth and Kube make, or nil when
// both are nil (auth off).
func (o *Options) authn() Authn {
	switch {
	case o.Auth != nil && o.Kube != nil:
		return authnChain{static: o.Auth, kube: o.Kube}
	case o.Auth != nil:
		return o.Auth
	case o.Kube != nil:
		return o.Kube
	}
	return nil
}

// DefaultOptions returns the defaults described on Options, with no
// Engine.
func DefaultOptions() Options {
	return Options{
		MaxRecvBytes:         16 << 20,
		MaxConcurrentStreams: 1024,
		IngestBurst:          100_000,
		IngestMaxWait:        30 * time.Second,
		WatchThreshold:       0.1,
		WatchRetention:       15 * time.Minute,
		WatchMaxEvents:       100_000,
		SnapshotInterval:     time.Second,
		ShutdownTimeout:      10 * time.Second,
	}
}

// Validate reports every problem at once.
func (o *Options) Validate() error {
	var errs []error
	if o.Engine == nil {
		errs = append(errs, errors.New("no engine"))
	}
	if o.MaxRecvBytes < 1<<10 || o.MaxRecvBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("max receive size %d bytes is not in [1 KiB, 1 GiB]", o.MaxRecvBytes))
	}
	if o.MaxConcurrentStreams == 0 {
		errs = append(errs, errors.New("max concurrent streams must be positive"))
	}
	if math.IsNaN(o.IngestRate) || math.IsInf(o.IngestRate, 0) || o.IngestRate < 0 {
		errs = append(errs, fmt.Errorf("ingest rate %v is not a finite non-negative number of samples per second", o.IngestRate))
	}
	if o.IngestRate > 0 && o.IngestBurst <= 0 {
		errs = append(errs, fmt.Errorf("ingest burst %d must be positive", o.IngestBurst))
	}
	if o.IngestMaxWait < 0 {
		errs = append(errs, fmt.Errorf("ingest max wait %v is negative", o.IngestMaxWait))
	}
	if !(o.WatchThreshold > 0 && o.WatchThreshold < 10) {
		errs = append(errs, fmt.Errorf("watch threshold %v is not in (0, 10)", o.WatchThreshold))
	}
	if o.WatchRetention <= 0 || o.WatchMaxEvents <= 0 {
		errs = append(errs, fmt.Errorf("watch retention %v and max events %d must be positive", o.WatchRetention, o.WatchMaxEvents))
	}
	if o.SnapshotInterval < 10*time.Millisecond || o.SnapshotInterval > time.Hour {
		errs = append(errs, fmt.Errorf("snapshot interval %v is not in [10ms, 1h]", o.SnapshotInterval))
	}
	if o.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown timeout %v must be positive", o.ShutdownTimeout))
	}
	return errors.Join(errs...)
}
