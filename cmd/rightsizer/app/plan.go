package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/rightsizer/rightsizer/gpu/mig"
	"github.com/rightsizer/rightsizer/gpu/migpack"
	"github.com/rightsizer/rightsizer/nodeplan/catalog"
	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/gpushape"
)

// planOptions are the flags of `rightsizer plan`: a node plan over
// instance types, or with --gpu a GPU plan (shapes and MIG layouts).
type planOptions struct {
	recommendOptions
	node     nodePlanOptions
	GPU      bool
	Nodes    string
	Model    string
	Strategy string
	Packing  string
	Output   string
}

func (o *planOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.GPU, "gpu", false, "plan GPUs: a shape per GPU workload, and MIG layouts that pack the shapes onto the fewest GPUs")
	fs.BoolVar(&o.Demo, "demo", false, "learn the simulated cluster and plan its nodes for today's and the recommended requests (with --gpu: recommend each GPU workload's shape and pack them)")
	fs.StringVar(&o.Duration, "duration", "8d", "with --demo: how much virtual time to simulate")
	fs.Uint64Var(&o.Seed, "seed", 1, "the random seed of the simulation (--demo) and of the packer")
	fs.StringVar(&o.Profile, "profile", "balanced", "the profile that sizes shapes: cost, balanced or performance")
	fs.StringVar(&o.Nodes, "nodes", "", "with --gpu: a YAML file of nodes (their GPUs, current MIG layouts and the shapes their workloads need) to re-partition")
	fs.StringVar(&o.Model, "gpu-model", "H100-80GB", "with --demo: the GPU model the demo's GPUs are")
	fs.StringVar(&o.Strategy, "strategy", string(migpack.StrategyMixed), "the device plugin's MIG strategy: mixed or single")
	fs.StringVar(&o.Packing, "policy", "fewest-gpus", "what the packer minimises first: fewest-gpus or no-disruption")
	fs.StringVar(&o.Output, "output", "table", "table, json, or yaml (Karpenter NodePools; with --gpu the mig-parted config, labels in a comment)")
	o.node.AddFlags(fs)
}

func (o *planOptions) Validate() error {
	var errs []error
	if !o.GPU {
		errs = o.node.validate(o.Demo, o.Output)
		if o.Nodes != "" {
			errs = append(errs, errors.New("--nodes is for GPU plans: give --gpu"))
		}
		if _, err := gpushape.PolicyFor(o.Profile); err != nil {
			errs = append(errs, fmt.Errorf("--profile: %w", err))
		}
		return errors.Join(errs...)
	}
	if o.node.Pods != "" {
		errs = append(errs, errors.New("--pods is for node plans: leave out --gpu"))
	}
	if o.Demo == (o.Nodes != "") {
		errs = append(errs, errors.New("give one of --demo and --nodes FILE"))
	}
	if _, ok := modelNamed(o.Model); !ok {
		errs = append(errs, fmt.Errorf("--gpu-model %q: not a GPU model rightsizer knows (%s)", o.Model, strings.Join(modelNames(), ", ")))
	}
	if o.Strategy != string(migpack.StrategyMixed) && o.Strategy != string(migpack.StrategySingle) {
		errs = append(errs, fmt.Errorf("--strategy %q: want mixed or single", o.Strategy))
	}
	if _, err := migpack.ParsePolicy(o.Packing); err != nil {
		errs = append(errs, fmt.Errorf("--policy: %w", err))
	}
	if _, err := gpushape.PolicyFor(o.Profile); err != nil {
		errs = append(errs, fmt.Errorf("--profile: %w", err))
	}
	if o.Output != "table" && o.Output != "yaml" {
		errs = append(errs, fmt.Errorf("--output %q: want table or yaml", o.Output))
	}
	return errors.Join(errs...)
}

func newPlanCommand(logger func() (*slog.Logger, error)) *cobra.Command {
	o := &planOptions{}
	cmd := &cobra.Command{
		Use:   "plan (--demo | --pods FILE) | plan --gpu (--demo | --nodes FILE)",
		Short: "Plan the nodes a cluster needs, or GPU shapes and the MIG layouts that pack them",
		Long: "plan bin-packs pods onto the instance types of a priced catalog at the least cost it finds,\n" +
			"for today's requests and the recommended ones, with a lower bound on the cost so that the\n" +
			"gap to optimal shows, and writes Karpenter NodePools for the plan (--output yaml).\n\n" +
			"plan --gpu recommends each GPU workload's shape (whole GPUs, a MIG profile chosen by\n" +
			"MiB and SMs, or an MPS or time-slice share) and packs the MIG shapes onto the fewest\n" +
			"GPUs, with mig-parted's config and the nvidia.com/mig.config labels to apply it.",
		Example: "  rightsizer plan --demo\n" +
			"  rightsizer plan --pods openb_pod_list_default.csv --capacity-types on-demand,spot --spot-discount 0.6\n" +
			"  rightsizer plan --pods pods.yaml --catalog my-prices.csv --output yaml > nodepools.yaml\n" +
			"  rightsizer plan --gpu --demo\n" +
			"  rightsizer plan --gpu --nodes nodes.yaml --policy no-disruption --output yaml",
		Args: cobra.NoArgs,
		RunE: validated(o, logger, func(cmd *cobra.Command, log *slog.Logger) error { return runPlan(cmd, o, log) }),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runPlan(cmd *cobra.Command, o *planOptions, log *slog.Logger) error {
	if !o.GPU {
		return runNodePlan(cmd.Context(), cmd.OutOrStdout(), o, log)
	}
	packing, _ := migpack.ParsePolicy(o.Packing)
	opts := migpack.Options{Strategy: migpack.Strategy(o.Strategy), Policy: packing}
	var nodes []migpack.Node
	var shapes []shapeRow
	if o.Demo {
		var err error
		if shapes, nodes, err = demoShapes(cmd, o, log); err != nil {
			return err
		}
	} else {
		var err error
		if nodes, err = loadNodes(o.Nodes); err != nil {
			return err
		}
	}
	plan, err := migpack.PlanFleet(nodes, opts)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if o.Output == "yaml" {
		return writePlanYAML(w, plan)
	}
	if len(shapes) > 0 {
		if err := writeShapes(w, shapes); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	return plan.Table(w)
}

// shapeRow is one GPU workload's recommendation.
type shapeRow struct {
	key   recommender.ContainerKey
	shape gpushape.Shape
	from  gpushape.Allocation
}

// demoShapes learns the simulated cluster, recommends a shape for every
// container that used a GPU, and puts the MIG and whole-GPU shapes on one
// node of fresh GPUs of the model, as many as today's allocations take.
func demoShapes(cmd *cobra.Command, o *planOptions, log *slog.Logger) ([]shapeRow, []migpack.Node, error) {
	pol, err := loadPolicy("", o.Profile)
	if err != nil {
		return nil, nil, err
	}
	eo := recommender.DefaultOptions()
	eo.Policy, eo.Logger = pol, log
	engine, err := recommender.NewEngine(eo)
	if err != nil {
		return nil, nil, err
	}
	if err := ingest(cmd.Context(), &o.recommendOptions, engine, nil, log); err != nil {
		return nil, nil, err
	}
	model, _ := modelNamed(o.Model)
	price, _ := catalog.GPUPricePerHour(model.Name)
	dev := gpushape.Device{Model: model, Memory: recommender.Bytes(largestProfileMiB(model)) * recommender.MiB, PricePerHour: price}
	sp, _ := gpushape.PolicyFor(o.Profile)

	var rows []shapeRow
	gpus := 0
	node := migpack.Node{Name: "demo", Model: model}
	for _, rec := range engine.List(recommender.Filter{}) {
		if rec.GPUMemory == nil && rec.GPUCompute == nil {
			continue
		}
		// Today each GPU workload holds whole GPUs: its request, at least one.
		var asked recommender.GPUCompute
		if rec.GPUCompute != nil {
			asked = rec.GPUCompute.CurrentRequest
		}
		now := gpushape.Allocation{Kind: gpushape.KindWhole, Count: max(1, int(math.Ceil(float64(asked))))}
		capNow, err := dev.Capacity(now)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", rec.ContainerKey, err)
		}
		var usage gpushape.Usage
		if g, err := engine.GPUUsage(rec.ContainerKey); err != nil {
			// GPU requests but no GPU usage seen: what the recommendation
			// holds (no hours, so the allocation is kept).
			usage = gpushape.UsageFromRecommendation(&rec, pol.Resolve(rec.WorkloadKey))
		} else {
			// The engine's busy-time quantiles and true peak, rather than
			// what the recommendation's one request implies. Memory stays
			// on the flat rule (largest peak plus headroom): the engine's
			// peak windows are days, at most eight and the newest partial,
			// and sizing by risk from so few windows extrapolates far
			// past the peak (the risks were chosen on hourly windows).
			usage = gpushape.UsageFromEngine(g, sp, capNow)
			usage.MemoryPeaks = nil
		}
		shape, err := gpushape.Recommend(gpushape.Input{Usage: usage, Current: now, Device: dev}, sp)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", rec.ContainerKey, err)
		}
		rows = append(rows, shapeRow{key: rec.ContainerKey, shape: shape, from: now})
		for range max(1, rec.Replicas) {
			gpus += now.Count
			name := rec.String()
			switch shape.Kind {
			case gpushape.KindMIG:
				node.Demands = append(node.Demands, migpack.Demand{Workload: name, Profile: shape.Profile})
			case gpushape.KindWhole:
				node.Demands = append(node.Demands, migpack.Demand{Workload: name, Profile: migpack.WholeGPU, Count: shape.Count})
			}
			// MPS and time-slice shares run on a shared whole GPU the
			// device plugin advertises as replicas: not MIG layouts.
		}
	}
	// Demand names must be unique on a node: number replicas.
	seen := map[string]int{}
	for i := range node.Demands {
		d := &node.Demands[i]
		seen[d.Workload]++
		d.Workload = fmt.Sprintf("%s#%d", d.Workload, seen[d.Workload])
	}
	for i := range gpus {
		node.GPUs = append(node.GPUs, migpack.GPU{Index: i})
	}
	return rows, []migpack.Node{node}, nil
}

func writeShapes(w io.Writer, rows []shapeRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER\tNOW\tSHAPE\tGPUS\t$/MONTH\tREASON")
	total := 0.0
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f → %.2f\t%+.0f\t%s\n", r.key, r.from, r.shape.Allocation(),
			r.shape.CurrentGPUs, r.shape.GPUs, -r.shape.MonthlySavingUSD, r.shape.Reason)
		total += r.shape.MonthlySavingUSD
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "Total over %d GPU containers: saves $%.0f per month (per replica)\n", len(rows), total)
	return err
}

func writePlanYAML(w io.Writer, plan migpack.FleetPlan) error {
	b, err := plan.MigPartedYAML()
	if err != nil {
		return err
	}
	// The config alone does not say what it leaves out: warn above it.
	if _, err := fmt.Fprintf(w, "# plan: %d of %d GPUs used, %d re-partitioned (%d disruptive), %d demand units unplaced\n",
		plan.Used, plan.Total, plan.Changed, plan.Disrupted, plan.Unplaced); err != nil {
		return err
	}
	labels := plan.Labels()
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range labels {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range names {
		if _, err := fmt.Fprintf(w, "# node %s: nvidia.com/mig.config=%s\n", n, labels[n]); err != nil {
			return err
		}
	}
	_, err = w.Write(b)
	return err
}

// nodesFile is --nodes: each node's GPUs, optionally its current
// mig-parted config, and the shapes its workloads need.
type nodesFile struct {
	Nodes []struct {
		Name  string `yaml:"name"`
		Model string `yaml:"model"`
		GPUs  int    `yaml:"gpus"`
		// MigConfig and MigConfigName give the current layout: a
		// mig-parted file (relative to the nodes file) and the config the
		// node's label selects.
		MigConfig     string `yaml:"migConfig"`
		MigConfigName string `yaml:"migConfigName"`
		Demands       []struct {
			Workload string `yaml:"workload"`
			Profile  string `yaml:"profile"`
			Count    int    `yaml:"count"`
		} `yaml:"demands"`
	} `yaml:"nodes"`
}

func loadNodes(path string) ([]migpack.Node, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--nodes: %w", err)
	}
	defer func() { _ = f.Close() }()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var nf nodesFile
	if err := dec.Decode(&nf); err != nil {
		return nil, fmt.Errorf("--nodes %s: %w", path, err)
	}
	var nodes []migpack.Node
	var errs []error
	for i, n := range nf.Nodes {
		model, ok := modelNamed(n.Model)
		if !ok {
			errs = append(errs, fmt.Errorf("--nodes %s: node %d (%q): model %q: want one of %s", path, i, n.Name, n.Model, strings.Join(modelNames(), ", ")))
			continue
		}
		if n.GPUs < 1 || n.GPUs > 64 {
			errs = append(errs, fmt.Errorf("--nodes %s: node %q: gpus %d: want 1 to 64", path, n.Name, n.GPUs))
			continue
		}
		node := migpack.Node{Name: n.Name, Model: model}
		if n.MigConfig != "" {
			cfgPath := n.MigConfig
			if !filepath.IsAbs(cfgPath) {
				cfgPath = filepath.Join(filepath.Dir(path), cfgPath) // relative to the nodes file
			}
			cf, err := os.Open(cfgPath)
			if err != nil {
				errs = append(errs, fmt.Errorf("--nodes %s: node %q: %w", path, n.Name, err))
				continue
			}
			cfg, err := migpack.LoadConfig(cf, model)
			_ = cf.Close()
			if err == nil {
				node.GPUs, err = cfg.GPUs(n.MigConfigName, model, n.GPUs, firstPCI(model))
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("--nodes %s: node %q: %w", path, n.Name, err))
				continue
			}
		} else {
			for g := range n.GPUs {
				node.GPUs = append(node.GPUs, migpack.GPU{Index: g})
			}
		}
		for _, d := range n.Demands {
			node.Demands = append(node.Demands, migpack.Demand{Workload: d.Workload, Profile: d.Profile, Count: d.Count})
		}
		nodes = append(nodes, node)
	}
	return nodes, errors.Join(errs...)
}

func modelNamed(name string) (mig.Model, bool) {
	for _, m := range mig.Models() {
		if strings.EqualFold(m.Name, name) {
			return m, true
		}
	}
	return mig.Model{}, false
}

func modelNames() []string {
	var out []string
	for _, m := range mig.Models() {
		out = append(out, m.Name)
	}
	return out
}

func firstPCI(m mig.Model) uint32 {
	if len(m.PCIDeviceIDs) > 0 {
		return m.PCIDeviceIDs[0]
	}
	return 0
}

// largestProfileMiB is a whole GPU's memory as its full-GPU MIG profile
// has it, the memory NVML reports.
func largestProfileMiB(m mig.Model) int64 {
	var mib int64
	for _, p := range m.Profiles {
		mib = max(mib, p.MemoryMiB)
	}
	return mib
}
