package recommender

import (
	"math"
	"time"

	"github.com/rightsizer/rightsizer/recommender/internal/peakfit"
	"github.com/rightsizer/rightsizer/recommender/sketch"
)

// containerState is everything the engine knows about one container (all
// its replicas together). It is owned by one engine stripe and guarded by
// that stripe's lock; it is not safe for concurrent use on its own.
//
// Memory: two sketches of about 64 bytes plus 4 bytes per bucket (a
// container whose usage spans a factor of ten needs ~120 buckets), the peak
// ring (8 bytes per window) and ~100 bytes of fields.
type containerState struct {
	key  ContainerKey
	hash uint64          // of key; the engine's stripe map is keyed by it
	next *containerState // another state whose key has the same hash

	cpu      sketch.Sketch // millicores
	mem      sketch.Sketch // bytes of working set
	memPeaks peakRing      // largest working set per peak window
	// memGrewAt is the time (ns) of the last sample that rose above every
	// peak in the ring by more than memGrowthStep; 0 if none has.
	memGrewAt int64
	// cpuLive is CPU over the profile's short LiveHalfLife; its Config is
	// nil when the profile keeps no live horizon.
	cpuLive sketch.Sketch
	cal     *calibration // nil unless the profile has a CPU risk budget
	gpu     *gpuState    // nil until a GPU sample arrives
	ooms    []oomRecord  // the most recent OOM kills, oldest first
	thr     decayedMean  // fraction of CFS periods throttled

	first, last int64 // times of the first and last sample, ns since the epoch
	samples     int64

	// notified holds the values subscribers were last compared against;
	// nil until the notifier first evaluates the container.
	notified *Requirements

	dirty   bool // changed since the notifier last looked
	unsaved bool // changed since the last checkpoint
}

// calibration adapts a risk-budget profile's CPU percentile to what its
// advice achieved (see CPUPolicy.RiskBudget). While the workload is
// managed (its requests are rightsizer's own), every CalibrationInterval of
// data it compares the share of CPU samples above the request in force
// with the budget b, and moves the miscoverage level alpha by
// CalibrationGain × (b − share), within [b/10, min(5b, 0.5)]. This is
// adaptive conformal inference (Gibbs and Candès, 2021) on the request a
// user actually runs with, whatever a controller's stabilisation and
// reactions make of the recommendation.
type calibration struct {
	budget  float64
	alpha   float64  // the request is the (1 − alpha) quantile
	req     MilliCPU // the CPU request in force, from the inventory
	managed bool     // rightsizer's controller applies the requests
	next    int64    // data time of the next update, ns
	n, over int32    // samples since the last update, and how many exceeded req
}

// Calibration constants: a window of an hour of data, and a gain that
// moves alpha by a tenth of the miss in one window (converging within a
// day or two of hourly windows).
const (
	CalibrationInterval = time.Hour
	CalibrationGain     = 0.1
	calibrationMinN     = 6
)

func newCalibration(budget float64) *calibration {
	return &calibration{budget: budget, alpha: budget}
}

// observe counts a CPU sample against the request in force and, when the
// window has passed, updates alpha.
func (c *calibration) observe(cpu MilliCPU, tns int64) {
	if c.managed && c.req > 0 {
		c.n++
		if cpu > c.req {
			c.over++
		}
	}
	if tns < c.next {
		return
	}
	if c.n >= calibrationMinN {
		b := c.budget
		share := float64(c.over) / float64(c.n)
		c.alpha = min(max(c.alpha+CalibrationGain*(b-share), b/10), min(5*b, 0.5))
	}
	c.n, c.over = 0, 0
	c.next = tns + int64(CalibrationInterval)
}

// percentile returns the calibrated percentile.
func (c *calibration) percentile() float64 { return 1 - c.alpha }

// halfLife returns the decay half-life of the state's sketches, in ns.
func (st *containerState) halfLife() int64 { return int64(st.cpu.Config().Options().HalfLife) }

// gpuState is the GPU part of a container's state.
type gpuState struct {
	compute  sketch.Sketch // GPUs busy
	mem      sketch.Sketch // bytes of GPU memory
	memPeaks peakRing
	idle     gpuIdle // samples with both, by (compute, memory)
}

// oomRecord is an observed OOM kill: never a bump or a recommendation.
type oomRecord struct {
	at    int64 // ns since the epoch
	limit Bytes // the limit in force, 0 if unknown
	usage Bytes // the working set seen at the kill, 0 if unknown
}

// maxOOMRecords bounds the OOM kills a container remembers.
const maxOOMRecords = 4

// newContainerState makes a state with sketches of cfg, and of live (nil:
// no live horizon) for cpuLive.
func newContainerState(cfg, live *sketch.Config, p *Profile) *containerState {
	st := &containerState{
		cpu:      cfg.Make(),
		mem:      cfg.Make(),
		memPeaks: newPeakRing(p.PeakInterval, p.peakWindows()),
	}
	if live != nil {
		st.cpuLive = live.Make()
	}
	if p.CPU.RiskBudget > 0 {
		st.cal = newCalibration(p.CPU.RiskBudget)
	}
	return st
}

// validUsage reports why a sample's values cannot be recorded, if they
// cannot. It runs before any change, so a bad sample changes nothing.
func validUsage(u *Usage) string {
	switch {
	case u.Has.Has(ResourceCPU) && u.CPU < 0:
		return "negative cpu"
	case u.Has.Has(ResourceMemory) && u.Memory < 0:
		return "negative memory"
	case u.Has.Has(ResourceGPUMemory) && u.GPUMemory < 0:
		return "negative gpu memory"
	case u.Has.Has(ResourceGPUCompute) && !(u.GPUCompute >= 0 && u.GPUCompute <= maxGPUs):
		return "gpu compute not a number of GPUs in [0, 1024]"
	case u.HasThrottling && !(u.ThrottledFraction >= 0 && u.ThrottledFraction <= 1):
		return "throttled fraction not in [0, 1]"
	case u.Has == 0 && !u.HasThrottling:
		return "no values"
	}
	return ""
}

const maxGPUs = 1024

// add records a validated sample.
func (st *containerState) add(u *Usage, t time.Time) {
	// Errors are impossible here: validUsage has checked every value.
	tns := t.UnixNano()
	if u.Has.Has(ResourceCPU) {
		_ = st.cpu.Add(float64(u.CPU), t)
		if st.cpuLive.Config() != nil {
			_ = st.cpuLive.Add(float64(u.CPU), t)
		}
		if st.cal != nil {
			st.cal.observe(u.CPU, tns)
		}
	}
	if u.Has.Has(ResourceMemory) {
		_ = st.mem.Add(float64(u.Memory), t)
		// The first sample is a rise from nothing: a new container counts as
		// growing until its working set has held still for a while.
		if st.memPeaks.seen == 0 || st.memPeaks.rises(tns, u.Memory, memGrowthStep) {
			st.memGrewAt = max(st.memGrewAt, tns)
		}
		st.memPeaks.add(tns, u.Memory)
	}
	if u.Has.Has(ResourceGPUCompute) || u.Has.Has(ResourceGPUMemory) {
		if st.gpu == nil {
			cfg := st.cpu.Config()
			st.gpu = &gpuState{compute: cfg.Make(), mem: cfg.Make(), memPeaks: newPeakRing(time.Duration(st.memPeaks.interval), len(st.memPeaks.peaks))}
		}
		if u.Has.Has(ResourceGPUCompute) {
			_ = st.gpu.compute.Add(float64(u.GPUCompute), t)
		}
		if u.Has.Has(ResourceGPUMemory) {
			_ = st.gpu.mem.Add(float64(u.GPUMemory), t)
			st.gpu.memPeaks.add(tns, u.GPUMemory)
		}
		if u.Has.Has(ResourceGPUCompute) && u.Has.Has(ResourceGPUMemory) {
			st.gpu.idle.add(tns, u.GPUCompute, u.GPUMemory, st.halfLife())
		}
	}
	if u.HasThrottling {
		st.thr.add(tns, u.ThrottledFraction, st.halfLife())
	}
	if st.samples == 0 || tns < st.first {
		st.first = tns
	}
	if tns > st.last {
		st.last = tns
	}
	st.samples++
	st.dirty, st.unsaved = true, true
}

// inventoryChanged takes what the state needs from its inventory record.
func (st *containerState) inventoryChanged(w *Workload, c *ContainerSpec) {
	if st.cal != nil {
		st.cal.req, st.cal.managed = c.Requests.CPU, w.Managed
	}
}

// recordOOM remembers a kill, keeping the newest maxOOMRecords.
func (st *containerState) recordOOM(at int64, limit, usage Bytes) {
	if usage == 0 {
		usage = st.memPeaks.at(at)
	}
	r := oomRecord{at: at, limit: limit, usage: usage}
	if len(st.ooms) == maxOOMRecords {
		copy(st.ooms, st.ooms[1:])
		st.ooms = st.ooms[:maxOOMRecords-1]
	}
	// Keep them in time order; kills rarely arrive out of order.
	i := len(st.ooms)
	for i > 0 && st.ooms[i-1].at > at {
		i--
	}
	st.ooms = append(st.ooms, oomRecord{})
	copy(st.ooms[i+1:], st.ooms[i:])
	st.ooms[i] = r
	st.dirty, st.unsaved = true, true
}

// peakRing keeps the largest value seen in each of the last n windows of
// a fixed length (VPA's per-interval memory peaks). Replicas share the
// ring, so a window's peak is the largest of any replica's.
type peakRing struct {
	interval int64   // window length, ns
	cur      int64   // number of the newest window: t / interval
	seen     uint64  // bit k set: window cur−k has a value
	peaks    []Bytes // window w at peaks[w mod n]
}

func newPeakRing(interval time.Duration, n int) peakRing {
	return peakRing{interval: int64(interval), peaks: make([]Bytes, n)}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (r *peakRing) slot(w int64) int {
	n := int64(len(r.peaks))
	return int((w%n + n) % n)
}

// add records v at time t (ns). Values older than the ring are dropped.
func (r *peakRing) add(t int64, v Bytes) {
	n := int64(len(r.peaks))
	w := floorDiv(t, r.interval)
	switch {
	case r.seen == 0:
		r.cur = w
	case w > r.cur:
		if d := w - r.cur; d >= n {
			r.seen = 0
		} else {
			r.seen <<= uint(d)
			r.seen &= 1<<uint(n) - 1
		}
		r.cur = w
	case w <= r.cur-n:
		return
	}
	bit := uint64(1) << uint(r.cur-w)
	i := r.slot(w)
	if r.seen&bit == 0 || v > r.peaks[i] {
		r.peaks[i] = v
	}
	r.seen |= bit
}

// at returns the peak of the window holding time t, 0 if none.
func (r *peakRing) at(t int64) Bytes {
	w := floorDiv(t, r.interval)
	k := r.cur - w
	if r.seen == 0 || k < 0 || k >= int64(len(r.peaks)) || r.seen&(1<<uint(k)) == 0 {
		return 0
	}
	return r.peaks[r.slot(w)]
}

// values appends the peaks of the windows that have one, newest first.
func (r *peakRing) values(dst []Bytes) []Bytes {
	for k := range int64(len(r.peaks)) {
		if r.seen&(1<<uint(k)) != 0 {
			dst = append(dst, r.peaks[r.slot(r.cur-k)])
		}
	}
	return dst
}

// memGrowthStep is how far above every peak in the ring a sample must go
// to count as growth (see MemoryPolicy.GrowthMargin): less would count
// noise around a plateau.
const memGrowthStep = 0.05

// rises reports whether v, seen at t, exceeds every peak in the ring by
// more than the fraction step. It is cheap when v is not above the peak of
// t's own window, as almost every sample is.
func (r *peakRing) rises(t int64, v Bytes, step float64) bool {
	if r.seen == 0 || v <= r.at(t) {
		return false
	}
	m := r.max()
	return m > 0 && float64(v) > float64(m)*(1+step)
}

// max returns the largest peak in the ring, 0 if empty.
func (r *peakRing) max() Bytes {
	var m Bytes
	for k := range int64(len(r.peaks)) {
		if r.seen&(1<<uint(k)) != 0 {
			m = max(m, r.peaks[r.slot(r.cur-k)])
		}
	}
	return m
}

func (r *peakRing) clone() peakRing {
	c := *r
	c.peaks = append([]Bytes(nil), r.peaks...)
	return c
}

// merge folds o's windows into r; rings must have the same interval.
func (r *peakRing) merge(o *peakRing) {
	for k := range int64(len(o.peaks)) {
		if o.seen&(1<<uint(k)) != 0 {
			w := o.cur - k
			r.add(w*o.interval, o.peaks[o.slot(w)])
		}
	}
}

// exceedProbability estimates the chance that one window's peak exceeds
// limit, from a Gumbel (extreme-value) fit of the window peaks
// (peakfit.Fit, whose scale floor keeps a handful of identical peaks
// from claiming certainty). 0 without peaks or without a limit.
func exceedProbability(peaks []Bytes, limit Bytes) float64 {
	if len(peaks) == 0 || limit <= 0 {
		return 0
	}
	return peakfit.Fit(peaks).Exceed(float64(limit))
}

// decayedMean is an exponentially decayed mean of a series.
type decayedMean struct {
	ref         int64 // ns: time the sums are expressed at
	sum, weight float64
}

func (d *decayedMean) add(t int64, v float64, halfLife int64) {
	w := 1.0
	switch {
	case d.weight == 0:
		d.ref = t
	case t > d.ref:
		f := math.Exp2(-float64(t-d.ref) / float64(halfLife))
		d.sum *= f
		d.weight *= f
		d.ref = t
	default:
		w = math.Exp2(-float64(d.ref-t) / float64(halfLife))
	}
	d.sum += w * v
	d.weight += w
}

func (d *decayedMean) mean() float64 {
	if d.weight == 0 {
		return 0
	}
	return d.sum / d.weight
}

func (d *decayedMean) merge(o decayedMean, halfLife int64) {
	if o.weight == 0 {
		return
	}
	if d.weight == 0 {
		*d = o
		return
	}
	if o.ref > d.ref {
		f := math.Exp2(-float64(o.ref-d.ref) / float64(halfLife))
		d.sum, d.weight, d.ref = d.sum*f, d.weight*f, o.ref
		d.sum += o.sum
		d.weight += o.weight
		return
	}
	f := math.Exp2(-float64(d.ref-o.ref) / float64(halfLife))
	d.sum += o.sum * f
	d.weight += o.weight * f
}

// merge folds o into st (replicas seen by different engines, or a
// restored checkpoint meeting live samples). Sketches must share a Config.
func (st *containerState) merge(o *containerState, halfLife int64) error {
	if err := st.cpu.Merge(&o.cpu); err != nil {
		return err
	}
	if err := st.mem.Merge(&o.mem); err != nil {
		return err
	}
	if st.cpuLive.Config() != nil && o.cpuLive.Config() != nil {
		if err := st.cpuLive.Merge(&o.cpuLive); err != nil {
			return err
		}
	}
	st.memPeaks.merge(&o.memPeaks)
	st.memGrewAt = max(st.memGrewAt, o.memGrewAt)
	if o.gpu != nil {
		if st.gpu == nil {
			st.gpu = &gpuState{compute: *o.gpu.compute.Clone(), mem: *o.gpu.mem.Clone(), memPeaks: o.gpu.memPeaks.clone(), idle: o.gpu.idle.clone()}
		} else {
			if err := st.gpu.compute.Merge(&o.gpu.compute); err != nil {
				return err
			}
			if err := st.gpu.mem.Merge(&o.gpu.mem); err != nil {
				return err
			}
			st.gpu.memPeaks.merge(&o.gpu.memPeaks)
			st.gpu.idle.merge(&o.gpu.idle, halfLife)
		}
	}
	for _, r := range o.ooms {
		st.recordOOM(r.at, r.limit, r.usage)
	}
	st.thr.merge(o.thr, halfLife)
	if o.samples > 0 {
		if st.samples == 0 || o.first < st.first {
			st.first = o.first
		}
		st.last = max(st.last, o.last)
		st.samples += o.samples
	}
	st.dirty, st.unsaved = true, true
	return nil
}
