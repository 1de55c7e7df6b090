package recommender

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rightsizer/rightsizer/recommender/sketch"
)

// Estimators, after VPA's logic/estimator.go: a percentile of the usage
// distribution, then a margin, then the policy's floor and cap. Each step
// is a decorator around the previous one, so a profile is a composition.
type estimator interface {
	estimate(s *sketch.Sketch) float64
}

type percentileEstimator struct{ q float64 }

func (e percentileEstimator) estimate(s *sketch.Sketch) float64 {
	v, err := s.Quantile(e.q)
	if err != nil { // empty sketch: callers check first
		return 0
	}
	return v
}

type marginEstimator struct {
	margin float64
	base   estimator
}

func (e marginEstimator) estimate(s *sketch.Sketch) float64 {
	return e.base.estimate(s) * (1 + e.margin)
}

// withMargin returns the percentile-plus-margin chain.
func withMargin(q, margin float64) estimator {
	return marginEstimator{margin: margin, base: percentileEstimator{q: q}}
}

// clamp bounds v to [lo, hi] and says whether hi cut it.
func clamp(v, lo, hi float64) (float64, bool) {
	if v > hi {
		return hi, true
	}
	return max(v, lo), false
}

// peakQuantile is the "highest usage" a peak cap refers to: the P99.9,
// robust to a single outlier sample.
const peakQuantile = 0.999

// boundsDecorrelation is the spacing below which samples count as one
// observation when judging how well a percentile is known: usage is
// strongly autocorrelated over minutes.
const boundsDecorrelation = 15 * time.Minute

// history summarises how much a container has been observed.
type history struct {
	span       time.Duration
	samples    int64
	nEff       float64 // effective independent observations
	confidence float64 // 0–1
}

func (st *containerState) history(p *Profile) history {
	h := history{span: time.Duration(st.last - st.first), samples: st.samples}
	h.nEff = math.Min(float64(st.samples), float64(h.span/boundsDecorrelation)+1)
	// With decay, old samples stop counting.
	if w := st.cpu.Weight(time.Unix(0, st.last)); w > 0 {
		h.nEff = math.Min(h.nEff, w)
	}
	h.confidence = math.Min(1, float64(h.span)/float64(p.FullConfidence))
	if p.MinSamples > 0 {
		h.confidence *= math.Min(1, float64(st.samples)/float64(p.MinSamples))
	}
	return h
}

// bounds brackets the q-percentile-plus-margin by the percentiles a
// binomial 95 % interval on its rank allows with nEff observations, and
// widens the top by up to 2× while confidence is low (a young diurnal
// workload has not shown its daily peak yet). Never a placeholder: the
// upper bound is at most about twice the largest value seen.
func bounds(s *sketch.Sketch, q, margin float64, h history) (lo, hi float64) {
	d := 1.96 * math.Sqrt(q*(1-q)/math.Max(h.nEff, 1))
	if h.nEff < 2 {
		d = 1
	}
	lo = withMargin(math.Max(q-d, 0), margin).estimate(s)
	hi = withMargin(math.Min(q+d, 1), margin).estimate(s) * (2 - h.confidence)
	return lo, hi
}

// estimateInput is what a recommendation depends on besides the state.
type estimateInput struct {
	key      ContainerKey
	profile  *Profile
	spec     ContainerSpec // zero if the inventory does not know the container
	replicas int32
	scaledOn ResourceSet
	prices   Prices
	// brief asks for the requests and limits only (Requirements): no
	// bounds, risks or reason. The notifier checks every changed container
	// this way and computes the whole recommendation only for those that
	// moved, at about half the cost.
	brief bool
}

// recommend computes the recommendation. It is a pure function of the
// state and its input: no clock, no I/O; "now" is the last sample.
func (st *containerState) recommend(in *estimateInput) Recommendation {
	p := in.profile
	r := Recommendation{
		ContainerKey: in.key,
		Role:         in.spec.Role,
		Replicas:     in.replicas,
		Profile:      p.Name,
		Samples:      st.samples,
	}
	why := reason{off: in.brief}
	if st.samples > 0 {
		r.FirstSample, r.LastSample = time.Unix(0, st.first).UTC(), time.Unix(0, st.last).UTC()
	}
	h := st.history(p)
	r.Confidence = h.confidence
	if st.samples < p.MinSamples || h.span < p.MinHistory {
		r.Flags |= FlagInsufficientHistory
	}
	if in.spec.Requests.CPU == 0 && in.spec.Requests.Memory == 0 {
		r.Flags |= FlagNoRequest
	}

	r.CPU = st.recommendCPU(in, h, &r.Flags, &why)
	r.Memory = st.recommendMemory(in, h, &r.Flags, &why)
	if st.gpu != nil {
		r.GPUCompute, r.GPUMemory = st.recommendGPU(in, h)
	}

	replicas := float64(max(in.replicas, 1))
	if in.spec.Role != RoleInit { // an init container's request rarely sets the pod's
		dCPU := (r.CPU.Request - r.CPU.CurrentRequest).Cores() * in.prices.CoreHour
		dMem := (r.Memory.Request - r.Memory.CurrentRequest).GiB() * in.prices.GiBHour
		r.MonthlyCostDelta = math.Round((dCPU+dMem)*in.prices.HoursMonth*replicas*100) / 100
	}
	if !in.brief {
		r.Reason = why.line(p, r.CPU.Percentile, st.cpuLive.Config() != nil, h, st.samples)
	}
	return r
}

// current is the recommendation that keeps today's request and limit: the
// answer while no usage has been seen.
func current[T Amount](req, lim T, percentile float64) ResourceRecommendation[T] {
	return ResourceRecommendation[T]{
		Request: req, Limit: lim, LowerBound: req, UpperBound: req, Uncapped: req,
		CurrentRequest: req, CurrentLimit: lim, Percentile: percentile, Kept: true,
	}
}

// cpuTarget is a profile's CPU request from a usage distribution, before
// throttling, autoscalers and the policy's floor and cap: the percentile,
// plus the larger of the margin and the minimum headroom, at most the peak
// cap over the P99.9.
func cpuTarget(c *CPUPolicy, s *sketch.Sketch) float64 {
	base := percentileEstimator{c.RequestPercentile}.estimate(s)
	target := math.Max(base*(1+c.Margin), base+float64(c.MinHeadroom))
	if c.PeakCap > 0 {
		target = math.Min(target, withMargin(peakQuantile, c.PeakCap).estimate(s))
	}
	return target
}

func (st *containerState) recommendCPU(in *estimateInput, h history, flags *Flags, why *reason) ResourceRecommendation[MilliCPU] {
	p := in.profile
	cur, curLim := in.spec.Requests.CPU, in.spec.Limits.CPU
	if st.cpu.Empty() {
		return current(cur, curLim, p.CPU.RequestPercentile)
	}
	rec := ResourceRecommendation[MilliCPU]{CurrentRequest: cur, CurrentLimit: curLim, Percentile: p.CPU.RequestPercentile}
	lo, hi := float64(p.CPU.Min), float64(p.CPU.Max)
	cpuPol := &p.CPU
	if st.cal != nil && p.CPU.RiskBudget > 0 {
		c := p.CPU
		c.RequestPercentile = st.cal.percentile()
		cpuPol, rec.Percentile = &c, c.RequestPercentile
	}
	target := cpuTarget(cpuPol, &st.cpu)
	live := target
	if st.cpuLive.Config() != nil && !st.cpuLive.Empty() {
		live = cpuTarget(cpuPol, &st.cpuLive)
	}
	throttled := st.thr.weight > 0 && st.thr.mean() >= p.ThrottleThreshold
	if throttled {
		*flags |= FlagThrottled
		if curLim > 0 {
			// Usage cannot pass the limit, so what was seen is a floor on
			// demand: start from the limit.
			floor := float64(curLim) * (1 + p.CPU.Margin)
			target, live = math.Max(target, floor), math.Max(live, floor)
		}
		why.add("throttled %.0f%% of periods%s: usage is censored, sized from the limit", 100*st.thr.mean(), limitSuffix(curLim))
	}
	rec.Uncapped = MilliCPU(math.Ceil(target))
	req, capped := clamp(target, lo, hi)
	live, _ = clamp(live, lo, hi)
	if in.scaledOn.Has(ResourceCPU) && cur > 0 {
		*flags |= FlagAutoscaled
		why.add("an autoscaler scales on cpu: request kept at %v so its target keeps its meaning", cur)
		req, live, capped, rec.Kept = float64(cur), float64(cur), false, true
	}
	if capped {
		*flags |= FlagCapped
		why.add("cpu capped at %v by policy", p.CPU.Max)
	}
	rec.Request = MilliCPU(math.Ceil(req))
	rec.Live = MilliCPU(math.Ceil(live))
	if p.CPU.LimitPercentile > 0 {
		lim := withMargin(p.CPU.LimitPercentile, p.CPU.LimitMargin).estimate(&st.cpu)
		if throttled && curLim > 0 {
			lim = math.Max(lim, 1.5*float64(curLim))
		}
		lim, c := clamp(math.Max(lim, math.Max(req, live)), lo, hi)
		if c {
			*flags |= FlagCapped
		}
		rec.Limit = MilliCPU(math.Ceil(lim))
	}
	if in.brief {
		return rec
	}
	bl, bh := bounds(&st.cpu, p.CPU.RequestPercentile, p.CPU.Margin, h)
	rec.LowerBound = MilliCPU(math.Ceil(math.Min(math.Max(bl, lo), req)))
	rec.UpperBound = MilliCPU(math.Ceil(math.Max(math.Min(bh, hi), req)))
	rec.Risk = riskAbove(&st.cpu, float64(rec.Request))
	return rec
}

// riskAbove is the decayed fraction of usage above v.
func riskAbove(s *sketch.Sketch, v float64) float64 { return roundRisk(1 - s.CDF(v)) }

// roundRisk rounds a probability to 1e-6: it is an estimate, and the last
// bits of float sums would otherwise differ between a state and its
// restored copy.
func roundRisk(p float64) float64 { return math.Round(p*1e6) / 1e6 }

func limitSuffix(lim MilliCPU) string {
	if lim == 0 {
		return ""
	}
	return " at its " + lim.String() + " limit"
}

func (st *containerState) recommendMemory(in *estimateInput, h history, flags *Flags, why *reason) ResourceRecommendation[Bytes] {
	p := in.profile
	cur, curLim := in.spec.Requests.Memory, in.spec.Limits.Memory
	if st.mem.Empty() {
		return current(cur, curLim, p.Memory.RequestPercentile)
	}
	rec := ResourceRecommendation[Bytes]{CurrentRequest: cur, CurrentLimit: curLim, Percentile: p.Memory.RequestPercentile}
	lo, hi := float64(p.Memory.Min), float64(p.Memory.Max)
	target := withMargin(p.Memory.RequestPercentile, p.Memory.Margin).estimate(&st.mem)
	peak := float64(st.memPeaks.max())
	limit := peak * (1 + p.Memory.LimitMargin)
	if p.Memory.BurstMargin > 0 {
		usual := percentileEstimator{0.75}.estimate(&st.mem)
		limit = math.Max(limit, peak+p.Memory.BurstMargin*math.Max(peak-usual, 0))
	}

	if grown := peak * (1 + p.Memory.GrowthMargin); p.Memory.GrowthMargin > 0 && st.memGrewAt > 0 &&
		st.last-st.memGrewAt < int64(p.Memory.GrowthWindow) && grown > math.Max(limit, lo) {
		limit = grown
		if ago := humanDuration(time.Duration(st.last - st.memGrewAt)); st.memGrewAt == st.first {
			why.add("memory seen for only %s: limit %.0f%% over its peak", ago, 100*p.Memory.GrowthMargin)
		} else {
			why.add("memory reached a new peak %s ago: limit %.0f%% over it", ago, 100*p.Memory.GrowthMargin)
		}
	}

	// OOM kills within the window: the limit must clear what was in force
	// (or in use) at the kill, by the bump. Bases are observations only.
	var oomBase float64
	var lastOOM oomRecord
	for _, o := range st.ooms {
		if o.at < st.last-int64(p.Window) {
			continue
		}
		base := float64(max(o.limit, o.usage))
		if o.limit == 0 {
			base = math.Max(base, float64(curLim))
		}
		if base > oomBase {
			oomBase, lastOOM = base, o
		}
	}
	if oomBase > 0 {
		*flags |= FlagOOM
		bump := math.Max(oomBase*p.Memory.OOMBumpRatio, oomBase+float64(p.Memory.OOMMinBump))
		limit = math.Max(limit, bump)
		target = math.Max(target, oomBase)
		why.add("OOM kill at %v on %s: memory limit raised to %v", Bytes(oomBase), time.Unix(0, lastOOM.at).UTC().Format("Jan 2 15:04"), Bytes(math.Ceil(bump)))
	}
	rec.Uncapped = Bytes(math.Ceil(target))
	req, capped := clamp(target, lo, hi)
	if in.scaledOn.Has(ResourceMemory) && cur > 0 {
		*flags |= FlagAutoscaled
		why.add("an autoscaler scales on memory: request kept at %v", cur)
		req, capped, rec.Kept = float64(cur), false, true
	}
	lim, limCapped := clamp(math.Max(limit, req), lo, hi)
	if capped || limCapped {
		*flags |= FlagCapped
		why.add("memory capped at %v by policy", p.Memory.Max)
	}
	rec.Request = Bytes(math.Ceil(req))
	rec.Limit = Bytes(math.Ceil(lim))
	if in.brief {
		return rec
	}
	bl, bh := bounds(&st.mem, p.Memory.RequestPercentile, p.Memory.Margin, h)
	rec.LowerBound = Bytes(math.Ceil(math.Min(math.Max(bl, lo), req)))
	rec.UpperBound = Bytes(math.Ceil(math.Max(math.Min(bh, hi), req)))
	rec.Risk = riskAbove(&st.mem, float64(rec.Request))
	rec.OOMRisk = roundRisk(exceedProbability(st.memPeaks.values(make([]Bytes, 0, MaxPeakWindows)), rec.Limit))
	return rec
}

// recommendGPU sizes GPU busy time by percentile and GPU memory by its
// largest peak: memory is the hard constraint. The GPU issue turns these
// into whole-GPU, MIG and shared shapes.
func (st *containerState) recommendGPU(in *estimateInput, h history) (*ResourceRecommendation[GPUCompute], *ResourceRecommendation[Bytes]) {
	p := in.profile
	g := st.gpu
	compute := &ResourceRecommendation[GPUCompute]{
		CurrentRequest: in.spec.Requests.GPUCompute, CurrentLimit: in.spec.Limits.GPUCompute,
		Percentile: p.GPU.ComputePercentile,
	}
	if !g.compute.Empty() {
		v := withMargin(p.GPU.ComputePercentile, p.GPU.ComputeMargin).estimate(&g.compute)
		compute.Request, compute.Uncapped = GPUCompute(v), GPUCompute(v)
		if !in.brief {
			bl, bh := bounds(&g.compute, p.GPU.ComputePercentile, p.GPU.ComputeMargin, h)
			compute.LowerBound, compute.UpperBound = GPUCompute(math.Min(bl, v)), GPUCompute(math.Max(bh, v))
			compute.Risk = riskAbove(&g.compute, v)
		}
	} else {
		compute.Request, compute.Kept = compute.CurrentRequest, true
	}
	mem := &ResourceRecommendation[Bytes]{
		CurrentRequest: in.spec.Requests.GPUMemory, CurrentLimit: in.spec.Limits.GPUMemory,
		Percentile: 1,
	}
	if !g.mem.Empty() {
		v := math.Ceil(float64(g.memPeaks.max()) * (1 + p.GPU.MemoryMargin))
		mem.Request, mem.Limit, mem.Uncapped = Bytes(v), Bytes(v), Bytes(v)
		if !in.brief {
			bl, bh := bounds(&g.mem, 1, p.GPU.MemoryMargin, h)
			mem.LowerBound, mem.UpperBound = Bytes(math.Min(bl, v)), Bytes(math.Ceil(math.Max(bh, v)))
			mem.Risk = riskAbove(&g.mem, v)
			mem.OOMRisk = roundRisk(exceedProbability(g.memPeaks.values(nil), mem.Limit))
		}
	} else {
		mem.Request, mem.Kept = mem.CurrentRequest, true
	}
	return compute, mem
}

// reason collects the notable facts of one recommendation; with off set
// (a brief recommendation) it formats nothing.
type reason struct {
	notes []string
	off   bool
}

func (r *reason) add(format string, args ...any) {
	if r.off {
		return
	}
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// line renders the reason as one line: the basis first, then the notes.
// Every recommendation of every container carries one, and the notifier
// and the API's list snapshot render thousands a second, so the parts
// that depend only on the profile are formatted once (basisOf).
func (r *reason) line(p *Profile, cpuPercentile float64, live bool, h history, samples int64) string {
	var b strings.Builder
	if samples == 0 {
		b.WriteString("no usage seen yet: current requests kept")
	} else {
		bs := basisOf(p, cpuPercentile)
		b.Grow(len(bs.head) + len(bs.budget) + 32)
		b.WriteString(bs.head)
		b.WriteString(" over ")
		b.WriteString(humanDuration(h.span))
		b.WriteString(" (")
		b.WriteString(strconv.FormatInt(samples, 10))
		b.WriteString(" samples)")
		b.WriteString(bs.budget)
		if live {
			b.WriteString(bs.live)
		}
		if samples < p.MinSamples || h.span < p.MinHistory {
			b.WriteString(bs.short)
		}
	}
	for _, n := range r.notes {
		b.WriteString("; ")
		b.WriteString(n)
	}
	return b.String()
}

// cpuRule writes what a CPU policy adds to its percentile: "+5%", "+50m"
// or "+max(5%, 50m)".
func cpuRule(c *CPUPolicy) string {
	m := strings.TrimSuffix(fmt.Sprintf("%.1f", 100*c.Margin), ".0") + "%"
	switch {
	case c.Margin > 0 && c.MinHeadroom > 0:
		return "+max(" + m + ", " + c.MinHeadroom.String() + ")"
	case c.MinHeadroom > 0:
		return "+" + c.MinHeadroom.String()
	case c.Margin > 0:
		return "+" + m
	}
	return ""
}

// percentileName writes 0.9 as "P90", 0.995 as "P99.5" and 1 as "max".
func percentileName(q float64) string {
	if q == 1 {
		return "max"
	}
	return "P" + strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", 100*q), "0"), ".")
}

// humanDuration writes a duration the way a person reads it: "45m",
// "6.5h", "3.2d".
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%.0fm", d.Minutes())
	case d < 48*time.Hour:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", d.Hours()), ".0") + "h"
	default:
		return fmt.Sprintf("%.1fd", d.Hours()/24)
	}
}

// basis is the profile-dependent text of a reason line.
type basis struct{ head, budget, live, short string }

// basisKey is everything the basis text depends on.
type basisKey struct {
	name                 string
	cpuQ, cpuMargin      float64
	headroom             MilliCPU
	memQ, memMargin      float64
	budget               float64
	liveHalf, minHistory time.Duration
	minSamples           int64
}

// bases caches basis texts by basisKey. A handful of profiles and
// calibrated percentiles make few keys; the cache is bounded anyway,
// since calibration moves percentiles continuously.
var bases struct {
	sync.Mutex
	m map[basisKey]*basis
}

const maxBases = 4096

func basisOf(p *Profile, cpuPercentile float64) *basis {
	k := basisKey{p.Name, cpuPercentile, p.CPU.Margin, p.CPU.MinHeadroom, p.Memory.RequestPercentile, p.Memory.Margin,
		p.CPU.RiskBudget, p.LiveHalfLife, p.MinHistory, p.MinSamples}
	bases.Lock()
	defer bases.Unlock()
	if b, ok := bases.m[k]; ok {
		return b
	}
	b := &basis{
		head: fmt.Sprintf("%s: CPU %s%s, memory %s+%.0f%%", p.Name, percentileName(cpuPercentile), cpuRule(&p.CPU),
			percentileName(p.Memory.RequestPercentile), 100*p.Memory.Margin),
		live:  "; live request over " + humanDuration(p.LiveHalfLife),
		short: fmt.Sprintf("; short history (want %s and %d samples): wide bounds", humanDuration(p.MinHistory), p.MinSamples),
	}
	if p.CPU.RiskBudget > 0 {
		b.budget = ", calibrated to a " + strconv.FormatFloat(100*p.CPU.RiskBudget, 'f', -1, 64) + "% budget"
	}
	if bases.m == nil || len(bases.m) >= maxBases {
		bases.m = map[basisKey]*basis{}
	}
	bases.m[k] = b
	return b
}
