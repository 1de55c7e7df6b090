package agentload

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// cgroupFileKernelBytes measures the kernel memory behind each cgroup
// file that the reader holds open, which RSS does not show: it opens n
// copies of this process's own cgroup v2 cpu.stat, reads each once (as
// the reader does, which makes the kernel allocate the file's seq_file
// buffer), and compares the kernel memory charged to this process's
// memory cgroup before and after. It fails where there is no cgroup v2
// file to open or no memory cgroup to read.
func cgroupFileKernelBytes(n int) (float64, error) {
	file, err := ownCgroup2File("cpu.stat")
	if err != nil {
		return 0, err
	}
	before, err := kernelMemory()
	if err != nil {
		return 0, err
	}
	fds := make([]int, 0, n)
	defer func() {
		for _, fd := range fds {
			_ = syscall.Close(fd)
		}
	}()
	buf := make([]byte, 4096)
	for range n {
		fd, err := syscall.Open(file, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return 0, err
		}
		fds = append(fds, fd)
		if _, err := syscall.Pread(fd, buf, 0); err != nil {
			return 0, err
		}
	}
	after, err := kernelMemory()
	if err != nil {
		return 0, err
	}
	return float64(after-before) / float64(n), nil
}

// ownCgroup2File returns the path of file in this process's cgroup v2
// directory.
func ownCgroup2File(file string) (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	var path string
	for line := range strings.Lines(string(b)) {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			path = p
		}
	}
	mnt, root, err := mountOf("cgroup2", "")
	if err != nil || path == "" {
		return "", errors.Join(errors.New("no cgroup v2 hierarchy"), err)
	}
	rel, ok := strings.CutPrefix(path, root)
	if !ok {
		return "", errors.New("own cgroup outside the cgroup2 mount")
	}
	return filepath.Join(mnt, rel, file), nil
}

// kernelMemory returns the kernel memory, in bytes, charged to this
// process's memory cgroup: memory.stat's "kernel" on cgroup v2, or
// memory.kmem.usage_in_bytes on a v1 memory hierarchy.
func kernelMemory() (int64, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case f[0] == "0" && f[1] == "":
			mnt, root, err := mountOf("cgroup2", "")
			if err != nil {
				continue
			}
			st, err := os.ReadFile(filepath.Join(mnt, strings.TrimPrefix(f[2], root), "memory.stat"))
			if err != nil {
				continue
			}
			for l := range strings.Lines(string(st)) {
				if v, ok := strings.CutPrefix(strings.TrimSpace(l), "kernel "); ok {
					return strconv.ParseInt(v, 10, 64)
				}
			}
		case slicesContains(strings.Split(f[1], ","), "memory"):
			mnt, root, err := mountOf("cgroup", "memory")
			if err != nil {
				continue
			}
			v, err := os.ReadFile(filepath.Join(mnt, strings.TrimPrefix(f[2], root), "memory.kmem.usage_in_bytes"))
			if err != nil {
				continue
			}
			return strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
		}
	}
	return 0, errors.New("no memory cgroup with kernel memory accounting")
}

// mountOf finds the mount of a file system type (with a super option,
// for cgroup v1's controllers) in /proc/self/mountinfo.
func mountOf(fstype, option string) (mountPoint, root string, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// id parent major:minor root mount-point options … - fstype source super-options
		pre, post, ok := strings.Cut(s.Text(), " - ")
		fields, postFields := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(postFields) < 3 || postFields[0] != fstype {
			continue
		}
		if option != "" && !slicesContains(strings.Split(postFields[2], ","), option) {
			continue
		}
		return fields[4], fields[3], nil
	}
	if err := s.Err(); err != nil {
		return "", "", err
	}
	return "", "", errors.New("no " + fstype + " mount")
}

func slicesContains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
