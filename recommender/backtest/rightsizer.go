package backtest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
)

// Rightsizer replays rightsizer's engine, the same code that serves live
// traffic, under one policy, and applies its recommendations the way
// rightsizer's controller would (see Decide).
type Rightsizer struct {
	*recommender.Engine
	name      string
	opts      RightsizerOptions
	recent    map[recommender.ContainerKey][]stamped
	workloads map[recommender.WorkloadKey]recommender.Workload
	changed   map[recommender.ContainerKey]time.Time
}

// RightsizerOptions say how rightsizer's recommendations are applied.
type RightsizerOptions struct {
	// Window is the scale-down stabilisation window: going down, the
	// highest recommendation of the window applies (the Kubernetes HPA's
	// scaleDown.stabilizationWindowSeconds), so one quiet day does not drop
	// a request that tomorrow needs. Zero turns it off.
	Window time.Duration
	// Live applies the CPU recommendation's Live request, as rightsizer's
	// controller does, relying on its reactions to usage; otherwise the
	// stable Request, as a person or a pull request applying a report does.
	Live bool
	// MinDownInterval, when positive, is the least time between a change
	// and a following decrease: where a change restarts the workload (GPU
	// shares and MIG slices cannot resize in place), going down is worth a
	// restart only so often. Increases apply at once.
	MinDownInterval time.Duration
}

// stamped is a recommendation and when it was made.
type stamped struct {
	at time.Time
	a  Applied
}

var _ Policy = (*Rightsizer)(nil)

// NewRightsizer returns the engine under pol, reported as name.
func NewRightsizer(name string, pol *recommender.Policy, opts RightsizerOptions) (*Rightsizer, error) {
	o := recommender.DefaultOptions()
	o.Policy = pol
	e, err := recommender.NewEngine(o)
	if err != nil {
		return nil, err
	}
	return &Rightsizer{Engine: e, name: name, opts: opts,
		recent: map[recommender.ContainerKey][]stamped{}, workloads: map[recommender.WorkloadKey]recommender.Workload{},
		changed: map[recommender.ContainerKey]time.Time{}}, nil
}

// UpsertWorkload records the workload, as the controller's, in the engine's
// inventory: rightsizer's controller manages it (in Live mode).
func (r *Rightsizer) UpsertWorkload(w recommender.Workload) error {
	w.Managed = r.opts.Live
	w.Containers = slices.Clone(w.Containers)
	r.workloads[w.Key] = w
	return r.Engine.UpsertWorkload(w)
}

// applied writes what the controller applied into the engine's inventory,
// as discovery would see it in the pod spec.
func (r *Rightsizer) applied(k recommender.ContainerKey, a Applied) {
	w, ok := r.workloads[k.WorkloadKey]
	if !ok {
		return
	}
	for i := range w.Containers {
		if c := &w.Containers[i]; c.Name == k.Container {
			c.Requests.CPU, c.Requests.Memory = a.CPURequest, a.MemoryRequest
			c.Limits.CPU, c.Limits.Memory = a.CPULimit, a.MemoryLimit
		}
	}
	_ = r.Engine.UpsertWorkload(w)
}

// Name returns the policy's name.
func (r *Rightsizer) Name() string { return r.name }

// ReactsToOOM is true: rightsizer's controller applies the bumped memory
// limit as soon as a kill is reported.
func (r *Rightsizer) ReactsToOOM() bool { return true }

// ReactsToUsage is true: rightsizer's controller raises a request in
// place when usage has run above it.
func (r *Rightsizer) ReactsToUsage() bool { return true }

// Decide applies the recommendation fast upward and slowly downward: at
// once when any request or limit would rise (by more than 1 %, to avoid
// churn on noise), but only when something would move by more than 10 %
// otherwise, the threshold of VPA's updater.
func (r *Rightsizer) Decide(k recommender.ContainerKey, now time.Time, current Applied) (Applied, bool) {
	rec, err := r.Recommend(k)
	if err != nil || rec.Samples == 0 {
		return current, false
	}
	cpu := rec.CPU.Request
	if r.opts.Live && rec.CPU.Live > 0 {
		cpu = rec.CPU.Live
	}
	next := r.stabilise(k, now, Applied{
		CPURequest: cpu, CPULimit: rec.CPU.Limit,
		MemoryRequest: rec.Memory.Request, MemoryLimit: rec.Memory.Limit,
	})
	up := rises(next, current, 0.01)
	if !up && !next.MovedBy(current, downThreshold) {
		return current, false
	}
	if last, ok := r.changed[k]; ok && r.opts.MinDownInterval > 0 && now.Sub(last) < r.opts.MinDownInterval {
		if !up {
			return current, false
		}
		// Too soon to go down: raise what must rise, hold the rest.
		next = Applied{
			CPURequest: max(next.CPURequest, current.CPURequest), CPULimit: max(next.CPULimit, current.CPULimit),
			MemoryRequest: max(next.MemoryRequest, current.MemoryRequest), MemoryLimit: max(next.MemoryLimit, current.MemoryLimit),
		}
	}
	r.changed[k] = now
	r.applied(k, next)
	return next, true
}

// downThreshold is the least relative move that makes a decrease worth
// applying: 10 %, as VPA's updater.
const downThreshold = 0.1

// stabilise records rec and returns, value by value, the highest
// recommendation made within the window before now.
func (r *Rightsizer) stabilise(k recommender.ContainerKey, now time.Time, rec Applied) Applied {
	if r.opts.Window <= 0 {
		return rec
	}
	kept := r.recent[k][:0]
	for _, s := range r.recent[k] {
		if now.Sub(s.at) < r.opts.Window {
			kept = append(kept, s)
		}
	}
	r.recent[k] = append(kept, stamped{at: now, a: rec})
	out := rec
	for _, s := range kept {
		out.CPURequest = max(out.CPURequest, s.a.CPURequest)
		out.MemoryRequest = max(out.MemoryRequest, s.a.MemoryRequest)
		out.MemoryLimit = max(out.MemoryLimit, s.a.MemoryLimit)
		if out.CPULimit != 0 && s.a.CPULimit != 0 {
			out.CPULimit = max(out.CPULimit, s.a.CPULimit)
		}
	}
	return out
}

// rises reports whether a request or limit of next exceeds current's by
// more than frac (a limit appearing from none does not count).
func rises(next, current Applied, frac float64) bool {
	up := func(n, c float64) bool { return c > 0 && n > c*(1+frac) }
	return up(float64(next.CPURequest), float64(current.CPURequest)) ||
		up(float64(next.MemoryRequest), float64(current.MemoryRequest)) ||
		up(float64(next.MemoryLimit), float64(current.MemoryLimit))
}

// policyNames are the rightsizer policies a backtest runs by default: the
// built-in profiles and risk budgets of 1 and 5 %.
var policyNames = []string{recommender.ProfileCost, recommender.ProfileBalanced, recommender.ProfilePerformance, "budget-1", "budget-5"}

// PolicyNames returns the rightsizer policy names NamedPolicy accepts
// (besides any "budget-N", N in (0, 50)).
func PolicyNames() []string { return append([]string(nil), policyNames...) }

// NamedPolicy returns the rightsizer policy called name: a built-in
// profile, or "budget-N", which keeps CPU above its request at most N % of
// the time (the balanced profile with a risk budget of N %).
func NamedPolicy(name string) (*recommender.Policy, error) {
	if n, ok := strings.CutPrefix(name, "budget-"); ok {
		b, err := strconv.ParseFloat(n, 64)
		if err != nil || !(b > 0 && b < 50) {
			return nil, fmt.Errorf("policy %q: want budget-N with N a percentage in (0, 50)", name)
		}
		// A profile name is a DNS label: "budget-2.5" becomes "budget-2p5".
		profile := strings.ReplaceAll(name, ".", "p")
		return recommender.LoadPolicy(strings.NewReader(fmt.Sprintf(
			"defaultProfile: %[1]s\nprofiles:\n  %[1]s:\n    base: balanced\n    cpu: {riskBudget: %[2]v, margin: 0, minHeadroom: 0}\n", profile, b/100)))
	}
	return recommender.DefaultPolicy().WithDefaultProfile(name)
}
