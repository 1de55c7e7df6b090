package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/rightsizer/rightsizer/recommender/backtest"
	"github.com/rightsizer/rightsizer/recommender/replay"
)

// evalDatasets maps eval.json's dataset keys to folders under shared/data.
var evalDatasets = []struct{ key, name string }{
	{"bitbrains", "bitbrains-rnd/2013-7"},
	{"genai", "alibaba-genai-2026"},
}

// Target is one of the acceptance checks, evaluated on the data.
// Required checks are the targets on its keys; the others apply
// the same rule to figures the issue has no key for (GPU busy time, the
// memory fraction) and are reported for information.
type Target struct {
	Dataset  string `json:"dataset"`
	Name     string `json:"name"`
	Required bool   `json:"required"`
	Pass     bool   `json:"pass"`
	Detail   string `json:"detail"`
}

// Mark returns "pass", "FAIL", or "info" for an informational check.
func (t Target) Mark() string {
	switch {
	case !t.Required:
		if t.Pass {
			return "info pass"
		}
		return "info miss"
	case t.Pass:
		return "pass"
	}
	return "FAIL"
}

// EvalResult is what `make eval` writes.
type EvalResult struct {
	// Datasets maps a dataset key to a policy to its figures. Figures a
	// dataset lacks are null.
	Datasets map[string]map[string]map[string]*float64 `json:"datasets"`
	Targets  []Target                                  `json:"targets"`
	// Oracle holds, per dataset, the memory GiB-hours of a clairvoyant
	// fixed size (each container's lifetime peak, known in advance, as
	// request and limit): never killed, for scale.
	Oracle map[string]float64 `json:"oracle_mem_gib_hours"`
	// FleetCap holds, per dataset, the cheapest single memory size for
	// every container, chosen knowing the whole trace, that is killed no
	// more often than vpa or krr: on a fleet of alike replicas, what a
	// policy that cannot tell them apart in advance pays at least (on a
	// mixed fleet it is no bound).
	FleetCap map[string]FleetCap `json:"fleet_cap"`
	// PastRules holds, for datasets whose memory is costed by its limit
	// (GPU memory), the best of a family of simple rules that see only the
	// past (see PastRules), and how many kills such a rule needs to request
	// less memory than krr. Where memory is costed by the request, a rule
	// that sets request and limit alike is no fair reference.
	PastRules map[string]PastRules `json:"past_rules"`
	Elapsed   string               `json:"elapsed"`
	Results   []backtest.Result    `json:"-"`
	fs        []backtest.Factory
}

// RunEval backtests every policy on the shared datasets.
func RunEval(ctx context.Context) (*EvalResult, error) {
	dirs := map[string]string{}
	for _, ed := range evalDatasets {
		dir, err := replay.Locate(ed.name)
		if err != nil {
			return nil, err
		}
		dirs[ed.key] = dir
	}
	return runEval(ctx, dirs, backtest.Options{})
}

// runEval backtests every policy on the trace folders, keyed as in
// eval.json ("bitbrains", "genai").
func runEval(ctx context.Context, dirs map[string]string, opts backtest.Options) (*EvalResult, error) {
	start := time.Now()
	// The policies of `rightsizer backtest` by default: every baseline,
	// every built-in profile, budget-1 and budget-5.
	fs, err := backtest.Factories(backtest.BaselineNames(), backtest.PolicyNames())
	if err != nil {
		return nil, err
	}
	out := &EvalResult{Datasets: map[string]map[string]map[string]*float64{}, Oracle: map[string]float64{}, FleetCap: map[string]FleetCap{}, PastRules: map[string]PastRules{}, fs: fs}
	for _, ed := range evalDatasets {
		dir, ok := dirs[ed.key]
		if !ok {
			continue
		}
		ds, err := backtest.LoadDatasets(dir)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			ps, err := backtest.NewAll(fs, d, opts)
			if err != nil {
				return nil, err
			}
			oracle := newOracle(d)
			scores, err := backtest.Run(ctx, d, append(ps, oracle), opts)
			if err != nil {
				return nil, err
			}
			o := scores[len(scores)-1]
			if o.OOMEvents != 0 {
				return nil, fmt.Errorf("%s: the oracle was killed %d times", d.Name, o.OOMEvents)
			}
			out.Oracle[d.Name] = o.MemGiBHours
			scores = scores[:len(scores)-1]
			allowed, krr := math.MaxInt, math.Inf(1)
			for _, s := range scores {
				if s.Policy == "vpa" || s.Policy == "krr" {
					allowed = min(allowed, s.OOMEvents)
				}
				if s.Policy == "krr" {
					krr = s.MemGiBHours
				}
			}
			if out.FleetCap[d.Name], err = cheapestFleetCap(ctx, d, oracle.peak, allowed, opts); err != nil {
				return nil, err
			}
			if d.MemoryIsGPU {
				largest := slices.Max(slices.Collect(maps.Values(oracle.peak)))
				if out.PastRules[d.Name], err = bestPastRules(ctx, d, largest, allowed, krr, opts); err != nil {
					return nil, err
				}
			}
			r := backtest.NewResult(d, opts, scores)
			out.Results = append(out.Results, r)
			out.record(ed.key, d, scores)
		}
	}
	out.Targets = checkTargets(out.Datasets)
	out.Elapsed = time.Since(start).Round(time.Millisecond).String()
	return out, nil
}

func ptr(v float64) *float64 { return &v }

// record files a dataset's scores under eval.json's keys. The GenAI
// trace's GPU busy time and memory fraction go under extra keys, since the
// issue's keys name CPU and memory.
func (e *EvalResult) record(key string, d *backtest.Dataset, scores []backtest.Score) {
	m := e.Datasets[key]
	if m == nil {
		m = map[string]map[string]*float64{}
		e.Datasets[key] = m
	}
	for i := range scores {
		s := &scores[i]
		f := m[s.Policy]
		if f == nil {
			f = map[string]*float64{}
			m[s.Policy] = f
		}
		switch d.Name {
		case "genai":
			f["cpu_core_hours"], f["cpu_over_frac"], f["cpu_unmet_core_hours"] = nil, nil, nil
			f["gpu_busy_hours"], f["gpu_busy_over_frac"], f["gpu_busy_unmet_hours"] = ptr(s.CPUCoreHours), ptr(s.CPUOverFrac), ptr(s.CPUUnmetCoreHours)
			f["mem_gib_hours"], f["oom_events"], f["changes_per_day"] = ptr(s.MemGiBHours), ptr(float64(s.OOMEvents)), ptr(s.ChangesPerDay)
			f["gpu_cost_usd"] = ptr(backtest.Cost(d, s))
		case "genai-memfrac":
			f["mem_frac_limit_hours"], f["mem_frac_oom_events"], f["mem_frac_changes_per_day"] = ptr(s.MemGiBHours), ptr(float64(s.OOMEvents)), ptr(s.ChangesPerDay)
		default:
			f["cpu_core_hours"], f["cpu_over_frac"], f["cpu_unmet_core_hours"] = ptr(s.CPUCoreHours), ptr(s.CPUOverFrac), ptr(s.CPUUnmetCoreHours)
			f["mem_gib_hours"], f["oom_events"], f["changes_per_day"] = ptr(s.MemGiBHours), ptr(float64(s.OOMEvents)), ptr(s.ChangesPerDay)
			f["cost_usd"] = ptr(backtest.Cost(d, s))
		}
	}
}

func get(m map[string]map[string]*float64, policy, k string) float64 {
	if v := m[policy][k]; v != nil {
		return *v
	}
	return math.NaN()
}

// checkTargets evaluates the targets on the development data.
func checkTargets(data map[string]map[string]map[string]*float64) []Target {
	var ts []Target
	compute := func(ds, cpuKey, overKey string, required bool) {
		m := data[ds]
		bc, vc := get(m, "balanced", cpuKey), get(m, "vpa", cpuKey)
		bo, vo := get(m, "balanced", overKey), get(m, "vpa", overKey)
		ts = append(ts, Target{ds, "balanced requests ≥ 15 % less compute than vpa, no more often above the request", required,
			bc <= 0.85*vc && bo <= vo,
			fmt.Sprintf("balanced %.1f vs vpa %.1f (%+.1f %%); above request %.2f %% vs %.2f %%", bc, vc, 100*(bc-vc)/vc, 100*bo, 100*vo)})
		for _, b := range []struct {
			name   string
			budget float64
		}{{"budget-1", 0.01}, {"budget-5", 0.05}} {
			o := get(m, b.name, overKey)
			ts = append(ts, Target{ds, b.name + " calibrated: realised share above request within ½× to 1½× the budget", required,
				o >= 0.5*b.budget && o <= 1.5*b.budget,
				fmt.Sprintf("%.2f %% for a budget of %.0f %% (window %.1f–%.1f %%)", 100*o, 100*b.budget, 50*b.budget, 150*b.budget)})
		}
	}
	memory := func(ds, label, gibKey, oomKey string, required bool) {
		m := data[ds]
		bm, km := get(m, "balanced", gibKey), get(m, "krr", gibKey)
		bk, vk, kk := get(m, "balanced", oomKey), get(m, "vpa", oomKey), get(m, "krr", oomKey)
		ts = append(ts, Target{ds, "balanced: no more OOM kills than vpa or krr, fewer " + label + " than krr", required,
			bk <= vk && bk <= kk && bm < km,
			fmt.Sprintf("OOM kills balanced %.0f, vpa %.0f, krr %.0f; %s balanced %.1f vs krr %.1f (%+.1f %%)", bk, vk, kk, label, bm, km, 100*(bm-km)/km)})
	}
	if data["bitbrains"] != nil {
		compute("bitbrains", "cpu_core_hours", "cpu_over_frac", true)
		memory("bitbrains", "memory GiB-hours", "mem_gib_hours", "oom_events", true)
	}
	if data["genai"] != nil {
		memory("genai", "GPU memory GiB-hours", "mem_gib_hours", "oom_events", true)
		compute("genai", "gpu_busy_hours", "gpu_busy_over_frac", false)
		if data["genai"]["balanced"]["mem_frac_limit_hours"] != nil {
			memory("genai", "memory-fraction limit-hours", "mem_frac_limit_hours", "mem_frac_oom_events", false)
		}
	}
	return ts
}

// Write writes eval.json, eval.md and one plot per dataset into dir.
func (e *EvalResult) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "eval.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var md bytes.Buffer
	md.WriteString("# Backtest of rightsizer against VPA and KRR\n\n`make eval` on `shared/data`; each policy sees only the past at each decision point.\n\n## Targets\n\n")
	for _, t := range e.Targets {
		fmt.Fprintf(&md, "- **%s** %s, %s: %s\n", t.Mark(), t.Dataset, t.Name, t.Detail)
	}
	md.WriteString("\n\"info\" marks a check of the same rule on figures the issue has no key for (GPU busy time, the memory fraction).\n")
	md.WriteString("\nFor scale, a clairvoyant fixed size (request and limit at each container's lifetime peak, known in advance, so never killed) costs")
	for _, r := range e.Results {
		fmt.Fprintf(&md, " %s %.1f,", r.Dataset, e.Oracle[r.Dataset])
	}
	md.Truncate(md.Len() - 1)
	md.WriteString(" memory GiB-hours (limit-hours for genai-memfrac).")
	md.WriteString(" The cheapest single size for every container, chosen knowing the whole trace and raised to a container's lifetime peak at its first kill, that is killed no more often than vpa or krr costs")
	for _, r := range e.Results {
		fc := e.FleetCap[r.Dataset]
		fmt.Fprintf(&md, " %s %.1f (%d kills of %d allowed),", r.Dataset, fc.GiBHours, fc.Kills, fc.Allowed)
	}
	md.Truncate(md.Len() - 1)
	md.WriteString(". On a fleet of alike replicas whose peaks come at hours no past predicts, such as genai's serving pods, a policy that cannot tell them apart in advance does no better; on mixed fleets it is no bound.\n")
	for _, r := range e.Results {
		if pr, ok := e.PastRules[r.Dataset]; ok {
			md.WriteString(pr.sentence(r.Dataset))
		}
	}
	md.WriteString("\n## Results\n\n")
	if err := backtest.WriteMarkdown(&md, e.Results); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "eval.md"), md.Bytes(), 0o644); err != nil {
		return err
	}
	for _, r := range e.Results {
		if err := backtest.SaveResultPlot(filepath.Join(dir, "eval-"+r.Dataset+".png"), r, e.fs); err != nil {
			return err
		}
	}
	return nil
}

// Evaluation is what an evaluation command writes and prints.
type Evaluation interface {
	Write(path string) error
	Table(w io.Writer) error
	// Summary returns the targets and the time the evaluation took.
	Summary() ([]Target, string)
}

// Finish ends an evaluation command: it writes res to path and prints its
// table, then how many required targets missed. An error (err, or from
// writing) is printed with the command's name and exits 1; res is not
// used when err is set.
func Finish(name, path string, res Evaluation, err error) {
	if err == nil {
		err = res.Write(path)
	}
	if err == nil {
		err = res.Table(os.Stdout)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	targets, elapsed := res.Summary()
	fmt.Printf("wrote %s in %s\n", path, elapsed)
	if failed := MissedTargets(targets); failed > 0 {
		fmt.Printf("%d required targets missed\n", failed)
	}
}

// MissedTargets counts the required targets that did not pass.
func MissedTargets(targets []Target) int {
	failed := 0
	for _, t := range targets {
		if t.Required && !t.Pass {
			failed++
		}
	}
	return failed
}
