package lowerbound_test

import (
	"context"
	"fmt"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/nodeplan/lowerbound"
	"github.com/rightsizer/rightsizer/recommender"
)

// Six pods that each need 0.6 of a GPU and 3 cores, on a 1-GPU 4-core
// type or a 4-GPU 16-core type. By volume 3.6 GPUs would do, but no two
// such pods can share a GPU, so at least six GPUs are bought: the cheapest
// way is one and a half 4-GPU nodes' worth. (The best plan, one 4-GPU node
// and two 1-GPU nodes, costs $5.60/h.)
func ExampleCompute() {
	types := []cluster.NodeType{
		{Name: "g.xlarge", PricePerHour: 1.0, GPUs: 1, GPUModel: "T4",
			Allocatable: cluster.Resources{CPU: 4000, Memory: 16 * recommender.GiB, Pods: 29}},
		{Name: "g.12xlarge", PricePerHour: 3.6, GPUs: 4, GPUModel: "T4",
			Allocatable: cluster.Resources{CPU: 16000, Memory: 64 * recommender.GiB, Pods: 58}},
	}
	pods := make([]cluster.Pod, 6)
	for i := range pods {
		pods[i] = cluster.Pod{CPU: 3000, Memory: recommender.GiB, GPU: cluster.GPURequest{Milli: 600}}
	}
	b, err := lowerbound.Compute(context.Background(), pods, types, lowerbound.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("at least $%.2f/h (%s)\n", b.CostPerHour, b.Method)
	for _, ta := range b.Types {
		fmt.Printf("%s × %.2f\n", types[ta.Type].Name, ta.Nodes)
	}
	// Output:
	// at least $5.40/h (lp)
	// g.12xlarge × 1.50
}
