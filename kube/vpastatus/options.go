package vpastatus

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rightsizer/rightsizer/kube/namespaces"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
)

// DefaultRecommenderName is the name a VPA lists in spec.recommenders to
// have rightsizer write its status.
const DefaultRecommenderName = "rightsizer"

// upstreamDefaultRecommender is the name of VPA's own recommender, which
// also owns every VPA that lists no recommender.
const upstreamDefaultRecommender = "default"

// Options configure a Writer. Start from DefaultOptions.
type Options struct {
	// RecommenderName is the name VPAs list in spec.recommenders to be
	// written by this writer. It must not be "default", the upstream
	// recommender's name: the VPAs of other recommenders, and those that
	// name none, are never touched. Default "rightsizer".
	RecommenderName string
	// Cluster names the cluster in the workload keys that targetRefs
	// resolve to; empty for the local one (as kube.Options.Cluster).
	Cluster string
	// Namespaces, if set, are the only namespaces watched (one watch each);
	// otherwise every namespace is. ExcludeNamespaces are never written.
	Namespaces, ExcludeNamespaces []string
	// Interval is how often every selected VPA is re-evaluated, besides on
	// its own changes. Recommendations move with usage, not with the VPA
	// object, so this is what carries new numbers to the API server.
	// Default 1 minute, upstream's --recommender-interval.
	Interval time.Duration
	// MinChange is the relative change of any quantity below which an
	// already written recommendation is left as it is. Default 0.05: half
	// of the updater's 10 % in-bounds threshold (--pod-update-threshold),
	// and five times the sketches' 1 % relative accuracy, so the
	// percentiles' jitter between loops does not write every VPA every
	// Interval. Zero writes on any change. A new VPA generation, a
	// container or resource appearing or going, or a condition changing
	// always writes.
	MinChange float64
	// QPS and Burst bound the status writes per second, over all VPAs
	// (a token bucket; reads come from the informer's cache). Defaults 5
	// and 10, the request rates OpenShift recommends for VPA's own
	// recommender up to 150 VPAs; at 5/s a 1-minute Interval covers 300
	// VPAs whose numbers all moved, and the rest wait their turn.
	QPS   float64
	Burst int
	// Workers evaluate VPAs concurrently. Default 2.
	Workers int
	// WriteTimeout bounds one status write. Default 30 s.
	WriteTimeout time.Duration
	// Clock drives the Interval's ticker and condition times; nil means
	// the real clock.
	Clock clock.WithTicker
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer for the writer's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// DefaultOptions returns the defaults described on Options.
func DefaultOptions() Options {
	return Options{
		RecommenderName: DefaultRecommenderName,
		Interval:        time.Minute,
		MinChange:       0.05,
		QPS:             5,
		Burst:           10,
		Workers:         2,
		WriteTimeout:    30 * time.Second,
	}
}

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	var errs []error
	switch o.RecommenderName {
	case "":
		errs = append(errs, errors.New("recommender name is empty"))
	case upstreamDefaultRecommender:
		errs = append(errs, fmt.Errorf("recommender name %q is upstream VPA's own recommender", o.RecommenderName))
	}
	errs = append(errs, namespaces.Validate(o.Namespaces, o.ExcludeNamespaces)...)
	if o.Interval <= 0 {
		errs = append(errs, fmt.Errorf("interval %v must be positive", o.Interval))
	}
	if o.MinChange < 0 || o.MinChange >= 1 {
		errs = append(errs, fmt.Errorf("min change %v is not in [0, 1)", o.MinChange))
	}
	if !(o.QPS > 0) {
		errs = append(errs, fmt.Errorf("qps %v must be positive", o.QPS))
	}
	if o.Burst < 1 {
		errs = append(errs, fmt.Errorf("burst %d must be at least 1", o.Burst))
	}
	if o.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers %d must be at least 1", o.Workers))
	}
	if o.WriteTimeout <= 0 {
		errs = append(errs, fmt.Errorf("write timeout %v must be positive", o.WriteTimeout))
	}
	return errors.Join(errs...)
}
