// Package catalog holds cloud instance types with their resources, GPUs and
// on-demand prices, parsed strictly from CSV, and derives a price per
// GPU-hour per GPU model.
//
// One catalog is embedded in the binary: AWS us-east-1 (AWSUSEast1), 172
// instance types from the Karpenter AWS provider's price list of
// 2026-07-20 (data/PROVENANCE.md). Parse reads others in the same format.
//
// A Catalog is immutable once parsed: every method is safe for concurrent
// use, and every slice returned is the caller's copy.
package catalog

import (
	"bytes"
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
	// PricePerHour is the on-demand list price in USD per hour.
	PricePerHour float64
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
// between files). The price column is price_od_<region>.
var columns = []string{"name", "family", "arch", "vcpu", "mem_mib", "gpu_count", "gpu_name", "gpu_mem_mib",
	"alloc_cpu", "alloc_mem", "alloc_pods", "alloc_gpu"}

const priceColumnPrefix = "price_od_"

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

// ParseError is a problem at one line (and column, when it is about a
// field) of a catalog file. Line is 1-based; Column is the header's name.
type ParseError struct {
	Line   int
	Column string
	Err    error
}

func (e *ParseError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("catalog line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("catalog line %d, column %s: %v", e.Line, e.Column, e.Err)
}

// Unwrap returns the underlying error.
func (e *ParseError) Unwrap() error { return e.Err }

// Parse reads a catalog CSV: a header naming every column (name, family,
// arch, vcpu, mem_mib, gpu_count, gpu_name, gpu_mem_mib, alloc_cpu,
// alloc_mem, alloc_pods, alloc_gpu and one price_od_<region>, in any
// order, nothing else), then one row per instance type. Units: vcpu a
// count; mem_mib and gpu_mem_mib MiB (gpu_mem_mib per GPU); alloc_cpu and
// alloc_mem Kubernetes quantities ("1930m", "3114Mi"); the price USD per
// hour. The GPU columns are empty or 0 together for instances without
// GPUs. It reports every problem (up to ten, then a count) as
// *ParseError values joined; nothing is returned unless the whole file is
// valid.
func Parse(r io.Reader) (*Catalog, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ParseError{Line: 1, Err: errors.New("empty file: want a header")}
		}
		return nil, csvError(err)
	}
	idx, region, err := readHeader(header)
	if err != nil {
		return nil, err
	}
	c := &Catalog{region: region, byName: map[string]int{}}
	firstLine := map[string]int{}
	var errs []error
	extra := 0
	report := func(e error) {
		if len(errs) < maxErrors {
			errs = append(errs, e)
		} else {
			extra++
		}
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			report(csvError(err))
			if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
				continue // the reader goes on after a short or long row
			}
			break
		}
		line, _ := cr.FieldPos(0)
		in, rowErrs := parseRow(rec, idx, line)
		for _, e := range rowErrs {
			report(e)
		}
		if len(rowErrs) > 0 {
			continue
		}
		if prev, dup := firstLine[in.Name]; dup {
			report(&ParseError{Line: line, Column: "name", Err: fmt.Errorf("duplicate instance type %q (first at line %d)", in.Name, prev)})
			continue
		}
		firstLine[in.Name] = line
		c.byName[in.Name] = len(c.instances)
		c.instances = append(c.instances, in)
	}
	if extra > 0 {
		errs = append(errs, fmt.Errorf("and %d more problems", extra))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(c.instances) == 0 {
		return nil, &ParseError{Line: 2, Err: errors.New("no instance types")}
	}
	c.gpus = cheapestGPUs(c.instances)
	return c, nil
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{Line: pe.Line, Err: pe.Err}
	}
	return fmt.Errorf("read catalog: %w", err)
}

// readHeader maps each known column to its index and finds the price
// column's region.
func readHeader(header []string) (map[string]int, string, error) {
	idx := make(map[string]int, len(columns)+1)
	var errs []error
	region := ""
	for i, h := range header {
		name := h
		if i == 0 {
			name = strings.TrimPrefix(h, "\ufeff") // a UTF-8 byte order mark
		}
		if rg, ok := strings.CutPrefix(name, priceColumnPrefix); ok && rg != "" {
			if region != "" {
				errs = append(errs, &ParseError{Line: 1, Column: name, Err: fmt.Errorf("second price column (first %s%s)", priceColumnPrefix, region)})
				continue
			}
			region = rg
			name = priceColumnPrefix
		} else if !slices.Contains(columns, name) {
			errs = append(errs, &ParseError{Line: 1, Column: name, Err: errors.New("unknown column")})
			continue
		}
		if _, dup := idx[name]; dup {
			errs = append(errs, &ParseError{Line: 1, Column: name, Err: errors.New("duplicate column")})
			continue
		}
		idx[name] = i
	}
	for _, col := range columns {
		if _, ok := idx[col]; !ok {
			errs = append(errs, &ParseError{Line: 1, Column: col, Err: errors.New("missing column")})
		}
	}
	if region == "" {
		errs = append(errs, &ParseError{Line: 1, Column: priceColumnPrefix + "<region>", Err: errors.New("missing column")})
	}
	return idx, region, errors.Join(errs...)
}

// row reads a record's fields by column name and collects problems.
type row struct {
	rec  []string
	idx  map[string]int
	line int
	errs []error
}

func (r *row) field(col string) string { return r.rec[r.idx[col]] }

func (r *row) fail(col, format string, args ...any) {
	r.errs = append(r.errs, &ParseError{Line: r.line, Column: col, Err: fmt.Errorf(format, args...)})
}

// int parses a decimal integer in [lo, hi]; empty is 0 when optional.
func (r *row) int(col string, lo, hi int64, optional bool) int64 {
	s := r.field(col)
	if s == "" && optional {
		return 0
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || !decimal(s, false) || v < lo || v > hi {
		r.fail(col, "want an integer in [%d, %d], got %q", lo, hi, s)
		return 0
	}
	return v
}

// quantity parses a Kubernetes quantity in (0, hi], in thousandths when
// milli (CPU: millicores), else in units rounded up (memory: bytes).
func (r *row) quantity(col string, milli bool, hi int64) int64 {
	s := r.field(col)
	q, err := resource.ParseQuantity(s)
	if err != nil {
		r.fail(col, "want a Kubernetes quantity, got %q", s)
		return 0
	}
	limit := resource.NewQuantity(hi, resource.BinarySI)
	if milli {
		limit = resource.NewMilliQuantity(hi, resource.DecimalSI)
	}
	if q.Sign() <= 0 || q.Cmp(*limit) > 0 {
		r.fail(col, "want a quantity in (0, %s], got %q", limit, s)
		return 0
	}
	if milli {
		return q.MilliValue()
	}
	return q.Value()
}

func parseRow(rec []string, idx map[string]int, line int) (Instance, []error) {
	r := &row{rec: rec, idx: idx, line: line}
	in := Instance{
		Name:    r.field("name"),
		Family:  r.field("family"),
		Arch:    r.field("arch"),
		GPUName: r.field("gpu_name"),
	}
	if !validName(in.Family) {
		r.fail("family", "want a non-empty name of [a-z0-9-], got %q", in.Family)
	} else if rest, ok := strings.CutPrefix(in.Name, in.Family+"."); !ok || !validName(rest) {
		r.fail("name", "want %s.<size>, got %q", in.Family, in.Name)
	}
	if in.Arch != "amd64" && in.Arch != "arm64" {
		r.fail("arch", "want amd64 or arm64, got %q", in.Arch)
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
		r.fail("gpu_name", "want a GPU name of [a-z0-9-] for %d GPUs, got %q", in.GPUs, in.GPUName)
	case in.GPUs > 0 && gpuMiB == 0:
		r.fail("gpu_mem_mib", "want the memory of its %d GPUs, got %q", in.GPUs, r.field("gpu_mem_mib"))
	case in.GPUs == 0 && (in.GPUName != "" || gpuMiB != 0):
		r.fail("gpu_count", "want a GPU count with gpu_name %q and gpu_mem_mib %q", in.GPUName, r.field("gpu_mem_mib"))
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
	priceStr := r.field(priceColumnPrefix)
	price, err := strconv.ParseFloat(priceStr, 64)
	if err != nil || !decimal(priceStr, true) || math.IsNaN(price) || price <= 0 || price > maxPrice {
		r.fail(priceColumnPrefix+"<region>", "want a price in USD per hour in (0, %g], got %q", float64(maxPrice), priceStr)
	}
	in.PricePerHour = price
	return in, r.errs
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

// validName reports whether s is a non-empty run of [a-z0-9-].
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
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
