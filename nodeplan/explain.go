package nodeplan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
)

// constraint is one condition of cluster.NodeType.Admits, checked alone.
type constraint struct {
	name string
	ok   func(t *cluster.NodeType, p *cluster.Pod) bool
}

var constraints = []constraint{
	{"cpu", func(t *cluster.NodeType, p *cluster.Pod) bool { return t.Allocatable.CPU >= p.CPU }},
	{"memory", func(t *cluster.NodeType, p *cluster.Pod) bool { return t.Allocatable.Memory >= p.Memory }},
	{"pod slots", func(t *cluster.NodeType, _ *cluster.Pod) bool { return t.Allocatable.Pods >= 1 }},
	{"GPU count", func(t *cluster.NodeType, p *cluster.Pod) bool {
		return !p.GPU.Any() || t.GPUs >= max(p.GPU.Count, 1)
	}},
	{"GPU vendor", func(t *cluster.NodeType, p *cluster.Pod) bool {
		return !p.GPU.Any() || (t.GPUs > 0 && t.ServesGPURequests())
	}},
	{"GPU model", func(t *cluster.NodeType, p *cluster.Pod) bool {
		return !p.GPU.Any() || len(p.GPU.Models) == 0 || (t.GPUs > 0 && slices.Contains(p.GPU.Models, t.GPUModel))
	}},
	{"node selector", func(t *cluster.NodeType, p *cluster.Pod) bool {
		for k, v := range p.NodeSelector {
			if got, ok := t.Labels[k]; !ok || got != v {
				return false
			}
		}
		return true
	}},
	{"taints", func(t *cluster.NodeType, p *cluster.Pod) bool {
		probe := cluster.NodeType{Taints: t.Taints, Allocatable: cluster.Resources{Pods: 1}}
		return probe.Admits(&cluster.Pod{Tolerations: p.Tolerations})
	}},
}

// explain says why no node type admits p: the constraints no type meets,
// or, when each is met by some type, the type that fails the fewest and
// which. O(T) for T types.
func explain(p *cluster.Pod, types []cluster.NodeType) string {
	if len(types) == 0 {
		return "no node types"
	}
	met := make([]bool, len(constraints))
	closest, closestFails := -1, []string(nil)
	for i := range types {
		var fails []string
		for k, c := range constraints {
			if c.ok(&types[i], p) {
				met[k] = true
			} else {
				fails = append(fails, c.name)
			}
		}
		if closest < 0 || len(fails) < len(closestFails) {
			closest, closestFails = i, fails
		}
	}
	var never []string
	for k, c := range constraints {
		if !met[k] {
			never = append(never, neverMet(c.name, p, types))
		}
	}
	if len(never) > 0 {
		return "no node type admits it: " + strings.Join(never, "; ")
	}
	return fmt.Sprintf("no node type admits it: each constraint is met by some type but none meets all; the closest, %s, fails %s",
		typeLabel(&types[closest]), strings.Join(closestFails, ", "))
}

// neverMet words a constraint no type meets.
func neverMet(name string, p *cluster.Pod, types []cluster.NodeType) string {
	switch name {
	case "cpu":
		most := types[0].Allocatable.CPU
		for i := range types {
			most = max(most, types[i].Allocatable.CPU)
		}
		return fmt.Sprintf("cpu: requests %v, the most any type allocates is %v", p.CPU, most)
	case "memory":
		most := types[0].Allocatable.Memory
		for i := range types {
			most = max(most, types[i].Allocatable.Memory)
		}
		return fmt.Sprintf("memory: requests %v, the most any type allocates is %v", p.Memory, most)
	case "pod slots":
		return "pod slots: no type allows a pod"
	case "GPU count":
		most := 0
		for i := range types {
			most = max(most, types[i].GPUs)
		}
		return fmt.Sprintf("GPU count: needs %d, the most on any type is %d", max(p.GPU.Count, 1), most)
	case "GPU vendor":
		var others []string
		for i := range types {
			if types[i].GPUs > 0 && !slices.Contains(others, types[i].GPUResource) {
				others = append(others, types[i].GPUResource)
			}
		}
		if len(others) == 0 {
			return "GPU vendor: wants " + cluster.NVIDIAGPU + ", no type has GPUs"
		}
		return fmt.Sprintf("GPU vendor: wants %s, the types' GPUs are %v", cluster.NVIDIAGPU, others)
	case "GPU model":
		return fmt.Sprintf("GPU model: wants one of %v, no type has one", p.GPU.Models)
	case "node selector":
		return fmt.Sprintf("node selector: no type has the labels %v", p.NodeSelector)
	}
	return "taints: it tolerates the taints of no type"
}

func typeLabel(t *cluster.NodeType) string {
	if t.CapacityType == "" {
		return t.Name
	}
	return t.Name + " (" + t.CapacityType + ")"
}
