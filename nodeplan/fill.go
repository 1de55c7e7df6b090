package nodeplan

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
)

// worker is the scratch space of one goroutine that fills simulated
// nodes: its filler, knapsack and random numbers. Not safe for concurrent
// use; it only reads the solver.
type worker struct {
	s       *solver
	f       filler
	polishF filler
	knap    knapsack
	skip    []int32
	buf     []run
	best    []run
	pcg     *rand.PCG
	rng     *rand.Rand
}

func newWorker(s *solver) *worker {
	w := &worker{s: s, skip: make([]int32, len(s.cls)), pcg: rand.NewPCG(s.seed, 0)}
	w.f.s, w.polishF.s = s, s
	w.knap.s, w.knap.w = s, w
	w.rng = rand.New(w.pcg)
	return w
}

// filler is the state of one simulated node while fill packs it.
type filler struct {
	s        *solver
	t        int32
	cpu, mem int64
	slots    int32
	gpu      []int32
	free     int32 // fully free GPUs
	runs     []run
	value    float64
}

// reset empties the simulated node and makes it of type t.
func (f *filler) reset(t int32) {
	ti := &f.s.ty[t]
	f.t, f.cpu, f.mem, f.slots = t, ti.cpu, ti.mem, ti.slots
	f.gpu = f.gpu[:0]
	for range ti.gpus {
		f.gpu = append(f.gpu, cluster.MilliGPU)
	}
	f.free = ti.gpus
	f.runs = f.runs[:0]
	f.value = 0
}

// place puts up to k pods of class j (worth v each) on the node, whole
// GPUs on the first free GPUs and shares best fit, and returns how many
// fit. It does not check admission.
func (f *filler) place(j int32, k int32, v float64) int32 {
	c := &f.s.cls[j]
	k = fitCount(f.cpu, f.mem, f.slots, c, k)
	if k == 0 {
		return 0
	}
	switch {
	case c.count > 0:
		k = min(k, f.free/c.count)
		for range k {
			mask, _ := wholeGPUs(f.gpu, c.count)
			f.runs = append(f.runs, run{cls: j, n: 1, gpus: mask})
		}
		f.free -= k * c.count
	case c.milli > 0:
		placed := int32(0)
		for placed < k {
			g := bestFitGPU(f.gpu, c.milli)
			if g < 0 {
				break
			}
			if f.gpu[g] == cluster.MilliGPU {
				f.free--
			}
			f.gpu[g] -= c.milli
			f.runs = append(f.runs, run{cls: j, n: 1, gpus: 1 << g})
			placed++
		}
		k = placed
	default:
		f.runs = append(f.runs, run{cls: j, n: k})
	}
	f.cpu -= int64(k) * c.cpu
	f.mem -= int64(k) * c.mem
	f.slots -= k
	f.value += float64(k) * v
	return k
}

// placeOne puts one pod of class j (worth v) on the node if it fits, as
// place does, and reports whether it did.
func (f *filler) placeOne(j int32, v float64) bool {
	c := &f.s.cls[j]
	if f.cpu < c.cpu || f.mem < c.mem || f.slots < 1 {
		return false
	}
	var mask uint64
	switch {
	case c.count > 0:
		if f.free < c.count {
			return false
		}
		mask, _ = wholeGPUs(f.gpu, c.count)
		f.free -= c.count
	case c.milli > 0:
		g := bestFitGPU(f.gpu, c.milli)
		if g < 0 {
			return false
		}
		if f.gpu[g] == cluster.MilliGPU {
			f.free--
		}
		f.gpu[g] -= c.milli
		mask = 1 << g
	}
	f.runs = append(f.runs, run{cls: j, n: 1, gpus: mask})
	f.cpu -= c.cpu
	f.mem -= c.mem
	f.slots--
	f.value += v
	return true
}

// fillFrom places, in order, as many of the waiting pods rem (minus
// skip, when not nil) of each class the type admits as fit.
func (f *filler) fillFrom(rem, skip []int32, order []int32, val []float64) {
	f.fillProbe(rem, skip, order, val, 0)
}

// fillProbe is fillFrom that stops, when probe > 0, after probe classes
// the type admits or 4·probe classes.
func (f *filler) fillProbe(rem, skip []int32, order []int32, val []float64, probe int) {
	admits := f.s.ty[f.t].admits
	seen := 0
	for i, j := range order {
		if probe > 0 && (seen >= probe || i >= 4*probe) {
			break
		}
		r := rem[j]
		if skip != nil {
			r -= skip[j]
		}
		if r <= 0 || !admits.has(j) {
			continue
		}
		seen++
		f.place(j, r, val[j])
		if f.slots == 0 {
			break
		}
	}
}

// fill simulates packing the waiting pods rem (a count per class) onto an
// empty node of type t: classes in order, as many of each as fit, whole
// GPUs on the first free GPUs and shares best fit. It returns the
// placements, appended to buf[:0], and the value packed (val per class).
// O(C + pods placed × GPUs) for C classes.
func (w *worker) fill(t int32, rem []int32, order []int32, val []float64, buf []run) ([]run, float64) {
	return w.probe(t, rem, order, val, buf, 0)
}

// probe is fill limited as fillProbe is.
func (w *worker) probe(t int32, rem []int32, order []int32, val []float64, buf []run, probe int) ([]run, float64) {
	f := &w.f
	f.reset(t)
	f.runs = buf[:0]
	f.fillProbe(rem, nil, order, val, probe)
	buf = f.runs
	f.runs = nil
	return buf, f.value
}

// materialize opens a node of type t with the placements of runs, taking
// the pods from the class stacks.
func (s *solver) materialize(t int32, runs []run) *node {
	n := s.newNode(t)
	for _, r := range runs {
		for range r.n {
			st := s.stacks[r.cls]
			p := st[len(st)-1]
			s.stacks[r.cls] = st[:len(st)-1]
			s.add(n, p, r.cls, r.gpus)
		}
	}
	return n
}

// better reports whether packing value v on a type of price p beats the
// best so far (value bv at price bp): more value per dollar, then more
// value (fewer nodes).
func better(v, p, bv, bp float64) bool {
	// Compare v/p with bv/bp without dividing by a zero price.
	l, r := v*bp, bv*p
	if d := l - r; math.Abs(d) > 1e-12*max(math.Abs(l), math.Abs(r)) {
		return d > 0
	}
	return v > bv
}

// construct packs the waiting pods (rem per class, their pods on the
// class stacks) onto new nodes, appended to dst: while pods wait, every
// candidate type simulates a fill, the best value per dollar opens a
// node, and the same fill repeats while its pods last. rem is left all
// zero. O(rounds × T × C) for T candidate types and C classes.
func (s *solver) construct(rem []int32, dst []*node) []*node {
	active := newBitset(len(s.cls))
	waiting := 0
	act := make([]int32, 0, len(s.order)) // waiting classes, in fill order
	for _, j := range s.order {
		if rem[j] > 0 {
			active.set(j)
			act = append(act, j)
			waiting++
		}
	}
	w := s.main
	for waiting > 0 {
		// With many classes, types are compared on a probe of the
		// first classes, and only the best fills a node in full.
		probe := 0
		if len(act) > 4*probeClasses {
			probe = probeClasses
		}
		best, bv, bp := int32(-1), 0.0, 0.0
		for _, t := range s.cand {
			if !s.ty[t].admits.intersects(active) {
				continue
			}
			var v float64
			w.buf, v = w.probe(t, rem, act, s.val, w.buf, probe)
			if v <= 0 {
				continue
			}
			if best < 0 || better(v, s.ty[t].price, bv, bp) {
				best, bv, bp = t, v, s.ty[t].price
				w.buf, w.best = w.best, w.buf
			}
		}
		if best < 0 {
			// Only classes no candidate admits wait: cannot happen, as
			// unplaceable classes never wait.
			panic("nodeplan: waiting pods no candidate type admits")
		}
		if probe > 0 {
			w.best, _ = w.fill(best, rem, act, s.val, w.best)
		}
		// Repeat the fill while every class in it has the pods.
		s.touched = s.touched[:0]
		for _, r := range w.best {
			if s.counts[r.cls] == 0 {
				s.touched = append(s.touched, r.cls)
			}
			s.counts[r.cls] += r.n
		}
		reps := int32(math.MaxInt32)
		for _, j := range s.touched {
			reps = min(reps, rem[j]/s.counts[j])
		}
		for range reps {
			dst = append(dst, s.materialize(best, w.best))
		}
		exhausted := false
		for _, j := range s.touched {
			rem[j] -= reps * s.counts[j]
			s.counts[j] = 0
			if rem[j] == 0 {
				active.clear(j)
				waiting--
				exhausted = true
			}
		}
		if exhausted {
			act = slices.DeleteFunc(act, func(j int32) bool { return rem[j] == 0 })
		}
	}
	return dst
}

// probeClasses is how many classes construct's probes look at when there
// are more than four times as many waiting.
const probeClasses = 64

// refineRounds is how many plans constructBest constructs, refining the
// class values between them.
const refineRounds = 8

// refineRoundsMany is refineRounds when the classes are too many for the
// column generation.
const refineRoundsMany = 3

// resetWaiting puts every placeable pod back on its class's stack and
// returns the count per class.
func (s *solver) resetWaiting(rem []int32) []int32 {
	for j := range s.cls {
		c := &s.cls[j]
		rem[j] = 0
		s.stacks[j] = s.stacks[j][:0]
		if c.base == 0 {
			continue // unplaceable
		}
		rem[j] = int32(len(c.pods))
		for i := len(c.pods) - 1; i >= 0; i-- {
			s.stacks[j] = append(s.stacks[j], c.pods[i])
		}
	}
	return rem
}

// constructAll constructs a plan of every placeable pod with the current
// class values and right-sizes its nodes; it returns the nodes and their
// cost in USD per hour.
func (s *solver) constructAll() ([]*node, float64) {
	rem := s.resetWaiting(make([]int32, len(s.cls)))
	nodes := s.construct(rem, nil)
	cost := 0.0
	for i, n := range nodes {
		nodes[i] = s.rightSize(n)
		cost += s.ty[nodes[i].t].price
	}
	return nodes, cost
}

// setValues makes val the class values (and the fill order), and
// recomputes the nodes' values.
func (s *solver) setValues(val []float64, nodes []*node) {
	copy(s.val, val)
	s.sortOrder()
	for _, n := range nodes {
		n.value = 0
		for _, m := range n.pods {
			n.value += s.val[m.cls]
		}
	}
}

// constructBest constructs a plan rounds times and returns the cheapest
// (right-sized) with its cost, leaving the class values it was built
// with. After each round every class's value moves halfway
// (geometrically) to what its pods cost in that plan, each node's price
// shared among its pods in proportion to their values: pods that only
// pack badly become dearer and are packed first, pods that complete other
// nodes well gain, and the values drift towards prices at which every
// node pays for itself, like an LP's dual prices.
func (s *solver) constructBest(ctx context.Context, rounds int) ([]*node, float64, error) {
	paid := make([]float64, len(s.cls))
	var best []*node
	bestCost := math.Inf(1)
	bestVal := slices.Clone(s.val)
	for round := range rounds {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		nodes, cost := s.constructAll()
		if cost < bestCost-priceEps {
			best, bestCost = nodes, cost
			copy(bestVal, s.val)
		}
		if round == rounds-1 {
			break
		}
		for j := range paid {
			paid[j] = 0
		}
		for _, n := range nodes {
			price := s.ty[n.t].price
			for _, m := range n.pods {
				paid[m.cls] += price * s.val[m.cls] / n.value
			}
		}
		for j := range s.cls {
			if p := paid[j] / float64(len(s.cls[j].pods)); s.val[j] > 0 && p > 0 {
				s.val[j] = math.Sqrt(s.val[j] * p)
			}
		}
		s.sortOrder()
	}
	s.setValues(bestVal, best)
	return best, bestCost, nil
}

// polish improves a fill of type t (runs, worth value at val) by local
// search: take out one pod of a class, or all its pods, and fill the room
// again in order without that class; keep the first change worth more,
// and repeat, at most rounds times. It returns the best fill (a new
// slice) and its value. O(rounds × classes in the fill × (pods in the
// fill + C)).
func (w *worker) polish(t int32, runs []run, value float64, rem []int32, order []int32, val []float64, rounds int) ([]run, float64) {
	cur := slices.Clone(runs)
	f := &w.polishF
	skip := w.skip
	for range rounds {
		improved := false
		for ci := 0; ci < len(cur) && !improved; ci++ {
			c := cur[ci].cls
			if ci > 0 && cur[ci-1].cls == c {
				continue // one try per class run
			}
			for _, all := range []bool{false, true} {
				f.reset(t)
				removed := false
				ok := true
				for _, r := range cur {
					n := r.n
					if r.cls == c && (all || !removed) {
						if all {
							n = 0
						} else {
							n--
						}
						removed = true
					}
					if n == 0 {
						continue
					}
					if f.place(r.cls, n, val[r.cls]) < n {
						ok = false
						break
					}
				}
				if ok {
					for _, r := range f.runs {
						skip[r.cls] += r.n
					}
					saved := skip[c]
					skip[c] = rem[c]
					f.fillFrom(rem, skip, order, val)
					skip[c] = saved
					for _, r := range cur {
						skip[r.cls] = 0
					}
					for _, r := range f.runs {
						skip[r.cls] = 0
					}
				}
				if ok && f.value > value*(1+1e-9)+1e-12 {
					cur = append(cur[:0], f.runs...)
					value = f.value
					improved = true
					break
				}
			}
		}
		if !improved {
			break
		}
	}
	return cur, value
}
