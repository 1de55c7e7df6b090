package pods

import (
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/rightsizer/rightsizer/kube"
)

func TestConstantsMatchKube(t *testing.T) {
	t.Parallel()
	require.Equal(t, kube.KindDeployment, kindDeployment)
	require.Equal(t, kube.KindReplicaSet, kindReplicaSet)
	require.Equal(t, kube.KindJob, kindJob)
	require.Equal(t, kube.KindPod, kindPod)
}

func TestDeploymentOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rs, hash, want string
		ok             bool
	}{
		{"web-5d4f8b9c7", "5d4f8b9c7", "web", true},
		{"my-app-v2-7c9d8f6b5", "7c9d8f6b5", "my-app-v2", true},
		{"web-123456789", "123456789", "web", true}, // numeric hashes, from clusters before 1.11
		{"web-5d4f8b9c7", "", "", false},            // no label: a bare ReplicaSet
		{"web-5d4f8b9c7", "6e5a9c8d1", "", false},   // the label names another template
		{"web5d4f8b9c7", "5d4f8b9c7", "", false},    // no dash
		{"-5d4f8b9c7", "5d4f8b9c7", "", false},      // no Deployment name
		{"5d4f8b9c7", "5d4f8b9c7", "", false},
	} {
		got, ok := deploymentOf(tc.rs, tc.hash)
		require.Equal(t, tc.ok, ok, "%s %s", tc.rs, tc.hash)
		require.Equal(t, tc.want, got, "%s %s", tc.rs, tc.hash)
	}
}

func TestSpellings(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"containerd://4f1c": "4f1c",
		"cri-o://4f1c":      "4f1c",
		"docker://4f1c":     "4f1c",
		"4f1c":              "4f1c",
		"":                  "",
	} {
		require.Equal(t, want, stripScheme(in), in)
	}
	require.Equal(t, types.UID("0b7d2a7e-11aa-4000-8000-0123456789ab"), normalizeUID("0b7d2a7e_11aa_4000_8000_0123456789ab"))
	require.Equal(t, types.UID("0b7d2a7e-11aa-4000-8000-0123456789ab"), normalizeUID("0b7d2a7e-11aa-4000-8000-0123456789ab"))
}

func TestTrim(t *testing.T) {
	t.Parallel()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-5d4f8b9c7-x2x9q", Namespace: "shop", UID: "u1", ResourceVersion: "42",
			Labels:          map[string]string{"app": "web", podTemplateHashLabel: "5d4f8b9c7"},
			Annotations:     map[string]string{"big": "annotation"},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			OwnerReferences: []metav1.OwnerReference{{Kind: "Other", Name: "x"}, {Kind: "ReplicaSet", Name: "web-5d4f8b9c7", UID: "rs", Controller: ptr.To(true)}},
		},
		Spec: corev1.PodSpec{
			NodeName: "n1",
			Volumes:  []corev1.Volume{{Name: "v"}},
			Containers: []corev1.Container{{Name: "app", Image: "x", Env: []corev1.EnvVar{{Name: "A", Value: "b"}},
				Resources: corev1.ResourceRequirements{Requests: res("1", "1Gi")}}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "dbg", Image: "busybox"}}},
		},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "x", ContainerID: "containerd://2",
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: "containerd://1", Reason: "OOMKilled"}}}},
		},
	}
	want := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-5d4f8b9c7-x2x9q", Namespace: "shop", UID: "u1", ResourceVersion: "42",
			Labels:          map[string]string{podTemplateHashLabel: "5d4f8b9c7"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-5d4f8b9c7", UID: "rs", Controller: ptr.To(true)}},
		},
		Spec: corev1.PodSpec{
			NodeName:            "n1",
			Containers:          []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Requests: res("1", "1Gi")}}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "dbg"}}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://2",
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: "containerd://1"}}}},
		},
	}
	got, err := trim(p)
	require.NoError(t, err)
	require.Equal(t, want, got)
	again, err := trim(got)
	require.NoError(t, err)
	require.Equal(t, want, again, "trim is idempotent")
	tomb := "not a pod"
	same, err := trim(tomb)
	require.NoError(t, err)
	require.Equal(t, tomb, same)
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	o := Options{RequestTimeout: -1}
	err := o.Validate()
	require.ErrorContains(t, err, "node name")
	require.ErrorContains(t, err, "request timeout")
	_, err = New(fake.NewClientset(), o)
	require.Error(t, err)
	r, err := New(fake.NewClientset(), Options{NodeName: "n1"})
	require.NoError(t, err)
	_, ok := r.Resolve("", "containerd://1")
	require.False(t, ok, "nothing resolves before Run")
}
