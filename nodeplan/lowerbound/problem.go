package lowerbound

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"time"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
)

// safety scales the certificate down by one part in 10¹², far more than
// the floating-point error of summing it, so that rounding cannot lift the
// bound above a plan's cost.
const safety = 1 - 1e-12

// Limits that stop a run that keeps going (numerical trouble); the bound
// is then the best certificate so far.
const (
	maxRounds     = 500
	maxCutRounds  = 50
	typesPerRound = 8
	maxRestarts   = 3
)

// problem is one run of the LP: pod classes, node types and the LP over
// the types admitted so far. Not safe for concurrent use.
type problem struct {
	classes []class     // the LP's
	pods    []class     // the exact classes, for the bound
	types   []*nodeType // every distinct type; the dominated ones have by set
	kept    []*nodeType // the types not dominated: the LP's
	blocks  []*block    // per kept type, its part of the LP once admitted

	lp   *simplex
	home []int     // per class, the kept type it starts on
	snap []float64 // the duals of the round's last clean optimum
	u    []float64 // scratch: per pod class charge
	wOld []float64 // scratch

	best   float64 // the best certificate so far
	bound  float64
	method string
	primal float64
	rounds int
}

// block is one node type's part of the LP: x, its node count; y[j], the
// pods of class classes[j] on it; and the type's rows admitted so far,
// Σ_j g[r][j]·y[j] − x + slack = 0.
type block struct {
	nt    *nodeType
	x     int   // column of x
	y     []int // column per class position
	rows  []int // the type's rows in the LP (indexes into nt.rows)
	lpRow []int // their LP rows
	slack []int // their slack columns
	in    []bool
}

func newProblem(g grouping, types []cluster.NodeType, dffOrder int, reduce bool) *problem {
	p := &problem{classes: g.lp, pods: g.pods, u: make([]float64, len(g.pods)), best: -1}
	p.types = buildTypes(&g, types, dffOrder)
	for _, nt := range p.types {
		nt.w = make([]float64, len(nt.rows))
	}
	if reduce {
		p.reduce()
	} else {
		p.kept = p.types
	}
	p.blocks = make([]*block, len(p.kept))
	return p
}

// reduce drops the types another dominates (nodeType.dominatedBy); of
// types that dominate each other the first stays. Domination is
// transitive, so every dropped type has a kept dominator.
func (p *problem) reduce() {
	nc := len(p.classes)
	sets := make([]bitset, len(p.types))
	pos := make([][]int, len(p.types))
	for t, nt := range p.types {
		sets[t] = newBitset(nc)
		pos[t] = make([]int, nc)
		for j, c := range nt.classes {
			sets[t].set(c)
			pos[t][c] = j
		}
	}
	beats := func(s, t int) ([]int, bool) { // s dominates t and is preferred
		match, ok := p.types[t].dominatedBy(p.types[s], sets[t], sets[s], pos[s])
		if !ok || s < t {
			return match, ok
		}
		_, mutual := p.types[s].dominatedBy(p.types[t], sets[s], sets[t], pos[t])
		return match, !mutual
	}
	dropped := make([]bool, len(p.types))
	for t := range p.types {
		for s := range p.types {
			if s != t {
				if _, ok := beats(s, t); ok {
					dropped[t] = true
					break
				}
			}
		}
	}
	for t, nt := range p.types {
		if !dropped[t] {
			p.kept = append(p.kept, nt)
			continue
		}
		for s := range p.types {
			if s == t || dropped[s] {
				continue
			}
			if match, ok := beats(s, t); ok {
				nt.by, nt.match = p.types[s], match
				break
			}
		}
		if nt.by == nil { // cannot happen for a strict order; keep it to stay exact
			p.kept = append(p.kept, nt)
		}
	}
}

// start builds the LP with, for each class, the kept type where one pod
// of it alone costs least (fractionally), and a basis that puts every
// class there (crash).
func (p *problem) start() {
	nc := len(p.classes)
	p.home = make([]int, nc)
	perPod := make([]float64, nc)
	for c := range perPod {
		perPod[c] = math.Inf(1)
	}
	for t, nt := range p.kept {
		for j, c := range nt.classes {
			most := 0.0
			for _, r := range nt.rows {
				most = max(most, r[j])
			}
			if v := nt.price * most; v < perPod[c] {
				perPod[c], p.home[c] = v, t
			}
		}
	}
	b := make([]float64, nc)
	for c := range p.classes {
		b[c] = p.classes[c].n
	}
	avg := 0.0
	for _, nt := range p.kept {
		avg += nt.price / float64(len(p.kept))
	}
	scale := slices.Max(b)
	p.lp = &simplex{m: nc, b: b, costTol: 1e-9 * max(avg, 1e-9), feasTol: 1e-9 * max(scale, 1)}
	for c := range p.classes {
		p.lp.addColumn(column{idx: []int{c}, val: []float64{-1}}) // surplus
	}
	for _, t := range p.home {
		if p.blocks[t] == nil {
			p.admit(t)
		}
	}
}

// crash returns a primal feasible basis of the LP as it stands: each
// class's pods on its home type; each admitted type's x in its fullest
// row in the LP at that load, the other rows' slacks (≥ 0). It is block
// triangular, so never singular.
func (p *problem) crash() []int {
	basis := make([]int, p.lp.m)
	for c := range p.classes {
		bl := p.blocks[p.home[c]]
		basis[c] = bl.y[slices.Index(bl.nt.classes, c)]
	}
	for t, bl := range p.blocks {
		if bl == nil {
			continue
		}
		fullest, load := 0, -1.0
		for k, r := range bl.rows {
			l := 0.0
			for j, c := range bl.nt.classes {
				if p.home[c] == t {
					l += bl.nt.rows[r][j] * p.classes[c].n
				}
			}
			if l > load {
				fullest, load = k, l
			}
		}
		for k, row := range bl.lpRow {
			if k == fullest {
				basis[row] = bl.x
			} else {
				basis[row] = bl.slack[k]
			}
		}
	}
	return basis
}

// admit adds kept type t to the LP: its columns and its linear rows, each
// with its slack basic at 0 (its other rows enter as cuts when broken).
func (p *problem) admit(t int) {
	nt := p.kept[t]
	bl := &block{nt: nt, in: make([]bool, len(nt.rows))}
	p.blocks[t] = bl
	bl.x = p.lp.addColumn(column{cost: nt.price})
	for _, c := range nt.classes {
		bl.y = append(bl.y, p.lp.addColumn(column{idx: []int{c}, val: []float64{1}}))
	}
	for r, k := range nt.kinds {
		if k.k == 0 {
			p.addRow(bl, r)
		}
	}
}

// addRow adds row r of the block's type to the LP.
func (p *problem) addRow(bl *block, r int) {
	cols := append([]int{bl.x}, bl.y...)
	coef := append([]float64{-1}, bl.nt.rows[r]...)
	slack := p.lp.addRow(cols, coef, 0)
	bl.rows, bl.lpRow, bl.slack = append(bl.rows, r), append(bl.lpRow, p.lp.m-1), append(bl.slack, slack)
	bl.in[r] = true
}

// cut adds every row of an admitted type that the LP's solution breaks
// (by more than a relative 1e-9) and reports whether it added any.
func (p *problem) cut() bool {
	added := false
	for _, bl := range p.blocks {
		if bl == nil {
			continue
		}
		x := p.lp.value(bl.x)
		for r, row := range bl.nt.rows {
			if bl.in[r] {
				continue
			}
			load := 0.0
			for j, col := range bl.y {
				load += row[j] * p.lp.value(col)
			}
			if load > x*(1+1e-9)+1e-12 {
				p.addRow(bl, r)
				added = true
			}
		}
	}
	return added
}

// solve runs the LP: optimise; add the rows of admitted types its
// solution breaks and re-optimise (dual simplex) until none; price the
// types not admitted yet at the classes' dual prices and admit those
// whose best node load is worth more than their price, the most
// profitable first; repeat until none is. Every round's dual prices give
// certificate weights for every type, so the bound is valid whenever it
// stops: at the time limit (checked every few pivots, also inside a
// round), when the simplex loses its way for good, or after maxRounds.
// The time limit runs from started. The error is ctx's.
func (p *problem) solve(ctx context.Context, opts Options, started time.Time) error {
	var deadline time.Time
	if opts.TimeLimit > 0 {
		deadline = started.Add(opts.TimeLimit)
	}
	checks := 0
	stop := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if checks++; opts.stopAfter > 0 && checks > opts.stopAfter {
			return errStopped
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return errStopped
		}
		return nil
	}
	every := 0
	if opts.stopAfter > 0 {
		every = 1
	}
	method, err := p.run(stop, every)
	if errors.Is(err, errStopped) {
		err, method = nil, MethodLPPartial
	}
	if err != nil {
		return err
	}
	p.finish(method)
	return nil
}

// run runs the rounds of solve until the LP is optimal (MethodLP), it
// cannot go on (MethodLPPartial), or stop says to stop (its error). When
// cut short in a round it salvages a certificate from the duals at hand.
func (p *problem) run(stop func() error, every int) (string, error) {
	p.start()
	p.lp.stop, p.lp.every = stop, every
	restarts := 0
	for p.rounds < maxRounds {
		if err := stop(); err != nil {
			return MethodLPPartial, err
		}
		p.rounds++
		if p.lp.binv == nil || p.lp.broken {
			// A fresh basis: the first, or after the simplex lost its way.
			if ok, err := p.lp.setBasis(p.crash()); err != nil {
				return MethodLPPartial, err
			} else if !ok {
				return MethodLPPartial, nil // cannot be: crash bases are triangular
			}
		}
		p.snap = p.snap[:0]
		// Optimise, then cut off the solution with the rows it breaks
		// until it breaks none: clean means it is optimal for the types
		// admitted so far.
		clean, err := p.lp.primal(50 * (p.lp.m + 100))
		if err != nil {
			p.salvage(err)
			return MethodLPPartial, err
		}
		if clean {
			p.snap = append(p.snap, p.lp.pi...)
		}
		for i := 0; clean && p.cut(); i++ {
			if i == maxCutRounds {
				clean = false
				break
			}
			if clean, err = p.lp.dual(50 * (p.lp.m + 100)); err != nil {
				p.salvage(err)
				return MethodLPPartial, err
			}
			if clean {
				p.snap = append(p.snap[:0], p.lp.pi...)
			}
		}
		if p.lp.broken || !clean {
			// Lost its way: certify what the last clean duals give, then
			// start again from a fresh basis with what the LP has.
			p.salvage(nil)
			if restarts++; restarts > maxRestarts {
				return MethodLPPartial, nil
			}
			p.lp.broken = true
			continue
		}
		p.primal = p.lp.objective()
		entering := p.price(p.lp.pi)
		p.best = max(p.best, p.podCertificate())
		if len(entering) == 0 {
			return MethodLP, nil
		}
		for _, t := range entering {
			p.admit(t)
		}
	}
	return MethodLPPartial, nil
}

// salvage raises the best certificate with the duals at hand when the LP
// stops inside a round for err (nil: lost its way; errStopped: the time
// limit; another, ctx's, needs no bound): the simplex's current ones
// unless it is broken (valid however far from optimal), and the last
// clean ones of the round.
func (p *problem) salvage(err error) {
	if err != nil && !errors.Is(err, errStopped) {
		return
	}
	if !p.lp.broken {
		p.primal = p.lp.objective()
		p.price(p.lp.pi)
		p.best = max(p.best, p.podCertificate())
	}
	if len(p.snap) > 0 {
		p.price(p.snap)
		p.best = max(p.best, p.podCertificate())
	}
}

// price sets every type's certificate weights at the LP's dual prices:
// an admitted type's from the duals of its rows, another kept type's by
// its pricing LP, a dominated type's from its dominator's. It returns the
// kept types to admit: those whose best load is worth more than their
// price, most profitable first, at most typesPerRound.
func (p *problem) price(duals []float64) []int {
	pi := duals[:len(p.classes)]
	type gain struct {
		t int
		g float64
	}
	var gains []gain
	for t, nt := range p.kept {
		if bl := p.blocks[t]; bl != nil {
			clear(nt.w)
			for k, r := range bl.rows {
				if row := bl.lpRow[k]; row < len(duals) {
					nt.w[r] = max(-duals[row], 0)
				}
			}
			scaleWeights(nt)
			continue
		}
		if nt.pr == nil {
			nt.pr = newPricer(nt)
		}
		p.wOld = append(p.wOld[:0], nt.w...)
		if err := nt.pr.solve(pi, nt.w); err != nil {
			// Keep the last weights: any weights within the price prove
			// a bound, these are only not tuned to pi.
			copy(nt.w, p.wOld)
			continue
		}
		// The weights price the type's best load at sum(w): worth more
		// than the type's price, the type improves the LP.
		if v := sum(nt.w); v > nt.price*(1+1e-6)+p.lp.costTol {
			gains = append(gains, gain{t, (v - nt.price) / max(nt.price, 1e-12)})
		}
		scaleWeights(nt)
	}
	for _, nt := range p.types {
		if nt.by != nil {
			nt.mapWeights(nt.by, nt.match)
		}
	}
	slices.SortStableFunc(gains, func(a, b gain) int { return cmp.Compare(b.g, a.g) })
	var out []int
	for _, g := range gains[:min(len(gains), typesPerRound)] {
		out = append(out, g.t)
	}
	return out
}

// scaleWeights scales a type's weights down to sum to at most its price,
// and zeroes them all when one is not a finite non-negative number
// (rounding gone wild: any weights prove a bound, these would not).
func scaleWeights(nt *nodeType) {
	s := sum(nt.w)
	if math.IsNaN(s) || math.IsInf(s, 0) || slices.ContainsFunc(nt.w, func(w float64) bool { return !(w >= 0) }) {
		clear(nt.w)
		return
	}
	if s > nt.price {
		for r := range nt.w {
			nt.w[r] *= nt.price / s
		}
	}
}

// finish sets the bound: the best certificate found over the exact pod
// classes, or the volume or largest-pod bound when that is higher.
func (p *problem) finish(method string) {
	p.bound, p.method = max(p.best, 0), method
	for _, alt := range []struct {
		v      float64
		method string
	}{{p.volume(), MethodVolume}, {p.largestPod(), MethodLargestPod}} {
		if alt.v > p.bound*(1+1e-9) {
			p.bound, p.method = alt.v, alt.method
		} else {
			p.bound = max(p.bound, alt.v)
		}
	}
}

// largestPod is the price of the cheapest type that admits the pod class
// whose cheapest is dearest: any plan has a node that holds a pod of that
// class, and that node costs at least that much. Exact: no rounding.
// O(types × pod classes).
func (p *problem) largestPod() float64 {
	cheapest := p.u
	for f := range cheapest {
		cheapest[f] = math.Inf(1)
	}
	for _, nt := range p.types {
		for f := range p.pods {
			if p.pods[f].admits.has(nt.index) {
				cheapest[f] = min(cheapest[f], nt.price)
			}
		}
	}
	best := 0.0
	for _, v := range cheapest {
		if !math.IsInf(v, 1) {
			best = max(best, v)
		}
	}
	return best
}

// podCertificate is the certificate of the current weights over the exact
// pod classes (never the LP classes, which may ask for more than their
// members): each pod charged the least Σ_r w[r]·value over the types that
// admit it; only rows with weight are evaluated. O(types × pod classes ×
// weighted rows).
func (p *problem) podCertificate() float64 {
	u := p.u
	for f := range u {
		u[f] = math.Inf(1)
	}
	var kinds []rowKind
	var ws []float64
	for _, nt := range p.types {
		kinds, ws = kinds[:0], ws[:0]
		for r, w := range nt.w {
			if w > 0 {
				kinds = append(kinds, nt.kinds[r])
				ws = append(ws, w)
			}
		}
		for f := range p.pods {
			pc := &p.pods[f]
			if !pc.admits.has(nt.index) {
				continue
			}
			s := 0.0
			for r, k := range kinds {
				s += ws[r] * nt.value(k, pc)
			}
			u[f] = min(u[f], s)
		}
	}
	lb := 0.0
	for f, v := range u {
		lb += p.pods[f].n * v
	}
	return lb * safety
}

// volume is the best single-resource bound over the exact pod classes:
// for one linear resource, each pod charged the least price × its share of
// that resource over the types that admit it (the certificate with all of
// a type's weight on that row). O(types × pod classes).
func (p *problem) volume() float64 {
	nf := len(p.pods)
	u := make([]float64, nf*int(numResources))
	for i := range u {
		u[i] = math.Inf(1)
	}
	for _, nt := range p.types {
		has := [numResources]bool{nt.cpu > 0, nt.mem > 0, true, nt.gpus > 0}
		for f := range p.pods {
			pc := &p.pods[f]
			if !pc.admits.has(nt.index) {
				continue
			}
			for res := range numResources {
				v := 0.0 // a type without the resource admits only pods without it
				if has[res] {
					v = nt.price * nt.value(rowKind{res, 0}, pc)
				}
				i := int(res)*nf + f
				u[i] = min(u[i], v)
			}
		}
	}
	best := 0.0
	for res := range numResources {
		lb := 0.0
		for f := range p.pods {
			lb += p.pods[f].n * u[int(res)*nf+f]
		}
		best = max(best, lb)
	}
	return best * safety
}

// typeAmounts are the LP's node counts per type.
func (p *problem) typeAmounts() []TypeAmount {
	if p.lp == nil || p.lp.binv == nil || p.lp.broken {
		return nil
	}
	var out []TypeAmount
	for _, bl := range p.blocks {
		if bl == nil {
			continue
		}
		if n := p.lp.value(bl.x); n > 1e-9 {
			out = append(out, TypeAmount{Type: bl.nt.index, Nodes: n})
		}
	}
	slices.SortFunc(out, func(a, b TypeAmount) int { return a.Type - b.Type })
	return out
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}
