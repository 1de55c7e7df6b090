//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package checkpoint

import (
	"os"
	"time"
)

// ownLock is false where flock(2) is not available: bbolt's own lock
// (taken when bbolt opens the file, with Options.LockTimeout) is the only
// one, so the structural check runs before the lock is held.
const ownLock = false

func lockFile(*os.File, time.Duration) error { return nil }

func unlockFile(*os.File) error { return nil }
