package app

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rightsizer/rightsizer/internal/kubetest"
	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/report"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(kubetest.Wrap(m)) }

// run executes the CLI in-process and returns stdout, stderr and the error.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := NewCommand(&out, &errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

type document struct {
	Recommendations []recommender.Recommendation `json:"recommendations"`
	Totals          report.Totals                `json:"totals"`
}

func decode(t *testing.T, s string) document {
	t.Helper()
	var d document
	require.NoError(t, json.Unmarshal([]byte(s), &d))
	return d
}

// flagCase is a command line that must fail with every message in want.
type flagCase struct {
	args []string
	want []string
}

// requireFlagErrors runs each case in parallel.
func requireFlagErrors(t *testing.T, cases []flagCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			t.Parallel()
			_, _, err := run(t, c.args...)
			require.Error(t, err)
			for _, w := range c.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestRecommendFlagErrors(t *testing.T) {
	t.Parallel()
	requireFlagErrors(t, []flagCase{
		{[]string{"recommend"}, []string{"give --demo, --replay DIR or --state FILE"}},
		{[]string{"recommend", "--demo", "--replay", "x", "-o", "xml", "--duration", "-1d"},
			[]string{"not both", `unknown output format "xml"`, `--duration "-1d"`}},
		{[]string{"recommend", "--demo", "--profile", "nope"}, []string{`--profile: unknown profile "nope"`}},
		{[]string{"recommend", "--replay", "/no/such/trace"}, []string{"--replay", "/no/such/trace"}},
		{[]string{"recommend", "--demo", "--log-level", "loud"}, []string{"--log-level"}},
		{[]string{"recommend", "extra"}, []string{"unknown command"}},
	})
}

func TestRecommendDemo(t *testing.T) {
	t.Parallel()
	out, logs, err := run(t, "recommend", "--demo", "--duration", "2d", "-o", "json")
	require.NoError(t, err)
	require.Contains(t, logs, "ingested usage")
	d := decode(t, out)
	require.Equal(t, 71, d.Totals.Containers)
	require.Less(t, d.Totals.RecommendedCores, d.Totals.RequestedCores/2, "the simulated cluster is over-provisioned")
	require.Negative(t, d.Totals.MonthlyCostDelta)

	table, _, err := run(t, "recommend", "--demo", "--duration", "1d", "-n", "shop", "--profile", "performance")
	require.NoError(t, err)
	require.Contains(t, table, "WORKLOAD")
	require.Contains(t, table, "performance: CPU P98+max(10%, 100m)")
	require.NotContains(t, table, "payments/")
	require.Contains(t, table, "Total over")
}

func TestRecommendReplayFixture(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "..", "recommender", "replay", "testdata", "bitbrains")
	out, _, err := run(t, "recommend", "--replay", dir, "-o", "csv")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.GreaterOrEqual(t, len(lines), 2)
	require.True(t, strings.HasPrefix(lines[0], "cluster,namespace,kind,name,container"))
	require.Contains(t, lines[1], ",bitbrains,VM,vm-")
}

func TestRecommendStateRoundTrip(t *testing.T) {
	t.Parallel()
	state := filepath.Join(t.TempDir(), "state.db")
	first, _, err := run(t, "recommend", "--demo", "--duration", "1d", "--state", state, "-o", "json")
	require.NoError(t, err)
	again, logs, err := run(t, "recommend", "--state", state, "-o", "json")
	require.NoError(t, err)
	require.Contains(t, logs, "restored state")
	require.Equal(t, decode(t, first), decode(t, again), "a restart answers exactly as before")

	// A corrupt file is moved aside with a warning and an empty start.
	require.NoError(t, os.WriteFile(state, []byte("not a checkpoint"), 0o600))
	out, logs, err := run(t, "recommend", "--state", state, "-o", "json")
	require.NoError(t, err)
	require.Contains(t, logs, "moved aside")
	require.Zero(t, decode(t, out).Totals.Containers)
	moved, err := filepath.Glob(state + ".corrupt-*")
	require.NoError(t, err)
	require.Len(t, moved, 1)
}

func TestRecommendPolicyErrors(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "p.yaml")
	require.NoError(t, os.WriteFile(p, []byte("profiles:\n  balanced: {cpu: {margin: -1, requestPercentile: 2}}\n"), 0o600))
	_, _, err := run(t, "recommend", "--demo", "--policy", p)
	require.ErrorContains(t, err, "cpu.margin: -1 is not in [0, 10]")
	require.ErrorContains(t, err, "cpu.requestPercentile: 2 is not in (0, 1]")
}
