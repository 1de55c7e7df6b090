//go:build !cgo

package gpu_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/gpu"
)

func TestNewWithoutCgo(t *testing.T) {
	t.Parallel()
	col, err := gpu.New(gpu.Options{})
	require.ErrorIs(t, err, gpu.ErrNoGPU)
	require.ErrorContains(t, err, "built without cgo")
	now := time.Unix(1_700_000_000, 0)
	s, err := col.Collect(now)
	require.NoError(t, err)
	require.Equal(t, gpu.Snapshot{Time: now}, s)
	require.NoError(t, col.Close())
}
