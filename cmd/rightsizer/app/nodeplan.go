package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/rightsizer/rightsizer/internal/quantity"
	"github.com/rightsizer/rightsizer/nodeplan"
	"github.com/rightsizer/rightsizer/nodeplan/catalog"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/nodeplan/karpenter"
	"github.com/rightsizer/rightsizer/nodeplan/openb"
	"github.com/rightsizer/rightsizer/nodeplan/podfile"
	"github.com/rightsizer/rightsizer/recommender"
)

// nodePlanOptions are the flags of `rightsizer plan` without --gpu: a
// node plan over instance types.
type nodePlanOptions struct {
	Pods          string
	Catalog       string
	Overrides     string
	CapacityTypes []string
	SpotDiscount  float64
	DaemonSets    string
	MaxPods       int
	GPUTaint      bool
	Arch          []string
	Families      []string
	Categories    []string
	Budget        time.Duration
	NodeClass     string
}

func (o *nodePlanOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Pods, "pods", "", "the pods to place: an Alibaba GPU trace CSV (openb_pod_list_*.csv), rightsizer's pod list, or Kubernetes objects (kubectl get pods -o yaml), YAML or JSON")
	fs.StringVar(&o.Catalog, "catalog", "", "an instance catalog (CSV, YAML or JSON, the embedded AWS us-east-1 catalog's columns); default the embedded one")
	fs.StringVar(&o.Overrides, "overrides", "", "price overrides (CSV name,price_od,price_spot, or YAML/JSON with on_demand_discount, spot_discount and prices)")
	fs.StringSliceVar(&o.CapacityTypes, "capacity-types", []string{catalog.CapacityTypeOnDemand}, "capacity types to plan with: on-demand, spot (spot needs spot prices or --spot-discount)")
	fs.Float64Var(&o.SpotDiscount, "spot-discount", 0, "spot price as a discount off on-demand (0.6 = 60% off) where no spot price is known")
	fs.StringVar(&o.DaemonSets, "daemonset-overhead", "", "what every node's DaemonSets request, e.g. cpu=200m,memory=512Mi,pods=3 (added to DaemonSets found in --pods)")
	fs.IntVar(&o.MaxPods, "max-pods", 0, "pods per node at most, DaemonSet pods included (0: the catalog's)")
	fs.BoolVar(&o.GPUTaint, "gpu-taint", true, "taint GPU nodes nvidia.com/gpu=true:NoSchedule so that only GPU pods land there (pods that request GPUs tolerate it, as Kubernetes' ExtendedResourceToleration admission adds)")
	fs.StringSliceVar(&o.Arch, "arch", []string{"amd64"}, "CPU architectures the pods' images run on: amd64, arm64")
	fs.StringSliceVar(&o.Families, "families", nil, "instance families to plan with, e.g. m7i,c7i,r7i,g6 (default all)")
	fs.StringSliceVar(&o.Categories, "categories", nil, "instance categories to plan with, e.g. c,m,r,g,p (default all)")
	fs.DurationVar(&o.Budget, "budget", nodeplan.DefaultBudget, "wall-clock time each plan's search (column generation and improvement) may take; its lower bound's LP may take as long again")
	fs.StringVar(&o.NodeClass, "node-class", "default", "with --output yaml: the EC2NodeClass the NodePools reference")
}

func (o *nodePlanOptions) validate(demo bool, output string) []error {
	var errs []error
	if demo == (o.Pods != "") {
		errs = append(errs, errors.New("give one of --demo and --pods FILE"))
	}
	if output != "table" && output != "yaml" && output != "json" {
		errs = append(errs, fmt.Errorf("--output %q: want table, yaml or json", output))
	}
	if math.IsNaN(o.SpotDiscount) || o.SpotDiscount < 0 || o.SpotDiscount >= 1 {
		errs = append(errs, fmt.Errorf("--spot-discount %v: want a fraction in [0, 1)", o.SpotDiscount))
	}
	if _, err := parseOverhead(o.DaemonSets); err != nil {
		errs = append(errs, fmt.Errorf("--daemonset-overhead: %w", err))
	}
	if o.MaxPods < 0 {
		errs = append(errs, fmt.Errorf("--max-pods %d: want 0 or more", o.MaxPods))
	}
	if o.Budget <= 0 {
		errs = append(errs, fmt.Errorf("--budget %v: want a positive duration", o.Budget))
	}
	return errs
}

// parseOverhead reads "cpu=200m,memory=512Mi,pods=3"; every key optional.
func parseOverhead(s string) (cluster.Resources, error) {
	var r cluster.Resources
	if s == "" {
		return r, nil
	}
	seen := map[string]bool{}
	for kv := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || seen[k] {
			return r, fmt.Errorf("%q: want key=value pairs of cpu, memory and pods, each once", kv)
		}
		seen[k] = true
		q, err := quantity.Parse(v)
		if err != nil || q.Sign() < 0 {
			return r, fmt.Errorf("%s=%q: want a non-negative quantity", k, v)
		}
		// Bounded as a pod's requests are: an overhead above a pod's
		// largest would overflow, not plan.
		switch k {
		case "cpu":
			r.CPU, err = podfile.CPUOf(q)
		case "memory":
			r.Memory, err = podfile.MemoryOf(q)
		case "pods":
			if q.AsApproximateFloat64() > podfile.MaxPods {
				err = fmt.Errorf("more than %d pods", podfile.MaxPods)
			} else {
				r.Pods = int(q.Value())
			}
		default:
			return r, fmt.Errorf("unknown key %q: want cpu, memory or pods", k)
		}
		if err != nil {
			return r, fmt.Errorf("%s=%q: %w", k, v, err)
		}
	}
	return r, nil
}

// nodePlanPods are the pods to plan: as requested now and, when known, as
// rightsizer recommends them (same order).
type nodePlanPods struct {
	source      string
	current     []cluster.Pod
	recommended []cluster.Pod // nil when only current requests are known
	daemonSets  cluster.Resources
}

func runNodePlan(ctx context.Context, w io.Writer, o *planOptions, log *slog.Logger) error {
	var pods nodePlanPods
	var err error
	if o.Demo {
		pods, err = demoPods(ctx, o, log)
	} else {
		pods, err = readPodsFile(o.node.Pods)
	}
	if err != nil {
		return err
	}
	cat, types, dropped, err := nodeTypes(&o.node, pods.daemonSets)
	if err != nil {
		return err
	}
	if o.node.GPUTaint {
		tolerateGPUTaint(pods.current)
		tolerateGPUTaint(pods.recommended)
	}
	in := nodeplan.Input{Types: types, Seed: o.Seed, Budget: o.node.Budget}
	in.Pods = pods.current
	current, err := nodeplan.Plan(ctx, in)
	if err != nil {
		return fmt.Errorf("plan the current requests: %w", err)
	}
	var recommended *nodeplan.Result
	if pods.recommended != nil {
		in.Pods = pods.recommended
		if recommended, err = nodeplan.Plan(ctx, in); err != nil {
			return fmt.Errorf("plan the recommended requests: %w", err)
		}
	}
	if len(dropped) > 0 {
		log.Warn("instance types left out: the DaemonSet overhead leaves them no room", "count", len(dropped), "types", someOf(dropped))
	}
	log.Info("planned", "pods", len(pods.current), "types", len(types), "nodes", len(current.Nodes))

	switch o.Output {
	case "json":
		return writeNodePlanJSON(w, pods, current, recommended)
	case "yaml":
		final := current
		if recommended != nil {
			final = recommended
		}
		return writeNodePools(w, final, types, o.node.NodeClass)
	}
	return writeNodePlanTable(w, pods, cat, len(types), dropped, current, recommended)
}

// readPodsFile reads --pods: the Alibaba trace's CSV, or YAML/JSON.
func readPodsFile(path string) (nodePlanPods, error) {
	f, err := os.Open(path)
	if err != nil {
		return nodePlanPods{}, fmt.Errorf("--pods: %w", err)
	}
	defer func() { _ = f.Close() }()
	br := bufio.NewReader(f)
	head, _ := br.Peek(4096)
	if isCSVHeader(head) {
		pods, err := openb.ReadPods(br)
		if err != nil {
			return nodePlanPods{}, fmt.Errorf("--pods %s: %w", path, err)
		}
		return nodePlanPods{source: path, current: pods}, nil
	}
	pf, err := podfile.Read(br)
	if err != nil {
		return nodePlanPods{}, fmt.Errorf("--pods %s: %w", path, err)
	}
	out := nodePlanPods{source: path, current: pf.Current, daemonSets: pf.DaemonSetOverhead()}
	if pf.HasRecommended {
		out.recommended = pf.Recommended
	}
	return out, nil
}

// isCSVHeader reports whether a file starting with head is a CSV of
// named columns (the Alibaba trace's, in any order) rather than YAML or
// JSON: its first line names cpu_milli among comma-separated columns. A
// YAML or JSON pod list cannot start so: its first line is a comment, a
// document marker, a mapping key ("pods:"), "{" or "[".
func isCSVHeader(head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	text := strings.TrimSpace(strings.TrimPrefix(string(line), "\uFEFF"))
	return !strings.ContainsAny(text, ":{[#") && slices.Contains(strings.Split(text, ","), "cpu_milli")
}

// nodeTypes builds the node types to plan with from the catalog flags,
// and names the instance types the flags select but the DaemonSet
// overhead leaves no room on.
func nodeTypes(o *nodePlanOptions, daemonSets cluster.Resources) (*catalog.Catalog, []cluster.NodeType, []string, error) {
	cat := catalog.AWSUSEast1()
	if o.Catalog != "" {
		var err error
		if cat, err = catalog.LoadFile(o.Catalog); err != nil {
			return nil, nil, nil, fmt.Errorf("--catalog: %w", err)
		}
	}
	var ov catalog.Overrides
	if o.Overrides != "" {
		var err error
		if ov, err = catalog.LoadOverridesFile(o.Overrides); err != nil {
			return nil, nil, nil, fmt.Errorf("--overrides: %w", err)
		}
	}
	if o.SpotDiscount > 0 {
		ov.SpotDiscount = o.SpotDiscount
	}
	if o.Overrides != "" || o.SpotDiscount > 0 {
		var err error
		if cat, err = cat.WithOverrides(ov); err != nil {
			return nil, nil, nil, fmt.Errorf("--overrides: %w", err)
		}
	}
	overhead, _ := parseOverhead(o.DaemonSets) // validated
	opts := catalog.NodeTypeOptions{
		DaemonSetOverhead: overhead.Add(daemonSets),
		MaxPods:           o.MaxPods,
		CapacityTypes:     o.CapacityTypes,
		GPUTaint:          o.GPUTaint,
		Arch:              o.Arch,
		Families:          o.Families,
		Categories:        o.Categories,
	}
	types, err := cat.NodeTypes(opts)
	if err != nil {
		return nil, nil, nil, err
	}
	dropped, err := cat.Dropped(opts)
	if err != nil {
		return nil, nil, nil, err
	}
	return cat, types, dropped, nil
}

// someOf lists the first few names, and how many more there are.
func someOf(names []string) string {
	const few = 5
	if len(names) <= few {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:few], ", "), len(names)-few)
}

// gpuToleration is what Kubernetes' ExtendedResourceToleration admission
// plugin adds to pods that request nvidia.com/gpu.
var gpuToleration = cluster.Toleration{Key: catalog.GPUTaintKey, Operator: "Exists", Effect: "NoSchedule"}

func tolerateGPUTaint(pods []cluster.Pod) {
	for i := range pods {
		p := &pods[i]
		if p.GPU.Any() && !slices.Contains(p.Tolerations, gpuToleration) {
			p.Tolerations = append(slices.Clip(p.Tolerations), gpuToleration)
		}
	}
}

// demoPods learns the simulated cluster and turns each workload into its
// replicas' pods, with today's requests and rightsizer's recommendation:
// app and sidecar containers add up, an init container sets a floor
// (Kubernetes' effective request). GPUs stay as requested: `plan --gpu`
// recommends GPU shapes.
func demoPods(ctx context.Context, o *planOptions, log *slog.Logger) (nodePlanPods, error) {
	pol, err := loadPolicy("", o.Profile)
	if err != nil {
		return nodePlanPods{}, err
	}
	eo := recommender.DefaultOptions()
	eo.Policy, eo.Logger = pol, log
	engine, err := recommender.NewEngine(eo)
	if err != nil {
		return nodePlanPods{}, err
	}
	if err := ingest(ctx, &o.recommendOptions, engine, nil, log); err != nil {
		return nodePlanPods{}, err
	}
	type sum struct {
		replicas         int
		cur, rec         cluster.Pod
		initCur, initRec cluster.Pod
		gpus             int
	}
	workloads := map[recommender.WorkloadKey]*sum{}
	var order []recommender.WorkloadKey
	for _, rec := range engine.List(recommender.Filter{}) {
		s := workloads[rec.WorkloadKey]
		if s == nil {
			s = &sum{}
			workloads[rec.WorkloadKey] = s
			order = append(order, rec.WorkloadKey)
		}
		s.replicas = max(s.replicas, int(rec.Replicas), 1)
		if rec.Role == recommender.RoleInit {
			s.initCur.CPU = max(s.initCur.CPU, rec.CPU.CurrentRequest)
			s.initCur.Memory = max(s.initCur.Memory, rec.Memory.CurrentRequest)
			s.initRec.CPU = max(s.initRec.CPU, rec.CPU.Request)
			s.initRec.Memory = max(s.initRec.Memory, rec.Memory.Request)
			continue
		}
		s.cur.CPU += rec.CPU.CurrentRequest
		s.cur.Memory += rec.Memory.CurrentRequest
		s.rec.CPU += rec.CPU.Request
		s.rec.Memory += rec.Memory.Request
		if rec.GPUCompute != nil {
			s.gpus += max(1, int(math.Ceil(float64(rec.GPUCompute.CurrentRequest))))
		}
	}
	slices.SortFunc(order, func(a, b recommender.WorkloadKey) int { return strings.Compare(a.String(), b.String()) })
	out := nodePlanPods{source: fmt.Sprintf("simulated cluster (seed %d, %s)", o.Seed, o.Duration)}
	for _, k := range order {
		s := workloads[k]
		cur, rec := s.cur, s.rec
		cur.CPU, cur.Memory = max(cur.CPU, s.initCur.CPU), max(cur.Memory, s.initCur.Memory)
		rec.CPU, rec.Memory = max(rec.CPU, s.initRec.CPU), max(rec.Memory, s.initRec.Memory)
		if s.gpus > 0 {
			cur.GPU = cluster.GPURequest{Count: s.gpus}
			rec.GPU = cur.GPU
		}
		for i := range s.replicas {
			name := fmt.Sprintf("%s/%s-%d", k.Namespace, k.Name, i)
			cur.Name, rec.Name = name, name
			out.current = append(out.current, cur)
			out.recommended = append(out.recommended, rec)
		}
	}
	if len(out.current) == 0 {
		return nodePlanPods{}, errors.New("the simulation produced no workloads")
	}
	return out, nil
}

func writeNodePlanJSON(w io.Writer, pods nodePlanPods, current, recommended *nodeplan.Result) error {
	doc := struct {
		Source      string           `json:"source"`
		Current     *nodeplan.Result `json:"current"`
		Recommended *nodeplan.Result `json:"recommended,omitempty"`
		Saving      *nodeplan.Saving `json:"saving,omitempty"`
	}{Source: pods.source, Current: current, Recommended: recommended}
	if recommended != nil {
		s := nodeplan.Compare(current, recommended)
		doc.Saving = &s
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// writeNodePools writes the Karpenter NodePools for a plan, its cost and
// bound in a comment above them.
func writeNodePools(w io.Writer, res *nodeplan.Result, types []cluster.NodeType, nodeClass string) error {
	var used []karpenter.Use
	for _, tc := range res.ByType {
		used = append(used, karpenter.Use{Type: types[tc.Type], Count: tc.Count})
	}
	opts := karpenter.DefaultOptions()
	opts.NodeClassName = nodeClass
	pools, err := karpenter.NodePools(used, opts)
	if err != nil {
		return err
	}
	b, err := karpenter.Marshal(pools)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "# rightsizer node plan: %d nodes, $%.2f/h ($%.0f/month); lower bound $%.2f/h (gap %.1f%%); %d pods unplaced\n",
		len(res.Nodes), res.CostPerHour, res.CostPerMonth, res.LowerBoundPerHour, res.GapPct, len(res.Unplaced)); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func writeNodePlanTable(w io.Writer, pods nodePlanPods, cat *catalog.Catalog, types int, dropped []string, current, recommended *nodeplan.Result) error {
	fmt.Fprintf(w, "%d pods from %s, on %d node types (catalog region %s)\n", len(pods.current), pods.source, types, cat.Region())
	if len(dropped) > 0 {
		what := "instance types"
		if len(dropped) == 1 {
			what = "instance type"
		}
		fmt.Fprintf(w, "%d %s left out, the DaemonSet overhead leaves no room: %s\n", len(dropped), what, someOf(dropped))
	}
	fmt.Fprintln(w)
	if err := writeOnePlan(w, "Current requests", current); err != nil {
		return err
	}
	if recommended == nil {
		return nil
	}
	fmt.Fprintln(w)
	if err := writeOnePlan(w, "Recommended requests", recommended); err != nil {
		return err
	}
	s := nodeplan.Compare(current, recommended)
	_, err := fmt.Fprintf(w, "\nSaving: $%.0f/month (%.1f%%): %d nodes → %d, $%.2f/h → $%.2f/h\n",
		s.SavingPerMonth, s.SavingPct, s.CurrentNodes, s.RecommendedNodes, s.CurrentPerHour, s.RecommendedPerHour)
	return err
}

func writeOnePlan(w io.Writer, title string, r *nodeplan.Result) error {
	fmt.Fprintf(w, "%s: %d nodes, $%.2f/h ($%.0f/month); lower bound $%.2f/h (%s), gap %.1f%%\n",
		title, len(r.Nodes), r.CostPerHour, r.CostPerMonth, r.LowerBoundPerHour, r.LowerBoundMethod, r.GapPct)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TYPE\tCAPACITY\tNODES\t$/HOUR\t$/MONTH")
	for _, tc := range r.ByType {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%.2f\t%.0f\n", tc.Name, tc.CapacityType, tc.Count, tc.CostPerHour, tc.CostPerHour*nodeplan.HoursPerMonth)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	u, st := r.Utilisation, r.Stranded
	fmt.Fprintf(w, "  utilisation: cpu %.0f%%, memory %.0f%%, pods %.0f%%, gpu %.0f%%\n", 100*u.CPU, 100*u.Memory, 100*u.Pods, 100*u.GPU)
	fmt.Fprintf(w, "  stranded: cpu %s (%.0f%%), memory %s (%.0f%%), gpu %.1f (%.0f%%)\n",
		st.CPU, 100*st.CPUFraction, st.Memory, 100*st.MemoryFraction, float64(st.GPUMilli)/cluster.MilliGPU, 100*st.GPUFraction)
	if n := len(r.Unplaced); n > 0 {
		fmt.Fprintf(w, "  unplaced: %d pods, e.g. %s: %s\n", n, r.Unplaced[0].Name, r.Unplaced[0].Reason)
	}
	return nil
}
