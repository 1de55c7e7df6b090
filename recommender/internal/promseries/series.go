package promseries

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/prometheus/model/value"

	"github.com/rightsizer/rightsizer/recommender"
)

// The metrics the Mapper reads.
const (
	MetricCPUUsage             = "container_cpu_usage_seconds_total"
	MetricMemoryWorkingSet     = "container_memory_working_set_bytes"
	MetricThrottledPeriods     = "container_cpu_cfs_throttled_periods_total"
	MetricPeriods              = "container_cpu_cfs_periods_total"
	MetricRestarts             = "kube_pod_container_status_restarts_total"
	MetricLastTerminatedReason = "kube_pod_container_status_last_terminated_reason"
	MetricPodOwner             = "kube_pod_owner"
	MetricReplicaSetOwner      = "kube_replicaset_owner"
	MetricJobOwner             = "kube_job_owner"
)

// The labels the Mapper reads.
const (
	LabelName      = "__name__"
	LabelNamespace = "namespace"
	LabelPod       = "pod"
	LabelContainer = "container"
	// LabelCPU is set by cAdvisor versions that also export per-CPU usage;
	// only "total" is read.
	LabelCPU = "cpu"
	// LabelReason is kube-state-metrics' termination reason.
	LabelReason = "reason"
	// ReasonOOMKilled is the reason of a container killed at its memory limit.
	ReasonOOMKilled = "OOMKilled"
)

// ContainerMetrics returns the metrics with one series per container
// instance, in a fixed order.
func ContainerMetrics() []string {
	return []string{MetricCPUUsage, MetricMemoryWorkingSet, MetricThrottledPeriods, MetricPeriods,
		MetricRestarts, MetricLastTerminatedReason}
}

// OwnerMetrics returns the ownership metrics, in a fixed order.
func OwnerMetrics() []string {
	return []string{MetricPodOwner, MetricReplicaSetOwner, MetricJobOwner}
}

// Label is one label of a series.
type Label struct{ Name, Value string }

// Point is one sample of a series.
type Point struct {
	T int64 // milliseconds since the epoch, as Prometheus stamps samples
	V float64
}

// Series is a labelled sequence of points. Labels should be sorted by
// name, as remote-write requires and Prometheus sends them: the identity
// of a container instance is a hash over its labels in order, so unsorted
// labels still map but may split one instance's state. Points should be in
// time order; Map sorts them anyway.
type Series struct {
	Labels []Label
	Points []Point
}

// DropReason says why a point was dropped.
type DropReason uint8

// The reasons, in the order of Stats.Dropped.
const (
	// DropInvalidValue: NaN (other than a staleness marker), ±Inf, negative,
	// or beyond any real amount.
	DropInvalidValue DropReason = iota
	// DropInvalidTime: before 2000, from 2100 on, or further in the future
	// than Options.MaxFutureSkew.
	DropInvalidTime
	// DropInvalidLabels: a namespace, pod, container, cluster or owner label
	// that breaks the recommender's key rules (empty, over 253 bytes,
	// invalid UTF-8, a control character or '/'). An ownership series
	// without points counts one.
	DropInvalidLabels
	// DropOutOfOrder: a point not after its series' previous one, such as a
	// batch the sender resent after a timeout.
	DropOutOfOrder
	// DropUnresolved: a sample or OOM kill of a pod whose owner is not yet
	// known, during Options.OwnerWarmup. Counts samples and kills, not points.
	DropUnresolved
	// NumDropReasons is the number of reasons.
	NumDropReasons
)

var dropReasonNames = [NumDropReasons]string{"invalid_value", "invalid_time", "invalid_labels", "out_of_order", "unresolved"}

// String returns the reason as a metric label value ("invalid_value", …).
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropReasonNames[r]
	}
	return fmt.Sprintf("drop_reason(%d)", r)
}

// Stats counts what one Map call saw.
type Stats struct {
	Series  int // series received
	Points  int // points received
	Ignored int // series of metrics, containers or reasons the mapping does not use
	Stale   int // staleness markers: a series ended, which is no error
	Evicted int // state entries evicted to stay within the bounds
	Dropped [NumDropReasons]int
}

// Add adds o's counts to s.
func (s *Stats) Add(o *Stats) {
	s.Series += o.Series
	s.Points += o.Points
	s.Ignored += o.Ignored
	s.Stale += o.Stale
	s.Evicted += o.Evicted
	for i := range s.Dropped {
		s.Dropped[i] += o.Dropped[i]
	}
}

// DroppedTotal sums Dropped.
func (s *Stats) DroppedTotal() int {
	n := 0
	for _, d := range s.Dropped {
		n += d
	}
	return n
}

// Output is what Map produces. The caller owns it and may reuse it after
// Reset.
type Output struct {
	Samples []recommender.Sample
	OOMs    []recommender.OOMEvent
	Stats   Stats
}

// Reset empties o, keeping its capacity.
func (o *Output) Reset() {
	o.Samples = o.Samples[:0]
	o.OOMs = o.OOMs[:0]
	o.Stats = Stats{}
}

// Options configure a Mapper. Start from DefaultOptions.
type Options struct {
	// ClusterLabel names the label that carries the cluster of a series
	// (for a Prometheus that holds several clusters); empty means every
	// series is of the local cluster (WorkloadKey.Cluster "").
	ClusterLabel string
	// Resolver, if set, is asked first for the workload of a pod of the
	// local cluster (series without a cluster). It answers from Kubernetes
	// discovery's caches.
	Resolver recommender.PodResolver
	// OwnerWarmup is how long after the first Map call a pod whose owner is
	// unknown has its points dropped (DropUnresolved) rather than keyed to
	// a bare Pod: ownership series may arrive in a later request than the
	// container series. Zero when ownership arrives before the samples, as
	// in a backfill. Default 2 minutes: a few kube-state-metrics scrapes.
	OwnerWarmup time.Duration
	// JoinDelay is how long a container instance's point waits for the
	// points of its other metrics with the same timestamp before it is
	// emitted alone, when no newer point of the instance comes first.
	// Default 15 s: remote-write shards send one scrape's series in
	// separate requests within a few seconds (batch_send_deadline is 5 s).
	JoinDelay time.Duration
	// MaxGap is the longest interval a counter's rate is taken over; after
	// a longer gap the next point only restarts the counter. Default 10
	// minutes.
	MaxGap time.Duration
	// MaxFutureSkew drops points stamped later than now plus this (a
	// broken clock would otherwise block its series until real time caught
	// up). Zero disables the check. Default 10 minutes.
	MaxFutureSkew time.Duration
	// MaxInstances bounds the container instances with state (about 300
	// bytes each). Default 1<<18.
	MaxInstances int
	// MaxOwners bounds the learned owners of pods, ReplicaSets and Jobs
	// (about 150 bytes each). Default 1<<18.
	MaxOwners int
	// StaleAfter is how long state is kept without news before it may be
	// dropped. Default 15 minutes.
	StaleAfter time.Duration
}

// DefaultOptions returns the defaults described on Options.
func DefaultOptions() Options {
	return Options{
		OwnerWarmup:   2 * time.Minute,
		JoinDelay:     15 * time.Second,
		MaxGap:        10 * time.Minute,
		MaxFutureSkew: 10 * time.Minute,
		MaxInstances:  1 << 18,
		MaxOwners:     1 << 18,
		StaleAfter:    15 * time.Minute,
	}
}

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	var errs []error
	if o.ClusterLabel != "" && !validLabelName(o.ClusterLabel) {
		errs = append(errs, fmt.Errorf("cluster label %q is not a Prometheus label name", o.ClusterLabel))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"owner warm-up", o.OwnerWarmup}, {"join delay", o.JoinDelay}, {"max future skew", o.MaxFutureSkew}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", d.name, d.v))
		}
	}
	if o.MaxGap <= 0 {
		errs = append(errs, fmt.Errorf("max gap %v must be positive", o.MaxGap))
	}
	if o.StaleAfter <= 0 {
		errs = append(errs, fmt.Errorf("stale-after %v must be positive", o.StaleAfter))
	}
	if o.MaxInstances <= 0 {
		errs = append(errs, fmt.Errorf("max instances %d must be positive", o.MaxInstances))
	}
	if o.MaxOwners <= 0 {
		errs = append(errs, fmt.Errorf("max owners %d must be positive", o.MaxOwners))
	}
	return errors.Join(errs...)
}

// validLabelName reports whether s matches [a-zA-Z_][a-zA-Z0-9_]*.
func validLabelName(s string) bool {
	for i, c := range s {
		letter := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if digit := '0' <= c && c <= '9'; !letter && (i == 0 || !digit) {
			return false
		}
	}
	return s != ""
}

// Bounds on values, beyond any real container, so that conversions to
// the recommender's integer units cannot overflow.
const (
	maxCores = 1 << 20 // cores
	maxBytes = 1 << 50 // bytes (a pebibyte)
)

// validValue reports whether v is a usable amount: finite and non-negative.
func validValue(v float64) bool { return v >= 0 && !math.IsInf(v, 1) }

// isStale reports whether v is Prometheus's staleness marker: the series
// ended (its target vanished or stopped exporting it).
func isStale(v float64) bool { return value.IsStaleNaN(v) }

var (
	minTimeMS = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	maxTimeMS = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() - 1
)
