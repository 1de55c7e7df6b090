package place_test

import (
	"fmt"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/nodeplan/place"
	"github.com/rightsizer/rightsizer/recommender"
)

// Pods arrive one at a time onto two existing nodes; each policy places
// them, irrevocably. The typical pods (here the pods themselves) are what
// the fragmentation policies expect.
func ExampleNew() {
	nodes := []cluster.NodeType{
		{Name: "t4", Allocatable: cluster.Resources{CPU: 104_000, Memory: 512 * recommender.GiB, Pods: 1001}, GPUs: 2, GPUModel: "T4"},
		{Name: "g2", Allocatable: cluster.Resources{CPU: 96_000, Memory: 384 * recommender.GiB, Pods: 1001}, GPUs: 8, GPUModel: "G2"},
	}
	pods := []cluster.Pod{
		{Name: "share-470", CPU: 8000, Memory: 30 * recommender.GiB, GPU: cluster.GPURequest{Milli: 470}},
		{Name: "whole-2", CPU: 16000, Memory: 64 * recommender.GiB, GPU: cluster.GPURequest{Count: 2}},
		{Name: "share-470b", CPU: 8000, Memory: 30 * recommender.GiB, GPU: cluster.GPURequest{Milli: 470}},
		{Name: "cpu-only", CPU: 32000, Memory: 48 * recommender.GiB},
	}
	typical := place.TypicalPods(pods, 100)
	for _, name := range []string{place.BestFit, place.FGD, place.Rightsizer} {
		s := place.NewState(nodes)
		pol, err := place.New(name, s, place.Config{Typical: typical})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%-10s", name)
		for i := range pods {
			pl, ok, err := pol.Place(&pods[i])
			if err != nil || !ok {
				fmt.Println(" failed:", pods[i].Name, err)
				return
			}
			fmt.Printf(" %s→%s%v", pods[i].Name, nodes[pl.Node].Name, pl.GPUs)
		}
		fmt.Printf("  (%d of %d GPU milli used)\n", s.UsedGPUMilli(), s.TotalGPUMilli())
	}
	// Output:
	// BestFit    share-470→t4[0] whole-2→g2[0 1] share-470b→t4[0] cpu-only→t4[]  (2940 of 10000 GPU milli used)
	// FGD        share-470→g2[0] whole-2→t4[0 1] share-470b→g2[0] cpu-only→t4[]  (2940 of 10000 GPU milli used)
	// Rightsizer share-470→g2[0] whole-2→t4[0 1] share-470b→g2[0] cpu-only→t4[]  (2940 of 10000 GPU milli used)
}
