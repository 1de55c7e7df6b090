package cgroup

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	testID  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testUID = "6f1f5c3e-8b1a-4c9d-9e2f-0a1b2c3d4e5f"
	testEsc = "6f1f5c3e_8b1a_4c9d_9e2f_0a1b2c3d4e5f"
	// A static pod's UID: the MD5 of its manifest.
	testStaticUID = "3a8e5bd1c9f04e2a7b6d5c4e3f2a1b0c"
)

func TestParsePath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, path string
		uid, id    string // empty: not a container
	}{
		{"systemd containerd burstable", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + testEsc + ".slice/cri-containerd-" + testID + ".scope", testUID, testID},
		{"systemd containerd besteffort", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + testEsc + ".slice/cri-containerd-" + testID + ".scope", testUID, testID},
		{"systemd containerd guaranteed", "/kubepods.slice/kubepods-pod" + testEsc + ".slice/cri-containerd-" + testID + ".scope", testUID, testID},
		{"systemd crio", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + testEsc + ".slice/crio-" + testID + ".scope", testUID, testID},
		{"systemd docker", "/kubepods.slice/kubepods-pod" + testEsc + ".slice/docker-" + testID + ".scope", testUID, testID},
		{"systemd static pod", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + testStaticUID + ".slice/crio-" + testID + ".scope", testStaticUID, testID},
		{"systemd under the mount", "/sys/fs/cgroup/kubepods.slice/kubepods-pod" + testEsc + ".slice/cri-containerd-" + testID + ".scope", testUID, testID},
		{"kind cgroup root", "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + testEsc + ".slice/cri-containerd-" + testID + ".scope", testUID, testID},
		{"cgroup namespace relative", "/../../kubepods-burstable-pod" + testEsc + ".slice/cri-containerd-" + testID + ".scope", testUID, testID},
		{"relative", "kubepods-pod" + testEsc + ".slice/cri-containerd-" + testID + ".scope", testUID, testID},
		{"nested in the container", "/kubepods.slice/kubepods-pod" + testEsc + ".slice/crio-" + testID + ".scope/container", testUID, testID},
		{"nested init", "/kubepods.slice/kubepods-pod" + testEsc + ".slice/cri-containerd-" + testID + ".scope/init.scope", testUID, testID},
		{"trailing slash", "/kubepods/pod" + testUID + "/" + testID + "/", testUID, testID},
		{"cgroupfs containerd burstable", "/kubepods/burstable/pod" + testUID + "/" + testID, testUID, testID},
		{"cgroupfs containerd besteffort", "/kubepods/besteffort/pod" + testUID + "/" + testID, testUID, testID},
		{"cgroupfs guaranteed", "/kubepods/pod" + testUID + "/" + testID, testUID, testID},
		{"cgroupfs crio", "/kubepods/burstable/pod" + testUID + "/crio-" + testID, testUID, testID},
		{"cgroupfs static pod", "/kubepods/burstable/pod" + testStaticUID + "/" + testID, testStaticUID, testID},

		{"crio conmon systemd", "/kubepods.slice/kubepods-pod" + testEsc + ".slice/crio-conmon-" + testID + ".scope", "", ""},
		{"crio conmon cgroupfs", "/kubepods/pod" + testUID + "/crio-conmon-" + testID, "", ""},
		{"pod slice itself", "/kubepods.slice/kubepods-pod" + testEsc + ".slice", "", ""},
		{"pod dir itself", "/kubepods/burstable/pod" + testUID, "", ""},
		{"root", "/", "", ""},
		{"empty", "", "", ""},
		{"system service", "/system.slice/containerd.service", "", ""},
		{"docker outside kubernetes", "/system.slice/docker-" + testID + ".scope", "", ""},
		{"scope without runtime prefix", "/kubepods.slice/kubepods-pod" + testEsc + ".slice/" + testID + ".scope", "", ""},
		{"unknown runtime prefix", "/kubepods.slice/kubepods-pod" + testEsc + ".slice/runc-" + testID + ".scope", "", ""},
		{"short id", "/kubepods/pod" + testUID + "/" + testID[:63], "", ""},
		{"upper-case id", "/kubepods/pod" + testUID + "/0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "", ""},
		{"slice without kubepods", "/foo.slice/foo-pod" + testEsc + ".slice/cri-containerd-" + testID + ".scope", "", ""},
		{"unescaped uid in slice", "/kubepods.slice/kubepods-pod" + testUID + ".slice/cri-containerd-" + testID + ".scope", "", ""},
		{"bad uid layout", "/kubepods/pod6f1f5c3e8-b1a-4c9d-9e2f-0a1b2c3d4e5f/" + testID, "", ""},
		{"container at the root", "/" + testID, "", ""},
		{"container without pod", "/kubepods/burstable/" + testID, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			uid, id, ok := ParsePath(tc.path)
			require.Equal(t, tc.id != "", ok)
			require.Equal(t, tc.uid, uid)
			require.Equal(t, tc.id, id)
		})
	}
}

func TestContainerOfPID(t *testing.T) {
	t.Parallel()
	systemd := "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + testEsc + ".slice/cri-containerd-" + testID + ".scope"
	for _, tc := range []struct {
		name, content string
		uid, id       string
	}{
		{"cgroup v2", "0::" + systemd + "\n", testUID, testID},
		{"cgroup v2 in a namespace", "0::/../../kubepods-pod" + testEsc + ".slice/crio-" + testID + ".scope\n", testUID, testID},
		{"hybrid prefers v2", "12:memory:/kubepods/pod" + testStaticUID + "/" + testID + "\n0::" + systemd + "\n", testUID, testID},
		{"v1 only", "12:pids:/\n4:memory:/kubepods/burstable/pod" + testUID + "/" + testID + "\n1:name=systemd:/\n", testUID, testID},
		{"zombie of a removed cgroup", "0::" + systemd + " (deleted)\n", testUID, testID},
		{"not a container", "0::/system.slice/kubelet.service\n", "", ""},
		{"v1 unified root", "12:memory:/\n0::/\n", "", ""},
		{"garbage", "no colons here\n::\n", "", ""},
		{"empty", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			proc := t.TempDir()
			const pid = 4242
			require.NoError(t, os.Mkdir(filepath.Join(proc, strconv.Itoa(pid)), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(proc, strconv.Itoa(pid), "cgroup"), []byte(tc.content), 0o644))
			uid, id, ok := ContainerOfPID(proc, pid)
			require.Equal(t, tc.id != "", ok)
			require.Equal(t, tc.uid, uid)
			require.Equal(t, tc.id, id)
		})
	}
	t.Run("no such process", func(t *testing.T) {
		t.Parallel()
		_, _, ok := ContainerOfPID(t.TempDir(), 1)
		require.False(t, ok)
	})
}
