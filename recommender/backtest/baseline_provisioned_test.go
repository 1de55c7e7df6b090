package backtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
)

func TestProvisionedNeverChanges(t *testing.T) {
	t.Parallel()
	k, w, samples, ooms, decisions := blCausalTrace()
	p := NewProvisioned()
	require.Equal(t, "provisioned", p.Name())
	require.NoError(t, p.UpsertWorkload(w))
	require.NoError(t, p.Ingest(samples))
	for _, ev := range ooms {
		require.NoError(t, p.RecordOOM(ev))
	}
	times := append(decisions[:len(decisions):len(decisions)], blT0, blT0.Add(365*24*time.Hour))
	tests := []struct {
		name    string
		current Applied
	}{
		{"as provisioned", Applied{CPURequest: 2000, CPULimit: 4000, MemoryRequest: 4 * recommender.GiB, MemoryLimit: 4 * recommender.GiB}},
		{"nothing requested", Applied{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, now := range times {
				next, ok := p.Decide(k, now, tt.current)
				require.False(t, ok)
				require.Equal(t, tt.current, next)
			}
		})
	}
}
