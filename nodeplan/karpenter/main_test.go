package karpenter

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/rightsizer/rightsizer/internal/kubetest"
)

// TestMain runs the tests, stops the shared test API server, and only then
// looks for leaked goroutines.
func TestMain(m *testing.M) { goleak.VerifyTestMain(kubetest.Wrap(m)) }
