package lowerbound

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
)

// Defaults for the zero Options.
const (
	// DefaultMaxClasses is the most pod classes the LP takes as they
	// are; more are clustered (Options.MaxClasses).
	DefaultMaxClasses = 256
	// MaxMaxClasses is the most Options.MaxClasses may ask for: the LP
	// keeps a dense basis inverse of more rows than that squared.
	MaxMaxClasses = 1024
	// DefaultDFFOrder is the highest k of the dual feasible functions u_k
	// applied to CPU, memory and GPU shares.
	DefaultDFFOrder = 8
)

// Methods say which bound Bound.CostPerHour is.
const (
	// MethodLP is the LP's certificate at its optimum (over the LP's
	// classes, when they were clustered).
	MethodLP = "lp"
	// MethodLPPartial is the LP's best certificate when Options.TimeLimit
	// (or the simplex losing its way) stopped it early: valid, but below
	// the LP's optimum.
	MethodLPPartial = "lp-partial"
	// MethodVolume is the best single-resource bound: each pod charged its
	// CPU, memory, pod slot or GPU at the cheapest rate of a type that
	// admits it. It wins mostly when the LP was cut short, or when its
	// classes were clustered (Options.MaxClasses).
	MethodVolume = "volume"
	// MethodLargestPod is the price of the cheapest type that admits the
	// pod whose cheapest is dearest: a plan has a node that holds that
	// pod. It wins on small inputs, where the LP buys a fraction of that
	// node.
	MethodLargestPod = "largest-pod"
	// MethodNone is the zero bound: no pod that any type admits.
	MethodNone = "none"
)

// Options tune Compute. The zero value uses the defaults.
type Options struct {
	// MaxClasses caps the LP's classes (rows of the LP; its time grows
	// about as their cube), at most MaxMaxClasses. When the pods have more
	// distinct requests and placement constraints, similar ones are
	// clustered (within a factor 1+ε in CPU, memory and GPU share of the
	// heaviest, ε growing by half from 1 % until they fit; the LP sees
	// each cluster's mean), and the LP only tunes the certificate, which
	// is then computed on the exact classes: the bound stays valid and
	// loses only what the coarser tuning costs (TestMergedClasses holds it
	// to at least 95 % of the unclustered bound on 400 pods that all
	// differ). 0 means DefaultMaxClasses.
	MaxClasses int
	// DFFOrder is the highest k of the dual feasible functions u_k (see
	// the package doc) added as rows; 0 means DefaultDFFOrder and a
	// negative value adds none, leaving the plain class LP.
	DFFOrder int
	// TimeLimit stops the LP once Compute has run that long, checked
	// every few simplex pivots and during refactorisations, and reports
	// the best certificate found so far, the one from the duals at hand
	// included (MethodLPPartial), or the volume or largest-pod bound when
	// higher; 0 means no limit. The certificate after the stop, linear in
	// pod classes × types, comes on top (milliseconds). The context still
	// cancels Compute with an error.
	TimeLimit time.Duration

	// noReduce keeps dominated types in the LP (tests compare).
	noReduce bool
	// stopAfter, when positive, stops the LP as TimeLimit does at the
	// interrupt check after that many, and checks at every pivot (tests
	// stop it deterministically).
	stopAfter int
}

// Validate reports options Compute cannot use.
func (o Options) Validate() error {
	var errs []error
	if o.MaxClasses < 0 || o.MaxClasses > MaxMaxClasses {
		errs = append(errs, fmt.Errorf("max classes %d is outside [0, %d]", o.MaxClasses, MaxMaxClasses))
	}
	if o.TimeLimit < 0 {
		errs = append(errs, fmt.Errorf("time limit %v is negative", o.TimeLimit))
	}
	return errors.Join(errs...)
}

func (o Options) withDefaults() Options {
	if o.MaxClasses == 0 {
		o.MaxClasses = DefaultMaxClasses
	}
	if o.DFFOrder == 0 {
		o.DFFOrder = DefaultDFFOrder
	}
	return o
}

// Bound is a lower bound on the cost of placing the pods.
type Bound struct {
	// CostPerHour is the bound in USD per hour: no plan that places every
	// pod not listed in Infeasible costs less.
	CostPerHour float64
	// Method says which bound it is: MethodLP, MethodLPPartial,
	// MethodVolume, MethodLargestPod or MethodNone.
	Method string
	// Types are the LP's fractional node counts per type (by index into
	// the types given), nonzero only, by type index: what the relaxation
	// would buy. Of several types with equal price, resources and
	// admitted pods, the first stands for all.
	Types []TypeAmount
	// Infeasible are the indexes of pods no type admits, ascending; they
	// are left out of the bound.
	Infeasible []int
	// LPCostPerHour is the LP's objective when it stopped: for MethodLP
	// its optimum over its classes, which CostPerHour equals (to rounding)
	// when those are the exact pod classes (Classes == PodClasses);
	// otherwise only indicative.
	LPCostPerHour float64
	// PodClasses is the number of distinct pod classes (requests and
	// placement constraints), Classes the LP's after clustering (see
	// Options.MaxClasses), Rounds the LP's rounds (optimise, add the rows
	// it breaks, price the types not in it yet).
	PodClasses, Classes, Rounds int
}

// TypeAmount is a fractional number of nodes of one type.
type TypeAmount struct {
	// Type indexes the types given to Compute.
	Type int
	// Nodes is the LP's node count, fractional.
	Nodes float64
}

// Compute returns a lower bound on the hourly cost of any plan that places
// every pod some type admits on nodes of the given types. Invalid pods
// (cluster.Pod.Validate) and types (negative or non-finite price,
// negative allocatable or GPUs) are errors; ctx cancels it with ctx's
// error. See the package doc for the method and its cost.
func Compute(ctx context.Context, pods []cluster.Pod, types []cluster.NodeType, opts Options) (Bound, error) {
	started := time.Now()
	if err := opts.Validate(); err != nil {
		return Bound{}, fmt.Errorf("lower bound options: %w", err)
	}
	opts = opts.withDefaults()
	if err := validate(pods, types); err != nil {
		return Bound{}, err
	}
	if err := ctx.Err(); err != nil {
		return Bound{}, err
	}
	g := group(pods, types, opts.MaxClasses)
	b := Bound{Method: MethodNone, Infeasible: g.infeasible, Classes: len(g.lp), PodClasses: len(g.pods)}
	if len(g.pods) == 0 {
		return b, nil
	}
	p := newProblem(g, types, opts.DFFOrder, !opts.noReduce)
	if err := p.solve(ctx, opts, started); err != nil {
		return Bound{}, err
	}
	b.CostPerHour, b.Method = p.bound, p.method
	b.LPCostPerHour = p.primal
	b.Rounds = p.rounds
	b.Types = p.typeAmounts()
	return b, nil
}

func validate(pods []cluster.Pod, types []cluster.NodeType) error {
	var errs []error
	for i := range pods {
		if err := pods[i].Validate(); err != nil {
			errs = append(errs, fmt.Errorf("pod %d: %w", i, err))
		}
	}
	for i := range types {
		t := &types[i]
		if p := t.PricePerHour; p < 0 || math.IsNaN(p) || math.IsInf(p, 0) {
			errs = append(errs, fmt.Errorf("node type %d %q: price %g USD/h is not a finite non-negative number", i, t.Name, p))
		}
		if a := t.Allocatable; a.CPU < 0 || a.Memory < 0 || a.Pods < 0 {
			errs = append(errs, fmt.Errorf("node type %d %q: negative allocatable %+v", i, t.Name, a))
		}
		if t.GPUs < 0 {
			errs = append(errs, fmt.Errorf("node type %d %q: negative GPU count %d", i, t.Name, t.GPUs))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lower bound input: %w", err)
	}
	return nil
}
