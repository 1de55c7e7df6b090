package promwrite

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/prompb"
	"google.golang.org/protobuf/encoding/protowire"
	"k8s.io/utils/clock"

	"github.com/rightsizer/rightsizer/internal/errtext"
	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/internal/promseries"
)

// Options configure a Receiver. Start from DefaultOptions.
type Options struct {
	// ClusterLabel names the label carrying a series' cluster, for a
	// Prometheus that holds several clusters; empty: every series is of the
	// local cluster.
	ClusterLabel string
	// Resolver, if set, maps pods of the local cluster to workloads before
	// the ownership learned from kube_pod_owner and kube_replicaset_owner.
	Resolver recommender.PodResolver
	// OwnerWarmup: for this long after the first request, points of pods
	// whose owner is not yet known are dropped instead of keyed to a bare
	// Pod. Default 2 minutes.
	OwnerWarmup time.Duration
	// JoinDelay is how long a point waits for the other metrics of its
	// container and scrape, which the sender's shards may send in other
	// requests. Default 15 s.
	JoinDelay time.Duration
	// MaxDecodedBytes bounds a request's decoded (uncompressed) size, and
	// so its compressed size (snappy.MaxEncodedLen of it). Prometheus sends
	// at most a few MiB (max_samples_per_send samples). Default 32 MiB.
	MaxDecodedBytes int
	// MaxConcurrent bounds the requests decoded at once, so memory stays
	// below about 3 × MaxConcurrent × MaxDecodedBytes; further requests
	// wait. The server should set a ReadTimeout, since a slow body holds
	// its slot. Default 4.
	MaxConcurrent int
	// MaxInstances and MaxOwners bound the per-container and per-owner
	// state (see StaleAfter). Defaults 1<<18 each: about 100 MiB at most.
	MaxInstances, MaxOwners int
	// StaleAfter is how long state is kept without news. Default 15 min.
	StaleAfter time.Duration
	// MaxFutureSkew drops points stamped further in the future than this.
	// Zero disables the check. Default 10 minutes.
	MaxFutureSkew time.Duration
	// Clock tells the time for the warm-up, joins and staleness; nil means
	// the real clock.
	Clock clock.PassiveClock
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer for the receiver's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// DefaultOptions returns the defaults described on Options.
func DefaultOptions() Options {
	m := promseries.DefaultOptions()
	return Options{
		OwnerWarmup:     m.OwnerWarmup,
		JoinDelay:       m.JoinDelay,
		MaxDecodedBytes: 32 << 20,
		MaxConcurrent:   4,
		MaxInstances:    m.MaxInstances,
		MaxOwners:       m.MaxOwners,
		StaleAfter:      m.StaleAfter,
		MaxFutureSkew:   m.MaxFutureSkew,
	}
}

// mapping returns the options of the series mapping.
func (o *Options) mapping() promseries.Options {
	m := promseries.DefaultOptions()
	m.ClusterLabel, m.Resolver, m.OwnerWarmup, m.JoinDelay = o.ClusterLabel, o.Resolver, o.OwnerWarmup, o.JoinDelay
	m.MaxInstances, m.MaxOwners, m.StaleAfter, m.MaxFutureSkew = o.MaxInstances, o.MaxOwners, o.StaleAfter, o.MaxFutureSkew
	return m
}

// maxDecodedBytes is the hard ceiling on MaxDecodedBytes: snappy's block
// format cannot describe more than 4 GiB, and nothing legitimate nears it.
const maxDecodedBytes = 1 << 30

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	m := o.mapping()
	errs := []error{m.Validate()}
	if o.MaxDecodedBytes <= 0 || o.MaxDecodedBytes > maxDecodedBytes {
		errs = append(errs, fmt.Errorf("max decoded bytes %d is not in [1, %d]", o.MaxDecodedBytes, maxDecodedBytes))
	}
	if o.MaxConcurrent <= 0 {
		errs = append(errs, fmt.Errorf("max concurrent requests %d must be positive", o.MaxConcurrent))
	}
	return errors.Join(errs...)
}

// Receiver is an http.Handler for remote-write requests (POST, typically
// at /api/v1/write). It is safe for concurrent use: requests decode in
// parallel (at most Options.MaxConcurrent at once) and map one at a time.
type Receiver struct {
	sink    recommender.Sink
	mapper  *promseries.Mapper
	clock   clock.PassiveClock
	log     *slog.Logger
	sem     chan struct{}
	maxBody int64 // compressed bytes
	maxDec  int   // decoded bytes
	metrics *metrics
	pool    sync.Pool // of *scratch
}

var _ http.Handler = (*Receiver)(nil)

// New returns a Receiver that feeds sink.
func New(sink recommender.Sink, opts Options) (*Receiver, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("remote-write options: %w", err)
	}
	mapper, err := promseries.New(opts.mapping())
	if err != nil {
		return nil, err
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Receiver{
		sink:    sink,
		mapper:  mapper,
		clock:   opts.Clock,
		log:     opts.Logger,
		sem:     make(chan struct{}, opts.MaxConcurrent),
		maxBody: int64(snappy.MaxEncodedLen(opts.MaxDecodedBytes)),
		maxDec:  opts.MaxDecodedBytes,
		metrics: newMetrics(opts.Registerer),
	}
	r.pool.New = func() any { return new(scratch) }
	return r, nil
}

// scratch is one request's working memory, reused through a pool.
type scratch struct {
	body, buf []byte
	ts        prompb.TimeSeries // the series being decoded
	spans     []span
	series    []promseries.Series
	labels    []promseries.Label
	points    []promseries.Point
	out       promseries.Output
}

// span locates one series in scratch.labels and scratch.points.
type span struct{ labels, points int }

// reset drops references to the last request's data, keeping capacity.
func (sc *scratch) reset() {
	clear(sc.ts.Labels[:cap(sc.ts.Labels)])
	clear(sc.series)
	clear(sc.labels)
	sc.out.Reset()
}

// maxPooled is the largest buffer a scratch keeps between requests, so
// that one huge request does not pin its memory.
const maxPooled = 8 << 20

// requestError is a rejected request: its status and message.
type requestError struct {
	code int
	msg  string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) *requestError {
	return &requestError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP reads one remote-write request and feeds its samples to the
// sink (see the package documentation for the answers).
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	code := r.serve(w, req)
	r.metrics.requests.WithLabelValues(strconv.Itoa(code)).Inc()
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) int {
	fail := func(e *requestError) int {
		http.Error(w, "remote write: "+e.msg, e.code)
		r.log.Debug("remote-write request rejected", "code", e.code, "reason", e.msg, "remote", req.RemoteAddr)
		return e.code
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return fail(&requestError{code: http.StatusMethodNotAllowed, msg: "method " + req.Method + " not allowed: use POST"})
	}
	if e := checkHeaders(req.Header); e != nil {
		return fail(e)
	}
	if req.ContentLength > r.maxBody {
		return fail(r.tooLarge("body of %d bytes", req.ContentLength))
	}
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	case <-req.Context().Done():
		return 499 // the client went away while waiting (nginx's code)
	}
	sc := r.pool.Get().(*scratch)
	defer r.release(sc)
	series, e := r.decode(w, req, sc)
	if e != nil {
		return fail(e)
	}
	out := &sc.out
	r.mapper.Map(r.clock.Now(), series, out)
	if err := r.hand(out); err != nil {
		r.log.Warn("remote-write samples not recorded", "err", err, "samples", len(out.Samples))
		http.Error(w, "remote write: record samples: "+err.Error(), http.StatusInternalServerError)
		return http.StatusInternalServerError
	}
	w.WriteHeader(http.StatusNoContent)
	return http.StatusNoContent
}

func (r *Receiver) release(sc *scratch) {
	sc.reset()
	if cap(sc.body) > maxPooled {
		sc.body = nil
	}
	if cap(sc.buf) > maxPooled {
		sc.buf = nil
	}
	r.pool.Put(sc)
}

func (r *Receiver) tooLarge(format string, args ...any) *requestError {
	return &requestError{code: http.StatusRequestEntityTooLarge,
		msg: "request too large: " + fmt.Sprintf(format, args...) + fmt.Sprintf("; the limit is %d bytes decoded, %d compressed", r.maxDec, r.maxBody)}
}

// checkHeaders accepts remote-write 1.0's Content-Type and
// Content-Encoding (remote-write 2.0 receivers accept the 1.0 message
// under an explicit proto parameter too).
func checkHeaders(h http.Header) *requestError {
	ct := h.Get("Content-Type")
	if ct == "" {
		return badRequest("missing Content-Type: want application/x-protobuf")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return badRequest("Content-Type %q: %v", errtext.Clip(ct), err)
	}
	if mt != "application/x-protobuf" {
		return badRequest("Content-Type %q: want application/x-protobuf", errtext.Clip(ct))
	}
	if p, ok := params["proto"]; ok && p != "prometheus.WriteRequest" {
		// Remote-write 2.0 says to answer 415 so the sender can fall back.
		return &requestError{code: http.StatusUnsupportedMediaType,
			msg: fmt.Sprintf("message %q is not supported: this receiver speaks remote-write 1.0 (prometheus.WriteRequest)", errtext.Clip(p))}
	}
	if enc := h.Get("Content-Encoding"); !strings.EqualFold(enc, "snappy") {
		return badRequest("Content-Encoding %q: want snappy (block format)", errtext.Clip(enc))
	}
	return nil
}

// decode reads, decompresses and unmarshals the body into sc and returns
// its series. The decoded size is checked from snappy's header before any
// decoding, so a small body cannot claim a huge allocation.
func (r *Receiver) decode(w http.ResponseWriter, req *http.Request, sc *scratch) ([]promseries.Series, *requestError) {
	body := bytes.NewBuffer(sc.body[:0])
	_, err := body.ReadFrom(http.MaxBytesReader(w, req.Body, r.maxBody))
	sc.body = body.Bytes()
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, r.tooLarge("body over %d bytes", r.maxBody)
		}
		return nil, badRequest("read body: %v", err)
	}
	n, err := snappy.DecodedLen(sc.body)
	if err != nil {
		return nil, badRequest("body is not snappy block-compressed: %v", err)
	}
	if n > r.maxDec {
		return nil, r.tooLarge("decoded size %d", n)
	}
	if cap(sc.buf) < n {
		sc.buf = make([]byte, n)
	}
	dec, err := snappy.Decode(sc.buf[:n], sc.body)
	if err != nil {
		return nil, badRequest("body is not snappy block-compressed: %v", err)
	}
	series, err := sc.decode(dec)
	if err != nil {
		return nil, badRequest("body is not a prometheus.WriteRequest: %v", err)
	}
	return series, nil
}

// decode reads a prometheus.WriteRequest into the mapping's series. It
// walks the request's fields itself and unmarshals one TimeSeries at a
// time into a reused prompb.TimeSeries, whose label and sample slices keep
// their capacity from request to request (WriteRequest.Unmarshal would
// allocate every series afresh: most of a request's cost). Fields other
// than timeseries (metadata) are skipped.
func (sc *scratch) decode(b []byte) ([]promseries.Series, error) {
	const timeseriesField = 1 // prometheus.WriteRequest.timeseries
	labels, points, spans := sc.labels[:0], sc.points[:0], sc.spans[:0]
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		if num != timeseriesField {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return nil, protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		if typ != protowire.BytesType {
			return nil, fmt.Errorf("timeseries has wire type %d", typ)
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		ts := &sc.ts
		ts.Labels, ts.Samples, ts.Exemplars, ts.Histograms, ts.XXX_unrecognized = ts.Labels[:0], ts.Samples[:0], ts.Exemplars[:0], ts.Histograms[:0], nil
		if err := ts.Unmarshal(v); err != nil {
			return nil, err
		}
		for _, l := range ts.Labels {
			labels = append(labels, promseries.Label{Name: l.Name, Value: l.Value})
		}
		for _, s := range ts.Samples {
			points = append(points, promseries.Point{T: s.Timestamp, V: s.Value})
		}
		spans = append(spans, span{labels: len(labels), points: len(points)})
	}
	series := sc.series[:0]
	nl, np := 0, 0
	for _, sp := range spans {
		series = append(series, promseries.Series{Labels: labels[nl:sp.labels:sp.labels], Points: points[np:sp.points:sp.points]})
		nl, np = sp.labels, sp.points
	}
	sc.labels, sc.points, sc.spans, sc.series = labels, points, spans, series
	return series, nil
}

// hand gives the mapped samples and OOM kills to the sink. Rejected
// samples are counted, not failed: a retry would not change them.
func (r *Receiver) hand(out *promseries.Output) error {
	r.metrics.mapping.Observe(&out.Stats)
	rejected := 0
	if len(out.Samples) > 0 {
		if err := r.sink.Ingest(out.Samples); err != nil {
			ie, ok := errors.AsType[*recommender.IngestError](err)
			if !ok {
				return err
			}
			rejected = ie.Rejected
		}
	}
	oomRejected := 0
	for _, ev := range out.OOMs {
		if err := r.sink.RecordOOM(ev); err != nil {
			oomRejected++
			r.log.Debug("remote-write OOM kill rejected", "container", ev.Key.String(), "err", err)
		}
	}
	r.metrics.mapping.Handed(len(out.Samples), rejected, len(out.OOMs), oomRejected)
	return nil
}

// Flush hands the sink every sample still waiting for its join (see
// Options.JoinDelay). Call it at shutdown, after the server has stopped
// taking requests, so the last scrape's samples are not lost.
func (r *Receiver) Flush() error {
	sc := r.pool.Get().(*scratch)
	defer r.release(sc)
	r.mapper.Flush(r.clock.Now(), &sc.out)
	return r.hand(&sc.out)
}

// metrics are the receiver's Prometheus metrics.
type metrics struct {
	requests *prometheus.CounterVec
	mapping  *promseries.Metrics
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rightsizer", Subsystem: "promwrite", Name: "requests_total",
			Help: "Remote-write requests by HTTP status code (499: the client left while waiting).",
		}, []string{"code"}),
		mapping: promseries.NewMetrics(reg, "promwrite"),
	}
	if reg != nil {
		reg.MustRegister(m.requests)
	}
	return m
}
