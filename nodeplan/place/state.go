package place

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
)

// Placement is where one pod went: the index of its node in the State
// and the GPUs it took there (none for a pod without GPUs).
type Placement struct {
	Node int
	GPUs []int
}

// State is a fixed set of nodes and what is placed on them. The order of
// the nodes is their priority: wherever a policy's scores tie, the node
// that comes first wins. Not safe for concurrent use.
type State struct {
	nodes []cluster.Node
	// models are the GPU models of the nodes, interned, and serves[k]
	// whether pods' GPU requests (nvidia.com/gpu) can use model k: a model
	// of another vendor is interned apart, under the same name, so that
	// fragmentation counts its GPUs as no typical pod's.
	models []string
	serves []bool
	// free summarises each node for the filter, in one compact array.
	free []nodeFree
	// version[i] is bumped by every placement on node i: policies cache
	// per version.
	version []uint32
	// model[i] is node i's index into models, -1 without GPUs.
	model []int

	usedGPUMilli, totalGPUMilli int
	placed                      int

	specs   map[specKey]int
	specTab []spec
}

// NewState returns the empty nodes of the given types, in that order,
// one node per type. The types are referenced, not copied.
func NewState(types []cluster.NodeType) *State {
	s := &State{
		nodes:   make([]cluster.Node, len(types)),
		model:   make([]int, len(types)),
		free:    make([]nodeFree, len(types)),
		version: make([]uint32, len(types)),
		specs:   map[specKey]int{},
	}
	type modelKey struct{ name, resource string }
	idx := map[modelKey]int{}
	for i := range types {
		t := &types[i]
		s.nodes[i] = *cluster.NewNode(t)
		s.model[i] = -1
		if t.GPUs > 0 {
			mk := modelKey{name: t.GPUModel}
			serves := t.ServesGPURequests()
			if !serves {
				mk.resource = t.GPUResource
			}
			k, ok := idx[mk]
			if !ok {
				k = len(s.models)
				idx[mk] = k
				s.models = append(s.models, t.GPUModel)
				s.serves = append(s.serves, serves)
			}
			s.model[i] = k
		}
		// Admits, not the filter, knows which vendor's GPUs a request can
		// use: nodes of another vendor ask it.
		s.free[i].filtered = len(t.Taints) > 0 || len(t.Labels) > 0 || (t.GPUs > 0 && !t.ServesGPURequests())
		s.free[i].model = int32(s.model[i])
		s.refresh(i)
		s.version[i] = 1
		s.totalGPUMilli += t.GPUs * cluster.MilliGPU
	}
	return s
}

// Len is the number of nodes.
func (s *State) Len() int { return len(s.nodes) }

// Node returns node i. The caller must not change it.
func (s *State) Node(i int) *cluster.Node { return &s.nodes[i] }

// UsedGPUMilli is the GPU milli placed pods take, over all nodes.
func (s *State) UsedGPUMilli() int { return s.usedGPUMilli }

// TotalGPUMilli is the GPU milli of all nodes: 1000 per GPU.
func (s *State) TotalGPUMilli() int { return s.totalGPUMilli }

// Placed is the number of pods placed.
func (s *State) Placed() int { return s.placed }

// Fits reports whether the pod may go on node i as it is now: the node
// admits it (GPU model, selectors, taints) and its requests fit what is
// free. O(GPUs of the node) at most.
func (s *State) Fits(i int, p *cluster.Pod) bool {
	sp := &s.specTab[s.spec(p)]
	return s.fits(i, p, sp)
}

func (s *State) fits(i int, p *cluster.Pod, sp *spec) bool {
	f := &s.free[i]
	if f.cpu < sp.cpu || f.mem < sp.mem || f.pods < 1 {
		return false
	}
	switch {
	case sp.count > 0:
		if int(f.fullyFree) < sp.count || !sp.allows(int(f.model)) {
			return false
		}
	case sp.milli > 0:
		if int(f.maxFree) < sp.milli || !sp.allows(int(f.model)) {
			return false
		}
	}
	return !f.filtered || s.nodes[i].Type.Admits(p)
}

// place puts the pod on node i's given GPUs; the policy has checked that
// it fits.
func (s *State) place(p *cluster.Pod, i int, gpus []int) (Placement, error) {
	if err := s.nodes[i].Place(p, gpus); err != nil {
		return Placement{}, err
	}
	s.usedGPUMilli += p.GPU.TotalMilli()
	s.placed++
	s.refresh(i)
	s.version[i]++
	return Placement{Node: i, GPUs: slices.Clone(gpus)}, nil
}

// nodeFree is what the filter reads of a node.
type nodeFree struct {
	cpu, mem           int64
	pods               int32
	fullyFree, maxFree int32 // GPUs nothing uses; the most milli free on one
	idle               int32 // GPU milli free
	model              int32
	filtered           bool // taints, labels or another vendor's GPUs: Admits must be asked too
}

func (s *State) refresh(i int) {
	n := &s.nodes[i]
	f := &s.free[i]
	ff, mx, idle := 0, 0, 0
	for _, g := range n.GPUFree {
		if g == cluster.MilliGPU {
			ff++
		}
		mx = max(mx, g)
		idle += g
	}
	f.idle = int32(idle)
	f.cpu, f.mem, f.pods = int64(n.Free.CPU), int64(n.Free.Memory), int32(min(n.Free.Pods, math.MaxInt32))
	f.fullyFree, f.maxFree = int32(ff), int32(mx)
}

// spec is what policies key their caches on: a pod's requests and
// allowed GPU models.
type spec struct {
	// noMem is the index of the same spec without memory, for policies
	// whose scores ignore memory.
	noMem        int
	cpu, mem     int64
	count, milli int
	// allowed[k] says whether model k may be used; nil allows all.
	allowed []bool
}

func (sp *spec) allows(model int) bool {
	if model < 0 {
		return false
	}
	return sp.allowed == nil || sp.allowed[model]
}

type specKey struct {
	cpu, mem     int64
	count, milli int
	models       string
}

// spec interns the pod's spec and returns its index.
func (s *State) spec(p *cluster.Pod) int {
	k := specKey{cpu: int64(p.CPU), mem: int64(p.Memory), count: p.GPU.Count, milli: p.GPU.Milli}
	if len(p.GPU.Models) > 0 {
		k.models = strings.Join(p.GPU.Models, "|")
	}
	if i, ok := s.specs[k]; ok {
		return i
	}
	return s.intern(k, p.GPU.Models)
}

func (s *State) intern(k specKey, models []string) int {
	noMem := -1
	if k.mem != -1 {
		nk := k
		nk.mem = -1
		var ok bool
		if noMem, ok = s.specs[nk]; !ok {
			noMem = s.intern(nk, models)
		}
	}
	sp := spec{noMem: noMem, cpu: k.cpu, mem: k.mem, count: k.count, milli: k.milli}
	if len(models) > 0 {
		sp.allowed = make([]bool, len(s.models))
		for m, name := range s.models {
			sp.allowed[m] = slices.Contains(models, name)
		}
	}
	if sp.noMem < 0 {
		sp.noMem = len(s.specTab)
	}
	s.specs[k] = len(s.specTab)
	s.specTab = append(s.specTab, sp)
	return len(s.specTab) - 1
}

// check rejects what no node can take as asked.
func check(p *cluster.Pod) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("place: %w", err)
	}
	return nil
}
