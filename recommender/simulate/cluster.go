package simulate

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
)

// Cluster is a simulated cluster: plain values, safe to copy and to build
// by hand. New takes a deep copy, so a Cluster may be changed afterwards.
type Cluster struct {
	Workloads []WorkloadSpec
}

// WorkloadSpec is one simulated workload: its inventory record and how its
// pods live.
type WorkloadSpec struct {
	Key    recommender.WorkloadKey
	Labels map[string]string
	// Replicas is the number of pods: the nodes a DaemonSet runs on, the
	// parallelism of a CronJob's run. Zero is a workload scaled to zero.
	Replicas int32
	// Containers lists the pod's containers. Init containers (RoleInit)
	// run one after the other at each pod start, before the app
	// containers; sidecars (RoleSidecar) run for the pod's whole life.
	Containers []ContainerSpec
	// Schedule makes the pods exist only while a run is active (a CronJob
	// or Job); the zero Schedule is a long-running workload.
	Schedule Schedule
	// RolloutEvery is the mean time between rollouts of a long-running
	// workload (exponentially distributed): each replica restarts in turn,
	// one step apart, and is absent for the step of its restart. Zero
	// means no rollouts.
	RolloutEvery time.Duration
}

// ContainerSpec is one simulated container: what it requests, and how it
// uses resources.
type ContainerSpec struct {
	// Spec is the container's name, role, requests and limits, as upserted
	// into the sink. A zero amount is unset. A CPU limit throttles; a
	// memory limit OOM-kills.
	Spec recommender.ContainerSpec
	// Runtime is how long an init container runs at each pod start,
	// rounded up to whole steps; zero means one step. Only RoleInit
	// containers may set it.
	Runtime time.Duration
	// Model is the container's usage model.
	Model Model
}

// Schedule is when a CronJob's runs start and how long they last. A run
// starts at At past midnight UTC and then every Every; each lasts a time
// drawn uniformly from [MinRun, MaxRun] (plus its init containers). Runs
// never overlap: a start that falls inside a run is skipped, as with
// concurrencyPolicy: Forbid. The first run is the first start at or after
// Options.Start. A run's pods are absent for the step in which it starts
// and sample from the next step to the end of the run.
type Schedule struct {
	At     time.Duration // time of day, UTC, in [0, 24h)
	Every  time.Duration // interval between starts; zero means not scheduled
	MinRun time.Duration // shortest run; positive
	MaxRun time.Duration // longest run; at least MinRun, shorter than Every
}

func (s Schedule) scheduled() bool { return s.Every > 0 }

// Validate reports every problem of the cluster, joined with errors.Join,
// or nil if the cluster can be simulated.
func (c Cluster) Validate() error {
	var errs []error
	seen := make(map[recommender.WorkloadKey]bool, len(c.Workloads))
	for i := range c.Workloads {
		w := &c.Workloads[i]
		if seen[w.Key] {
			errs = append(errs, fmt.Errorf("workload %s: duplicate key", w.Key))
		}
		seen[w.Key] = true
		errs = append(errs, w.validate()...)
	}
	return errors.Join(errs...)
}

func (w *WorkloadSpec) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("workload %s: "+format, append([]any{w.Key}, args...)...))
	}
	if err := (recommender.ContainerKey{WorkloadKey: w.Key, Container: "c"}).Validate(); err != nil {
		bad("key: %w", err)
	}
	if w.Replicas < 0 {
		bad("replicas %d is negative", w.Replicas)
	}
	if w.RolloutEvery < 0 {
		bad("rollout interval %s is negative", w.RolloutEvery)
	}
	if s := w.Schedule; s.scheduled() {
		if w.RolloutEvery > 0 {
			bad("a scheduled workload cannot have rollouts")
		}
		if s.At < 0 || s.At >= 24*time.Hour {
			bad("schedule time %s is outside [0, 24h)", s.At)
		}
		if s.MinRun <= 0 || s.MaxRun < s.MinRun || s.MaxRun >= s.Every {
			bad("schedule runs [%s, %s] must be positive, ordered and shorter than the interval %s",
				s.MinRun, s.MaxRun, s.Every)
		}
	} else if s != (Schedule{}) {
		bad("schedule has no positive interval (every %s)", s.Every)
	}

	names := make(map[string]bool, len(w.Containers))
	apps := 0
	for i := range w.Containers {
		c := &w.Containers[i]
		path := fmt.Sprintf("workload %s: container %q", w.Key, c.Spec.Name)
		if names[c.Spec.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate name", path))
		}
		names[c.Spec.Name] = true
		if err := validateContainerName(c.Spec.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s: name: %w", path, err))
		}
		switch c.Spec.Role {
		case recommender.RoleApp:
			apps++
		case recommender.RoleInit, recommender.RoleSidecar:
		default:
			errs = append(errs, fmt.Errorf("%s: unknown role %d", path, c.Spec.Role))
		}
		if c.Runtime < 0 || c.Runtime > 0 && c.Spec.Role != recommender.RoleInit {
			errs = append(errs, fmt.Errorf("%s: runtime %s is negative or set on a container that is not an init container", path, c.Runtime))
		}
		errs = append(errs, validateAmounts(path, &c.Spec)...)
		errs = append(errs, c.Model.validate(path, &c.Spec, w.Schedule)...)
	}
	if apps == 0 {
		bad("no app container")
	}
	return errs
}

// validateContainerName checks the container part of a key on its own, so
// that a bad workload key is reported once, not once per container.
func validateContainerName(name string) error {
	k := recommender.ContainerKey{
		WorkloadKey: recommender.WorkloadKey{Namespace: "ns", Kind: "Kind", Name: "name"},
		Container:   name,
	}
	return k.Validate()
}

// validateAmounts checks that requests and limits are non-negative and
// finite, and that no limit is below its request, as the API server does.
func validateAmounts(path string, s *recommender.ContainerSpec) []error {
	var errs []error
	check := func(what string, a recommender.Amounts) {
		if a.CPU < 0 || a.Memory < 0 || a.GPUMemory < 0 || a.GPUCompute < 0 || !finite(float64(a.GPUCompute)) {
			errs = append(errs, fmt.Errorf("%s: %s: negative or non-finite amount", path, what))
		}
	}
	check("requests", s.Requests)
	check("limits", s.Limits)
	r, l := s.Requests, s.Limits
	if l.CPU > 0 && r.CPU > l.CPU || l.Memory > 0 && r.Memory > l.Memory ||
		l.GPUCompute > 0 && r.GPUCompute > l.GPUCompute || l.GPUMemory > 0 && r.GPUMemory > l.GPUMemory {
		errs = append(errs, fmt.Errorf("%s: a request is above its limit", path))
	}
	return errs
}

// clone returns a deep copy of c.
func (c Cluster) clone() Cluster {
	out := Cluster{Workloads: slices.Clone(c.Workloads)}
	for i := range out.Workloads {
		w := &out.Workloads[i]
		w.Labels = maps.Clone(w.Labels)
		w.Containers = slices.Clone(w.Containers)
	}
	return out
}

// inventory returns the record upserted into the sink: a fresh value that
// shares nothing with w.
func (w *WorkloadSpec) inventory() recommender.Workload {
	cs := make([]recommender.ContainerSpec, len(w.Containers))
	for i := range w.Containers {
		cs[i] = w.Containers[i].Spec
	}
	return recommender.Workload{
		Key:        w.Key,
		Labels:     maps.Clone(w.Labels),
		Replicas:   w.Replicas,
		Containers: cs,
	}
}
