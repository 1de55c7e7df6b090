package bench

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/rightsizer/rightsizer/bench/internal/out"
	"github.com/rightsizer/rightsizer/bench/internal/stats"
	"github.com/rightsizer/rightsizer/nodeplan"
	"github.com/rightsizer/rightsizer/nodeplan/catalog"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/nodeplan/fgd"
	"github.com/rightsizer/rightsizer/nodeplan/openb"
	"github.com/rightsizer/rightsizer/nodeplan/place"
	"github.com/rightsizer/rightsizer/recommender/replay"
)

// PlanEvalDataset is the trace `make eval-plan` reads, under shared/data.
const PlanEvalDataset = "alibaba-gpu-2023"

// Published FGD paper figures (research/fgd.md §4.1, default trace, mean of
// seeds 42–51): GPU allocation % at 100 % and 130 % arrived.
const (
	publishedFGDAt100, publishedFGDAt130         = 95.23, 95.39
	publishedBestFitAt100, publishedBestFitAt130 = 92.86, 93.08
)

// PlanEvalResult is what `make eval-plan` writes to bench/out/nodeplan.json.
type PlanEvalResult struct {
	Dataset string `json:"dataset"`
	// FGD protocol (research/fgd.md §8), rightsizer's online policy, mean
	// over the seeds: GPU allocation % at 100 % and 130 % arrived.
	FGDProtocolAllocAt100 float64 `json:"fgd_protocol_alloc_at_100"`
	FGDProtocolAllocAt130 float64 `json:"fgd_protocol_alloc_at_130"`
	// OfflineAlloc is the allocation % when all pods of the 130 % sequence
	// are known in advance (not comparable head-to-head with FGD).
	OfflineAlloc float64 `json:"offline_alloc"`
	// The published and re-implemented baselines beside ours.
	PublishedFGDAt100     float64     `json:"published_fgd_at_100"`
	PublishedFGDAt130     float64     `json:"published_fgd_at_130"`
	PublishedBestFitAt100 float64     `json:"published_bestfit_at_100"`
	PublishedBestFitAt130 float64     `json:"published_bestfit_at_130"`
	Protocol              *fgd.Report `json:"protocol"`

	// The 8,152 pods of the default trace planned onto the embedded AWS
	// catalog (on-demand, every instance type).
	PlanPods          int                  `json:"plan_pods"`
	PlanTypes         int                  `json:"plan_types"`
	PlanNodes         int                  `json:"plan_nodes"`
	PlanCostPerHour   float64              `json:"plan_cost_per_hour"`
	LowerBoundPerHour float64              `json:"lower_bound_per_hour"`
	LowerBoundMethod  string               `json:"lower_bound_method"`
	GapPct            float64              `json:"gap_pct"`
	PlanByType        []nodeplan.TypeCount `json:"plan_by_type"`
	PlanUtilisation   nodeplan.Utilisation `json:"plan_utilisation"`
	PlanUnplaced      int                  `json:"plan_unplaced"`
	PlanSeconds       float64              `json:"plan_seconds"`

	// PlanSeconds10kPods is the median wall time of Plan (lower bound
	// included) for 10,000 pods drawn from the trace with a fixed seed,
	// over the full catalog; PlanSeconds10kRuns every run.
	PlanSeconds10kPods float64   `json:"plan_seconds_10k_pods"`
	PlanSeconds10kRuns []float64 `json:"plan_seconds_10k_runs"`

	Targets []Target `json:"targets"`
	Elapsed string   `json:"elapsed"`
}

// PlanEvalOptions tune `make eval-plan`.
type PlanEvalOptions struct {
	// Seeds of the FGD protocol; default 42–51.
	Seeds []uint64
	// TimingRuns is how many times the 10,000-pod plan is timed; default 3.
	TimingRuns int
}

// RunPlanEval runs the node-plan evaluation on the Alibaba GPU trace.
func RunPlanEval(ctx context.Context, opts PlanEvalOptions) (*PlanEvalResult, error) {
	start := time.Now()
	dir, err := replay.Locate(PlanEvalDataset)
	if err != nil {
		return nil, err
	}
	res := &PlanEvalResult{
		Dataset:           PlanEvalDataset,
		PublishedFGDAt100: publishedFGDAt100, PublishedFGDAt130: publishedFGDAt130,
		PublishedBestFitAt100: publishedBestFitAt100, PublishedBestFitAt130: publishedBestFitAt130,
	}

	rep, err := fgd.Evaluate(ctx, dir, fgd.Options{Seeds: opts.Seeds})
	if err != nil {
		return nil, fmt.Errorf("FGD protocol: %w", err)
	}
	res.Protocol = rep
	ours := rep.Policy(place.Rightsizer)
	if ours == nil {
		return nil, fmt.Errorf("FGD protocol: no %s run", place.Rightsizer)
	}
	res.FGDProtocolAllocAt100, res.FGDProtocolAllocAt130 = ours.At100.Mean, ours.At130.Mean
	if rep.Offline != nil {
		res.OfflineAlloc = rep.Offline.Alloc
	}

	pods, err := openb.LoadPods(filepath.Join(dir, fgd.DefaultTrace))
	if err != nil {
		return nil, err
	}
	types, err := PlanEvalTypes()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	plan, err := nodeplan.Plan(ctx, nodeplan.Input{Pods: pods, Types: types, Seed: 1})
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", fgd.DefaultTrace, err)
	}
	res.PlanSeconds = time.Since(t0).Seconds()
	res.PlanPods, res.PlanTypes, res.PlanNodes = len(pods), len(types), len(plan.Nodes)
	res.PlanCostPerHour, res.LowerBoundPerHour = plan.CostPerHour, plan.LowerBoundPerHour
	res.LowerBoundMethod, res.GapPct = plan.LowerBoundMethod, plan.GapPct
	res.PlanByType, res.PlanUtilisation, res.PlanUnplaced = plan.ByType, plan.Utilisation, len(plan.Unplaced)

	sample := openb.Sample(pods, 10_000, 1)
	runs := max(opts.TimingRuns, 1)
	if opts.TimingRuns == 0 {
		runs = 3
	}
	for range runs {
		t0 := time.Now()
		if _, err := nodeplan.Plan(ctx, nodeplan.Input{Pods: sample, Types: types, Seed: 1}); err != nil {
			return nil, fmt.Errorf("plan 10,000 pods: %w", err)
		}
		res.PlanSeconds10kRuns = append(res.PlanSeconds10kRuns, time.Since(t0).Seconds())
	}
	res.PlanSeconds10kPods = stats.Median(res.PlanSeconds10kRuns)

	res.Targets = planTargets(res)
	res.Elapsed = time.Since(start).Round(time.Millisecond).String()
	return res, nil
}

// PlanEvalTypes are the node types `make eval-plan` plans on: every
// instance type of the embedded AWS catalog, on-demand (it has no spot
// prices), no DaemonSet overhead, GPU nodes not tainted (the trace's pods
// carry no tolerations, and the trace's own cluster mixes CPU-only pods
// onto GPU nodes).
func PlanEvalTypes() ([]cluster.NodeType, error) {
	return catalog.AWSUSEast1().NodeTypes(catalog.NodeTypeOptions{})
}

func planTargets(r *PlanEvalResult) []Target {
	ds := PlanEvalDataset
	return []Target{
		{ds, "FGD protocol: rightsizer above FGD at 100% arrived", true, r.FGDProtocolAllocAt100 > publishedFGDAt100,
			fmt.Sprintf("%.2f%% vs FGD %.2f%% (BestFit %.2f%%)", r.FGDProtocolAllocAt100, publishedFGDAt100, publishedBestFitAt100)},
		{ds, "FGD protocol: rightsizer above FGD at 130% arrived", true, r.FGDProtocolAllocAt130 > publishedFGDAt130,
			fmt.Sprintf("%.2f%% vs FGD %.2f%% (BestFit %.2f%%)", r.FGDProtocolAllocAt130, publishedFGDAt130, publishedBestFitAt130)},
		{ds, "plan of the default trace within 3% of the lower bound", true, r.GapPct <= 3,
			fmt.Sprintf("$%.2f/h vs bound $%.2f/h (%s): gap %.2f%%", r.PlanCostPerHour, r.LowerBoundPerHour, r.LowerBoundMethod, r.GapPct)},
		{ds, "plan 10,000 pods over the full catalog in at most 2 s", true, r.PlanSeconds10kPods <= 2,
			fmt.Sprintf("median %.2f s of %d runs", r.PlanSeconds10kPods, len(r.PlanSeconds10kRuns))},
	}
}

// Write writes nodeplan.json to path, making its folder.
func (r *PlanEvalResult) Write(path string) error { return out.WriteJSON(path, r) }

// Table prints the figures and the targets.
func (r *PlanEvalResult) Table(w io.Writer) error {
	if err := r.Protocol.WriteText(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nPlan of %d pods on %d AWS node types: %d nodes, $%.2f/h; lower bound $%.2f/h (%s); gap %.2f%%; %d unplaced; %.2f s\n",
		r.PlanPods, r.PlanTypes, r.PlanNodes, r.PlanCostPerHour, r.LowerBoundPerHour, r.LowerBoundMethod, r.GapPct, r.PlanUnplaced, r.PlanSeconds)
	for _, tc := range r.PlanByType {
		fmt.Fprintf(w, "  %-16s %5d × $%.4f/h = $%.2f/h\n", tc.Name, tc.Count, tc.PricePerHour, tc.CostPerHour)
	}
	fmt.Fprintf(w, "10,000 pods: median %.2f s (runs %v)\n\n", r.PlanSeconds10kPods, r.PlanSeconds10kRuns)
	for _, t := range r.Targets {
		fmt.Fprintf(w, "%-9s %s: %s\n", t.Mark(), t.Name, t.Detail)
	}
	return nil
}

// Summary returns the targets and the elapsed time, for Finish.
func (r *PlanEvalResult) Summary() ([]Target, string) { return r.Targets, r.Elapsed }
