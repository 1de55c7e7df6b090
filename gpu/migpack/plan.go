package migpack

import (
	"errors"
	"fmt"
)

// PlanNode chooses MIG layouts for one node's GPUs that place the node's
// demands on the fewest GPUs (PolicyFewestGPUs) or without
// re-partitioning a GPU in use (PolicyNoDisruption), under the device
// plugin's strategy, and says which GPUs change and whose pods that
// evicts.
//
// A GPU either keeps its layout (its free instances, and the instances
// of workloads that move away, take new demands of their profile) or is
// re-partitioned to a new multiset of profiles, which mig-parted applies
// by destroying every instance on it. With the mixed strategy, nodes of
// up to MaxExactGPUs GPUs are searched exactly: a dynamic programme over
// (GPU, remaining demand) whose per-GPU choices are keep, disable MIG, or
// any feasible multiset (from the oracle) that is maximal within the
// remaining demand. With the single strategy every candidate profile (and
// MIG off) is tried, with every GPU's keep/fill/re-partition choice. Ties
// are broken deterministically: unchanged before changed, lower GPU
// indices first, smaller profiles first.
//
// PlanNode is a pure function of its arguments. It fails, wrapping
// ErrInvalidInput, on input it cannot plan (every problem listed), and
// wrapping ErrDisruptionRequired when PolicyNoDisruption meets a node the
// single strategy cannot reach without re-partitioning a busy GPU.
func PlanNode(n Node, opts Options) (NodePlan, error) {
	p, err := newProblem(n, opts)
	if err != nil {
		return NodePlan{}, err
	}
	var (
		decs  []decision
		exact bool
	)
	kindOf := func(u unit) int { return u.kind }
	if opts.strategy() == StrategySingle {
		decs, kindOf, exact, err = p.solveSingle()
		if err != nil {
			return NodePlan{}, fmt.Errorf("node %s: %w", n.Name, err)
		}
		p.bindStayers(kindOf)
	} else {
		decs, exact = p.solveMixed()
	}
	return p.realize(decs, kindOf, exact)
}

// FleetPlan is the plan for many nodes, each planned on its own.
type FleetPlan struct {
	Nodes []NodePlan
	// Totals over the nodes: GPUs used and present, GPUs re-partitioned
	// (and while in use), demand units unplaced and moved, and whether
	// every node's plan is exact.
	Used, Total, Changed, Disrupted, Unplaced, Moved int
	Exact                                            bool
}

// PlanFleet plans every node with PlanNode, in the given order, and sums
// the results. Demands are bound to their nodes; the fleet plan is the
// union of per-node plans (greedy across nodes, exact within each). It
// reports every node's error, joined, and plans the nodes that have none.
func PlanFleet(nodes []Node, opts Options) (FleetPlan, error) {
	f := FleetPlan{Exact: true}
	var errs []error
	for _, n := range nodes {
		np, err := PlanNode(n, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f.Nodes = append(f.Nodes, np)
		f.Used += np.Used
		f.Total += np.Total
		f.Changed += len(np.Changed)
		f.Disrupted += len(np.Disrupted)
		f.Unplaced += np.Unplaced
		f.Moved += np.Moved
		f.Exact = f.Exact && np.Exact
	}
	return f, errors.Join(errs...)
}
