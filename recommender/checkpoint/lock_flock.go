//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package checkpoint

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// ownLock reports that lockFile takes the lock itself, before the file is
// checked, so that no other process can change the file while it is checked
// or moved aside.
const ownLock = true

// lockPollInterval is how often lockFile retries a held lock.
const lockPollInterval = 20 * time.Millisecond

// lockFile takes an exclusive flock(2) on f, waiting up to timeout (no wait
// when timeout <= 0). The lock belongs to f's open file description, which
// bbolt later locks again (a no-op) and unlocks when the database closes.
// It returns errLockTimeout when the lock stays held.
func lockFile(f *os.File, timeout time.Duration) error {
	fd := int(f.Fd())
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case !errors.Is(err, syscall.EWOULDBLOCK):
			return os.NewSyscallError("flock", err)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return errLockTimeout
		}
		t := time.NewTimer(min(wait, lockPollInterval))
		<-t.C
	}
}

// unlockFile releases the lock taken by lockFile even while other
// references to f's open file description (a memory map) remain.
func unlockFile(f *os.File) error {
	return os.NewSyscallError("flock", syscall.Flock(int(f.Fd()), syscall.LOCK_UN))
}
