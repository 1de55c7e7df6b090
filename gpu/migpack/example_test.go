package migpack_test

import (
	"fmt"
	"os"

	"github.com/rightsizer/rightsizer/gpu/mig"
	"github.com/rightsizer/rightsizer/gpu/migpack"
)

func ExamplePlanNode() {
	h100, _ := mig.ForPCIDeviceID(0x233010DE)
	node := migpack.Node{
		Name:  "gpu-node-1",
		Model: h100,
		GPUs: []migpack.GPU{
			// GPU 0 runs a training job on a 3g slice; its other half is free.
			{Index: 0, MIGEnabled: true, Instances: []migpack.Slot{
				{Profile: "3g.40gb", Placement: mig.Placement{Start: 0, Size: 4}, Workload: "ml/train/main"},
				{Profile: "3g.40gb", Placement: mig.Placement{Start: 4, Size: 4}},
			}},
			{Index: 1}, // MIG off, idle
		},
		Demands: []migpack.Demand{
			{Workload: "ml/train/main", Profile: "3g.40gb"},
			{Workload: "web/embed/server", Profile: "2g.20gb", Count: 2},
			{Workload: "web/ocr/server", Profile: "1g.10gb", Count: 3},
		},
	}
	plan, err := migpack.PlanNode(node, migpack.Options{Strategy: migpack.StrategyMixed})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = plan.Table(os.Stdout)
	yaml, _ := plan.MigPartedYAML()
	fmt.Print(string(yaml))
	// Output:
	// NODE        GPU  MIG  LAYOUT                 USED  CHANGE        EVICTS
	// gpu-node-1  0    on   3g.40gb×2              1/2   keep          -
	// gpu-node-1  1    on   2g.20gb×2 + 1g.10gb×3  5/5   re-partition  -
	//
	// WORKLOAD          REQUESTED  PROFILE  NODE        GPU  PLACEMENT  MOVED
	// ml/train/main     3g.40gb    3g.40gb  gpu-node-1  0    0:4        no
	// web/embed/server  2g.20gb    2g.20gb  gpu-node-1  1    0:2        no
	// web/embed/server  2g.20gb    2g.20gb  gpu-node-1  1    2:2        no
	// web/ocr/server    1g.10gb    1g.10gb  gpu-node-1  1    4:1        no
	// web/ocr/server    1g.10gb    1g.10gb  gpu-node-1  1    5:1        no
	// web/ocr/server    1g.10gb    1g.10gb  gpu-node-1  1    6:1        no
	// gpu-node-1: H100-80GB, mixed strategy, fewest-gpus (optimal): 2 of 2 GPUs used, 1 re-partitioned (0 disruptive: none), 0 moved, 0 unplaced; label nvidia.com/mig.config=rightsizer-990573ef447c
	// version: v1
	// mig-configs:
	//   # H100-80GB: gpu-node-1
	//   rightsizer-990573ef447c:
	//     - devices: [0]
	//       mig-enabled: true
	//       mig-devices:
	//         "3g.40gb": 2
	//     - devices: [1]
	//       mig-enabled: true
	//       mig-devices:
	//         "1g.10gb": 3
	//         "2g.20gb": 2
}
