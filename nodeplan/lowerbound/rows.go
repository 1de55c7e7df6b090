package lowerbound

import (
	"slices"
	"strconv"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
)

// nodeType is one distinct node type of the LP: types equal in price,
// allocatable, GPU count and admitted LP classes share one (they then
// admit the same pod classes too, see buildTypes).
type nodeType struct {
	index   int // the first type it stands for
	price   float64
	cpu     int64 // allocatable millicores
	mem     int64 // allocatable bytes
	pods    int64 // allocatable pod slots
	gpus    int64
	classes []int       // admitted classes, ascending
	rows    [][]float64 // rows[r][j]: the row's value for classes[j]; Σ_j rows[r][j]·a[j] ≤ 1 on one node
	kinds   []rowKind   // what each row is
	pr      *pricer
	// by is the type that dominates this one (nil: none), match its
	// row mapping.
	by    *nodeType
	match []int
	w     []float64 // certificate weights per row, Σ ≤ price
}

// rowKind names a row: a linear resource or a dual feasible function.
type rowKind struct {
	res resource
	k   int // DFF order; 0 for the linear row
}

type resource int

const (
	resCPU resource = iota
	resMemory
	resPods
	resGPU
	numResources
)

// dff is Fekete and Schepers' u_k(d/c) for 0 ≤ d ≤ c, c > 0: d/c when
// (k+1)·d/c is an integer, else ⌊(k+1)·d/c⌋/k, in exact integer
// arithmetic up to the final division.
func dff(k, d, c int64) float64 {
	num := (k + 1) * d
	if num%c == 0 {
		return float64(d) / float64(c)
	}
	return float64(num/c) / float64(k)
}

// buildTypes makes the LP's node types: distinct types that admit at least
// one class, each with its rows (dffOrder < 0: linear rows only). Types
// equal in price, allocatable, GPUs and admitted LP classes are one: they
// admit the same pod classes too, since a type admits an LP class when it
// admits a member, so the other admits some member with the same placement
// constraints, and fits the same requests.
func buildTypes(g *grouping, types []cluster.NodeType, dffOrder int) []*nodeType {
	classes := g.lp
	means := &memberMeans{pods: g.pods, classes: classes, order: dffOrder, cache: map[meanKey][]float64{}}
	type sig struct {
		price                float64
		cpu, mem, pods, gpus int64
		admits               string
	}
	seen := map[sig]bool{}
	var out []*nodeType
	for t := range types {
		ty := &types[t]
		var admitted []int
		for c := range classes {
			if classes[c].admits.has(t) {
				admitted = append(admitted, c)
			}
		}
		if len(admitted) == 0 {
			continue
		}
		s := sig{ty.PricePerHour, int64(ty.Allocatable.CPU), int64(ty.Allocatable.Memory), int64(ty.Allocatable.Pods), int64(ty.GPUs), bitsetString(admitted)}
		if seen[s] {
			continue
		}
		seen[s] = true
		nt := &nodeType{index: t, price: s.price, cpu: s.cpu, mem: s.mem, pods: s.pods, gpus: s.gpus, classes: admitted}
		nt.addRows(classes, means, dffOrder)
		out = append(out, nt)
	}
	return out
}

func bitsetString(cs []int) string {
	var b []byte
	for _, c := range cs {
		b = strconv.AppendInt(b, int64(c), 36)
		b = append(b, ',')
	}
	return string(b)
}

// value is the row's value for one pod of the class on one node of the
// type: the linear rows its request over the allocatable (for GPUs, its
// GPUs in milli over the node's), the DFF rows u_k of that fraction (for
// GPUs, u_k of its share, 1 per whole GPU, over the node's GPU count). On
// any one node the values of the pods it carries sum to at most 1.
func (nt *nodeType) value(k rowKind, c *class) float64 {
	switch k.res {
	case resCPU:
		if k.k == 0 {
			return float64(c.cpu) / float64(nt.cpu)
		}
		return dff(int64(k.k), c.cpu, nt.cpu)
	case resMemory:
		if k.k == 0 {
			return float64(c.mem) / float64(nt.mem)
		}
		return dff(int64(k.k), c.mem, nt.mem)
	case resPods:
		return 1 / float64(nt.pods)
	default: // resGPU
		g := float64(nt.gpus)
		switch {
		case k.k == 0:
			return float64(c.count*cluster.MilliGPU+c.milli) / (cluster.MilliGPU * g)
		case c.milli > 0:
			return dff(int64(k.k), c.milli, cluster.MilliGPU) / g
		}
		return float64(c.count) / g
	}
}

// lpValue is the row's value for LP class c: value for a pod class; for
// a cluster of them, value at its mean requests for a linear row (so that
// the LP sees the cluster's total of every resource) and its members'
// mean value for a DFF row (so that it sees, say, how many of them take
// over half a GPU, which the mean request would not tell).
func (nt *nodeType) lpValue(k rowKind, classes []class, c int, means *memberMeans) float64 {
	cl := &classes[c]
	if k.k == 0 || cl.members == nil {
		return nt.value(k, cl)
	}
	switch k.res {
	case resCPU:
		return means.mean(k, nt.cpu, c)
	case resMemory:
		return means.mean(k, nt.mem, c)
	case resGPU:
		if cl.milli > 0 {
			return means.mean(k, cluster.MilliGPU, c) / float64(nt.gpus)
		}
	}
	return nt.value(k, cl)
}

// memberMeans computes, and caches per resource and capacity (types
// share a few), the mean over each clustered LP class's members, weighted
// by pods, of u_k of their request over the capacity, requests above it
// taken as the capacity (u_k = 1: a member that does not fit a type
// never goes there). O(pod classes × DFF order) per capacity. Not safe
// for concurrent use.
type memberMeans struct {
	pods, classes []class
	order         int
	cache         map[meanKey][]float64 // per k−1 and LP class
	// last and lastKey are the entry asked for last: a row asks for one
	// entry per class, which would otherwise hash the key as often.
	last    []float64
	lastKey meanKey
}

type meanKey struct {
	res resource
	cap int64
}

func (m *memberMeans) mean(k rowKind, capacity int64, c int) float64 {
	key := meanKey{k.res, capacity}
	if m.last == nil || key != m.lastKey {
		m.last, m.lastKey = m.entry(key), key
	}
	return m.last[(k.k-1)*len(m.classes)+c]
}

// entry is the cache entry for key, computed when missing.
func (m *memberMeans) entry(key meanKey) []float64 {
	if v, ok := m.cache[key]; ok {
		return v
	}
	nc := len(m.classes)
	v := make([]float64, m.order*nc)
	for l := range m.classes {
		lc := &m.classes[l]
		if lc.members == nil {
			continue
		}
		for _, f := range lc.members {
			pc := &m.pods[f]
			amount := pc.milli
			switch key.res {
			case resCPU:
				amount = pc.cpu
			case resMemory:
				amount = pc.mem
			}
			amount = min(amount, key.cap)
			for order := 1; order <= m.order; order++ {
				v[(order-1)*nc+l] += pc.n * dff(int64(order), amount, key.cap)
			}
		}
		for order := 1; order <= m.order; order++ {
			v[(order-1)*nc+l] /= lc.n
		}
	}
	m.cache[key] = v
	return v
}

// addRows adds the linear rows and the DFF rows that are not all zero and
// not dominated (no larger for any class) by another row. Rows of a
// resource the type has none of are left out: a class the type admits
// then asks for none of it.
func (nt *nodeType) addRows(classes []class, means *memberMeans, dffOrder int) {
	n := len(nt.classes)
	add := func(kind rowKind) {
		r := make([]float64, n)
		nonzero := false
		for j, c := range nt.classes {
			r[j] = nt.lpValue(kind, classes, c, means)
			nonzero = nonzero || r[j] > 0
		}
		if nonzero {
			nt.rows = append(nt.rows, r)
			nt.kinds = append(nt.kinds, kind)
		}
	}
	var resources []resource
	if nt.cpu > 0 {
		resources = append(resources, resCPU)
	}
	if nt.mem > 0 {
		resources = append(resources, resMemory)
	}
	resources = append(resources, resPods)
	if nt.gpus > 0 {
		resources = append(resources, resGPU)
	}
	for _, res := range resources {
		add(rowKind{res, 0})
	}
	linear := len(nt.rows)
	for k := 1; k <= dffOrder; k++ {
		for _, res := range resources {
			if res != resPods {
				add(rowKind{res, k})
			}
		}
	}
	// Drop DFF rows dominated by another row (ties: the earlier stays).
	keep := slices.Clone(nt.rows[:linear])
	kinds := slices.Clone(nt.kinds[:linear])
	for r := linear; r < len(nt.rows); r++ {
		dominated := false
		for s := range nt.rows {
			if s != r && dominates(nt.rows[s], nt.rows[r], s < r) {
				dominated = true
				break
			}
		}
		if !dominated {
			keep = append(keep, nt.rows[r])
			kinds = append(kinds, nt.kinds[r])
		}
	}
	nt.rows, nt.kinds = keep, kinds
}

// dominates reports whether row a is at least b everywhere, and strictly
// somewhere unless ties count.
func dominates(a, b []float64, ties bool) bool {
	strict := false
	for j := range a {
		if a[j] < b[j] {
			return false
		}
		strict = strict || a[j] > b[j]
	}
	return strict || ties
}

// dominatedBy reports whether s makes nt redundant: s admits every class
// nt admits, and every row r of s has a row r' of nt with
// price_s·g_s[r][c] ≤ price_nt·g_nt[r'][c] for every class c nt admits.
// Then any fractional load a of one nt node, scaled by price_nt/price_s,
// is a fractional load of one s node (Σ_c g_s[r][c]·a[c]·price_nt/price_s
// ≤ Σ_c g_nt[r'][c]·a[c] ≤ 1), at the same cost, so dropping nt leaves
// the LP optimum unchanged; and nt's certificate weights follow from s's
// (mapWeights). For the linear rows the condition is that s gives at least
// as much of each resource per dollar. On success it returns, per row of
// s, the row r' of nt. O(rows² × classes) at worst; cls is nt's classes as
// a bitset, pos[c] each class's position in s.classes.
func (nt *nodeType) dominatedBy(s *nodeType, cls bitset, sCls bitset, pos []int) ([]int, bool) {
	if !cls.subsetOf(sCls) {
		return nil, false
	}
	if nt.price == 0 && s.price > 0 {
		return nil, false // s's pod-slot row cannot be 0
	}
	match := make([]int, len(s.rows))
	for r, sr := range s.rows {
		match[r] = -1
		// Try the row of the same kind first.
		order := slices.Index(nt.kinds, s.kinds[r])
		for try := -1; try < len(nt.rows); try++ {
			rt := try
			if try < 0 {
				if order < 0 {
					continue
				}
				rt = order
			} else if try == order {
				continue
			}
			ok := true
			for j, c := range nt.classes {
				if s.price*sr[pos[c]] > nt.price*nt.rows[rt][j] {
					ok = false
					break
				}
			}
			if ok {
				match[r] = rt
				break
			}
		}
		if match[r] < 0 {
			return nil, false
		}
	}
	return match, true
}

// mapWeights sets nt's certificate weights from its dominator s's: each
// row r of s gives its weight × price_nt/price_s to row match[r] of nt.
// Then Σ w_nt ≤ price_nt, and w_nt·g_nt[c] ≥ w_s·g_s[c] for every class nt
// admits, so nt lowers no charge below what s gives. (The certificate is
// valid whatever the weights, as long as they sum to at most the price.)
func (nt *nodeType) mapWeights(s *nodeType, match []int) {
	clear(nt.w)
	if s.price == 0 {
		return
	}
	for r, rt := range match {
		nt.w[rt] += s.w[r] * nt.price / s.price
	}
	if t := sum(nt.w); t > nt.price {
		for r := range nt.w {
			nt.w[r] *= nt.price / t
		}
	}
}
