package lowerbound

import (
	"cmp"
	"math"
	"slices"
	"strconv"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// class is pods with equal requests and equal placement constraints (a
// pod class), or a cluster of those (an LP class: its members' mean requests,
// the types that admit any member).
type class struct {
	n        float64 // pods
	cpu, mem int64   // millicores, bytes
	count    int64   // whole GPUs
	milli    int64   // GPU share in milli; 0 for none
	key      int     // placement constraints, an index into grouping.probes
	admits   bitset  // over the types given
	// members are, for an LP class that clusters pod classes, their
	// indexes into grouping.pods; nil for a pod class, or an LP class
	// that is one.
	members []int
}

// family is what a pod class may only be merged within: its placement
// constraints and kind of GPU request.
func (c *class) family() [3]int64 {
	share := int64(0)
	if c.milli > 0 {
		share = 1
	}
	return [3]int64{int64(c.key), c.count, share}
}

// grouping is the pods cut into classes.
type grouping struct {
	pods       []class // exact pod classes
	lp         []class // the LP's classes
	infeasible []int
	probes     []bitset // per placement constraint key, the types that admit it
}

// bitset is a set of small non-negative integers.
type bitset []uint64

func newBitset(n int) bitset    { return make(bitset, (n+63)/64) }
func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b bitset) or(o bitset) {
	for i, w := range o {
		b[i] |= w
	}
}

func (b bitset) subsetOf(o bitset) bool {
	for i, w := range b {
		if w&^o[i] != 0 {
			return false
		}
	}
	return true
}

type classKey struct {
	key                    int
	cpu, mem, count, milli int64
}

// group cuts the pods into exact classes, and merges those into at most
// maxClasses LP classes (see merge). Which types admit a pod is
// cluster.NodeType.Admits, computed once per distinct placement
// constraint on a probe pod with no CPU or memory: Admits(pod) is exactly
// Admits(probe) and the pod's requests fitting the type's allocatable.
// O(pods × types).
func group(pods []cluster.Pod, types []cluster.NodeType, maxClasses int) grouping {
	keys := map[string]int{}
	index := map[classKey]int{}
	var g grouping
	var buf []byte
	for i := range pods {
		p := &pods[i]
		buf = constraintKey(buf[:0], p)
		k, ok := keys[string(buf)]
		if !ok {
			k = len(g.probes)
			keys[string(buf)] = k
			g.probes = append(g.probes, probeAdmits(p, types))
		}
		ck := classKey{k, int64(p.CPU), int64(p.Memory), int64(p.GPU.Count), int64(p.GPU.Milli)}
		c, ok := index[ck]
		if !ok {
			c = len(g.pods)
			cl := class{cpu: ck.cpu, mem: ck.mem, count: ck.count, milli: ck.milli, key: k}
			if !g.setAdmits(&cl, types) {
				c = -1
			} else {
				g.pods = append(g.pods, cl)
			}
			index[ck] = c
		}
		if c < 0 {
			g.infeasible = append(g.infeasible, i)
			continue
		}
		g.pods[c].n++
	}
	g.lp = g.merge(types, maxClasses)
	return g
}

// setAdmits sets the types that admit the class, false when none does.
func (g *grouping) setAdmits(c *class, types []cluster.NodeType) bool {
	c.admits = newBitset(len(types))
	req := cluster.Resources{CPU: recommender.MilliCPU(c.cpu), Memory: recommender.Bytes(c.mem), Pods: 1}
	ok := false
	for t := range types {
		if g.probes[c.key].has(t) && types[t].Allocatable.Covers(req) {
			c.admits.set(t)
			ok = true
		}
	}
	return ok
}

// merge returns the LP's classes: the pod classes themselves when there
// are at most maxClasses. Else pod classes are clustered: in order of
// weight (pods × a rough price per pod), each joins the first cluster of
// its family (placement constraints and GPU kind) whose leader's CPU,
// memory and GPU share are all within a factor 1+ε of its own, or leads a
// new one; ε is the smallest of 1 %, 1.5 %, 2.25 % … that leaves at most
// maxClasses clusters (or one per family). An LP class is a cluster: its
// members' mean requests (weighted by pods, so that the LP sees the
// cluster's total CPU, memory and GPU; its DFF rows are its members' mean
// values too, see memberMeans), the types that admit any member, all its
// members' pods. The LP then
// only picks the certificate's weights; the bound is computed on the exact
// classes, so it stays valid whatever the clusters are, provided every
// type that admits a member admits its LP class: an LP class is admitted
// by the types that admit any of its members.
func (g *grouping) merge(types []cluster.NodeType, maxClasses int) []class {
	if len(g.pods) <= maxClasses {
		return slices.Clone(g.pods)
	}
	value := podValue(types)
	order := make([]int, len(g.pods))
	weight := make([]float64, len(g.pods))
	for c := range order {
		order[c] = c
		weight[c] = g.pods[c].n * value(&g.pods[c])
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(weight[b], weight[a]) })
	var lp []class
	var leaders []class   // per LP class, the pod class that leads it
	var sums [][3]float64 // per LP class, its pods' CPU, memory and GPU share
	for eps := 0.01; ; eps *= 1.5 {
		lp, leaders, sums = lp[:0], leaders[:0], sums[:0]
		families := map[[3]int64][]int{}
		for _, c := range order {
			pc := &g.pods[c]
			f := pc.family()
			joined := false
			for _, l := range families[f] {
				if near(&leaders[l], pc, eps) {
					lp[l].n += pc.n
					lp[l].admits.or(pc.admits)
					sums[l][0] += pc.n * float64(pc.cpu)
					sums[l][1] += pc.n * float64(pc.mem)
					sums[l][2] += pc.n * float64(pc.milli)
					lp[l].members = append(lp[l].members, c)
					joined = true
					break
				}
			}
			if !joined {
				families[f] = append(families[f], len(lp))
				leader := *pc
				leader.admits = slices.Clone(pc.admits)
				leader.members = []int{c}
				lp = append(lp, leader)
				leaders = append(leaders, *pc)
				sums = append(sums, [3]float64{pc.n * float64(pc.cpu), pc.n * float64(pc.mem), pc.n * float64(pc.milli)})
			}
			if len(lp) > maxClasses && eps < 1e6 {
				break
			}
		}
		if len(lp) <= maxClasses || eps >= 1e6 {
			break
		}
	}
	for l := range lp {
		lc := &lp[l]
		if len(lc.members) == 1 {
			lc.members = nil // exactly its pod class
			continue
		}
		lc.cpu = int64(math.Round(sums[l][0] / lc.n))
		lc.mem = int64(math.Round(sums[l][1] / lc.n))
		lc.milli = int64(math.Round(sums[l][2] / lc.n))
	}
	return lp
}

// near reports whether c's CPU, memory and GPU share are each within a
// factor 1+eps of the leader's.
func near(leader, c *class, eps float64) bool {
	within := func(a, b int64) bool {
		lo, hi := float64(min(a, b)), float64(max(a, b))
		return hi <= lo*(1+eps)
	}
	return within(leader.cpu, c.cpu) && within(leader.mem, c.mem) && within(leader.milli, c.milli)
}

// podValue returns a rough price of one pod per hour: its largest
// resource at the cheapest price per unit of that resource over all types.
func podValue(types []cluster.NodeType) func(*class) float64 {
	cpu, mem, gpu, pods := math.Inf(1), math.Inf(1), math.Inf(1), math.Inf(1)
	for i := range types {
		t := &types[i]
		if t.Allocatable.CPU > 0 {
			cpu = min(cpu, t.PricePerHour/float64(t.Allocatable.CPU))
		}
		if t.Allocatable.Memory > 0 {
			mem = min(mem, t.PricePerHour/float64(t.Allocatable.Memory))
		}
		if t.GPUs > 0 {
			gpu = min(gpu, t.PricePerHour/float64(t.GPUs*cluster.MilliGPU))
		}
		if t.Allocatable.Pods > 0 {
			pods = min(pods, t.PricePerHour/float64(t.Allocatable.Pods))
		}
	}
	finite := func(v float64) float64 {
		if math.IsInf(v, 1) {
			return 0
		}
		return v
	}
	cpu, mem, gpu, pods = finite(cpu), finite(mem), finite(gpu), finite(pods)
	return func(c *class) float64 {
		return max(cpu*float64(c.cpu), mem*float64(c.mem), gpu*float64(c.count*cluster.MilliGPU+c.milli), pods)
	}
}

// probeAdmits is the types that admit the pod's placement constraints and
// GPU request, whatever its CPU and memory.
func probeAdmits(p *cluster.Pod, types []cluster.NodeType) bitset {
	probe := cluster.Pod{GPU: p.GPU, NodeSelector: p.NodeSelector, Tolerations: p.Tolerations}
	b := newBitset(len(types))
	for t := range types {
		if types[t].Admits(&probe) {
			b.set(t)
		}
	}
	return b
}

// constraintKey appends an encoding of what Admits looks at besides CPU
// and memory: GPU count, whether it asks for a share, GPU models, node
// selector and tolerations. Strings are length-prefixed.
func constraintKey(dst []byte, p *cluster.Pod) []byte {
	str := func(s string) {
		dst = strconv.AppendInt(dst, int64(len(s)), 10)
		dst = append(dst, ':')
		dst = append(dst, s...)
	}
	dst = strconv.AppendInt(dst, int64(p.GPU.Count), 10)
	if p.GPU.Milli > 0 {
		dst = append(dst, 's')
	}
	dst = append(dst, 'm')
	models := slices.Clone(p.GPU.Models)
	slices.Sort(models)
	for _, m := range models {
		str(m)
	}
	dst = append(dst, 'n')
	sel := make([]string, 0, len(p.NodeSelector))
	for k := range p.NodeSelector {
		sel = append(sel, k)
	}
	slices.Sort(sel)
	for _, k := range sel {
		str(k)
		str(p.NodeSelector[k])
	}
	dst = append(dst, 't')
	for _, t := range p.Tolerations {
		str(t.Key)
		str(t.Operator)
		str(t.Value)
		str(t.Effect)
	}
	return dst
}
