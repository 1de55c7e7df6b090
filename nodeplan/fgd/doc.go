// Package fgd is the protocol of the headline experiment of the FGD paper
// (Weng et al., "Beware of Fragmentation: Scheduling GPU-Sharing Workloads
// with Fragmentation Gradient Descent", USENIX ATC '23) on the Alibaba
// trace cluster-trace-gpu-v2023, rebuilt so that rightsizer's online
// placement policy can be measured against the paper's baselines under
// the same rules, paired seed by seed.
//
// One run (one seed, one policy):
//
//  1. Arrivals: the trace's pods sorted by name and shuffled; then pods
//     drawn with replacement from the trace and appended until their GPU
//     request reaches 130 % of the cluster's GPUs (or, for a trace above
//     that, random pods removed).
//  2. Priority: the nodes (the 1,213 GPU nodes, 6,212 GPUs) in a seeded
//     random order; every score tie goes to the earliest.
//  3. Placement: each pod once, in order, by the policy (package place);
//     a pod that fits nowhere is dropped. No pod ever leaves.
//  4. Curve: after every attempt, the arrived GPU request (failed pods
//     included) and the allocated GPU milli, both in % of capacity; the
//     allocation is averaged per rounded arrived % (Bin) and read at
//     100 % and 130 %.
//
// Arrivals and Priority draw from one random stream per seed, so every
// policy of a seed sees the same pods in the same order on the same node
// order. Evaluate runs seeds × policies (42..51 × Random, BestFit, FGD,
// Rightsizer by default) concurrently, summarises them, sets the
// published figures (ReadPublished) beside them and adds an offline
// figure (Offline: every pod known in advance, a different and easier
// problem).
//
// The re-implemented baselines land within 0.1 point of the published
// means for BestFit and FGD (research note, §7 shows the same for an
// independent re-implementation). Functions are safe for concurrent use;
// each run has its own state.
package fgd
