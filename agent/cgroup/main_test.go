package cgroup

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// burnEnv makes the test binary a CPU burner for TestHostCgroup: it waits
// for a byte on stdin (so that the test can move it into a cgroup first),
// then spins until it has used the given CPU time, and exits.
const burnEnv = "RIGHTSIZER_CGROUP_TEST_BURN"

func TestMain(m *testing.M) {
	if v := os.Getenv(burnEnv); v != "" {
		os.Exit(burn(v))
	}
	goleak.VerifyTestMain(m)
}

func burn(v string) int {
	d, err := time.ParseDuration(v)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var b [1]byte
	if _, err := os.Stdin.Read(b[:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	start := processCPU()
	for x := uint64(1); processCPU()-start < d; x = x*6364136223846793005 + 1 {
		for range 10000 {
			x = x*6364136223846793005 + 1
		}
		burnSink = x
	}
	return 0
}

var burnSink uint64

// processCPU returns this process's user plus system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
