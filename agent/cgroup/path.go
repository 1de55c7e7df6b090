package cgroup

import (
	"bytes"
	"fmt"
	"strings"
)

// Container scope prefixes, by runtime. With the systemd driver each is
// followed by the ID and ".scope"; with the cgroupfs driver containerd and
// Docker use the bare ID and CRI-O keeps its "crio-" prefix.
// "crio-conmon-<id>" (CRI-O's per-container monitor process) carries a
// prefix that is not in this list, so it is never taken for a container:
// its few MiB belong to no container of the pod spec.
var containerPrefixes = [...]string{"cri-containerd-", "crio-", "docker-"}

// ParsePath extracts the pod UID and container ID from a cgroup path of a
// Kubernetes container, as the kubelet lays them out with either cgroup
// driver:
//
//	systemd:  …/kubepods-burstable-pod<uid with _ for ->.slice/cri-containerd-<id>.scope
//	          …/kubepods-pod<uid>.slice/crio-<id>.scope   (Guaranteed pods sit under kubepods.slice)
//	cgroupfs: …/kubepods/besteffort/pod<uid>/<id>
//	          …/kubepods/pod<uid>/crio-<id>
//
// The path may be absolute, relative, or relative to a cgroup namespace
// ("/../../kubepods-…"): it is read from the end, taking the last segment
// that names a container and sits directly under a segment that names a
// pod, so a process in a cgroup nested inside its container's (a
// container that runs systemd, say) is still attributed. The UID comes
// back with dashes (systemd's escaping undone); the ID is the runtime's 64
// lower-case hex digits. A pod's sandbox ("pause") container has its own
// cgroup and is reported like any other: only the pod's status can tell
// it apart. Paths that are not a Kubernetes container's give ok false.
//
// The container ID shares memory with path.
func ParsePath(path string) (podUID, containerID string, ok bool) {
	end := len(path)
	for end > 0 {
		i := strings.LastIndexByte(path[:end], '/')
		seg := path[i+1 : end]
		if id, isContainer := containerSegment(seg); isContainer && i > 0 {
			j := strings.LastIndexByte(path[:i], '/')
			if uid, isPod := podSegment(path[j+1 : i]); isPod {
				return uid, id, true
			}
		}
		if i < 0 {
			break
		}
		end = i
	}
	return "", "", false
}

// containerSegment parses one path segment as a container's cgroup.
func containerSegment(seg string) (id string, ok bool) {
	s := strings.TrimSuffix(seg, ".scope")
	scope := len(s) != len(seg)
	prefixed := false
	for _, p := range containerPrefixes {
		if strings.HasPrefix(s, p) {
			s, prefixed = s[len(p):], true
			break
		}
	}
	// A systemd scope always has a runtime prefix; a bare ID is
	// cgroupfs's.
	if scope && !prefixed {
		return "", false
	}
	if !isContainerID(s) {
		return "", false
	}
	return s, true
}

// podSegment parses one path segment as a pod's cgroup: "pod<uid>"
// (cgroupfs) or "<parent slices>-pod<uid with _ for ->.slice" (systemd).
func podSegment(seg string) (uid string, ok bool) {
	if s, slice := strings.CutSuffix(seg, ".slice"); slice {
		// The slice name repeats its parents' names: kubepods-pod<uid>,
		// kubepods-besteffort-pod<uid>, or kubelet-kubepods-… under kind's
		// --cgroup-root. Requiring "kubepods" keeps other units out. The
		// UID holds no "-pod": the kubelet has replaced its dashes.
		i := strings.LastIndex(s, "-pod")
		if i < 0 || !strings.Contains(s[:i], "kubepods") {
			return "", false
		}
		u := s[i+len("-pod"):]
		if strings.IndexByte(u, '-') >= 0 {
			return "", false
		}
		if strings.IndexByte(u, '_') >= 0 {
			u = strings.ReplaceAll(u, "_", "-")
		}
		return u, isPodUID(u)
	}
	u, found := strings.CutPrefix(seg, "pod")
	if !found || !isPodUID(u) {
		return "", false
	}
	return u, true
}

// isContainerID reports whether s is 64 lower-case hex digits, the form
// containerd, CRI-O and Docker use.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// isPodUID reports whether s is a pod UID: a lower-case UUID
// (8-4-4-4-12), as the API server assigns, or 32 hex digits, the MD5 that
// the kubelet gives static pods.
func isPodUID(s string) bool {
	switch len(s) {
	case 32:
		for i := 0; i < len(s); i++ {
			if !isHex(s[i]) {
				return false
			}
		}
		return true
	case 36:
		for i := 0; i < len(s); i++ {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				if s[i] != '-' {
					return false
				}
			} else if !isHex(s[i]) {
				return false
			}
		}
		return true
	}
	return false
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

// ContainerOfPID returns the pod UID and container ID of the container
// that process pid runs in, from procRoot/<pid>/cgroup (procRoot is
// usually "/proc"; a DaemonSet that mounts the host's /proc elsewhere
// passes that). It prefers the cgroup v2 line ("0::/path") and falls back
// to any cgroup v1 line of a hybrid host. ok is false when the process has
// gone or is not in a Kubernetes container. Safe for concurrent use; it
// allocates, and is meant for the few processes that hold a GPU.
func ContainerOfPID(procRoot string, pid int) (podUID, containerID string, ok bool) {
	b, err := readSmallFile(fmt.Sprintf("%s/%d/cgroup", procRoot, pid))
	if err != nil {
		return "", "", false
	}
	return parseProcCgroup(b)
}

// parseProcCgroup parses the contents of /proc/<pid>/cgroup: lines of
// "hierarchy-ID:controller-list:path".
func parseProcCgroup(b []byte) (podUID, containerID string, ok bool) {
	var v1UID, v1ID string
	for len(b) > 0 {
		var line []byte
		line, b = cutLine(b)
		first := bytes.IndexByte(line, ':')
		if first < 0 {
			continue
		}
		second := bytes.IndexByte(line[first+1:], ':')
		if second < 0 {
			continue
		}
		path := line[first+1+second+1:]
		// A zombie whose cgroup was removed shows " (deleted)".
		path = bytes.TrimSuffix(path, []byte(" (deleted)"))
		uid, id, found := ParsePath(string(path))
		if !found {
			continue
		}
		if string(line[:first]) == "0" && second == 0 {
			return uid, id, true
		}
		if v1ID == "" {
			v1UID, v1ID = uid, id
		}
	}
	return v1UID, v1ID, v1ID != ""
}
