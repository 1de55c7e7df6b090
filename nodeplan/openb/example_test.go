package openb_test

import (
	"fmt"
	"strings"

	"github.com/rightsizer/rightsizer/nodeplan/openb"
)

// Two pods of the trace: a whole GPU and a 460-milli share of one.
func ExampleReadPods() {
	pods, err := openb.ReadPods(strings.NewReader(
		"name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n" +
			"openb-pod-0000,12000,16384,1,1000,,LS,Running,0,12537496,0\n" +
			"openb-pod-0001,6000,12288,1,460,,LS,Running,427061,12902960,427061\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range pods {
		fmt.Printf("%s cpu=%dm memory=%v GPUs=%d share=%d\n", p.Name, p.CPU, p.Memory, p.GPU.Count, p.GPU.Milli)
	}
	// Output:
	// openb-pod-0000 cpu=12000m memory=16Gi GPUs=1 share=0
	// openb-pod-0001 cpu=6000m memory=12Gi GPUs=0 share=460
}
