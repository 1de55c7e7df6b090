package recommender

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/rightsizer/rightsizer/internal/quantity"
)

// A policy file, for example:
//
//	apiVersion: rightsizer.io/v1alpha1
//	kind: Policy
//	defaultProfile: balanced
//	profiles:
//	  balanced:            # a built-in: fields change it
//	    cpu: {requestPercentile: 0.92}
//	  steady-batch:        # a new profile, based on another
//	    base: cost
//	    memory: {limitMargin: 0.3, min: 256Mi}
//	namespaces:
//	  payments: {profile: performance}
//	workloads:
//	  - {namespace: shop, kind: Deployment, name: checkout, profile: performance, cpu: {min: 250m}}
//
// Durations take Prometheus syntax ("90m", "8d", "2w"); CPU and memory
// take Kubernetes quantities ("250m", "1.5", "512Mi"). A percentile may be
// given as riskBudget instead (riskBudget: 0.05 is requestPercentile: 0.95).

// PolicyAPIVersion and PolicyKind identify a policy file.
const (
	PolicyAPIVersion = "rightsizer.io/v1alpha1"
	PolicyKind       = "Policy"
	// MaxPolicyBytes bounds a policy file.
	MaxPolicyBytes = 1 << 20
)

// ErrInvalidPolicy wraps every error from loading a policy.
var ErrInvalidPolicy = errors.New("invalid policy")

// LoadPolicyFile reads and validates a policy file.
func LoadPolicyFile(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open policy: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only: a close error loses nothing
	p, err := LoadPolicy(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// LoadPolicy reads a policy from YAML, strictly: unknown fields, wrong
// types, out-of-range values, unknown profile names and override conflicts
// are all errors, and every one of them is reported at once (errors.Join,
// each wrapped in ErrInvalidPolicy's message with its line or field path).
// Built-in profiles stay available; the file changes or adds to them.
func LoadPolicy(r io.Reader) (*Policy, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	if len(data) > MaxPolicyBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidPolicy, MaxPolicyBytes)
	}
	var f policyFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var errs []error
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("%w: %s", ErrInvalidPolicy, err.Error())
		}
		for _, e := range te.Errors {
			errs = append(errs, errors.New(friendlyYAMLError(e)))
		}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		errs = append(errs, errors.New("more than one YAML document"))
	}
	if len(errs) > 0 {
		// Fields that failed to decode hold zeros; validating them would
		// only add errors that follow from these.
		return nil, fmt.Errorf("%w:\n%w", ErrInvalidPolicy, joinErrors(errs))
	}
	p, errs := f.build()
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w:\n%w", ErrInvalidPolicy, joinErrors(errs))
	}
	return p, nil
}

var yamlFieldError = regexp.MustCompile(`field (\S+) not found in type recommender\.(\w+)`)

// friendlyYAMLError rewrites yaml.v3's messages, which name Go types, in
// the terms of the file.
func friendlyYAMLError(msg string) string {
	return yamlFieldError.ReplaceAllStringFunc(msg, func(m string) string {
		sub := yamlFieldError.FindStringSubmatch(m)
		where := strings.TrimSuffix(strings.TrimSuffix(sub[2], "Spec"), "File")
		return fmt.Sprintf("unknown field %q in %s", sub[1], where)
	})
}

type policyFile struct {
	APIVersion     string                  `yaml:"apiVersion"`
	Kind           string                  `yaml:"kind"`
	DefaultProfile string                  `yaml:"defaultProfile"`
	Prices         *pricesSpec             `yaml:"prices"`
	Profiles       map[string]profileSpec  `yaml:"profiles"`
	Namespaces     map[string]overrideSpec `yaml:"namespaces"`
	Workloads      []workloadSpec          `yaml:"workloads"`
}

type pricesSpec struct {
	CPUCoreHour   *float64 `yaml:"cpuCoreHour"`
	MemoryGiBHour *float64 `yaml:"memoryGiBHour"`
	GPUHour       *float64 `yaml:"gpuHour"`
}

type profileSpec struct {
	Base          *string `yaml:"base"`
	profileFields `yaml:",inline"`
}

type overrideSpec struct {
	Profile       *string `yaml:"profile"`
	profileFields `yaml:",inline"`
}

type workloadSpec struct {
	Namespace     string  `yaml:"namespace"`
	Kind          string  `yaml:"kind"`
	Name          string  `yaml:"name"`
	Profile       *string `yaml:"profile"`
	profileFields `yaml:",inline"`
}

type profileFields struct {
	CPU               *cpuSpec       `yaml:"cpu"`
	Memory            *memorySpec    `yaml:"memory"`
	GPU               *gpuSpec       `yaml:"gpu"`
	HalfLife          *durationValue `yaml:"halfLife"`
	LiveHalfLife      *durationValue `yaml:"liveHalfLife"`
	PeakInterval      *durationValue `yaml:"peakInterval"`
	Window            *durationValue `yaml:"window"`
	MinHistory        *durationValue `yaml:"minHistory"`
	MinSamples        *int64         `yaml:"minSamples"`
	FullConfidence    *durationValue `yaml:"fullConfidence"`
	ThrottleThreshold *float64       `yaml:"throttleThreshold"`
}

type cpuSpec struct {
	RequestPercentile *float64     `yaml:"requestPercentile"`
	RiskBudget        *float64     `yaml:"riskBudget"`
	Margin            *float64     `yaml:"margin"`
	LimitPercentile   *float64     `yaml:"limitPercentile"`
	LimitMargin       *float64     `yaml:"limitMargin"`
	PeakCap           *float64     `yaml:"peakCap"`
	MinHeadroom       *cpuQuantity `yaml:"minHeadroom"`
	Min               *cpuQuantity `yaml:"min"`
	Max               *cpuQuantity `yaml:"max"`
}

type memorySpec struct {
	RequestPercentile *float64        `yaml:"requestPercentile"`
	RiskBudget        *float64        `yaml:"riskBudget"`
	Margin            *float64        `yaml:"margin"`
	LimitMargin       *float64        `yaml:"limitMargin"`
	BurstMargin       *float64        `yaml:"burstMargin"`
	GrowthMargin      *float64        `yaml:"growthMargin"`
	GrowthWindow      *durationValue  `yaml:"growthWindow"`
	Min               *memoryQuantity `yaml:"min"`
	Max               *memoryQuantity `yaml:"max"`
	OOMBumpRatio      *float64        `yaml:"oomBumpRatio"`
	OOMMinBump        *memoryQuantity `yaml:"oomMinBump"`
}

type gpuSpec struct {
	ComputePercentile *float64 `yaml:"computePercentile"`
	ComputeMargin     *float64 `yaml:"computeMargin"`
	MemoryMargin      *float64 `yaml:"memoryMargin"`
}

// set copies *src into *dst when src is given.
func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// percentileOrBudget resolves requestPercentile / riskBudget.
func percentileOrBudget(dst *float64, pct, budget *float64) {
	set(dst, pct)
	if budget != nil {
		*dst = 1 - *budget
	}
}

// check reports fields that contradict each other before they are applied.
func (f *profileFields) check(path string) []error {
	var errs []error
	if f.CPU != nil && f.CPU.RequestPercentile != nil && f.CPU.RiskBudget != nil {
		errs = append(errs, fmt.Errorf("%scpu: requestPercentile and riskBudget are exclusive", path))
	}
	if f.Memory != nil && f.Memory.RequestPercentile != nil && f.Memory.RiskBudget != nil {
		errs = append(errs, fmt.Errorf("%smemory: requestPercentile and riskBudget are exclusive", path))
	}
	return errs
}

// empty reports whether no field is set.
func (f *profileFields) empty() bool { return *f == profileFields{} }

// apply changes p by every field that is set.
func (f profileFields) apply(p *Profile) {
	if c := f.CPU; c != nil {
		percentileOrBudget(&p.CPU.RequestPercentile, c.RequestPercentile, c.RiskBudget)
		switch {
		case c.RiskBudget != nil:
			p.CPU.RiskBudget = *c.RiskBudget
		case c.RequestPercentile != nil:
			p.CPU.RiskBudget = 0 // an explicit percentile: no budget to calibrate to
		}
		set(&p.CPU.Margin, c.Margin)
		set(&p.CPU.LimitPercentile, c.LimitPercentile)
		set(&p.CPU.LimitMargin, c.LimitMargin)
		set(&p.CPU.PeakCap, c.PeakCap)
		set((*cpuQuantity)(&p.CPU.MinHeadroom), c.MinHeadroom)
		set((*cpuQuantity)(&p.CPU.Min), c.Min)
		set((*cpuQuantity)(&p.CPU.Max), c.Max)
	}
	if m := f.Memory; m != nil {
		percentileOrBudget(&p.Memory.RequestPercentile, m.RequestPercentile, m.RiskBudget)
		set(&p.Memory.Margin, m.Margin)
		set(&p.Memory.LimitMargin, m.LimitMargin)
		set(&p.Memory.BurstMargin, m.BurstMargin)
		set(&p.Memory.GrowthMargin, m.GrowthMargin)
		set((*durationValue)(&p.Memory.GrowthWindow), m.GrowthWindow)
		set((*memoryQuantity)(&p.Memory.Min), m.Min)
		set((*memoryQuantity)(&p.Memory.Max), m.Max)
		set(&p.Memory.OOMBumpRatio, m.OOMBumpRatio)
		set((*memoryQuantity)(&p.Memory.OOMMinBump), m.OOMMinBump)
	}
	if g := f.GPU; g != nil {
		set(&p.GPU.ComputePercentile, g.ComputePercentile)
		set(&p.GPU.ComputeMargin, g.ComputeMargin)
		set(&p.GPU.MemoryMargin, g.MemoryMargin)
	}
	set((*durationValue)(&p.HalfLife), f.HalfLife)
	set((*durationValue)(&p.LiveHalfLife), f.LiveHalfLife)
	set((*durationValue)(&p.PeakInterval), f.PeakInterval)
	set((*durationValue)(&p.Window), f.Window)
	set((*durationValue)(&p.MinHistory), f.MinHistory)
	set(&p.MinSamples, f.MinSamples)
	set((*durationValue)(&p.FullConfidence), f.FullConfidence)
	set(&p.ThrottleThreshold, f.ThrottleThreshold)
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// build turns the file into a Policy, collecting every error.
func (f *policyFile) build() (*Policy, []error) {
	var errs []error
	addf := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if f.APIVersion != "" && f.APIVersion != PolicyAPIVersion {
		addf("apiVersion: %q is not %q", f.APIVersion, PolicyAPIVersion)
	}
	if f.Kind != "" && f.Kind != PolicyKind {
		addf("kind: %q is not %q", f.Kind, PolicyKind)
	}
	p := DefaultPolicy()
	builtin := map[string]bool{}
	for n := range p.profiles {
		builtin[n] = true
	}
	if pr := f.Prices; pr != nil {
		for _, x := range []struct {
			name string
			v    *float64
			dst  *float64
		}{{"cpuCoreHour", pr.CPUCoreHour, &p.prices.CoreHour}, {"memoryGiBHour", pr.MemoryGiBHour, &p.prices.GiBHour}, {"gpuHour", pr.GPUHour, &p.prices.GPUHour}} {
			if x.v == nil {
				continue
			}
			if !(*x.v >= 0 && *x.v < 1e6) {
				addf("prices.%s: %v is not a price in [0, 1e6)", x.name, *x.v)
				continue
			}
			*x.dst = *x.v
		}
	}

	// Profiles, in name order so errors are stable; bases resolve first.
	names := make([]string, 0, len(f.Profiles))
	for n := range f.Profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	state := map[string]int{} // 1 resolving, 2 done
	var resolve func(name string, chain []string) bool
	resolve = func(name string, chain []string) bool {
		spec, ok := f.Profiles[name]
		if !ok {
			_, ok := p.profiles[name]
			return ok
		}
		switch state[name] {
		case 1:
			addf("profiles.%s.base: cycle %s", name, strings.Join(append(chain, name), " → "))
			return false
		case 2:
			_, ok := p.profiles[name]
			return ok
		}
		state[name] = 1
		defer func() { state[name] = 2 }()
		path := "profiles." + name + "."
		if !nameRE.MatchString(name) {
			addf("profiles.%s: name must be a DNS label", name)
			return false
		}
		errs = append(errs, spec.check(path)...)
		var pr Profile
		switch {
		case builtin[name]:
			if spec.Base != nil {
				addf("%sbase: a built-in profile has no base", path)
			}
			pr = p.profiles[name]
		case spec.Base != nil:
			if !resolve(*spec.Base, append(chain, name)) {
				addf("%sbase: unknown profile %q", path, *spec.Base)
				return false
			}
			pr = p.profiles[*spec.Base]
		default:
			pr = p.profiles[ProfileBalanced]
		}
		pr.Name = name
		spec.apply(&pr)
		if err := pr.validateAs(path); err != nil {
			errs = append(errs, err)
			return false
		}
		p.profiles[name] = pr
		return true
	}
	for _, n := range names {
		resolve(n, nil)
	}

	if f.DefaultProfile != "" {
		if _, ok := p.profiles[f.DefaultProfile]; ok {
			p.defaultProfile = f.DefaultProfile
		} else {
			addf("defaultProfile: unknown profile %q", f.DefaultProfile)
		}
	}
	knownProfile := func(path string, name *string) string {
		if name == nil {
			return ""
		}
		if _, ok := p.profiles[*name]; !ok {
			addf("%sprofile: unknown profile %q", path, *name)
			return ""
		}
		return *name
	}
	p.namespaces = map[string]override{}
	for ns, spec := range f.Namespaces {
		path := "namespaces." + ns + "."
		if !nameRE.MatchString(ns) {
			addf("namespaces.%s: not a valid namespace name", ns)
			continue
		}
		errs = append(errs, spec.check(path)...)
		o := override{profile: knownProfile(path, spec.Profile)}
		if !spec.empty() {
			o.apply = spec.apply
		}
		p.namespaces[ns] = o
	}
	p.workloads = map[workloadMatch]override{}
	for i, w := range f.Workloads {
		path := fmt.Sprintf("workloads[%d].", i)
		if !nameRE.MatchString(w.Namespace) {
			addf("%snamespace: %q is not a valid namespace name", path, w.Namespace)
		}
		if w.Name == "" || len(w.Name) > MaxKeyPartLen {
			addf("%sname: must be 1 to %d characters", path, MaxKeyPartLen)
		}
		errs = append(errs, w.check(path)...)
		m := workloadMatch{w.Namespace, w.Kind, w.Name}
		if _, dup := p.workloads[m]; dup {
			addf("%s: duplicate of an earlier entry for %s/%s/%s", strings.TrimSuffix(path, "."), w.Namespace, w.Kind, w.Name)
			continue
		}
		o := override{profile: knownProfile(path, w.Profile)}
		if !w.empty() {
			o.apply = w.apply
		}
		p.workloads[m] = o
	}
	if len(errs) > 0 {
		return nil, errs
	}
	// Every override must still give a valid profile once applied.
	nsNames := make([]string, 0, len(p.namespaces))
	for ns := range p.namespaces {
		nsNames = append(nsNames, ns)
	}
	slices.Sort(nsNames)
	for _, ns := range nsNames {
		pr := p.resolve(WorkloadKey{Namespace: ns}, false)
		if err := pr.validateAs("namespaces." + ns + "."); err != nil {
			errs = append(errs, err)
		}
	}
	for i, w := range f.Workloads {
		pr := p.Resolve(WorkloadKey{Namespace: w.Namespace, Kind: w.Kind, Name: w.Name})
		if err := pr.validateAs(fmt.Sprintf("workloads[%d].", i)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}

// validateAs validates p, naming fields under prefix.
func (p *Profile) validateAs(prefix string) error {
	err := p.Validate()
	if err == nil {
		return nil
	}
	return errors.New(strings.ReplaceAll(err.Error(), "profiles."+p.Name+".", prefix))
}

// joinErrors joins errors one per line.
func joinErrors(errs []error) error { return errors.Join(errs...) }

// typeError makes a decode error that yaml.v3 collects with the others
// instead of stopping at.
func typeError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, fmt.Sprintf(format, args...))}}
}

// durationValue is a time.Duration in Prometheus syntax ("90s", "8d").
type durationValue time.Duration

func (d *durationValue) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "want a duration such as 24h or 8d")
	}
	v, err := model.ParseDuration(n.Value)
	if err != nil {
		return typeError(n, "bad duration %q: want a duration such as 24h or 8d", n.Value)
	}
	*d = durationValue(v)
	return nil
}

// cpuQuantity is a CPU amount in Kubernetes syntax ("250m", "2").
type cpuQuantity MilliCPU

func (c *cpuQuantity) UnmarshalYAML(n *yaml.Node) error {
	q, err := parseQuantity(n)
	if err != nil {
		return err
	}
	if q.Cmp(resource.MustParse("1e6")) > 0 {
		return typeError(n, "cpu %q is more than a million cores", n.Value)
	}
	*c = cpuQuantity(q.MilliValue())
	return nil
}

// memoryQuantity is a memory amount in Kubernetes syntax ("512Mi").
type memoryQuantity Bytes

func (m *memoryQuantity) UnmarshalYAML(n *yaml.Node) error {
	q, err := parseQuantity(n)
	if err != nil {
		return err
	}
	if q.Cmp(resource.MustParse("1Ei")) > 0 {
		return typeError(n, "memory %q is more than 1Ei", n.Value)
	}
	*m = memoryQuantity(q.Value()) // rounds up to a whole byte
	return nil
}

func parseQuantity(n *yaml.Node) (resource.Quantity, error) {
	if n.Kind != yaml.ScalarNode {
		return resource.Quantity{}, typeError(n, "want a quantity such as 250m or 512Mi")
	}
	q, err := quantity.Parse(n.Value)
	if err != nil {
		if errors.Is(err, quantity.ErrSyntax) {
			return resource.Quantity{}, typeError(n, "bad quantity %q: want a quantity such as 250m or 512Mi", n.Value)
		}
		return resource.Quantity{}, typeError(n, "bad quantity: %v", err) // too long to quote
	}
	if q.Sign() < 0 {
		return resource.Quantity{}, typeError(n, "quantity %q is negative", n.Value)
	}
	return q, nil
}
