package metricsapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/rightsizer/rightsizer/kube/namespaces"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	"k8s.io/metrics/pkg/client/clientset/versioned"
	"k8s.io/utils/clock"

	"github.com/rightsizer/rightsizer/recommender"
)

// Options configure a Source. Start from DefaultOptions.
type Options struct {
	// Interval between polls. Default 30 s: metrics-server's resolution is
	// 15 s to 60 s (its --metric-resolution, 15 s by default in its
	// manifests), so polling faster mostly finds unchanged timestamps,
	// and slower loses samples.
	Interval time.Duration
	// Timeout bounds one poll, all its pages and namespaces; zero means
	// Interval, so polls never pile up.
	Timeout time.Duration
	// Namespaces, if set, are polled one List each per poll; otherwise one
	// List covers every namespace. ExcludeNamespaces are skipped.
	Namespaces, ExcludeNamespaces []string
	// PageSize is the List limit; pages are followed with their continue
	// token, and each page is ingested as one batch, so it also bounds the
	// memory of a poll. Default 500. (metrics-server answers whole lists;
	// the limit matters for other metrics.k8s.io servers.)
	PageSize int64
	// Clock drives the poll ticker; nil means the real clock.
	Clock clock.WithTicker
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer for the source's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// DefaultOptions returns the defaults described on Options.
func DefaultOptions() Options {
	return Options{Interval: 30 * time.Second, PageSize: 500}
}

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	var errs []error
	if o.Interval <= 0 {
		errs = append(errs, fmt.Errorf("interval %v must be positive", o.Interval))
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %v is negative", o.Timeout))
	}
	if o.PageSize <= 0 {
		errs = append(errs, fmt.Errorf("page size %d must be positive", o.PageSize))
	}
	errs = append(errs, namespaces.Validate(o.Namespaces, o.ExcludeNamespaces)...)
	return errors.Join(errs...)
}

// Source polls the PodMetrics of metrics.k8s.io (metrics-server) and
// feeds them to a Sink: a recommender.UsageSource. Each container's
// metrics become one sample at the metrics' timestamp: CPU in millicores
// (the API's value is already a rate, averaged over its window) and
// memory as working-set bytes.
//
// Pods are resolved to workloads through a recommender.PodResolver;
// pods it does not know yet are skipped and counted, never guessed, and
// are tried again at the next poll. A pod whose metrics carry the
// timestamp already ingested is not ingested again. Negative values are
// dropped and counted.
//
// Concurrency: Run owns all state; it must not run twice at once (the
// second call returns an error). The resolver and sink are called from
// Run's goroutine only.
type Source struct {
	client   versioned.Interface
	resolver recommender.PodResolver
	opts     Options
	log      *slog.Logger
	metrics  *metrics
	excluded map[string]bool
	running  atomic.Bool

	// Owned by Run's goroutine.
	//
	// pods remembers the timestamp ingested for each pod and the poll that
	// last listed it; a complete poll forgets pods it did not list, so the
	// map holds at most the pods of the last complete poll plus those
	// listed since.
	pods  map[podRef]podState
	round uint64
	batch []recommender.Sample // reused per page
}

var _ recommender.UsageSource = (*Source)(nil)

type podRef struct{ namespace, name string }

type podState struct {
	ts    int64  // metrics timestamp ingested, ns since the epoch
	round uint64 // the poll that last listed the pod
}

// New returns a source that polls through client and resolves pods with
// resolver.
func New(client versioned.Interface, resolver recommender.PodResolver, opts Options) (*Source, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("metrics api options: %w", err)
	}
	if client == nil || resolver == nil {
		return nil, errors.New("metrics api source needs a client and a pod resolver")
	}
	if opts.Timeout == 0 {
		opts.Timeout = opts.Interval
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{
		client:   client,
		resolver: resolver,
		opts:     opts,
		log:      opts.Logger,
		metrics:  newMetrics(opts.Registerer),
		excluded: map[string]bool{},
		pods:     map[podRef]podState{},
	}
	for _, ns := range opts.ExcludeNamespaces {
		s.excluded[ns] = true
	}
	return s, nil
}

// Run polls at once and then every Interval until ctx is done, when it
// returns ctx.Err(). A failed List is logged and counted, and polling
// goes on: metrics-server restarts and API aggregation hiccups are
// routine.
func (s *Source) Run(ctx context.Context, sink recommender.Sink) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("metrics api source is already running")
	}
	defer s.running.Store(false)
	t := s.opts.Clock.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
		err := s.poll(pctx, sink)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			s.log.Warn("metrics api poll incomplete", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
		}
	}
}

// poll lists every scope once and ingests what is new. It returns the
// errors of the scopes whose List failed; the other scopes' samples are
// ingested regardless.
func (s *Source) poll(ctx context.Context, sink recommender.Sink) error {
	start := time.Now()
	s.round++
	scopes := s.opts.Namespaces
	if len(scopes) == 0 {
		scopes = []string{metav1.NamespaceAll}
	}
	var errs []error
	for _, ns := range scopes {
		if err := s.pollScope(ctx, sink, ns); err != nil {
			errs = append(errs, err)
		}
	}
	// Forget pods only after a complete poll: a pod missing from a failed
	// List may well still run.
	if len(errs) == 0 {
		for ref, st := range s.pods {
			if st.round != s.round {
				delete(s.pods, ref)
			}
		}
	}
	s.metrics.trackedPods.Set(float64(len(s.pods)))
	s.metrics.pollSeconds.Observe(time.Since(start).Seconds())
	if len(errs) > 0 {
		s.metrics.polls.WithLabelValues("error").Inc()
		return errors.Join(errs...)
	}
	s.metrics.polls.WithLabelValues("ok").Inc()
	return nil
}

// pollScope lists one namespace (or all), page by page.
func (s *Source) pollScope(ctx context.Context, sink recommender.Sink, ns string) error {
	opts := metav1.ListOptions{Limit: s.opts.PageSize}
	for {
		list, err := s.client.MetricsV1beta1().PodMetricses(ns).List(ctx, opts)
		if err != nil {
			scope := ns
			if scope == "" {
				scope = "all namespaces"
			}
			return fmt.Errorf("list pod metrics in %s: %w", scope, err)
		}
		s.batch = s.batch[:0]
		for i := range list.Items {
			s.collect(&list.Items[i])
		}
		s.ingest(sink)
		if list.Continue == "" {
			return nil
		}
		opts.Continue = list.Continue
	}
}

// collect appends the samples of one pod's metrics to s.batch, if they
// are new and the pod resolves.
func (s *Source) collect(pm *metricsv1beta1.PodMetrics) {
	if s.excluded[pm.Namespace] {
		s.metrics.podsSkipped.WithLabelValues("excluded").Inc()
		return
	}
	if pm.Timestamp.IsZero() {
		s.metrics.podsSkipped.WithLabelValues("no_timestamp").Inc()
		return
	}
	ref := podRef{pm.Namespace, pm.Name}
	ts := pm.Timestamp.UnixNano()
	if st, ok := s.pods[ref]; ok && st.ts == ts {
		st.round = s.round
		s.pods[ref] = st
		s.metrics.podsSkipped.WithLabelValues("unchanged").Inc()
		return
	}
	wk, ok := s.resolver.WorkloadOf(pm.Namespace, pm.Name)
	if !ok {
		// Not remembered: once the resolver knows the pod, the same
		// metrics are still new to the engine.
		s.metrics.podsSkipped.WithLabelValues("unresolved").Inc()
		return
	}
	s.pods[ref] = podState{ts: ts, round: s.round}
	for i := range pm.Containers {
		c := &pm.Containers[i]
		u, ok := s.usage(c.Usage)
		if !ok {
			continue
		}
		s.batch = append(s.batch, recommender.Sample{
			Key:   recommender.ContainerKey{WorkloadKey: wk, Container: c.Name},
			Time:  pm.Timestamp.Time,
			Usage: u,
		})
	}
}

// usage converts a container's usage. CPU is in cores (metrics-server
// writes nanocores, "12345678n"), rounded to the nearest millicore;
// memory is the working set in bytes. A negative value is dropped alone.
func (s *Source) usage(l corev1.ResourceList) (recommender.Usage, bool) {
	var u recommender.Usage
	if q, ok := l[corev1.ResourceCPU]; ok {
		if cores := q.AsApproximateFloat64(); cores < 0 || math.IsNaN(cores) || math.IsInf(cores, 0) {
			s.metrics.valuesDropped.WithLabelValues("cpu").Inc()
		} else {
			u.CPU = recommender.MilliCPUFromCores(cores)
			u.Has = u.Has.With(recommender.ResourceCPU)
		}
	}
	if q, ok := l[corev1.ResourceMemory]; ok {
		if q.Sign() < 0 {
			s.metrics.valuesDropped.WithLabelValues("memory").Inc()
		} else {
			u.Memory = recommender.Bytes(q.Value())
			u.Has = u.Has.With(recommender.ResourceMemory)
		}
	}
	return u, u.Has != 0
}

// ingest hands s.batch to the sink. Samples the sink rejects are counted;
// they are not retried, since the same values would be rejected again.
func (s *Source) ingest(sink recommender.Sink) {
	if len(s.batch) == 0 {
		return
	}
	n := len(s.batch)
	err := sink.Ingest(s.batch)
	var ie *recommender.IngestError
	switch {
	case err == nil:
	case errors.As(err, &ie):
		n -= ie.Rejected
		s.metrics.samplesRejected.Add(float64(ie.Rejected))
		s.log.Debug("metrics api samples rejected", "rejected", ie.Rejected, "err", err)
	default:
		s.metrics.samplesRejected.Add(float64(n))
		s.log.Warn("metrics api samples not ingested", "samples", n, "err", err)
		n = 0
	}
	s.metrics.samples.Add(float64(n))
}
