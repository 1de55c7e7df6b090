package catalog_test

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/nodeplan/catalog"
)

// TestWithOverrides pins the price rules on two instance types, one with
// a spot price in the catalog (c5.large, 0.03) and one without
// (m5.large), both with list prices 0.085 and 0.096.
func TestWithOverrides(t *testing.T) {
	t.Parallel()
	base, err := catalog.Parse(strings.NewReader(spotHeader +
		"c5.large,c5,amd64,2,4096,,,,1930m,3114Mi,29,,0.085,0.03\n" +
		"m5.large,m5,amd64,2,8192,,,,1930m,6903Mi,29,,0.096,\n"))
	require.NoError(t, err)
	type prices struct{ c5OD, c5Spot, m5OD, m5Spot float64 }
	for _, tc := range []struct {
		name string
		o    catalog.Overrides
		want prices
	}{
		{"none", catalog.Overrides{}, prices{0.085, 0.03, 0.096, 0}},
		{"on-demand discount", catalog.Overrides{OnDemandDiscount: 0.25}, prices{0.085 * 0.75, 0.03, 0.096 * 0.75, 0}},
		{"spot discount only where no spot price", catalog.Overrides{SpotDiscount: 0.6}, prices{0.085, 0.03, 0.096, 0.096 * 0.4}},
		{"spot from list, not discounted on-demand", catalog.Overrides{OnDemandDiscount: 0.5, SpotDiscount: 0.6},
			prices{0.0425, 0.03, 0.048, 0.096 * 0.4}},
		{"per-type prices are final", catalog.Overrides{
			Prices:           map[string]catalog.PriceOverride{"c5.large": {OnDemand: 0.07, Spot: 0.02}, "m5.large": {Spot: 0.035}},
			OnDemandDiscount: 0.5, SpotDiscount: 0.9,
		}, prices{0.07, 0.02, 0.048, 0.035}},
		{"spot discount from list, not overridden on-demand", catalog.Overrides{
			Prices: map[string]catalog.PriceOverride{"m5.large": {OnDemand: 0.2}}, SpotDiscount: 0.5,
		}, prices{0.085, 0.03, 0.2, 0.048}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := base.WithOverrides(tc.o)
			require.NoError(t, err)
			c5, _ := c.Instance("c5.large")
			m5, _ := c.Instance("m5.large")
			got := prices{c5.PricePerHour, c5.SpotPricePerHour, m5.PricePerHour, m5.SpotPricePerHour}
			require.InDeltaSlice(t, []float64{tc.want.c5OD, tc.want.c5Spot, tc.want.m5OD, tc.want.m5Spot},
				[]float64{got.c5OD, got.c5Spot, got.m5OD, got.m5Spot}, 1e-12)
			// The base catalog is unchanged.
			c5, _ = base.Instance("c5.large")
			require.InDelta(t, 0.085, c5.PricePerHour, 0)
		})
	}
}

// TestWithOverridesGPUs derives the price per GPU-hour again from the
// overridden prices.
func TestWithOverridesGPUs(t *testing.T) {
	t.Parallel()
	aws := catalog.AWSUSEast1()
	c, err := aws.WithOverrides(catalog.Overrides{
		OnDemandDiscount: 0.5,
		Prices:           map[string]catalog.PriceOverride{"p5.48xlarge": {OnDemand: 8}}, // 1 per GPU
	})
	require.NoError(t, err)
	g, ok := c.GPU("H100-80GB")
	require.True(t, ok)
	require.Equal(t, catalog.GPU{Model: "H100-80GB", Memory: g.Memory, PricePerHour: 1, Instance: "p5.48xlarge", InstanceGPUs: 8}, g)
	g, _ = c.GPU("T4-16GB")
	require.InDelta(t, 0.263, g.PricePerHour, 1e-12)
	p, _ := catalog.GPUPricePerHour("T4-16GB")
	require.InDelta(t, 0.526, p, 0, "the embedded catalog is unchanged")
	checkCatalog(t, c)
}

// TestWithOverridesErrors rejects out-of-range values and unknown
// instance types, naming each.
func TestWithOverridesErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    catalog.Overrides
		want []string
	}{
		{"discount 1", catalog.Overrides{OnDemandDiscount: 1}, []string{"on-demand discount 1: want a fraction in [0, 1)"}},
		{"negative discount", catalog.Overrides{SpotDiscount: -0.1}, []string{"spot discount -0.1: want a fraction in [0, 1)"}},
		{"NaN discount", catalog.Overrides{SpotDiscount: math.NaN()}, []string{"spot discount NaN"}},
		{"negative price", catalog.Overrides{Prices: map[string]catalog.PriceOverride{"m5.large": {Spot: -1}}},
			[]string{`instance type "m5.large": spot price -1: want USD per hour in [0, 100000]`}},
		{"infinite price", catalog.Overrides{Prices: map[string]catalog.PriceOverride{"m5.large": {OnDemand: math.Inf(1)}}},
			[]string{`instance type "m5.large": on-demand price +Inf`}},
		{"empty name", catalog.Overrides{Prices: map[string]catalog.PriceOverride{"": {OnDemand: 1}}},
			[]string{`price override for "", which is not an instance type name such as m5.large`}},
		{"unknown types", catalog.Overrides{Prices: map[string]catalog.PriceOverride{"m9.large": {OnDemand: 1}, "a1.b": {Spot: 1}}},
			[]string{`price override for instance type "a1.b", which is not in the catalog`, `"m9.large"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := catalog.AWSUSEast1().WithOverrides(tc.o)
			requireErrorHolds(t, err, tc.want)
			require.Nil(t, c)
		})
	}
}

const overridesYAML = `# Savings Plans and a spot feed
on_demand_discount: 0.28
spot_discount: 0.6
prices:
  - {name: p5.48xlarge, price_od: 39.63, price_spot: 21.4}
  - name: m5.large
    price_spot: 0.035
`

// TestLoadOverrides reads the same overrides from YAML, JSON and CSV (the
// CSV without the discounts, which only YAML and JSON carry).
func TestLoadOverrides(t *testing.T) {
	t.Parallel()
	want := catalog.Overrides{
		OnDemandDiscount: 0.28, SpotDiscount: 0.6,
		Prices: map[string]catalog.PriceOverride{"p5.48xlarge": {OnDemand: 39.63, Spot: 21.4}, "m5.large": {Spot: 0.035}},
	}
	noDiscounts := want
	noDiscounts.OnDemandDiscount, noDiscounts.SpotDiscount = 0, 0
	for _, tc := range []struct {
		name, file string
		want       catalog.Overrides
	}{
		{"yaml", overridesYAML, want},
		{"json", `{"on_demand_discount": 0.28, "spot_discount": 0.6, "prices": [
			{"name": "p5.48xlarge", "price_od": 39.63, "price_spot": 21.4}, {"name": "m5.large", "price_spot": 0.035, "price_od": null}]}`, want},
		{"csv", "name,price_od,price_spot\r\np5.48xlarge,39.63,21.4\r\nm5.large,,0.035\r\n", noDiscounts},
		{"csv, columns reordered, BOM", "\ufeffprice_spot,name\n21.4,p5.48xlarge\n0.035,m5.large\n",
			catalog.Overrides{Prices: map[string]catalog.PriceOverride{"p5.48xlarge": {Spot: 21.4}, "m5.large": {Spot: 0.035}}}},
		{"discounts only", "spot_discount: 0.65\n", catalog.Overrides{SpotDiscount: 0.65}},
		{"empty mapping", "{}", catalog.Overrides{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := catalog.LoadOverrides(strings.NewReader(tc.file), "")
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.NoError(t, got.Validate())
		})
	}
}

// TestLoadOverridesErrors pins the messages of bad override files.
func TestLoadOverridesErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"empty", "", []string{"price overrides o line 1: empty file: want a header"}},
		{"csv unknown column", "name,price,price_spot\n", []string{"price overrides o line 1, column price: unknown column: want name, price_od, price_spot"}},
		{"csv no name column", "price_od\n1\n", []string{"line 1, column name: missing column"}},
		{"csv no price column", "name\nm5.large\n", []string{"line 1, column price_od: missing column: want price_od, price_spot or both"}},
		{"csv duplicate column", "name,price_od,price_od\n", []string{"line 1, column price_od: duplicate column"}},
		{"csv bad price", "name,price_od\nm5.large,0.1\nm5.xlarge,-1\n",
			[]string{"price overrides o line 3, column price_od: want a price in USD per hour in (0, 100000], got \"-1\""}},
		{"csv no price", "name,price_od,price_spot\nm5.large,,\n", []string{"line 2: no price: want price_od, price_spot or both"}},
		{"csv empty name", "name,price_od\n,0.1\n", []string{"line 2, column name: want an instance type name"}},
		{"csv repeated", "name,price_od\nm5.large,0.1\nm5.large,0.2\n", []string{"line 3, column name: repeated instance type \"m5.large\" (first at line 2)"}},
		{"csv short row", "name,price_od\nm5.large\n", []string{"line 2: wrong number of fields"}},
		{"csv not a name", "name,price_od\nM5 Large,1\n", []string{`line 2, column name: want an instance type name such as m5.large, got "M5 Large"`}},
		{"yaml invalid UTF-8 name", "prices:\n- {name: \"m5.\\x80\", price_od: 1}\n", []string{"want an instance type name such as m5.large"}},
		{"yaml unknown key", "spot_discount: 0.5\nreserved: 0.2\n", []string{"line 2, reserved: unknown key: want on_demand_discount, spot_discount or prices"}},
		{"yaml discount 1", "on_demand_discount: 1\n", []string{"line 1, on_demand_discount: want a fraction in [0, 1), got \"1\""}},
		{"yaml discount NaN", "spot_discount: .nan\n", []string{"line 1, spot_discount: want a fraction in [0, 1), got \".nan\""}},
		{"yaml discount percent", "spot_discount: 60%\n", []string{"want a fraction in [0, 1), got \"60%\""}},
		{"yaml discount list", "spot_discount: [0.5]\n", []string{"line 1, spot_discount: want a single value, got a list"}},
		{"yaml prices not a list", "prices: {m5.large: 1}\n", []string{"line 1, prices: want a list of prices, got a mapping"}},
		{"yaml price unknown key", "prices:\n- {name: m5.large, price_ondemand: 1}\n",
			[]string{`line 2, prices[0].price_ondemand (instance "m5.large"): unknown key: want name, price_od, price_spot`}},
		{"yaml price repeated key", "prices:\n- {name: m5.large, price_od: 1, price_od: 2}\n",
			[]string{`line 2, prices[0].price_od (instance "m5.large"): repeated key (first at line 2)`}},
		{"yaml bad price", "prices:\n- name: m5.large\n  price_spot: 1e-2\n",
			[]string{`line 3, prices[0].price_spot (instance "m5.large"): want a price in USD per hour in (0, 100000], got "1e-2"`}},
		{"yaml huge price", "prices:\n- {name: m5.large, price_od: 100000.01}\n", []string{`prices[0].price_od (instance "m5.large"): want a price`}},
		{"yaml no price", "prices:\n- {name: m5.large}\n", []string{`line 2, prices[0] (instance "m5.large"): no price`}},
		{"yaml no name", "prices:\n- {price_od: 1}\n", []string{`line 2, prices[0].name: want an instance type name`}},
		{"yaml repeated instance", "prices:\n- {name: m5.large, price_od: 1}\n- {name: m5.large, price_spot: 1}\n",
			[]string{`line 3, prices[1].name (instance "m5.large"): repeated instance type "m5.large" (first at line 2)`}},
		{"yaml two documents", "spot_discount: 0.5\n---\nspot_discount: 0.6\n", []string{"line 2: more than one YAML document"}},
		{"yaml not a mapping", "[1]\n", []string{"price overrides o line 1: want a mapping, got a list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := catalog.LoadOverrides(strings.NewReader(tc.file), "o")
			require.Error(t, err)
			requireParseError(t, err, tc.want)
		})
	}
}

// formatOverrides writes overrides as YAML.
func formatOverrides(o catalog.Overrides) string {
	var b strings.Builder
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	fmt.Fprintf(&b, "on_demand_discount: %s\nspot_discount: %s\nprices:\n", f(o.OnDemandDiscount), f(o.SpotDiscount))
	for name, p := range o.Prices {
		fmt.Fprintf(&b, "- name: %q\n", name)
		if p.OnDemand > 0 {
			fmt.Fprintf(&b, "  price_od: %s\n", f(p.OnDemand))
		}
		if p.Spot > 0 {
			fmt.Fprintf(&b, "  price_spot: %s\n", f(p.Spot))
		}
	}
	return b.String()
}

// FuzzLoadOverrides feeds arbitrary files to LoadOverrides: it never
// panics; what it accepts is valid, reads back the same from YAML, and
// either applies to the embedded catalog with positive prices or names
// an instance type the catalog lacks.
func FuzzLoadOverrides(f *testing.F) {
	f.Add(overridesYAML, "")
	f.Add("name,price_od,price_spot\np5.48xlarge,39.63,21.4\nm5.large,,0.035\n", "o.csv")
	f.Add(`{"spot_discount": 0.6, "prices": [{"name": "g5.xlarge", "price_spot": 0.4}]}`, "o.json")
	f.Add("prices:\n- &p {name: m5.large, price_od: 1}\n- *p\n", "")
	f.Add("name,price_spot\nnot.there,1\n", "")
	f.Fuzz(func(t *testing.T, file, name string) {
		o, err := catalog.LoadOverrides(strings.NewReader(file), name)
		if err != nil {
			require.Zero(t, o)
			return
		}
		require.NoError(t, o.Validate())
		again, err := catalog.LoadOverrides(strings.NewReader(formatOverrides(o)), "")
		require.NoError(t, err, formatOverrides(o))
		require.Equal(t, o.OnDemandDiscount, again.OnDemandDiscount)
		require.Equal(t, o.SpotDiscount, again.SpotDiscount)
		require.Len(t, again.Prices, len(o.Prices))
		for n, p := range o.Prices {
			require.Equal(t, p, again.Prices[n])
		}
		c, err := catalog.AWSUSEast1().WithOverrides(o)
		if err != nil {
			require.ErrorContains(t, err, "which is not in the catalog")
			return
		}
		checkCatalog(t, c)
	})
}
