package gpushape

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/rightsizer/rightsizer/gpu/mig"
	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/internal/peakfit"
)

// Recommend chooses the GPU shape for one container: whole GPUs (kept or
// fewer), a MIG profile, an MPS share or a time-slicing share. It is a
// pure function of its arguments, safe for concurrent use, O(profiles +
// MaxReplicas + memory peaks). It fails, wrapping ErrInvalidInput, on an
// invalid input or policy (Policy.Validate; negative, non-finite or
// unsorted usage; a memory peak above MemoryMax; a profile the device's
// model lacks).
//
// The rules, in order:
//
//  1. Requirements. Memory is hard: every shape holds the requirement,
//     and a workload that outgrows it fails. Without Usage.MemoryPeaks, or
//     with Policy.MemoryRisk 0, it is the largest peak plus the policy's
//     headroom. With both, it is the memory that a window's peak exceeds
//     with probability MemoryRisk by a Gumbel fit of the peaks (the
//     engine's OOM risk model), and at least the last peak plus
//     MemoryMinHeadroom: the headroom follows the peaks' spread and the
//     history's length instead of a flat fraction of the largest.
//     Compute is soft: the policy's percentile plus its headroom, in GPUs.
//  2. Censoring. Usage seen on an allocation cannot exceed it. When the
//     memory peak seen on it (the last of MemoryPeaks, else MemoryMax) or
//     the compute percentile is within CapThreshold of the current
//     allocation's, FlagCapped is set and the requirement is raised past
//     the cap (memory: the cap plus the policy's headroom, since demand
//     is at least the cap), so the shape is a size up. Whole GPUs (and a
//     time-sliced share, whose cap is the whole GPU) are kept instead:
//     another GPU helps only a workload that shards across GPUs, which
//     usage cannot show.
//  3. Whole GPUs: the fewest that hold the requirements, never more than
//     the workload runs on today (its parallelism is its own) and at least
//     one.
//  4. Within one GPU, in order of isolation: the cheapest MIG profile that
//     holds the memory in actual MiB and the compute in actual SMs (never
//     by name; never +me, whose media engines usage does not show; never
//     the full-GPU profile, which gives fewer SMs than MIG off), if the
//     model has MIG and the policy allows it; else the smallest MPS share
//     (1/Replicas of memory and threads) that holds both; else, if the
//     policy allows it, the same time-slicing share, chosen over MPS also
//     when the workload bursts above the share (MPS would throttle it,
//     time-slicing lets it borrow idle co-tenants' time); else one GPU.
//     Stability: a reshape is a restart, so a current allocation that is
//     not capped, that the policy allows and whose budget still holds the
//     requirements is kept when the shape chosen would save less than
//     Policy.MinSaving of its GPUs (+me and the full-GPU profile
//     included: they are the user's choice).
//  5. Idle: at least IdleMinFraction of at least IdleMinHours idle sets
//     FlagIdle and IdleMonthlyCostUSD (the current allocation's cost).
//  6. Savings: (current GPUs − shape GPUs) × PricePerHour × HoursPerMonth.
//  7. Risk: with MemoryPeaks, Shape.MemoryRisk is the fit's chance that a
//     window's peak exceeds the shape's memory.
func Recommend(in Input, p Policy) (Shape, error) {
	d, u := in.Device, in.Usage
	in.Current = in.Current.canonical()
	if err := errors.Join(p.Validate(), d.validate(), u.validate()); err != nil {
		return Shape{}, err
	}
	if err := d.validateAllocation(in.Current); err != nil {
		return Shape{}, err
	}
	cur := d.capacity(in.Current)
	if u.Hours == 0 {
		s := d.shape(in.Current)
		s.CurrentGPUs = cur.GPUs
		s.Flags |= FlagNoUsage
		if s.Kind == KindTimeSlice {
			s.Flags |= FlagUnisolated
		}
		s.Reason = "no gpu usage seen: " + in.Current.String() + " kept"
		s.MonthlyCostUSD = monthly(cur.GPUs, d.PricePerHour)
		return s, nil
	}

	// 1. Requirements.
	seen := u.ComputeAt(p.ComputePercentile)
	needMem, fit, byRisk := memoryRequirement(u, p)
	needCompute := seen * recommender.GPUCompute(1+p.ComputeHeadroom)
	var notes []string

	// 2. Censoring.
	var flags Flags
	minWhole := 0
	recent, recentName := u.MemoryMax, "memory peak"
	if n := len(u.MemoryPeaks); n > 0 {
		recent, recentName = u.MemoryPeaks[n-1], "last window's memory peak"
	}
	memCapped := float64(recent) >= p.CapThreshold*float64(cur.Memory)
	computeCapped := len(u.Compute) > 0 && float64(seen) >= p.CapThreshold*float64(cur.Compute)
	if memCapped || computeCapped {
		flags |= FlagCapped
		var at []string
		if memCapped {
			at = append(at, fmt.Sprintf("%s %v is %s of its %v", recentName, recent, pct(float64(recent)/float64(cur.Memory)), cur.Memory))
		}
		if computeCapped {
			at = append(at, fmt.Sprintf("P%s compute %s is %s of its %s", pctNum(p.ComputePercentile), gpus(seen), pct(float64(seen)/float64(cur.Compute)), gpus(cur.Compute)))
		}
		switch in.Current.Kind {
		case KindWhole:
			minWhole = in.Current.Count
			notes = append(notes, "capped: "+strings.Join(at, ", ")+"; usage is censored, kept (another GPU helps only if the workload shards across GPUs)")
		case KindTimeSlice:
			minWhole = 1
			notes = append(notes, "capped: "+strings.Join(at, ", ")+"; usage is censored by the whole GPU it shares: a GPU of its own")
		default:
			if memCapped {
				// Demand is at least the cap: size the cap as a peak,
				// with the policy's headroom, not one byte past it
				// (H100's 4g.40gb holds 256 MiB more than 3g.40gb: a
				// step up that buys nothing).
				needMem = max(needMem, memoryNeed(cur.Memory, p), cur.Memory+1)
			}
			if computeCapped {
				needCompute = max(needCompute, recommender.GPUCompute(math.Nextafter(float64(cur.Compute), math.Inf(1))))
			}
			up := "one size up"
			if memCapped {
				up += " (memory: its cap + " + memoryRule(p) + ")"
			}
			notes = append(notes, "capped: "+strings.Join(at, ", ")+"; usage is censored, "+up)
		}
	}

	// 3. Whole GPUs.
	devMem := d.MemoryBytes()
	usable := 1 // GPUs the workload can use today
	if in.Current.Kind == KindWhole {
		usable = in.Current.Count
	}
	k := max(1, int(math.Ceil(float64(needMem)/float64(devMem))), int(math.Ceil(float64(needCompute)-1e-9)))
	if k > usable && minWhole == 0 {
		notes = append(notes, fmt.Sprintf("needs more than its %d GPU(s) hold; %d recommended (more help only if the workload shards across GPUs)", usable, usable))
	}
	k = min(k, usable)
	k = max(k, minWhole)
	chosen := Allocation{Kind: KindWhole, Count: k}

	// 4. Within one GPU.
	shareNotes := len(notes) // the notes step 4 adds are about its choice
	if k == 1 && minWhole == 0 {
		prof, migOK := d.cheapestProfile(needMem, needCompute)
		r := shareReplicas(devMem, needMem, needCompute, p.MaxReplicas)
		switch {
		case p.MIG && migOK:
			chosen = Allocation{Kind: KindMIG, Profile: prof.Name}
		case r > 0 && (p.MPS || p.TimeSlicing):
			if !d.HasMIG() {
				notes = append(notes, "no MIG on "+modelName(d.Model))
			} else if p.MIG {
				notes = append(notes, "no MIG profile fits")
			}
			bursty := float64(u.ComputeMax) > 1/float64(r)
			switch {
			case p.TimeSlicing && (!p.MPS || bursty):
				chosen = Allocation{Kind: KindTimeSlice, Replicas: r}
				flags |= FlagUnisolated
				if p.MPS {
					notes = append(notes, "bursts to "+gpus(u.ComputeMax)+", which MPS would throttle")
				}
				notes = append(notes, "no memory isolation: co-tenants must keep to their share")
			default:
				chosen = Allocation{Kind: KindMPS, Replicas: r}
				notes = append(notes, "MPS limits each client's memory and threads")
			}
		}
	}

	// 4b. Stability: a MIG profile, GPU count or share changes only with a
	// restart. Keep a current allocation that is not capped, that the
	// policy allows and whose budget still meets the requirements when
	// the change would save less than MinSaving of it (a change that
	// costs more, for MIG's isolation, goes ahead).
	if chosen != in.Current && !flags.Has(FlagCapped) && p.allows(in.Current) {
		held := d.shape(in.Current)
		saving := cur.GPUs - d.capacity(chosen).GPUs
		if held.MemoryBytes >= needMem && held.ComputeGPUs >= needCompute && saving >= 0 && saving < p.MinSaving*cur.GPUs {
			notes = append(notes[:shareNotes], fmt.Sprintf("%v would save under %s of %v, not worth a restart: kept", chosen, pct(p.MinSaving), in.Current))
			flags &^= FlagUnisolated
			if in.Current.Kind == KindTimeSlice {
				flags |= FlagUnisolated
			}
			chosen = in.Current
		}
	}

	s := d.shape(chosen)
	s.CurrentGPUs = cur.GPUs
	s.NeedMemoryBytes, s.NeedComputeGPUs = needMem, needCompute
	if len(u.MemoryPeaks) > 0 {
		s.MemoryRisk = roundRisk(fit.Exceed(float64(s.MemoryBytes)))
		notes = append(notes, fmt.Sprintf("memory risk %s per window", pctRisk(s.MemoryRisk)))
	}
	s.Flags |= flags
	s.MonthlyCostUSD = monthly(s.GPUs, d.PricePerHour)
	s.MonthlySavingUSD = monthly(cur.GPUs-s.GPUs, d.PricePerHour)

	// 5. Idle.
	if u.Hours >= p.IdleMinHours && u.IdleFraction >= p.IdleMinFraction {
		s.Flags |= FlagIdle
		s.IdleMonthlyCostUSD = monthly(cur.GPUs, d.PricePerHour)
		notes = append(notes, fmt.Sprintf("idle %s of %s (compute under %s of its allocation): %v costs %s/month",
			pct(u.IdleFraction), hours(u.Hours), pct(p.IdleUtilization), in.Current, usd(s.IdleMonthlyCostUSD)))
	}
	s.Reason = d.reason(in.Current, s, u, p, seen, byRisk, notes)
	return s, nil
}

// memoryRequirement is the memory requirement of step 1 of Recommend,
// in bytes, and the fit of the usage's peaks (zero without peaks). byRisk
// says the policy's risk sized it: the peaks' 1 − MemoryRisk quantile,
// at least the last peak plus MemoryMinHeadroom. Otherwise it is the
// largest peak plus headroom (memoryNeed).
func memoryRequirement(u Usage, p Policy) (need recommender.Bytes, fit peakfit.Gumbel, byRisk bool) {
	if len(u.MemoryPeaks) == 0 {
		return memoryNeed(u.MemoryMax, p), peakfit.Gumbel{}, false
	}
	fit = peakfit.Fit(u.MemoryPeaks)
	if p.MemoryRisk == 0 {
		return memoryNeed(u.MemoryMax, p), fit, false
	}
	// A risk so small that 1 − MemoryRisk rounds to 1 has an infinite
	// quantile: the bound keeps the conversion in range (a need above any
	// GPU's memory, which keeps the GPUs).
	q := math.Min(math.Ceil(fit.Quantile(1-p.MemoryRisk)), float64(2*maxBytes))
	last := u.MemoryPeaks[len(u.MemoryPeaks)-1]
	return max(recommender.Bytes(max(q, 0)), last+p.MemoryMinHeadroom), fit, true
}

// memoryNeed is the memory requirement: the peak plus the larger of the
// policy's fractional and absolute headroom.
func memoryNeed(peak recommender.Bytes, p Policy) recommender.Bytes {
	frac := recommender.Bytes(math.Ceil(float64(peak) * (1 + p.MemoryHeadroom)))
	return max(frac, peak+p.MemoryMinHeadroom)
}

// cheapestProfile returns the cheapest of the model's MIG profiles that
// holds the requirements: by GPUs reserved, then fewer compute slices,
// then fewer memory slices, then the table's order. It skips +me profiles
// and the full-GPU profile.
func (d Device) cheapestProfile(needMem recommender.Bytes, needCompute recommender.GPUCompute) (mig.Profile, bool) {
	var best mig.Profile
	found := false
	for _, pr := range d.Model.Profiles {
		if pr.MediaExtensions || pr.ComputeSlices >= d.Model.ComputeSlices {
			continue
		}
		if d.profileMemory(pr) < needMem || d.profileCompute(pr) < needCompute {
			continue
		}
		if !found || d.profileLess(pr, best) {
			best, found = pr, true
		}
	}
	return best, found
}

func (d Device) profileLess(a, b mig.Profile) bool {
	if ga, gb := d.profileGPUs(a), d.profileGPUs(b); ga != gb {
		return ga < gb
	}
	if a.ComputeSlices != b.ComputeSlices {
		return a.ComputeSlices < b.ComputeSlices
	}
	return a.MemorySlices < b.MemorySlices
}

// shareReplicas returns the most replicas, at most maxReplicas and at
// least 2, whose 1/r share of memory and compute holds the requirements;
// 0 if none does.
func shareReplicas(devMem, needMem recommender.Bytes, needCompute recommender.GPUCompute, maxReplicas int) int {
	for r := maxReplicas; r >= 2; r-- {
		if devMem/recommender.Bytes(r) >= needMem && float64(needCompute) <= 1/float64(r) {
			return r
		}
	}
	return 0
}

// shape returns the Shape of a validated allocation, without the
// requirements, flags, costs or reason.
func (d Device) shape(a Allocation) Shape {
	c := d.capacity(a)
	s := Shape{Kind: a.Kind, Count: 1, MemoryBytes: c.Memory, ComputeGPUs: c.Compute, GPUs: c.GPUs}
	switch a.Kind {
	case KindWhole:
		s.Count = a.Count
	case KindMIG:
		s.Profile = a.Profile
	case KindMPS, KindTimeSlice:
		s.Replicas = a.Replicas
		s.Share = 1 / float64(a.Replicas)
		// A time-sliced replica's memory is a budget, 1/Replicas of the
		// GPU, not the whole GPU its usage could reach.
		s.MemoryBytes = d.MemoryBytes() / recommender.Bytes(a.Replicas)
		s.ComputeGPUs = recommender.GPUCompute(s.Share)
	}
	return s
}

// ComputeAt returns the compute percentile q (in (0, 1]) of the usage, in
// GPUs: linear between the Quantiles, the lowest one's value below it
// (never less: compute errs large), and towards ComputeMax above the
// highest. 0 when compute was not measured.
func (u Usage) ComputeAt(q float64) recommender.GPUCompute {
	c := u.Compute
	if len(c) == 0 {
		return 0
	}
	if q <= c[0].Q {
		return c[0].Value
	}
	for i := 1; i < len(c); i++ {
		if q <= c[i].Q {
			a, b := c[i-1], c[i]
			return a.Value + recommender.GPUCompute((q-a.Q)/(b.Q-a.Q))*(b.Value-a.Value)
		}
	}
	last := c[len(c)-1]
	if u.ComputeMax <= last.Value || last.Q >= 1 {
		return last.Value
	}
	return last.Value + recommender.GPUCompute((q-last.Q)/(1-last.Q))*(u.ComputeMax-last.Value)
}

func (u Usage) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("gpu usage: "+format+": %w", append(args, ErrInvalidInput)...))
	}
	if u.MemoryMax < 0 || u.MemoryMax > maxBytes {
		bad("memory max %d not in [0, %d]", u.MemoryMax, maxBytes)
	}
	if !finite(u.Hours) || u.Hours < 0 {
		bad("hours %v negative or not finite", u.Hours)
	}
	if !finite(u.IdleFraction) || u.IdleFraction < 0 || u.IdleFraction > 1 {
		bad("idle fraction %v not in [0, 1]", u.IdleFraction)
	}
	const maxCompute = 1 << 20 // GPUs; bounds the arithmetic, far above any container
	if v := float64(u.ComputeMax); !finite(v) || v < 0 || v > maxCompute {
		bad("compute max %v not in [0, %d]", v, maxCompute)
	}
	for i, m := range u.MemoryPeaks {
		if m < 0 || m > u.MemoryMax {
			bad("memory peak %d: %d not in [0, memory max %d]", i, m, u.MemoryMax)
			break
		}
	}
	for i, c := range u.Compute {
		v := float64(c.Value)
		switch {
		case !finite(c.Q) || c.Q <= 0 || c.Q > 1:
			bad("compute quantile %d: q %v not in (0, 1]", i, c.Q)
		case !finite(v) || v < 0 || v > maxCompute:
			bad("compute quantile %d: value %v not in [0, %d]", i, v, maxCompute)
		case i > 0 && (c.Q <= u.Compute[i-1].Q || c.Value < u.Compute[i-1].Value):
			bad("compute quantiles not ascending at %d", i)
		}
	}
	return errors.Join(errs...)
}

// reason renders the shape's one-line reason.
func (d Device) reason(cur Allocation, s Shape, u Usage, p Policy, seen recommender.GPUCompute, byRisk bool, notes []string) string {
	var b strings.Builder
	a := s.Allocation()
	switch {
	case a == cur:
		b.WriteString("keep " + a.String())
	case s.Kind == KindWhole && cur.Kind == KindWhole && s.Count < cur.Count:
		b.WriteString("fewer GPUs: " + cur.String() + " → " + a.String())
	default:
		b.WriteString(cur.String() + " → " + a.String())
	}
	switch s.Kind {
	case KindMIG:
		if pr, _ := d.Model.Profile(s.Profile); pr.SMs > 0 {
			fmt.Fprintf(&b, " (%v, %d SMs)", s.MemoryBytes, pr.SMs)
		} else {
			fmt.Fprintf(&b, " (%v, %s)", s.MemoryBytes, gpus(s.ComputeGPUs))
		}
	case KindMPS:
		fmt.Fprintf(&b, " (%v limit, %s)", s.MemoryBytes, gpus(s.ComputeGPUs))
	case KindTimeSlice:
		fmt.Fprintf(&b, " (%v budget, %s when contended)", s.MemoryBytes, gpus(s.ComputeGPUs))
	}
	if byRisk {
		n := len(u.MemoryPeaks)
		fmt.Fprintf(&b, ": needs %v GPU memory (%s risk per window by a fit of %s up to %v, at least the last peak %v + %v)",
			s.NeedMemoryBytes, pctRisk(p.MemoryRisk), plural(n, "window peak"), slices.Max(u.MemoryPeaks), u.MemoryPeaks[n-1], p.MemoryMinHeadroom)
	} else {
		fmt.Fprintf(&b, ": needs %v GPU memory (peak %v + %s)", s.NeedMemoryBytes, u.MemoryMax, memoryRule(p))
	}
	if len(u.Compute) > 0 {
		fmt.Fprintf(&b, " and %s (P%s %s + %s)", gpus(s.NeedComputeGPUs), pctNum(p.ComputePercentile), gpus(seen), pct(p.ComputeHeadroom))
	} else {
		b.WriteString(", compute not measured")
	}
	for _, n := range notes {
		b.WriteString("; ")
		b.WriteString(n)
	}
	switch {
	case s.MonthlySavingUSD > 0:
		b.WriteString("; saves " + usd(s.MonthlySavingUSD) + "/month")
	case s.MonthlySavingUSD < 0:
		b.WriteString("; costs " + usd(-s.MonthlySavingUSD) + "/month more")
	}
	return b.String()
}

func memoryRule(p Policy) string {
	switch {
	case p.MemoryMinHeadroom > 0 && p.MemoryHeadroom > 0:
		return "max(" + pct(p.MemoryHeadroom) + ", " + p.MemoryMinHeadroom.String() + ")"
	case p.MemoryMinHeadroom > 0:
		return p.MemoryMinHeadroom.String()
	default:
		return pct(p.MemoryHeadroom)
	}
}

func modelName(m mig.Model) string {
	if m.Name == "" {
		return "this GPU"
	}
	return m.Name
}

// monthly is the monthly cost in USD of GPUs at pricePerHour, to cents.
func monthly(gpus, pricePerHour float64) float64 {
	return roundCents(gpus * pricePerHour * HoursPerMonth)
}

func roundCents(v float64) float64 { return math.Round(v*100) / 100 }

// roundRisk rounds a probability to 1e-6: it is an estimate.
func roundRisk(p float64) float64 { return math.Round(p*1e6) / 1e6 }

// pctRisk formats a probability as a percentage with up to two decimals;
// one above 0 but under 0.005 % reads "<0.01%".
func pctRisk(p float64) string {
	if p > 0 && p < 0.00005 {
		return "<0.01%"
	}
	return strconv.FormatFloat(math.Round(p*10000)/100, 'f', -1, 64) + "%"
}

// plural returns "n noun", with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func pct(f float64) string { return strconv.FormatFloat(math.Round(f*1000)/10, 'f', -1, 64) + "%" }

func pctNum(q float64) string { return strconv.FormatFloat(math.Round(q*1000)/10, 'f', -1, 64) }

func gpus(g recommender.GPUCompute) string {
	return strconv.FormatFloat(math.Round(float64(g)*1000)/1000, 'f', -1, 64) + " GPUs"
}

func hours(h float64) string { return strconv.FormatFloat(math.Round(h*10)/10, 'f', -1, 64) + "h" }

func usd(v float64) string { return "$" + strconv.FormatFloat(v, 'f', 2, 64) }
