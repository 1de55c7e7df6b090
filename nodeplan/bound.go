package nodeplan

import (
	"context"
	"fmt"
	"time"

	"github.com/rightsizer/rightsizer/nodeplan/lowerbound"
)

// bound sets the plan's lower bound (package nodeplan/lowerbound over
// every type and the pods, its LP stopped after limit) and the gap to it.
// Compute leaves out the pods no type admits (Bound.Infeasible), which
// are the plan's unplaceable classes: both are cluster.NodeType.Admits.
func (r *Result) bound(ctx context.Context, s *solver, limit time.Duration) error {
	b, err := lowerbound.Compute(ctx, s.pods, s.types, lowerbound.Options{TimeLimit: limit})
	if err != nil {
		return fmt.Errorf("plan: lower bound: %w", err)
	}
	r.LowerBoundPerHour = b.CostPerHour
	r.LowerBoundMethod = b.Method
	if b.CostPerHour > 0 {
		r.GapPct = (r.CostPerHour - b.CostPerHour) / b.CostPerHour * 100
	}
	return nil
}
