// Package migpack packs MIG slices onto GPUs: given the profiles the
// workloads on a node need (recommender's GPU shapes) and the node's GPUs
// as they are, it chooses the MIG layouts that use the fewest GPUs,
// respecting the placements the hardware allows (package mig's exact
// oracle) and the device plugin's single or mixed strategy, and says what
// the plan disrupts. It renders plans as mig-parted configs with the
// nvidia.com/mig.config node label that makes the GPU Operator's MIG
// manager apply them, and reads the configs users run today.
//
// # Model
//
// A GPU either keeps its layout, and its free instances (and those of
// workloads that move away) take new workloads of their profile, or is
// re-partitioned: mig-parted destroys every instance on the GPU and
// creates the new ones, so re-partitioning a GPU that pods use is
// disruptive and evicts them. PolicyFewestGPUs minimises unplaced
// demands, then GPUs used, then disruptive and other re-partitionings,
// then pod moves; PolicyNoDisruption never re-partitions a GPU in use.
//
// Under the mixed strategy each workload gets exactly its profile; under
// the single strategy every GPU of a node holds one profile (or has MIG
// off), so workloads may get a larger profile than they asked for.
//
// # Exactness and cost
//
// PlanNode is exact for nodes of up to MaxExactGPUs GPUs: a dynamic
// programme over (GPU, remaining demand) whose per-GPU choices are keep,
// MIG off, or a feasible multiset maximal within the remaining demand
// (at most 127 multisets on a 7-slice GPU). Its memo is bounded by
// Options.MaxStates; past that, and for larger nodes, it plans greedily
// and says so (NodePlan.Exact). PlanFleet plans node by node. Pack packs a
// bag of demands onto fresh GPUs with a lower bound.
//
// # Output
//
// NodePlan.Table and FleetPlan.Table print the plan; MigPartedYAML gives
// the mig-parted config (version v1, mig-configs) and Label or Labels the
// nvidia.com/mig.config values. ParseConfig and Config.Validate read a
// mig-parted config strictly, and Config.GPUs turns one of its named
// configs into the GPUs PlanNode starts from.
//
// Everything here is pure: no clients, clocks or NVML, and every function
// is safe for concurrent use on distinct arguments.
package migpack
