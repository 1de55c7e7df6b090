// Package karpenter turns the node types a plan uses, and how many of each,
// into Karpenter v1 NodePool objects (karpenter.sh/v1) written as YAML, so
// that Karpenter launches nodes like the ones the plan priced.
//
// # Pools
//
// NodePools groups the used types by class and capacity type:
//
//   - one general pool for the types without GPUs ("general", or
//     "general-spot" for spot), whose requirements are flexible: the
//     instance categories, families and sizes the plan used, a floor on the
//     instance generation (the oldest generation used), the architectures
//     and the capacity type. Karpenter may then launch any size the plan
//     used of any family it used (m7i.2xlarge as well as the c7i.2xlarge
//     and m7i.xlarge that were planned); Options.AnyFamily drops the family
//     list and keeps the category and generation floor, wider still;
//   - one pool per GPU name ("gpu-l4", "gpu-h100-spot"), tainted
//     nvidia.com/gpu=true:NoSchedule (amd.com/gpu for AMD GPUs), so that
//     only pods that tolerate the taint land there, with an explicit list
//     of the instance types used, since the model and the host around it
//     matter, and a requirement on the GPU name.
//
// Every pool names its capacity type in a requirement (on-demand or spot;
// a pool without one would be on-demand only). Each pool's limits are the
// plan's capacity in it (node count × the instance's vCPUs, memory and
// GPUs, from the karpenter.k8s.aws/instance-* labels, i.e. capacity and not
// allocatable, as Karpenter counts it) plus Options.LimitHeadroom (20 %),
// and at least one node of the pool's largest type: room for the
// replacement Karpenter launches before it removes a node.
//
// # Weights
//
// Weights order the pools Karpenter tries for a pending pod, the highest
// first. Spot pools weigh Options.SpotWeight (default 50), on-demand pools
// Options.OnDemandWeight (default 10), so a pod that fits both is placed
// on spot while the spot pool is below its limits and spot capacity is
// there, and on on-demand otherwise. The general and the GPU pools share
// the scheme: the GPU taint, not the weight, keeps pods apart. With
// Options.OnDemandFallback every class that has a spot pool also gets an
// on-demand pool that admits the spot pool's types and adds their capacity
// to its limits, so that the plan still fits when spot capacity is gone.
//
// # Disruption
//
// Every pool states its disruption in full, never relying on the CRD's
// defaults: consolidationPolicy (WhenEmptyOrUnderutilized for general
// pools, WhenEmpty for GPU pools, whose model servers warm up slowly),
// consolidateAfter (1m and 10m), one always-active budget (10% of the
// pool's nodes) plus any scheduled windows from Options, and expireAfter
// (720h). Options.CPU and Options.GPU override them.
//
// # Output
//
// The NodePool types here are small local structs whose JSON tags mirror
// the CRD; they carry no status and never marshal empty maps or null
// requirements, and the zero-value traps of Karpenter's own Go types
// (a zero NillableDuration marshals as "Never") cannot happen. Marshal
// writes them as multi-document YAML.
//
// Everything here is pure: no clients, no clocks. Every function is safe
// for concurrent use.
package karpenter
