package backtest

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/model"
)

// Result is the backtest of one dataset.
type Result struct {
	Dataset  string    `json:"dataset"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Interval string    `json:"decision_interval"` // as 1d, 6h or 90m
	Warmup   string    `json:"warmup"`
	Scores   []Score   `json:"scores"`

	ds *Dataset
}

// NewResult labels scores with their dataset and options.
func NewResult(d *Dataset, opts Options, scores []Score) Result {
	o := opts.withDefaults(d)
	return Result{Dataset: d.Name, Start: d.Start(), End: d.End(), Interval: model.Duration(o.Interval).String(), Warmup: model.Duration(o.Warmup).String(), Scores: scores, ds: d}
}

// columns are the figures of a results table, named in the dataset's units.
func (r *Result) columns() []column {
	compute, mem := "CPU core-h", "memory GiB-h"
	if r.ds != nil && r.ds.ComputeIsGPU {
		compute = "GPU-h"
	}
	if r.ds != nil && r.ds.MemoryIsGPU {
		mem = "GPU memory GiB-h"
	}
	if r.Dataset == "genai-memfrac" {
		mem = "memory request, limit-h" // in units of each pod's limit
	}
	cols := []column{}
	if r.ds == nil || r.ds.HasCompute {
		cols = append(cols,
			column{compute, func(s *Score) string { return num(s.CPUCoreHours) }},
			column{"above request", func(s *Score) string { return pct(s.CPUOverFrac) }},
			column{"unmet " + strings.TrimSuffix(compute, "-h") + "-h", func(s *Score) string { return num(s.CPUUnmetCoreHours) }},
		)
	}
	cols = append(cols,
		column{mem, func(s *Score) string { return num(s.MemGiBHours) }},
		column{"OOM kills", func(s *Score) string { return strconv.Itoa(s.OOMEvents) }},
		column{"OOM/workload-day", func(s *Score) string { return strconv.FormatFloat(s.OOMPerWorkloadDay, 'f', 3, 64) }},
		column{"changes/workload-day", func(s *Score) string { return strconv.FormatFloat(s.ChangesPerDay, 'f', 2, 64) }},
	)
	return cols
}

type column struct {
	name string
	cell func(*Score) string
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func pct(v float64) string { return strconv.FormatFloat(100*v, 'f', 2, 64) + "%" }

// heading describes the run in one line.
func (r *Result) heading() string {
	n, days := 0, 0.0
	if len(r.Scores) > 0 {
		n, days = r.Scores[0].Workloads, r.Scores[0].WorkloadDays
	}
	return fmt.Sprintf("%s: %d workloads, %.1f workload-days scored, %s to %s, a decision every %s after a %s warm-up",
		r.Dataset, n, days, r.Start.UTC().Format("2006-01-02 15:04"), r.End.UTC().Format("2006-01-02 15:04"), r.Interval, r.Warmup)
}

// WriteTable writes the results as aligned text tables.
func WriteTable(w io.Writer, results []Result) error {
	for i := range results {
		r := &results[i]
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, r.heading())
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		cols := r.columns()
		fmt.Fprint(tw, "policy\t")
		for _, c := range cols {
			fmt.Fprint(tw, c.name, "\t")
		}
		fmt.Fprintln(tw)
		for j := range r.Scores {
			s := &r.Scores[j]
			fmt.Fprint(tw, s.Policy, "\t")
			for _, c := range cols {
				fmt.Fprint(tw, c.cell(s), "\t")
			}
			fmt.Fprintln(tw)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// WriteMarkdown writes the results as Markdown tables, one per dataset.
func WriteMarkdown(w io.Writer, results []Result) error {
	for i := range results {
		r := &results[i]
		cols := r.columns()
		fmt.Fprintf(w, "### %s\n\n| policy |", r.heading())
		for _, c := range cols {
			fmt.Fprintf(w, " %s |", c.name)
		}
		fmt.Fprint(w, "\n|---|")
		for range cols {
			fmt.Fprint(w, "---:|")
		}
		fmt.Fprintln(w)
		for j := range r.Scores {
			s := &r.Scores[j]
			fmt.Fprintf(w, "| %s |", s.Policy)
			for _, c := range cols {
				fmt.Fprintf(w, " %s |", c.cell(s))
			}
			fmt.Fprintln(w)
		}
		if _, err := fmt.Fprintln(w); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON writes the results, per-workload figures included.
func WriteJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(results)
}
