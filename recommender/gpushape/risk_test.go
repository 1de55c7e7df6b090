package gpushape

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
)

// TestMemoryRequirementTinyRisk checks that a risk too small for 1 − risk
// to differ from 1 sizes past any GPU (keeping the GPUs), and that peaks
// all at 0 size from the last peak plus the minimum headroom, not NaN.
func TestMemoryRequirementTinyRisk(t *testing.T) {
	t.Parallel()
	p := Policy{MemoryRisk: 1e-20, MemoryMinHeadroom: recommender.GiB}
	need, _, byRisk := memoryRequirement(Usage{MemoryMax: 8 * recommender.GiB, MemoryPeaks: []recommender.Bytes{8 * recommender.GiB}}, p)
	require.True(t, byRisk)
	require.Equal(t, 2*maxBytes, need)
	need, _, _ = memoryRequirement(Usage{MemoryPeaks: []recommender.Bytes{0, 0}}, p)
	require.Equal(t, recommender.GiB, need)
}

// TestPctRisk pins how risks read in reasons.
func TestPctRisk(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    float64
		want string
	}{
		{0, "0%"},
		{0.00001, "<0.01%"},
		{0.00005, "0.01%"},
		{0.001901, "0.19%"},
		{0.02, "2%"},
		{0.5, "50%"},
	} {
		require.Equal(t, tc.want, pctRisk(tc.p), "%v", tc.p)
	}
}
