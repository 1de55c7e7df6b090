package prombackfill

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rightsizer/rightsizer/kube/namespaces"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/internal/promseries"
)

// Options configure a Source. Start from DefaultOptions.
type Options struct {
	// History is how far back to read. Default 14 days (KRR's default and
	// more than the engine's default window needs).
	History time.Duration
	// End is the end of the history; zero means the time Run starts. It is
	// rounded down to a whole Step.
	End time.Time
	// Window is the time span of one query. Default 6 h: 361 values per
	// series at the default step.
	Window time.Duration
	// Step is the query resolution, and so the interval of the CPU rates.
	// It must be at least ScrapeInterval. Default 1 minute.
	Step time.Duration
	// ScrapeInterval is the longest scrape interval of cAdvisor and
	// kube-state-metrics in the Prometheus read. Default 30 s.
	ScrapeInterval time.Duration
	// Concurrency is the number of namespaces read at once. Default 2.
	Concurrency int
	// QueryTimeout bounds one request, and is sent to Prometheus as the
	// query's timeout. Default 1 minute.
	QueryTimeout time.Duration
	// MaxSeriesPerQuery bounds the series one range query selects. Pods are
	// batched to respect it; a single pod with more series is read alone.
	// Default 500.
	MaxSeriesPerQuery int
	// MaxRetries is how many times a request is retried after a 429, a 5xx
	// or a network error. Default 3.
	MaxRetries int
	// RetryBackoff is the first wait before a retry; each further retry
	// doubles it, up to MaxRetryBackoff. Defaults 1 s and 30 s.
	RetryBackoff, MaxRetryBackoff time.Duration
	// MaxFailedQueries stops the backfill after this many requests failed
	// for good (after their retries). Default 5.
	MaxFailedQueries int
	// QPS limits requests per second, retries included. Default 5.
	QPS float64
	// Namespaces, if not empty, are the namespaces to read; otherwise
	// every namespace with container series is, but ExcludeNamespaces.
	Namespaces, ExcludeNamespaces []string
	// ClusterLabel names the label carrying a series' cluster, for a
	// Prometheus holding several clusters; empty: the local cluster.
	ClusterLabel string
	// Resolver, if set, maps pods of the local cluster to workloads before
	// the ownership learned from kube_pod_owner and kube_replicaset_owner.
	// It knows today's pods only, so past pods resolve through learned
	// ownership.
	Resolver recommender.PodResolver
	// MaxInstances and MaxOwners bound the mapping state of one namespace
	// being read. Defaults 1<<18 each.
	MaxInstances, MaxOwners int
	// ProgressInterval is how often progress is logged. Default 30 s.
	ProgressInterval time.Duration
	// Clock tells the time and runs the retry and progress timers; nil
	// means the real clock.
	Clock clock.WithTicker
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer for the backfill's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// DefaultOptions returns the defaults described on Options.
func DefaultOptions() Options {
	m := promseries.DefaultOptions()
	return Options{
		History:           14 * 24 * time.Hour,
		Window:            6 * time.Hour,
		Step:              time.Minute,
		ScrapeInterval:    30 * time.Second,
		Concurrency:       2,
		QueryTimeout:      time.Minute,
		MaxSeriesPerQuery: 500,
		MaxRetries:        3,
		RetryBackoff:      time.Second,
		MaxRetryBackoff:   30 * time.Second,
		MaxFailedQueries:  5,
		QPS:               5,
		MaxInstances:      m.MaxInstances,
		MaxOwners:         m.MaxOwners,
		ProgressInterval:  30 * time.Second,
	}
}

// maxPointsPerSeries is Prometheus' limit on the points a range query may
// return per series (its API rejects more).
const maxPointsPerSeries = 11000

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	m := o.mapping()
	errs := append([]error{m.Validate()}, namespaces.Validate(o.Namespaces, o.ExcludeNamespaces)...)
	if o.History <= 0 {
		errs = append(errs, fmt.Errorf("history %v must be positive", o.History))
	}
	if o.ScrapeInterval <= 0 {
		errs = append(errs, fmt.Errorf("scrape interval %v must be positive", o.ScrapeInterval))
	}
	if o.Step < time.Second || o.Step < o.ScrapeInterval {
		errs = append(errs, fmt.Errorf("step %v must be at least 1s and the scrape interval %v, or one sample is read twice", o.Step, o.ScrapeInterval))
	}
	if o.Window < o.Step {
		errs = append(errs, fmt.Errorf("window %v is shorter than the step %v", o.Window, o.Step))
	} else if o.Step > 0 && o.Window/o.Step+1 > maxPointsPerSeries {
		errs = append(errs, fmt.Errorf("window %v at step %v has more than Prometheus' %d points per series", o.Window, o.Step, maxPointsPerSeries))
	}
	if o.Concurrency < 1 || o.Concurrency > 16 {
		errs = append(errs, fmt.Errorf("concurrency %d is not in [1, 16]", o.Concurrency))
	}
	if o.QueryTimeout <= 0 {
		errs = append(errs, fmt.Errorf("query timeout %v must be positive", o.QueryTimeout))
	}
	if o.MaxSeriesPerQuery < 1 {
		errs = append(errs, fmt.Errorf("max series per query %d must be positive", o.MaxSeriesPerQuery))
	}
	if o.MaxRetries < 0 {
		errs = append(errs, fmt.Errorf("max retries %d is negative", o.MaxRetries))
	}
	if o.RetryBackoff <= 0 || o.MaxRetryBackoff < o.RetryBackoff {
		errs = append(errs, fmt.Errorf("retry backoff %v must be positive and at most the max retry backoff %v", o.RetryBackoff, o.MaxRetryBackoff))
	}
	if o.MaxFailedQueries < 1 {
		errs = append(errs, fmt.Errorf("max failed queries %d must be positive", o.MaxFailedQueries))
	}
	if !(o.QPS > 0) {
		errs = append(errs, fmt.Errorf("QPS %v must be positive", o.QPS))
	}
	if o.ProgressInterval <= 0 {
		errs = append(errs, fmt.Errorf("progress interval %v must be positive", o.ProgressInterval))
	}
	return errors.Join(errs...)
}

// mapping returns the options of the series mapping: ownership is learned
// before each window's samples, so there is no warm-up; a window holds
// every metric of a pod, so there is no join delay; and a counter's rate
// may bridge a missing step or two.
func (o *Options) mapping() promseries.Options {
	m := promseries.DefaultOptions()
	m.ClusterLabel, m.Resolver = o.ClusterLabel, o.Resolver
	m.OwnerWarmup, m.JoinDelay = 0, 0
	m.MaxGap = max(m.MaxGap, 3*o.Step)
	m.MaxInstances, m.MaxOwners = o.MaxInstances, o.MaxOwners
	return m
}
