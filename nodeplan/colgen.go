package nodeplan

import (
	"context"
	"encoding/binary"
	"math"
	"slices"
	"sync"
	"time"
)

// The column generation that builds most of a plan: the LP relaxation of
// "how many nodes of each fill", min Σ price·x subject to every class's
// pods covered, over fills found by the pricing heuristic (the knapsack
// type). Its fills, rounded down, are most of a plan and its
// dual prices are what a pod of each class is worth, which guides the
// construction of the rest and the improvement. Its value is no bound,
// since the pricing is a heuristic; package nodeplan/lowerbound gives one.
const (
	// maxLPClasses is the most classes the LP is solved for; with more,
	// Plan refines values by constructing repeatedly instead.
	maxLPClasses = 250
	// lpRounds caps the column generation rounds.
	lpRounds = 300
	// lpSmoothing is the weight of the last round's prices in the prices
	// the fills use (dual smoothing, which steadies the duals).
	lpSmoothing = 0.5
	// lpRecent is how many rounds a type stays priced every round after
	// it last gave a column; the others are priced every lpRotate rounds,
	// and all of them before the generation stops.
	lpRecent = 3
	lpRotate = 8
)

// colsPerType is the most columns one type adds per round.
const colsPerType = 3

// efforts are the pricing's levels of search: the knapsack's branch and
// bound nodes, its neighbourhood moves and each move's nodes. The column
// generation starts at the first and moves to the next when a round
// that prices every type finds nothing.
var efforts = []struct{ nodes, moves, moveNodes int }{
	{100, 0, 0},
	{100, 10, 150},
	{100, 30, 300},
}

// column is one fill of one node type: a variable of the LP.
type column struct {
	t    int32
	cost float64
	runs []run
	// cls and cnt are its pods per class (sparse, by class): class
	// indexes until it joins the LP, then row indexes.
	cls []int32
	cnt []float64
}

// toColumn turns a fill of type t into a column.
func (s *solver) toColumn(t int32, runs []run) column {
	c := column{t: t, cost: s.ty[t].price, runs: slices.Clone(runs)}
	for _, r := range runs {
		k, found := slices.BinarySearch(c.cls, r.cls)
		if found {
			c.cnt[k] += float64(r.n)
			continue
		}
		c.cls = slices.Insert(c.cls, k, r.cls)
		c.cnt = slices.Insert(c.cnt, k, float64(r.n))
	}
	return c
}

// nodeColumn is the column of a node's pods (on their GPUs).
func (s *solver) nodeColumn(n *node) column {
	runs := make([]run, 0, len(n.pods))
	for _, m := range n.pods {
		runs = append(runs, run{cls: m.cls, n: 1, gpus: m.gpus})
	}
	slices.SortStableFunc(runs, func(a, b run) int { return int(a.cls - b.cls) })
	return s.toColumn(n.t, runs)
}

// columnKey identifies a column by its type and pods per class.
func columnKey(c *column) string {
	b := make([]byte, 0, 4+8*len(c.cls))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.t))
	for k, j := range c.cls {
		b = binary.LittleEndian.AppendUint32(b, uint32(j))
		b = binary.LittleEndian.AppendUint32(b, uint32(c.cnt[k]))
	}
	return string(b)
}

// lpPlan is the column generation's result: the fills with their
// fractional node counts, and the dual prices per class.
type lpPlan struct {
	// cols are the LP's columns, in class indexes.
	cols  []column
	x     []float64
	duals []float64
	value float64 // the LP's cost, USD per hour
}

// columnGeneration solves the covering LP over the placeable classes,
// starting from single-class fills and the fills of the nodes of seed (a
// plan), and generating more by the pricing. It returns nil when the
// classes are more than maxLPClasses.
func (s *solver) columnGeneration(ctx context.Context, seed []*node, deadline time.Time) (*lpPlan, error) {
	var rows []int32
	row := make([]int32, len(s.cls))
	for j := range s.cls {
		row[j] = -1
		if s.cls[j].base > 0 {
			row[j] = int32(len(rows))
			rows = append(rows, int32(j))
		}
	}
	m := len(rows)
	if m == 0 || m > maxLPClasses {
		return nil, nil
	}
	rem := make([]int32, len(s.cls))
	demand := make([]float64, m)
	for r, j := range rows {
		rem[j] = int32(len(s.cls[j].pods))
		demand[r] = float64(rem[j])
	}
	seen := map[string]bool{}
	toRows := func(c *column) {
		for k, j := range c.cls {
			c.cls[k] = row[j]
		}
	}
	// The starting basis: for each class, the fill of it alone that costs
	// least per pod.
	w := s.main
	only := make([]int32, len(s.cls))
	cols := make([]column, 0, m+len(seed))
	for _, j := range rows {
		clear(only)
		only[j] = rem[j]
		var best column
		bestPer := math.Inf(1)
		for _, t := range s.cand {
			if !s.ty[t].admits.has(j) {
				continue
			}
			var v float64
			w.buf, v = w.fill(t, only, []int32{j}, s.val, w.buf)
			if v <= 0 {
				continue
			}
			col := s.toColumn(t, w.buf)
			if per := col.cost / col.cnt[0]; per < bestPer-priceEps {
				best, bestPer = col, per
			}
		}
		seen[columnKey(&best)] = true
		toRows(&best)
		cols = append(cols, best)
	}
	for _, n := range seed {
		col := s.nodeColumn(n)
		if key := columnKey(&col); !seen[key] {
			seen[key] = true
			toRows(&col)
			cols = append(cols, col)
		}
	}
	lp := newCoverLP(demand, cols)

	y := make([]float64, len(s.cls))     // the LP's dual prices by class
	price := make([]float64, len(s.cls)) // the prices the fills use
	pr := &pricer{s: s, lp: lp, rows: rows, row: row, rem: rem, seen: seen, last: make([]int, len(s.ty))}
	full := true
	for round := 0; round < lpRounds; round++ {
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			s.budgetHit = true
			break
		}
		if err := lp.solve(ctx, 20*m+1000); err != nil {
			return nil, err
		}
		for r, j := range rows {
			y[j] = max(lp.y[r], 0)
		}
		// Price at the smoothed duals first, then, when that finds
		// nothing, at the LP's own.
		added := 0
		for attempt := range 2 {
			alpha := 0.0
			if attempt == 0 && round > 0 {
				alpha = lpSmoothing
			}
			for _, j := range rows {
				price[j] = alpha*price[j] + (1-alpha)*y[j]
			}
			var err error
			if added, err = pr.price(ctx, round, full, price, y); err != nil {
				return nil, err
			}
			if added > 0 || alpha == 0 {
				break
			}
		}
		s.lpRounds = round + 1
		switch {
		case added > 0:
			full = false
		case full && pr.effort < len(efforts)-1:
			pr.effort++ // search harder before stopping
		case full:
			round = lpRounds // nothing more to find
		default:
			full = true // price every type before stopping
		}
	}
	if err := lp.solve(ctx, 20*m+1000); err != nil {
		return nil, err
	}
	lp.refactor()
	plan := &lpPlan{x: make([]float64, len(lp.cols)), duals: make([]float64, len(s.cls)), value: lp.objective()}
	for r, q := range lp.basis {
		if q >= 0 {
			plan.x[q] = lp.xb[r]
		}
	}
	lp.duals()
	for r, j := range rows {
		plan.duals[j] = max(lp.y[r], 0)
	}
	s.lpValue, s.lpColumns = plan.value, len(lp.cols)
	for q := range lp.cols {
		for k, r := range lp.cols[q].cls {
			lp.cols[q].cls[k] = rows[r]
		}
	}
	plan.cols = lp.cols
	return plan, nil
}

// pricer runs the column generation's pricing on the solver's workers.
type pricer struct {
	s         *solver
	lp        *coverLP
	rows, row []int32
	rem       []int32
	seen      map[string]bool
	// last is, per type, the last round it gave a column.
	last []int
	// effort is the pricing's search effort, 0..len(efforts)-1.
	effort int
	// start is, per type, the LP's fill of it with the most nodes.
	start [][]run
	// scratch
	order []int32
	todo  []int32
	found [][][]run
}

// price looks, for every candidate type when full (else for those that
// gave a column in the last lpRecent rounds and a rotating 1/lpRotate of
// the rest), for the fill worth most at the class prices price; each
// whose reduced cost at the LP's duals y is negative joins the LP, in
// type order. The types are priced in parallel, each with its own random
// numbers (from the seed, the round and the type), so the result does not
// depend on the workers. It returns how many joined.
func (p *pricer) price(ctx context.Context, round int, full bool, price, y []float64) (int, error) {
	s := p.s
	p.order = p.order[:0]
	for _, j := range p.rows {
		if price[j] > 0 {
			p.order = append(p.order, j)
		}
	}
	sortByValue(p.order, price)
	// Each type's LP fill with the most nodes, where the search starts.
	if p.start == nil {
		p.start = make([][]run, len(s.ty))
	}
	clear(p.start)
	bestX := make([]float64, len(s.ty))
	for r, q := range p.lp.basis {
		if q >= 0 && p.lp.xb[r] > bestX[p.lp.cols[q].t] {
			bestX[p.lp.cols[q].t] = p.lp.xb[r]
			p.start[p.lp.cols[q].t] = p.lp.cols[q].runs
		}
	}
	p.todo = p.todo[:0]
	for i, t := range s.cand {
		if full || round-p.last[t] <= lpRecent || (round+i)%lpRotate == 0 {
			p.todo = append(p.todo, t)
		}
	}
	if cap(p.found) < len(p.todo) {
		p.found = make([][][]run, len(p.todo))
	}
	p.found = p.found[:len(p.todo)]
	var wg sync.WaitGroup
	for wi, w := range s.workers {
		wg.Go(func() {
			for i := wi; i < len(p.todo); i += len(s.workers) {
				if ctx.Err() != nil {
					return
				}
				t := p.todo[i]
				p.found[i] = w.priceType(t, round, p.effort, p.rem, p.order, price, p.start[t], p.found[i][:0])
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	added := 0
	for i, t := range p.todo {
		for _, fill := range p.found[i] {
			col := s.toColumn(t, fill)
			d := col.cost
			for k, j := range col.cls {
				d -= y[j] * col.cnt[k]
			}
			if d >= -lpTol*max(1, col.cost) {
				continue
			}
			key := columnKey(&col)
			if p.seen[key] {
				continue
			}
			p.seen[key] = true
			for k, j := range col.cls {
				col.cls[k] = p.row[j]
			}
			p.lp.cols = append(p.lp.cols, col)
			p.last[t] = round
			added++
		}
	}
	return added, nil
}

// priceType returns the fills of type t worth more than the type's price
// at prices price (at most rem[j] pods of class j) that it finds, the best
// last, at most colsPerType: the greedy fills by price and by price per
// dominant share, then the knapsack's.
func (w *worker) priceType(t int32, round, effort int, rem, order []int32, price []float64, start []run, dst [][]run) [][]run {
	s := w.s
	w.pcg.Seed(s.seed^uint64(round)*0x9e3779b97f4a7c15, uint64(t))
	cost := s.ty[t].price
	byShare := slices.Clone(order)
	slices.SortStableFunc(byShare, func(a, b int32) int {
		da, db := price[a]/s.share(&s.cls[a], t), price[b]/s.share(&s.cls[b], t)
		switch {
		case da > db:
			return -1
		case da < db:
			return 1
		}
		return int(a - b)
	})
	dst = dst[:0]
	floor := cost * (1 + 1e-6)
	for _, ord := range [][]int32{order, byShare} {
		var v float64
		w.buf, v = w.fill(t, rem, ord, price, w.buf)
		if v > floor {
			dst = append(dst, slices.Clone(w.buf))
			floor = v
		}
	}
	e := efforts[effort]
	if r, _ := w.knap.solve(t, rem, price, floor, e.nodes, e.moves, e.moveNodes, w.rng, start); r != nil {
		dst = append(dst, w.knap.improving...)
	}
	if len(dst) > colsPerType {
		dst = dst[len(dst)-colsPerType:]
	}
	return dst
}

// roundLP opens ⌊x⌋ nodes of each of the LP's fills, largest x first,
// with the pods still waiting (rem, on the class stacks; a fill whose pods
// ran out opens with fewer), and returns them.
func (s *solver) roundLP(plan *lpPlan, rem []int32) []*node {
	idx := make([]int, 0, len(plan.cols))
	for q, x := range plan.x {
		if x >= 1-1e-6 {
			idx = append(idx, q)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch xa, xb := plan.x[a], plan.x[b]; {
		case xa > xb:
			return -1
		case xa < xb:
			return 1
		}
		return a - b
	})
	var nodes []*node
	for _, q := range idx {
		c := &plan.cols[q]
		copies := int(math.Floor(plan.x[q] + 1e-6))
		for range copies {
			n := s.newNode(c.t)
			for _, r := range c.runs {
				for range r.n {
					if rem[r.cls] == 0 {
						break
					}
					st := s.stacks[r.cls]
					p := st[len(st)-1]
					s.stacks[r.cls] = st[:len(st)-1]
					rem[r.cls]--
					s.add(n, p, r.cls, r.gpus)
				}
			}
			if len(n.pods) == 0 {
				break
			}
			nodes = append(nodes, n)
		}
	}
	return nodes
}

// build constructs the plan the improvement starts from, with its cost.
// With at most maxLPClasses classes: the column generation's fills
// (seeded with a constructed plan), rounded down, then the construction
// of the pods left with the dual prices as class values, or the
// construction of all pods at those values when that is cheaper. With
// more: constructBest.
func (s *solver) build(ctx context.Context, deadline time.Time) ([]*node, float64, error) {
	rounds := refineRounds
	if len(s.order) > maxLPClasses {
		rounds = refineRoundsMany
	}
	greedy, greedyCost, err := s.constructBest(ctx, rounds)
	if err != nil {
		return nil, 0, err
	}
	plan, err := s.columnGeneration(ctx, greedy, deadline)
	if err != nil {
		return nil, 0, err
	}
	if plan == nil {
		return greedy, greedyCost, nil
	}
	val := make([]float64, len(s.cls))
	for j := range s.cls {
		if b := s.cls[j].base; b > 0 {
			val[j] = max(plan.duals[j], 1e-3*b)
		}
	}
	s.setValues(val, nil)
	rem := s.resetWaiting(make([]int32, len(s.cls)))
	nodes := s.roundLP(plan, rem)
	nodes = s.construct(rem, nodes)
	cost := 0.0
	for i, n := range nodes {
		nodes[i] = s.rightSize(n)
		cost += s.ty[nodes[i].t].price
	}
	if g, gc := s.constructAll(); gc < cost-priceEps {
		nodes, cost = g, gc
	}
	if greedyCost < cost-priceEps {
		// Keep the dual prices as values: they guide the improvement.
		s.setValues(val, greedy)
		nodes, cost = greedy, greedyCost
	}
	return nodes, cost, nil
}
