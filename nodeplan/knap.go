package nodeplan

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
)

// knapDims are the knapsack's dimensions: CPU, memory, GPU milli, pod
// slots, then dual feasible functions of them (u_1 and u_2 of each GPU's
// share, u_3 and u_1 of CPU and of memory).
const knapDims = 10

// dff is Fekete and Schepers' dual feasible function u_k of x in [0, 1]:
// x when (k+1)·x is an integer, else ⌊(k+1)·x⌋/k. Sizes that fit in one
// bin keep a sum of at most 1 under it.
func dff(k int, x float64) float64 {
	y := float64(k+1) * x
	if fl := math.Floor(y + 1e-12); math.Abs(y-fl) < 1e-12 {
		return x
	}
	return math.Floor(y) / float64(k)
}

// knapsack finds fills of one node type worth much at given class prices
// (the column generation's pricing problem, a multi-dimensional knapsack
// with GPUs): a greedy fill in the order of price per unit of the
// resources weighted by Lagrangian multipliers, polished; a branch and
// bound over multisets of pods from it; and a large-neighbourhood search
// that takes a GPU's or a few pods out and refills the room by a small
// branch and bound. The bounds are the Lagrangian and surrogate
// relaxations of the type's resources (CPU, memory, GPU milli and pod
// slots as fractions of the type's, and dual feasible functions of them),
// with multipliers fitted by coordinate descent. GPUs are placed as fill
// places them. Not safe for concurrent use.
type knapsack struct {
	s     *solver
	w     *worker
	f     filler
	t     int32
	items []int32             // classes
	pos   []int32             // per class, its item, or -1
	limit []int32             // most pods of each item
	size  [][knapDims]float64 // per item, fractions of the type's resources
	val   []float64           // per item, its price
	gain  []float64           // per item, max(0, val − λ·size)
	tail  []float64           // Σ_{k ≥ i} limit_k·gain_k
	used  []int32             // pods of each item in the current fill
	// needCPU and needMem are each item's CPU (milli) and memory
	// (bytes), for a quick test of whether it fits.
	needCPU, needMem []int64
	// byRatio is the item positions by price per unit of λ·size, weight
	// their λ·size, order the classes in that order.
	byRatio []int
	weight  []float64
	order   []int32
	lam     [knapDims]float64
	usedD   [knapDims]float64
	cur     []run
	best    []run
	bestV   float64
	nodes   int
	max     int
	scratch []run
	// improving are the fills worth more than the floor that solve
	// found, each better than the one before.
	improving [][]run
}

// setup prepares the items of type t at prices price, at most rem[j]
// pods of class j: false when none can go on it.
func (k *knapsack) setup(t int32, rem []int32, price []float64) bool {
	s := k.s
	ti := &s.ty[t]
	k.f.s, k.t = s, t
	if len(k.pos) != len(s.cls) {
		k.pos = make([]int32, len(s.cls))
	}
	k.items, k.limit, k.size, k.val = k.items[:0], k.limit[:0], k.size[:0], k.val[:0]
	caps := [4]float64{float64(ti.cpu), float64(ti.mem), float64(ti.gpus * cluster.MilliGPU), float64(ti.slots)}
	for j := range s.cls {
		k.pos[j] = -1
		c := &s.cls[j]
		if rem[j] == 0 || price[j] <= 0 || !ti.admits.has(int32(j)) {
			continue
		}
		need := [4]float64{float64(c.cpu), float64(c.mem), float64(c.count*cluster.MilliGPU + c.milli), 1}
		var sz [knapDims]float64
		most := rem[j]
		for d := range 4 {
			if need[d] > 0 {
				sz[d] = need[d] / caps[d]
				most = min(most, int32(caps[d]/need[d]))
			}
		}
		if c.count > 0 {
			most = min(most, ti.gpus/c.count)
		}
		if most <= 0 {
			continue
		}
		// Dual feasible functions of the sizes: no feasible node exceeds
		// 1 in them either (for GPUs, applied per GPU and divided by the
		// GPU count).
		if ti.gpus > 0 && (c.count > 0 || c.milli > 0) {
			g := float64(c.milli) / cluster.MilliGPU
			if c.count > 0 {
				g = 1
			}
			mul := float64(max(c.count, 1)) / float64(ti.gpus)
			sz[4] = dff(1, g) * mul
			sz[5] = dff(2, g) * mul
		}
		sz[6] = dff(3, sz[0])
		sz[7] = dff(3, sz[1])
		sz[8] = dff(1, sz[0])
		sz[9] = dff(1, sz[1])
		k.items = append(k.items, int32(j))
		k.limit = append(k.limit, most)
		k.size = append(k.size, sz)
		k.val = append(k.val, price[j])
	}
	n := len(k.items)
	if n == 0 {
		return false
	}
	k.fitMultipliers()
	// Items by gain descending (then price), so the bound falls fast.
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case k.gain[a] > k.gain[b]:
			return -1
		case k.gain[a] < k.gain[b]:
			return 1
		case k.val[a] > k.val[b]:
			return -1
		case k.val[a] < k.val[b]:
			return 1
		}
		return a - b
	})
	permute(k.items, idx)
	permute(k.limit, idx)
	permute(k.size, idx)
	permute(k.val, idx)
	permute(k.gain, idx)
	for i, j := range k.items {
		k.pos[j] = int32(i)
	}
	k.tail = slices.Grow(k.tail[:0], n+1)[:n+1]
	k.tail[n] = 0
	for i := n - 1; i >= 0; i-- {
		k.tail[i] = k.tail[i+1] + float64(k.limit[i])*k.gain[i]
	}
	k.weight = slices.Grow(k.weight[:0], n)[:n]
	k.byRatio = k.byRatio[:0]
	for i := range n {
		w := 0.0
		for d, l := range k.lam {
			w += l * k.size[i][d]
		}
		k.weight[i] = w
		k.byRatio = append(k.byRatio, i)
	}
	ratio := func(i int) float64 {
		if k.weight[i] <= 0 {
			return math.Inf(1)
		}
		return k.val[i] / k.weight[i]
	}
	slices.SortStableFunc(k.byRatio, func(a, b int) int {
		switch ra, rb := ratio(a), ratio(b); {
		case ra > rb:
			return -1
		case ra < rb:
			return 1
		}
		return a - b
	})
	k.order = k.order[:0]
	for _, p := range k.byRatio {
		k.order = append(k.order, k.items[p])
	}
	k.used = slices.Grow(k.used[:0], n)[:n]
	k.needCPU, k.needMem = k.needCPU[:0], k.needMem[:0]
	for _, j := range k.items {
		k.needCPU = append(k.needCPU, s.cls[j].cpu)
		k.needMem = append(k.needMem, s.cls[j].mem)
	}
	return true
}

// permute reorders a by idx: a'[i] = a[idx[i]].
func permute[T any](a []T, idx []int) {
	tmp := make([]T, len(a))
	for i, j := range idx {
		tmp[i] = a[j]
	}
	copy(a, tmp)
}

// fitMultipliers sets λ ≥ 0 to (nearly) minimise the root's Lagrangian
// bound λ·1 + Σ limit·max(0, val − λ·size) by coordinate descent, each
// step an exact one-dimensional minimisation (a fractional knapsack over
// the breakpoints), and fills gain.
func (k *knapsack) fitMultipliers() {
	n := len(k.items)
	k.lam = [knapDims]float64{}
	type bp struct{ at, w float64 }
	var pts []bp
	for range 4 {
		for d := range knapDims {
			pts = pts[:0]
			for i := range n {
				if k.size[i][d] <= 0 {
					continue
				}
				a := k.val[i]
				for e := range knapDims {
					if e != d {
						a -= k.lam[e] * k.size[i][e]
					}
				}
				if a > 0 {
					pts = append(pts, bp{at: a / k.size[i][d], w: float64(k.limit[i]) * k.size[i][d]})
				}
			}
			slices.SortFunc(pts, func(x, y bp) int {
				switch {
				case x.at > y.at:
					return -1
				case x.at < y.at:
					return 1
				}
				return 0
			})
			// The slope at λ is 1 − Σ_{at > λ} w: the minimum is at the
			// breakpoint where the weight above reaches 1.
			lam, w := 0.0, 0.0
			for _, p := range pts {
				w += p.w
				if w >= 1 {
					lam = p.at
					break
				}
			}
			k.lam[d] = lam
		}
	}
	k.gain = slices.Grow(k.gain[:0], n)[:n]
	for i := range n {
		g := k.val[i]
		for d := range knapDims {
			g -= k.lam[d] * k.size[i][d]
		}
		k.gain[i] = max(g, 0)
	}
}

// greedy returns the fill in ratio order, polished, with its value.
func (k *knapsack) greedy(rem []int32, price []float64) ([]run, float64) {
	runs, v := k.w.fill(k.t, rem, k.order, price, nil)
	if v > 0 {
		runs, v = k.w.polish(k.t, runs, v, rem, k.order, price, 20)
	}
	return runs, v
}

// searchFrom places kept (pods of this type's items, as runs of one pod
// or of pods without GPUs) on an empty node, then searches at most
// maxNodes nodes for the pods to add; it returns the best whole fill worth
// more than floor, or nil.
func (k *knapsack) searchFrom(kept []run, floor float64, maxNodes int) ([]run, float64) {
	f := &k.f
	f.reset(k.t)
	clear(k.used)
	k.usedD = [knapDims]float64{}
	v := 0.0
	for _, r := range kept {
		p := k.pos[r.cls]
		if p < 0 || k.used[p]+r.n > k.limit[p] || f.place(r.cls, r.n, k.val[p]) < r.n {
			return nil, 0
		}
		k.used[p] += r.n
		for d, x := range k.size[p] {
			k.usedD[d] += x * float64(r.n)
		}
		v += float64(r.n) * k.val[p]
	}
	k.cur = append(k.cur[:0], f.runs...)
	k.bestV = floor
	k.best = k.best[:0]
	k.nodes, k.max = 0, maxNodes
	found := false
	// Limited discrepancy search: paths that leave the best-first order
	// at most d times, for d = 0, 1, … while nodes last.
	for d := 0; d <= len(k.items) && k.nodes < k.max; d++ {
		k.search(0, v, d, &found)
	}
	if !found {
		return nil, 0
	}
	return k.best, k.bestV
}

// solve returns a fill of type t worth as much as it finds at prices
// price (at most rem[j] pods of class j), or nil when none is worth more
// than floor: the greedy fill, a branch and bound of at most maxNodes
// nodes, then lnsRounds neighbourhood moves of at most lnsNodes nodes
// each, drawn from rng.
func (k *knapsack) solve(t int32, rem []int32, price []float64, floor float64, maxNodes, lnsRounds, lnsNodes int, rng *rand.Rand, start []run) ([]run, float64) {
	if !k.setup(t, rem, price) {
		return nil, 0
	}
	// No fill is worth more than the relaxations allow.
	clear(k.used)
	lamSum := 0.0
	for _, l := range k.lam {
		lamSum += l
	}
	bound := min(lamSum+k.tail[0], k.surrogate(0, lamSum))
	if bound <= floor*(1+1e-12)+1e-12 {
		return nil, 0
	}
	k.improving = k.improving[:0]
	best, bestV := k.greedy(rem, price)
	if bestV > floor {
		k.improving = append(k.improving, slices.Clone(best))
	}
	if r, v := k.searchFrom(nil, max(bestV, floor), maxNodes); r != nil {
		best, bestV = slices.Clone(r), v
		k.improving = append(k.improving, best)
	}
	// The neighbourhood search starts from the best fill so far, or from
	// start (a fill the LP uses) when that is worth as much.
	if start != nil {
		if v, ok := k.worth(start, rem); ok && v >= bestV*(1-1e-9) {
			best, bestV = slices.Clone(start), v
		}
	}
	if len(best) > 0 {
		for range lnsRounds {
			if bound <= max(bestV, floor)*(1+1e-9) {
				break
			}
			kept := k.ruin(best, rng)
			if r, v := k.searchFrom(kept, max(bestV, floor), lnsNodes); r != nil {
				best, bestV = slices.Clone(r), v
				k.improving = append(k.improving, best)
			}
		}
	}
	if bestV <= floor || len(best) == 0 {
		return nil, 0
	}
	return best, bestV
}

// worth is the value of fill at the current prices, and whether the type
// can still take it (its pods wait and are admitted).
func (k *knapsack) worth(fill []run, rem []int32) (float64, bool) {
	v := 0.0
	for _, r := range fill {
		p := k.pos[r.cls]
		if p < 0 || rem[r.cls] < r.n {
			return 0, false
		}
		v += float64(r.n) * k.val[p]
	}
	return v, true
}

// ruin returns the runs of fill (one pod each) less those of a random GPU
// (or of one random pod, on types without GPUs) and of one more random
// pod.
func (k *knapsack) ruin(fill []run, rng *rand.Rand) []run {
	kept := k.scratch[:0]
	for _, r := range fill {
		for range r.n {
			kept = append(kept, run{cls: r.cls, n: 1, gpus: r.gpus})
		}
	}
	if gpus := k.s.ty[k.t].gpus; gpus > 0 && rng.IntN(3) > 0 {
		g := uint64(1) << rng.IntN(int(gpus))
		if gpus > 1 && rng.IntN(2) == 0 {
			g |= uint64(1) << rng.IntN(int(gpus))
		}
		kept = slices.DeleteFunc(kept, func(r run) bool { return r.gpus&g != 0 })
	} else if len(kept) > 0 {
		i := rng.IntN(len(kept))
		kept = slices.Delete(kept, i, i+1)
	}
	for range 1 + rng.IntN(2) {
		if len(kept) > 0 {
			i := rng.IntN(len(kept))
			kept = slices.Delete(kept, i, i+1)
		}
	}
	k.scratch = kept
	return kept
}

// search extends the current fill with pods of items from i on.
func (k *knapsack) search(i int, v float64, disc int, found *bool) {
	k.nodes++
	if v > k.bestV*(1+1e-12)+1e-12 {
		k.bestV = v
		k.best = append(k.best[:0], k.cur...)
		*found = true
	}
	f := &k.f
	// The Lagrangian bound of what the free room can still take.
	room := 0.0
	for d, l := range k.lam {
		room += l * max(1-k.usedD[d], 0)
	}
	if v+k.surrogate(i, room) <= k.bestV*(1+1e-12)+1e-12 {
		return
	}
	branch := 0
	floor := k.bestV*(1+1e-12) + 1e-12 - v - room
	for ; i < len(k.items); i++ {
		if k.nodes >= k.max || k.tail[i] <= floor || branch > disc {
			return
		}
		if k.used[i] >= k.limit[i] || k.needCPU[i] > f.cpu || k.needMem[i] > f.mem {
			continue
		}
		j := k.items[i]
		mark := len(f.runs)
		if !f.placeOne(j, k.val[i]) {
			continue
		}
		r := f.runs[mark]
		k.cur = append(k.cur, r)
		k.used[i]++
		for d, x := range k.size[i] {
			k.usedD[d] += x
		}
		k.search(i, v+k.val[i], disc-branch, found)
		branch++
		floor = k.bestV*(1+1e-12) + 1e-12 - v - room
		for d, x := range k.size[i] {
			k.usedD[d] -= x
		}
		k.used[i]--
		k.cur = k.cur[:len(k.cur)-1]
		f.unplace(r, k.val[i])
	}
}

// surrogate bounds what items from position i on can add in room (the
// free resources weighted by λ): the fractional knapsack of the single
// surrogate constraint Σ λ·size ≤ room.
func (k *knapsack) surrogate(i int, room float64) float64 {
	v := 0.0
	for _, p := range k.byRatio {
		if p < i {
			continue
		}
		cnt := float64(k.limit[p] - k.used[p])
		if cnt <= 0 {
			continue
		}
		w := k.weight[p]
		if w <= 0 {
			v += cnt * k.val[p]
			continue
		}
		if take := room / w; take < cnt {
			return v + take*k.val[p]
		}
		v += cnt * k.val[p]
		room -= cnt * w
	}
	return v
}

// unplace takes the last run, of one pod, off the simulated node.
func (f *filler) unplace(r run, v float64) {
	c := &f.s.cls[r.cls]
	f.runs = f.runs[:len(f.runs)-1]
	f.cpu += int64(r.n) * c.cpu
	f.mem += int64(r.n) * c.mem
	f.slots += r.n
	f.value -= float64(r.n) * v
	per := c.perGPU()
	for m := r.gpus; m != 0; m &= m - 1 {
		g := bits.TrailingZeros64(m)
		f.gpu[g] += per
		if f.gpu[g] == cluster.MilliGPU {
			f.free++
		}
	}
}
