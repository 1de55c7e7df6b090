package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rightsizer/rightsizer/internal/golden"
	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/report"
	"github.com/rightsizer/rightsizer/recommender/simulate"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recommendations runs two simulated days of the default cluster and keeps
// the payments namespace: a mix of apps, sidecars, an init container,
// a container without requests and CronJobs.
func recommendations(t *testing.T) []recommender.Recommendation {
	t.Helper()
	e, err := recommender.NewEngine(recommender.DefaultOptions())
	require.NoError(t, err)
	o := simulate.DefaultOptions()
	o.Duration = 2 * 24 * time.Hour
	sim, err := simulate.New(simulate.DefaultCluster(1), o)
	require.NoError(t, err)
	require.NoError(t, sim.Run(context.Background(), e))
	return e.List(recommender.Filter{Namespace: "payments"})
}

func TestGolden(t *testing.T) {
	t.Parallel()
	recs := recommendations(t)
	for _, f := range report.Formats {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			require.NoError(t, report.Write(&b, f, recs))
			golden.Lines(t, filepath.Join("testdata", "payments."+string(f)+".golden"), b.String())
		})
	}
}

func TestMachineFormatsRoundTrip(t *testing.T) {
	t.Parallel()
	recs := recommendations(t)
	var b bytes.Buffer
	require.NoError(t, report.Write(&b, report.FormatJSON, recs))
	var doc struct {
		Recommendations []recommender.Recommendation `json:"recommendations"`
		Totals          report.Totals                `json:"totals"`
	}
	require.NoError(t, json.Unmarshal(b.Bytes(), &doc))
	require.Len(t, doc.Recommendations, len(recs))
	for i := range recs {
		require.Equal(t, recs[i].ContainerKey, doc.Recommendations[i].ContainerKey)
		require.Equal(t, recs[i].CPU, doc.Recommendations[i].CPU)
		require.Equal(t, recs[i].Flags, doc.Recommendations[i].Flags)
		require.Equal(t, recs[i].Role, doc.Recommendations[i].Role)
	}
	require.Equal(t, report.Sum(recs), doc.Totals)

	b.Reset()
	require.NoError(t, report.Write(&b, report.FormatCSV, recs))
	rows, err := csv.NewReader(&b).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, len(recs)+1)
	for _, r := range rows {
		require.Len(t, r, len(rows[0]))
	}
}

func TestTotals(t *testing.T) {
	t.Parallel()
	recs := []recommender.Recommendation{
		{Replicas: 3, CPU: recommender.ResourceRecommendation[recommender.MilliCPU]{CurrentRequest: 1000, Request: 250},
			Memory: recommender.ResourceRecommendation[recommender.Bytes]{CurrentRequest: 2 * recommender.GiB, Request: recommender.GiB}, MonthlyCostDelta: -100},
		{Replicas: 3, Role: recommender.RoleInit, CPU: recommender.ResourceRecommendation[recommender.MilliCPU]{CurrentRequest: 4000, Request: 4000}},
		{Flags: recommender.FlagInsufficientHistory | recommender.FlagOOM, Samples: 3},
		{Flags: recommender.FlagInsufficientHistory | recommender.FlagThrottled},
		{Replicas: 2, GPUCompute: &recommender.ResourceRecommendation[recommender.GPUCompute]{CurrentRequest: 1, Request: 0.25},
			GPUMemory: &recommender.ResourceRecommendation[recommender.Bytes]{CurrentLimit: 80 * recommender.GiB, Limit: 20 * recommender.GiB}},
	}
	got := report.Sum(recs)
	require.Equal(t, report.Totals{Containers: 5, RequestedCores: 3, RecommendedCores: 0.75, RequestedGiB: 6, RecommendedGiB: 3,
		RequestedGPUs: 2, RecommendedGPUs: 0.5, RequestedGPUMemoryGiB: 160, RecommendedGPUMemoryGiB: 40,
		MonthlyCostDelta: -100, InsufficientData: 1, OOMKilled: 1, Throttled: 1, NoUsage: 1}, got)
	require.Equal(t, "Total over 5 containers (all replicas): CPU 3.0 → 0.8 cores (-75%), memory 6.0 → 3.0 GiB (-50%), saves $100 per month", got.Line())
	var b bytes.Buffer
	require.NoError(t, report.Write(&b, report.FormatTable, nil))
	require.Contains(t, b.String(), "Total over 0 containers")
	_, err := report.ParseFormat("xml")
	require.ErrorContains(t, err, `unknown output format "xml"`)
}
