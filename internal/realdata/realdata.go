// Package realdata finds the real datasets under shared/data for tests and
// benchmarks: a test that needs one skips when it is missing, unless
// RIGHTSIZER_REQUIRE_DATA=1 (make test and CI set it), in which case it
// fails, so that tests on real data never pass by not running.
package realdata

import (
	"os"
	"testing"

	"github.com/rightsizer/rightsizer/recommender/replay"
)

// EnvRequire names the variable that turns a missing dataset from a skip
// into a failure.
const EnvRequire = "RIGHTSIZER_REQUIRE_DATA"

// Dir returns the directory of the named dataset (as replay.Locate finds
// it, e.g. "alibaba-gpu-2023"), or skips t, or fails it when EnvRequire
// is 1.
func Dir(t testing.TB, name string) string {
	t.Helper()
	dir, err := replay.Locate(name)
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("real data required (%s=1): %v", EnvRequire, err)
		}
		t.Skipf("real data not found, skipping (set %s or %s=1 to require it): %v", replay.EnvData, EnvRequire, err)
	}
	return dir
}
