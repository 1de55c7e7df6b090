package catalog_test

import (
	"fmt"
	"strings"

	"github.com/rightsizer/rightsizer/nodeplan/catalog"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// The price of one GPU-hour per model, from the embedded AWS us-east-1
// list prices: the cheapest instance per GPU.
func ExampleCatalog_GPUs() {
	for _, g := range catalog.AWSUSEast1().GPUs() {
		fmt.Printf("%-10s %v  $%.4f/h  (%s, %d GPUs)\n", g.Model, g.Memory, g.PricePerHour, g.Instance, g.InstanceGPUs)
	}
	// Output:
	// A100-40GB  40Gi  $2.7447/h  (p4d.24xlarge, 8 GPUs)
	// A10G-24GB  22.36Gi  $1.0060/h  (g5.xlarge, 1 GPUs)
	// H100-80GB  80Gi  $6.8800/h  (p5.4xlarge, 1 GPUs)
	// H200-141GB 141Gi  $7.9120/h  (p5en.48xlarge, 8 GPUs)
	// L4-24GB    22.36Gi  $0.8048/h  (g6.xlarge, 1 GPUs)
	// L40S-48GB  44.71Gi  $1.8610/h  (g6e.xlarge, 1 GPUs)
	// T4-16GB    16Gi  $0.5260/h  (g4dn.xlarge, 1 GPUs)
}

// GPUPricePerHour is the price one GPU-hour of a model costs.
func ExampleGPUPricePerHour() {
	p, ok := catalog.GPUPricePerHour("H100-80GB")
	fmt.Println(p, ok)
	// Output: 6.88 true
}

// A user catalog in YAML (or JSON, or CSV: Load tells them apart), with
// a spot price.
func ExampleLoad() {
	const file = `instances:
  - {name: m5.large, family: m5, arch: amd64, vcpu: 2, mem_mib: 8192,
     alloc_cpu: 1930m, alloc_mem: 6903Mi, alloc_pods: 29,
     price_od_use1: 0.096, price_spot_use1: 0.0384}
`
	c, err := catalog.Load(strings.NewReader(file), "my-catalog.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	in, _ := c.Instance("m5.large")
	fmt.Printf("%s %v %dMi $%v/h spot $%v/h\n", in.Name, in.Allocatable.CPU, in.Allocatable.Memory/recommender.MiB,
		in.PricePerHour, in.SpotPricePerHour)

	_, err = catalog.Load(strings.NewReader(strings.Replace(file, "vcpu: 2", "vcpu: -2", 1)), "my-catalog.yaml")
	fmt.Println(err)
	// Output:
	// m5.large 1930m 6903Mi $0.096/h spot $0.0384/h
	// catalog my-catalog.yaml line 2, instances[0].vcpu (instance "m5.large"): want an integer in [1, 16384], got "-2"
}

// Savings Plans take 28 % off on-demand list prices; spot runs at 40 % of
// list where no spot price is given; one type has negotiated prices.
func ExampleCatalog_WithOverrides() {
	o, err := catalog.LoadOverrides(strings.NewReader(`
on_demand_discount: 0.28
spot_discount: 0.6
prices:
  - {name: p5.48xlarge, price_od: 39.63, price_spot: 21.4}
`), "overrides.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := catalog.AWSUSEast1().WithOverrides(o)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range []string{"m5.large", "p5.48xlarge"} {
		in, _ := c.Instance(name)
		fmt.Printf("%s on-demand $%.4f/h, spot $%.4f/h\n", name, in.PricePerHour, in.SpotPricePerHour)
	}
	// Output:
	// m5.large on-demand $0.0691/h, spot $0.0384/h
	// p5.48xlarge on-demand $39.6300/h, spot $21.4000/h
}

// The node types a plan packs onto: the g5 family, on-demand and spot,
// with what the DaemonSets take off every node and the GPU taint.
func ExampleCatalog_NodeTypes() {
	c, err := catalog.AWSUSEast1().WithOverrides(catalog.Overrides{SpotDiscount: 0.6})
	if err != nil {
		fmt.Println(err)
		return
	}
	types, err := c.NodeTypes(catalog.NodeTypeOptions{
		DaemonSetOverhead: cluster.Resources{CPU: 150, Memory: 192 * recommender.MiB, Pods: 3},
		CapacityTypes:     []string{catalog.CapacityTypeOnDemand, catalog.CapacityTypeSpot},
		Families:          []string{"g5"},
		GPUTaint:          true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range types[:4] {
		fmt.Printf("%-11s %-9s $%.4f/h  %v CPU  %dMi  %d pods  %d × %s (%s)  %v\n", n.Name, n.CapacityType, n.PricePerHour,
			n.Allocatable.CPU, n.Allocatable.Memory/recommender.MiB, n.Allocatable.Pods, n.GPUs, n.GPUModel,
			n.Labels[catalog.LabelInstanceGPUName], n.Taints)
	}
	// Output:
	// g5.xlarge   on-demand $1.0060/h  3770m CPU  13970Mi  55 pods  1 × A10G-24GB (a10g)  [{nvidia.com/gpu true NoSchedule}]
	// g5.xlarge   spot      $0.4024/h  3770m CPU  13970Mi  55 pods  1 × A10G-24GB (a10g)  [{nvidia.com/gpu true NoSchedule}]
	// g5.2xlarge  on-demand $1.2120/h  7760m CPU  29125Mi  55 pods  1 × A10G-24GB (a10g)  [{nvidia.com/gpu true NoSchedule}]
	// g5.2xlarge  spot      $0.4848/h  7760m CPU  29125Mi  55 pods  1 × A10G-24GB (a10g)  [{nvidia.com/gpu true NoSchedule}]
}
