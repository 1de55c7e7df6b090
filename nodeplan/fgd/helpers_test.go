package fgd

import (
	"context"
	"os"
	"testing"

	"github.com/rightsizer/rightsizer/recommender/replay"
)

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	return context.WithCancel(t.Context())
}

// envRequireData turns a missing real dataset from a skipped test into a
// failure (make test and CI set it).
const envRequireData = "RIGHTSIZER_REQUIRE_DATA"

// locateReal finds a real dataset under shared/data, or skips t (fails it
// when RIGHTSIZER_REQUIRE_DATA=1).
func locateReal(t testing.TB, name string) string {
	t.Helper()
	dir, err := replay.Locate(name)
	if err != nil {
		if os.Getenv(envRequireData) == "1" {
			t.Fatalf("real data required (%s=1): %v", envRequireData, err)
		}
		t.Skipf("real data not found, skipping (set %s or %s=1 to require it): %v", replay.EnvData, envRequireData, err)
	}
	return dir
}
