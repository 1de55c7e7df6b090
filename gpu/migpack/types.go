package migpack

import (
	"errors"
	"fmt"

	"github.com/rightsizer/rightsizer/gpu/mig"
)

// WholeGPU is the Demand.Profile of a workload that needs a whole GPU
// with MIG disabled (the device plugin's nvidia.com/gpu on a non-MIG GPU).
const WholeGPU = "whole-gpu"

// Strategy is the device plugin's MIG strategy (--mig-strategy), which
// decides which layouts a node may have.
type Strategy string

// The strategies the packer plans for.
const (
	// StrategyMixed advertises one resource per profile
	// (nvidia.com/mig-1g.10gb, …): GPUs on a node may be partitioned
	// differently, MIG-disabled GPUs may sit beside MIG-enabled ones, and
	// a workload gets exactly the profile it asks for.
	StrategyMixed Strategy = "mixed"
	// StrategySingle advertises every MIG device as nvidia.com/gpu: every
	// GPU of the node is MIG-enabled with instances of one profile, or
	// every GPU is MIG-disabled; otherwise the device plugin marks the
	// node invalid. A workload then gets that one profile, which must be
	// at least as large as what it asks for (compute slices, memory and
	// SMs), so the packer may hand out a larger slice than demanded.
	StrategySingle Strategy = "single"
)

// Policy orders the packer's objectives.
type Policy int

// The policies.
const (
	// PolicyFewestGPUs minimises, in order: demands left unplaced, GPUs
	// used, GPUs re-partitioned while pods use them (disruptive), GPUs
	// re-partitioned at all, and workloads moved off the instance they are
	// on. It prefers plans that change only empty GPUs, but re-partitions
	// a busy GPU when that saves a GPU.
	PolicyFewestGPUs Policy = iota
	// PolicyNoDisruption never re-partitions a GPU that pods use; within
	// that, it minimises unplaced demands, GPUs used, GPUs re-partitioned
	// and workloads moved.
	PolicyNoDisruption
)

// String names the policy as the CLI spells it.
func (p Policy) String() string {
	switch p {
	case PolicyFewestGPUs:
		return "fewest-gpus"
	case PolicyNoDisruption:
		return "no-disruption"
	default:
		return fmt.Sprintf("Policy(%d)", int(p))
	}
}

// ParsePolicy is the inverse of Policy.String.
func ParsePolicy(s string) (Policy, error) {
	for _, p := range []Policy{PolicyFewestGPUs, PolicyNoDisruption} {
		if s == p.String() {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown policy %q (fewest-gpus or no-disruption): %w", s, ErrInvalidInput)
}

// ErrInvalidInput reports a node the packer cannot plan: an unknown
// profile, a repeated workload or GPU index, a current layout that cannot
// exist on the GPU, or a model the oracle refuses.
var ErrInvalidInput = errors.New("invalid mig packing input")

// ErrDisruptionRequired reports a node that PolicyNoDisruption cannot
// plan: under the single strategy every GPU must share one profile, and
// reaching that would re-partition a GPU that pods use.
var ErrDisruptionRequired = errors.New("plan needs to re-partition a gpu in use")

// Demand is what one workload needs.
type Demand struct {
	// Workload names the consumer, e.g. "namespace/pod/container"; it
	// matches Slot.Workload and GPU.Workload, and is unique on a node.
	Workload string
	// Profile is a profile of the node's model ("1g.10gb") or WholeGPU.
	Profile string
	// Count is the number of instances (or whole GPUs) it needs; 0 means 1.
	Count int
}

// Slot is one MIG instance that exists on a GPU now.
type Slot struct {
	// Profile is the instance's GPU-instance profile, e.g. "3g.40gb".
	Profile string
	// Placement is where it sits; zero Size when unknown (the packer then
	// assumes any placement the oracle finds for the current layout).
	Placement mig.Placement
	// Workload is the workload using the instance, "" when free.
	Workload string
}

// GPU is the current state of one GPU of a node.
type GPU struct {
	// Index is the GPU's index on the node (nvidia-smi's, which
	// mig-parted's `devices` lists use).
	Index int
	// MIGEnabled reports MIG mode as applied now.
	MIGEnabled bool
	// Instances are the MIG instances present (MIG enabled only).
	Instances []Slot
	// Workload is the workload using the whole GPU (MIG disabled only),
	// "" when idle.
	Workload string
}

// InUse reports whether pods use the GPU now.
func (g GPU) InUse() bool {
	if !g.MIGEnabled {
		return g.Workload != ""
	}
	for _, s := range g.Instances {
		if s.Workload != "" {
			return true
		}
	}
	return false
}

// Node is one node to plan: its GPUs (all of one model) and the demands of
// the workloads that should run on it. A workload that uses an instance
// now but has no Demand keeps an implicit demand for what it holds, so a
// plan never silently drops a running pod.
type Node struct {
	Name    string
	Model   mig.Model
	GPUs    []GPU
	Demands []Demand
}

// Options configures planning. The zero value plans for the mixed strategy
// with PolicyFewestGPUs.
type Options struct {
	// Strategy is the device plugin's MIG strategy; "" means mixed.
	Strategy Strategy
	// Policy orders the objectives.
	Policy Policy
	// MaxStates bounds the exact search's memo, in states (about 100 B
	// each); past it the packer falls back to a greedy plan and reports
	// Exact false. 0 means DefaultMaxStates.
	MaxStates int
}

// DefaultMaxStates is Options.MaxStates's default: about 25 MiB of memo,
// far beyond what an 8-GPU node with realistic demands reaches.
const DefaultMaxStates = 1 << 18

// MaxExactGPUs is the most GPUs per node that PlanNode searches exactly;
// larger nodes get a greedy plan.
const MaxExactGPUs = 8

func (o Options) strategy() Strategy {
	if o.Strategy == "" {
		return StrategyMixed
	}
	return o.Strategy
}

func (o Options) maxStates() int {
	if o.MaxStates <= 0 {
		return DefaultMaxStates
	}
	return o.MaxStates
}

// Instance is one MIG instance of a planned layout.
type Instance struct {
	mig.Instance
	// Workload is the workload the plan puts on it, "" when left free.
	Workload string
}

// GPUPlan is the planned state of one GPU.
type GPUPlan struct {
	Index int
	// MIGEnabled is the planned MIG mode.
	MIGEnabled bool
	// Instances is the planned layout, by placement start. Placements are
	// the oracle's witness: mig-parted lets the driver place instances
	// (retrying orders until one fits), so they show that the layout fits,
	// not where the driver will put each instance.
	Instances []Instance
	// Workload is the workload the plan gives the whole GPU (MIG
	// disabled), "" when none.
	Workload string
	// Changed reports a new layout: mig-parted will destroy every
	// instance on the GPU and create the planned ones.
	Changed bool
	// Disruptive reports a change to a GPU that pods use now; Evicted
	// lists them (sorted): they lose their instance.
	Disruptive bool
	Evicted    []string
}

// Used reports whether the plan puts any workload on the GPU.
func (g GPUPlan) Used() bool {
	if g.Workload != "" {
		return true
	}
	for _, in := range g.Instances {
		if in.Workload != "" {
			return true
		}
	}
	return false
}

// Assignment is where the plan puts one unit of a demand.
type Assignment struct {
	Workload string
	// Requested is the profile the demand asked for (or WholeGPU);
	// Profile is the one it gets, larger under the single strategy.
	Requested, Profile string
	// GPU is the GPU's index, -1 when unplaced; Instance indexes that
	// GPU's planned Instances, -1 for a whole GPU.
	GPU, Instance int
	// Moved reports a unit that runs on an instance now and gets another
	// one (or none): its pod restarts.
	Moved bool
}

// NodePlan is the plan for one node. It is a value; its methods do not
// modify it and are safe for concurrent use.
type NodePlan struct {
	Node     string
	Model    string
	Strategy Strategy
	Policy   Policy
	// GPUs holds every GPU of the node, by index.
	GPUs []GPUPlan
	// Assignments holds one entry per demand unit, in demand order (the
	// implicit demands of running workloads last).
	Assignments []Assignment
	// Used counts GPUs with at least one workload; GPUs counts all.
	Used, Total int
	// Changed and Disrupted list the indices of GPUs re-partitioned, and
	// of those re-partitioned while in use.
	Changed, Disrupted []int
	// Unplaced counts demand units with no instance; Moved counts units
	// whose pods restart on another instance.
	Unplaced, Moved int
	// Exact reports that the search proved the plan optimal for the
	// policy; false means a greedy plan (more than MaxExactGPUs GPUs or
	// the memo budget exceeded).
	Exact bool

	// maxFill is, per profile, the most instances of it alone one GPU
	// holds: ConfigName's test for mig-parted's "all-<profile>" configs.
	maxFill map[string]int
}
