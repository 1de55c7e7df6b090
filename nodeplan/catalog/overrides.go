package catalog

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/rightsizer/rightsizer/internal/errtext"
)

// Overrides change a catalog's prices (Catalog.WithOverrides): the prices
// a user actually pays, per instance type or as discounts off list.
//
// For each instance type, with list the catalog's on-demand price:
//
//   - on-demand: Prices[name].OnDemand when given, taken as the price paid
//     and not discounted further; else list × (1 − OnDemandDiscount).
//   - spot: Prices[name].Spot when given; else the catalog's spot price
//     when it has one; else list × (1 − SpotDiscount) when SpotDiscount
//     is set; else none, and the type is not offered as spot.
//
// Spot is derived from list, not from a discounted or overridden
// on-demand price, because spot markets are priced against list.
type Overrides struct {
	// Prices are per instance type, by name; every name must be in the
	// catalog.
	Prices map[string]PriceOverride
	// OnDemandDiscount is the fraction taken off every on-demand list
	// price, in [0, 1): what Savings Plans or Reserved Instances save.
	// 0, the default, keeps list prices.
	OnDemandDiscount float64
	// SpotDiscount is the fraction spot costs below on-demand list where
	// no spot price is known, in [0, 1). 0, the default, derives no spot
	// prices: spot is planned only where a price is given. It is one
	// figure for every type, where real spot discounts vary by type, zone
	// and hour (AWS's Spot Instance Advisor shows most types between 50 %
	// and 90 % off); prefer spot prices from a live feed when there are
	// some.
	SpotDiscount float64
}

// PriceOverride is one instance type's prices in USD per hour; 0 keeps
// the catalog's.
type PriceOverride struct {
	OnDemand float64
	Spot     float64
}

// Validate reports every value out of range: discounts outside [0, 1),
// prices negative, NaN, infinite or above 100000 USD per hour, and empty
// instance type names. It does not look at any catalog.
func (o Overrides) Validate() error {
	var errs []error
	discount := func(name string, d float64) {
		if !(d >= 0 && d < 1) {
			errs = append(errs, fmt.Errorf("%s %v: want a fraction in [0, 1)", name, d))
		}
	}
	discount("on-demand discount", o.OnDemandDiscount)
	discount("spot discount", o.SpotDiscount)
	for _, name := range slices.Sorted(maps.Keys(o.Prices)) {
		p := o.Prices[name]
		if !validInstanceName(name) {
			errs = append(errs, fmt.Errorf("price override for %q, which is not an instance type name such as m5.large", errtext.Clip(name)))
		}
		for _, v := range []struct {
			kind  string
			price float64
		}{{"on-demand", p.OnDemand}, {"spot", p.Spot}} {
			if !(v.price >= 0 && v.price <= maxPrice) {
				errs = append(errs, fmt.Errorf("instance type %q: %s price %v: want USD per hour in [0, %g]", errtext.Clip(name), v.kind, v.price, float64(maxPrice)))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid price overrides: %w", err)
	}
	return nil
}

// WithOverrides returns a new catalog with the overrides' prices (the
// rules are on Overrides); c is unchanged. GPU prices per model are
// derived again from the new on-demand prices. An invalid value, or a
// price for an instance type the catalog does not have, is an error. O(n)
// in the catalog's size.
func (c *Catalog) WithOverrides(o Overrides) (*Catalog, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var unknown errorList
	for _, name := range slices.Sorted(maps.Keys(o.Prices)) {
		if _, ok := c.byName[name]; !ok {
			unknown.add(fmt.Errorf("price override for instance type %q, which is not in the catalog", errtext.Clip(name)))
		}
	}
	if err := unknown.err(); err != nil {
		return nil, err
	}
	out := &Catalog{region: c.region, byName: c.byName, instances: slices.Clone(c.instances)}
	for i := range out.instances {
		in := &out.instances[i]
		list := in.PricePerHour
		p := o.Prices[in.Name]
		if p.OnDemand > 0 {
			in.PricePerHour = p.OnDemand
		} else {
			in.PricePerHour = list * (1 - o.OnDemandDiscount)
		}
		switch {
		case p.Spot > 0:
			in.SpotPricePerHour = p.Spot
		case in.SpotPricePerHour > 0:
		case o.SpotDiscount > 0:
			in.SpotPricePerHour = list * (1 - o.SpotDiscount)
		}
	}
	out.gpus = cheapestGPUs(out.instances)
	return out, nil
}

// LoadOverrides reads price overrides from CSV, YAML or JSON, told apart
// by content as Load does (name is the file's name, for errors and, only
// when the content does not tell, its extension).
//
// A CSV has a header with name and one or both of price_od and
// price_spot, then one row per instance type; an empty cell keeps the
// catalog's price. A YAML or JSON file is a mapping with any of
// on_demand_discount, spot_discount (fractions in [0, 1)) and prices, a
// list of mappings with name and one or both of price_od and price_spot.
// Prices are USD per hour, plain decimals in (0, 100000]; every entry
// gives at least one. Unknown or repeated keys, repeated instance types
// and bad values are errors, reported together (up to ten, then a count)
// as *ParseError values with the line. Whether the instance types exist
// is checked by Catalog.WithOverrides. Input above MaxFileBytes, or
// MaxYAMLBytes for YAML and JSON, is refused.
func LoadOverrides(r io.Reader, name string) (Overrides, error) {
	data, err := readLimited(r, overridesKind, name)
	if err != nil {
		return Overrides{}, err
	}
	if sniff(data, name) == formatCSV {
		return parseOverridesCSV(data, name)
	}
	if err := checkYAMLSize(data, overridesKind, name); err != nil {
		return Overrides{}, err
	}
	return parseOverridesYAML(data, name)
}

// LoadOverridesFile opens the file at path and LoadOverrides it.
func LoadOverridesFile(path string) (Overrides, error) {
	f, err := os.Open(path)
	if err != nil {
		return Overrides{}, fmt.Errorf("open price overrides: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only: a close error loses nothing
	return LoadOverrides(f, path)
}

const overridesKind = "price overrides"

// overrideColumns are the columns and keys of a price override entry.
var overrideColumns = []string{"name", "price_od", "price_spot"}

// overrideEntry collects one entry's values and problems.
type overrideEntry struct {
	name     string
	od, spot string
	line     int // the entry's line
}

// addEntry checks an entry and adds it to o.Prices. fail reports a
// problem at a column or key; first holds where each name was first seen.
func addEntry(o *Overrides, e overrideEntry, first map[string]int, fail func(col string, err error)) {
	var p PriceOverride
	bad := false
	if !validInstanceName(e.name) {
		fail("name", fmt.Errorf("want an instance type name such as m5.large, got %q", errtext.Clip(e.name)))
		bad = true
	}
	for _, v := range []struct {
		col string
		s   string
		dst *float64
	}{{"price_od", e.od, &p.OnDemand}, {"price_spot", e.spot, &p.Spot}} {
		if v.s == "" {
			continue
		}
		price, ok := parsePrice(v.s)
		if !ok {
			fail(v.col, fmt.Errorf("want a price in USD per hour in (0, %g], got %q", float64(maxPrice), errtext.Clip(v.s)))
			bad = true
		}
		*v.dst = price
	}
	if e.od == "" && e.spot == "" {
		fail("", errors.New("no price: want price_od, price_spot or both"))
		bad = true
	}
	if bad {
		return
	}
	if l, dup := first[e.name]; dup {
		fail("name", fmt.Errorf("repeated instance type %q (first at line %d)", errtext.Clip(e.name), l))
		return
	}
	first[e.name] = e.line
	if o.Prices == nil {
		o.Prices = map[string]PriceOverride{}
	}
	o.Prices[e.name] = p
}

func parseOverridesCSV(data []byte, file string) (Overrides, error) {
	fail := func(line int, col string, err error) error {
		return &ParseError{kind: overridesKind, File: file, Line: line, Column: col, Err: err}
	}
	cr := csv.NewReader(bytes.NewReader(data))
	header, err := readCSVHeader(cr, overridesKind, file)
	if err != nil {
		return Overrides{}, err
	}
	idx := map[string]int{}
	var errs []error
	for i, h := range header {
		_, dup := idx[h]
		switch {
		case !slices.Contains(overrideColumns, h):
			errs = append(errs, fail(1, errtext.Clip(h), errors.New("unknown column: want name, price_od, price_spot")))
		case dup:
			errs = append(errs, fail(1, errtext.Clip(h), errors.New("duplicate column")))
		default:
			idx[h] = i
		}
	}
	if _, ok := idx["name"]; !ok {
		errs = append(errs, fail(1, "name", errors.New("missing column")))
	}
	_, od := idx["price_od"]
	_, spot := idx["price_spot"]
	if !od && !spot {
		errs = append(errs, fail(1, "price_od", errors.New("missing column: want price_od, price_spot or both")))
	}
	if len(errs) > 0 {
		return Overrides{}, errors.Join(errs...)
	}
	field := func(rec []string, col string) string {
		if i, ok := idx[col]; ok {
			return rec[i]
		}
		return ""
	}
	var o Overrides
	var problems errorList
	first := map[string]int{}
	eachCSVRow(cr, overridesKind, file, &problems, func(rec []string, line int) {
		e := overrideEntry{name: field(rec, "name"), od: field(rec, "price_od"), spot: field(rec, "price_spot"), line: line}
		addEntry(&o, e, first, func(col string, err error) { problems.add(fail(line, col, err)) })
	})
	if err := problems.err(); err != nil {
		return Overrides{}, err
	}
	return o, nil
}

func parseOverridesYAML(data []byte, file string) (Overrides, error) {
	root, err := decodeYAML(data, overridesKind, file)
	if err != nil {
		return Overrides{}, err
	}
	at := func(line int, path string, err error) *ParseError {
		return &ParseError{kind: overridesKind, File: file, Line: line, Path: path, Err: err}
	}
	var o Overrides
	var problems errorList
	top, errs := mapping(root, at, "")
	problems.add(errs...)
	for _, p := range top {
		switch p.key {
		case "on_demand_discount", "spot_discount":
			d, err := parseDiscount(p.value)
			if err != nil {
				problems.add(at(p.value.Line, p.key, err))
			}
			if p.key == "on_demand_discount" {
				o.OnDemandDiscount = d
			} else {
				o.SpotDiscount = d
			}
		case "prices":
			parsePriceList(&o, p.value, at, &problems)
		default:
			problems.add(at(p.line, join("", p.key), errors.New("unknown key: want on_demand_discount, spot_discount or prices")))
		}
	}
	if err := problems.err(); err != nil {
		return Overrides{}, err
	}
	return o, nil
}

// parseDiscount reads a fraction in [0, 1), a plain decimal.
func parseDiscount(n *yaml.Node) (float64, error) {
	s, err := scalar(n)
	if err != nil {
		return 0, err
	}
	d, err := strconv.ParseFloat(s, 64)
	if err != nil || !decimal(s, true) || !(d >= 0 && d < 1) {
		return 0, fmt.Errorf("want a fraction in [0, 1), got %q", errtext.Clip(s))
	}
	return d, nil
}

// parsePriceList reads the prices list into o.Prices. An empty value
// ("prices:" alone) is an empty list.
func parsePriceList(o *Overrides, list *yaml.Node, at func(int, string, error) *ParseError, problems *errorList) {
	if list.Kind == yaml.ScalarNode && list.Tag == "!!null" {
		return
	}
	if list.Kind != yaml.SequenceNode {
		problems.add(at(list.Line, "prices", fmt.Errorf("want a list of prices, got %s", nodeKind(list))))
		return
	}
	first := map[string]int{}
	for i, item := range list.Content {
		path := fmt.Sprintf("prices[%d]", i)
		pairs, errs := mapping(item, at, path)
		e := overrideEntry{line: item.Line}
		lines := map[string]int{}
		for _, p := range pairs {
			if !slices.Contains(overrideColumns, p.key) {
				if len(errs) < maxErrors {
					errs = append(errs, at(p.line, join(path, p.key), errors.New("unknown key: want name, price_od, price_spot")))
				}
				continue
			}
			lines[p.key] = p.line
			v, err := scalar(p.value)
			if err != nil {
				errs = append(errs, at(p.value.Line, join(path, p.key), err))
				continue
			}
			switch p.key {
			case "name":
				e.name = v
			case "price_od":
				e.od = v
			case "price_spot":
				e.spot = v
			}
		}
		for _, err := range errs {
			var pe *ParseError
			if errors.As(err, &pe) {
				pe.Instance = e.name
			}
		}
		if len(errs) > 0 || item.Kind != yaml.MappingNode {
			problems.add(errs...)
			continue
		}
		if e.line = lines["name"]; e.line == 0 {
			e.line = item.Line
		}
		addEntry(o, e, first, func(col string, err error) {
			line := lines[col]
			if line == 0 {
				line = item.Line
			}
			pe := at(line, join(path, col), err)
			pe.Instance = e.name
			problems.add(pe)
		})
	}
}
