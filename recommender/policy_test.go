package recommender

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBuiltinProfilesValid(t *testing.T) {
	t.Parallel()
	for _, p := range BuiltinProfiles() {
		require.NoError(t, p.Validate(), p.Name)
	}
	p := DefaultPolicy()
	require.Equal(t, []string{"balanced", "cost", "performance"}, p.ProfileNames())
	require.Equal(t, ProfileBalanced, p.DefaultProfile())
	q, err := p.WithDefaultProfile("cost")
	require.NoError(t, err)
	require.Equal(t, "cost", q.Resolve(WorkloadKey{Namespace: "a", Kind: "b", Name: "c"}).Name)
	_, err = p.WithDefaultProfile("nope")
	require.ErrorContains(t, err, `unknown profile "nope"`)
}

func TestLoadPolicyGood(t *testing.T) {
	t.Parallel()
	p, err := LoadPolicyFile(filepath.Join("testdata", "policy", "good.yaml"))
	require.NoError(t, err)
	wk := func(ns, kind, name string) WorkloadKey { return WorkloadKey{Namespace: ns, Kind: kind, Name: name} }

	def := p.Resolve(wk("shop", "Deployment", "api"))
	require.Equal(t, "steady-batch", def.Name)
	require.Equal(t, 0.85, def.CPU.RequestPercentile, "inherited from cost")
	require.Equal(t, 0.95, def.Memory.RequestPercentile, "riskBudget 0.05")
	require.Equal(t, 256*MiB, def.Memory.Min)
	require.Equal(t, 48*time.Hour, def.HalfLife)
	require.Equal(t, 14*24*time.Hour, def.Window)

	ledger := p.Resolve(wk("payments", "Deployment", "ledger"))
	require.Equal(t, "strict", ledger.Name)
	require.InDelta(t, 0.99, ledger.CPU.RequestPercentile, 1e-12)
	require.Equal(t, MilliCPU(100), ledger.CPU.Min)
	require.Equal(t, MilliCPU(8000), ledger.CPU.Max)
	require.Equal(t, 0.999, ledger.CPU.LimitPercentile)
	require.Equal(t, 48*time.Hour, ledger.HalfLife, "inherited through two bases")
	require.InDelta(t, 0.01, ledger.CPU.RiskBudget, 1e-12)
	require.Equal(t, 0.02, ledger.CPU.PeakCap)
	require.Equal(t, MilliCPU(25), ledger.CPU.MinHeadroom)
	require.Equal(t, 0.75, ledger.Memory.BurstMargin)
	require.Equal(t, 90*time.Minute, ledger.LiveHalfLife)
	require.Equal(t, 1.0, ledger.Memory.GrowthMargin)
	require.Equal(t, 48*time.Hour, ledger.Memory.GrowthWindow)
	require.Equal(t, 2*time.Hour, def.LiveHalfLife, "cost's live horizon, inherited")

	// A workload entry without a kind matches any kind; its namespace's
	// profile still applies.
	fraud := p.Resolve(wk("payments", "StatefulSet", "fraud"))
	require.Equal(t, ProfilePerformance, fraud.Name)
	require.Equal(t, 0.5, fraud.CPU.Margin)
	other := p.Resolve(wk("payments", "Deployment", "web"))
	require.Equal(t, ProfilePerformance, other.Name)
	require.Equal(t, 0.1, other.CPU.Margin)

	batch := p.Resolve(wk("batch", "CronJob", "nightly"))
	require.Equal(t, "steady-batch", batch.Name)
	require.Equal(t, 1.5, batch.Memory.OOMBumpRatio)

	bal, _ := p.Profile(ProfileBalanced)
	require.Equal(t, 0.92, bal.CPU.RequestPercentile)
	require.Equal(t, Prices{CoreHour: 0.04, GiBHour: 0.005, GPUHour: 6.88, HoursMonth: 730}, p.Prices())
}

// TestLoadPolicyBad loads every testdata/policy/*.bad.yaml and expects
// exactly the errors in the matching .errors file, all at once.
func TestLoadPolicyBad(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "policy", "*.bad.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			want, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".errors")
			require.NoError(t, err)
			_, err = LoadPolicyFile(f)
			require.ErrorIs(t, err, ErrInvalidPolicy)
			got := strings.Split(err.Error(), "\n")[1:] // after "<file>: invalid policy:"
			wantLines := strings.Split(strings.TrimSpace(string(want)), "\n")
			slices.Sort(got)
			slices.Sort(wantLines)
			require.Equal(t, wantLines, got)
		})
	}
}

func TestLoadPolicyLimits(t *testing.T) {
	t.Parallel()
	_, err := LoadPolicy(strings.NewReader(strings.Repeat("#", MaxPolicyBytes+1)))
	require.ErrorContains(t, err, "larger than")
	p, err := LoadPolicy(strings.NewReader(""))
	require.NoError(t, err, "an empty file is the default policy")
	require.Equal(t, ProfileBalanced, p.DefaultProfile())
	_, err = LoadPolicy(strings.NewReader("{{{"))
	require.ErrorIs(t, err, ErrInvalidPolicy)
	_, err = LoadPolicyFile(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorContains(t, err, "open policy")
}

// FuzzLoadPolicy: no input panics, and any accepted policy resolves to
// valid profiles.
func FuzzLoadPolicy(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "policy", "*.yaml"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := LoadPolicy(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		for _, n := range p.ProfileNames() {
			pr, _ := p.Profile(n)
			if err := pr.Validate(); err != nil {
				t.Fatalf("accepted invalid profile %s: %v", n, err)
			}
		}
		for ns := range p.namespaces {
			pr := p.Resolve(WorkloadKey{Namespace: ns, Kind: "Deployment", Name: "x"})
			if err := pr.Validate(); err != nil {
				t.Fatalf("namespace %s resolves to an invalid profile: %v", ns, err)
			}
		}
	})
}
