package nodeplan

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// TestConstraintsAreAdmits checks that explain's constraints, which
// restate cluster.NodeType.Admits one condition at a time, all hold
// exactly when Admits does, on seeded random types and pods.
func TestConstraintsAreAdmits(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	models := []string{"", "T4", "A100"}
	pools := []string{"a", "b"}
	for range 5000 {
		typ := cluster.NodeType{
			Allocatable: cluster.Resources{
				CPU:    recommender.MilliCPU(1000 * rng.IntN(5)),
				Memory: recommender.Bytes(rng.IntN(5)) * recommender.GiB,
				Pods:   rng.IntN(3),
			},
			GPUs:        rng.IntN(4),
			GPUModel:    models[rng.IntN(len(models))],
			GPUResource: []string{"", cluster.NVIDIAGPU, "amd.com/gpu"}[rng.IntN(3)],
			Labels:      map[string]string{"pool": pools[rng.IntN(2)]},
		}
		if rng.IntN(2) == 0 {
			typ.Taints = []cluster.Taint{{Key: "gpu", Value: "true", Effect: []string{"NoSchedule", "PreferNoSchedule"}[rng.IntN(2)]}}
		}
		pod := cluster.Pod{
			CPU:    recommender.MilliCPU(1000 * rng.IntN(5)),
			Memory: recommender.Bytes(rng.IntN(5)) * recommender.GiB,
		}
		switch rng.IntN(3) {
		case 0:
			pod.GPU.Count = rng.IntN(5)
		case 1:
			pod.GPU.Milli = 1 + rng.IntN(999)
		}
		if rng.IntN(2) == 0 {
			pod.GPU.Models = []string{models[1+rng.IntN(2)]}
		}
		if rng.IntN(2) == 0 {
			pod.NodeSelector = map[string]string{"pool": pools[rng.IntN(2)]}
		}
		if rng.IntN(2) == 0 {
			pod.Tolerations = []cluster.Toleration{{Key: "gpu", Operator: "Exists"}}
		}
		all := true
		for _, c := range constraints {
			all = all && c.ok(&typ, &pod)
		}
		require.Equal(t, typ.Admits(&pod), all, "type %+v, pod %+v", typ, pod)
	}
}
