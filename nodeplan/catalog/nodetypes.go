package catalog

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// The labels NodeTypes puts on each node type: Kubernetes' well-known
// labels, Karpenter's capacity type and the Karpenter AWS provider's
// instance labels, with the values that provider gives them. The GPU
// labels are only on instance types with GPUs; category and generation
// only on names of the form Karpenter parses (LabelInstanceCategory).
const (
	// LabelInstanceType is the instance type, "m5.large".
	LabelInstanceType = "node.kubernetes.io/instance-type"
	// LabelCapacityType is CapacityTypeOnDemand or CapacityTypeSpot.
	LabelCapacityType = "karpenter.sh/capacity-type"
	// LabelArch is "amd64" or "arm64".
	LabelArch = "kubernetes.io/arch"
	// LabelInstanceCategory is the letters that open the name ("m" of
	// m7i-flex.large, "inf" of inf2.xlarge), as Karpenter reads them with
	// the regular expression `(^[a-z]+)(\-[0-9]+tb)?([0-9]+).*\.`.
	LabelInstanceCategory = "karpenter.k8s.aws/instance-category"
	// LabelInstanceFamily is the part of the name before the dot, "m5".
	LabelInstanceFamily = "karpenter.k8s.aws/instance-family"
	// LabelInstanceGeneration is the number after the category, "5".
	LabelInstanceGeneration = "karpenter.k8s.aws/instance-generation"
	// LabelInstanceSize is the part of the name after the dot, "large".
	LabelInstanceSize = "karpenter.k8s.aws/instance-size"
	// LabelInstanceCPU is the vCPU count.
	LabelInstanceCPU = "karpenter.k8s.aws/instance-cpu"
	// LabelInstanceMemory is the memory in MiB.
	LabelInstanceMemory = "karpenter.k8s.aws/instance-memory"
	// LabelInstanceGPUName is the GPU as the catalog spells it, "a10g".
	LabelInstanceGPUName = "karpenter.k8s.aws/instance-gpu-name"
	// LabelInstanceGPUCount is the GPUs per instance.
	LabelInstanceGPUCount = "karpenter.k8s.aws/instance-gpu-count"
	// LabelInstanceGPUMemory is one GPU's memory in MiB.
	LabelInstanceGPUMemory = "karpenter.k8s.aws/instance-gpu-memory"
	// LabelInstanceGPUManufacturer is "nvidia", or "amd" for Radeon GPUs.
	LabelInstanceGPUManufacturer = "karpenter.k8s.aws/instance-gpu-manufacturer"
)

// The capacity types, as Karpenter spells them.
const (
	CapacityTypeOnDemand = "on-demand"
	CapacityTypeSpot     = "spot"
)

// GPUTaintKey is the key of the taint NodeTypeOptions.GPUTaint puts on
// NVIDIA GPU node types (AMD ones get "amd.com/gpu"): the extended
// resource's name, as the GPU operators and EKS's GPU AMIs use it.
const GPUTaintKey = cluster.NVIDIAGPU

// ErrNoNodeTypes is returned, wrapped with the reason, when no instance
// type is left as a node type.
var ErrNoNodeTypes = errors.New("no node types")

// instanceTypeScheme is Karpenter's AWS provider's reading of an
// instance type's name: category, an optional "-<n>tb" and generation.
var instanceTypeScheme = regexp.MustCompile(`(^[a-z]+)(\-[0-9]+tb)?([0-9]+).*\.`)

// NodeTypeOptions choose and shape the node types of a catalog. The zero
// value gives every instance type as on-demand, with the catalog's
// allocatable, no taints.
type NodeTypeOptions struct {
	// DaemonSetOverhead is what the DaemonSet pods every node runs
	// request (CPU, memory, and one pod slot each): it is taken from each
	// type's allocatable. A type it leaves without CPU, memory or a pod
	// slot is dropped (Catalog.Dropped names them). Not negative.
	DaemonSetOverhead cluster.Resources
	// MaxPods caps the pods per node, DaemonSet pods included, as the
	// kubelet's maxPods does; 0 keeps the catalog's alloc_pods. The
	// catalog's allocatable memory was computed for alloc_pods (AWS
	// reserves 11 MiB per pod), so a lower cap understates memory
	// slightly. Not negative.
	MaxPods int
	// CapacityTypes are CapacityTypeOnDemand and/or CapacityTypeSpot;
	// empty means on-demand only. An instance type is a spot node type
	// only when it has a spot price (Instance.SpotPricePerHour, which
	// Catalog.WithOverrides sets from spot prices or a spot discount).
	CapacityTypes []string
	// GPUTaint puts the taint GPUTaintKey=true:NoSchedule on node types
	// with GPUs, as GPU NodePools should, so that only pods that
	// tolerate it land there.
	GPUTaint bool
	// Families, Categories and Arch keep only instance types of these
	// families ("m7i"), categories ("m", LabelInstanceCategory) and
	// architectures ("amd64", "arm64"); empty keeps all. A family or
	// category that no instance type of the catalog has is an error, as
	// is an architecture other than those two.
	Families, Categories, Arch []string
}

// validate checks the options against the catalog and returns the
// capacity types to offer, in order.
func (o *NodeTypeOptions) validate(c *Catalog) ([]string, error) {
	var errs []error
	if ov := o.DaemonSetOverhead; ov.CPU < 0 || ov.Memory < 0 || ov.Pods < 0 {
		errs = append(errs, fmt.Errorf("negative DaemonSet overhead (cpu %dm, memory %d bytes, %d pods)", ov.CPU, ov.Memory, ov.Pods))
	}
	if o.MaxPods < 0 {
		errs = append(errs, fmt.Errorf("max pods %d: want 0 (the catalog's) or more", o.MaxPods))
	}
	capacity := []string{CapacityTypeOnDemand}
	if len(o.CapacityTypes) > 0 {
		capacity = nil
		for _, ct := range []string{CapacityTypeOnDemand, CapacityTypeSpot} {
			if slices.Contains(o.CapacityTypes, ct) {
				capacity = append(capacity, ct)
			}
		}
		for _, ct := range o.CapacityTypes {
			if ct != CapacityTypeOnDemand && ct != CapacityTypeSpot {
				errs = append(errs, fmt.Errorf("capacity type %q: want %s or %s", ct, CapacityTypeOnDemand, CapacityTypeSpot))
			}
		}
	}
	families, categories := map[string]bool{}, map[string]bool{}
	for _, in := range c.instances {
		families[in.Family] = true
		if cat, _, ok := categoryGeneration(in.Name); ok {
			categories[cat] = true
		}
	}
	unknown := func(what string, want []string, have map[string]bool) {
		for _, v := range want {
			if !have[v] {
				errs = append(errs, fmt.Errorf("%s %q: not in the catalog, which has %s", what, v, strings.Join(slices.Sorted(maps.Keys(have)), ", ")))
			}
		}
	}
	unknown("instance family", o.Families, families)
	unknown("instance category", o.Categories, categories)
	for _, a := range o.Arch {
		if a != "amd64" && a != "arm64" {
			errs = append(errs, fmt.Errorf("architecture %q: want amd64 or arm64", a))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("node type options: %w", err)
	}
	return capacity, nil
}

// selects reports whether the filters keep the instance type.
func (o *NodeTypeOptions) selects(in *Instance) bool {
	if len(o.Families) > 0 && !slices.Contains(o.Families, in.Family) {
		return false
	}
	if len(o.Arch) > 0 && !slices.Contains(o.Arch, in.Arch) {
		return false
	}
	if len(o.Categories) > 0 {
		cat, _, ok := categoryGeneration(in.Name)
		if !ok || !slices.Contains(o.Categories, cat) {
			return false
		}
	}
	return true
}

// allocatable is what pods other than DaemonSets can request on a node of
// the type; false when the overhead leaves no CPU, memory or pod slot.
func (o *NodeTypeOptions) allocatable(in *Instance) (cluster.Resources, bool) {
	pods := in.Allocatable.Pods
	if o.MaxPods > 0 {
		pods = min(pods, o.MaxPods)
	}
	a := cluster.Resources{CPU: in.Allocatable.CPU, Memory: in.Allocatable.Memory, Pods: pods}.Sub(o.DaemonSetOverhead)
	return a, a.CPU > 0 && a.Memory > 0 && a.Pods > 0
}

// NodeTypes returns the node types a plan may use: for each instance type
// the filters keep, in catalog order, one per capacity type asked for
// (on-demand before spot; spot only with a spot price). Each has:
//
//   - Name the instance type, CapacityType, PricePerHour the on-demand or
//     spot price (USD per hour, after WithOverrides' discounts);
//   - Allocatable the catalog's alloc_cpu and alloc_mem, and alloc_pods
//     capped by MaxPods, less DaemonSetOverhead;
//   - GPUs the catalog's alloc_gpu, GPUModel our model name (ModelName),
//     GPUMemory one GPU's memory in bytes, GPUResource the resource the
//     manufacturer's device plugin advertises them as (GPUResource);
//   - Labels with exactly the keys LabelInstanceType, LabelCapacityType,
//     LabelArch, LabelInstanceCategory and LabelInstanceGeneration (when
//     the name has them), LabelInstanceFamily, LabelInstanceSize,
//     LabelInstanceCPU, LabelInstanceMemory and, for instance types with
//     GPUs, LabelInstanceGPUName, LabelInstanceGPUCount,
//     LabelInstanceGPUMemory and LabelInstanceGPUManufacturer;
//   - Taints the GPU taint when GPUTaint is set and the type has GPUs.
//
// Instance types the DaemonSet overhead leaves without CPU, memory or a
// pod slot are dropped (Dropped lists them). Invalid options are an
// error; so is an empty result, wrapping ErrNoNodeTypes with why. Every
// call returns new values. O(n) in the catalog's size.
func (c *Catalog) NodeTypes(opts NodeTypeOptions) ([]cluster.NodeType, error) {
	capacity, err := opts.validate(c)
	if err != nil {
		return nil, err
	}
	var out []cluster.NodeType
	selected, dropped, noSpot := 0, 0, 0
	for i := range c.instances {
		in := &c.instances[i]
		if !opts.selects(in) {
			continue
		}
		selected++
		alloc, ok := opts.allocatable(in)
		if !ok {
			dropped++
			continue
		}
		labels := instanceLabels(in)
		var taints []cluster.Taint
		var gpuResource string
		if in.GPUs > 0 {
			gpuResource, _ = GPUResource(gpuManufacturer(in.GPUName))
			if opts.GPUTaint {
				taints = []cluster.Taint{{Key: gpuResource, Value: "true", Effect: "NoSchedule"}}
			}
		}
		for _, ct := range capacity {
			price := in.PricePerHour
			if ct == CapacityTypeSpot {
				if price = in.SpotPricePerHour; price <= 0 {
					noSpot++
					continue
				}
			}
			l := maps.Clone(labels)
			l[LabelCapacityType] = ct
			out = append(out, cluster.NodeType{
				Name: in.Name, CapacityType: ct, PricePerHour: price, Allocatable: alloc,
				GPUs: in.Allocatable.GPUs, GPUModel: in.GPUModel, GPUMemory: in.GPUMemory, GPUResource: gpuResource,
				Labels: l, Taints: slices.Clone(taints),
			})
		}
	}
	if len(out) == 0 {
		why := fmt.Sprintf("%d of %d instance types pass the filters", selected, len(c.instances))
		if dropped > 0 {
			why += fmt.Sprintf(", %d of them too small for the DaemonSet overhead %+v", dropped, opts.DaemonSetOverhead)
		}
		if noSpot > 0 {
			why += fmt.Sprintf(", %d without a spot price (give spot prices or a spot discount)", noSpot)
		}
		return nil, fmt.Errorf("%w: %s", ErrNoNodeTypes, why)
	}
	return out, nil
}

// Dropped returns, in catalog order, the instance types that pass the
// options' filters but that NodeTypes drops because the DaemonSet
// overhead leaves them no CPU, memory or pod slot (after the MaxPods
// cap). Invalid options are an error. O(n) in the catalog's size.
func (c *Catalog) Dropped(opts NodeTypeOptions) ([]string, error) {
	if _, err := opts.validate(c); err != nil {
		return nil, err
	}
	var out []string
	for i := range c.instances {
		in := &c.instances[i]
		if _, ok := opts.allocatable(in); opts.selects(in) && !ok {
			out = append(out, in.Name)
		}
	}
	return out, nil
}

// categoryGeneration reads the category and generation from an instance
// type's name as Karpenter's AWS provider does; false when the name does
// not have them.
func categoryGeneration(name string) (category, generation string, ok bool) {
	m := instanceTypeScheme.FindStringSubmatch(name)
	if m == nil {
		return "", "", false
	}
	return m[1], m[3], true
}

// instanceLabels returns the instance type's labels but the capacity
// type.
func instanceLabels(in *Instance) map[string]string {
	l := make(map[string]string, 14)
	l[LabelInstanceType] = in.Name
	l[LabelArch] = in.Arch
	if cat, gen, ok := categoryGeneration(in.Name); ok {
		l[LabelInstanceCategory] = cat
		l[LabelInstanceGeneration] = gen
	}
	l[LabelInstanceFamily] = in.Family
	l[LabelInstanceSize] = strings.TrimPrefix(in.Name, in.Family+".")
	l[LabelInstanceCPU] = strconv.Itoa(in.VCPU)
	l[LabelInstanceMemory] = strconv.FormatInt(int64(in.Memory/recommender.MiB), 10)
	if in.GPUs > 0 {
		l[LabelInstanceGPUName] = in.GPUName
		l[LabelInstanceGPUCount] = strconv.Itoa(in.GPUs)
		l[LabelInstanceGPUMemory] = strconv.FormatInt(int64(in.GPUMemory/recommender.MiB), 10)
		l[LabelInstanceGPUManufacturer] = gpuManufacturer(in.GPUName)
	}
	return l
}

// gpuManufacturer is "amd" for Radeon GPUs (AWS's g4ad), else "nvidia".
func gpuManufacturer(gpuName string) string {
	if strings.HasPrefix(gpuName, "radeon") {
		return "amd"
	}
	return "nvidia"
}

// GPUResource returns the extended resource, and taint key, of the GPUs
// of a manufacturer as LabelInstanceGPUManufacturer names it: GPUTaintKey
// (nvidia.com/gpu) for "nvidia", "amd.com/gpu" for "amd"; false for any
// other.
func GPUResource(manufacturer string) (string, bool) {
	switch manufacturer {
	case "nvidia":
		return GPUTaintKey, true
	case "amd":
		return "amd.com/gpu", true
	}
	return "", false
}
