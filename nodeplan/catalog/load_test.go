package catalog_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/nodeplan/catalog"
	"github.com/rightsizer/rightsizer/recommender"
)

// rows turns a catalog into the rows of its YAML or JSON form, keyed by
// the CSV's column names, leaving out empty GPU and spot values.
func rows(c *catalog.Catalog) []map[string]any {
	var out []map[string]any
	for _, in := range c.Instances() {
		r := map[string]any{
			"name": in.Name, "family": in.Family, "arch": in.Arch, "vcpu": in.VCPU,
			"mem_mib": int64(in.Memory / recommender.MiB), "alloc_cpu": fmt.Sprintf("%dm", in.Allocatable.CPU),
			"alloc_mem": int64(in.Allocatable.Memory), "alloc_pods": in.Allocatable.Pods,
			"price_od_" + c.Region(): json.Number(strconv.FormatFloat(in.PricePerHour, 'f', -1, 64)),
		}
		if in.GPUs > 0 {
			r["gpu_count"], r["gpu_name"], r["gpu_mem_mib"] = in.GPUs, in.GPUName, int64(in.GPUMemory/recommender.MiB)
			r["alloc_gpu"] = in.Allocatable.GPUs
		}
		if in.SpotPricePerHour > 0 {
			r["price_spot_"+c.Region()] = json.Number(strconv.FormatFloat(in.SpotPricePerHour, 'f', -1, 64))
		}
		out = append(out, r)
	}
	return out
}

// formatJSON writes a catalog as JSON.
func formatJSON(t testing.TB, c *catalog.Catalog) string {
	b, err := json.MarshalIndent(map[string]any{"instances": rows(c)}, "", " ")
	require.NoError(t, err)
	return string(b)
}

// formatYAML writes a catalog as block YAML, one key per line, keys in
// the CSV's order.
func formatYAML(c *catalog.Catalog) string {
	order := []string{"name", "family", "arch", "vcpu", "mem_mib", "gpu_count", "gpu_name", "gpu_mem_mib",
		"alloc_cpu", "alloc_mem", "alloc_pods", "alloc_gpu", "price_od_" + c.Region(), "price_spot_" + c.Region()}
	var b strings.Builder
	b.WriteString("# a catalog\ninstances:\n")
	for _, r := range rows(c) {
		lead := "  - "
		for _, k := range order {
			if v, ok := r[k]; ok {
				fmt.Fprintf(&b, "%s%s: %v\n", lead, k, v)
				lead = "    "
			}
		}
	}
	return b.String()
}

// withSpot returns the embedded catalog with a spot price on every
// second instance type.
func withSpot(t testing.TB) *catalog.Catalog {
	prices := map[string]catalog.PriceOverride{}
	for i, in := range catalog.AWSUSEast1().Instances() {
		if i%2 == 0 {
			prices[in.Name] = catalog.PriceOverride{Spot: 0.001 * float64(i+1)}
		}
	}
	c, err := catalog.AWSUSEast1().WithOverrides(catalog.Overrides{Prices: prices})
	require.NoError(t, err)
	return c
}

// TestLoadFormats reads one catalog written as CSV, YAML and JSON, under
// names that agree with the content, disagree, or are missing: the
// content decides.
func TestLoadFormats(t *testing.T) {
	t.Parallel()
	want := withSpot(t)
	files := map[string]string{"csv": format(want), "yaml": formatYAML(want), "json": formatJSON(t, want)}
	for kind, data := range files {
		for _, name := range []string{"", "catalog." + kind, "catalog.csv", "catalog.yaml", "catalog.json", "catalog.txt"} {
			t.Run(kind+"/"+name, func(t *testing.T) {
				t.Parallel()
				got, err := catalog.Load(strings.NewReader(data), name)
				require.NoError(t, err)
				require.Equal(t, want.Region(), got.Region())
				require.Equal(t, want.Instances(), got.Instances())
				require.Equal(t, want.GPUs(), got.GPUs())
				checkCatalog(t, got)
			})
		}
	}
}

// docYAML is the package documentation's example.
const docYAML = `instances:
  - {name: m5.large, family: m5, arch: amd64, vcpu: 2, mem_mib: 8192,
     alloc_cpu: 1930m, alloc_mem: 6903Mi, alloc_pods: 29,
     price_od_use1: 0.096, price_spot_use1: 0.0384}
  - {name: g5.xlarge, family: g5, arch: amd64, vcpu: 4, mem_mib: 16384,
     gpu_count: 1, gpu_name: a10g, gpu_mem_mib: 22888, alloc_cpu: 3920m,
     alloc_mem: 14162Mi, alloc_pods: 58, alloc_gpu: 1, price_od_use1: 1.006}
`

// TestLoadDocExample reads the package documentation's YAML to the
// embedded catalog's rows, plus the spot price, and its JSON twin, with
// nulls for the keys left out.
func TestLoadDocExample(t *testing.T) {
	t.Parallel()
	aws := catalog.AWSUSEast1()
	m5, _ := aws.Instance("m5.large")
	g5, _ := aws.Instance("g5.xlarge")
	m5.SpotPricePerHour = 0.0384
	for name, data := range map[string]string{
		"yaml":      docYAML,
		"yaml, BOM": "\ufeff" + docYAML,
		"json": `{"instances": [
			{"name": "m5.large", "family": "m5", "arch": "amd64", "vcpu": 2, "mem_mib": 8192, "gpu_count": null, "gpu_name": null,
			 "alloc_cpu": "1930m", "alloc_mem": "6903Mi", "alloc_pods": 29, "price_od_use1": 0.096, "price_spot_use1": 0.0384},
			{"name": "g5.xlarge", "family": "g5", "arch": "amd64", "vcpu": 4, "mem_mib": 16384, "gpu_count": 1, "gpu_name": "a10g",
			 "gpu_mem_mib": 22888, "alloc_cpu": "3920m", "alloc_mem": "14162Mi", "alloc_pods": 58, "alloc_gpu": 1, "price_od_use1": 1.006,
			 "price_spot_use1": null}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := catalog.Load(strings.NewReader(data), "")
			require.NoError(t, err)
			require.Equal(t, "use1", c.Region())
			require.Equal(t, []catalog.Instance{m5, g5}, c.Instances())
		})
	}
}

// TestLoadErrors pins the messages of bad YAML and JSON catalogs: each
// names the file, the line, the path and, when it has one, the instance
// type.
func TestLoadErrors(t *testing.T) {
	t.Parallel()
	m5 := "{name: m5.large, family: m5, arch: amd64, vcpu: 2, mem_mib: 8192, alloc_cpu: 1930m, alloc_mem: 6903Mi, alloc_pods: 29, price_od_use1: 0.096"
	one := func(extra string) string { return "instances:\n- " + m5 + extra + "}\n" }
	for _, tc := range []struct {
		name, file string
		want       []string // substrings of the error, in order
	}{
		{"empty", "", []string{"catalog c.yaml line 1: empty file"}},
		{"comments only", "# nothing\n", []string{"catalog c.yaml line 1: empty file"}},
		{"syntax", "instances:\n  - {name: a\n", []string{"catalog c.yaml line 1: did not find expected ',' or '}'"}},
		{"two documents", one("") + "---\n" + one(""), []string{"line 3: more than one YAML document"}},
		{"not a mapping", "- a\n- b\n", []string{"line 1: want a mapping, got a list"}},
		{"null", "~\n", []string{"line 1: want a mapping, got null"}},
		{"unknown top key", one("") + "region: use1\n", []string{"line 3, region: unknown key: want instances"}},
		{"no instances key", "{}\n", []string{"line 1, instances: missing key"}},
		{"instances not a list", "instances: {a: 1}\n", []string{"line 1, instances: want a list of instance types, got a mapping"}},
		{"no instances", "instances: []\n", []string{"line 1, instances: no instance types"}},
		{"row not a mapping", "instances: [m5.large]\n", []string{"line 1, instances[0]: want a mapping, got \"m5.large\""}},
		{"unknown key", one(", spot: 0.03"),
			[]string{`line 2, instances[0].spot (instance "m5.large"): unknown key`}},
		{"repeated key", one(", vcpu: 4"),
			[]string{`line 2, instances[0].vcpu (instance "m5.large"): repeated key (first at line 2)`}},
		{"missing keys", "instances:\n- {name: m5.large, family: m5}\n",
			[]string{`instances[0].arch (instance "m5.large"): missing key`, "instances[0].price_od_<region>", "missing key"}},
		{"list value", one(", gpu_name: [a10g]"),
			[]string{`instances[0].gpu_name (instance "m5.large"): want a single value, got a list`}},
		{"alias", "base: &b 2\ninstances:\n- " + m5 + ", gpu_count: *b}\n",
			[]string{"line 1, base: unknown key"}},
		{"alias in row", "instances:\n- &r " + m5 + "}\n- *r\n",
			[]string{"line 3, instances[1]: want a mapping, got an alias (*r), which is not supported"}},
		{"merge key", "instances:\n- &r " + m5 + "}\n- {<<: *r, name: m5.xlarge}\n",
			[]string{`instances[1].<< (instance "m5.xlarge"): unknown key`}},
		{"NaN vcpu", strings.Replace(one(""), "vcpu: 2", "vcpu: .nan", 1),
			[]string{`line 2, instances[0].vcpu (instance "m5.large"): want an integer in [1, 16384], got ".nan"`}},
		{"float vcpu", strings.Replace(one(""), "vcpu: 2", "vcpu: 2.0", 1),
			[]string{`instances[0].vcpu (instance "m5.large"): want an integer`}},
		{"hex vcpu", strings.Replace(one(""), "vcpu: 2", "vcpu: 0x2", 1),
			[]string{`instances[0].vcpu (instance "m5.large"): want an integer`}},
		{"huge memory", strings.Replace(one(""), "mem_mib: 8192", "mem_mib: 99999999999999999999", 1),
			[]string{`instances[0].mem_mib (instance "m5.large"): want an integer in [1, 1073741824]`}},
		{"negative price", strings.Replace(one(""), "0.096", "-0.096", 1),
			[]string{`instances[0].price_od_use1 (instance "m5.large"): want a price in USD per hour in (0, 100000], got "-0.096"`}},
		{"infinite price", strings.Replace(one(""), "0.096", ".inf", 1),
			[]string{`instances[0].price_od_use1 (instance "m5.large"): want a price`}},
		{"exponent price", strings.Replace(one(""), "0.096", "9.6e-2", 1),
			[]string{`instances[0].price_od_use1 (instance "m5.large"): want a price`}},
		{"bad spot", one(", price_spot_use1: 0"),
			[]string{`instances[0].price_spot_use1 (instance "m5.large"): want a price`}},
		{"two on-demand prices", one(", price_od_usw2: 0.1"),
			[]string{`instances[0].price_od_usw2 (instance "m5.large"): second price_od_<region> key (first at line 2)`}},
		{"control byte in region", one(`, "price_spot_\x7f": 0.03`),
			[]string{`instances[0]."price_spot_\x7f" (instance "m5.large"): region "\x7f": want a-z, 0-9 and '-', 1 to 63 long`}},
		{"spot region differs", one(", price_spot_usw2: 0.03"),
			[]string{`instances[0].price_spot_usw2 (instance "m5.large"): region "usw2" differs from "use1" (line 2): a catalog has one region`}},
		{"rows' regions differ", one("") + "- " + strings.Replace(strings.Replace(m5, "use1", "usw2", 1), "m5.large", "m5.xlarge", 1) + "}\n",
			[]string{`line 3, instances[1].price_od_usw2 (instance "m5.xlarge"): region "usw2" differs from "use1" (line 2)`}},
		{"duplicate instance", "instances:\n- " + m5 + "}\n- " + m5 + "}\n",
			[]string{`line 3, instances[1].name (instance "m5.large"): duplicate instance type (first at instances[0])`}},
		{"allocatable above capacity", strings.Replace(one(""), "1930m", "3", 1),
			[]string{`instances[0].alloc_cpu (instance "m5.large"): want a quantity in (0, 2], got "3"`}},
		{"JSON unknown key", `{"instances": [{"name": "m5.large", "vcpus": 2}]}`,
			[]string{`line 1, instances[0].vcpus (instance "m5.large"): unknown key`}},
		{"JSON duplicate key", `{"instances": [], "instances": []}`,
			[]string{`line 1, instances: repeated key (first at line 1)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := catalog.Load(strings.NewReader(tc.file), "c.yaml")
			require.Error(t, err)
			require.Nil(t, c)
			requireParseError(t, err, tc.want)
		})
	}
}

// TestLoadErrorLimit reports ten problems of a YAML file and counts the
// rest.
func TestLoadErrorLimit(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("instances:\n")
	for i := range 25 {
		fmt.Fprintf(&b, "- {name: c5.x%d, family: c5, arch: amd64, vcpu: 0, mem_mib: 4096, alloc_cpu: 1930m, alloc_mem: 3114Mi, alloc_pods: 29, price_od_use1: 0.085}\n", i)
	}
	_, err := catalog.Load(strings.NewReader(b.String()), "")
	require.ErrorContains(t, err, `catalog line 11, instances[9].vcpu (instance "c5.x9")`)
	require.NotContains(t, err.Error(), "instances[10]")
	require.ErrorContains(t, err, "and 15 more problems")
}

// TestLoadSize refuses input above MaxFileBytes, and YAML and JSON above
// MaxYAMLBytes, and takes input of exactly those sizes.
func TestLoadSize(t *testing.T) {
	t.Parallel()
	csv := format(catalog.AWSUSEast1())
	padded := csv + strings.Repeat("\n", catalog.MaxFileBytes-len(csv))
	c, err := catalog.Load(strings.NewReader(padded), "big.csv")
	require.NoError(t, err)
	require.Len(t, c.Instances(), 172)
	_, err = catalog.Load(strings.NewReader(padded+"\n"), "big.csv")
	require.EqualError(t, err, "catalog big.csv: larger than 16777216 bytes")
	_, err = catalog.LoadOverrides(strings.NewReader(padded+"\n"), "")
	require.EqualError(t, err, "price overrides : larger than 16777216 bytes")

	yaml := formatYAML(catalog.AWSUSEast1())
	padded = yaml + strings.Repeat("\n", catalog.MaxYAMLBytes-len(yaml))
	c, err = catalog.Load(strings.NewReader(padded), "big.yaml")
	require.NoError(t, err)
	require.Len(t, c.Instances(), 172)
	_, err = catalog.Load(strings.NewReader(padded+"\n"), "big.yaml")
	require.EqualError(t, err, "catalog big.yaml: YAML or JSON larger than 4194304 bytes: write it as CSV")
	_, err = catalog.LoadOverrides(strings.NewReader("{}"+strings.Repeat(" ", catalog.MaxYAMLBytes)), "o.json")
	require.EqualError(t, err, "price overrides o.json: YAML or JSON larger than 4194304 bytes: write it as CSV")
}

// TestLoadFile reads a file by path and names it in errors.
func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(good, []byte(docYAML), 0o600))
	require.NoError(t, os.WriteFile(bad, []byte(`{"instances": 3}`), 0o600))
	c, err := catalog.LoadFile(good)
	require.NoError(t, err)
	require.Len(t, c.Instances(), 2)
	_, err = catalog.LoadFile(bad)
	require.ErrorContains(t, err, "catalog "+bad+" line 1, instances: want a list of instance types, got \"3\"")
	_, err = catalog.LoadFile(filepath.Join(dir, "missing.csv"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// FuzzLoad feeds arbitrary files to Load: it never panics, and whatever
// it accepts holds the catalog's invariants and reads back the same from
// CSV and YAML. Seeds in testdata/fuzz/FuzzLoad and below.
func FuzzLoad(f *testing.F) {
	f.Add(docYAML, "")
	f.Add(header+goodRows, "x.yaml")
	f.Add(spotHeader+"c5.large,c5,amd64,2,4096,,,,1930m,3114Mi,29,,0.085,0.03\n", "")
	f.Add(`{"instances": [{"name": "a.b", "family": "a", "arch": "arm64", "vcpu": 1, "mem_mib": 1, "alloc_cpu": 1, "alloc_mem": 1,`+
		` "alloc_pods": 1, "price_od_x": 7}]}`, "c.json")
	f.Add("instances:\n- &r {name: a.b}\n- *r\n- {<<: *r}\n", "")
	f.Add("%YAML 1.2\n---\ninstances: !!seq []\n", "")
	f.Add("instances:\n- name: g.x\n  family: g\n  arch: amd64\n  vcpu: 4\n  mem_mib: 16384\n  gpu_count: 1\n  gpu_name: t4\n"+
		"  gpu_mem_mib: 16384\n  alloc_cpu: \"3.92\"\n  alloc_mem: 14Gi\n  alloc_pods: 58\n  alloc_gpu: 1\n  price_od_r: 0.5\n", "")
	f.Fuzz(func(t *testing.T, file, name string) {
		c, err := catalog.Load(strings.NewReader(file), name)
		if err != nil {
			require.Nil(t, c)
			return
		}
		checkCatalog(t, c)
		checkLabels(t, c)
		for _, again := range []string{format(c), formatYAML(c)} {
			d, err := catalog.Load(strings.NewReader(again), "")
			require.NoError(t, err, "re-load of %q", again)
			require.Equal(t, c.Instances(), d.Instances())
		}
	})
}

// BenchmarkLoad reads the embedded catalog's 172 rows as CSV, YAML and
// JSON.
func BenchmarkLoad(b *testing.B) {
	c := withSpot(b)
	for _, f := range []struct{ name, data string }{{"csv", format(c)}, {"yaml", formatYAML(c)}, {"json", formatJSON(b, c)}} {
		b.Run(f.name, func(b *testing.B) {
			b.SetBytes(int64(len(f.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := catalog.Load(strings.NewReader(f.data), ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
