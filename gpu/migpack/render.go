package migpack

import (
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/rightsizer/rightsizer/gpu/mig"
)

// ConfigLabel is the node label that selects the MIG manager's config.
const ConfigLabel = "nvidia.com/mig.config"

// gpuSpec is one GPU's planned MIG mode and instance counts, the part of a
// plan mig-parted sees.
type gpuSpec struct {
	enabled bool
	counts  map[string]int
}

func (s gpuSpec) key() string {
	if !s.enabled {
		return "off"
	}
	var b strings.Builder
	b.WriteString("on")
	for _, p := range sortedProfiles(s.counts) {
		b.WriteString("," + p + "=" + strconv.Itoa(s.counts[p]))
	}
	return b.String()
}

func specOf(g GPUPlan) gpuSpec {
	s := gpuSpec{enabled: g.MIGEnabled, counts: map[string]int{}}
	for _, in := range g.Instances {
		s.counts[in.Profile]++
	}
	return s
}

// ConfigName is the name of the node's mig-parted config, the value of its
// nvidia.com/mig.config label: "all-disabled" when every GPU has MIG off,
// "all-<profile>" when every GPU holds the most instances of one profile
// that fit (the names and contents of mig-parted's default config), else
// "rightsizer-" and 12 hex digits of a hash of the per-GPU layouts, so
// that nodes planned alike share a config and a changed plan gets a new
// label value (which is what makes the MIG manager act).
func (p NodePlan) ConfigName() string {
	entries := p.entries()
	if len(entries) == 1 && entries[0].AllDevices {
		d := entries[0]
		if !d.MIGEnabled {
			return "all-disabled"
		}
		if len(d.MIGDevices) == 1 && p.maxFill != nil {
			for prof, n := range d.MIGDevices {
				if max, ok := p.maxFill[prof]; ok && max == n && !strings.Contains(prof, "+") {
					return "all-" + prof
				}
			}
		}
	}
	h := fnv.New64a()
	for _, g := range p.GPUs {
		fmt.Fprintf(h, "%d:%s;", g.Index, specOf(g).key())
	}
	return fmt.Sprintf("rightsizer-%012x", h.Sum64()>>16)
}

// entries groups the GPUs with the same spec into one entry each, in
// order of their first GPU; one spec for every GPU is `devices: all`.
func (p NodePlan) entries() []DeviceConfig {
	var out []DeviceConfig
	var keys []string
	for _, g := range p.GPUs {
		s := specOf(g)
		k := s.key()
		i := slices.Index(keys, k)
		if i < 0 {
			keys = append(keys, k)
			d := DeviceConfig{MIGEnabled: s.enabled}
			if s.enabled {
				d.MIGDevices = s.counts
			}
			out = append(out, d)
			i = len(out) - 1
		}
		out[i].Devices = append(out[i].Devices, g.Index)
	}
	if len(out) == 1 {
		out[0].AllDevices, out[0].Devices = true, nil
	}
	return out
}

// Config is the node's plan as a mig-parted config holding one named
// config (ConfigName) with an entry per distinct GPU layout. GPUs the plan
// keeps are listed with their current counts, which mig-parted leaves
// alone.
func (p NodePlan) Config() Config {
	name := p.ConfigName()
	return Config{
		Version:    ConfigVersion,
		MIGConfigs: map[string][]DeviceConfig{name: p.entries()},
		Comments:   map[string]string{name: p.Model + ": " + p.Node},
	}
}

// MigPartedYAML renders Config as YAML.
func (p NodePlan) MigPartedYAML() ([]byte, error) { return p.Config().Marshal() }

// Label returns the node label that applies the plan.
func (p NodePlan) Label() (key, value string) { return ConfigLabel, p.ConfigName() }

// Config merges the nodes' configs into one mig-parted config: nodes with
// the same layouts share a named config, whose comment lists them. It
// fails only if two different layouts got the same name, which the
// 48-bit hash makes improbable.
func (f FleetPlan) Config() (Config, error) {
	c := Config{Version: ConfigVersion, MIGConfigs: map[string][]DeviceConfig{}, Comments: map[string]string{}}
	nodes := map[string][]string{}
	models := map[string]string{}
	for _, np := range f.Nodes {
		name := np.ConfigName()
		entries := np.entries()
		if prev, ok := c.MIGConfigs[name]; ok && !sameEntries(prev, entries) {
			return Config{}, fmt.Errorf("configs of nodes %s and %s share the name %s but differ", nodes[name][0], np.Node, name)
		}
		c.MIGConfigs[name] = entries
		nodes[name] = append(nodes[name], np.Node)
		models[name] = np.Model
	}
	for name, ns := range nodes {
		c.Comments[name] = fmt.Sprintf("%s: %s", models[name], strings.Join(ns, ", "))
	}
	return c, nil
}

func sameEntries(a, b []DeviceConfig) bool {
	return slices.EqualFunc(a, b, func(x, y DeviceConfig) bool {
		return x.AllDevices == y.AllDevices && slices.Equal(x.Devices, y.Devices) && x.MIGEnabled == y.MIGEnabled &&
			slices.Equal(x.DeviceFilter, y.DeviceFilter) && maps.Equal(x.MIGDevices, y.MIGDevices)
	})
}

// MigPartedYAML renders Config as YAML.
func (f FleetPlan) MigPartedYAML() ([]byte, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	return c.Marshal()
}

// Labels maps each node to its nvidia.com/mig.config value.
func (f FleetPlan) Labels() map[string]string {
	out := make(map[string]string, len(f.Nodes))
	for _, np := range f.Nodes {
		out[np.Node] = np.ConfigName()
	}
	return out
}

// Table writes the plan for people: a row per GPU with its planned layout
// (largest profiles first), instances used, and whether it changes and
// whose pods that evicts; a row per demand unit with where it goes; then
// the node's totals and label.
func (p NodePlan) Table(w io.Writer) error {
	return writeTables(w, []NodePlan{p}, "")
}

// Table writes every node's GPU rows, then every assignment, then each
// node's totals and the fleet's.
func (f FleetPlan) Table(w io.Writer) error {
	total := fmt.Sprintf("fleet: %d nodes, %d of %d GPUs used, %d re-partitioned (%d disruptive), %d moved, %d unplaced\n",
		len(f.Nodes), f.Used, f.Total, f.Changed, f.Disrupted, f.Moved, f.Unplaced)
	return writeTables(w, f.Nodes, total)
}

func writeTables(w io.Writer, plans []NodePlan, trailer string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tGPU\tMIG\tLAYOUT\tUSED\tCHANGE\tEVICTS")
	for _, p := range plans {
		for _, g := range p.GPUs {
			mode, layout, used := "off", "whole", "0/1"
			if g.Workload != "" {
				used = "1/1"
			}
			if g.MIGEnabled {
				mode, layout = "on", formatLayout(g.Instances)
				n := 0
				for _, in := range g.Instances {
					if in.Workload != "" {
						n++
					}
				}
				used = fmt.Sprintf("%d/%d", n, len(g.Instances))
			}
			change := "keep"
			switch {
			case g.Disruptive:
				change = "re-partition (disruptive)"
			case g.Changed:
				change = "re-partition"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Node, g.Index, mode, layout, used, change, orDash(strings.Join(g.Evicted, ",")))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write plan table: %w", err)
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKLOAD\tREQUESTED\tPROFILE\tNODE\tGPU\tPLACEMENT\tMOVED")
	for _, p := range plans {
		for _, a := range p.Assignments {
			gpu, placement, profile := "-", "-", orDash(a.Profile)
			if a.GPU >= 0 {
				gpu = strconv.Itoa(a.GPU)
				placement = "whole"
				if a.Instance >= 0 {
					placement = p.gpu(a.GPU).Instances[a.Instance].Placement.String()
				}
			} else {
				profile = "unplaced"
			}
			moved := "no"
			if a.Moved {
				moved = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Workload, a.Requested, profile, p.Node, gpu, placement, moved)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write plan table: %w", err)
	}
	var b strings.Builder
	for _, p := range plans {
		exact := "optimal"
		if !p.Exact {
			exact = "greedy"
		}
		fmt.Fprintf(&b, "%s: %s, %s strategy, %s (%s): %d of %d GPUs used, %d re-partitioned (%d disruptive: %s), %d moved, %d unplaced; label %s=%s\n",
			p.Node, p.Model, p.Strategy, p.Policy, exact, p.Used, p.Total, len(p.Changed), len(p.Disrupted), indexList(p.Disrupted), p.Moved, p.Unplaced, ConfigLabel, p.ConfigName())
	}
	b.WriteString(trailer)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write plan table: %w", err)
	}
	return nil
}

// gpu returns the plan of the GPU with the given index.
func (p NodePlan) gpu(index int) GPUPlan {
	for _, g := range p.GPUs {
		if g.Index == index {
			return g
		}
	}
	return GPUPlan{}
}

// formatLayout writes a layout as "3g.40gb + 2g.20gb×2", largest first;
// "(empty)" for none.
func formatLayout(ins []Instance) string {
	counts := map[string]int{}
	for _, in := range ins {
		counts[in.Profile]++
	}
	names := sortedProfiles(counts)
	slices.Reverse(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n
		if counts[n] > 1 {
			parts[i] += "×" + strconv.Itoa(counts[n])
		}
	}
	if len(parts) == 0 {
		return "(empty)"
	}
	return strings.Join(parts, " + ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func indexList(xs []int) string {
	if len(xs) == 0 {
		return "none"
	}
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// maxFills is, per profile, the most instances of it alone one GPU holds.
func maxFills(o *mig.Oracle) map[string]int {
	m := o.Model()
	out := make(map[string]int, len(m.Profiles))
	for i, p := range m.Profiles {
		c := make(mig.Counts, len(m.Profiles))
		for n := p.MaxCount; n > 0; n-- {
			c[i] = n
			if o.Feasible(c) {
				out[p.Name] = n
				break
			}
		}
	}
	return out
}
