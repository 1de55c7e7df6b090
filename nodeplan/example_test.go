package nodeplan_test

import (
	"context"
	"fmt"

	"github.com/rightsizer/rightsizer/nodeplan"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// Two web pods that one big node would hold cost less on two small nodes,
// and two half-GPU pods share one GPU. The plan shows where each pod goes
// (and on which GPU), its price against the lower bound (an LP
// relaxation, which may use fractions of nodes), and the saving over
// a plan with the big node.
func ExamplePlan() {
	types := []cluster.NodeType{
		{Name: "big", CapacityType: "on-demand", PricePerHour: 0.40,
			Allocatable: cluster.Resources{CPU: 8000, Memory: 32 * recommender.GiB, Pods: 58}},
		{Name: "small", CapacityType: "on-demand", PricePerHour: 0.17,
			Allocatable: cluster.Resources{CPU: 4000, Memory: 16 * recommender.GiB, Pods: 29}},
		{Name: "gpu", CapacityType: "on-demand", PricePerHour: 0.53, GPUs: 1, GPUModel: "T4-16GB",
			Allocatable: cluster.Resources{CPU: 4000, Memory: 16 * recommender.GiB, Pods: 29}},
	}
	pods := []cluster.Pod{
		{Name: "web-1", CPU: 3500, Memory: 4 * recommender.GiB},
		{Name: "web-2", CPU: 3500, Memory: 4 * recommender.GiB},
		{Name: "infer-1", CPU: 1000, Memory: 4 * recommender.GiB, GPU: cluster.GPURequest{Milli: 500}},
		{Name: "infer-2", CPU: 1000, Memory: 4 * recommender.GiB, GPU: cluster.GPURequest{Milli: 500}},
	}
	res, err := nodeplan.Plan(context.Background(), nodeplan.Input{Pods: pods, Types: types, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range res.Nodes {
		fmt.Printf("%s:", n.TypeName)
		for _, p := range n.Pods {
			fmt.Printf(" %s%v", pods[p.Pod].Name, p.GPUs)
		}
		fmt.Println()
	}
	fmt.Printf("$%.2f/h, $%.2f/month, bound $%.2f/h (gap %.0f %%)\n", res.CostPerHour, res.CostPerMonth, res.LowerBoundPerHour, res.GapPct)
	fmt.Printf("utilisation: cpu %.0f %%, gpu %.0f %%\n", res.Utilisation.CPU*100, res.Utilisation.GPU*100)

	withBig := &nodeplan.Result{CostPerHour: 0.40 + 0.53}
	s := nodeplan.Compare(withBig, res)
	fmt.Printf("saving over the big node: $%.2f/h (%.0f %%)\n", s.SavingPerHour, s.SavingPct)
	// Output:
	// small: web-1[]
	// small: web-2[]
	// gpu: infer-1[0] infer-2[0]
	// $0.87/h, $635.10/month, bound $0.78/h (gap 11 %)
	// utilisation: cpu 75 %, gpu 100 %
	// saving over the big node: $0.06/h (6 %)
}
