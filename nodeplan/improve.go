package nodeplan

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
)

// touch is a node that took pods in the move under way, with its pod
// count before.
type touch struct {
	n    *node
	keep int
}

// mover holds the state of the improvement search.
type mover struct {
	s     *solver
	rng   *rand.Rand
	nodes []*node
	// scratch
	group   []*node
	freed   []member
	rem     []int32
	touched []touch
	targets []*node
	fresh   []*node
}

// improve runs up to maxMoves ruin-and-recreate moves on nodes (stopping
// early at the deadline, when non-zero) and returns the plan, never
// dearer than the one it got. It returns ctx's error when ctx ends.
func (s *solver) improve(ctx context.Context, nodes []*node, maxMoves int, deadline time.Time) ([]*node, Stats, error) {
	m := &mover{
		s:     s,
		rng:   rand.New(rand.NewPCG(s.seed, s.seed^0x9e3779b97f4a7c15)),
		nodes: nodes,
		rem:   make([]int32, len(s.cls)),
	}
	var st Stats
	for st.Moves < maxMoves && len(m.nodes) > 0 {
		if st.Moves%16 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, st, err
			}
			if !deadline.IsZero() && !time.Now().Before(deadline) {
				st.BudgetHit = true
				break
			}
		}
		st.Moves++
		accepted, improved := m.move()
		if accepted {
			st.Accepted++
		}
		if improved {
			st.Improved++
		}
	}
	return m.nodes, st, nil
}

// inefficiency is a node's price per unit of the value of its pods:
// 1 or less is as good as the pods' cheapest types, higher is waste.
func (m *mover) inefficiency(n *node) float64 {
	if n.value <= 0 {
		return 1e18
	}
	return m.s.ty[n.t].price / n.value
}

// pickGroup chooses the nodes of one move: the least efficient of three
// drawn at random, and up to two more that could share pods with it.
func (m *mover) pickGroup() {
	s := m.s
	m.group = m.group[:0]
	seed := m.nodes[m.rng.IntN(len(m.nodes))]
	for range 2 {
		if o := m.nodes[m.rng.IntN(len(m.nodes))]; m.inefficiency(o) > m.inefficiency(seed) {
			seed = o
		}
	}
	seed.gone = true
	m.group = append(m.group, seed)
	extra := m.rng.IntN(3)
	if extra == 0 || len(m.nodes) == 1 {
		return
	}
	seedSet := slices.Clone(s.classesOf(seed.pods))
	for try := 0; try < 8 && len(m.group) <= extra; try++ {
		o := m.nodes[m.rng.IntN(len(m.nodes))]
		if o.gone {
			continue
		}
		if !seedSet.intersects(s.ty[o.t].admits) && !s.classesOf(o.pods).intersects(s.ty[seed.t].admits) {
			continue
		}
		o.gone = true
		m.group = append(m.group, o)
	}
}

// move takes a group of nodes out and packs their pods again: into the
// room of other nodes, then onto new nodes (right-sized), or all onto the
// cheapest single node that holds them, whichever is cheaper. It keeps
// the change unless it costs more, or as much with more nodes.
func (m *mover) move() (accepted, improved bool) {
	s := m.s
	m.pickGroup()
	oldCost := 0.0
	m.freed = m.freed[:0]
	for _, n := range m.group {
		oldCost += s.ty[n.t].price
		m.freed = append(m.freed, n.pods...)
	}

	// Option B: one node of the cheapest type that holds them all.
	bType, bNode := int32(-1), (*node)(nil)
	if len(m.group) > 1 || len(m.freed) > 0 {
		bType, bNode = s.cheapestFor(m.freed, oldCost+priceEps*2)
	}

	// Option A: fill other nodes' room, then construct.
	for _, p := range m.freed {
		m.rem[p.cls]++
		s.stacks[p.cls] = append(s.stacks[p.cls], p.pod)
	}
	m.insert()
	m.fresh = s.construct(m.rem, m.fresh[:0])
	costA := 0.0
	for i, n := range m.fresh {
		m.fresh[i] = s.rightSize(n)
		costA += s.ty[m.fresh[i].t].price
	}

	switch {
	case bNode != nil && s.ty[bType].price < costA-priceEps:
		m.undoInserts()
		costB := s.ty[bType].price
		m.fresh = append(m.fresh[:0], bNode)
		m.commit()
		return true, costB < oldCost-priceEps
	case costA < oldCost-priceEps || (costA <= oldCost+priceEps && len(m.fresh) <= len(m.group)):
		m.commit()
		return true, costA < oldCost-priceEps
	}
	m.undoInserts()
	for _, n := range m.group {
		n.gone = false
	}
	return false, false
}

// insert puts the freed pods (m.rem, on the class stacks) into the room
// of the nodes not in the group, each pod where it leaves the least room
// (CPU, memory and GPU fractions summed), largest classes first.
func (m *mover) insert() {
	s := m.s
	m.touched = m.touched[:0]
	for _, j := range s.order {
		if m.rem[j] == 0 {
			continue
		}
		c := &s.cls[j]
		m.targets = m.targets[:0]
		for _, n := range m.nodes {
			if !n.gone && s.ty[n.t].admits.has(j) && fits(n, c) {
				m.targets = append(m.targets, n)
			}
		}
		for m.rem[j] > 0 && len(m.targets) > 0 {
			bi, bs := -1, 0.0
			for i := 0; i < len(m.targets); {
				n := m.targets[i]
				if !fits(n, c) {
					m.targets[i] = m.targets[len(m.targets)-1]
					m.targets = m.targets[:len(m.targets)-1]
					continue
				}
				ti := &s.ty[n.t]
				score := float64(n.cpu-c.cpu)*ti.invCPU + float64(n.mem-c.mem)*ti.invMem
				if ti.gpus > 0 {
					score += float64(freeMilli(n)-c.count*cluster.MilliGPU-c.milli) * ti.invGPU
				}
				if bi < 0 || score < bs {
					bi, bs = i, score
				}
				i++
			}
			if bi < 0 {
				break
			}
			n := m.targets[bi]
			gpus, ok := gpusFor(n.gpu, c)
			if !ok {
				continue // fits said yes; cannot happen
			}
			if !m.isTouched(n) {
				m.touched = append(m.touched, touch{n: n, keep: len(n.pods)})
			}
			st := s.stacks[j]
			p := st[len(st)-1]
			s.stacks[j] = st[:len(st)-1]
			s.add(n, p, j, gpus)
			m.rem[j]--
		}
	}
}

func (m *mover) isTouched(n *node) bool {
	for _, t := range m.touched {
		if t.n == n {
			return true
		}
	}
	return false
}

// undoInserts takes the pods insert put on other nodes off again and
// empties the class stacks.
func (m *mover) undoInserts() {
	s := m.s
	for _, t := range m.touched {
		for len(t.n.pods) > t.keep {
			s.dropLast(t.n)
		}
	}
	m.touched = m.touched[:0]
	for j := range s.stacks {
		s.stacks[j] = s.stacks[j][:0]
		m.rem[j] = 0
	}
}

// commit replaces the group with the fresh nodes.
func (m *mover) commit() {
	kept := m.nodes[:0]
	for _, n := range m.nodes {
		if !n.gone {
			kept = append(kept, n)
		}
	}
	m.nodes = append(kept, m.fresh...)
	m.fresh = m.fresh[:0]
	m.touched = m.touched[:0]
	for j := range m.s.stacks {
		m.s.stacks[j] = m.s.stacks[j][:0]
		m.rem[j] = 0
	}
}

// fits reports whether one pod of class c fits in what n has free.
func fits(n *node, c *class) bool {
	if n.cpu < c.cpu || n.mem < c.mem || n.slots < 1 {
		return false
	}
	_, ok := gpusFor(n.gpu, c)
	return ok
}

func freeMilli(n *node) int32 {
	s := int32(0)
	for _, f := range n.gpu {
		s += f
	}
	return s
}
