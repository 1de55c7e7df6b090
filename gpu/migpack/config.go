package migpack

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rightsizer/rightsizer/gpu/mig"
)

// ConfigVersion is the only mig-parted config version (api/spec/v1).
const ConfigVersion = "v1"

// MaxConfigBytes bounds the mig-parted config ParseConfig reads.
const MaxConfigBytes = 1 << 20

// ErrInvalidConfig reports a mig-parted config that ParseConfig or
// Config.Validate refuses.
var ErrInvalidConfig = errors.New("invalid mig-parted config")

// Config is a mig-parted configuration file (mig-parted's
// api/spec/v1.Spec): named configs, each a list of entries that apply a
// MIG mode and a multiset of profiles to a set of GPUs. The GPU Operator's
// MIG manager applies the config named by a node's nvidia.com/mig.config
// label.
type Config struct {
	// Version is always ConfigVersion.
	Version string
	// MIGConfigs maps a config name to its entries, applied in order.
	MIGConfigs map[string][]DeviceConfig
	// Comments are written as a YAML comment above the named config by
	// Marshal; ParseConfig does not read them back.
	Comments map[string]string
}

// DeviceConfig is one entry of a named config (mig-parted's
// MigConfigSpec).
type DeviceConfig struct {
	// AllDevices is `devices: all`; otherwise Devices lists GPU indices.
	AllDevices bool
	Devices    []int
	// DeviceFilter restricts the entry to GPUs with these PCI device IDs,
	// as written ("0x233010DE", or with a ":0x…" subsystem ID); empty
	// matches every GPU.
	DeviceFilter []string
	// MIGEnabled is the MIG mode.
	MIGEnabled bool
	// MIGDevices counts instances per profile name; empty when MIG is off.
	MIGDevices map[string]int
}

// Matches reports whether the entry applies to GPU index on a GPU of the
// given PCI device ID (0: unknown, which only an entry without a filter
// matches).
func (d DeviceConfig) Matches(index int, pciDeviceID uint32) bool {
	if len(d.DeviceFilter) > 0 {
		ok := false
		for _, f := range d.DeviceFilter {
			id, _, err := parseDeviceID(f)
			ok = ok || (err == nil && id == pciDeviceID)
		}
		if !ok {
			return false
		}
	}
	return d.AllDevices || slices.Contains(d.Devices, index)
}

var (
	// A label value, since nvidia.com/mig.config=<name> names the config.
	configName = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	// mig-parted's MigProfile syntax: [<C>c.]<G>g.<GB>gb[+attr[,attr]],
	// an attribute starting with a letter; newer drivers' attributes
	// ("me.all", "gfx") may hold dots.
	profileSyntax = regexp.MustCompile(`^(?:[0-9]+c\.)?[0-9]+g\.[0-9]+gb(?:\+[A-Za-z][A-Za-z0-9.]*(?:,[A-Za-z][A-Za-z0-9.]*)*)?$`)
)

// parseDeviceID parses a device-filter entry as mig-parted does:
// "<device+vendor>" or "<device+vendor>:<subsystem>", each a 32-bit
// number in Go syntax (0x…).
func parseDeviceID(s string) (uint32, string, error) {
	primary, sub, hasSub := strings.Cut(s, ":")
	id, err := strconv.ParseUint(primary, 0, 32)
	if err != nil {
		return 0, "", fmt.Errorf("device-filter %q: not a PCI device ID", s)
	}
	if hasSub {
		if _, err := strconv.ParseUint(sub, 0, 32); err != nil {
			return 0, "", fmt.Errorf("device-filter %q: not a PCI subsystem ID", s)
		}
	}
	return uint32(id), sub, nil
}

// ParseConfig reads a mig-parted config strictly: one YAML document,
// version v1, a non-empty mig-configs map whose names are valid label
// values, each config a non-empty list of entries with only the fields
// devices (required: "all" or distinct non-negative indices),
// mig-enabled (required), mig-devices (required when enabled, a map of
// profile names in mig-parted's syntax to non-negative counts; absent or
// empty when disabled) and device-filter (PCI device IDs). Duplicate keys,
// anchors and aliases are refused. Every problem is reported, with its
// line, joined and wrapping ErrInvalidConfig. Profile names and
// feasibility depend on the GPU model: see Config.Validate.
func ParseConfig(r io.Reader) (Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxConfigBytes+1))
	if err != nil {
		return Config{}, fmt.Errorf("read mig-parted config: %w", err)
	}
	if len(data) > MaxConfigBytes {
		return Config{}, fmt.Errorf("%w: larger than %d bytes", ErrInvalidConfig, MaxConfigBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return Config{}, fmt.Errorf("%w: empty document", ErrInvalidConfig)
		}
		return Config{}, fmt.Errorf("%w: %s", ErrInvalidConfig, err.Error())
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("%w: more than one YAML document", ErrInvalidConfig)
	}
	ps := &configParser{}
	c := ps.spec(&doc)
	if len(ps.errs) > 0 {
		return Config{}, fmt.Errorf("%w:\n  %s", ErrInvalidConfig, strings.Join(ps.errs, "\n  "))
	}
	return c, nil
}

// configParser walks the YAML node tree, collecting every problem.
type configParser struct {
	errs []string
}

func (ps *configParser) bad(n *yaml.Node, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	if n != nil && n.Line > 0 {
		msg = fmt.Sprintf("line %d: %s", n.Line, msg)
	}
	ps.errs = append(ps.errs, msg)
}

// kind checks a node's kind, refusing aliases and anchors.
func (ps *configParser) kind(n *yaml.Node, path string, want yaml.Kind, what string) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		ps.bad(n, path, "anchors and aliases are not supported")
		return false
	}
	if n.Kind != want {
		ps.bad(n, path, "want %s", what)
		return false
	}
	return true
}

// fields walks a mapping's key/value pairs, refusing duplicate and
// non-string keys.
func (ps *configParser) fields(n *yaml.Node, path string, each func(key string, k, v *yaml.Node)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !ps.kind(k, path, yaml.ScalarNode, "a string key") {
			continue
		}
		if k.Tag != "!!str" {
			ps.bad(k, path, "key %q is not a string", k.Value)
			continue
		}
		if seen[k.Value] {
			ps.bad(k, path, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		each(k.Value, k, v)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (ps *configParser) spec(doc *yaml.Node) Config {
	var c Config
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		ps.bad(doc, "", "want a YAML mapping")
		return c
	}
	root := doc.Content[0]
	if !ps.kind(root, "", yaml.MappingNode, "a mapping with version and mig-configs") {
		return c
	}
	var haveVersion, haveConfigs bool
	ps.fields(root, "", func(key string, k, v *yaml.Node) {
		switch key {
		case "version":
			haveVersion = true
			if ps.kind(v, key, yaml.ScalarNode, "a string") {
				c.Version = v.Value
				if v.Value != ConfigVersion {
					ps.bad(v, key, "unknown version %q (want %q)", v.Value, ConfigVersion)
				}
			}
		case "mig-configs":
			haveConfigs = true
			c.MIGConfigs = ps.configs(v, key)
		default:
			ps.bad(k, "", "unknown field %q", key)
		}
	})
	if !haveVersion {
		ps.bad(root, "", "missing version")
	}
	if !haveConfigs {
		ps.bad(root, "", "missing mig-configs")
	}
	return c
}

func (ps *configParser) configs(n *yaml.Node, path string) map[string][]DeviceConfig {
	if !ps.kind(n, path, yaml.MappingNode, "a map of config names to entry lists") {
		return nil
	}
	if len(n.Content) == 0 {
		ps.bad(n, path, "no configs")
		return nil
	}
	out := map[string][]DeviceConfig{}
	ps.fields(n, path, func(name string, k, v *yaml.Node) {
		p := join(path, name)
		if !configName.MatchString(name) {
			ps.bad(k, path, "config name %q is not a valid label value (letters, digits, '-', '_', '.'; at most 63)", name)
		}
		if !ps.kind(v, p, yaml.SequenceNode, "a list of entries") {
			return
		}
		if len(v.Content) == 0 {
			ps.bad(v, p, "no entries")
			return
		}
		entries := make([]DeviceConfig, 0, len(v.Content))
		for i, e := range v.Content {
			entries = append(entries, ps.entry(e, fmt.Sprintf("%s[%d]", p, i)))
		}
		out[name] = entries
	})
	return out
}

func (ps *configParser) entry(n *yaml.Node, path string) DeviceConfig {
	var d DeviceConfig
	if !ps.kind(n, path, yaml.MappingNode, "an entry with devices and mig-enabled") {
		return d
	}
	// enabled: mig-enabled was read (a bad value is reported once, not
	// again as a mismatch with mig-devices).
	var haveDevices, haveEnabled, enabled bool
	ps.fields(n, path, func(key string, k, v *yaml.Node) {
		p := join(path, key)
		switch key {
		case "devices":
			haveDevices = true
			d.AllDevices, d.Devices = ps.devices(v, p)
		case "mig-enabled":
			haveEnabled = true
			if ps.kind(v, p, yaml.ScalarNode, "true or false") {
				if v.Tag != "!!bool" {
					ps.bad(v, p, "want true or false, not %q", v.Value)
				} else {
					d.MIGEnabled, enabled = v.Value == "true", true
				}
			}
		case "mig-devices":
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				return // "mig-devices:" with nothing: absent
			}
			d.MIGDevices = ps.migDevices(v, p)
			if d.MIGDevices == nil {
				d.MIGDevices = map[string]int{}
			}
		case "device-filter":
			d.DeviceFilter = ps.deviceFilter(v, p)
		default:
			ps.bad(k, path, "unknown field %q", key)
		}
	})
	if !haveDevices {
		ps.bad(n, path, "missing devices")
	}
	if !haveEnabled {
		ps.bad(n, path, "missing mig-enabled")
	}
	switch {
	case enabled && d.MIGEnabled && d.MIGDevices == nil:
		ps.bad(n, path, "mig-devices is required when mig-enabled is true")
	case enabled && !d.MIGEnabled && len(d.MIGDevices) > 0:
		ps.bad(n, path, "mig-devices given when mig-enabled is false")
	}
	if !d.MIGEnabled {
		d.MIGDevices = nil
	}
	return d
}

func (ps *configParser) devices(v *yaml.Node, path string) (bool, []int) {
	if v.Kind == yaml.ScalarNode && v.Anchor == "" {
		if v.Tag != "!!str" || v.Value != "all" {
			ps.bad(v, path, `want "all" or a list of GPU indices, not %q`, v.Value)
		}
		return true, nil
	}
	if !ps.kind(v, path, yaml.SequenceNode, `"all" or a list of GPU indices`) {
		return false, nil
	}
	if len(v.Content) == 0 {
		ps.bad(v, path, "empty list of GPU indices")
	}
	var out []int
	for _, e := range v.Content {
		if !ps.kind(e, path, yaml.ScalarNode, "a GPU index") {
			continue
		}
		i, err := strconv.Atoi(e.Value)
		if e.Tag != "!!int" || err != nil || i < 0 || i > 1<<16 {
			ps.bad(e, path, "GPU index %q is not a small non-negative integer", e.Value)
			continue
		}
		if slices.Contains(out, i) {
			ps.bad(e, path, "GPU index %d listed twice", i)
			continue
		}
		out = append(out, i)
	}
	return false, out
}

func (ps *configParser) migDevices(v *yaml.Node, path string) map[string]int {
	if !ps.kind(v, path, yaml.MappingNode, "a map of profile names to counts") {
		return nil
	}
	out := map[string]int{}
	ps.fields(v, path, func(name string, k, c *yaml.Node) {
		if !profileSyntax.MatchString(name) {
			ps.bad(k, path, "%q is not a MIG profile name ([<C>c.]<G>g.<GB>gb[+attr])", name)
		}
		if !ps.kind(c, join(path, name), yaml.ScalarNode, "a count") {
			return
		}
		n, err := strconv.Atoi(c.Value)
		if c.Tag != "!!int" || err != nil || n < 0 || n > maxCount {
			ps.bad(c, join(path, name), "count %q is not an integer from 0 to %d", c.Value, maxCount)
			return
		}
		out[name] = n
	})
	return out
}

func (ps *configParser) deviceFilter(v *yaml.Node, path string) []string {
	var items []*yaml.Node
	switch {
	case v.Kind == yaml.ScalarNode && v.Anchor == "":
		items = []*yaml.Node{v}
	case ps.kind(v, path, yaml.SequenceNode, "a PCI device ID or a list of them"):
		items = v.Content
		if len(items) == 0 {
			ps.bad(v, path, "empty list of PCI device IDs")
		}
	}
	var out []string
	for _, e := range items {
		if !ps.kind(e, path, yaml.ScalarNode, "a PCI device ID") {
			continue
		}
		if _, _, err := parseDeviceID(e.Value); err != nil {
			ps.bad(e, path, "%s", err.Error())
			continue
		}
		out = append(out, e.Value)
	}
	return out
}

// Validate checks the config against a GPU model: in every entry that
// applies to the model (no device filter, or one naming a PCI device ID
// of the model; every entry when the model has none), each profile must
// be one of the model's and the counts must fit one GPU (the oracle).
// Every problem is reported, joined, wrapping ErrInvalidConfig and also
// mig.ErrUnknownProfile or mig.ErrInfeasible.
func (c Config) Validate(m mig.Model) error {
	o, err := mig.NewOracle(m)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	names := make([]string, len(m.Profiles))
	for i, p := range m.Profiles {
		names[i] = p.Name
	}
	var errs []error
	for _, name := range sortedKeys(c.MIGConfigs) {
		for i, d := range c.MIGConfigs[name] {
			if !d.MIGEnabled || !appliesTo(d, m) {
				continue
			}
			where := fmt.Sprintf("%s[%d] (devices %s)", name, i, d.devicesString())
			counts := make(mig.Counts, len(m.Profiles))
			ok := true
			for _, prof := range sortedProfiles(d.MIGDevices) {
				k, found := o.Index(prof)
				if !found {
					errs = append(errs, fmt.Errorf("%s: %q is not a %s profile (%s): %w", where, prof, m.Name, strings.Join(names, ", "), mig.ErrUnknownProfile))
					ok = false
					continue
				}
				counts[k] = d.MIGDevices[prof]
			}
			if !ok {
				continue
			}
			if _, err := o.Fit(counts); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

// LoadConfig is ParseConfig followed by Validate.
func LoadConfig(r io.Reader, m mig.Model) (Config, error) {
	c, err := ParseConfig(r)
	if err != nil {
		return Config{}, err
	}
	return c, c.Validate(m)
}

func appliesTo(d DeviceConfig, m mig.Model) bool {
	if len(d.DeviceFilter) == 0 || len(m.PCIDeviceIDs) == 0 {
		return true
	}
	for _, f := range d.DeviceFilter {
		if id, _, err := parseDeviceID(f); err == nil && slices.Contains(m.PCIDeviceIDs, id) {
			return true
		}
	}
	return false
}

// GPUs expands the named config into the state it gives a node of count
// GPUs of model m (indices 0 to count-1, none in use, placements left to
// the driver): the starting point for PlanNode when the user gives the
// config their nodes run. pciDeviceID selects the entries whose device
// filter applies (0: m's first PCI device ID). Every GPU must be matched by
// exactly one entry (mig-parted would apply several in turn; this refuses
// the ambiguity), every listed index must exist, and the config must
// Validate against m.
func (c Config) GPUs(name string, m mig.Model, count int, pciDeviceID uint32) ([]GPU, error) {
	if count < 0 {
		return nil, fmt.Errorf("%w: %d GPUs", ErrInvalidInput, count)
	}
	entries, ok := c.MIGConfigs[name]
	if !ok {
		return nil, fmt.Errorf("%w: no config named %q (have %s)", ErrInvalidConfig, name, strings.Join(sortedKeys(c.MIGConfigs), ", "))
	}
	if err := (Config{Version: c.Version, MIGConfigs: map[string][]DeviceConfig{name: entries}}).Validate(m); err != nil {
		return nil, err
	}
	if pciDeviceID == 0 && len(m.PCIDeviceIDs) > 0 {
		pciDeviceID = m.PCIDeviceIDs[0]
	}
	var errs []error
	for i, d := range entries {
		for _, x := range d.Devices {
			if x >= count {
				errs = append(errs, fmt.Errorf("%s[%d] lists gpu %d but the node has %d", name, i, x, count))
			}
		}
	}
	gpus := make([]GPU, count)
	for gi := range gpus {
		match := -1
		for i, d := range entries {
			filtered := pciDeviceID != 0 && len(d.DeviceFilter) > 0 && !d.Matches(gi, pciDeviceID)
			listed := d.AllDevices || slices.Contains(d.Devices, gi)
			if filtered || !listed {
				continue
			}
			if match >= 0 {
				errs = append(errs, fmt.Errorf("gpu %d: entries %s[%d] and %s[%d] both apply", gi, name, match, name, i))
				continue
			}
			match = i
		}
		if match < 0 {
			errs = append(errs, fmt.Errorf("gpu %d: no entry of %s applies", gi, name))
			continue
		}
		d := entries[match]
		g := GPU{Index: gi, MIGEnabled: d.MIGEnabled}
		for _, p := range m.Profiles {
			for range d.MIGDevices[p.Name] {
				g.Instances = append(g.Instances, Slot{Profile: p.Name})
			}
		}
		gpus[gi] = g
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return gpus, nil
}

func (d DeviceConfig) devicesString() string {
	if d.AllDevices {
		return "all"
	}
	s := make([]string, len(d.Devices))
	for i, x := range d.Devices {
		s[i] = strconv.Itoa(x)
	}
	return "[" + strings.Join(s, ",") + "]"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// profileFields parses "[<C>c.]<G>g.<GB>gb[+attrs]" for ordering; ok false
// when the name does not follow the syntax.
func profileFields(name string) (g, gb, c int, attrs string, ok bool) {
	if !profileSyntax.MatchString(name) {
		return 0, 0, 0, "", false
	}
	base, attrs, _ := strings.Cut(name, "+")
	parts := strings.Split(base, ".")
	if len(parts) == 3 {
		c, _ = strconv.Atoi(strings.TrimSuffix(parts[0], "c"))
		parts = parts[1:]
	}
	g, _ = strconv.Atoi(strings.TrimSuffix(parts[0], "g"))
	gb, _ = strconv.Atoi(strings.TrimSuffix(parts[1], "gb"))
	if c == 0 {
		c = g
	}
	return g, gb, c, attrs, true
}

// sortedProfiles orders profile names as people read them: by compute
// slices, then memory, then compute-instance slices and attributes
// ("1g.5gb", "1g.10gb", "1g.10gb+me", "2g.10gb", …).
func sortedProfiles(m map[string]int) []string {
	keys := sortedKeys(m)
	slices.SortStableFunc(keys, func(a, b string) int {
		ga, gba, ca, aa, oka := profileFields(a)
		gb, gbb, cb, ab, okb := profileFields(b)
		if !oka || !okb {
			return strings.Compare(a, b)
		}
		return cmp.Or(cmp.Compare(ga, gb), cmp.Compare(gba, gbb), cmp.Compare(ca, cb), strings.Compare(aa, ab))
	})
	return keys
}

// Marshal writes the config as mig-parted reads it, canonically: configs
// by name, each entry's fields in the order devices, device-filter,
// mig-enabled, mig-devices, lists in flow style and profiles by size.
// ParseConfig(Marshal(c)) gives c back (without Comments).
func (c Config) Marshal() ([]byte, error) {
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
	quoted := func(v string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Style: yaml.DoubleQuotedStyle}
	}
	num := func(v int) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(v)} }
	configs := &yaml.Node{Kind: yaml.MappingNode}
	for _, name := range sortedKeys(c.MIGConfigs) {
		list := &yaml.Node{Kind: yaml.SequenceNode}
		for _, d := range c.MIGConfigs[name] {
			e := &yaml.Node{Kind: yaml.MappingNode}
			if d.AllDevices {
				e.Content = append(e.Content, str("devices"), str("all"))
			} else {
				seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
				for _, x := range d.Devices {
					seq.Content = append(seq.Content, num(x))
				}
				e.Content = append(e.Content, str("devices"), seq)
			}
			if len(d.DeviceFilter) > 0 {
				seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
				for _, f := range d.DeviceFilter {
					seq.Content = append(seq.Content, quoted(f))
				}
				e.Content = append(e.Content, str("device-filter"), seq)
			}
			e.Content = append(e.Content, str("mig-enabled"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(d.MIGEnabled)})
			if d.MIGEnabled {
				devs := &yaml.Node{Kind: yaml.MappingNode}
				if len(d.MIGDevices) == 0 {
					devs.Style = yaml.FlowStyle
				}
				for _, p := range sortedProfiles(d.MIGDevices) {
					devs.Content = append(devs.Content, quoted(p), num(d.MIGDevices[p]))
				}
				e.Content = append(e.Content, str("mig-devices"), devs)
			}
			list.Content = append(list.Content, e)
		}
		key := str(name)
		if cm := c.Comments[name]; cm != "" {
			key.HeadComment = "# " + strings.ReplaceAll(cm, "\n", "\n# ")
		}
		configs.Content = append(configs.Content, key, list)
	}
	version := c.Version
	if version == "" {
		version = ConfigVersion
	}
	root := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{str("version"), str(version), str("mig-configs"), configs}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encode mig-parted config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode mig-parted config: %w", err)
	}
	return buf.Bytes(), nil
}
