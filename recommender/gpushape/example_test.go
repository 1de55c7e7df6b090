package gpushape_test

import (
	"fmt"

	"github.com/rightsizer/rightsizer/gpu/mig"
	"github.com/rightsizer/rightsizer/nodeplan/catalog"
	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/gpushape"
)

// A container holds a whole H100 and uses 9 GiB of its 80 at about 12 %:
// the cost profile fits it in a 1g.10gb MIG slice.
func ExampleRecommend() {
	model, _ := mig.ForPCIDeviceID(0x233010DE) // H100 SXM5 80GB
	gpu, _ := catalog.AWSUSEast1().GPU(model.Name)
	policy, _ := gpushape.PolicyFor(recommender.ProfileCost)

	shape, err := gpushape.Recommend(gpushape.Input{
		Usage: gpushape.Usage{
			MemoryMax: 9 * recommender.GiB,
			Compute: []gpushape.Quantile{
				{Q: 0.5, Value: 0.08}, {Q: 0.9, Value: 0.12}, {Q: 0.99, Value: 0.15},
			},
			ComputeMax: 0.3,
			Hours:      168,
		},
		Current: gpushape.Allocation{Kind: gpushape.KindWhole, Count: 1},
		Device:  gpushape.Device{Model: model, Memory: gpu.Memory, PricePerHour: gpu.PricePerHour},
	}, policy)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(shape.Allocation())
	fmt.Printf("$%.2f/month saved\n", shape.MonthlySavingUSD)
	fmt.Println(shape.Reason)
	// Output:
	// mig 1g.10gb
	// $4304.91/month saved
	// 1 × GPU → mig 1g.10gb (9.63Gi, 16 SMs): needs 9.46Gi GPU memory (peak 9Gi + max(5%, 256Mi)) and 0.099 GPUs (P60 0.09 GPUs + 10%); saves $4304.91/month
}
