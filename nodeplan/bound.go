package nodeplan

import (
	"context"
	"fmt"
	"time"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/nodeplan/lowerbound"
)

// bound sets the plan's lower bound (package nodeplan/lowerbound, over
// the pods the plan can place and every type, its LP stopped after limit)
// and the gap to it.
func (r *Result) bound(ctx context.Context, s *solver, limit time.Duration) error {
	pods := s.pods
	if len(s.unplaceable) > 0 {
		skip := make([]bool, len(s.pods))
		for _, j := range s.unplaceable {
			for _, p := range s.cls[j].pods {
				skip[p] = true
			}
		}
		pods = make([]cluster.Pod, 0, len(s.pods))
		for i := range s.pods {
			if !skip[i] {
				pods = append(pods, s.pods[i])
			}
		}
	}
	b, err := lowerbound.Compute(ctx, pods, s.types, lowerbound.Options{TimeLimit: limit})
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
