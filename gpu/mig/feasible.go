package mig

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Errors that NewOracle and the Oracle's methods wrap.
var (
	// ErrInfeasible reports a multiset of profiles that no assignment of
	// placements fits on one GPU.
	ErrInfeasible = errors.New("mig profiles do not fit one gpu")
	// ErrInvalidModel reports a model the oracle cannot reason about: a
	// placement off the 8-bit memory-slot mask, a size that disagrees with
	// the profile's memory slices, a profile without compute slices.
	ErrInvalidModel = errors.New("invalid mig model")
)

// maxMemorySlices is the width of the memory-slot mask the oracle searches
// over: every MIG GPU so far has 8 memory slices (4 on A30 and RTX PRO).
const maxMemorySlices = 8

// Counts is a multiset of one model's profiles: Counts[i] instances of
// Model.Profiles[i]. A nil or short Counts is read as zeros past its end.
type Counts []int

// Total is the number of instances in the multiset.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// Oracle decides exactly whether a multiset of a model's profiles fits one
// GPU: whether some assignment of allowed placements has pairwise disjoint
// memory-slot masks, with the total compute slices within the GPU's, no
// profile beyond its MaxCount, and at most one media-extensions ("+me")
// instance. It returns one such assignment as a witness, which
// Model.ValidateLayout accepts.
//
// The search is a depth-first search over the instances, most constrained
// first (most memory slices, then fewest placements), memoising the
// (instance, occupied mask) states that cannot be completed; there are at
// most 256 masks per instance and at most ComputeSlices instances, so a
// query costs O(ComputeSlices × 256 × placements) in the worst case and
// microseconds in practice.
//
// An Oracle is immutable once built and safe for concurrent use.
type Oracle struct {
	model    Model
	index    map[string]int
	masks    [][]uint8 // per profile, its placements' masks in Placements order
	compute  []int
	memory   []int
	maxCount []int
	media    []bool
	order    []int // profile indices, most constrained first
}

// NewOracle compiles a model for feasibility queries. It fails, wrapping
// ErrInvalidModel, when the model has more than 8 memory slices, a profile
// without compute slices or with a placement outside the memory slices or
// of a size other than its MemorySlices, or two profiles with one name.
func NewOracle(m Model) (*Oracle, error) {
	var errs []error
	if m.MemorySlices < 1 || m.MemorySlices > maxMemorySlices {
		errs = append(errs, fmt.Errorf("%s: %d memory slices (1 to %d)", m.Name, m.MemorySlices, maxMemorySlices))
	}
	if m.ComputeSlices < 1 {
		errs = append(errs, fmt.Errorf("%s: %d compute slices", m.Name, m.ComputeSlices))
	}
	o := &Oracle{model: m.clone(), index: make(map[string]int, len(m.Profiles))}
	for i, p := range m.Profiles {
		if _, dup := o.index[p.Name]; dup || p.Name == "" {
			errs = append(errs, fmt.Errorf("%s: profile name %q empty or repeated", m.Name, p.Name))
		}
		o.index[p.Name] = i
		if p.ComputeSlices < 1 || p.MaxCount < 1 {
			errs = append(errs, fmt.Errorf("%s %s: %d compute slices, max count %d", m.Name, p.Name, p.ComputeSlices, p.MaxCount))
		}
		masks := make([]uint8, 0, len(p.Placements))
		for _, pl := range p.Placements {
			if pl.Start < 0 || pl.Size != p.MemorySlices || pl.Size < 1 || pl.Start+pl.Size > m.MemorySlices {
				errs = append(errs, fmt.Errorf("%s %s: placement %s on %d memory slices of size %d", m.Name, p.Name, pl, m.MemorySlices, p.MemorySlices))
				continue
			}
			masks = append(masks, pl.Mask())
		}
		o.masks = append(o.masks, masks)
		o.compute = append(o.compute, p.ComputeSlices)
		o.memory = append(o.memory, p.MemorySlices)
		o.maxCount = append(o.maxCount, p.MaxCount)
		o.media = append(o.media, p.MediaExtensions)
		o.order = append(o.order, i)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModel, err)
	}
	slices.SortStableFunc(o.order, func(a, b int) int {
		return cmp.Or(cmp.Compare(o.memory[b], o.memory[a]), cmp.Compare(len(o.masks[a]), len(o.masks[b])))
	})
	return o, nil
}

// Model returns a deep copy of the oracle's model.
func (o *Oracle) Model() Model { return o.model.clone() }

// Counts builds the multiset of the named profiles (a name may repeat). It
// fails, wrapping ErrUnknownProfile, on a name the model lacks.
func (o *Oracle) Counts(names ...string) (Counts, error) {
	c := make(Counts, len(o.compute))
	for _, n := range names {
		i, ok := o.index[n]
		if !ok {
			return nil, fmt.Errorf("%s on %s: %w", n, o.model.Name, ErrUnknownProfile)
		}
		c[i]++
	}
	return c, nil
}

// Index returns the position of the named profile in Model.Profiles (and
// in Counts).
func (o *Oracle) Index(name string) (int, bool) {
	i, ok := o.index[name]
	return i, ok
}

// Feasible reports whether the multiset fits one empty GPU. The empty
// multiset fits.
func (o *Oracle) Feasible(c Counts) bool {
	if o.precheck(c, true) != nil {
		return false
	}
	s := o.newSearch(c)
	return s.dfs(0, 0)
}

// Fit returns a witness layout for the multiset on one empty GPU, sorted
// by placement start, or an error wrapping ErrInfeasible (ErrUnknownProfile
// for a Counts with non-zero entries past the model's profiles).
func (o *Oracle) Fit(c Counts) ([]Instance, error) {
	if err := o.precheck(c, false); err != nil {
		return nil, err
	}
	return o.place(c, 0)
}

// Extend returns a witness layout that keeps the fixed instances where
// they are and adds the multiset around them, sorted by placement start.
// This is how instances already on a GPU (which NVML will not move) are
// honoured. The fixed layout must itself be valid: Model.ValidateLayout's
// errors are returned as they are.
func (o *Oracle) Extend(fixed []Instance, add Counts) ([]Instance, error) {
	if err := o.model.ValidateLayout(fixed); err != nil {
		return nil, err
	}
	all := make(Counts, max(len(o.compute), len(add)))
	copy(all, add)
	for _, in := range fixed {
		all[o.index[in.Profile]]++
	}
	if err := o.precheck(all, false); err != nil {
		return nil, err
	}
	placed, err := o.place(add, UsedSlots(fixed))
	if err != nil {
		return nil, err
	}
	out := append(slices.Clone(fixed), placed...)
	sortInstances(out)
	return out, nil
}

// precheck applies the placement-free limits: counts non-negative and
// within MaxCount, compute and memory slices within the GPU's, at most one
// media-extensions instance. quiet skips formatting the reason (Feasible
// only needs the verdict, and formatting dominates its cost).
func (o *Oracle) precheck(c Counts, quiet bool) error {
	fail := func(format string, args ...any) error {
		if quiet {
			return ErrInfeasible
		}
		return fmt.Errorf(format, args...)
	}
	for _, v := range c[min(len(c), len(o.compute)):] {
		if v != 0 {
			return fail("counts for %d profiles on %s with %d: %w", len(c), o.model.Name, len(o.compute), ErrUnknownProfile)
		}
	}
	compute, memory, media := 0, 0, 0
	for i := range min(len(c), len(o.compute)) {
		n := c[i]
		if n < 0 {
			return fail("%d × %s: %w", n, o.model.Profiles[i].Name, ErrInfeasible)
		}
		if n > o.maxCount[i] {
			return fail("%d × %s on %s, at most %d: %w", n, o.model.Profiles[i].Name, o.model.Name, o.maxCount[i], ErrInfeasible)
		}
		compute += n * o.compute[i]
		memory += n * o.memory[i]
		if o.media[i] {
			media += n
		}
	}
	if quiet && (compute > o.model.ComputeSlices || memory > o.model.MemorySlices || media > 1) {
		return ErrInfeasible // before the switch: its arguments format c
	}
	switch {
	case compute > o.model.ComputeSlices:
		return fail("%s on %s: %d compute slices of %d: %w", o.Format(c), o.model.Name, compute, o.model.ComputeSlices, ErrInfeasible)
	case memory > o.model.MemorySlices:
		return fail("%s on %s: %d memory slices of %d: %w", o.Format(c), o.model.Name, memory, o.model.MemorySlices, ErrInfeasible)
	case media > 1:
		return fail("%s on %s: %d media-extension instances, at most 1: %w", o.Format(c), o.model.Name, media, ErrInfeasible)
	}
	return nil
}

// place searches placements for c (already prechecked) around the
// occupied memory slots.
func (o *Oracle) place(c Counts, occupied uint8) ([]Instance, error) {
	s := o.newSearch(c)
	if !s.dfs(0, occupied) {
		return nil, fmt.Errorf("%s on %s: %w", o.Format(c), o.model.Name, ErrInfeasible)
	}
	out := make([]Instance, len(s.items))
	for k, p := range s.items {
		out[k] = Instance{Profile: o.model.Profiles[p].Name, Placement: o.model.Profiles[p].Placements[s.choice[k]]}
	}
	sortInstances(out)
	return out, nil
}

// newSearch lays out c's instances most constrained first.
func (o *Oracle) newSearch(c Counts) *search {
	items := make([]int, 0, c.Total())
	for _, p := range o.order {
		if p < len(c) {
			for range c[p] {
				items = append(items, p)
			}
		}
	}
	return &search{o: o, items: items, choice: make([]int, len(items)), failed: make([][4]uint64, len(items))}
}

// search is one query's state: not shared between goroutines.
type search struct {
	o      *Oracle
	items  []int       // profile index of each instance, in search order
	choice []int       // placement index chosen for each instance
	failed [][4]uint64 // per instance, the occupied masks known not to complete
}

func (s *search) dfs(k int, occupied uint8) bool {
	if k == len(s.items) {
		return true
	}
	word, bit := occupied>>6, uint64(1)<<(occupied&63)
	if s.failed[k][word]&bit != 0 {
		return false
	}
	for j, m := range s.o.masks[s.items[k]] {
		if occupied&m != 0 {
			continue
		}
		s.choice[k] = j
		if s.dfs(k+1, occupied|m) {
			return true
		}
	}
	s.failed[k][word] |= bit
	return false
}

// Maximal reports whether c fits and no further instance of any profile
// that keep reports true for fits beside it (a nil keep considers every
// profile).
func (o *Oracle) Maximal(c Counts, keep func(Profile) bool) bool {
	if !o.Feasible(c) {
		return false
	}
	next := make(Counts, len(o.compute))
	copy(next, c)
	for i := range next {
		if keep != nil && !keep(o.model.Profiles[i]) {
			continue
		}
		next[i]++
		ok := o.Feasible(next)
		next[i]--
		if ok {
			return false
		}
	}
	return true
}

// Multisets returns every non-empty multiset of the profiles that keep
// reports true for that fits one GPU, in a fixed order (by counts of
// Model.Profiles[0] first, ascending, then the next profile). A nil keep
// keeps every profile. On a 7-slice GPU (A100, H100, H200, B200) there are
// 77 without the "+me" profile and 127 with it.
//
// Infeasibility is monotone (a superset of an infeasible multiset is
// infeasible), so the enumeration stops raising a count at the first
// failure; its cost is O(feasible multisets × profiles) queries.
func (o *Oracle) Multisets(keep func(Profile) bool) []Counts {
	var out []Counts
	cur := make(Counts, len(o.compute))
	var walk func(i int)
	walk = func(i int) {
		if i == len(cur) {
			if cur.Total() > 0 {
				out = append(out, slices.Clone(cur))
			}
			return
		}
		walk(i + 1)
		if keep != nil && !keep(o.model.Profiles[i]) {
			return
		}
		for cur[i] = 1; cur[i] <= o.maxCount[i] && o.Feasible(cur); cur[i]++ {
			walk(i + 1)
		}
		cur[i] = 0
	}
	walk(0)
	return out
}

// Format writes a multiset as "3g.40gb×2 + 1g.10gb", largest profiles
// first; "none" for the empty one.
func (o *Oracle) Format(c Counts) string {
	idx := make([]int, 0, len(c))
	for i, n := range c {
		if n > 0 && i < len(o.compute) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return "none"
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return cmp.Or(cmp.Compare(o.compute[b], o.compute[a]), cmp.Compare(o.memory[b], o.memory[a]))
	})
	parts := make([]string, len(idx))
	for k, i := range idx {
		parts[k] = o.model.Profiles[i].Name
		if c[i] > 1 {
			parts[k] += "×" + strconv.Itoa(c[i])
		}
	}
	return strings.Join(parts, " + ")
}

// Fit returns a witness layout for the named profiles (a name may repeat)
// on one empty GPU of this model, or an error wrapping ErrInfeasible,
// ErrUnknownProfile or ErrInvalidModel. It compiles an Oracle per call;
// build one with NewOracle for repeated queries.
func (m Model) Fit(profiles ...string) ([]Instance, error) {
	o, err := NewOracle(m)
	if err != nil {
		return nil, err
	}
	c, err := o.Counts(profiles...)
	if err != nil {
		return nil, err
	}
	return o.Fit(c)
}

// UsedSlots returns the memory-slot mask a layout occupies.
func UsedSlots(layout []Instance) uint8 {
	var m uint8
	for _, in := range layout {
		m |= in.Placement.Mask()
	}
	return m
}

func sortInstances(out []Instance) {
	slices.SortStableFunc(out, func(a, b Instance) int {
		return cmp.Or(cmp.Compare(a.Placement.Start, b.Placement.Start), strings.Compare(a.Profile, b.Profile))
	})
}
