package catalog

import (
	"bytes"
	"cmp"
	_ "embed" // the AWS us-east-1 catalog
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/rightsizer/rightsizer/internal/errtext"
	"github.com/rightsizer/rightsizer/internal/quantity"
	"github.com/rightsizer/rightsizer/recommender"
)

// Instance is one instance type.
type Instance struct {
	// Name is the instance type, e.g. "p5.48xlarge"; Family its family
	// ("p5"), Arch "amd64" or "arm64".
	Name, Family, Arch string
	// VCPU is its vCPU count; Memory its memory in bytes.
	VCPU   int
	Memory recommender.Bytes
	// GPUs is its GPU count (0 for none). GPUName is the GPU as the source
	// spells it ("h100"), GPUModel our model name ("H100-80GB", matching
	// package gpu/mig's Model names for MIG-capable GPUs; see ModelName),
	// GPUMemory one GPU's memory in bytes.
	GPUs      int
	GPUName   string
	GPUModel  string
	GPUMemory recommender.Bytes
	// Allocatable is what pods can request after kubelet and system
	// reservations.
	Allocatable Allocatable
	// PricePerHour is the on-demand price in USD per hour: the list price
	// as read, or what Catalog.WithOverrides made of it.
	PricePerHour float64
	// SpotPricePerHour is the spot price in USD per hour, 0 when not
	// known: from the file's price_spot_<region> column or
	// Catalog.WithOverrides.
	SpotPricePerHour float64
}

// Allocatable is what pods can request on a node of an instance type.
type Allocatable struct {
	CPU    recommender.MilliCPU
	Memory recommender.Bytes
	Pods   int
	GPUs   int
}

// GPU is the price of one GPU model: the cheapest per GPU of the
// instance types that carry it.
type GPU struct {
	// Model is our model name, e.g. "H100-80GB".
	Model string
	// Memory is one GPU's memory in bytes, as the catalog lists it.
	Memory recommender.Bytes
	// PricePerHour is the instance's price divided by its GPUs, in USD
	// per GPU-hour.
	PricePerHour float64
	// Instance is the instance type the price comes from, with
	// InstanceGPUs GPUs.
	Instance     string
	InstanceGPUs int
}

// Catalog is a parsed set of instance types. It is immutable and safe for
// concurrent use.
type Catalog struct {
	region    string
	instances []Instance
	byName    map[string]int
	gpus      []GPU // cheapest per model, sorted by model
}

// Region returns the region code of the catalog's price column (the
// suffix of price_od_<region>, e.g. "use1").
func (c *Catalog) Region() string { return c.region }

// Instances returns every instance type, in the file's order (a copy).
func (c *Catalog) Instances() []Instance { return slices.Clone(c.instances) }

// Instance returns the named instance type.
func (c *Catalog) Instance(name string) (Instance, bool) {
	i, ok := c.byName[name]
	if !ok {
		return Instance{}, false
	}
	return c.instances[i], true
}

// GPUs returns one GPU per model, sorted by model name (a copy).
func (c *Catalog) GPUs() []GPU { return slices.Clone(c.gpus) }

// GPU returns the named model's GPU price.
func (c *Catalog) GPU(model string) (GPU, bool) {
	i, ok := slices.BinarySearchFunc(c.gpus, model, func(g GPU, m string) int { return strings.Compare(g.Model, m) })
	if !ok {
		return GPU{}, false
	}
	return c.gpus[i], true
}

// GPUPricePerHour returns the model's price per GPU-hour in USD: the
// cheapest, per GPU, of the instance types that carry it (instance price
// ÷ its GPUs). The cheapest because an instance's price also buys its
// vCPUs and memory: the larger single-GPU sizes (g5.16xlarge) buy more host,
// not more GPU, so the cheapest per GPU carries the least host cost and is
// the closest to the GPU's own price. It is also what a fleet rightsized
// for GPUs would buy, and it understates rather than overstates the
// savings of a smaller GPU shape. False when no instance has the model.
func (c *Catalog) GPUPricePerHour(model string) (float64, bool) {
	g, ok := c.GPU(model)
	return g.PricePerHour, ok
}

//go:embed data/aws-us-east-1.csv
var awsUSEast1CSV []byte

// awsUSEast1 parses the embedded catalog once.
var awsUSEast1 = sync.OnceValue(func() *Catalog {
	c, err := Parse(bytes.NewReader(awsUSEast1CSV))
	if err != nil {
		// The embedded file is pinned by the package's tests.
		panic("catalog: embedded aws-us-east-1.csv: " + err.Error())
	}
	return c
})

// AWSUSEast1 returns the embedded AWS us-east-1 catalog (on-demand list
// prices of 2026-07-20). It is parsed on first use and shared.
func AWSUSEast1() *Catalog { return awsUSEast1() }

// GPUPricePerHour returns the model's price per GPU-hour in the embedded
// AWS us-east-1 catalog (Catalog.GPUPricePerHour).
func GPUPricePerHour(model string) (float64, bool) { return AWSUSEast1().GPUPricePerHour(model) }

// ModelName returns our GPU model name for a GPU as a catalog spells it
// (name, case-insensitive, and one GPU's memory in MiB): the names of
// package gpu/mig for MIG-capable GPUs ("A100-40GB", "A100-80GB",
// "H100-80GB", "H100-94GB", "H200-141GB", "B200-180GB") and the
// marketing name and memory for the rest ("T4-16GB", "A10G-24GB",
// "L4-24GB", "L40S-48GB"). Others become NAME-<GiB>GB. A100 and H100 come
// in two memory sizes and are told apart by memory.
func ModelName(gpuName string, memoryMiB int64) string {
	n := strings.ToLower(gpuName)
	switch n {
	case "a100":
		if memoryMiB >= 60*1024 {
			return "A100-80GB"
		}
		return "A100-40GB"
	case "h100":
		if memoryMiB >= 90*1024 {
			return "H100-94GB"
		}
		return "H100-80GB"
	case "h200":
		return "H200-141GB"
	case "b200":
		return "B200-180GB"
	case "t4":
		return "T4-16GB"
	case "a10g":
		return "A10G-24GB"
	case "l4":
		return "L4-24GB"
	case "l40s":
		return "L40S-48GB"
	}
	return strings.ToUpper(n) + "-" + strconv.FormatInt((memoryMiB+512)/1024, 10) + "GB"
}

// The columns of a catalog file, read by name (column order may differ
// between files). The price columns are price_od_<region> and, optional,
// price_spot_<region>.
var columns = []string{"name", "family", "arch", "vcpu", "mem_mib", "gpu_count", "gpu_name", "gpu_mem_mib",
	"alloc_cpu", "alloc_mem", "alloc_pods", "alloc_gpu"}

const (
	priceColumnPrefix = "price_od_"
	spotColumnPrefix  = "price_spot_"
)

// Bounds on values, far above any real instance: they keep arithmetic
// (MiB to bytes) in range and reject garbage.
const (
	maxVCPU      = 1 << 14
	maxMemoryMiB = 1 << 30 // 1 PiB
	maxGPUs      = 1 << 10
	maxPods      = 1 << 16
	maxPrice     = 1e5 // USD per hour
	maxErrors    = 10  // reported per file; the rest are counted
)

// ParseError is a problem at one line of a catalog or price overrides
// file: for CSV at a column, when it is about a field; for YAML and JSON
// at a path, with the instance type of the entry when it has a name.
// Line is 1-based.
type ParseError struct {
	// File is the file's name, as given to Load or LoadOverrides; empty
	// when not known.
	File string
	Line int
	// Column is the CSV header's name of the bad field.
	Column string
	// Path is the YAML or JSON path of the bad value, e.g.
	// "instances[3].vcpu"; Instance the name of that entry.
	Path, Instance string
	Err            error

	kind string // "catalog" (when empty) or "price overrides"
}

// Error reads, for example, `catalog line 4, column vcpu: want an integer
// in [1, 16384], got "four"` or `price overrides o.yaml line 7,
// prices[2].price_od (instance "m5.large"): want a price ...`.
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString(cmp.Or(e.kind, "catalog"))
	if e.File != "" {
		b.WriteString(" " + e.File)
	}
	fmt.Fprintf(&b, " line %d", e.Line)
	switch {
	case e.Column != "":
		b.WriteString(", column " + e.Column)
	case e.Path != "":
		b.WriteString(", " + e.Path)
	}
	if e.Instance != "" {
		fmt.Fprintf(&b, " (instance %q)", errtext.Clip(e.Instance))
	}
	return b.String() + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *ParseError) Unwrap() error { return e.Err }

// Parse reads a catalog CSV: a header naming every column (name, family,
// arch, vcpu, mem_mib, gpu_count, gpu_name, gpu_mem_mib, alloc_cpu,
// alloc_mem, alloc_pods, alloc_gpu, one price_od_<region> and optionally
// one price_spot_<region> of the same region, in any order, nothing
// else), then one row per instance type. Units: vcpu a count; mem_mib and
// gpu_mem_mib MiB (gpu_mem_mib per GPU); alloc_cpu and alloc_mem
// Kubernetes quantities ("1930m", "3114Mi"); prices USD per hour, plain
// decimals (no sign, exponent, NaN or Inf), at most 100000. The GPU
// columns are empty or 0 together for instances without GPUs; an empty
// spot price is not known. It reports every problem (up to ten, then a
// count) as *ParseError values joined; nothing is returned unless the
// whole file is valid. Parse reads r to its end with no size limit (Load
// has one). O(n) in the file's size.
func Parse(r io.Reader) (*Catalog, error) { return parseCSV(r, "") }

func parseCSV(r io.Reader, file string) (*Catalog, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := readCSVHeader(cr, "", file)
	if err != nil {
		return nil, err
	}
	idx, region, err := readHeader(header, file)
	if err != nil {
		return nil, err
	}
	c := &Catalog{region: region, byName: map[string]int{}}
	firstLine := map[string]int{}
	var problems errorList
	eachCSVRow(cr, "", file, &problems, func(rec []string, line int) {
		r := &row{rec: rec, idx: idx, line: line, file: file}
		in := parseRow(r)
		if len(r.errs) > 0 {
			problems.add(r.errs...)
			return
		}
		if prev, dup := firstLine[in.Name]; dup {
			problems.add(&ParseError{File: file, Line: line, Column: "name", Err: fmt.Errorf("duplicate instance type %q (first at line %d)", in.Name, prev)})
			return
		}
		firstLine[in.Name] = line
		c.byName[in.Name] = len(c.instances)
		c.instances = append(c.instances, in)
	})
	if err := problems.err(); err != nil {
		return nil, err
	}
	if len(c.instances) == 0 {
		return nil, &ParseError{File: file, Line: 2, Err: errors.New("no instance types")}
	}
	c.gpus = cheapestGPUs(c.instances)
	return c, nil
}

// readCSVHeader reads the header of a catalog (kind "") or price
// overrides CSV, without a UTF-8 byte order mark; an empty file is an
// error.
func readCSVHeader(cr *csv.Reader, kind, file string) ([]string, error) {
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &ParseError{kind: kind, File: file, Line: 1, Err: errors.New("empty file: want a header")}
	}
	if err != nil {
		return nil, csvError(err, kind, file)
	}
	header[0] = strings.TrimPrefix(header[0], "\ufeff")
	return header, nil
}

// eachCSVRow passes each row after the header to row, with its line. A
// short or long row is reported to problems and skipped; any other CSV
// error is reported and ends the file.
func eachCSVRow(cr *csv.Reader, kind, file string, problems *errorList, row func(rec []string, line int)) {
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			problems.add(csvError(err, kind, file))
			var pe *csv.ParseError
			if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
				continue // the reader goes on after a short or long row
			}
			return
		}
		line, _ := cr.FieldPos(0)
		row(rec, line)
	}
}

func csvError(err error, kind, file string) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{kind: kind, File: file, Line: pe.Line, Err: pe.Err}
	}
	return fmt.Errorf("read %s: %w", cmp.Or(kind, "catalog"), err)
}

// readHeader maps each known column to its index (the price columns
// under their prefixes) and finds the price columns' region.
func readHeader(header []string, file string) (map[string]int, string, error) {
	idx := make(map[string]int, len(columns)+2)
	var errs []error
	fail := func(col string, err error) {
		errs = append(errs, &ParseError{File: file, Line: 1, Column: errtext.Key(col), Err: err})
	}
	regions := map[string]string{} // prefix → region
	for i, name := range header {
		if prefix, rg, ok := priceColumn(name); ok {
			if err := checkRegion(rg); err != nil {
				fail(name, err)
				continue
			}
			if first, dup := regions[prefix]; dup {
				fail(name, fmt.Errorf("second price column (first %s%s)", prefix, errtext.Clip(first)))
				continue
			}
			regions[prefix] = rg
			name = prefix
		} else if !slices.Contains(columns, name) {
			fail(name, errors.New("unknown column"))
			continue
		}
		if _, dup := idx[name]; dup {
			fail(name, errors.New("duplicate column"))
			continue
		}
		idx[name] = i
	}
	for _, col := range columns {
		if _, ok := idx[col]; !ok {
			fail(col, errors.New("missing column"))
		}
	}
	region, ok := regions[priceColumnPrefix]
	if !ok {
		fail(priceColumnPrefix+"<region>", errors.New("missing column"))
	}
	if spot, ok := regions[spotColumnPrefix]; ok && region != "" && spot != region {
		fail(spotColumnPrefix+spot, fmt.Errorf("region %q differs from the on-demand column's %s%s", errtext.Clip(spot), priceColumnPrefix, errtext.Clip(region)))
	}
	return idx, region, errors.Join(errs...)
}

// priceColumn splits a price column's name into its prefix and region.
func priceColumn(name string) (prefix, region string, ok bool) {
	for _, p := range []string{priceColumnPrefix, spotColumnPrefix} {
		if rg, ok := strings.CutPrefix(name, p); ok && rg != "" {
			return p, rg, true
		}
	}
	return "", "", false
}

// checkRegion refuses a region code that is not a label value, such as
// one with control bytes, spaces or capitals: plans write it out and
// a re-read of the plan's catalog must read the same code.
func checkRegion(rg string) error {
	if !validName(rg) {
		return fmt.Errorf("region %q: want a-z, 0-9 and '-', 1 to %d long", errtext.Clip(rg), maxNameLen)
	}
	return nil
}

// row reads a record's fields by column name and collects problems. A
// CSV row has its line; a YAML or JSON row also the line of each value
// and its path.
type row struct {
	rec  []string
	idx  map[string]int // column (price columns by prefix) → index in rec
	line int
	errs []error

	file string
	// YAML and JSON only: lines[i] is rec[i]'s line (0: the row's), path
	// the row's ("instances[3]"), region the price keys' suffix.
	lines  []int
	path   string
	region string
}

// field returns the column's value, "" when the file has no such column.
func (r *row) field(col string) string {
	i, ok := r.idx[col]
	if !ok {
		return ""
	}
	return r.rec[i]
}

func (r *row) fail(col, format string, args ...any) {
	e := &ParseError{File: r.file, Line: r.line, Column: col, Err: fmt.Errorf(format, args...)}
	if r.lines != nil {
		key := strings.Replace(col, "<region>", r.region, 1)
		e.Column, e.Path, e.Instance = "", r.path+"."+key, r.field("name")
		if l := r.lines[r.idx[priceKey(col)]]; l > 0 {
			e.Line = l
		}
	}
	r.errs = append(r.errs, e)
}

// priceKey maps a price column's display name to its key in row.idx.
func priceKey(col string) string {
	if p, ok := strings.CutSuffix(col, "<region>"); ok {
		return p
	}
	return col
}

// int parses a decimal integer in [lo, hi]; empty is 0 when optional.
func (r *row) int(col string, lo, hi int64, optional bool) int64 {
	s := r.field(col)
	if s == "" && optional {
		return 0
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || !decimal(s, false) || v < lo || v > hi {
		r.fail(col, "want an integer in [%d, %d], got %q", lo, hi, errtext.Clip(s))
		return 0
	}
	return v
}

// quantity parses a Kubernetes quantity in (0, hi], in thousandths when
// milli (CPU: millicores), else in units rounded up (memory: bytes).
func (r *row) quantity(col string, milli bool, hi int64) int64 {
	s := r.field(col)
	q, err := quantity.Parse(s)
	if err != nil {
		r.fail(col, "want a Kubernetes quantity, got %q", errtext.Clip(s))
		return 0
	}
	limit := resource.NewQuantity(hi, resource.BinarySI)
	if milli {
		limit = resource.NewMilliQuantity(hi, resource.DecimalSI)
	}
	if q.Sign() <= 0 || q.Cmp(*limit) > 0 {
		r.fail(col, "want a quantity in (0, %s], got %q", limit, errtext.Clip(s))
		return 0
	}
	if milli {
		return q.MilliValue()
	}
	return q.Value()
}

// parseRow reads one instance type; the problems go to r.errs.
func parseRow(r *row) Instance {
	in := Instance{
		Name:    r.field("name"),
		Family:  r.field("family"),
		Arch:    r.field("arch"),
		GPUName: r.field("gpu_name"),
	}
	if !validName(in.Family) {
		r.fail("family", "want a name of [a-z0-9-], 1 to 63 long, starting and ending with a letter or digit, got %q", errtext.Clip(in.Family))
	} else if rest, ok := strings.CutPrefix(in.Name, in.Family+"."); !ok || !validName(rest) {
		r.fail("name", "want %s.<size>, got %q", in.Family, errtext.Clip(in.Name))
	} else if len(in.Name) > maxNameLen {
		r.fail("name", "want at most %d bytes (a label value), got %d", maxNameLen, len(in.Name))
	}
	if in.Arch != "amd64" && in.Arch != "arm64" {
		r.fail("arch", "want amd64 or arm64, got %q", errtext.Clip(in.Arch))
	}
	in.VCPU = int(r.int("vcpu", 1, maxVCPU, false))
	memMiB := r.int("mem_mib", 1, maxMemoryMiB, false)
	in.Memory = recommender.Bytes(memMiB) * recommender.MiB
	nerr := len(r.errs)
	in.GPUs = int(r.int("gpu_count", 0, maxGPUs, true))
	gpusBad := len(r.errs) > nerr
	gpuMiB := r.int("gpu_mem_mib", 0, maxMemoryMiB, true)
	in.GPUMemory = recommender.Bytes(gpuMiB) * recommender.MiB
	switch {
	case in.GPUs > 0 && (in.GPUName == "" || !validName(in.GPUName)):
		r.fail("gpu_name", "want a GPU name of [a-z0-9-] for %d GPUs, got %q", in.GPUs, errtext.Clip(in.GPUName))
	case in.GPUs > 0 && gpuMiB == 0:
		r.fail("gpu_mem_mib", "want the memory of its %d GPUs, got %q", in.GPUs, errtext.Clip(r.field("gpu_mem_mib")))
	case in.GPUs == 0 && (in.GPUName != "" || gpuMiB != 0):
		r.fail("gpu_count", "want a GPU count with gpu_name %q and gpu_mem_mib %q", errtext.Clip(in.GPUName), errtext.Clip(r.field("gpu_mem_mib")))
	case in.GPUs > 0:
		in.GPUModel = ModelName(in.GPUName, gpuMiB)
	}
	// Allocatable is at most the capacity; when the capacity itself is bad,
	// only its bound, so one problem is reported once.
	cpuHi, memHi, gpuHi := int64(in.VCPU)*1000, int64(in.Memory), int64(in.GPUs)
	if in.VCPU == 0 {
		cpuHi = maxVCPU * 1000
	}
	if in.Memory == 0 {
		memHi = maxMemoryMiB * int64(recommender.MiB)
	}
	if gpusBad {
		gpuHi = maxGPUs
	}
	in.Allocatable.CPU = recommender.MilliCPU(r.quantity("alloc_cpu", true, cpuHi))
	in.Allocatable.Memory = recommender.Bytes(r.quantity("alloc_mem", false, memHi))
	in.Allocatable.Pods = int(r.int("alloc_pods", 1, maxPods, false))
	in.Allocatable.GPUs = int(r.int("alloc_gpu", 0, gpuHi, true))
	in.PricePerHour = r.price(priceColumnPrefix, false)
	in.SpotPricePerHour = r.price(spotColumnPrefix, true)
	return in
}

// price parses the price column with the prefix: USD per hour, a plain
// decimal in (0, maxPrice]; empty is 0 when optional.
func (r *row) price(prefix string, optional bool) float64 {
	s := r.field(prefix)
	if s == "" && optional {
		return 0
	}
	p, ok := parsePrice(s)
	if !ok {
		r.fail(prefix+"<region>", "want a price in USD per hour in (0, %g], got %q", float64(maxPrice), errtext.Clip(s))
	}
	return p
}

// parsePrice parses a price in USD per hour: a plain decimal in
// (0, maxPrice].
func parsePrice(s string) (float64, bool) {
	p, err := strconv.ParseFloat(s, 64)
	if err != nil || !decimal(s, true) || math.IsNaN(p) || p <= 0 || p > maxPrice {
		return 0, false
	}
	return p, true
}

// decimal reports whether s is plain decimal digits, with one '.' when
// fraction: no sign, exponent, hex, underscores, Inf or NaN, which
// strconv would accept.
func decimal(s string, fraction bool) bool {
	dots := 0
	for _, c := range s {
		switch {
		case c == '.' && fraction:
			dots++
		case c < '0' || c > '9':
			return false
		}
	}
	return s != "" && s != "." && dots <= 1
}

// maxNameLen bounds names, which become Kubernetes label values.
const maxNameLen = 63

// validName reports whether s is a run of [a-z0-9-], 1 to 63 long, that
// starts and ends with a letter or digit: a valid Kubernetes label value.
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// validInstanceName reports whether s could name an instance type of a
// catalog: a family and a size, each a validName, joined by one '.'.
func validInstanceName(s string) bool {
	family, size, ok := strings.Cut(s, ".")
	return ok && validName(family) && validName(size)
}

// cheapestGPUs returns, per GPU model, the instance type with the lowest
// price per GPU (ties: fewer GPUs per instance, then name), sorted by
// model.
func cheapestGPUs(instances []Instance) []GPU {
	best := map[string]GPU{}
	for _, in := range instances {
		if in.GPUs == 0 {
			continue
		}
		g := GPU{Model: in.GPUModel, Memory: in.GPUMemory, PricePerHour: in.PricePerHour / float64(in.GPUs),
			Instance: in.Name, InstanceGPUs: in.GPUs}
		b, ok := best[g.Model]
		if !ok || g.PricePerHour < b.PricePerHour ||
			(g.PricePerHour == b.PricePerHour && (g.InstanceGPUs < b.InstanceGPUs ||
				(g.InstanceGPUs == b.InstanceGPUs && g.Instance < b.Instance))) {
			best[g.Model] = g
		}
	}
	out := make([]GPU, 0, len(best))
	for _, g := range best {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b GPU) int { return strings.Compare(a.Model, b.Model) })
	return out
}
