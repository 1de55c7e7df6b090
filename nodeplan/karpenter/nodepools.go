package karpenter

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/rightsizer/rightsizer/nodeplan/catalog"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
)

// Use is a node type a plan uses and how many nodes of it.
type Use struct {
	Type cluster.NodeType
	// Count is the number of nodes; 0 leaves the type out.
	Count int
}

// Metadata rightsizer puts on the NodePools.
const (
	// LabelManagedBy marks the pools as rightsizer's, with value
	// "rightsizer".
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// AnnotationPlannedNodes lists the nodes the plan put in the pool,
	// "TYPE=COUNT" joined by commas, sorted by type.
	AnnotationPlannedNodes = "rightsizer.io/planned-nodes"
	// AnnotationFallbackFor names the spot pool an on-demand pool stands
	// in for (Options.OnDemandFallback).
	AnnotationFallbackFor = "rightsizer.io/fallback-for"
)

// The node class every pool refers to is an EC2NodeClass.
const (
	nodeClassGroup = "karpenter.k8s.aws"
	nodeClassKind  = "EC2NodeClass"
)

// Bounds on the inputs, far above any real plan: they keep the sums of
// limits exact in a float64 and reject garbage.
const (
	maxCount     = 1 << 20
	maxVCPU      = 1 << 14
	maxMemoryMiB = 1 << 30 // 1 PiB
	maxGPUs      = 1 << 10
)

// nodeType is a Use read from its labels.
type nodeType struct {
	instanceType, capacity, arch string
	// category, family, size and generation are set for general types.
	category, family, size string
	generation             int
	vcpu, memoryMiB        int64
	// gpus > 0 with gpuName and gpuResource ("nvidia.com/gpu") for GPU types.
	gpus                 int
	gpuName, gpuResource string
	// taints are sorted by key, effect and value.
	taints []Taint
	count  int
}

// NodePools returns the NodePools for the node types a plan uses, sorted by
// name; the package documentation describes them. Types with Count 0 are
// left out; a type given twice counts once with the counts summed. Each
// type's Labels must carry the instance type, capacity type (or the
// NodeType's CapacityType: on-demand or spot), architecture, vCPUs and
// memory, plus the instance family and size for types without GPUs (and
// their category and generation, without which the pool has no category
// requirement or generation floor) and the GPU name for those with GPUs.
// No types give no pools. The error names every bad type and option.
// O(n log n) in the number of uses.
func NodePools(used []Use, opts Options) ([]NodePool, error) {
	o, err := opts.complete()
	if err != nil {
		return nil, err
	}
	var errs []error
	var types []nodeType
	type key struct{ instanceType, capacity string }
	index := map[key]int{}
	for _, u := range used {
		if u.Count == 0 {
			continue
		}
		t, err := readType(u)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		i, seen := index[key{t.instanceType, t.capacity}]
		switch {
		case !seen:
			index[key{t.instanceType, t.capacity}] = len(types)
			types = append(types, t)
		case !sameType(types[i], t):
			errs = append(errs, fmt.Errorf("node type %q (%s) given twice with different labels, GPUs or taints", t.instanceType, t.capacity))
		case types[i].count+t.count > maxCount:
			errs = append(errs, fmt.Errorf("node type %q (%s): more than %d nodes", t.instanceType, t.capacity, maxCount))
		default:
			types[i].count += t.count
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	groups := groupTypes(types, o.OnDemandFallback)
	pools := make([]NodePool, 0, len(groups))
	for _, g := range groups {
		p, err := g.pool(o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pools = append(pools, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(pools, func(a, b NodePool) int { return strings.Compare(a.Metadata.Name, b.Metadata.Name) })
	return pools, nil
}

// sameType reports whether a and b are the same type, counts aside.
func sameType(a, b nodeType) bool {
	a.count, b.count = 0, 0
	return reflect.DeepEqual(a, b)
}

// readType reads a Use's labels, reporting every problem.
func readType(u Use) (nodeType, error) {
	nt := &u.Type
	t := nodeType{count: u.Count, gpus: nt.GPUs}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	label := func(key string, required bool) string {
		v, ok := nt.Labels[key]
		switch {
		case !ok || v == "":
			if required {
				bad("label %s missing", key)
			}
		default:
			if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
				bad("label %s=%q: %s", key, v, strings.Join(msgs, "; "))
			}
		}
		return v
	}
	number := func(key string, required bool, lo, hi int64) int64 {
		v := label(key, required)
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			bad("label %s=%q: want an integer %d..%d", key, v, lo, hi)
		}
		return n
	}

	if u.Count < 0 || u.Count > maxCount {
		bad("count %d: want 0..%d nodes", u.Count, maxCount)
	}
	if t.gpus < 0 || t.gpus > maxGPUs {
		bad("%d GPUs: want 0..%d", t.gpus, maxGPUs)
	}
	gpu := t.gpus > 0
	t.instanceType = label(catalog.LabelInstanceType, true)
	t.arch = label(catalog.LabelArch, true)
	t.capacity = label(catalog.LabelCapacityType, false)
	switch {
	case t.capacity == "":
		t.capacity = nt.CapacityType
	case nt.CapacityType != "" && nt.CapacityType != t.capacity:
		bad("capacity type %q, but label %s=%q", nt.CapacityType, catalog.LabelCapacityType, t.capacity)
	}
	if t.capacity != catalog.CapacityTypeOnDemand && t.capacity != catalog.CapacityTypeSpot {
		bad("capacity type %q: want %s or %s", t.capacity, catalog.CapacityTypeOnDemand, catalog.CapacityTypeSpot)
	}
	t.vcpu = number(catalog.LabelInstanceCPU, true, 1, maxVCPU)
	t.memoryMiB = number(catalog.LabelInstanceMemory, true, 1, maxMemoryMiB)
	t.category = label(catalog.LabelInstanceCategory, false)
	t.family = label(catalog.LabelInstanceFamily, !gpu)
	t.size = label(catalog.LabelInstanceSize, !gpu)
	t.generation = int(number(catalog.LabelInstanceGeneration, false, 1, math.MaxInt32))
	if gpu {
		t.gpuName = label(catalog.LabelInstanceGPUName, true)
		if n := number(catalog.LabelInstanceGPUCount, false, 1, maxGPUs); n != 0 && n != int64(t.gpus) {
			bad("label %s=%d, but the node type has %d GPUs", catalog.LabelInstanceGPUCount, n, t.gpus)
		}
		m := cmp.Or(nt.Labels[catalog.LabelInstanceGPUManufacturer], "nvidia")
		var ok bool
		if t.gpuResource, ok = catalog.GPUResource(m); !ok {
			bad("label %s=%q: want nvidia or amd", catalog.LabelInstanceGPUManufacturer, m)
		} else if nt.GPUResource != "" && nt.GPUResource != t.gpuResource {
			bad("GPU resource %q, but label %s=%q", nt.GPUResource, catalog.LabelInstanceGPUManufacturer, m)
		}
	}
	for _, taint := range nt.Taints {
		tt, err := readTaint(taint)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.taints = append(t.taints, tt)
	}
	slices.SortFunc(t.taints, compareTaints)
	t.taints = slices.Compact(t.taints)
	if err := errors.Join(errs...); err != nil {
		name := nt.Name
		if t.instanceType != "" {
			name = t.instanceType
		}
		return nodeType{}, fmt.Errorf("node type %q: %w", name, err)
	}
	return t, nil
}

// readTaint checks a taint against the CRD's schema.
func readTaint(t cluster.Taint) (Taint, error) {
	var msgs []string
	if t.Key == "" {
		msgs = append(msgs, "empty key")
	} else {
		msgs = append(msgs, validation.IsQualifiedName(t.Key)...)
	}
	if t.Value != "" {
		for _, m := range validation.IsQualifiedName(t.Value) {
			msgs = append(msgs, "value: "+m)
		}
	}
	switch t.Effect {
	case "NoSchedule", "PreferNoSchedule", "NoExecute":
	default:
		msgs = append(msgs, "effect: want NoSchedule, PreferNoSchedule or NoExecute")
	}
	if len(msgs) > 0 {
		return Taint{}, fmt.Errorf("taint %s=%s:%s: %s", t.Key, t.Value, t.Effect, strings.Join(msgs, "; "))
	}
	return Taint{Key: t.Key, Value: t.Value, Effect: t.Effect}, nil
}

func compareTaints(a, b Taint) int {
	if c := strings.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	if c := strings.Compare(a.Effect, b.Effect); c != 0 {
		return c
	}
	return strings.Compare(a.Value, b.Value)
}

// group is the types of one pool: a class (general, or one GPU name) and a
// capacity type.
type group struct {
	gpuName, capacity string
	// planned are the types the plan put in the pool; fallback the types
	// of the spot pool it stands in for (Options.OnDemandFallback).
	planned, fallback []nodeType
}

// groupTypes groups types by class and capacity type, in no particular
// order.
func groupTypes(types []nodeType, onDemandFallback bool) []*group {
	type key struct{ gpuName, capacity string }
	byKey := map[key]*group{}
	var groups []*group
	get := func(k key) *group {
		g := byKey[k]
		if g == nil {
			g = &group{gpuName: k.gpuName, capacity: k.capacity}
			byKey[k] = g
			groups = append(groups, g)
		}
		return g
	}
	for _, t := range types {
		g := get(key{t.gpuName, t.capacity})
		g.planned = append(g.planned, t)
	}
	if onDemandFallback {
		for _, g := range slices.Clone(groups) {
			if g.capacity == catalog.CapacityTypeSpot {
				od := get(key{g.gpuName, catalog.CapacityTypeOnDemand})
				od.fallback = g.planned
			}
		}
	}
	return groups
}

// name is the pool's name without the prefix.
func (g *group) name() string {
	n := "general"
	if g.gpuName != "" {
		n = "gpu-" + g.gpuName
	}
	if g.capacity == catalog.CapacityTypeSpot {
		n += "-spot"
	}
	return n
}

// pool builds the group's NodePool.
func (g *group) pool(o Options) (NodePool, error) {
	name := o.NamePrefix + g.name()
	if err := checkPoolName(name); err != nil {
		return NodePool{}, err
	}
	all := append(slices.Clone(g.planned), g.fallback...)
	taints, err := g.taints(all)
	if err != nil {
		return NodePool{}, fmt.Errorf("pool %q: %w", name, err)
	}
	policy, weight := o.CPU, o.OnDemandWeight
	if g.gpuName != "" {
		policy = o.GPU
	}
	if g.capacity == catalog.CapacityTypeSpot {
		weight = o.SpotWeight
	}
	meta := ObjectMeta{Name: name, Labels: map[string]string{LabelManagedBy: "rightsizer"}}
	annotations := map[string]string{}
	if len(g.planned) > 0 {
		annotations[AnnotationPlannedNodes] = plannedNodes(g.planned)
	}
	if len(g.fallback) > 0 {
		annotations[AnnotationFallbackFor] = o.NamePrefix + (&group{gpuName: g.gpuName, capacity: catalog.CapacityTypeSpot}).name()
	}
	if len(annotations) > 0 {
		meta.Annotations = annotations
	}
	return NodePool{
		APIVersion: APIVersion,
		Kind:       Kind,
		Metadata:   meta,
		Spec: NodePoolSpec{
			Template: NodeClaimTemplate{Spec: NodeClaimTemplateSpec{
				Taints:       taints,
				Requirements: g.requirements(o, all),
				NodeClassRef: NodeClassReference{Group: nodeClassGroup, Kind: nodeClassKind, Name: o.NodeClassName},
				ExpireAfter:  policy.ExpireAfter,
			}},
			Disruption: Disruption{
				ConsolidationPolicy: policy.ConsolidationPolicy,
				ConsolidateAfter:    policy.ConsolidateAfter,
				Budgets:             append([]Budget{{Nodes: policy.Nodes}}, policy.Windows...),
			},
			Limits: limits(all, o.LimitHeadroom),
			Weight: weight,
		},
	}, nil
}

// taints returns the pool's taints: those all its types carry, which must
// be the same, plus the GPU taint for a GPU pool unless the types carry a
// taint with its key that keeps pods off (NoSchedule or NoExecute).
func (g *group) taints(all []nodeType) ([]Taint, error) {
	taints := all[0].taints
	for _, t := range all[1:] {
		if !slices.Equal(t.taints, taints) {
			return nil, fmt.Errorf("node types %q and %q carry different taints: a pool taints all its nodes alike",
				all[0].instanceType, t.instanceType)
		}
		if t.gpuResource != all[0].gpuResource {
			return nil, fmt.Errorf("node types %q and %q have GPUs of different manufacturers", all[0].instanceType, t.instanceType)
		}
	}
	taints = slices.Clone(taints)
	keepsOff := func(t Taint) bool {
		return t.Key == all[0].gpuResource && (t.Effect == "NoSchedule" || t.Effect == "NoExecute")
	}
	if res := all[0].gpuResource; g.gpuName != "" && !slices.ContainsFunc(taints, keepsOff) {
		taints = append(taints, Taint{Key: res, Value: "true", Effect: "NoSchedule"})
		slices.SortFunc(taints, compareTaints)
	}
	return taints, nil
}

// requirements derives the pool's requirements from its types.
func (g *group) requirements(o Options, all []nodeType) []Requirement {
	values := func(f func(nodeType) string) []string {
		var vs []string
		for _, t := range all {
			vs = append(vs, f(t))
		}
		slices.Sort(vs)
		return slices.Compact(vs)
	}
	// minValues asks a spot pool for diversity, where n values allow it.
	minValues := func(n int) *int {
		if g.capacity != catalog.CapacityTypeSpot || o.SpotMinValues == 0 || n < o.SpotMinValues {
			return nil
		}
		m := o.SpotMinValues
		return &m
	}
	in := func(key string, vs []string, mv *int) Requirement {
		return Requirement{Key: key, Operator: "In", Values: vs, MinValues: mv}
	}
	reqs := []Requirement{
		in(catalog.LabelCapacityType, []string{g.capacity}, nil),
		in(catalog.LabelArch, values(func(t nodeType) string { return t.arch }), nil),
	}
	if g.gpuName != "" {
		types := values(func(t nodeType) string { return t.instanceType })
		return append(reqs,
			in(catalog.LabelInstanceGPUName, []string{g.gpuName}, nil),
			in(catalog.LabelInstanceType, types, minValues(len(types))))
	}
	// Category and generation are constraints only when every type has
	// them (the catalog leaves them out of names it cannot parse), and
	// AnyFamily only widens a pool they both bound.
	categorised := !slices.ContainsFunc(all, func(t nodeType) bool { return t.category == "" || t.generation == 0 })
	if categorised {
		reqs = append(reqs, in(catalog.LabelInstanceCategory, values(func(t nodeType) string { return t.category }), nil))
	}
	if o.AnyFamily && categorised {
		if mv := minValues(o.SpotMinValues); mv != nil {
			reqs = append(reqs, Requirement{Key: catalog.LabelInstanceFamily, Operator: "Exists", MinValues: mv})
		}
	} else {
		families := values(func(t nodeType) string { return t.family })
		reqs = append(reqs, in(catalog.LabelInstanceFamily, families, minValues(len(families))))
	}
	if categorised {
		floor := slices.MinFunc(all, func(a, b nodeType) int { return a.generation - b.generation }).generation
		// Gt floor−1 rather than Gte floor: Gt works with every Karpenter v1.
		reqs = append(reqs, Requirement{Key: catalog.LabelInstanceGeneration, Operator: "Gt", Values: []string{strconv.Itoa(floor - 1)}})
	}
	return append(reqs, in(catalog.LabelInstanceSize, values(func(t nodeType) string { return t.size }), nil))
}

// limits returns the types' capacity plus headroom, rounded up: vCPUs,
// memory in whole GiB, and GPUs. The headroom is the larger of headroom ×
// the capacity and one node of the largest type, so that a replacement
// node fits under the limits even in a small pool; none when headroom is 0.
func limits(all []nodeType, headroom float64) map[string]string {
	var cpu, mem, gpus, maxCPU, maxMem, maxGPUs float64
	res := ""
	for _, t := range all {
		n := float64(t.count)
		cpu += n * float64(t.vcpu)
		mem += n * float64(t.memoryMiB)
		gpus += n * float64(t.gpus)
		maxCPU = max(maxCPU, float64(t.vcpu))
		maxMem = max(maxMem, float64(t.memoryMiB))
		maxGPUs = max(maxGPUs, float64(t.gpus))
		if t.gpuResource != "" {
			res = t.gpuResource
		}
	}
	limit := func(total, node float64) string {
		if headroom > 0 {
			total += max(headroom*total, node)
		}
		return strconv.FormatFloat(roundUp(total), 'f', 0, 64)
	}
	l := map[string]string{
		"cpu":    limit(cpu, maxCPU),
		"memory": limit(mem/1024, maxMem/1024) + "Gi",
	}
	if res != "" {
		l[res] = limit(gpus, maxGPUs)
	}
	return l
}

// roundUp rounds x up to an integer, taking x within a relative 1e-9 of an
// integer as that integer: 10 × 1.2 is 12, not 13.
func roundUp(x float64) float64 {
	if r := math.Round(x); math.Abs(x-r) <= 1e-9*math.Max(1, math.Abs(x)) {
		return r
	}
	return math.Ceil(x)
}

// plannedNodes formats the planned types for AnnotationPlannedNodes.
func plannedNodes(types []nodeType) string {
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = t.instanceType + "=" + strconv.Itoa(t.count)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}
