// Package cluster is the model node plans are made of: the pods to place
// (their requests and where they may run), the node types they may run on
// (what pods can use of each, its GPUs and its price) and the mutable state
// of one node while pods are placed on it.
//
// GPUs come in two kinds of request, as in the Alibaba GPU trace and the
// FGD paper: whole GPUs (Count ≥ 1, each GPU the pod's alone, all on one
// node) and a share of one GPU (Milli in 1..999, several pods on one GPU
// while their shares sum to at most 1000). A GPU is tracked as the milli
// left free on it.
//
// NodeType and Pod are values; Node is not safe for concurrent use.
package cluster

import (
	"errors"
	"fmt"
	"slices"

	"github.com/rightsizer/rightsizer/recommender"
)

// MilliGPU is one GPU in thousandths: a whole GPU is 1000.
const MilliGPU = 1000

// NVIDIAGPU is the extended resource a pod's GPURequest is for: pod files
// read only nvidia.com/gpu, so a node whose GPUs its device plugin
// advertises under another name (amd.com/gpu) cannot serve one.
const NVIDIAGPU = "nvidia.com/gpu"

// Resources are the amounts a node offers and a pod requests, besides GPUs.
type Resources struct {
	CPU    recommender.MilliCPU
	Memory recommender.Bytes
	// Pods is a count of pods; a pod requests 1.
	Pods int
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{CPU: r.CPU + o.CPU, Memory: r.Memory + o.Memory, Pods: r.Pods + o.Pods}
}

// Sub returns r − o.
func (r Resources) Sub(o Resources) Resources {
	return Resources{CPU: r.CPU - o.CPU, Memory: r.Memory - o.Memory, Pods: r.Pods - o.Pods}
}

// Covers reports whether r holds at least o in every resource.
func (r Resources) Covers(o Resources) bool {
	return r.CPU >= o.CPU && r.Memory >= o.Memory && r.Pods >= o.Pods
}

// GPURequest is a pod's GPU request: Count whole GPUs, or Milli
// thousandths of one GPU shared with others; never both. The zero value
// asks for no GPU.
type GPURequest struct {
	// Count is the whole GPUs the pod needs, all on its node.
	Count int
	// Milli is the share of one GPU the pod needs, 1..999, with Count 0.
	Milli int
	// Models are the GPU models the pod may run on (NodeType.GPUModel);
	// empty means any.
	Models []string
}

// Any reports whether the pod asks for a GPU at all.
func (g GPURequest) Any() bool { return g.Count > 0 || g.Milli > 0 }

// TotalMilli is the GPU the request takes in milli: Count×1000 or Milli.
func (g GPURequest) TotalMilli() int {
	if g.Count > 0 {
		return g.Count * MilliGPU
	}
	return g.Milli
}

// PerGPU is the request as GPU count and milli of each GPU, the way the
// Alibaba trace and the FGD paper's simulator write it (num_gpu,
// gpu_milli): Count whole GPUs are (Count, 1000), a share is (1, Milli),
// no GPU is (0, 0).
func (g GPURequest) PerGPU() (gpus, milli int) {
	switch {
	case g.Count > 0:
		return g.Count, MilliGPU
	case g.Milli > 0:
		return 1, g.Milli
	}
	return 0, 0
}

// Taint is a node taint; only NoSchedule and NoExecute keep pods off.
type Taint struct {
	Key, Value string
	// Effect is NoSchedule, PreferNoSchedule or NoExecute.
	Effect string
}

// Toleration is a pod's toleration, with Kubernetes' matching rules: an
// empty Key with Operator Exists tolerates every taint, an empty Effect
// every effect, and Operator Equal (the default when empty) needs the
// taint's value.
type Toleration struct {
	Key, Operator, Value, Effect string
}

// Tolerates reports whether the toleration tolerates the taint.
func (t Toleration) Tolerates(taint Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key == "" {
		return t.Operator == "Exists"
	}
	if t.Key != taint.Key {
		return false
	}
	return t.Operator == "Exists" || t.Value == taint.Value
}

// Pod is one pod to place.
type Pod struct {
	// Name identifies the pod in reports, e.g. "namespace/name".
	Name string
	// CPU and Memory are its requests; every pod also takes one pod slot.
	CPU    recommender.MilliCPU
	Memory recommender.Bytes
	GPU    GPURequest
	// NodeSelector are labels its node must carry with these values.
	NodeSelector map[string]string
	Tolerations  []Toleration
}

// Resources returns what the pod takes of a node besides GPUs.
func (p *Pod) Resources() Resources {
	return Resources{CPU: p.CPU, Memory: p.Memory, Pods: 1}
}

// Validate reports requests no node can satisfy as stated: negative
// amounts, both kinds of GPU request, a share outside 1..999.
func (p *Pod) Validate() error {
	var errs []error
	if p.CPU < 0 || p.Memory < 0 {
		errs = append(errs, fmt.Errorf("negative request (cpu %d m, memory %d bytes)", p.CPU, p.Memory))
	}
	switch g := p.GPU; {
	case g.Count < 0 || g.Milli < 0:
		errs = append(errs, errors.New("negative GPU request"))
	case g.Count > 0 && g.Milli > 0:
		errs = append(errs, errors.New("asks for whole GPUs and a GPU share at once"))
	case g.Milli >= MilliGPU:
		errs = append(errs, fmt.Errorf("GPU share %d milli: a share is 1..999 milli; ask for whole GPUs instead", g.Milli))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pod %q: %w", p.Name, err)
	}
	return nil
}

// NodeType is a kind of node a plan may use: an instance type with a
// capacity type and price, or one concrete node of an existing cluster.
type NodeType struct {
	// Name is the instance type ("m7i.xlarge") or node name.
	Name string
	// CapacityType is "on-demand" or "spot" (Karpenter's values).
	CapacityType string
	// PricePerHour is in USD per hour.
	PricePerHour float64
	// Allocatable is what pods can request on one node: the instance's
	// allocatable after kubelet and system reservations, less the
	// DaemonSet pods every node runs.
	Allocatable Resources
	// GPUs is the node's GPU count; GPUModel and GPUMemory (bytes per
	// GPU) say which.
	GPUs      int
	GPUModel  string
	GPUMemory recommender.Bytes
	// GPUResource is the extended resource the node's GPUs are advertised
	// as ("amd.com/gpu"); empty means NVIDIAGPU.
	GPUResource string
	// Labels are the node's labels, matched against pods' node selectors.
	Labels map[string]string
	Taints []Taint
}

// ServesGPURequests reports whether a pod's GPURequest (NVIDIAGPU) can
// be met by the node's GPUs, whatever their number.
func (t *NodeType) ServesGPURequests() bool {
	return t.GPUResource == "" || t.GPUResource == NVIDIAGPU
}

// Admits reports whether a pod may run on an empty node of the type: its
// selector and tolerations match, its GPU model is allowed and its
// requests fit the empty node. It does not allocate.
func (t *NodeType) Admits(p *Pod) bool {
	if !t.Allocatable.Covers(p.Resources()) {
		return false
	}
	if g := p.GPU; g.Any() {
		if t.GPUs < max(g.Count, 1) || !t.ServesGPURequests() {
			return false
		}
		if len(g.Models) > 0 && !slices.Contains(g.Models, t.GPUModel) {
			return false
		}
	}
	for k, v := range p.NodeSelector {
		if got, ok := t.Labels[k]; !ok || got != v {
			return false
		}
	}
	for _, taint := range t.Taints {
		if taint.Effect == "PreferNoSchedule" {
			continue
		}
		if !slices.ContainsFunc(p.Tolerations, func(tol Toleration) bool { return tol.Tolerates(taint) }) {
			return false
		}
	}
	return true
}

// Node is one node of a type with the pods placed on it so far. Not safe
// for concurrent use.
type Node struct {
	Type *NodeType
	// Free is what is left of the type's allocatable.
	Free Resources
	// GPUFree is the milli left on each GPU (1000 when none is used).
	GPUFree []int
}

// NewNode returns an empty node of the type.
func NewNode(t *NodeType) *Node {
	n := &Node{Type: t, Free: t.Allocatable, GPUFree: make([]int, t.GPUs)}
	for i := range n.GPUFree {
		n.GPUFree[i] = MilliGPU
	}
	return n
}

// Clone returns a deep copy that shares only the type.
func (n *Node) Clone() *Node {
	return &Node{Type: n.Type, Free: n.Free, GPUFree: slices.Clone(n.GPUFree)}
}

// Empty reports whether nothing is placed on the node.
func (n *Node) Empty() bool {
	return n.Free == n.Type.Allocatable && n.FreeGPUMilli() == n.Type.GPUs*MilliGPU
}

// FreeGPUMilli is the milli left over all GPUs.
func (n *Node) FreeGPUMilli() int {
	s := 0
	for _, f := range n.GPUFree {
		s += f
	}
	return s
}

// FullyFreeGPUs is the number of GPUs nothing uses.
func (n *Node) FullyFreeGPUs() int {
	c := 0
	for _, f := range n.GPUFree {
		if f == MilliGPU {
			c++
		}
	}
	return c
}

// FitsFree reports whether the pod's requests fit what is free: CPU,
// memory, a pod slot and its GPUs (Count fully free GPUs, or one GPU with
// Milli free). It does not check Admits.
func (n *Node) FitsFree(p *Pod) bool {
	if !n.Free.Covers(p.Resources()) {
		return false
	}
	switch g := p.GPU; {
	case g.Count > 0:
		return n.FullyFreeGPUs() >= g.Count
	case g.Milli > 0:
		for _, f := range n.GPUFree {
			if f >= g.Milli {
				return true
			}
		}
		return false
	}
	return true
}

// BestFitGPUs returns the GPUs the pod would take, appended to dst[:0]:
// for a share the GPU with the least free milli that still holds it (the
// first such GPU on ties), for whole GPUs the first Count fully free GPUs,
// none for a pod without GPUs. False when its GPUs do not fit.
func (n *Node) BestFitGPUs(p *Pod, dst []int) ([]int, bool) {
	dst = dst[:0]
	switch g := p.GPU; {
	case g.Count > 0:
		for i, f := range n.GPUFree {
			if f == MilliGPU {
				dst = append(dst, i)
				if len(dst) == g.Count {
					return dst, true
				}
			}
		}
		return dst, false
	case g.Milli > 0:
		best := -1
		for i, f := range n.GPUFree {
			if f >= g.Milli && (best < 0 || f < n.GPUFree[best]) {
				best = i
			}
		}
		if best < 0 {
			return dst, false
		}
		return append(dst, best), true
	}
	return dst, true
}

// Place takes the pod's requests from the node, its GPU requests from
// the given GPUs (as BestFitGPUs returns them). It fails, changing
// nothing, when they do not fit.
func (n *Node) Place(p *Pod, gpus []int) error {
	if !n.Free.Covers(p.Resources()) {
		return fmt.Errorf("pod %q does not fit node type %q: %v free, %v asked", p.Name, n.Type.Name, n.Free, p.Resources())
	}
	if err := n.checkGPUs(p, gpus); err != nil {
		return err
	}
	n.Free = n.Free.Sub(p.Resources())
	per := p.GPU.Milli
	if p.GPU.Count > 0 {
		per = MilliGPU
	}
	for _, i := range gpus {
		n.GPUFree[i] -= per
	}
	return nil
}

// Remove gives back what Place took for the pod on the given GPUs.
func (n *Node) Remove(p *Pod, gpus []int) {
	n.Free = n.Free.Add(p.Resources())
	per := p.GPU.Milli
	if p.GPU.Count > 0 {
		per = MilliGPU
	}
	for _, i := range gpus {
		n.GPUFree[i] += per
	}
}

func (n *Node) checkGPUs(p *Pod, gpus []int) error {
	g := p.GPU
	want := 0
	switch {
	case g.Count > 0:
		want = g.Count
	case g.Milli > 0:
		want = 1
	}
	if len(gpus) != want {
		return fmt.Errorf("pod %q needs %d GPUs, given %d", p.Name, want, len(gpus))
	}
	for j, i := range gpus {
		if i < 0 || i >= len(n.GPUFree) || slices.Contains(gpus[:j], i) {
			return fmt.Errorf("pod %q: GPU %d is not a distinct GPU of node type %q", p.Name, i, n.Type.Name)
		}
		if (g.Count > 0 && n.GPUFree[i] != MilliGPU) || (g.Milli > 0 && n.GPUFree[i] < g.Milli) {
			return fmt.Errorf("pod %q: GPU %d has %d milli free", p.Name, i, n.GPUFree[i])
		}
	}
	return nil
}
