package podspec

import (
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/rightsizer/rightsizer/recommender"
)

func TestContainers(t *testing.T) {
	q := resource.MustParse
	spec := &corev1.PodSpec{
		InitContainers: []corev1.Container{
			{Name: "migrate", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m")}}},
			{Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: q("64Mi")}}},
		},
		Containers: []corev1.Container{{Name: "train", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("1500m"), corev1.ResourceMemory: q("2Gi"), ResourceGPU: q("2")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: q("3Gi"), ResourceGPU: q("2")},
		}}},
	}
	require.Equal(t, []recommender.ContainerSpec{
		{Name: "migrate", Role: recommender.RoleInit, Requests: recommender.Amounts{CPU: 100}},
		{Name: "proxy", Role: recommender.RoleSidecar, Limits: recommender.Amounts{Memory: 64 * recommender.MiB}},
		{Name: "train", Role: recommender.RoleApp,
			Requests: recommender.Amounts{CPU: 1500, Memory: 2 * recommender.GiB, GPUCompute: 2},
			Limits:   recommender.Amounts{Memory: 3 * recommender.GiB, GPUCompute: 2}},
	}, Containers(spec), "init containers first, restartable ones as sidecars; whole GPUs as GPU compute")
	for _, tc := range []struct {
		name string
		want recommender.Bytes
	}{{"train", 3 * recommender.GiB}, {"proxy", 64 * recommender.MiB}, {"migrate", 0}, {"absent", 0}} {
		require.Equal(t, tc.want, MemoryLimit(spec, tc.name), tc.name)
	}
}
