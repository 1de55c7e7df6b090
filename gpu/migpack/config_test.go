package migpack

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/gpu/mig"
	"github.com/rightsizer/rightsizer/internal/golden"
)

func readConfig(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "config", name))
	require.NoError(t, err)
	return b
}

func TestParseConfig(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig(bytes.NewReader(readConfig(t, "h100-current.yaml")))
	require.NoError(t, err)
	require.Equal(t, "v1", c.Version)
	require.Equal(t, []string{"all-1g.10gb", "all-balanced", "all-disabled", "inference-pool"}, sortedKeys(c.MIGConfigs))
	require.Equal(t, []DeviceConfig{{AllDevices: true}}, c.MIGConfigs["all-disabled"])
	require.Equal(t, []DeviceConfig{
		{Devices: []int{0, 1}, MIGEnabled: true, MIGDevices: map[string]int{"3g.40gb": 2}},
		{Devices: []int{2}, MIGEnabled: true, MIGDevices: map[string]int{}},
		{Devices: []int{3}},
	}, c.MIGConfigs["inference-pool"])
	balanced := c.MIGConfigs["all-balanced"]
	require.Equal(t, []string{"0x233010DE", "0x233110DE"}, balanced[0].DeviceFilter)
	require.Equal(t, []string{"0x20B010DE"}, balanced[1].DeviceFilter)
	require.True(t, balanced[0].Matches(5, 0x233010DE))
	require.False(t, balanced[1].Matches(5, 0x233010DE))
	// The A100 entry is not checked against an H100.
	require.NoError(t, c.Validate(h100(t)))
	a100, _ := mig.ForPCIDeviceID(0x20B010DE)
	err = c.Validate(a100)
	require.ErrorIs(t, err, mig.ErrUnknownProfile, "the other entries are checked against an A100")
}

// TestParseConfigBad pins the errors of every bad file: each problem is
// reported, with its line.
func TestParseConfigBad(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"unknown-field.bad.yaml", []string{`line 6: mig-configs.a[0]: unknown field "mig-device"`, "line 4: mig-configs.a[0]: mig-devices is required when mig-enabled is true"}},
		{"missing-fields.bad.yaml", []string{"line 1: missing version", "line 3: mig-configs.a[0]: missing devices", "line 3: mig-configs.a[0]: missing mig-enabled"}},
		{"mode-mismatch.bad.yaml", []string{
			"line 4: mig-configs.on-without-devices[0]: mig-devices is required when mig-enabled is true",
			"line 7: mig-configs.off-with-devices[0]: mig-devices given when mig-enabled is false",
		}},
		{"bad-values.bad.yaml", []string{
			`line 1: version: unknown version "v2" (want "v1")`,
			`line 4: mig-configs.a[0].devices: want "all" or a list of GPU indices, not "some"`,
			`line 5: mig-configs.a[0].mig-enabled: want true or false, not "yes"`,
			`line 7: mig-configs.a[0].mig-devices: "1g" is not a MIG profile name`,
			`line 8: mig-configs.a[0].mig-devices.2g.20gb: count "-1" is not an integer from 0 to 255`,
			`line 9: mig-configs.a[0].mig-devices.3g.40gb: count "two"`,
			"line 11: mig-configs.b[0].devices: GPU index 0 listed twice",
			`line 11: mig-configs.b[0].devices: GPU index "-1" is not a small non-negative integer`,
			`line 13: mig-configs.b[0].device-filter: device-filter "H100": not a PCI device ID`,
			`line 14: mig-configs: config name "bad name!" is not a valid label value`,
			"line 17: mig-configs.empty: no entries",
		}},
		{"duplicate-key.bad.yaml", []string{`line 8: mig-configs.a[0].mig-devices: duplicate key "1g.10gb"`}},
		{"alias.bad.yaml", []string{"line 3: mig-configs.a: anchors and aliases are not supported", "line 6: mig-configs.b: anchors and aliases are not supported"}},
		{"two-documents.bad.yaml", []string{"more than one YAML document"}},
		{"not-a-map.bad.yaml", []string{"line 1: want a mapping with version and mig-configs"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			_, err := ParseConfig(bytes.NewReader(readConfig(t, tc.file)))
			require.ErrorIs(t, err, ErrInvalidConfig)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			if n := strings.Count(err.Error(), "\n  "); n > 0 {
				require.Equal(t, len(tc.want), n, "exactly the expected problems:\n%v", err)
			}
		})
	}
	for _, tc := range []struct {
		name, data, want string
	}{
		{"empty", "", "empty document"},
		{"not yaml", "version: [", "did not find expected node content"},
		{"no configs", "version: v1\nmig-configs: {}\n", "mig-configs: no configs"},
		{"no mig-configs", "version: v1\n", "missing mig-configs"},
		{"top-level extra", "version: v1\nmig-configs: {a: [{devices: all, mig-enabled: false}]}\nextra: 1\n", `unknown field "extra"`},
		{"empty devices", "version: v1\nmig-configs: {a: [{devices: [], mig-enabled: false}]}\n", "empty list of GPU indices"},
		{"non-string key", "version: v1\nmig-configs: {1: [{devices: all, mig-enabled: false}]}\n", `key "1" is not a string`},
		{"too large", "#" + strings.Repeat("x", MaxConfigBytes), "larger than"},
	} {
		_, err := ParseConfig(strings.NewReader(tc.data))
		require.ErrorIs(t, err, ErrInvalidConfig, tc.name)
		require.Contains(t, err.Error(), tc.want, tc.name)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig(bytes.NewReader(readConfig(t, "wrong-model.yaml")))
	require.NoError(t, err)
	err = c.Validate(h100(t))
	require.ErrorIs(t, err, ErrInvalidConfig)
	require.ErrorIs(t, err, mig.ErrUnknownProfile)
	require.ErrorIs(t, err, mig.ErrInfeasible)
	for _, want := range []string{
		`a100-names[0] (devices all): "1g.5gb" is not a H100-80GB profile (1g.10gb, 1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb)`,
		"too-much[0] (devices [0]): 3g.40gb×2 + 1g.10gb on H100-80GB: 9 memory slices of 8",
		`too-much[1] (devices [1]): "1c.3g.40gb" is not a H100-80GB profile`,
	} {
		require.Contains(t, err.Error(), want)
	}
	require.NotContains(t, err.Error(), "other-model-only", "an entry filtered to another GPU is not checked")

	_, err = LoadConfig(bytes.NewReader(readConfig(t, "wrong-model.yaml")), h100(t))
	require.ErrorIs(t, err, mig.ErrInfeasible)
	_, err = LoadConfig(bytes.NewReader(readConfig(t, "h100-current.yaml")), h100(t))
	require.NoError(t, err)
}

func TestConfigGPUs(t *testing.T) {
	t.Parallel()
	m := h100(t)
	c, err := ParseConfig(bytes.NewReader(readConfig(t, "h100-current.yaml")))
	require.NoError(t, err)

	gpus, err := c.GPUs("inference-pool", m, 4, 0)
	require.NoError(t, err)
	require.Equal(t, []GPU{
		migGPU(0, "3g.40gb", "3g.40gb"), migGPU(1, "3g.40gb", "3g.40gb"), {Index: 2, MIGEnabled: true}, {Index: 3},
	}, gpus)

	gpus, err = c.GPUs("all-balanced", m, 2, 0x233010DE)
	require.NoError(t, err)
	require.Equal(t, []GPU{
		migGPU(0, "1g.10gb", "1g.10gb", "2g.20gb", "3g.40gb"), migGPU(1, "1g.10gb", "1g.10gb", "2g.20gb", "3g.40gb"),
	}, gpus)

	_, err = c.GPUs("inference-pool", m, 3, 0)
	require.ErrorContains(t, err, "inference-pool[2] lists gpu 3 but the node has 3")
	_, err = c.GPUs("inference-pool", m, 5, 0)
	require.ErrorContains(t, err, "gpu 4: no entry of inference-pool applies")
	_, err = c.GPUs("nope", m, 1, 0)
	require.ErrorContains(t, err, `no config named "nope" (have all-1g.10gb, all-balanced, all-disabled, inference-pool)`)

	overlap, err := ParseConfig(strings.NewReader("version: v1\nmig-configs:\n  x:\n    - {devices: all, mig-enabled: false}\n    - {devices: [1], mig-enabled: false}\n"))
	require.NoError(t, err)
	_, err = overlap.GPUs("x", m, 2, 0)
	require.ErrorContains(t, err, "gpu 1: entries x[0] and x[1] both apply")

	// The user's current config is where planning starts.
	gpus, err = c.GPUs("all-1g.10gb", m, 2, 0)
	require.NoError(t, err)
	gpus[0].Instances[0].Workload = "a"
	p, err := PlanNode(Node{Name: "n", Model: m, GPUs: gpus, Demands: []Demand{{"a", "1g.10gb", 1}, {"b", "3g.40gb", 1}}}, Options{})
	require.NoError(t, err)
	require.Equal(t, []int{1}, p.Changed)
	require.Empty(t, p.Disrupted)
}

func TestConfigRoundTrip(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"h100-current.yaml", "wrong-model.yaml"} {
		c, err := ParseConfig(bytes.NewReader(readConfig(t, f)))
		require.NoError(t, err)
		out, err := c.Marshal()
		require.NoError(t, err)
		back, err := ParseConfig(bytes.NewReader(out))
		require.NoError(t, err, "%s", out)
		require.Equal(t, c, back)
		again, err := back.Marshal()
		require.NoError(t, err)
		require.Equal(t, string(out), string(again), "canonical")
	}
}

// goldenNodes are the plans whose mig-parted YAML and table the golden
// files pin.
func goldenNodes(t testing.TB) (mig.Model, []Node) {
	m := h100(t)
	return m, []Node{
		{
			Name: "gpu-a", Model: m,
			GPUs: []GPU{
				migGPU(0, "3g.40gb=ml/train/main", "3g.40gb"),
				{Index: 1, Workload: "ml/old/main"},
				migGPU(2, ones(7, "web/ocr/0", "web/ocr/1")...),
				{Index: 3, Workload: "ml/big/main"},
			},
			Demands: []Demand{
				{"ml/train/main", "3g.40gb", 1},
				{"ml/big/main", WholeGPU, 1},
				{"ml/old/main", "2g.20gb", 1},
				{"web/ocr/0", "1g.10gb", 1},
				{"web/ocr/1", "1g.10gb", 1},
				{"web/embed/server", "2g.20gb", 2},
				{"web/asr/server", "1g.20gb", 1},
			},
		},
		{
			Name: "gpu-b", Model: m,
			GPUs:    []GPU{{Index: 0}, {Index: 1}},
			Demands: []Demand{{"batch/x/main", "3g.40gb", 2}, {"batch/y/main", "4g.40gb", 1}, {"batch/z/main", "7g.80gb", 1}},
		},
		{
			Name: "gpu-c", Model: m,
			GPUs:    []GPU{{Index: 0}, {Index: 1}},
			Demands: []Demand{{"batch/x/main", "3g.40gb", 2}, {"batch/y/main", "4g.40gb", 1}, {"batch/z/main", "7g.80gb", 1}},
		},
		{
			Name: "gpu-d", Model: m,
			GPUs:    []GPU{migGPU(0, "7g.80gb"), migGPU(1, "7g.80gb")},
			Demands: []Demand{{"dev/nb/main", "1g.10gb", 9}},
		},
	}
}

func TestGolden(t *testing.T) {
	t.Parallel()
	_, nodes := goldenNodes(t)
	for _, tc := range []struct {
		name  string
		nodes []Node
		opts  Options
	}{
		{"mixed-node", nodes[:1], Options{}},
		{"mixed-node-no-disruption", nodes[:1], Options{Policy: PolicyNoDisruption}},
		{"single-node", nodes[3:], Options{Strategy: StrategySingle}},
		{"fleet", nodes, Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := PlanFleet(tc.nodes, tc.opts)
			require.NoError(t, err)
			for i, np := range f.Nodes {
				checkPlan(t, tc.nodes[i], tc.opts, np)
			}
			var out []byte
			if len(f.Nodes) == 1 {
				out, err = f.Nodes[0].MigPartedYAML()
			} else {
				out, err = f.MigPartedYAML()
			}
			require.NoError(t, err)
			golden.Lines(t, filepath.Join("testdata", "golden", tc.name+".yaml"), string(out))
			// What we emit, mig-parted (and our own parser) reads.
			c, err := LoadConfig(bytes.NewReader(out), h100(t))
			require.NoError(t, err)
			for _, np := range f.Nodes {
				_, value := np.Label()
				gpus, err := c.GPUs(value, h100(t), np.Total, 0)
				require.NoError(t, err)
				for i, g := range gpus {
					require.Equal(t, np.GPUs[i].MIGEnabled, g.MIGEnabled)
					require.Len(t, g.Instances, len(np.GPUs[i].Instances))
				}
			}
			var table bytes.Buffer
			require.NoError(t, f.Table(&table))
			golden.Lines(t, filepath.Join("testdata", "golden", tc.name+".txt"), table.String())
		})
	}
}

// FuzzParseConfig feeds arbitrary bytes to the parser: it must not panic,
// and a config it accepts must survive Marshal and ParseConfig unchanged,
// and Validate and GPUs must not panic on it.
func FuzzParseConfig(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "config"))
	require.NoError(f, err)
	for _, e := range entries {
		f.Add(readConfig(f, e.Name()))
	}
	f.Add([]byte("version: v1\nmig-configs: {\"true\": [{devices: all, mig-enabled: false}]}\n"))
	f.Add([]byte("version: v1\nmig-configs: {a: [{devices: [0], device-filter: '0x233010DE:0x16C110DE', mig-enabled: true, mig-devices: {1g.10gb+me: 1}}]}\n"))
	m := h100(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(bytes.NewReader(data))
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidConfig)
			return
		}
		out, err := c.Marshal()
		require.NoError(t, err)
		back, err := ParseConfig(bytes.NewReader(out))
		require.NoError(t, err, "%s", out)
		require.Equal(t, c, back)
		if c.Validate(m) == nil {
			for name := range c.MIGConfigs {
				_, _ = c.GPUs(name, m, 8, 0)
			}
		}
	})
}
