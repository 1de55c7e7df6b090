package catalog_test

import (
	"fmt"

	"github.com/rightsizer/rightsizer/nodeplan/catalog"
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
