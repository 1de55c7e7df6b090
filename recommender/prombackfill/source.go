package prombackfill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/internal/promseries"
)

// querier is the part of the Prometheus v1 API the backfill uses.
type querier interface {
	LabelValues(ctx context.Context, label string, matches []string, start, end time.Time, opts ...v1.Option) (model.LabelValues, v1.Warnings, error)
	Series(ctx context.Context, matches []string, start, end time.Time, opts ...v1.Option) ([]model.LabelSet, v1.Warnings, error)
	QueryRange(ctx context.Context, query string, r v1.Range, opts ...v1.Option) (model.Value, v1.Warnings, error)
}

var _ querier = v1.API(nil)

// Source backfills usage from Prometheus. Run may be called more than
// once (each call reads the whole history again); calls must not overlap.
type Source struct {
	api     querier
	opts    Options
	clock   clock.WithTicker
	log     *slog.Logger
	metrics *metrics
}

var _ recommender.UsageSource = (*Source)(nil)

// New returns a Source that queries Prometheus through client (from
// api.NewClient; its address is the Prometheus base URL).
func New(client api.Client, opts Options) (*Source, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("prometheus backfill options: %w", err)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m := newMetrics(opts.Registerer)
	guarded := &guardedClient{
		next:       client,
		limiter:    rate.NewLimiter(rate.Limit(opts.QPS), 1),
		clock:      opts.Clock,
		timeout:    opts.QueryTimeout + 5*time.Second, // Prometheus' own timeout fires first
		retries:    opts.MaxRetries,
		backoff:    opts.RetryBackoff,
		maxBackoff: opts.MaxRetryBackoff,
		log:        opts.Logger,
		requests:   m.requests,
		retried:    m.retries,
	}
	return &Source{api: v1.NewAPI(guarded), opts: opts, clock: opts.Clock, log: opts.Logger, metrics: m}, nil
}

// window is one query's time range; both ends are steps.
type window struct{ start, end time.Time }

// windows splits [from, to] into windows of at most w, on multiples of
// step, the first starting at from. Consecutive windows do not share a
// step.
func windows(from, to time.Time, w, step time.Duration) []window {
	var out []window
	for s := from; !s.After(to); {
		e := s.Add(w - step)
		if e.After(to) {
			e = to
		}
		out = append(out, window{s, e})
		s = e.Add(step)
	}
	return out
}

// run is the state of one Run call.
type run struct {
	*Source
	sink    recommender.Sink
	failed  atomic.Int64 // requests failed for good
	windows atomic.Int64 // namespace windows done
	samples atomic.Int64
	ooms    atomic.Int64
	nsDone  atomic.Int64 // namespaces done
	lastErr atomic.Pointer[error]
}

// errTooManyFailures stops a backfill whose Prometheus keeps failing.
var errTooManyFailures = errors.New("too many failed Prometheus requests")

// Run reads the history into sink (see the package documentation). It
// returns nil when every query succeeded, ctx.Err() when cancelled, and
// otherwise an error saying what failed; samples read before an error
// stay in the sink.
func (s *Source) Run(ctx context.Context, sink recommender.Sink) error {
	began := s.clock.Now()
	step := s.opts.Step
	end := s.opts.End
	if end.IsZero() {
		end = began
	}
	end = end.Truncate(step)
	from := end.Add(-s.opts.History).Truncate(step)
	wins := windows(from, end, s.opts.Window, step)
	r := &run{Source: s, sink: sink}
	namespaces, err := r.listNamespaces(ctx, from, end)
	if err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	total := len(namespaces) * len(wins)
	s.log.Info("prometheus backfill started", "namespaces", len(namespaces), "windows", len(wins),
		"from", from, "to", end, "step", step, "window", s.opts.Window, "concurrency", s.opts.Concurrency)

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.Concurrency)
	stopProgress := r.progress(began, total)
	for _, ns := range namespaces {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			err := r.namespace(gctx, ns, wins)
			r.nsDone.Add(1)
			return err
		})
	}
	err = g.Wait()
	stopProgress()
	s.log.Info("prometheus backfill finished", "namespaces", r.nsDone.Load(), "windows_done", r.windows.Load(),
		"windows_total", total, "samples", r.samples.Load(), "oom_kills", r.ooms.Load(),
		"failed_requests", r.failed.Load(), "elapsed", s.clock.Since(began).Round(time.Millisecond))
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return fmt.Errorf("prometheus backfill stopped: %w", err)
	case r.failed.Load() > 0:
		return fmt.Errorf("prometheus backfill incomplete: %d requests failed, the last: %w", r.failed.Load(), *r.lastErr.Load())
	}
	return nil
}

// progress logs progress every ProgressInterval until the returned
// function is called (which waits for the logger to stop).
func (r *run) progress(began time.Time, total int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := r.clock.NewTicker(r.opts.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C():
				r.log.Info("prometheus backfill progress", "windows_done", r.windows.Load(), "windows_total", total,
					"namespaces_done", r.nsDone.Load(), "samples", r.samples.Load(),
					"failed_requests", r.failed.Load(), "elapsed", r.clock.Since(began).Round(time.Second))
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// fail records a request that failed for good, and says whether the
// backfill must stop.
func (r *run) fail(ctx context.Context, what, namespace string, w window, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	n := r.failed.Add(1)
	r.lastErr.Store(&err)
	r.metrics.failed.Inc()
	detail := ""
	if ae, ok := errors.AsType[*v1.Error](err); ok {
		detail = ae.Detail
		if len(detail) > 512 {
			detail = detail[:512] + "…"
		}
	}
	r.log.Warn("prometheus backfill request failed", "request", what, "namespace", namespace,
		"from", w.start, "to", w.end, "err", err, "detail", detail, "failed_requests", n)
	if n >= int64(r.opts.MaxFailedQueries) {
		return fmt.Errorf("%w (%d): the last: %w", errTooManyFailures, n, err)
	}
	return nil
}

// listNamespaces lists the namespaces to read.
func (r *run) listNamespaces(ctx context.Context, from, to time.Time) ([]string, error) {
	if len(r.opts.Namespaces) > 0 {
		ns := slices.Clone(r.opts.Namespaces)
		slices.Sort(ns)
		return slices.Compact(ns), nil
	}
	vals, warnings, err := r.api.LabelValues(ctx, promseries.LabelNamespace, []string{metricsSelector(promseries.ContainerMetrics(), "")}, from, to)
	if err != nil {
		return nil, err
	}
	r.warn(warnings)
	var ns []string
	for _, v := range vals {
		if s := string(v); s != "" && !slices.Contains(r.opts.ExcludeNamespaces, s) {
			ns = append(ns, s)
		}
	}
	slices.Sort(ns)
	return ns, nil
}

func (r *run) warn(w v1.Warnings) {
	for _, s := range w {
		r.log.Warn("prometheus warned", "warning", s)
	}
}

// lookback is Prometheus' default lookback delta: a range query's value
// at a step may come from a sample this much older.
const lookback = 5 * time.Minute

// namespace reads one namespace, window after window, so that counters
// carry their previous value from one window into the next.
func (r *run) namespace(ctx context.Context, ns string, wins []window) error {
	mapper, err := promseries.New(r.opts.mapping())
	if err != nil {
		return err
	}
	containers := metricsSelector(promseries.ContainerMetrics(), ns)
	owners := metricsSelector(promseries.OwnerMetrics(), ns)
	var out promseries.Output
	for _, w := range wins {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sets, warnings, err := r.api.Series(ctx, []string{containers, owners}, w.start.Add(-lookback), w.end)
		if err != nil {
			if err := r.fail(ctx, "series", ns, w, err); err != nil {
				return err
			}
			r.windows.Add(1)
			continue
		}
		r.warn(warnings)
		// Learn the window's owners first, from their labels alone.
		ownerSeries, podSeries := splitSeries(sets)
		mapper.Map(r.clock.Now(), ownerSeries, &out)
		for _, b := range batches(podSeries, r.opts.MaxSeriesPerQuery) {
			q := containers
			if b != "" {
				q = q[:len(q)-1] + `,pod=~` + strconv.Quote(b) + `}`
			}
			val, warnings, err := r.api.QueryRange(ctx, q, v1.Range{Start: w.start, End: w.end, Step: r.opts.Step}, v1.WithTimeout(r.opts.QueryTimeout))
			if err == nil {
				if _, ok := val.(model.Matrix); !ok {
					err = fmt.Errorf("range query answered a %s, not a matrix", val.Type())
				}
			}
			if err != nil {
				if err := r.fail(ctx, "query_range", ns, w, err); err != nil {
					return err
				}
				continue
			}
			r.warn(warnings)
			mapper.Map(r.clock.Now(), matrixSeries(val.(model.Matrix)), &out)
			// Every metric of a pod is in this batch: no join waits for more.
			mapper.Flush(r.clock.Now(), &out)
			r.hand(&out)
			out.Reset()
		}
		r.metrics.mapping.Observe(&out.Stats) // the owners' stats
		out.Reset()
		r.windows.Add(1)
	}
	return nil
}

// hand gives a batch's samples and OOM kills to the sink.
func (r *run) hand(out *promseries.Output) {
	r.metrics.mapping.Observe(&out.Stats)
	rejected := 0
	if len(out.Samples) > 0 {
		if err := r.sink.Ingest(out.Samples); err != nil {
			if ie, ok := errors.AsType[*recommender.IngestError](err); ok {
				rejected = ie.Rejected
				r.log.Debug("prometheus backfill samples rejected", "rejected", rejected, "err", err)
			} else {
				rejected = len(out.Samples)
				r.log.Warn("prometheus backfill samples not recorded", "samples", rejected, "err", err)
			}
		}
	}
	oomRejected := 0
	for _, ev := range out.OOMs {
		if err := r.sink.RecordOOM(ev); err != nil {
			oomRejected++
		}
	}
	r.metrics.mapping.Handed(len(out.Samples), rejected, len(out.OOMs), oomRejected)
	r.samples.Add(int64(len(out.Samples) - rejected))
	r.ooms.Add(int64(len(out.OOMs) - oomRejected))
}

// metricsSelector selects the named metrics of a namespace (any, if
// empty) that the mapping uses: containers only (not the pod cgroup),
// total CPU (not per-CPU), and of termination reasons only OOMKilled.
// Series without the cpu or reason label match the empty alternative.
func metricsSelector(names []string, namespace string) string {
	var b strings.Builder
	b.WriteString(`{__name__=~"` + strings.Join(names, "|") + `"`)
	if namespace != "" {
		b.WriteString(`,namespace=` + strconv.Quote(namespace))
	}
	if slices.Contains(names, promseries.MetricCPUUsage) {
		b.WriteString(`,container!="",container!="POD",cpu=~"|total",reason=~"|` + promseries.ReasonOOMKilled + `"`)
	}
	b.WriteString("}")
	return b.String()
}

// splitSeries converts the series API's label sets, separating ownership
// series (returned without points) from the pods' series.
func splitSeries(sets []model.LabelSet) (owners []promseries.Series, pods []model.LabelSet) {
	for _, ls := range sets {
		switch string(ls[model.MetricNameLabel]) {
		case promseries.MetricPodOwner, promseries.MetricReplicaSetOwner, promseries.MetricJobOwner:
			owners = append(owners, promseries.Series{Labels: labelsOf(ls)})
		default:
			pods = append(pods, ls)
		}
	}
	return owners, pods
}

// batches groups the pods of sets so that each group has at most max
// series, and returns each group as a regular expression matching its
// pods. A single empty expression means one query can take them all; no
// expression, that there is nothing to query.
func batches(sets []model.LabelSet, max int) []string {
	switch {
	case len(sets) == 0:
		return nil
	case len(sets) <= max:
		return []string{""}
	}
	count := map[string]int{}
	for _, ls := range sets {
		count[string(ls[promseries.LabelPod])]++
	}
	pods := make([]string, 0, len(count))
	for p := range count {
		pods = append(pods, p)
	}
	slices.Sort(pods)
	var out []string
	var group []string
	n := 0
	flush := func() {
		if len(group) > 0 {
			out = append(out, strings.Join(group, "|"))
			group, n = group[:0], 0
		}
	}
	for _, p := range pods {
		if n > 0 && n+count[p] > max {
			flush()
		}
		group = append(group, regexp.QuoteMeta(p))
		n += count[p]
	}
	flush()
	return out
}

// labelsOf converts a label set to the mapping's sorted labels.
func labelsOf(ls model.LabelSet) []promseries.Label {
	out := make([]promseries.Label, 0, len(ls))
	for n, v := range ls {
		out = append(out, promseries.Label{Name: string(n), Value: string(v)})
	}
	slices.SortFunc(out, func(a, b promseries.Label) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// matrixSeries converts a range query's result to the mapping's series.
func matrixSeries(m model.Matrix) []promseries.Series {
	out := make([]promseries.Series, 0, len(m))
	for _, ss := range m {
		pts := make([]promseries.Point, len(ss.Values))
		for i, v := range ss.Values {
			pts[i] = promseries.Point{T: int64(v.Timestamp), V: float64(v.Value)}
		}
		out = append(out, promseries.Series{Labels: labelsOf(model.LabelSet(ss.Metric)), Points: pts})
	}
	return out
}

// metrics are the backfill's Prometheus metrics.
type metrics struct {
	requests *prometheus.CounterVec
	retries  prometheus.Counter
	failed   prometheus.Counter
	mapping  *promseries.Metrics
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rightsizer", Subsystem: "prombackfill", Name: "requests_total",
			Help: "Requests to Prometheus, retries included, by HTTP status code (error: no answer).",
		}, []string{"code"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "rightsizer", Subsystem: "prombackfill", Name: "retries_total",
			Help: "Requests to Prometheus retried after a 429, a 5xx or a network error.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "rightsizer", Subsystem: "prombackfill", Name: "failed_requests_total",
			Help: "Requests to Prometheus that failed for good; their window of a namespace is skipped.",
		}),
		mapping: promseries.NewMetrics(reg, "prombackfill"),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.retries, m.failed)
	}
	return m
}
