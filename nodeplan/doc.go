// Package nodeplan turns pods into a priced node plan: which nodes, of
// which instance and capacity types, hold every pod, what they cost per
// hour and per month, how full they are, and how far the cost is from a
// lower bound on the cost of any plan.
//
// Plan is a pure function of its Input (snapshot in, plan out): pods with
// their requests and constraints, node types with their allocatable
// resources and prices, and a seed. It packs vectors of CPU, memory, pod
// slots, whole GPUs and milli-shares of one GPU (several pods on one GPU
// while their shares sum to at most 1000), under GPU model constraints,
// node selectors and taints. Identical pods form one class; which type
// admits which class is worked out once, and types that another type
// beats in price, every resource and admission are dropped.
//
// The plan is built in three stages.
//
//  1. Construction. While pods wait, every type simulates filling one
//     empty node with them (most valuable class first, as many of each as
//     fit, GPU shares best fit), and the type that packs the most value
//     per dollar opens the node; the same fill repeats while its pods
//     last. A pod's value starts as the cheapest price of the share of a
//     node it needs in its dominant resource, so the choice is cost-aware
//     across instance types and resources (unlike Karpenter's CPU-first
//     first-fit decreasing); values are then refined over a few rounds
//     towards what each class's pods cost in the plan. Every node is
//     right-sized to the cheapest type that holds its pods.
//  2. Column generation, for up to 250 classes: the LP relaxation of "how
//     many nodes of each fill" (minimise the price of the nodes so that
//     every pod is covered), started from the construction's fills and
//     grown with the fills each type's pricing finds worth more than the
//     type's price at the LP's dual prices. The pricing is a
//     multi-dimensional knapsack with GPUs: greedy fills, a branch and
//     bound with Lagrangian and surrogate bounds (dual feasible functions
//     included) searched by limited discrepancy, and a large-neighbourhood
//     search that empties a GPU or two of a good fill and refills the room;
//     its effort rises when a round finds nothing. Types are priced in
//     parallel. The LP's fills, rounded down, are most of the plan; the
//     pods left are constructed with the dual prices as values.
//  3. Improvement, a seeded large-neighbourhood search: take one to three
//     nodes out (the least efficient, and nodes their pods could share),
//     put their pods into the room other nodes have, pack the rest afresh
//     and right-size, or put them all on the cheapest single node that
//     holds them, and keep the change unless it costs more. One move
//     empties a node, swaps it for a cheaper type, splits it into smaller
//     nodes (which Karpenter never does) or merges nodes into one.
//
// The effort of each stage is fixed, so the same Input (seed and MaxMoves
// included) gives the same plan unless the time Budget cuts the search
// short (Result.Stats.BudgetHit). The lower bound comes from package
// nodeplan/lowerbound; Result.GapPct is the plan's distance from it.
package nodeplan
