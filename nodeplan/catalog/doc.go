// Package catalog holds cloud instance types with their resources, GPUs and
// prices, read strictly from CSV, YAML or JSON, adjusted by price
// overrides, and turned into the node types plans are packed onto
// (package nodeplan/cluster).
//
// One catalog is embedded in the binary: AWS us-east-1 (AWSUSEast1), 172
// instance types from the Karpenter AWS provider's price list of
// 2026-07-20 (data/PROVENANCE.md), on-demand list prices only. Parse reads
// others in the same CSV format; Load reads CSV, YAML or JSON, telling
// them apart by content.
//
// # Files
//
// A catalog CSV has a header naming its columns, in any order: name,
// family, arch, vcpu, mem_mib, gpu_count, gpu_name, gpu_mem_mib,
// alloc_cpu, alloc_mem, alloc_pods, alloc_gpu, price_od_<region> and,
// optionally, price_spot_<region> with the same region (Parse has the
// units). The YAML and JSON form holds the same rows under "instances",
// each a mapping keyed by those column names:
//
//	instances:
//	  - {name: m5.large, family: m5, arch: amd64, vcpu: 2, mem_mib: 8192,
//	     alloc_cpu: 1930m, alloc_mem: 6903Mi, alloc_pods: 29,
//	     price_od_use1: 0.096, price_spot_use1: 0.0384}
//	  - {name: g5.xlarge, family: g5, arch: amd64, vcpu: 4, mem_mib: 16384,
//	     gpu_count: 1, gpu_name: a10g, gpu_mem_mib: 22888, alloc_cpu: 3920m,
//	     alloc_mem: 14162Mi, alloc_pods: 58, alloc_gpu: 1, price_od_use1: 1.006}
//
// The GPU keys and the spot price may be left out; every other key is
// required, and an unknown or repeated key is an error. A price
// overrides file (LoadOverrides) is a CSV with columns name, price_od and
// price_spot, or YAML/JSON:
//
//	on_demand_discount: 0.28  # Savings Plans or RIs: 28 % off every list price
//	spot_discount: 0.6        # spot at 40 % of list where no spot price is known
//	prices:
//	  - {name: p5.48xlarge, price_od: 39.63, price_spot: 21.4}
//
// Every reader reports each problem with its file, line and, for YAML and
// JSON, the path and instance type of the bad value; input larger than
// MaxFileBytes (MaxYAMLBytes for YAML and JSON) is refused.
//
// # Prices
//
// Instance.PricePerHour is the on-demand price and Instance.SpotPricePerHour
// the spot price (0 when not known), both USD per hour. WithOverrides
// returns a catalog with per-type prices replaced and discounts applied
// (Overrides has the rules); by default no spot price is made up, so
// spot capacity is planned only where a price is known or a spot
// discount is given.
//
// # Node types
//
// NodeTypes turns the catalog into cluster.NodeType values: allocatable
// less the DaemonSet overhead every node carries, pod slots capped by
// maxPods, one node type per instance type and capacity type, and the
// labels Karpenter's AWS provider puts on its nodes (the Label
// constants), so that pod node selectors and NodePool requirements match
// the same keys.
//
// A Catalog is immutable: every method is safe for concurrent use, and
// every slice and map returned is the caller's own.
package catalog
