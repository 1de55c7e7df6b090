//go:build linux

package cgroup

import (
	"errors"
	"syscall"
	"unsafe"
)

// dirLister lists subdirectories with getdents64 into a reused buffer,
// handing each name to the caller without allocating: os.ReadDir would
// allocate a DirEntry and a string for each of the 70-odd interface files
// in every cgroup directory. Not safe for concurrent use.
type dirLister struct {
	buf []byte
}

// list calls fn with the name of each subdirectory of dir, in directory
// order. name is valid only during the call, and fn must not call list.
func (l *dirLister) list(dir string, fn func(name []byte)) error {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		return err
	}
	if l.buf == nil {
		l.buf = make([]byte, 32<<10) // a pod's directory, with its files, in one call
	}
	for {
		n, err := syscall.Getdents(fd, l.buf)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			_ = syscall.Close(fd)
			return err
		}
		if n <= 0 {
			break
		}
		l.each(dir, l.buf[:n], fn)
	}
	return syscall.Close(fd)
}

// linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, then
// d_name, NUL-terminated.
const (
	direntReclen = 16
	direntType   = 18
	direntName   = 19
)

func (l *dirLister) each(dir string, b []byte, fn func(name []byte)) {
	for len(b) >= direntName {
		reclen := int(*(*uint16)(unsafe.Pointer(&b[direntReclen])))
		if reclen < direntName || reclen > len(b) {
			return
		}
		rec := b[:reclen]
		b = b[reclen:]
		name := rec[direntName:]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		if len(name) == 0 || name[0] == '.' && (len(name) == 1 || len(name) == 2 && name[1] == '.') {
			continue
		}
		switch rec[direntType] {
		case syscall.DT_DIR:
		case syscall.DT_UNKNOWN:
			// Some file systems leave the type to a stat; cgroupfs,
			// tmpfs and ext4 fill it in.
			var st syscall.Stat_t
			if syscall.Lstat(dir+"/"+string(name), &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
				continue
			}
		default:
			continue
		}
		fn(name)
	}
}
