package fgd_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rightsizer/rightsizer/nodeplan/fgd"
)

// The protocol on a toy cluster: two nodes with two GPUs each, and a
// trace of small GPU shares (so that every arrived % has pods) and a
// CPU-only pod, resampled to 130 % of the GPUs; two seeds, every policy,
// no published figures.
func ExampleEvaluate() {
	dir, err := os.MkdirTemp("", "openb")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = os.RemoveAll(dir) }()
	files := map[string]string{
		fgd.DefaultNodes: "sn,cpu_milli,memory_mib,gpu,model\n" +
			"node-a,48000,131072,2,T4\n" +
			"node-b,48000,131072,2,T4\n",
		fgd.DefaultTrace: "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n" +
			"pod-1,100,512,1,40\n" +
			"pod-2,300,512,1,30\n" +
			"pod-3,200,1024,1,20\n" +
			"pod-4,400,512,1,30\n" +
			"pod-5,2000,4096,0,0\n" +
			"pod-6,100,2048,1,40\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			fmt.Println(err)
			return
		}
	}
	rep, err := fgd.Evaluate(context.Background(), dir, fgd.Options{Seeds: []uint64{1, 2}, Workers: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d nodes, %d GPUs, %d typical pods\n", rep.Nodes, rep.GPUs, rep.TypicalPods)
	for _, p := range rep.Policies {
		fmt.Printf("%-10s at 100%%: %6.2f  at 130%%: %6.2f\n", p.Policy, p.At100.Mean, p.At130.Mean)
	}
	fmt.Printf("offline: %.2f\n", rep.Offline.Alloc)
	// Output:
	// 2 nodes, 4 GPUs, 5 typical pods
	// Random     at 100%:  99.50  at 130%:  99.75
	// BestFit    at 100%:  98.88  at 130%:  99.12
	// FGD        at 100%:  98.88  at 130%:  99.12
	// Rightsizer at 100%:  99.50  at 130%:  99.75
	// offline: 99.75
}
