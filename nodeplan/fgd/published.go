package fgd

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// PublishedFile is the name of the published curves in the data set's
// fgd-results folder.
const PublishedFile = "fgd_artifact_alloc_curves.csv"

// MaxPublishedRows bounds the rows ReadPublished accepts.
const MaxPublishedRows = 1_000_000

// PublishedPoint is one point of a published allocation curve: the FGD
// paper's simulator's GPU allocation % at one arrived % for one workload
// (trace file) and policy, over its seeds.
type PublishedPoint struct {
	// Workload is the trace file without ".csv", e.g.
	// "openb_pod_list_default"; Policy the scheduler, e.g. "FGD".
	Workload, Policy string
	// ArrivedPct is the arrived workload in % of GPU capacity, 0..130.
	ArrivedPct int
	// Mean, SD, Min and Max are the allocation % over Seeds seeds.
	Mean, SD, Min, Max float64
	Seeds              int
	// FragRatioPct is the mean fragmentation rate (% of idle GPU milli);
	// FragAmountPct the mean fragmented GPU milli as % of capacity.
	FragRatioPct, FragAmountPct float64
}

var publishedColumns = []string{
	"workload", "policy", "arrived_pct", "alloc_pct_mean", "alloc_pct_sd", "alloc_pct_min",
	"alloc_pct_max", "n_seeds", "frag_ratio_pct_mean", "frag_amount_pct_of_total_gpu_mean",
}

// ReadPublished reads the published curves (fgd_artifact_alloc_curves.csv
// of the data set, derived from the simulator's committed result files).
// The header must have exactly its ten columns, in any order; every value
// is checked (percentages finite and within 0..100, arrived 0..130). An
// error names the line and column. O(rows).
func ReadPublished(r io.Reader) ([]PublishedPoint, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("read published curves: empty input")
	}
	if err != nil {
		return nil, fmt.Errorf("read published curves: header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\uFEFF")
		}
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("read published curves: line 1: column %q twice", h)
		}
		col[h] = i
	}
	for _, c := range publishedColumns {
		if _, ok := col[c]; !ok {
			return nil, fmt.Errorf("read published curves: line 1: missing column %q", c)
		}
	}
	if len(col) != len(publishedColumns) {
		return nil, fmt.Errorf("read published curves: line 1: unknown columns (want exactly %s)", strings.Join(publishedColumns, ","))
	}
	cr.FieldsPerRecord = len(header)
	var out []PublishedPoint
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read published curves: %w", err)
		}
		if len(out) >= MaxPublishedRows {
			return nil, fmt.Errorf("read published curves: more than %d rows", MaxPublishedRows)
		}
		line, _ := cr.FieldPos(0)
		p, err := parsePoint(rec, col)
		if err != nil {
			return nil, fmt.Errorf("read published curves: line %d, %w", line, err)
		}
		out = append(out, p)
	}
}

func parsePoint(rec []string, col map[string]int) (PublishedPoint, error) {
	get := func(c string) string { return rec[col[c]] }
	p := PublishedPoint{Workload: get("workload"), Policy: get("policy")}
	if p.Workload == "" {
		return p, errors.New("column workload: empty")
	}
	if p.Policy == "" {
		return p, errors.New("column policy: empty")
	}
	integer := func(c string, hi int) (int, error) {
		v, err := strconv.Atoi(get(c))
		if err != nil || v < 0 || v > hi {
			return 0, fmt.Errorf("column %s: %q is not an integer in 0..%d", c, get(c), hi)
		}
		return v, nil
	}
	pct := func(c string) (float64, error) {
		v, err := strconv.ParseFloat(get(c), 64)
		if err != nil || math.IsNaN(v) || v < 0 || v > 100 {
			return 0, fmt.Errorf("column %s: %q is not a percentage in 0..100", c, get(c))
		}
		return v, nil
	}
	var err error
	if p.ArrivedPct, err = integer("arrived_pct", MaxArrivedPct); err != nil {
		return p, err
	}
	if p.Seeds, err = integer("n_seeds", 1_000_000); err != nil {
		return p, err
	}
	for _, f := range []struct {
		c string
		v *float64
	}{
		{"alloc_pct_mean", &p.Mean}, {"alloc_pct_sd", &p.SD}, {"alloc_pct_min", &p.Min}, {"alloc_pct_max", &p.Max},
		{"frag_ratio_pct_mean", &p.FragRatioPct}, {"frag_amount_pct_of_total_gpu_mean", &p.FragAmountPct},
	} {
		if *f.v, err = pct(f.c); err != nil {
			return p, err
		}
	}
	if p.Min > p.Mean || p.Mean > p.Max {
		return p, fmt.Errorf("column alloc_pct_mean: %v is not within min %v and max %v", p.Mean, p.Min, p.Max)
	}
	return p, nil
}

// LoadPublished reads the published curves file at path (ReadPublished).
func LoadPublished(path string) ([]PublishedPoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load published curves: %w", err)
	}
	pts, err := ReadPublished(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pts, nil
}

// LookupPublished returns the point of the workload and policy at the
// arrived %, or false. O(points).
func LookupPublished(points []PublishedPoint, workload, policy string, arrivedPct int) (PublishedPoint, bool) {
	for _, p := range points {
		if p.Workload == workload && p.Policy == policy && p.ArrivedPct == arrivedPct {
			return p, true
		}
	}
	return PublishedPoint{}, false
}
