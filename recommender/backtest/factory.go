package backtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
)

// Factory makes a fresh policy for a dataset and the run's options:
// policies keep state, so every dataset replays new ones.
type Factory struct {
	Name string
	// Baseline is true for provisioned, vpa and krr.
	Baseline bool
	New      func(d *Dataset, opts Options) (Policy, error)
}

// BaselineNames lists the baselines in their usual order.
func BaselineNames() []string { return []string{"provisioned", "vpa", "krr"} }

// BaselineFactory returns the factory of a baseline by name.
func BaselineFactory(name string) (Factory, error) {
	f := Factory{Name: name, Baseline: true}
	switch name {
	case "provisioned":
		f.New = func(*Dataset, Options) (Policy, error) { return NewProvisioned(), nil }
	case "vpa":
		f.New = func(d *Dataset, _ Options) (Policy, error) {
			o := DefaultVPAOptions()
			// GPU memory reads 0 until a model loads; VPA's peak logic
			// would then lose a whole day's peaks and kills (a quirk that
			// RAM, never 0, does not trigger). Compare with the stronger
			// VPA: its algorithm without the quirk.
			o.SkipZeroMemory = d.MemoryIsGPU
			return NewVPA(o), nil
		}
	case "krr":
		f.New = func(*Dataset, Options) (Policy, error) { return NewKRR(DefaultKRROptions()), nil }
	default:
		return Factory{}, fmt.Errorf("unknown baseline %q (want one of %v)", name, BaselineNames())
	}
	return f, nil
}

// PolicyFactory returns the factory of a rightsizer policy: a built-in
// profile, "budget-N", or a policy file (named after the file).
func PolicyFactory(spec string) (Factory, error) {
	var pol *recommender.Policy
	name := spec
	if st, err := os.Stat(spec); err == nil && !st.IsDir() {
		if pol, err = recommender.LoadPolicyFile(spec); err != nil {
			return Factory{}, err
		}
		name = strings.TrimSuffix(filepath.Base(spec), filepath.Ext(spec))
	} else if pol, err = NamedPolicy(spec); err != nil {
		return Factory{}, err
	}
	return Factory{Name: name, New: func(d *Dataset, opts Options) (Policy, error) {
		opts = opts.withDefaults(d)
		ro := RightsizerOptions{
			// The stabilisation window holds the previous decision's
			// recommendation.
			Window: opts.Interval + time.Minute,
			// The live request relies on raising it in place.
			Live: !opts.NoReactions && d.ResizableInPlace,
		}
		if !d.ResizableInPlace {
			// A change restarts the workload: go down at most twice a day,
			// as VPA's updater (12 h).
			ro.MinDownInterval = 12 * time.Hour
		}
		return NewRightsizer(name, pol, ro)
	}}, nil
}

// Factories resolves names to factories, the baselines first, then the
// rightsizer policies (built-in profiles, budget-N or policy files) in the
// order given. It reports every unknown or repeated name at once.
func Factories(baselines, policies []string) ([]Factory, error) {
	var fs []Factory
	var errs []error
	seen := map[string]bool{}
	add := func(f Factory, err error) {
		switch {
		case err != nil:
			errs = append(errs, err)
		case seen[f.Name]:
			errs = append(errs, fmt.Errorf("policy %q given twice", f.Name))
		default:
			seen[f.Name] = true
			fs = append(fs, f)
		}
	}
	for _, b := range baselines {
		add(BaselineFactory(b))
	}
	for _, p := range policies {
		add(PolicyFactory(p))
	}
	return fs, errors.Join(errs...)
}

// NewAll makes one fresh policy from each factory for d and opts.
func NewAll(fs []Factory, d *Dataset, opts Options) ([]Policy, error) {
	ps := make([]Policy, 0, len(fs))
	for _, f := range fs {
		p, err := f.New(d, opts)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", f.Name, err)
		}
		ps = append(ps, p)
	}
	return ps, nil
}
