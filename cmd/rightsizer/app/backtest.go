package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rightsizer/rightsizer/recommender/backtest"
	gpubacktest "github.com/rightsizer/rightsizer/recommender/backtest/gpu"
	"github.com/rightsizer/rightsizer/recommender/replay"
)

// backtestOptions are the flags of `rightsizer backtest`.
type backtestOptions struct {
	Replay    string
	Policies  []string
	Baselines []string
	Output    string
	Plot      string
	Interval  string
	Warmup    string
	React     bool
	// GPU backtests GPU shapes (whole, MIG, shares) instead of requests.
	GPU bool
	// ChangeThreshold is the relative move that counts as a change.
	ChangeThreshold float64
}

func (o *backtestOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Replay, "replay", "", "the trace folder (layout of shared/data/bitbrains-rnd/<month> or alibaba-genai-2026), or a dataset name under shared/data")
	fs.StringSliceVar(&o.Policies, "policy", backtest.PolicyNames(), "rightsizer policies: a profile (cost, balanced, performance), budget-N (CPU above request at most N % of the time), or a policy file; repeat or comma-separate")
	fs.StringSliceVar(&o.Baselines, "baselines", backtest.BaselineNames(), "baselines to run alongside: provisioned, vpa, krr (empty for none)")
	fs.StringVarP(&o.Output, "output", "o", "table", "output format: table, json or markdown")
	fs.StringVar(&o.Plot, "plot", "", "write a cost-against-risk plot to this PNG (one per dataset: the dataset's name is added before .png when a trace has several)")
	fs.BoolVar(&o.GPU, "gpu", false, "backtest GPU shapes on a GenAI trace (as H100-80GB): rightsizer's profiles against whole-gpu and kruize")
	fs.StringVar(&o.Interval, "interval", "", "decision interval (default 24h for Bitbrains, 1h for GenAI)")
	fs.StringVar(&o.Warmup, "warmup", "", "warm-up before the first decision (default 2d for Bitbrains, 2h for GenAI)")
	fs.Float64Var(&o.ChangeThreshold, "change-threshold", 0.1, "relative move of a request or limit that counts as a change in changes/workload-day (0.1: 10 %; a tiny value counts every change)")
	fs.BoolVar(&o.React, "react", true, "let live controllers (rightsizer's, VPA's updater) react between decision points to OOM kills and to usage above the request; false: every policy acts only at decision points, and rightsizer applies its stable request as a report would; with --gpu, rightsizer's profiles reshape a pod whose memory outgrows its shape at once (true) or only at the next decision point (false)")
}

// Validate reports every problem with the flags at once.
func (o *backtestOptions) Validate() error {
	var errs []error
	if o.Replay == "" {
		errs = append(errs, errors.New("--replay DIR is required"))
	}
	if !slices.Contains([]string{"table", "json", "markdown"}, o.Output) {
		errs = append(errs, fmt.Errorf("--output %q: want table, json or markdown", o.Output))
	}
	for _, f := range []struct{ name, v string }{{"--interval", o.Interval}, {"--warmup", o.Warmup}} {
		if f.v == "" {
			continue
		}
		if d, err := model.ParseDuration(f.v); err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s %q: want a positive duration such as 6h or 2d", f.name, f.v))
		}
	}
	if !(o.ChangeThreshold > 0 && o.ChangeThreshold < 10) {
		errs = append(errs, fmt.Errorf("--change-threshold %v: want a fraction above 0, such as 0.1", o.ChangeThreshold))
	}
	if o.Plot != "" && !strings.HasSuffix(o.Plot, ".png") {
		errs = append(errs, fmt.Errorf("--plot %q: want a .png file", o.Plot))
	}
	if len(o.Policies)+len(o.Baselines) == 0 {
		errs = append(errs, errors.New("nothing to run: give --policy or --baselines"))
	}
	return errors.Join(errs...)
}

func (o *backtestOptions) options() backtest.Options {
	var opts backtest.Options
	if d, err := model.ParseDuration(o.Interval); err == nil {
		opts.Interval = time.Duration(d)
	}
	if d, err := model.ParseDuration(o.Warmup); err == nil {
		opts.Warmup = time.Duration(d)
	}
	opts.NoReactions = !o.React
	opts.ChangeThreshold = o.ChangeThreshold
	return opts
}

func newBacktestCommand(logger func() (*slog.Logger, error)) *cobra.Command {
	o := &backtestOptions{}
	cmd := &cobra.Command{
		Use:   "backtest --replay DIR",
		Short: "Replay a trace walking forward in time and score rightsizer's policies against VPA, KRR and the requests as provisioned",
		Long: "At each decision point every policy sees only the past, its decision is applied, and the\n" +
			"interval that follows is scored: requested core-hours and GiB-hours, the share of time usage\n" +
			"exceeds the request, unmet core-hours, OOM kills (usage above the applied memory limit, fed\n" +
			"back to the policy) and changes per workload-day.",
		Example: "  rightsizer backtest --replay bitbrains-rnd/2013-7\n" +
			"  rightsizer backtest --replay alibaba-genai-2026 --policy balanced,budget-5 -o markdown --plot genai.png\n" +
			"  rightsizer backtest --replay alibaba-genai-2026 --gpu",
		Args: cobra.NoArgs,
		RunE: validated(o, logger, func(cmd *cobra.Command, log *slog.Logger) error {
			if o.GPU {
				return runGPUBacktest(cmd, o)
			}
			fs, err := backtest.Factories(o.Baselines, o.Policies)
			if err != nil {
				return err
			}
			dir, err := replay.Locate(o.Replay)
			if err != nil {
				return fmt.Errorf("--replay: %w", err)
			}
			datasets, err := backtest.LoadDatasets(dir)
			if err != nil {
				return err
			}
			var results []backtest.Result
			for _, d := range datasets {
				start := time.Now()
				ps, err := backtest.NewAll(fs, d, o.options())
				if err != nil {
					return err
				}
				scores, err := backtest.Run(cmd.Context(), d, ps, o.options())
				if err != nil {
					return err
				}
				log.Info("backtest done", "dataset", d.Name, "policies", len(ps), "elapsed", time.Since(start).Round(time.Millisecond))
				results = append(results, backtest.NewResult(d, o.options(), scores))
			}
			if o.Plot != "" {
				for _, r := range results {
					path := o.Plot
					if len(results) > 1 {
						path = strings.TrimSuffix(o.Plot, ".png") + "-" + r.Dataset + ".png"
					}
					if err := backtest.SaveResultPlot(path, r, fs); err != nil {
						return err
					}
					log.Info("wrote plot", "file", path)
				}
			}
			w := cmd.OutOrStdout()
			switch o.Output {
			case "json":
				return backtest.WriteJSON(w, results)
			case "markdown":
				return backtest.WriteMarkdown(w, results)
			}
			return backtest.WriteTable(w, results)
		}),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// runGPUBacktest walks GPU shapes over a GenAI trace: every GPU policy
// (rightsizer's profiles, whole-gpu, kruize) at each decision point.
func runGPUBacktest(cmd *cobra.Command, o *backtestOptions) error {
	dir, err := replay.Locate(o.Replay)
	if err != nil {
		return fmt.Errorf("--replay: %w", err)
	}
	tr, err := gpubacktest.Load(dir)
	if err != nil {
		return err
	}
	tr.Name = filepath.Base(dir)
	bo := o.options()
	res, err := gpubacktest.Run(cmd.Context(), tr, gpubacktest.Policies(), gpubacktest.Options{Interval: bo.Interval, Warmup: bo.Warmup, NoReactions: !o.React})
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if o.Output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return res.Table(w)
}
