package karpenter

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Defaults of Options.
const (
	DefaultNodeClassName = "default"
	// DefaultLimitHeadroom is 20 % above the plan's capacity.
	DefaultLimitHeadroom  = 0.2
	DefaultOnDemandWeight = 10
	DefaultSpotWeight     = 50
	// DefaultSpotMinValues asks spot pools to span at least two families
	// (general pools) or instance types (GPU pools) when they list that
	// many.
	DefaultSpotMinValues = 2
	// DefaultBudgetNodes lets 10 % of a pool's nodes be disrupted at once,
	// as Karpenter's own default budget does.
	DefaultBudgetNodes = "10%"
	// DefaultExpireAfter is Karpenter's default: nodes are replaced after
	// 30 days.
	DefaultExpireAfter = "720h"
)

// Options shape the NodePools. The zero value asks for the defaults; each
// field says what its zero value means.
type Options struct {
	// NodeClassName names the EC2NodeClass (group karpenter.k8s.aws) every
	// pool refers to; "" means DefaultNodeClassName.
	NodeClassName string
	// NamePrefix goes before every pool's name: "rightsizer-" gives
	// "rightsizer-general". "" means none. Names must stay valid object
	// names and label values (at most 63 characters).
	NamePrefix string
	// LimitHeadroom is the fraction added to the plan's capacity in each
	// pool's limits, at most 10, and never less than one node of the
	// pool's largest type: room for the replacement Karpenter launches
	// before it removes a node. 0 means DefaultLimitHeadroom; a negative
	// value means none, limits at exactly the plan's capacity, which keeps
	// Karpenter from launching those replacements.
	LimitHeadroom float64
	// OnDemandWeight and SpotWeight are the weights of on-demand and spot
	// pools, 1..100, spot above on-demand; 0 means DefaultOnDemandWeight
	// and DefaultSpotWeight.
	OnDemandWeight, SpotWeight int32
	// SpotMinValues is the minValues of spot pools' family requirement
	// (general pools) or instance-type requirement (GPU pools), 1..50, set
	// only where the requirement lists that many values (or, with
	// AnyFamily, on an Exists requirement on the family). 0 means
	// DefaultSpotMinValues; a negative value means none.
	SpotMinValues int
	// AnyFamily lets general pools launch any family of the used
	// categories at the used generation or newer, rather than only the used
	// families.
	AnyFamily bool
	// OnDemandFallback gives every class with a spot pool an on-demand pool
	// that also admits the spot pool's types, with their capacity in its
	// limits.
	OnDemandFallback bool
	// CPU and GPU are the disruption settings of general and GPU pools;
	// their zero fields take the class's defaults (DefaultCPUPolicy,
	// DefaultGPUPolicy).
	CPU, GPU Policy
}

// Policy is a class of pools' disruption settings.
type Policy struct {
	// ConsolidationPolicy is "" for the class's default.
	ConsolidationPolicy ConsolidationPolicy
	// ConsolidateAfter and ExpireAfter are Go-style durations in s, m and
	// h ("30s", "1h30m") or "Never"; "" means the class's default.
	ConsolidateAfter, ExpireAfter string
	// Nodes is the always-active budget: a count or a percentage of the
	// pool's nodes ("10%"); "" means DefaultBudgetNodes.
	Nodes string
	// Windows are scheduled budgets added after the always-active one,
	// each with Nodes, Schedule and Duration set: e.g. no consolidation in
	// business hours, {Nodes: "0", Schedule: "0 9 * * mon-fri", Duration:
	// "8h", Reasons: [Underutilized]}. At most 49.
	Windows []Budget
}

// DefaultCPUPolicy is the disruption of general pools: consolidate
// underutilized nodes one minute after they become so.
func DefaultCPUPolicy() Policy {
	return Policy{
		ConsolidationPolicy: ConsolidationPolicyWhenEmptyOrUnderutilized,
		ConsolidateAfter:    "1m",
		ExpireAfter:         DefaultExpireAfter,
		Nodes:               DefaultBudgetNodes,
	}
}

// DefaultGPUPolicy is the disruption of GPU pools: remove only empty
// nodes, ten minutes after they empty, so that model servers that take
// minutes to warm up are not moved and bursts reuse warm nodes.
func DefaultGPUPolicy() Policy {
	return Policy{
		ConsolidationPolicy: ConsolidationPolicyWhenEmpty,
		ConsolidateAfter:    "10m",
		ExpireAfter:         DefaultExpireAfter,
		Nodes:               DefaultBudgetNodes,
	}
}

// DefaultOptions returns the options the zero Options stands for, spelled
// out.
func DefaultOptions() Options {
	return Options{
		NodeClassName:  DefaultNodeClassName,
		LimitHeadroom:  DefaultLimitHeadroom,
		OnDemandWeight: DefaultOnDemandWeight,
		SpotWeight:     DefaultSpotWeight,
		SpotMinValues:  DefaultSpotMinValues,
		CPU:            DefaultCPUPolicy(),
		GPU:            DefaultGPUPolicy(),
	}
}

// Validate reports every problem of the options.
func (o Options) Validate() error {
	_, err := o.complete()
	return err
}

// Patterns of the CRD (karpenter.sh_nodepools.yaml, v1.14.1).
var (
	// consolidateAfter and expireAfter.
	nillableDurationRE = regexp.MustCompile(`^(([0-9]+(s|m|h))+|Never)$`)
	// budgets[].duration: hours and minutes only.
	budgetDurationRE = regexp.MustCompile(`^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$`)
	// budgets[].nodes.
	budgetNodesRE = regexp.MustCompile(`^((100|[0-9]{1,2})%|[0-9]+)$`)
	// One field of a cron schedule: numbers, names (mon, jan), * / , - ?.
	cronFieldRE = regexp.MustCompile(`^[0-9A-Za-z*/,?-]+$`)
)

// cronMacros are the schedules the CRD accepts besides five fields.
var cronMacros = []string{"@annually", "@yearly", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}

const (
	maxLimitHeadroom = 10
	maxWeight        = 100
	maxMinValues     = 50 // the CRD's maximum
	maxBudgets       = 50 // the CRD's maximum
)

// complete returns the options with their zero fields defaulted, or every
// problem found.
func (o Options) complete() (Options, error) {
	var errs []error
	if o.NodeClassName == "" {
		o.NodeClassName = DefaultNodeClassName
	}
	for _, msg := range validation.IsDNS1123Subdomain(o.NodeClassName) {
		errs = append(errs, fmt.Errorf("node class name %q: %s", o.NodeClassName, msg))
	}
	if o.NamePrefix != "" {
		// The longest fixed name; GPU pools' names are checked as they are made.
		if err := checkPoolName(o.NamePrefix + "general-spot"); err != nil {
			errs = append(errs, fmt.Errorf("name prefix %q: %w", o.NamePrefix, err))
		}
	}
	switch h := o.LimitHeadroom; {
	case math.IsNaN(h) || math.IsInf(h, 0) || h > maxLimitHeadroom:
		errs = append(errs, fmt.Errorf("limit headroom %v: want a fraction at most %d (0.2 is 20 %%)", h, maxLimitHeadroom))
	case h == 0:
		o.LimitHeadroom = DefaultLimitHeadroom
	case h < 0:
		o.LimitHeadroom = 0
	}
	if o.OnDemandWeight == 0 {
		o.OnDemandWeight = DefaultOnDemandWeight
	}
	if o.SpotWeight == 0 {
		o.SpotWeight = DefaultSpotWeight
	}
	for _, w := range []struct {
		name string
		v    int32
	}{{"on-demand", o.OnDemandWeight}, {"spot", o.SpotWeight}} {
		if w.v < 1 || w.v > maxWeight {
			errs = append(errs, fmt.Errorf("%s weight %d: want 1..%d", w.name, w.v, maxWeight))
		}
	}
	if o.SpotWeight <= o.OnDemandWeight {
		errs = append(errs, fmt.Errorf("spot weight %d is not above on-demand weight %d: spot pools must be preferred", o.SpotWeight, o.OnDemandWeight))
	}
	switch m := o.SpotMinValues; {
	case m == 0:
		o.SpotMinValues = DefaultSpotMinValues
	case m < 0:
		o.SpotMinValues = 0
	case m > maxMinValues:
		errs = append(errs, fmt.Errorf("spot minValues %d: want 1..%d", m, maxMinValues))
	}
	var err error
	if o.CPU, err = o.CPU.complete(DefaultCPUPolicy()); err != nil {
		errs = append(errs, fmt.Errorf("cpu policy: %w", err))
	}
	if o.GPU, err = o.GPU.complete(DefaultGPUPolicy()); err != nil {
		errs = append(errs, fmt.Errorf("gpu policy: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return Options{}, fmt.Errorf("karpenter options: %w", err)
	}
	return o, nil
}

// complete returns p with its zero fields taken from def, or every problem
// found.
func (p Policy) complete(def Policy) (Policy, error) {
	var errs []error
	switch p.ConsolidationPolicy {
	case "":
		p.ConsolidationPolicy = def.ConsolidationPolicy
	case ConsolidationPolicyWhenEmpty, ConsolidationPolicyWhenEmptyOrUnderutilized, ConsolidationPolicyBalanced:
	default:
		errs = append(errs, fmt.Errorf("consolidation policy %q: want %s, %s or %s", p.ConsolidationPolicy,
			ConsolidationPolicyWhenEmpty, ConsolidationPolicyWhenEmptyOrUnderutilized, ConsolidationPolicyBalanced))
	}
	if p.ConsolidateAfter == "" {
		p.ConsolidateAfter = def.ConsolidateAfter
	}
	if err := checkNillableDuration(p.ConsolidateAfter); err != nil {
		errs = append(errs, fmt.Errorf("consolidateAfter: %w", err))
	}
	if p.ExpireAfter == "" {
		p.ExpireAfter = def.ExpireAfter
	}
	if err := checkNillableDuration(p.ExpireAfter); err != nil {
		errs = append(errs, fmt.Errorf("expireAfter: %w", err))
	}
	if p.Nodes == "" {
		p.Nodes = def.Nodes
	}
	if err := checkBudgetNodes(p.Nodes); err != nil {
		errs = append(errs, fmt.Errorf("budget nodes: %w", err))
	}
	if len(p.Windows) > maxBudgets-1 {
		errs = append(errs, fmt.Errorf("%d budget windows: at most %d", len(p.Windows), maxBudgets-1))
	}
	for i, w := range p.Windows {
		if err := checkWindow(w); err != nil {
			errs = append(errs, fmt.Errorf("budget window %d: %w", i+1, err))
		}
	}
	p.Windows = slices.Clone(p.Windows)
	return p, errors.Join(errs...)
}

// checkNillableDuration checks a consolidateAfter or expireAfter against
// the CRD's pattern and Go's duration range.
func checkNillableDuration(s string) error {
	if !nillableDurationRE.MatchString(s) {
		return fmt.Errorf("%q: want a duration in s, m and h (\"30s\", \"1h30m\") or Never", s)
	}
	if s == "Never" {
		return nil
	}
	if _, err := time.ParseDuration(s); err != nil {
		return fmt.Errorf("%q: out of range", s)
	}
	return nil
}

// checkBudgetNodes checks a budget's nodes: a count or 0..100 %.
func checkBudgetNodes(s string) error {
	if !budgetNodesRE.MatchString(s) {
		return fmt.Errorf("%q: want a node count (\"3\") or a percentage 0..100 (\"10%%\")", s)
	}
	if n, ok := strings.CutSuffix(s, "%"); !ok {
		if _, err := strconv.ParseInt(n, 10, 32); err != nil {
			return fmt.Errorf("%q: out of range", s)
		}
	}
	return nil
}

// checkWindow checks a scheduled budget.
func checkWindow(b Budget) error {
	var errs []error
	if err := checkBudgetNodes(b.Nodes); err != nil {
		errs = append(errs, fmt.Errorf("nodes: %w", err))
	}
	if err := checkSchedule(b.Schedule); err != nil {
		errs = append(errs, fmt.Errorf("schedule: %w", err))
	}
	switch {
	case b.Duration == "":
		errs = append(errs, errors.New("duration: empty: a window needs one (\"8h\")"))
	case !budgetDurationRE.MatchString(b.Duration):
		errs = append(errs, fmt.Errorf("duration %q: want hours and minutes (\"8h\", \"90m\", \"1h30m\")", b.Duration))
	default:
		if _, err := time.ParseDuration(b.Duration); err != nil {
			errs = append(errs, fmt.Errorf("duration %q: out of range", b.Duration))
		}
	}
	for i, r := range b.Reasons {
		switch r {
		case DisruptionReasonUnderutilized, DisruptionReasonEmpty, DisruptionReasonDrifted:
		default:
			errs = append(errs, fmt.Errorf("reason %q: want %s, %s or %s", r,
				DisruptionReasonUnderutilized, DisruptionReasonEmpty, DisruptionReasonDrifted))
		}
		if slices.Contains(b.Reasons[:i], r) {
			errs = append(errs, fmt.Errorf("reason %q given twice", r))
		}
	}
	return errors.Join(errs...)
}

// checkSchedule checks a cron schedule as Karpenter reads it: five fields
// or a macro, without a time zone. It checks the shape, not each field's
// range.
func checkSchedule(s string) error {
	if s == "" {
		return errors.New("empty: a window needs one (\"0 9 * * mon-fri\")")
	}
	if strings.HasPrefix(s, "@") {
		if !slices.Contains(cronMacros, s) {
			return fmt.Errorf("%q: unknown macro: want one of %s", s, strings.Join(cronMacros, ", "))
		}
		return nil
	}
	if strings.Contains(s, "TZ=") {
		return fmt.Errorf("%q: time zones are not supported: schedules are in UTC", s)
	}
	fields := strings.Fields(s)
	if len(fields) != 5 {
		return fmt.Errorf("%q: want five fields: minute hour day-of-month month day-of-week", s)
	}
	for _, f := range fields {
		if !cronFieldRE.MatchString(f) {
			return fmt.Errorf("%q: field %q: want digits, names, * / , - or ?", s, f)
		}
	}
	return nil
}

// checkPoolName checks that a pool name is a valid object name and label
// value (Karpenter labels each node with its pool's name).
func checkPoolName(name string) error {
	msgs := validation.IsDNS1123Subdomain(name)
	msgs = append(msgs, validation.IsValidLabelValue(name)...)
	if len(msgs) > 0 {
		return fmt.Errorf("pool name %q: %s", name, strings.Join(msgs, "; "))
	}
	return nil
}
