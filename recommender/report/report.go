// Package report renders recommendations for people and programs: an
// aligned table, JSON, YAML or CSV, each with totals of requested versus
// recommended CPU and memory over all replicas.
package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"

	"github.com/rightsizer/rightsizer/recommender"
)

// Format is an output format.
type Format string

// The formats.
const (
	FormatTable Format = "table"
	FormatJSON  Format = "json"
	FormatYAML  Format = "yaml"
	FormatCSV   Format = "csv"
)

// Formats lists every Format, for flag help.
var Formats = []Format{FormatTable, FormatJSON, FormatYAML, FormatCSV}

// ParseFormat returns the Format named s.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown output format %q (want one of %v)", s, Formats)
}

// Totals sums requests over every replica of every app and sidecar
// container (init containers run before the others and do not add to a
// pod's request).
type Totals struct {
	Containers       int     `json:"containers"`
	RequestedCores   float64 `json:"requestedCores"`
	RecommendedCores float64 `json:"recommendedCores"`
	RequestedGiB     float64 `json:"requestedGiB"`
	RecommendedGiB   float64 `json:"recommendedGiB"`
	// GPU compute in GPUs; GPU memory in GiB, by its limit (a GPU shape
	// reserves all of it). Zero without GPU usage.
	RequestedGPUs           float64 `json:"requestedGPUs,omitempty"`
	RecommendedGPUs         float64 `json:"recommendedGPUs,omitempty"`
	RequestedGPUMemoryGiB   float64 `json:"requestedGPUMemoryGiB,omitempty"`
	RecommendedGPUMemoryGiB float64 `json:"recommendedGPUMemoryGiB,omitempty"`
	MonthlyCostDelta        float64 `json:"monthlyCostDelta"`
	InsufficientData        int     `json:"insufficientHistory"`
	OOMKilled               int     `json:"oomKilled"`
	Throttled               int     `json:"throttled"`
	NoUsage                 int     `json:"noUsage"`
}

// Sum computes the totals of recs.
func Sum(recs []recommender.Recommendation) Totals {
	var t Totals
	for i := range recs {
		r := &recs[i]
		t.Containers++
		switch {
		case r.Flags.Has(recommender.FlagInsufficientHistory) && r.Samples == 0:
			t.NoUsage++
		case r.Flags.Has(recommender.FlagInsufficientHistory):
			t.InsufficientData++
		}
		if r.Flags.Has(recommender.FlagOOM) {
			t.OOMKilled++
		}
		if r.Flags.Has(recommender.FlagThrottled) {
			t.Throttled++
		}
		if r.Role == recommender.RoleInit {
			continue
		}
		n := float64(max(r.Replicas, 1))
		t.RequestedCores += n * r.CPU.CurrentRequest.Cores()
		t.RecommendedCores += n * r.CPU.Request.Cores()
		t.RequestedGiB += n * r.Memory.CurrentRequest.GiB()
		t.RecommendedGiB += n * r.Memory.Request.GiB()
		if g := r.GPUCompute; g != nil {
			t.RequestedGPUs += n * float64(g.CurrentRequest)
			t.RecommendedGPUs += n * float64(g.Request)
		}
		if g := r.GPUMemory; g != nil {
			t.RequestedGPUMemoryGiB += n * g.CurrentLimit.GiB()
			t.RecommendedGPUMemoryGiB += n * g.Limit.GiB()
		}
		t.MonthlyCostDelta += r.MonthlyCostDelta
	}
	return t
}

// Line renders the totals as the closing line of a table.
func (t Totals) Line() string {
	return fmt.Sprintf("Total over %d containers (all replicas): CPU %s → %s cores (%s), memory %s → %s GiB (%s), %s per month",
		t.Containers, num(t.RequestedCores), num(t.RecommendedCores), pct(t.RecommendedCores, t.RequestedCores),
		num(t.RequestedGiB), num(t.RecommendedGiB), pct(t.RecommendedGiB, t.RequestedGiB), dollars(t.MonthlyCostDelta))
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func pct(now, was float64) string {
	if was == 0 {
		return "no request before"
	}
	return fmt.Sprintf("%+.0f%%", 100*(now-was)/was)
}

func dollars(v float64) string {
	if v <= 0 {
		return fmt.Sprintf("saves $%.0f", -v)
	}
	return fmt.Sprintf("costs $%.0f more", v)
}

// document is what JSON and YAML output hold.
type document struct {
	Recommendations []recommender.Recommendation `json:"recommendations"`
	Totals          Totals                       `json:"totals"`
}

// Write renders recs to w in format f.
func Write(w io.Writer, f Format, recs []recommender.Recommendation) error {
	if recs == nil {
		recs = []recommender.Recommendation{}
	}
	switch f {
	case FormatTable:
		return writeTable(w, recs)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(document{recs, Sum(recs)})
	case FormatYAML:
		b, err := yaml.Marshal(document{recs, Sum(recs)})
		if err != nil {
			return fmt.Errorf("encode yaml: %w", err)
		}
		_, err = w.Write(b)
		return err
	case FormatCSV:
		return writeCSV(w, recs)
	}
	return fmt.Errorf("unknown output format %q", f)
}

func writeTable(w io.Writer, recs []recommender.Recommendation) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKLOAD\tCONTAINER\tREPLICAS\tCPU REQUEST\tCPU LIMIT\tMEMORY REQUEST\tMEMORY LIMIT\tCONFIDENCE\tRISK CPU/MEM/OOM\t$/MONTH\tREASON")
	var last recommender.WorkloadKey
	for i := range recs {
		r := &recs[i]
		wl := ""
		if i == 0 || r.WorkloadKey != last {
			wl = r.WorkloadKey.String()
		}
		last = r.WorkloadKey
		name := r.Container
		if r.Role != recommender.RoleApp {
			name += " (" + r.Role.String() + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\n",
			wl, name, r.Replicas,
			change(r.CPU.CurrentRequest.String(), r.CPU.Request.String(), r.CPU.CurrentRequest == 0),
			change(limit(r.CPU.CurrentLimit), limit(r.CPU.Limit), false),
			change(r.Memory.CurrentRequest.String(), r.Memory.Request.String(), r.Memory.CurrentRequest == 0),
			change(limit(r.Memory.CurrentLimit), limit(r.Memory.Limit), false),
			r.Confidence,
			fmt.Sprintf("%s/%s/%s", percent(r.CPU.Risk), percent(r.Memory.Risk), percent(r.Memory.OOMRisk)),
			fmt.Sprintf("%+.0f", r.MonthlyCostDelta),
			r.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, Sum(recs).Line())
	return err
}

// change renders "before → after", or the value alone when unchanged.
func change(before, after string, unset bool) string {
	if unset {
		before = "-"
	}
	if before == after {
		return after
	}
	return before + " → " + after
}

// limit renders a zero limit as "-" (none).
func limit[T recommender.MilliCPU | recommender.Bytes](v T) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprint(v)
}

func percent(p float64) string {
	switch {
	case p == 0:
		return "0"
	case p < 0.001:
		return "<0.1%"
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", 100*p), ".0") + "%"
}

var csvHeader = []string{
	"cluster", "namespace", "kind", "name", "container", "role", "replicas", "profile",
	"cpu_request_current_m", "cpu_request_m", "cpu_limit_current_m", "cpu_limit_m", "cpu_lower_bound_m", "cpu_upper_bound_m", "cpu_risk",
	"memory_request_current_bytes", "memory_request_bytes", "memory_limit_current_bytes", "memory_limit_bytes",
	"memory_lower_bound_bytes", "memory_upper_bound_bytes", "memory_risk", "oom_risk",
	"confidence", "samples", "monthly_cost_delta_usd", "flags", "reason",
}

func writeCSV(w io.Writer, recs []recommender.Recommendation) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	f64 := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	for i := range recs {
		r := &recs[i]
		row := []string{
			r.Cluster, r.Namespace, r.Kind, r.Name, r.Container, r.Role.String(), i64(int64(r.Replicas)), r.Profile,
			i64(int64(r.CPU.CurrentRequest)), i64(int64(r.CPU.Request)), i64(int64(r.CPU.CurrentLimit)), i64(int64(r.CPU.Limit)),
			i64(int64(r.CPU.LowerBound)), i64(int64(r.CPU.UpperBound)), f64(r.CPU.Risk),
			i64(int64(r.Memory.CurrentRequest)), i64(int64(r.Memory.Request)), i64(int64(r.Memory.CurrentLimit)), i64(int64(r.Memory.Limit)),
			i64(int64(r.Memory.LowerBound)), i64(int64(r.Memory.UpperBound)), f64(r.Memory.Risk), f64(r.Memory.OOMRisk),
			f64(r.Confidence), i64(r.Samples), strconv.FormatFloat(r.MonthlyCostDelta, 'f', 2, 64), r.Flags.String(), r.Reason,
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
