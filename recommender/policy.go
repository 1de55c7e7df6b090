package recommender

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// CPUPolicy says how a profile sizes CPU.
type CPUPolicy struct {
	// RequestPercentile is the share of (decayed) usage samples the request
	// covers, in (0, 1].
	RequestPercentile float64
	// RiskBudget, when positive, is the share of time usage may run above
	// the request, and RequestPercentile is 1 − RiskBudget. It also turns
	// on calibration: every CalibrationInterval of data, the engine compares
	// the share of samples above its last forecast with the budget and
	// moves the percentile it uses accordingly (adaptive conformal
	// inference, Gibbs and Candès 2021), so that the realised share
	// converges to the budget whatever the workload or a controller's
	// reactions do to it.
	RiskBudget float64
	// Margin is added to the percentile: request = P × (1 + Margin).
	Margin float64
	// LimitPercentile sizes the limit the same way; 0 means no CPU limit,
	// which avoids CFS throttling (KRR's and most platform teams' choice).
	LimitPercentile float64
	// LimitMargin is added to the limit's percentile.
	LimitMargin float64
	// PeakCap, when positive, caps the request at the P99.9 of usage plus
	// this fraction: a margin above what a workload has ever needed buys
	// nothing. It matters for plateaued or saturated workloads, whose P90
	// sits at their ceiling; 0 turns it off.
	PeakCap float64
	// MinHeadroom is the least the request exceeds the percentile by,
	// whatever the margin: small containers' usage moves by more than a
	// percentage of itself, and the headroom costs little there.
	MinHeadroom MilliCPU
	// Min and Max clamp the request (and the limit, when there is one).
	// Hitting Max sets FlagCapped.
	Min, Max MilliCPU
}

// MemoryPolicy says how a profile sizes memory. Memory is incompressible:
// the request comes from the distribution of working-set samples, the
// limit from the largest per-window peak.
type MemoryPolicy struct {
	// RequestPercentile is the share of (decayed) working-set samples the
	// request covers, in (0, 1].
	RequestPercentile float64
	// Margin is added to the percentile.
	Margin float64
	// LimitMargin is added to the largest peak within the profile's
	// Window: limit = peak × (1 + LimitMargin), at least the request.
	LimitMargin float64
	// BurstMargin makes the limit at least peak + BurstMargin × (peak −
	// P75): a workload whose peaks stand far above its usual upper level
	// gets headroom in proportion, where a percentage of the peak is too
	// thin. (The P75, not the median, so that replicas that differ for good
	// do not look like bursts.)
	BurstMargin float64
	// GrowthMargin makes the limit at least peak × (1 + GrowthMargin) for
	// GrowthWindow after the working set last rose 5 % above every peak
	// in the Window: a workload still growing (a cache filling, a model
	// loading, a leak) will likely pass its peak again soon, while one on a
	// plateau keeps the thinner LimitMargin. Zero turns it off.
	GrowthMargin float64
	GrowthWindow time.Duration
	// Min and Max clamp request and limit. Hitting Max sets FlagCapped.
	Min, Max Bytes
	// After an OOM kill the limit becomes at least
	// max(base × OOMBumpRatio, base + OOMMinBump), where base is the larger
	// of the limit in force at the kill and the usage seen then. The base is
	// always an observation, never an earlier bump or recommendation, so
	// the bump cannot feed on itself (VPA #9521).
	OOMBumpRatio float64
	OOMMinBump   Bytes
}

// GPUPolicy says how a profile sizes GPU compute and GPU memory. GPU memory
// is a hard constraint (a full GPU memory fails the workload), compute a
// soft one; the GPU issue turns these into whole-GPU, MIG or shared shapes.
type GPUPolicy struct {
	// ComputePercentile and ComputeMargin size GPU busy time (in GPUs).
	ComputePercentile float64
	ComputeMargin     float64
	// MemoryMargin is added to the largest GPU-memory peak in the Window.
	MemoryMargin float64
}

// Profile is a complete, validated set of sizing rules. The zero value is
// not valid; start from a built-in (BuiltinProfiles).
type Profile struct {
	Name   string
	CPU    CPUPolicy
	Memory MemoryPolicy
	GPU    GPUPolicy
	// HalfLife is the decay half-life of the usage sketches. It applies to
	// containers first seen under the profile: a sketch cannot be re-decayed.
	HalfLife time.Duration
	// LiveHalfLife, when positive, keeps a second CPU sketch over this
	// shorter horizon for managed workloads (Workload.Managed), from which
	// the CPU recommendation's Live request is computed: what rightsizer's
	// controller applies, relying on raising the request in place as soon
	// as usage runs above it. It is fixed when the sketch is made (when the
	// container is first seen managed). Zero keeps no live horizon.
	LiveHalfLife time.Duration
	// PeakInterval is the length of a memory peak window (VPA: 24 h).
	PeakInterval time.Duration
	// Window is how far back peaks and OOM kills count; a multiple of
	// PeakInterval, at most MaxPeakWindows of them.
	Window time.Duration
	// MinHistory and MinSamples: with less history or fewer samples the
	// recommendation is flagged FlagInsufficientHistory.
	MinHistory time.Duration
	MinSamples int64
	// FullConfidence is the history at which confidence reaches 1.
	FullConfidence time.Duration
	// ThrottleThreshold is the mean fraction of throttled CFS periods above
	// which a container counts as throttled (kube-prometheus alerts at 25 %).
	ThrottleThreshold float64
}

// MaxPeakWindows bounds Window / PeakInterval, so peak state stays small.
const MaxPeakWindows = 64

// peakWindows returns how many peak windows the profile keeps.
func (p *Profile) peakWindows() int {
	return int((p.Window + p.PeakInterval - 1) / p.PeakInterval)
}

// Names of the built-in profiles.
const (
	ProfileCost        = "cost"
	ProfileBalanced    = "balanced"
	ProfilePerformance = "performance"
)

// BuiltinProfiles returns the three named profiles, tuned by the backtest
// on real traces (make eval; recommender/backtest). All three size CPU
// from two horizons: Request, over HalfLife, for reports and pull
// requests; Live, over LiveHalfLife, for rightsizer's controller, which
// raises it in place when usage runs above it. Each adds the larger of a
// percentage margin and an absolute headroom (small containers' usage
// moves by more than a percentage of itself), capped a little above the
// P99.9 (a margin above a workload's ceiling buys nothing). Memory limits
// clear the window's peak by the largest of a percentage, a multiple of
// the peak's distance from the P75 (bursty workloads) and, for a while
// after the working set reached a new peak or first appeared, a growth
// margin (workloads still filling a cache or loading a model).
//
//   - cost: CPU P85 + 25m headroom, 12 h and 2 h horizons; memory request
//     at P90 of samples + 10 %, limit over the 7-day peak by the largest of
//     10 %, half the peak's distance from the P75, and 25 % for 4 h after
//     growth.
//   - balanced: CPU P90 + max(5 %, 50m), 24 h and 4 h horizons; memory
//     request at P98 + 15 %, limit over the 8-day peak (VPA keeps 8 daily
//     peaks too) by the largest of 20 %, the peak's distance from the P75,
//     and 50 % for 8 h after growth. On Bitbrains it requests about 18 %
//     fewer core-hours than VPA, runs above its request half as often, and
//     is OOM-killed a fourteenth as often as VPA on half of KRR's memory.
//   - performance: CPU P98 + max(10 %, 100m), 48 h and 8 h horizons;
//     memory request at the peak + 15 %, limit over the 14-day peak by the
//     largest of 30 %, 1.5 × the peak's distance from the P75, and 75 % for
//     24 h after growth.
//
// None sets a CPU limit: throttling costs latency and saves nothing that
// the request does not already reserve. CPU floors are 10–25m (KRR and
// Kubecost use 10m); memory floors 32–128 MiB.
func BuiltinProfiles() []Profile {
	base := Profile{
		CPU:               CPUPolicy{Min: 10, Max: 64_000, PeakCap: 0.01},
		Memory:            MemoryPolicy{Max: 512 * GiB, OOMBumpRatio: 1.2, OOMMinBump: 100 * MiB},
		GPU:               GPUPolicy{ComputePercentile: 0.95, ComputeMargin: 0.1, MemoryMargin: 0.1},
		PeakInterval:      24 * time.Hour,
		MinHistory:        24 * time.Hour,
		MinSamples:        100,
		ThrottleThreshold: 0.25,
	}
	cost := base
	cost.Name = ProfileCost
	cost.CPU.RequestPercentile, cost.CPU.MinHeadroom = 0.85, 25
	cost.Memory.RequestPercentile, cost.Memory.Margin, cost.Memory.LimitMargin = 0.9, 0.1, 0.1
	cost.Memory.BurstMargin = 0.5
	cost.Memory.GrowthMargin, cost.Memory.GrowthWindow = 0.25, 4*time.Hour
	cost.Memory.Min = 32 * MiB
	cost.HalfLife, cost.LiveHalfLife, cost.Window, cost.FullConfidence = 12*time.Hour, 2*time.Hour, 7*24*time.Hour, 3*24*time.Hour

	balanced := base
	balanced.Name = ProfileBalanced
	balanced.CPU.RequestPercentile, balanced.CPU.Margin, balanced.CPU.MinHeadroom = 0.9, 0.05, 50
	balanced.Memory.RequestPercentile, balanced.Memory.Margin, balanced.Memory.LimitMargin = 0.98, 0.15, 0.2
	balanced.Memory.BurstMargin = 1
	balanced.Memory.GrowthMargin, balanced.Memory.GrowthWindow = 0.5, 8*time.Hour
	balanced.Memory.Min = 64 * MiB
	balanced.HalfLife, balanced.LiveHalfLife, balanced.Window, balanced.FullConfidence = 24*time.Hour, 4*time.Hour, 8*24*time.Hour, 7*24*time.Hour

	perf := base
	perf.Name = ProfilePerformance
	perf.CPU.RequestPercentile, perf.CPU.Margin, perf.CPU.MinHeadroom, perf.CPU.PeakCap = 0.98, 0.1, 100, 0.05
	perf.CPU.Min = 25
	perf.Memory.RequestPercentile, perf.Memory.Margin, perf.Memory.LimitMargin = 1, 0.15, 0.3
	perf.Memory.BurstMargin = 1.5
	perf.Memory.GrowthMargin, perf.Memory.GrowthWindow = 0.75, 24*time.Hour
	perf.Memory.Min = 128 * MiB
	perf.GPU.ComputePercentile, perf.GPU.ComputeMargin, perf.GPU.MemoryMargin = 0.99, 0.2, 0.2
	perf.HalfLife, perf.LiveHalfLife, perf.Window, perf.FullConfidence = 48*time.Hour, 8*time.Hour, 14*24*time.Hour, 14*24*time.Hour

	return []Profile{cost, balanced, perf}
}

// Validate reports every problem with the profile at once, each prefixed
// with the path of the field as it is spelled in a policy file.
func (p *Profile) Validate() error {
	var v validator
	v.prefix = "profiles." + p.Name + "."
	v.percentile("cpu.requestPercentile", p.CPU.RequestPercentile)
	if b := p.CPU.RiskBudget; b != 0 {
		if !(b > 0 && b <= 0.5) {
			v.add("cpu.riskBudget", "%v is not in (0, 0.5]", b)
		} else if math.Abs(p.CPU.RequestPercentile-(1-b)) > 1e-9 {
			v.add("cpu.requestPercentile", "%v is not 1 − riskBudget %v", p.CPU.RequestPercentile, b)
		}
	}
	v.fraction("cpu.margin", p.CPU.Margin, 0, 10)
	if p.CPU.LimitPercentile != 0 {
		v.percentile("cpu.limitPercentile", p.CPU.LimitPercentile)
		if p.CPU.LimitPercentile < p.CPU.RequestPercentile {
			v.add("cpu.limitPercentile", "%v is below cpu.requestPercentile %v", p.CPU.LimitPercentile, p.CPU.RequestPercentile)
		}
	}
	v.fraction("cpu.limitMargin", p.CPU.LimitMargin, 0, 10)
	v.fraction("cpu.peakCap", p.CPU.PeakCap, 0, 10)
	if p.CPU.MinHeadroom < 0 {
		v.add("cpu.minHeadroom", "%d is negative", int64(p.CPU.MinHeadroom))
	}
	v.minMax("cpu", int64(p.CPU.Min), int64(p.CPU.Max))
	v.percentile("memory.requestPercentile", p.Memory.RequestPercentile)
	v.fraction("memory.margin", p.Memory.Margin, 0, 10)
	v.fraction("memory.limitMargin", p.Memory.LimitMargin, 0, 10)
	v.fraction("memory.burstMargin", p.Memory.BurstMargin, 0, 10)
	v.fraction("memory.growthMargin", p.Memory.GrowthMargin, 0, 10)
	if p.Memory.GrowthWindow < 0 || (p.Memory.GrowthMargin > 0 && p.Memory.GrowthWindow < time.Minute) {
		v.add("memory.growthWindow", "%v is shorter than 1m (growthMargin %v needs a window)", p.Memory.GrowthWindow, p.Memory.GrowthMargin)
	}
	v.minMax("memory", int64(p.Memory.Min), int64(p.Memory.Max))
	v.fraction("memory.oomBumpRatio", p.Memory.OOMBumpRatio, 1, 10)
	if p.Memory.OOMMinBump < 0 {
		v.add("memory.oomMinBump", "%v is negative", int64(p.Memory.OOMMinBump))
	}
	v.percentile("gpu.computePercentile", p.GPU.ComputePercentile)
	v.fraction("gpu.computeMargin", p.GPU.ComputeMargin, 0, 10)
	v.fraction("gpu.memoryMargin", p.GPU.MemoryMargin, 0, 10)
	if p.HalfLife < time.Minute {
		v.add("halfLife", "%v is shorter than 1m", p.HalfLife)
	}
	if p.LiveHalfLife != 0 && p.LiveHalfLife < time.Minute {
		v.add("liveHalfLife", "%v is shorter than 1m (0 keeps no live horizon)", p.LiveHalfLife)
	}
	if p.PeakInterval < time.Minute {
		v.add("peakInterval", "%v is shorter than 1m", p.PeakInterval)
	} else if p.Window < p.PeakInterval || p.Window > MaxPeakWindows*p.PeakInterval {
		v.add("window", "%v must span 1 to %d peak intervals of %v", p.Window, MaxPeakWindows, p.PeakInterval)
	}
	if p.MinHistory < 0 {
		v.add("minHistory", "%v is negative", p.MinHistory)
	}
	if p.MinSamples < 0 {
		v.add("minSamples", "%d is negative", p.MinSamples)
	}
	if p.FullConfidence <= 0 {
		v.add("fullConfidence", "%v must be positive", p.FullConfidence)
	}
	if !(p.ThrottleThreshold > 0 && p.ThrottleThreshold <= 1) {
		v.add("throttleThreshold", "%v is not in (0, 1]", p.ThrottleThreshold)
	}
	return v.err()
}

// validator collects field errors.
type validator struct {
	prefix string
	errs   []error
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s%s: %s", v.prefix, field, fmt.Sprintf(format, args...)))
}

func (v *validator) percentile(field string, x float64) {
	if !(x > 0 && x <= 1) {
		v.add(field, "%v is not in (0, 1]", x)
	}
}

func (v *validator) fraction(field string, x, lo, hi float64) {
	if !(x >= lo && x <= hi) {
		v.add(field, "%v is not in [%v, %v]", x, lo, hi)
	}
}

func (v *validator) minMax(res string, lo, hi int64) {
	if lo < 0 {
		v.add(res+".min", "%d is negative", lo)
	}
	if hi <= 0 {
		v.add(res+".max", "%d must be positive", hi)
	} else if lo > hi {
		v.add(res+".min", "%d is above %s.max %d", lo, res, hi)
	}
}

func (v *validator) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return joinErrors(v.errs)
}

// Policy maps every workload to a Profile: named profiles, a default, and
// per-namespace and per-workload overrides. A Policy is immutable once
// built and safe for concurrent use.
type Policy struct {
	defaultProfile string
	profiles       map[string]Profile
	namespaces     map[string]override
	workloads      map[workloadMatch]override
	prices         Prices
}

// override is a namespace's or workload's choice of profile plus field
// changes on top of it.
type override struct {
	profile string // "" keeps the inherited choice
	apply   func(*Profile)
}

// workloadMatch keys workload overrides; an empty Kind matches any kind.
type workloadMatch struct{ Namespace, Kind, Name string }

// DefaultPolicy returns the built-in profiles with "balanced" as the
// default, no overrides and DefaultPrices.
func DefaultPolicy() *Policy {
	p := &Policy{defaultProfile: ProfileBalanced, profiles: map[string]Profile{}, prices: DefaultPrices()}
	for _, b := range BuiltinProfiles() {
		p.profiles[b.Name] = b
	}
	return p
}

// DefaultProfile returns the name of the profile used when no override
// applies.
func (p *Policy) DefaultProfile() string { return p.defaultProfile }

// WithDefaultProfile returns a copy of p whose default profile is name.
func (p *Policy) WithDefaultProfile(name string) (*Policy, error) {
	if _, ok := p.profiles[name]; !ok {
		return nil, fmt.Errorf("unknown profile %q (have %v)", name, p.ProfileNames())
	}
	c := *p
	c.defaultProfile = name
	return &c, nil
}

// ProfileNames returns the names of every profile, sorted.
func (p *Policy) ProfileNames() []string {
	names := make([]string, 0, len(p.profiles))
	for n := range p.profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Profile returns the named profile.
func (p *Policy) Profile(name string) (Profile, bool) {
	pr, ok := p.profiles[name]
	return pr, ok
}

// Prices returns the prices used for dollar figures.
func (p *Policy) Prices() Prices { return p.prices }

// Resolve returns the profile that applies to workload k: the default,
// or the namespace's choice, or the workload's; then the namespace's field
// changes, then the workload's. Resolve is a few map lookups.
func (p *Policy) Resolve(k WorkloadKey) Profile { return p.resolve(k, true) }

// workloadOverride returns workload k's own override: the one naming its
// kind, else the one for any kind.
func (p *Policy) workloadOverride(k WorkloadKey) (override, bool) {
	if len(p.workloads) == 0 {
		return override{}, false
	}
	if o, ok := p.workloads[workloadMatch{k.Namespace, k.Kind, k.Name}]; ok {
		return o, true
	}
	o, ok := p.workloads[workloadMatch{k.Namespace, "", k.Name}]
	return o, ok
}

// hasWorkloadOverride reports whether workload k has an override of its
// own; without one its profile is its namespace's.
func (p *Policy) hasWorkloadOverride(k WorkloadKey) bool {
	_, ok := p.workloadOverride(k)
	return ok
}

// resolve applies the namespace's override and, if withWorkload, the
// workload's.
func (p *Policy) resolve(k WorkloadKey, withWorkload bool) Profile {
	name := p.defaultProfile
	ns, hasNS := p.namespaces[k.Namespace]
	var wl override
	hasWL := false
	if withWorkload {
		wl, hasWL = p.workloadOverride(k)
	}
	if hasNS && ns.profile != "" {
		name = ns.profile
	}
	if hasWL && wl.profile != "" {
		name = wl.profile
	}
	pr := p.profiles[name]
	if hasNS && ns.apply != nil {
		ns.apply(&pr)
	}
	if hasWL && wl.apply != nil {
		wl.apply(&pr)
	}
	return pr
}

// Prices turn resources into dollars. Values are list on-demand USD.
type Prices struct {
	CoreHour   float64 // per vCPU-hour
	GiBHour    float64 // per GiB-hour of memory
	GPUHour    float64 // per whole-GPU-hour
	HoursMonth float64 // hours in a billing month (730)
}

// DefaultPrices returns AWS us-east-1 on-demand prices: $0.0350 per
// vCPU-hour and $0.00346 per GiB-hour, a least-squares fit (worst error
// 1.8 %) of the c6i, m6i and r6i families, and $6.88 per H100-hour (p5),
// all from the Karpenter AWS provider's price list of 2026-07-20 in
// shared/data/catalog. A user's catalog replaces them.
func DefaultPrices() Prices {
	return Prices{CoreHour: 0.0350, GiBHour: 0.00346, GPUHour: 6.88, HoursMonth: 730}
}
