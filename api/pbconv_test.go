package api

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/api/pbconv"
	"github.com/rightsizer/rightsizer/recommender"
)

// TestWorkloadRoundTrip: what a client encodes with pbconv (the node
// agent's stream does) the server decodes back to the same workload.
func TestWorkloadRoundTrip(t *testing.T) {
	all := recommender.ResourceSet(0)
	for r := recommender.ResourceCPU; r <= recommender.ResourceGPUMemory; r++ {
		all = all.With(r)
	}
	for _, w := range []recommender.Workload{
		{Key: recommender.WorkloadKey{Namespace: "shop", Kind: "Deployment", Name: "web"}, Replicas: 1,
			Containers: []recommender.ContainerSpec{{Name: "app"}}},
		{Key: recommender.WorkloadKey{Cluster: "eu-1", Namespace: "ml", Kind: "StatefulSet", Name: "llm"}, Replicas: 3, Managed: true,
			Labels: map[string]string{"team": "ml"}, AutoscaledOn: all,
			Containers: []recommender.ContainerSpec{
				{Name: "init", Role: recommender.RoleInit, Requests: recommender.Amounts{CPU: 100}},
				{Name: "proxy", Role: recommender.RoleSidecar, Limits: recommender.Amounts{Memory: 64 * recommender.MiB}},
				{Name: "server", Requests: recommender.Amounts{CPU: 4000, Memory: 32 * recommender.GiB, GPUCompute: 1, GPUMemory: 40 * recommender.GiB},
					Limits: recommender.Amounts{Memory: 40 * recommender.GiB, GPUCompute: 1}},
			}},
	} {
		t.Run(w.Key.String(), func(t *testing.T) {
			got, err := workloadOf(pbconv.Workload(&w))
			require.NoError(t, err)
			require.Equal(t, w, got)
		})
	}
}
