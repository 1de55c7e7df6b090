package catalog_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rightsizer/rightsizer/gpu/mig"
	"github.com/rightsizer/rightsizer/nodeplan/catalog"
	"github.com/rightsizer/rightsizer/recommender"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestAWSUSEast1 pins the embedded catalog: its size, a CPU row and a GPU
// row field by field.
func TestAWSUSEast1(t *testing.T) {
	t.Parallel()
	c := catalog.AWSUSEast1()
	require.Same(t, c, catalog.AWSUSEast1(), "parsed once and shared")
	require.Equal(t, "use1", c.Region())
	require.Len(t, c.Instances(), 172)

	got, ok := c.Instance("c5.large")
	require.True(t, ok)
	require.Equal(t, catalog.Instance{
		Name: "c5.large", Family: "c5", Arch: "amd64", VCPU: 2, Memory: 4096 * recommender.MiB,
		Allocatable:  catalog.Allocatable{CPU: 1930, Memory: 3114 * recommender.MiB, Pods: 29},
		PricePerHour: 0.085,
	}, got)

	got, ok = c.Instance("p5.48xlarge")
	require.True(t, ok)
	require.Equal(t, catalog.Instance{
		Name: "p5.48xlarge", Family: "p5", Arch: "amd64", VCPU: 192, Memory: 2097152 * recommender.MiB,
		GPUs: 8, GPUName: "h100", GPUModel: "H100-80GB", GPUMemory: 81920 * recommender.MiB,
		Allocatable:  catalog.Allocatable{CPU: 191450, Memory: 1938410 * recommender.MiB, Pods: 100, GPUs: 8},
		PricePerHour: 55.04,
	}, got)

	_, ok = c.Instance("p9.nothing")
	require.False(t, ok)

	// Copies: the caller may not change the catalog.
	ins := c.Instances()
	ins[0].Name = "changed"
	require.NotEqual(t, "changed", c.Instances()[0].Name)
}

// TestGPUPricePerHour pins the price per GPU-hour of every GPU model in the
// embedded catalog against research/gpu.md §5.1: the cheapest instance per
// GPU wins (g4dn.xlarge's T4 at 0.526, not g4dn.12xlarge's at 0.978), and
// among equal prices the instance with fewer GPUs (p5.4xlarge over
// p5.48xlarge, both 6.88).
func TestGPUPricePerHour(t *testing.T) {
	t.Parallel()
	want := []catalog.GPU{
		{Model: "A100-40GB", Memory: 40960 * recommender.MiB, PricePerHour: 21.957642 / 8, Instance: "p4d.24xlarge", InstanceGPUs: 8},
		{Model: "A10G-24GB", Memory: 22888 * recommender.MiB, PricePerHour: 1.006, Instance: "g5.xlarge", InstanceGPUs: 1},
		{Model: "H100-80GB", Memory: 81920 * recommender.MiB, PricePerHour: 6.88, Instance: "p5.4xlarge", InstanceGPUs: 1},
		{Model: "H200-141GB", Memory: 144384 * recommender.MiB, PricePerHour: 63.296 / 8, Instance: "p5en.48xlarge", InstanceGPUs: 8},
		{Model: "L4-24GB", Memory: 22888 * recommender.MiB, PricePerHour: 0.8048, Instance: "g6.xlarge", InstanceGPUs: 1},
		{Model: "L40S-48GB", Memory: 45776 * recommender.MiB, PricePerHour: 1.861, Instance: "g6e.xlarge", InstanceGPUs: 1},
		{Model: "T4-16GB", Memory: 16384 * recommender.MiB, PricePerHour: 0.526, Instance: "g4dn.xlarge", InstanceGPUs: 1},
	}
	require.Equal(t, want, catalog.AWSUSEast1().GPUs())
	for _, g := range want {
		p, ok := catalog.GPUPricePerHour(g.Model)
		require.True(t, ok, g.Model)
		require.InDelta(t, g.PricePerHour, p, 1e-12, g.Model)
		got, ok := catalog.AWSUSEast1().GPU(g.Model)
		require.True(t, ok)
		require.Equal(t, g, got)
	}
	// research/gpu.md §5.1's per-GPU column, to its three decimals.
	for model, perGPU := range map[string]float64{"A100-40GB": 2.745, "H100-80GB": 6.880, "H200-141GB": 7.912} {
		p, _ := catalog.GPUPricePerHour(model)
		require.InDelta(t, perGPU, p, 0.0005, model)
	}
	// p4de (A100-80GB) and B200 are not in this price list.
	for _, model := range []string{"A100-80GB", "B200-180GB", "nope"} {
		_, ok := catalog.GPUPricePerHour(model)
		require.False(t, ok, model)
	}
}

// TestModelNamesMatchMIG checks that the catalog's MIG-capable GPUs carry
// package gpu/mig's model names, and that their memory agrees with the
// model's: the shape recommender joins the two by name.
func TestModelNamesMatchMIG(t *testing.T) {
	t.Parallel()
	models := map[string]mig.Model{}
	for _, m := range mig.Models() {
		models[m.Name] = m
	}
	var migCapable []string
	for _, g := range catalog.AWSUSEast1().GPUs() {
		m, ok := models[g.Model]
		if !ok {
			continue
		}
		migCapable = append(migCapable, g.Model)
		// The catalog lists GiB (81920 MiB for an "80GB" H100, 144384 for
		// a "141GB" H200): the model's marketing GB, as GiB.
		require.Equal(t, m.MemoryGB, int(g.Memory/recommender.GiB), g.Model)
	}
	require.Equal(t, []string{"A100-40GB", "H100-80GB", "H200-141GB"}, migCapable)

	for _, tc := range []struct {
		name string
		mib  int64
		want string
		mig  bool // a gpu/mig model
	}{
		{"a100", 40960, "A100-40GB", true}, {"A100", 81920, "A100-80GB", true},
		{"h100", 81920, "H100-80GB", true}, {"h100", 96256, "H100-94GB", true},
		{"h200", 144384, "H200-141GB", true}, {"b200", 184320, "B200-180GB", true},
		{"t4", 16384, "T4-16GB", false}, {"a10g", 22888, "A10G-24GB", false},
		{"l4", 22888, "L4-24GB", false}, {"l40s", 45776, "L40S-48GB", false},
		{"rtx-pro-6000", 98304, "RTX-PRO-6000-96GB", false},
	} {
		require.Equal(t, tc.want, catalog.ModelName(tc.name, tc.mib), "%s %d", tc.name, tc.mib)
		_, ok := models[tc.want]
		require.Equal(t, tc.mig, ok, "%s: a MIG-capable GPU's name must be a gpu/mig model", tc.want)
	}
}

const header = "name,family,arch,vcpu,mem_mib,gpu_count,gpu_name,gpu_mem_mib,alloc_cpu,alloc_mem,alloc_pods,alloc_gpu,price_od_use1\n"

const goodRows = "c5.large,c5,amd64,2,4096,,,,1930m,3114Mi,29,,0.085\n" +
	"p5.48xlarge,p5,amd64,192,2097152,8,h100,81920,191450m,1938410Mi,100,8,55.04\n"

// TestParseColumnOrder reads columns by name: a file with its columns in
// another order and CRLF line endings parses to the same catalog.
func TestParseColumnOrder(t *testing.T) {
	t.Parallel()
	want, err := catalog.Parse(strings.NewReader(header + goodRows))
	require.NoError(t, err)
	permuted := "price_od_use1,alloc_gpu,name,family,arch,vcpu,mem_mib,gpu_count,gpu_name,gpu_mem_mib,alloc_cpu,alloc_mem,alloc_pods\r\n" +
		"0.085,,c5.large,c5,amd64,2,4096,,,,1930m,3114Mi,29\r\n" +
		"55.04,8,p5.48xlarge,p5,amd64,192,2097152,8,h100,81920,191450m,1938410Mi,100\r\n"
	got, err := catalog.Parse(strings.NewReader(permuted))
	require.NoError(t, err)
	require.Equal(t, want.Instances(), got.Instances())
	require.Equal(t, want.GPUs(), got.GPUs())
	bom, err := catalog.Parse(strings.NewReader("\ufeff" + header + goodRows))
	require.NoError(t, err)
	require.Equal(t, want.Instances(), bom.Instances())
}

const spotHeader = "name,family,arch,vcpu,mem_mib,gpu_count,gpu_name,gpu_mem_mib,alloc_cpu,alloc_mem,alloc_pods,alloc_gpu,price_od_use1,price_spot_use1\n"

// TestParseSpot reads the optional spot price column: a price, or empty
// for not known; without the column no spot price is known.
func TestParseSpot(t *testing.T) {
	t.Parallel()
	c, err := catalog.Parse(strings.NewReader(spotHeader +
		"c5.large,c5,amd64,2,4096,,,,1930m,3114Mi,29,,0.085,0.0331\n" +
		"p5.48xlarge,p5,amd64,192,2097152,8,h100,81920,191450m,1938410Mi,100,8,55.04,\n"))
	require.NoError(t, err)
	in, _ := c.Instance("c5.large")
	require.InDelta(t, 0.0331, in.SpotPricePerHour, 0)
	in, _ = c.Instance("p5.48xlarge")
	require.Zero(t, in.SpotPricePerHour)
	for _, in := range catalog.AWSUSEast1().Instances() {
		require.Zero(t, in.SpotPricePerHour, in.Name)
	}
}

// TestParseErrors pins the messages of bad files: each names the line and,
// for a field, the column.
func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file string
		want       []string // substrings of the error, in order
	}{
		{"empty", "", []string{"catalog line 1: empty file: want a header"}},
		{"missing column", strings.Replace(header, "arch,", "", 1) + "c5.large,c5,2,4096,,,,1930m,3114Mi,29,,0.085\n",
			[]string{"catalog line 1, column arch: missing column"}},
		{"no price column", strings.Replace(header, ",price_od_use1", "", 1),
			[]string{"catalog line 1, column price_od_<region>: missing column"}},
		{"unknown column", strings.TrimSuffix(header, "\n") + ",spot\n",
			[]string{"catalog line 1, column spot: unknown column"}},
		{"duplicate column", strings.Replace(header, "arch,", "arch,arch,", 1),
			[]string{"catalog line 1, column arch: duplicate column"}},
		{"two price columns", strings.TrimSuffix(header, "\n") + ",price_od_usw2\n",
			[]string{"catalog line 1, column price_od_usw2: second price column (first price_od_use1)"}},
		{"no rows", header, []string{"catalog line 2: no instance types"}},
		{"bad vcpu", header + goodRows + "c5.xlarge,c5,amd64,four,8192,,,,3920m,6584Mi,58,,0.17\n",
			[]string{"catalog line 4, column vcpu: want an integer in [1, 16384], got \"four\""}},
		{"signed vcpu", header + "c5.xlarge,c5,amd64,+4,8192,,,,3920m,6584Mi,58,,0.17\n",
			[]string{"line 2, column vcpu: want an integer"}},
		{"zero memory", header + "c5.xlarge,c5,amd64,4,0,,,,3920m,6584Mi,58,,0.17\n",
			[]string{"line 2, column mem_mib: want an integer in [1, 1073741824], got \"0\""}},
		{"bad price", header + "c5.xlarge,c5,amd64,4,8192,,,,3920m,6584Mi,58,,-1\n",
			[]string{"line 2, column price_od_<region>: want a price in USD per hour in (0, 100000], got \"-1\""}},
		{"hex price", header + "c5.xlarge,c5,amd64,4,8192,,,,3920m,6584Mi,58,,0x1p-2\n",
			[]string{"line 2, column price_od_<region>: want a price"}},
		{"NaN price", header + "c5.xlarge,c5,amd64,4,8192,,,,3920m,6584Mi,58,,NaN\n",
			[]string{"line 2, column price_od_<region>: want a price"}},
		{"gpus without name", header + "g5.xlarge,g5,amd64,4,16384,1,,22888,3920m,14162Mi,58,1,1.006\n",
			[]string{"line 2, column gpu_name: want a GPU name of [a-z0-9-] for 1 GPUs, got \"\""}},
		{"gpus without memory", header + "g5.xlarge,g5,amd64,4,16384,1,a10g,,3920m,14162Mi,58,1,1.006\n",
			[]string{"line 2, column gpu_mem_mib: want the memory of its 1 GPUs"}},
		{"gpu name without count", header + "g5.xlarge,g5,amd64,4,16384,,a10g,22888,3920m,14162Mi,58,,1.006\n",
			[]string{"line 2, column gpu_count: want a GPU count with gpu_name \"a10g\""}},
		{"allocatable gpus above gpus", header + "g5.xlarge,g5,amd64,4,16384,1,a10g,22888,3920m,14162Mi,58,2,1.006\n",
			[]string{"line 2, column alloc_gpu: want an integer in [0, 1], got \"2\""}},
		{"allocatable cpu above vcpu", header + "c5.xlarge,c5,amd64,4,8192,,,,4001m,6584Mi,58,,0.17\n",
			[]string{"line 2, column alloc_cpu: want a quantity in (0, 4], got \"4001m\""}},
		{"allocatable memory not a quantity", header + "c5.xlarge,c5,amd64,4,8192,,,,3920m,6584MB,58,,0.17\n",
			[]string{"line 2, column alloc_mem: want a Kubernetes quantity, got \"6584MB\""}},
		{"allocatable memory above memory", header + "c5.xlarge,c5,amd64,4,8192,,,,3920m,9Gi,58,,0.17\n",
			[]string{"line 2, column alloc_mem: want a quantity in (0, 8Gi], got \"9Gi\""}},
		{"huge exponent", header + "c5.xlarge,c5,amd64,4,8192,,,,3920m,1e1000000000,58,,0.17\n",
			[]string{"line 2, column alloc_mem: want a Kubernetes quantity, got \"1e1000000000\""}},
		{"tiny exponent", header + "c5.xlarge,c5,amd64,4,8192,,,,1e-9999999,6584Mi,58,,0.17\n",
			[]string{"line 2, column alloc_cpu: want a Kubernetes quantity, got \"1e-9999999\""}},
		{"long quantity", header + "c5.xlarge,c5,amd64,4,8192,,,,3920m," + strings.Repeat("0", 65) + "1,58,,0.17\n",
			[]string{"line 2, column alloc_mem: want a Kubernetes quantity"}},
		{"bad arch", header + "c5.xlarge,c5,x86,4,8192,,,,3920m,6584Mi,58,,0.17\n",
			[]string{"line 2, column arch: want amd64 or arm64, got \"x86\""}},
		{"name outside family", header + "c6.xlarge,c5,amd64,4,8192,,,,3920m,6584Mi,58,,0.17\n",
			[]string{"line 2, column name: want c5.<size>, got \"c6.xlarge\""}},
		{"family ends in a dash", header + "c5-.xlarge,c5-,amd64,4,8192,,,,3920m,6584Mi,58,,0.17\n",
			[]string{"line 2, column family: want a name of [a-z0-9-], 1 to 63 long, starting and ending with a letter or digit, got \"c5-\""}},
		{"size starts with a dash", header + "c5.-xlarge,c5,amd64,4,8192,,,,3920m,6584Mi,58,,0.17\n",
			[]string{"line 2, column name: want c5.<size>, got \"c5.-xlarge\""}},
		{"name too long", header + "c5." + strings.Repeat("x", 61) + ",c5,amd64,4,8192,,,,3920m,6584Mi,58,,0.17\n",
			[]string{"line 2, column name: want at most 63 bytes (a label value), got 64"}},
		{"long value clipped", header + "c5.xlarge,c5,amd64," + strings.Repeat("9", 100) + ",8192,,,,3920m,6584Mi,58,,0.17\n",
			[]string{"line 2, column vcpu: want an integer in [1, 16384], got \"" + strings.Repeat("9", 64) + "…\""}},
		{"duplicate instance", header + goodRows + "c5.large,c5,amd64,2,4096,,,,1930m,3114Mi,29,,0.085\n",
			[]string{"catalog line 4, column name: duplicate instance type \"c5.large\" (first at line 2)"}},
		{"short row", header + "c5.large,c5,amd64,2,4096\n" + goodRows,
			[]string{"catalog line 2: wrong number of fields"}},
		{"bare quote", header + "c5.la\"rge,c5,amd64,2,4096,,,,1930m,3114Mi,29,,0.085\n",
			[]string{"catalog line 2: bare \" in non-quoted-field"}},
		{"every problem of a row", header + "c5.xlarge,c5,amd64,0,0,,,,3920m,6584Mi,58,,0\n",
			[]string{"column vcpu", "column mem_mib", "column price_od_<region>"}},
		{"spot region differs", strings.Replace(spotHeader, "price_spot_use1", "price_spot_usw2", 1),
			[]string{"catalog line 1, column price_spot_usw2: region \"usw2\" differs from the on-demand column's price_od_use1"}},
		{"control byte in region", strings.Replace(header, "price_od_use1", "price_od_\x7f", 1) + goodRows,
			[]string{`catalog line 1, column "price_od_\x7f": region "\x7f": want a-z, 0-9 and '-', 1 to 63 long`}},
		{"capital region", strings.Replace(spotHeader, "price_spot_use1", "price_spot_USE1", 1),
			[]string{`column price_spot_USE1: region "USE1": want a-z`}},
		{"two spot columns", strings.TrimSuffix(spotHeader, "\n") + ",price_spot_usw2\n",
			[]string{"catalog line 1, column price_spot_usw2: second price column (first price_spot_use1)"}},
		{"spot column only", strings.Replace(spotHeader, "price_od_use1,", "", 1),
			[]string{"catalog line 1, column price_od_<region>: missing column"}},
		{"bad spot price", spotHeader + "c5.large,c5,amd64,2,4096,,,,1930m,3114Mi,29,,0.085,-0.03\n",
			[]string{"catalog line 2, column price_spot_<region>: want a price in USD per hour in (0, 100000], got \"-0.03\""}},
		{"zero spot price", spotHeader + "c5.large,c5,amd64,2,4096,,,,1930m,3114Mi,29,,0.085,0\n",
			[]string{"catalog line 2, column price_spot_<region>: want a price"}},
		{"huge spot price", spotHeader + "c5.large,c5,amd64,2,4096,,,,1930m,3114Mi,29,,0.085,1000000\n",
			[]string{"catalog line 2, column price_spot_<region>: want a price"}},
		{"NaN spot price", spotHeader + "c5.large,c5,amd64,2,4096,,,,1930m,3114Mi,29,,0.085,NaN\n",
			[]string{"catalog line 2, column price_spot_<region>: want a price"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := catalog.Parse(strings.NewReader(tc.file))
			require.Error(t, err)
			require.Nil(t, c)
			requireParseError(t, err, tc.want)
		})
	}
}

// TestParseErrorLimit reports ten problems and counts the rest.
func TestParseErrorLimit(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(header)
	for i := range 25 {
		fmt.Fprintf(&b, "c5.x%d,c5,amd64,0,4096,,,,1930m,3114Mi,29,,0.085\n", i)
	}
	_, err := catalog.Parse(strings.NewReader(b.String()))
	require.ErrorContains(t, err, "catalog line 11, column vcpu")
	require.NotContains(t, err.Error(), "catalog line 12,")
	require.ErrorContains(t, err, "and 15 more problems")
}

// format writes a catalog back as CSV, in the canonical column order, with
// a spot price column.
func format(c *catalog.Catalog) string {
	var b strings.Builder
	b.WriteString(strings.Replace(strings.TrimSuffix(header, "\n"), "use1", c.Region(), 1) + ",price_spot_" + c.Region() + "\n")
	opt := func(n int64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatInt(n, 10)
	}
	for _, in := range c.Instances() {
		spot := ""
		if in.SpotPricePerHour > 0 {
			spot = strconv.FormatFloat(in.SpotPricePerHour, 'f', -1, 64)
		}
		fmt.Fprintf(&b, "%s,%s,%s,%d,%d,%s,%s,%s,%dm,%d,%d,%s,%s,%s\n", in.Name, in.Family, in.Arch, in.VCPU,
			in.Memory/recommender.MiB, opt(int64(in.GPUs)), in.GPUName, opt(int64(in.GPUMemory/recommender.MiB)),
			in.Allocatable.CPU, in.Allocatable.Memory, in.Allocatable.Pods, opt(int64(in.Allocatable.GPUs)),
			strconv.FormatFloat(in.PricePerHour, 'f', -1, 64), spot)
	}
	return b.String()
}

// checkCatalog checks the invariants every parsed catalog holds.
func checkCatalog(t *testing.T, c *catalog.Catalog) {
	t.Helper()
	ins := c.Instances()
	require.NotEmpty(t, ins)
	names := map[string]bool{}
	perModel := map[string]float64{}
	for _, in := range ins {
		require.False(t, names[in.Name], "duplicate %s", in.Name)
		names[in.Name] = true
		require.True(t, strings.HasPrefix(in.Name, in.Family+"."), in.Name)
		require.Positive(t, in.VCPU)
		require.Positive(t, in.Memory)
		require.Positive(t, in.Allocatable.CPU)
		require.LessOrEqual(t, in.Allocatable.CPU, recommender.MilliCPU(in.VCPU*1000))
		require.Positive(t, in.Allocatable.Memory)
		require.LessOrEqual(t, in.Allocatable.Memory, in.Memory)
		require.LessOrEqual(t, in.Allocatable.GPUs, in.GPUs)
		require.True(t, in.PricePerHour > 0 && !math.IsInf(in.PricePerHour, 0), in.PricePerHour)
		require.True(t, in.SpotPricePerHour >= 0 && !math.IsInf(in.SpotPricePerHour, 0), in.SpotPricePerHour)
		if in.GPUs > 0 {
			require.NotEmpty(t, in.GPUModel)
			require.Positive(t, in.GPUMemory)
			p := in.PricePerHour / float64(in.GPUs)
			if q, ok := perModel[in.GPUModel]; !ok || p < q {
				perModel[in.GPUModel] = p
			}
		} else {
			require.Empty(t, in.GPUName+in.GPUModel)
			require.Zero(t, in.GPUMemory)
		}
		got, ok := c.Instance(in.Name)
		require.True(t, ok)
		require.Equal(t, in, got)
	}
	gpus := c.GPUs()
	require.Len(t, gpus, len(perModel))
	require.True(t, slices.IsSortedFunc(gpus, func(a, b catalog.GPU) int { return strings.Compare(a.Model, b.Model) }))
	for _, g := range gpus {
		require.Equal(t, perModel[g.Model], g.PricePerHour, g.Model)
	}
}

// TestRoundTrip writes the embedded catalog back and parses it again.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	c := catalog.AWSUSEast1()
	checkCatalog(t, c)
	again, err := catalog.Parse(strings.NewReader(format(c)))
	require.NoError(t, err)
	require.Equal(t, c.Instances(), again.Instances())
	require.Equal(t, c.GPUs(), again.GPUs())
}

// FuzzParse feeds arbitrary files to Parse: it never panics, and whatever
// it accepts holds the catalog's invariants and survives a round trip.
// Seeds in testdata/fuzz/FuzzParse and below.
func FuzzParse(f *testing.F) {
	f.Add(header + goodRows)
	f.Add(header + "g5.xlarge,g5,amd64,4,16384,1,a10g,22888,3920m,14162Mi,58,1,1.006\r\n")
	f.Add(header + "c5.large,c5,amd64,2,4096,0,,0,1.5,3e9,29,0,1e-3\n")
	f.Add("price_od_x,name,family,arch,vcpu,mem_mib,gpu_count,gpu_name,gpu_mem_mib,alloc_cpu,alloc_mem,alloc_pods,alloc_gpu\n" +
		"7,\"a.b\",a,arm64,1,1,,,1m,1,1,,\n")
	f.Add(header + "c5.large,c5,amd64,2,4096,,,,1930m,3114Mi,29,,.5\nc5.large,c5,amd64,2,4096,,,,1930m,3114Mi,29,,5.\n")
	f.Add(spotHeader + "c5.large,c5,amd64,2,4096,,,,1930m,3114Mi,29,,0.085,0.034\nc5.xlarge,c5,amd64,4,8192,,,,3920m,6584Mi,58,,0.17,\n")
	f.Add(header + "c5.large,c5,amd64,2,4096,,,,1.93e3m,3.114E+9,29,,0.085\nc5.xlarge,c5,amd64,4,8192,,,,3920m,6Gi,58,,0.17\n")
	f.Add("price_spot_use1," + header + "0.03,c5.large,c5,amd64,2,4096,,,,1930m,3114Mi,29,,0.085\n")
	f.Fuzz(func(t *testing.T, file string) {
		c, err := catalog.Parse(strings.NewReader(file))
		if err != nil {
			require.Nil(t, c)
			return
		}
		checkCatalog(t, c)
		again, err := catalog.Parse(strings.NewReader(format(c)))
		require.NoError(t, err, "re-parse of %q", format(c))
		require.Equal(t, c.Instances(), again.Instances())
	})
}

// requireParseError checks that err is a *catalog.ParseError with a line
// whose message holds each of want, in order.
func requireParseError(t *testing.T, err error, want []string) {
	t.Helper()
	requireErrorHolds(t, err, want)
	var pe *catalog.ParseError
	require.True(t, errors.As(err, &pe), "%T", err)
	require.Positive(t, pe.Line)
}

// requireErrorHolds checks that err's message holds each of want, in
// order.
func requireErrorHolds(t *testing.T, err error, want []string) {
	t.Helper()
	require.Error(t, err)
	msg := err.Error()
	for _, w := range want {
		i := strings.Index(msg, w)
		require.GreaterOrEqual(t, i, 0, "error %q lacks %q", err, w)
		msg = msg[i+len(w):]
	}
}
