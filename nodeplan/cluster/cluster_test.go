package cluster

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
)

func gpuType() *NodeType {
	return &NodeType{
		Name:        "g",
		Allocatable: Resources{CPU: 8000, Memory: 32 * recommender.GiB, Pods: 10},
		GPUs:        4,
		GPUModel:    "T4",
		Labels:      map[string]string{"pool": "gpu"},
		Taints:      []Taint{{Key: "nvidia.com/gpu", Value: "true", Effect: "NoSchedule"}},
	}
}

func TestAdmits(t *testing.T) {
	tolerate := []Toleration{{Key: "nvidia.com/gpu", Operator: "Exists"}}
	tests := []struct {
		name string
		pod  Pod
		want bool
	}{
		{"untolerated taint", Pod{CPU: 100}, false},
		{"tolerated", Pod{CPU: 100, Tolerations: tolerate}, true},
		{"tolerate everything", Pod{CPU: 100, Tolerations: []Toleration{{Operator: "Exists"}}}, true},
		{"wrong value", Pod{Tolerations: []Toleration{{Key: "nvidia.com/gpu", Value: "false"}}}, false},
		{"right value", Pod{Tolerations: []Toleration{{Key: "nvidia.com/gpu", Value: "true"}}}, true},
		{"wrong effect", Pod{Tolerations: []Toleration{{Key: "nvidia.com/gpu", Operator: "Exists", Effect: "NoExecute"}}}, false},
		{"selector matches", Pod{NodeSelector: map[string]string{"pool": "gpu"}, Tolerations: tolerate}, true},
		{"selector misses", Pod{NodeSelector: map[string]string{"pool": "cpu"}, Tolerations: tolerate}, false},
		{"too much cpu", Pod{CPU: 8001, Tolerations: tolerate}, false},
		{"too many gpus", Pod{GPU: GPURequest{Count: 5}, Tolerations: tolerate}, false},
		{"model allowed", Pod{GPU: GPURequest{Milli: 500, Models: []string{"V100", "T4"}}, Tolerations: tolerate}, true},
		{"model not allowed", Pod{GPU: GPURequest{Count: 1, Models: []string{"V100"}}, Tolerations: tolerate}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, gpuType().Admits(&tt.pod))
		})
	}
	// A GPURequest is for nvidia.com/gpu: another vendor's GPUs cannot
	// serve it, but the node still takes pods without GPUs.
	for _, tt := range []struct {
		resource      string
		gpuPod, plain bool
	}{
		{"", true, true},
		{NVIDIAGPU, true, true},
		{"amd.com/gpu", false, true},
	} {
		typ := gpuType()
		typ.GPUResource = tt.resource
		require.Equal(t, tt.gpuPod, typ.Admits(&Pod{GPU: GPURequest{Count: 1}, Tolerations: tolerate}), tt.resource)
		require.Equal(t, tt.plain, typ.Admits(&Pod{CPU: 100, Tolerations: tolerate}), tt.resource)
	}
}

func TestPerGPU(t *testing.T) {
	for _, tt := range []struct {
		g           GPURequest
		gpus, milli int
	}{
		{GPURequest{}, 0, 0},
		{GPURequest{Count: 4}, 4, MilliGPU},
		{GPURequest{Milli: 250}, 1, 250},
	} {
		gpus, milli := tt.g.PerGPU()
		require.Equal(t, [2]int{tt.gpus, tt.milli}, [2]int{gpus, milli}, "%+v", tt.g)
		require.Equal(t, tt.g.TotalMilli(), gpus*milli, "%+v", tt.g)
	}
}

func TestPlaceAndRemove(t *testing.T) {
	typ := gpuType()
	n := NewNode(typ)
	require.True(t, n.Empty())
	pods := []Pod{
		{Name: "share-600", CPU: 1000, GPU: GPURequest{Milli: 600}},
		{Name: "share-300", CPU: 1000, GPU: GPURequest{Milli: 300}},
		{Name: "whole-2", CPU: 1000, GPU: GPURequest{Count: 2}},
		{Name: "share-400", CPU: 1000, GPU: GPURequest{Milli: 400}},
	}
	var placed [][]int
	for i := range pods {
		gpus, ok := n.BestFitGPUs(&pods[i], nil)
		require.True(t, ok, pods[i].Name)
		require.NoError(t, n.Place(&pods[i], gpus))
		placed = append(placed, gpus)
	}
	// share-300 goes onto the GPU share-600 left 400 on (best fit); the
	// whole GPUs take the next two free; share-400 the last free GPU.
	require.Equal(t, [][]int{{0}, {0}, {1, 2}, {3}}, placed)
	require.Equal(t, []int{100, 0, 0, 600}, n.GPUFree)
	require.Equal(t, 4000, int(n.Free.CPU))
	require.Equal(t, 6, n.Free.Pods)

	whole := Pod{Name: "whole-1", GPU: GPURequest{Count: 1}}
	require.False(t, n.FitsFree(&whole))
	_, ok := n.BestFitGPUs(&whole, nil)
	require.False(t, ok)
	require.Error(t, n.Place(&whole, []int{3}), "GPU 3 is partly used")
	require.Error(t, n.Place(&pods[2], []int{3, 3}), "one GPU twice")
	require.Equal(t, []int{100, 0, 0, 600}, n.GPUFree, "failed placements change nothing")

	for i := range pods {
		n.Remove(&pods[i], placed[i])
	}
	require.True(t, n.Empty())
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		pod  Pod
		ok   bool
	}{
		{"cpu only", Pod{CPU: 1}, true},
		{"share", Pod{GPU: GPURequest{Milli: 999}}, true},
		{"whole", Pod{GPU: GPURequest{Count: 8}}, true},
		{"share of 1000", Pod{GPU: GPURequest{Milli: 1000}}, false},
		{"both", Pod{GPU: GPURequest{Count: 1, Milli: 10}}, false},
		{"negative cpu", Pod{CPU: -1}, false},
		{"negative gpu", Pod{GPU: GPURequest{Count: -1}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.pod.Validate()
			require.Equal(t, tt.ok, err == nil, "%v", err)
		})
	}
}
