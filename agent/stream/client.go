// Package stream sends the node agent's observations to the server's
// UsageService.IngestUsage, over one long-lived client stream.
//
// The agent hands a Batch per round to Send, which never blocks: batches
// wait in a bounded queue. While the server is slow (gRPC flow control
// pushes back) or down, the queue fills; once full, the oldest batch is
// dropped and counted, so memory stays bounded however long the outage.
// Run connects, streams, and reconnects with jittered exponential backoff;
// batches go back to the front of the queue when the server cannot have
// recorded them (see Client.stream), so an outage loses only what the
// queue could not hold. Streams are rotated
// every StreamLifetime, which reads the server's accept/reject summary and
// picks up a rotated ServiceAccount token.
package stream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
	"github.com/rightsizer/rightsizer/recommender"
)

// Batch is what the agent observed in one round.
type Batch struct {
	Samples   []recommender.Sample
	OOMs      []recommender.OOMEvent
	Workloads []recommender.Workload
}

func (b *Batch) empty() bool { return len(b.Samples)+len(b.OOMs)+len(b.Workloads) == 0 }

// Options configure a Client.
type Options struct {
	// Target is the server's gRPC address (host:port).
	Target string
	// TLS, if set, is used for the connection; nil connects in plaintext,
	// which only makes sense on loopback or inside a mesh.
	TLS *tls.Config
	// TokenFile holds a bearer token (a projected ServiceAccount token,
	// which the kubelet rotates): it is read again for every stream.
	// Empty sends none.
	TokenFile string
	// MaxBatches bounds the queue: at a 10 s round, 360 is an hour of
	// outage. Default 360.
	MaxBatches int
	// StreamLifetime rotates the stream: a stream that fails after the
	// server recorded its batches is not resent (see stream), so this
	// bounds what a server restart can lose. Default 1 minute (6 rounds).
	StreamLifetime time.Duration
	// MinBackoff and MaxBackoff bound the reconnect delay, which doubles
	// from MinBackoff with full jitter. Defaults 500 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// DialOptions are added to the connection's (tests use a manual
	// resolver to move the server).
	DialOptions []grpc.DialOption
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer for the client's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// DefaultOptions returns the defaults described on Options.
func DefaultOptions() Options {
	return Options{MaxBatches: 360, StreamLifetime: time.Minute, MinBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second}
}

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	var errs []error
	if o.Target == "" {
		errs = append(errs, errors.New("no server address"))
	}
	if o.MaxBatches < 1 {
		errs = append(errs, fmt.Errorf("max batches %d: want at least 1", o.MaxBatches))
	}
	if o.StreamLifetime < time.Second {
		errs = append(errs, fmt.Errorf("stream lifetime %v: want at least 1s", o.StreamLifetime))
	}
	if o.MinBackoff <= 0 || o.MaxBackoff < o.MinBackoff {
		errs = append(errs, fmt.Errorf("backoff %v..%v: want 0 < min <= max", o.MinBackoff, o.MaxBackoff))
	}
	return errors.Join(errs...)
}

// Client streams batches to the server. Send is safe for concurrent use;
// Run is called once.
type Client struct {
	opts    Options
	log     *slog.Logger
	conn    *grpc.ClientConn
	metrics *metrics

	mu    sync.Mutex
	queue []Batch // oldest first
	wake  chan struct{}
}

// New dials lazily (gRPC connects on first use) and returns a Client.
func New(opts Options) (*Client, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("stream options: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	creds := insecure.NewCredentials()
	if opts.TLS != nil {
		creds = credentials.NewTLS(opts.TLS)
	}
	dial := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if opts.TokenFile != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(tokenFile{path: opts.TokenFile, secure: opts.TLS != nil}))
	}
	conn, err := grpc.NewClient(opts.Target, append(dial, opts.DialOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("stream to %s: %w", opts.Target, err)
	}
	return &Client{opts: opts, log: log, conn: conn, metrics: newMetrics(opts.Registerer), wake: make(chan struct{}, 1)}, nil
}

// Send queues b without blocking. When the queue is full the oldest batch
// is dropped (and counted): fresh usage is worth more than old.
func (c *Client) Send(b Batch) {
	if b.empty() {
		return
	}
	c.mu.Lock()
	if len(c.queue) >= c.opts.MaxBatches {
		dropped := c.queue[0]
		c.queue[0] = Batch{}
		c.queue = c.queue[1:]
		c.metrics.droppedBatches.Inc()
		c.metrics.droppedSamples.Add(float64(len(dropped.Samples)))
	}
	c.queue = append(c.queue, b)
	c.metrics.queued.Set(float64(len(c.queue)))
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Queued returns how many batches wait to be sent.
func (c *Client) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// next waits for the oldest batch, or returns false when ctx ends.
func (c *Client) next(ctx context.Context) (Batch, bool) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			b := c.queue[0]
			c.queue[0] = Batch{}
			c.queue = c.queue[1:]
			c.metrics.queued.Set(float64(len(c.queue)))
			c.mu.Unlock()
			return b, true
		}
		c.mu.Unlock()
		select {
		case <-c.wake:
		case <-ctx.Done():
			return Batch{}, false
		}
	}
}

// requeue puts the batches of a failed stream back at the front, oldest
// first. Where that overfills the queue, the oldest are dropped.
func (c *Client) requeue(bs ...Batch) {
	if len(bs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	q := append(bs, c.queue...)
	if over := len(q) - c.opts.MaxBatches; over > 0 {
		for _, b := range q[:over] {
			c.metrics.droppedBatches.Inc()
			c.metrics.droppedSamples.Add(float64(len(b.Samples)))
		}
		q = q[over:]
	}
	c.queue = q
	c.metrics.queued.Set(float64(len(c.queue)))
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run streams until ctx ends, reconnecting after failures. It returns nil
// when ctx ends; batches still queued then are not sent.
func (c *Client) Run(ctx context.Context) error {
	defer func() { _ = c.conn.Close() }()
	client := rightsizerv1.NewUsageServiceClient(c.conn)
	backoff := c.opts.MinBackoff
	for ctx.Err() == nil {
		start := time.Now()
		err := c.stream(ctx, client)
		if ctx.Err() != nil {
			return nil
		}
		c.metrics.connected.Set(0)
		if err == nil {
			backoff = c.opts.MinBackoff
			continue
		}
		if time.Since(start) > c.opts.StreamLifetime/2 {
			backoff = c.opts.MinBackoff // the last stream was healthy for a while
		}
		c.metrics.reconnects.Inc()
		wait := time.Duration(rand.Int64N(int64(backoff)) + 1) // full jitter
		c.log.Warn("usage stream failed; reconnecting", "err", err, "in", wait, "queued", c.Queued())
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil
		}
		backoff = min(2*backoff, c.opts.MaxBackoff)
	}
	return nil
}

// stream runs one stream for StreamLifetime (or until it fails), then
// closes it and reads the server's summary. IngestUsage acknowledges a
// stream, not a batch, so what a failure does to the batches already sent
// depends on why it failed: a refused credential means the server recorded
// none of them, and they go back to the queue; any other failure (a server
// restart, a broken connection) most likely came after the server recorded
// them, and resending would count them twice, so only the batch whose send
// failed goes back. Short streams bound what such a failure can lose.
func (c *Client) stream(ctx context.Context, client rightsizerv1.UsageServiceClient) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := client.IngestUsage(sctx)
	if err != nil {
		return fmt.Errorf("open stream: %w", err)
	}
	// The server may end the stream early (auth, limits): its status
	// arrives on RecvMsg, which gRPC allows beside SendMsg.
	resp := new(rightsizerv1.IngestUsageResponse)
	answered := make(chan error, 1)
	go func() {
		err := s.RecvMsg(resp)
		if err != nil {
			cancel()
		}
		answered <- err
	}()
	answer := sync.OnceValue(func() error { return <-answered })
	var inflight []Batch
	// fail ends the stream after a failure; unsent is the batch whose send
	// failed, if any.
	fail := func(err error, unsent ...Batch) error {
		cancel()
		switch status.Code(answer()) {
		case codes.Unauthenticated, codes.PermissionDenied:
			c.requeue(append(inflight, unsent...)...)
		default:
			c.requeue(unsent...)
		}
		return err
	}
	enc := newEncoder()
	lifetime := time.NewTimer(c.opts.StreamLifetime)
	defer lifetime.Stop()
	for {
		b, ok := c.nextOrExpire(sctx, lifetime.C)
		if !ok {
			break
		}
		if err := s.Send(enc.encode(&b)); err != nil {
			return fail(fmt.Errorf("send: %w", err), b)
		}
		inflight = append(inflight, b)
		if len(inflight) == 1 {
			c.metrics.connected.Set(1)
		}
		c.metrics.sentBatches.Inc()
		c.metrics.sentSamples.Add(float64(len(b.Samples)))
	}
	if ctx.Err() != nil {
		cancel()
		return nil
	}
	if sctx.Err() != nil { // the server ended the stream
		return fail(fmt.Errorf("stream ended by the server: %w", answer()))
	}
	if err := s.CloseSend(); err != nil {
		return fail(fmt.Errorf("close stream: %w", err))
	}
	if err := answer(); err != nil {
		return fail(fmt.Errorf("close stream: %w", err))
	}
	if n := len(resp.GetRejections()); n > 0 || resp.GetRejectedSamples() > 0 {
		c.metrics.rejectedSamples.Add(float64(resp.GetRejectedSamples()))
		first := ""
		if n > 0 {
			first = resp.GetRejections()[0].GetReason()
		}
		c.log.Warn("server rejected part of a usage stream", "samples_rejected", resp.GetRejectedSamples(), "first_reason", first)
	}
	return nil
}

// nextOrExpire is next, ending also when the stream's lifetime is up.
func (c *Client) nextOrExpire(ctx context.Context, expired <-chan time.Time) (Batch, bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-expired:
			cancel()
		case <-ctx.Done():
		}
	}()
	return c.next(ctx)
}

// tokenFile sends the token in path as a bearer token, read per stream so
// that a rotated ServiceAccount token is picked up.
type tokenFile struct {
	path   string
	secure bool
}

func (t tokenFile) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	b, err := os.ReadFile(t.path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	return map[string]string{"authorization": "Bearer " + strings.TrimSpace(string(b))}, nil
}

// RequireTransportSecurity lets a token travel in plaintext only when no
// TLS was configured at all (loopback and mesh deployments): the operator
// chose that.
func (t tokenFile) RequireTransportSecurity() bool { return t.secure }
