package fgd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/nodeplan/openb"
	"github.com/rightsizer/rightsizer/nodeplan/place"
)

// Files of the data set that Evaluate reads by default.
const (
	DefaultTrace = "openb_pod_list_default.csv"
	DefaultNodes = "openb_node_list_gpu_node.csv"
)

// Options configure Evaluate. The zero value of a field means its
// default.
type Options struct {
	// Seeds are the runs' seeds; default 42..51, the paper's.
	Seeds []uint64
	// Policies are the place policies to run, each on every seed's same
	// arrival sequence; default place.Policies().
	Policies []string
	// Trace is the pod list file in the data directory; default
	// DefaultTrace. Nodes is the node list; default DefaultNodes (the
	// 1,213 GPU nodes the paper's experiment uses).
	Trace, Nodes string
	// Published is the published curves file (ReadPublished). Empty
	// means fgd-results/PublishedFile beside the data directory when it
	// exists, and no published figures otherwise.
	Published string
	// Inflation is the arrival target as a multiple of GPU capacity;
	// default DefaultInflation (130 %).
	Inflation float64
	// Popularity is the typical-pod cut in % of pods; default
	// place.DefaultPopularity (95).
	Popularity float64
	// OfflinePolicy places the offline run; default place.Rightsizer.
	// NoOffline skips the offline run.
	OfflinePolicy string
	NoOffline     bool
	// Workers is the number of runs at once; default GOMAXPROCS.
	Workers int
}

// DefaultSeeds are the FGD paper's seeds, 42..51.
func DefaultSeeds() []uint64 { return []uint64{42, 43, 44, 45, 46, 47, 48, 49, 50, 51} }

// Validate reports every bad option.
func (o *Options) Validate() error {
	var errs []error
	if !(o.Inflation >= 0 && o.Inflation <= 10) { // NaN fails too
		errs = append(errs, fmt.Errorf("inflation %v: want 0 (default) or up to 10", o.Inflation))
	}
	if !(o.Popularity >= 0 && o.Popularity <= 100) {
		errs = append(errs, fmt.Errorf("popularity %v: want a percentage in 0..100 (0 for the default)", o.Popularity))
	}
	if o.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers %d: want ≥ 0", o.Workers))
	}
	known := place.Policies()
	seen := map[string]bool{}
	for _, p := range o.Policies {
		if !slices.Contains(known, p) {
			errs = append(errs, fmt.Errorf("unknown policy %q (want one of %v)", p, known))
		}
		if seen[p] {
			errs = append(errs, fmt.Errorf("policy %q twice", p))
		}
		seen[p] = true
	}
	if o.OfflinePolicy != "" && !slices.Contains(known, o.OfflinePolicy) {
		errs = append(errs, fmt.Errorf("unknown offline policy %q (want one of %v)", o.OfflinePolicy, known))
	}
	seeds := map[uint64]bool{}
	for _, s := range o.Seeds {
		if seeds[s] {
			errs = append(errs, fmt.Errorf("seed %d twice", s))
		}
		seeds[s] = true
	}
	for _, f := range []string{o.Trace, o.Nodes} {
		if f != "" && filepath.Base(f) != f {
			errs = append(errs, fmt.Errorf("file %q: want a file name in the data directory", f))
		}
	}
	return errors.Join(errs...)
}

func (o Options) complete(dir string) Options {
	if len(o.Seeds) == 0 {
		o.Seeds = DefaultSeeds()
	}
	if len(o.Policies) == 0 {
		o.Policies = place.Policies()
	}
	o.Trace = cmp.Or(o.Trace, DefaultTrace)
	o.Nodes = cmp.Or(o.Nodes, DefaultNodes)
	o.Inflation = cmp.Or(o.Inflation, DefaultInflation)
	o.Popularity = cmp.Or(o.Popularity, place.DefaultPopularity)
	o.OfflinePolicy = cmp.Or(o.OfflinePolicy, place.Rightsizer)
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Published == "" {
		p := filepath.Join(filepath.Dir(filepath.Clean(dir)), "fgd-results", PublishedFile)
		if _, err := os.Stat(p); err == nil {
			o.Published = p
		}
	}
	return o
}

// Report is the outcome of Evaluate, ready for JSON. Allocation figures
// are GPU allocation % of the cluster's GPU milli, read from the binned
// curve (Bin) at 100 % and 130 % arrived.
type Report struct {
	// Trace and NodeFile are the files read; Workload is the trace's name
	// in the published curves.
	Trace    string `json:"trace"`
	NodeFile string `json:"node_file"`
	Workload string `json:"workload"`
	// Nodes, GPUs and TracePods describe the inputs; TypicalPods is the
	// number of typical specs at Popularity %.
	Nodes       int      `json:"nodes"`
	GPUs        int      `json:"gpus"`
	TracePods   int      `json:"trace_pods"`
	TypicalPods int      `json:"typical_pods"`
	Popularity  float64  `json:"typical_popularity_pct"`
	Inflation   float64  `json:"inflation"`
	Seeds       []uint64 `json:"seeds"`
	// Protocol states the rules every online run follows.
	Protocol string `json:"protocol"`
	// Policies are this package's runs, in Options.Policies order.
	Policies []PolicyReport `json:"policies"`
	// Paired compares Rightsizer with each other policy run, seed by
	// seed on the same arrivals; empty without Rightsizer.
	Paired []Paired `json:"paired,omitempty"`
	// Published are the paper's simulator's figures for the same trace,
	// every policy it ran; empty when no file was found.
	Published     []PublishedFigure `json:"published,omitempty"`
	PublishedFile string            `json:"published_file,omitempty"`
	// Offline is the offline figure; nil with NoOffline.
	Offline *OfflineReport `json:"offline,omitempty"`
	// Seconds is the wall time of Evaluate.
	Seconds float64 `json:"seconds"`
}

// Stats summarise one figure over seeds.
type Stats struct {
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	N    int     `json:"n"`
}

// PolicyReport is one policy over all seeds.
type PolicyReport struct {
	Policy string `json:"policy"`
	At100  Stats  `json:"alloc_at_100"`
	At130  Stats  `json:"alloc_at_130"`
	// Unallocated100 is the mean unallocated GPUs at 100 % arrived,
	// (100 − alloc) % of the cluster's GPUs.
	Unallocated100 float64 `json:"unallocated_gpus_at_100"`
	// RunSeconds is the mean wall time of one run (one seed).
	RunSeconds float64     `json:"run_seconds"`
	Runs       []RunReport `json:"runs"`
}

// RunReport is one policy on one seed.
type RunReport struct {
	Seed   uint64  `json:"seed"`
	Pods   int     `json:"pods"`
	Failed int     `json:"failed"`
	At100  float64 `json:"alloc_at_100"`
	At130  float64 `json:"alloc_at_130"`
	// Final is the allocation % after the last pod.
	Final   float64 `json:"alloc_final"`
	Seconds float64 `json:"seconds"`
}

// Paired is Policy − Baseline over the same seeds, in allocation points.
type Paired struct {
	Policy   string `json:"policy"`
	Baseline string `json:"baseline"`
	At100    Stats  `json:"diff_at_100"`
	At130    Stats  `json:"diff_at_130"`
	// Wins100 and Wins130 count the seeds where Policy is higher.
	Wins100 int `json:"wins_at_100"`
	Wins130 int `json:"wins_at_130"`
}

// PublishedFigure is a published policy's allocation at 100 % and 130 %.
type PublishedFigure struct {
	Policy string `json:"policy"`
	At100  Stats  `json:"alloc_at_100"`
	At130  Stats  `json:"alloc_at_130"`
}

// OfflineReport is the offline figure: every pod of one seed's arrival
// sequence known in advance, sorted by GPU request (largest first, then
// arrival order) and placed by Policy onto the same nodes. It solves an
// easier problem than the online runs and is not comparable with them
// head to head.
type OfflineReport struct {
	Label    string  `json:"label"`
	Seed     uint64  `json:"seed"`
	Policy   string  `json:"policy"`
	Strategy string  `json:"strategy"`
	Pods     int     `json:"pods"`
	Placed   int     `json:"placed"`
	Alloc    float64 `json:"alloc"`
}

// Protocol is the rule set of every online run, as Report states it.
const Protocol = "FGD paper (Weng et al., ATC '23) headline experiment: GPU nodes only; " +
	"trace sorted by name, shuffled per seed, then pods sampled with replacement until the GPU request reaches the inflation target; " +
	"no departures; one attempt per pod, a pod that fits nowhere is dropped; CPU, memory and GPU enforced; " +
	"ties to a fixed per-seed random node order; allocation binned by rounded arrived % (failed pods count as arrived)"

// Policy returns the report of the named policy, or nil.
func (r *Report) Policy(name string) *PolicyReport {
	for i := range r.Policies {
		if r.Policies[i].Policy == name {
			return &r.Policies[i]
		}
	}
	return nil
}

// seedSetup is what every policy of one seed shares.
type seedSetup struct {
	seed  uint64
	seq   []int
	order []int
}

// runRand is the random stream of one seed's run: arrivals first, then
// the node priority.
func runRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0)) }

// Evaluate runs the FGD paper's protocol on the data set in dir (the
// alibaba-gpu-2023 folder): for every seed one arrival sequence and node
// order, every policy on them (paired), the curves binned and read at
// 100 % and 130 % arrived, next to the published figures, and the
// offline figure. Runs go Workers at a time; it returns ctx's error when
// ctx is done. A run costs O(pods × nodes); about 0.2 s each on one core
// for the default trace.
func Evaluate(ctx context.Context, dir string, opts Options) (*Report, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	start := time.Now()
	o := opts.complete(dir)
	types, err := openb.LoadNodes(filepath.Join(dir, o.Nodes))
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	pods, err := openb.LoadPods(filepath.Join(dir, o.Trace))
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	var published []PublishedPoint
	if o.Published != "" {
		if published, err = LoadPublished(o.Published); err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
	}
	gpus := 0
	for _, t := range types {
		gpus += t.GPUs
	}
	if gpus == 0 {
		return nil, fmt.Errorf("evaluate: %s: no GPUs", o.Nodes)
	}
	typical := place.TypicalPods(pods, o.Popularity)
	cfg := place.Config{Typical: typical}
	rep := &Report{
		Trace: o.Trace, NodeFile: o.Nodes, Workload: strings.TrimSuffix(o.Trace, ".csv"),
		Nodes: len(types), GPUs: gpus, TracePods: len(pods), TypicalPods: len(typical),
		Popularity: o.Popularity, Inflation: o.Inflation, Seeds: o.Seeds, Protocol: Protocol,
	}
	setups := make([]seedSetup, len(o.Seeds))
	for i, seed := range o.Seeds {
		rng := runRand(seed)
		seq := Arrivals(pods, gpus*cluster.MilliGPU, o.Inflation, rng)
		setups[i] = seedSetup{seed: seed, seq: seq, order: Priority(types, rng)}
	}

	runs := make([][]RunReport, len(o.Policies)) // [policy][seed]
	for i := range runs {
		runs[i] = make([]RunReport, len(o.Seeds))
	}
	var offline *OfflineReport
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Workers)
	if !o.NoOffline {
		g.Go(func() error {
			off, err := Offline(gctx, types, setups[0].order, pods, setups[0].seq, o.OfflinePolicy, cfg)
			if err != nil {
				return err
			}
			off.Seed = setups[0].seed
			mu.Lock()
			offline = off
			mu.Unlock()
			return nil
		})
	}
	for pi, pol := range o.Policies {
		for si := range setups {
			g.Go(func() error {
				su := &setups[si]
				c := cfg
				c.Seed = su.seed
				t0 := time.Now()
				tr, err := Run(gctx, types, su.order, pods, su.seq, pol, c)
				if err != nil {
					return fmt.Errorf("seed %d: %w", su.seed, err)
				}
				curve := Bin(tr.Records, tr.CapacityMilli)
				last := tr.Records[len(tr.Records)-1]
				runs[pi][si] = RunReport{
					Seed: su.seed, Pods: len(su.seq), Failed: tr.Failed,
					At100: curve[100], At130: curve[MaxArrivedPct],
					Final:   pct(last.UsedMilli, tr.CapacityMilli),
					Seconds: time.Since(t0).Seconds(),
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	rep.Offline = offline
	for pi, pol := range o.Policies {
		pr := PolicyReport{Policy: pol, Runs: runs[pi]}
		pr.At100 = stats(runs[pi], func(r RunReport) float64 { return r.At100 })
		pr.At130 = stats(runs[pi], func(r RunReport) float64 { return r.At130 })
		pr.RunSeconds = stats(runs[pi], func(r RunReport) float64 { return r.Seconds }).Mean
		pr.Unallocated100 = (100 - pr.At100.Mean) * float64(gpus) / 100
		rep.Policies = append(rep.Policies, pr)
	}
	if rs := slices.Index(o.Policies, place.Rightsizer); rs >= 0 {
		for pi, pol := range o.Policies {
			if pi != rs {
				rep.Paired = append(rep.Paired, paired(runs[rs], runs[pi], place.Rightsizer, pol))
			}
		}
	}
	if len(published) > 0 {
		rep.PublishedFile = filepath.Base(o.Published)
		rep.Published = publishedFigures(published, rep.Workload)
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// Offline places every pod of seq known in advance: sorted by GPU
// request, largest first (stable, so arrival order breaks ties), then
// placed one by one with the policy onto the nodes in the given order.
// It returns the final allocation. O(n log n) plus one run.
func Offline(ctx context.Context, types []cluster.NodeType, order []int, pods []cluster.Pod, seq []int, policy string, cfg place.Config) (*OfflineReport, error) {
	sorted := slices.Clone(seq)
	slices.SortStableFunc(sorted, func(a, b int) int {
		return cmp.Compare(pods[b].GPU.TotalMilli(), pods[a].GPU.TotalMilli())
	})
	tr, err := Run(ctx, types, order, pods, sorted, policy, cfg)
	if err != nil {
		return nil, fmt.Errorf("offline: %w", err)
	}
	used := 0
	if n := len(tr.Records); n > 0 {
		used = tr.Records[n-1].UsedMilli
	}
	return &OfflineReport{
		Label:    "offline: all pods known in advance; not comparable head to head with the online policies",
		Policy:   policy,
		Strategy: "sort by GPU request decreasing, then place one by one",
		Pods:     len(seq), Placed: len(seq) - tr.Failed,
		Alloc: pct(used, tr.CapacityMilli),
	}, nil
}

func pct(milli, capacity int) float64 { return float64(milli) / float64(capacity) * 100 }

// stats summarise f over the runs; NaN values (an empty bin) are left
// out, and N says how many were kept.
func stats[T any](runs []T, f func(T) float64) Stats {
	var vals []float64
	for _, r := range runs {
		if v := f(r); !math.IsNaN(v) {
			vals = append(vals, v)
		}
	}
	return summarise(vals)
}

func summarise(vals []float64) Stats {
	s := Stats{N: len(vals)}
	if s.N == 0 {
		return s // all zero: JSON has no NaN
	}
	s.Min, s.Max = math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		s.Mean += v
		s.Min, s.Max = min(s.Min, v), max(s.Max, v)
	}
	s.Mean /= float64(s.N)
	if s.N > 1 {
		for _, v := range vals {
			s.SD += (v - s.Mean) * (v - s.Mean)
		}
		s.SD = math.Sqrt(s.SD / float64(s.N-1))
	}
	return s
}

func paired(a, b []RunReport, policy, baseline string) Paired {
	p := Paired{Policy: policy, Baseline: baseline}
	var d100, d130 []float64
	for i := range a {
		d100 = append(d100, a[i].At100-b[i].At100)
		d130 = append(d130, a[i].At130-b[i].At130)
		if a[i].At100 > b[i].At100 {
			p.Wins100++
		}
		if a[i].At130 > b[i].At130 {
			p.Wins130++
		}
	}
	p.At100, p.At130 = summarise(d100), summarise(d130)
	return p
}

// publishedFigures are every published policy's figures at 100 % and
// 130 % for the workload, in the file's order of policies.
func publishedFigures(points []PublishedPoint, workload string) []PublishedFigure {
	var out []PublishedFigure
	for _, p := range points {
		if p.Workload != workload || p.ArrivedPct != 100 {
			continue
		}
		f := PublishedFigure{Policy: p.Policy, At100: pointStats(p)}
		if q, ok := LookupPublished(points, workload, p.Policy, MaxArrivedPct); ok {
			f.At130 = pointStats(q)
		}
		out = append(out, f)
	}
	return out
}

func pointStats(p PublishedPoint) Stats {
	return Stats{Mean: p.Mean, SD: p.SD, Min: p.Min, Max: p.Max, N: p.Seeds}
}
