package nodeplan

import (
	"math"
	"math/bits"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
)

// maxGPUsPerNode is the most GPUs one node type may have: a pod's GPUs
// on a node are kept as a bit mask.
const maxGPUsPerNode = 64

// priceEps is the smallest price difference, in USD per hour, that counts
// as cheaper.
const priceEps = 1e-9

// class is a set of identical pods: the same requests and the same
// placement constraints, so every node type admits all or none of them.
type class struct {
	pods []int32 // indexes into the input pods, ascending
	cpu  int64   // milli
	mem  int64   // bytes
	// count is the whole GPUs a pod takes, milli its share of one GPU.
	count, milli int32
	// base is the cheapest price, in USD per hour, of the share of one
	// node a pod needs in its dominant resource; 0 when no type admits
	// the class.
	base float64
}

// typeInfo is the packer's view of a node type.
type typeInfo struct {
	cpu, mem int64
	slots    int32
	gpus     int32
	price    float64
	// inv are 1/capacity for CPU, memory and GPU milli (0 for none): the
	// weights of the best-fit score.
	invCPU, invMem, invGPU float64
	admits                 bitset // the classes it admits
}

// member is a pod on a node with the GPUs it took (bit i for GPU i).
type member struct {
	pod, cls int32
	gpus     uint64
}

// node is one node of a plan under construction: its type, what is
// free, and its pods.
type node struct {
	t     int32
	cpu   int64 // free milli
	mem   int64 // free bytes
	slots int32
	gpu   []int32 // free milli per GPU
	pods  []member
	value float64 // sum of the pods' class values
	gone  bool    // taken out by the move under way
}

// run is count pods of one class placed alike: n pods without GPUs, or
// one pod on the GPUs of gpus.
type run struct {
	cls, n int32
	gpus   uint64
}

// bitset is a set of small non-negative integers.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) set(i int32)      { b[i>>6] |= 1 << (i & 63) }
func (b bitset) has(i int32) bool { return b[i>>6]&(1<<(i&63)) != 0 }
func (b bitset) clear(i int32)    { b[i>>6] &^= 1 << (i & 63) }

func (b bitset) intersects(o bitset) bool {
	for i, w := range b {
		if w&o[i] != 0 {
			return true
		}
	}
	return false
}

// subsetOf reports whether every element of b is in o.
func (b bitset) subsetOf(o bitset) bool {
	for i, w := range b {
		if w&^o[i] != 0 {
			return false
		}
	}
	return true
}

func (b bitset) reset() {
	for i := range b {
		b[i] = 0
	}
}

// solver holds the classes, the node types and the state of one Plan
// call. Not safe for concurrent use; the pricing's workers only read it.
type solver struct {
	pods  []cluster.Pod
	types []cluster.NodeType
	ty    []typeInfo
	cls   []class
	// unplaceable are the classes no node type admits.
	unplaceable []int32
	// cand are the node types a plan uses: those that admit a class and
	// are not dominated by another type (one at most as dear, at least as
	// large in every resource, admitting every class it admits), by price
	// ascending then index.
	cand []int32
	// val is each class's value, in USD per hour per pod: what the
	// construction packs the most of per dollar. It starts at base.
	val []float64
	// order is the placeable classes in fill order: val descending.
	order []int32
	// stacks hold, per class, the pods waiting to be placed.
	stacks [][]int32
	// seed is Input.Seed.
	seed uint64
	// budgetHit is set when the time budget cut the search short.
	budgetHit bool
	// The column generation's LP cost (USD per hour), columns and rounds.
	lpValue             float64
	lpColumns, lpRounds int
	// main is the worker of the sequential stages; workers are the
	// pricing's, main first.
	main    *worker
	workers []*worker

	// scratch
	gpuBuf  []int32
	counts  []int32
	touched []int32
	clsSet  bitset
}

// maxWorkers caps the goroutines that price node types in parallel.
const maxWorkers = 8

// newSolver groups the pods into classes and works out which type admits
// which class. O(P log P + G·T + C·T + T²·C/64) for P pods, C classes, G
// constraint groups and T types.
func newSolver(pods []cluster.Pod, types []cluster.NodeType, seed uint64) *solver {
	s := &solver{pods: pods, types: types, seed: seed}
	s.groupPods()
	s.typeInfos()
	s.candidates()
	s.values()
	s.sortOrder()
	s.stacks = make([][]int32, len(s.cls))
	maxG := int32(0)
	for i := range s.ty {
		maxG = max(maxG, s.ty[i].gpus)
	}
	s.gpuBuf = make([]int32, maxG)
	s.counts = make([]int32, len(s.cls))
	s.clsSet = newBitset(len(s.cls))
	for range min(runtime.GOMAXPROCS(0), maxWorkers, max(len(s.cand), 1)) {
		s.workers = append(s.workers, newWorker(s))
	}
	s.main = s.workers[0]
	return s
}

// sortOrder sets s.order: the placeable classes by value descending,
// then by index.
func (s *solver) sortOrder() {
	s.order = s.order[:0]
	for j := range s.cls {
		if s.cls[j].base > 0 {
			s.order = append(s.order, int32(j))
		}
	}
	sortByValue(s.order, s.val)
}

// sortByValue sorts classes by val descending, then by index.
func sortByValue(order []int32, val []float64) {
	slices.SortStableFunc(order, func(a, b int32) int {
		switch va, vb := val[a], val[b]; {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return int(a - b)
	})
}

// constraintKey identifies a pod's placement constraints: selector,
// tolerations and GPU models.
func constraintKey(p *cluster.Pod, sb *strings.Builder) string {
	sb.Reset()
	keys := make([]string, 0, len(p.NodeSelector))
	for k := range p.NodeSelector {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		sb.WriteString(k)
		sb.WriteByte(0)
		sb.WriteString(p.NodeSelector[k])
		sb.WriteByte(0)
	}
	sb.WriteByte(1)
	for _, t := range p.Tolerations {
		for _, f := range []string{t.Key, t.Operator, t.Value, t.Effect} {
			sb.WriteString(f)
			sb.WriteByte(0)
		}
	}
	sb.WriteByte(1)
	if p.GPU.Any() {
		models := slices.Clone(p.GPU.Models)
		slices.Sort(models)
		for _, m := range models {
			sb.WriteString(m)
			sb.WriteByte(0)
		}
	}
	return sb.String()
}

// groupPods sorts the pods into classes, in order of each class's first
// pod.
func (s *solver) groupPods() {
	var sb strings.Builder
	byKey := map[string]int32{}
	for i := range s.pods {
		p := &s.pods[i]
		key := constraintKey(p, &sb) + "\x02" + strconv.FormatInt(int64(p.CPU), 10) + "," +
			strconv.FormatInt(int64(p.Memory), 10) + "," + strconv.Itoa(p.GPU.Count) + "," + strconv.Itoa(p.GPU.Milli)
		j, ok := byKey[key]
		if !ok {
			j = int32(len(s.cls))
			byKey[key] = j
			s.cls = append(s.cls, class{
				cpu: int64(p.CPU), mem: int64(p.Memory),
				count: int32(p.GPU.Count), milli: int32(p.GPU.Milli),
			})
		}
		s.cls[j].pods = append(s.cls[j].pods, int32(i))
	}
}

// typeInfos fills s.ty, each type's admitted classes included: Admits is
// asked once per constraint group and type, the sizes are compared per
// class.
func (s *solver) typeInfos() {
	s.ty = make([]typeInfo, len(s.types))
	for t := range s.types {
		nt := &s.types[t]
		ti := &s.ty[t]
		*ti = typeInfo{
			cpu: int64(nt.Allocatable.CPU), mem: int64(nt.Allocatable.Memory),
			slots: int32(nt.Allocatable.Pods), gpus: int32(nt.GPUs), price: nt.PricePerHour,
			admits: newBitset(len(s.cls)),
		}
		if ti.cpu > 0 {
			ti.invCPU = 1 / float64(ti.cpu)
		}
		if ti.mem > 0 {
			ti.invMem = 1 / float64(ti.mem)
		}
		if ti.gpus > 0 {
			ti.invGPU = 1 / float64(ti.gpus*cluster.MilliGPU)
		}
	}
	// Group the classes by constraints; ask Admits of a zero-sized pod
	// with the group's constraints (and a GPU request when the group's
	// pods ask for one), then compare sizes.
	var sb strings.Builder
	type group struct {
		probe   cluster.Pod
		classes []int32
	}
	var groups []*group
	byKey := map[string]*group{}
	for j := range s.cls {
		c := &s.cls[j]
		p := &s.pods[c.pods[0]]
		key := constraintKey(p, &sb)
		if c.count > 0 || c.milli > 0 {
			key += "\x03gpu"
		}
		g, ok := byKey[key]
		if !ok {
			g = &group{probe: cluster.Pod{NodeSelector: p.NodeSelector, Tolerations: p.Tolerations}}
			if c.count > 0 || c.milli > 0 {
				g.probe.GPU = cluster.GPURequest{Milli: 1, Models: p.GPU.Models}
			}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.classes = append(g.classes, int32(j))
	}
	for _, g := range groups {
		for t := range s.types {
			if !s.types[t].Admits(&g.probe) {
				continue
			}
			ti := &s.ty[t]
			for _, j := range g.classes {
				c := &s.cls[j]
				if c.cpu <= ti.cpu && c.mem <= ti.mem && ti.slots >= 1 && max(c.count, min(c.milli, 1)) <= ti.gpus {
					ti.admits.set(j)
				}
			}
		}
	}
	for j := range s.cls {
		admitted := false
		for t := range s.ty {
			if s.ty[t].admits.has(int32(j)) {
				admitted = true
				break
			}
		}
		if !admitted {
			s.unplaceable = append(s.unplaceable, int32(j))
		}
	}
}

// dominates reports whether type u makes type t useless: u costs at most
// as much, is at least as large in every resource, admits every class t
// admits, and is strictly better in one of these or comes first.
func (s *solver) dominates(u, t int32) bool {
	a, b := &s.ty[u], &s.ty[t]
	if a.price > b.price || a.cpu < b.cpu || a.mem < b.mem || a.slots < b.slots || a.gpus < b.gpus {
		return false
	}
	if !b.admits.subsetOf(a.admits) {
		return false
	}
	if a.price < b.price || a.cpu > b.cpu || a.mem > b.mem || a.slots > b.slots || a.gpus > b.gpus {
		return true
	}
	return !a.admits.subsetOf(b.admits) || u < t
}

// candidates fills s.cand.
func (s *solver) candidates() {
	empty := newBitset(len(s.cls))
	var useful []int32
	for t := range s.ty {
		if !s.ty[t].admits.subsetOf(empty) {
			useful = append(useful, int32(t))
		}
	}
	for _, t := range useful {
		dominated := false
		for _, u := range useful {
			if u != t && s.dominates(u, t) {
				dominated = true
				break
			}
		}
		if !dominated {
			s.cand = append(s.cand, t)
		}
	}
	slices.SortStableFunc(s.cand, func(a, b int32) int {
		pa, pb := s.ty[a].price, s.ty[b].price
		switch {
		case pa < pb:
			return -1
		case pa > pb:
			return 1
		}
		return int(a - b)
	})
}

// perGPU is the milli a pod of class c takes on each of its GPUs: all of
// it for whole GPUs, its share otherwise, 0 without GPUs.
func (c *class) perGPU() int32 {
	if c.count > 0 {
		return cluster.MilliGPU
	}
	return c.milli
}

// share is the largest fraction of type t's capacity one pod of class c
// takes in any resource.
func (s *solver) share(c *class, t int32) float64 {
	ti := &s.ty[t]
	f := 1 / float64(ti.slots)
	if c.cpu > 0 {
		f = max(f, float64(c.cpu)*ti.invCPU)
	}
	if c.mem > 0 {
		f = max(f, float64(c.mem)*ti.invMem)
	}
	if g := c.count*cluster.MilliGPU + c.milli; g > 0 {
		f = max(f, float64(g)*ti.invGPU)
	}
	return f
}

// values sets each class's base value and s.val: the cheapest, over the candidate types
// that admit it, of price × the pod's dominant share of the type.
func (s *solver) values() {
	for j := range s.cls {
		c := &s.cls[j]
		best := math.Inf(1)
		for _, t := range s.cand {
			if s.ty[t].admits.has(int32(j)) {
				best = min(best, s.ty[t].price*s.share(c, t))
			}
		}
		if math.IsInf(best, 1) {
			continue // unplaceable
		}
		// A free type would make every value 0; keep the packed demand
		// comparable with a tiny floor.
		c.base = max(best, 1e-12)
	}
	s.val = make([]float64, len(s.cls))
	for j := range s.cls {
		s.val[j] = s.cls[j].base
	}
}

// newNode returns an empty node of type t.
func (s *solver) newNode(t int32) *node {
	ti := &s.ty[t]
	n := &node{t: t, cpu: ti.cpu, mem: ti.mem, slots: ti.slots, gpu: make([]int32, ti.gpus)}
	for i := range n.gpu {
		n.gpu[i] = cluster.MilliGPU
	}
	return n
}

// add puts pod p of class j on n, on the given GPUs. The caller has
// checked that it fits.
func (s *solver) add(n *node, p, j int32, gpus uint64) {
	c := &s.cls[j]
	n.cpu -= c.cpu
	n.mem -= c.mem
	n.slots--
	per := c.perGPU()
	for m := gpus; m != 0; m &= m - 1 {
		n.gpu[bits.TrailingZeros64(m)] -= per
	}
	n.pods = append(n.pods, member{pod: p, cls: j, gpus: gpus})
	n.value += s.val[j]
}

// dropLast takes n's last pod off and returns it.
func (s *solver) dropLast(n *node) member {
	m := n.pods[len(n.pods)-1]
	n.pods = n.pods[:len(n.pods)-1]
	c := &s.cls[m.cls]
	n.cpu += c.cpu
	n.mem += c.mem
	n.slots++
	per := c.perGPU()
	for g := m.gpus; g != 0; g &= g - 1 {
		n.gpu[bits.TrailingZeros64(g)] += per
	}
	n.value -= s.val[m.cls]
	return m
}

// fitCount is how many pods of class c fit in cpu, mem and slots, at most
// limit (GPUs aside).
func fitCount(cpu, mem int64, slots int32, c *class, limit int32) int32 {
	k := min(limit, slots)
	if c.cpu > 0 {
		k = int32(min(int64(k), cpu/c.cpu))
	}
	if c.mem > 0 {
		k = int32(min(int64(k), mem/c.mem))
	}
	return max(k, 0)
}

// bestFitGPU is the GPU with the least free milli that still holds milli
// (the first on ties), or -1: cluster.Node.BestFitGPUs's rule.
func bestFitGPU(gpu []int32, milli int32) int {
	best := -1
	for i, f := range gpu {
		if f >= milli && (best < 0 || f < gpu[best]) {
			best = i
		}
	}
	return best
}

// firstFree returns the first count fully free GPUs of gpu, as
// cluster.Node.BestFitGPUs picks them; false when too few are free.
func firstFree(gpu []int32, count int32) (uint64, bool) {
	var mask uint64
	for i, f := range gpu {
		if count == 0 {
			break
		}
		if f == cluster.MilliGPU {
			mask |= 1 << i
			count--
		}
	}
	return mask, count == 0
}

// wholeGPUs takes the first count fully free GPUs of gpu (firstFree) and
// returns them; false, changing nothing, when too few are free.
func wholeGPUs(gpu []int32, count int32) (uint64, bool) {
	mask, ok := firstFree(gpu, count)
	if !ok {
		return 0, false
	}
	for m := mask; m != 0; m &= m - 1 {
		gpu[bits.TrailingZeros64(m)] = 0
	}
	return mask, true
}

// gpusFor returns the GPUs a pod of class c would take from gpu (the free
// milli of each): the first c.count fully free ones, or the best fit for
// a share, none without GPUs; false when they do not fit. It changes
// nothing.
func gpusFor(gpu []int32, c *class) (uint64, bool) {
	switch {
	case c.count > 0:
		return firstFree(gpu, c.count)
	case c.milli > 0:
		g := bestFitGPU(gpu, c.milli)
		if g < 0 {
			return 0, false
		}
		return 1 << g, true
	}
	return 0, true
}

// classesOf sets s.clsSet to the classes of n's pods.
func (s *solver) classesOf(pods []member) bitset {
	s.clsSet.reset()
	for _, m := range pods {
		s.clsSet.set(m.cls)
	}
	return s.clsSet
}

// cheapestFor finds the cheapest candidate type, cheaper than below, that
// admits and holds all of pods; it returns the type and a node of it
// with the pods placed (whole GPUs first, then shares largest first, best
// fit), or -1 and nil. O(T × (C/64 + pods × GPUs)).
func (s *solver) cheapestFor(pods []member, below float64) (int32, *node) {
	set := s.classesOf(pods)
	var cpu, mem int64
	var gpuMilli, whole int32
	for _, m := range pods {
		c := &s.cls[m.cls]
		cpu += c.cpu
		mem += c.mem
		gpuMilli += c.count*cluster.MilliGPU + c.milli
		whole += c.count
	}
	slots := int32(len(pods))
	order := slices.Clone(pods)
	slices.SortStableFunc(order, func(a, b member) int {
		ca, cb := &s.cls[a.cls], &s.cls[b.cls]
		if ca.count != cb.count {
			return int(cb.count - ca.count)
		}
		return int(cb.milli - ca.milli)
	})
	for _, u := range s.cand {
		ti := &s.ty[u]
		if ti.price >= below-priceEps {
			break
		}
		if cpu > ti.cpu || mem > ti.mem || slots > ti.slots || gpuMilli > ti.gpus*cluster.MilliGPU || whole > ti.gpus {
			continue
		}
		if !set.subsetOf(ti.admits) {
			continue
		}
		if n := s.placeAll(u, order); n != nil {
			return u, n
		}
	}
	return -1, nil
}

// placeAll returns a node of type u with pods placed in order, or nil
// when their GPUs do not fit.
func (s *solver) placeAll(u int32, pods []member) *node {
	gpu := s.gpuBuf[:s.ty[u].gpus]
	for i := range gpu {
		gpu[i] = cluster.MilliGPU
	}
	masks := make([]uint64, len(pods))
	for i, m := range pods {
		c := &s.cls[m.cls]
		mask, ok := gpusFor(gpu, c)
		if !ok {
			return nil
		}
		for g := mask; g != 0; g &= g - 1 {
			gpu[bits.TrailingZeros64(g)] -= c.perGPU()
		}
		masks[i] = mask
	}
	n := s.newNode(u)
	n.pods = make([]member, 0, len(pods))
	for i, m := range pods {
		s.add(n, m.pod, m.cls, masks[i])
	}
	return n
}

// rightSize returns n on the cheapest type that holds its pods, or n.
func (s *solver) rightSize(n *node) *node {
	if _, m := s.cheapestFor(n.pods, s.ty[n.t].price); m != nil {
		return m
	}
	return n
}
