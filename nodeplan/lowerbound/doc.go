// Package lowerbound computes a proven lower bound on the hourly cost of
// any plan that places a set of pods on nodes of given types, any number of
// nodes of each type, so that a plan can report how far it may be from the
// optimum.
//
// # The relaxation
//
// Pods are grouped into classes: equal requests (CPU, memory, whole GPUs,
// GPU share) and equal placement constraints; which types admit a class is
// cluster.NodeType.Admits (selectors, taints, GPU models, fitting an empty
// node). Each node type t has rows r, each a number g[t][r][c] ≥ 0 per class
// c it admits, such that the pods on any one node of type t in any feasible
// placement satisfy Σ_pods g[t][r][class(pod)] ≤ 1 for every row. The
// linear rows are the resources divided by the type's allocatable: CPU,
// memory, pod slots and GPU milli (a whole-GPU pod takes 1000 per GPU). The
// other rows are valid inequalities from Fekete and Schepers' dual feasible
// functions
//
//	u_k(x) = x                  if (k+1)·x is an integer,
//	u_k(x) = ⌊(k+1)·x⌋ / k      otherwise,  for x in [0, 1],
//
// which map any sizes that fit in a bin of size 1 to values that still sum
// to at most 1: applied to CPU and memory as fractions of the node's
// allocatable, and to each GPU share as a fraction of one GPU (a whole GPU
// counts 1, and the row is divided by the node's GPU count). They say, for
// example, that two pods with more than half a GPU each cannot share one
// GPU, and that at most three pods with over a quarter of the node's memory
// fit on it, which volume rows cannot.
//
// The linear program, with y[c][t] ≥ 0 the pods of class c on type t (only
// where t admits c) and x[t] ≥ 0 the nodes of type t:
//
//	minimise Σ_t price[t]·x[t]
//	s.t.     Σ_t y[c][t] ≥ n[c]                    for every class c,
//	         Σ_c g[t][r][c]·y[c][t] ≤ x[t]         for every type t and row r.
//
// Unlike an aggregate volume LP it keeps a GPU pod's CPU and memory on the
// GPU node it runs on.
//
// # How it is solved
//
// A dense revised simplex (primal and dual) over the LP, grown as needed.
// It starts with, for each class, the type where one pod of it alone costs
// least, and only those types' linear rows. Rows of admitted types that the
// solution breaks are added as cuts and the dual simplex restores
// feasibility; then every other type is priced: a tiny simplex over its rows
// finds the load of one node worth most at the classes' dual prices, and
// types whose load is worth more than their price join the LP. When no row
// is broken and no type prices out, the LP is optimal. A type another
// dominates (the other admits every class it admits, and each of the
// other's rows scaled by price is no larger than one of its own: in
// particular, at least as much of every resource per dollar) is dropped
// first, which leaves the optimum unchanged: any load of the dominated type
// is, scaled by the price ratio, a load of the dominator at the same cost.
//
// The simplex keeps B⁻¹ explicitly, updates it at each pivot and
// recomputes it from the basis every few hundred pivots (only the basic
// columns that are not slacks need eliminating), on a drift it detects,
// and before the primal simplex calls a basis optimal. Its ratio tests are Harris's, which
// take the largest pivot element among nearly tied steps, and the dual
// simplex picks the leaving row by dual steepest edge (exact weights, the
// norms of B⁻¹'s rows, kept as the pivots update them), which usually
// takes fewer pivots than choosing the most infeasible row (not measured
// here: nothing in the package compares the two rules). Should
// the basis still turn singular, the LP restarts from a fresh basis built
// as the first one was (never singular), a few times at most.
//
// Options.TimeLimit and the context are checked every few pivots and
// during a refactorisation. When the time limit stops the LP inside a
// round, the duals at hand still give certificate weights (see below), so
// the bound is the best of those, the earlier rounds' and the simple
// bounds below (MethodLPPartial, MethodVolume or MethodLargestPod), never
// an invalid one.
//
// When the pods have more distinct classes than Options.MaxClasses, similar
// classes are clustered for the LP (see Options.MaxClasses): a cluster's
// linear rows are its members' mean requests, weighted by pods, and its
// DFF rows its members' mean DFF values, so that the LP sees the cluster's
// total of every row. The LP then only tunes the certificate below, which
// is evaluated on the exact classes.
//
// Two simple bounds back the LP up. The volume bound charges every pod
// its CPU, memory, pod slot or GPU at the cheapest rate of a type that
// admits it, one resource at a time. The largest-pod bound is the price
// of the cheapest type that admits the pod whose cheapest is dearest: any
// plan has a node that holds that pod, where the LP buys only the slice
// of it the pod fills. The bound reported is the highest of the three.
//
// # Why the result is a proven bound
//
// The bound reported is not the simplex's objective but a certificate
// recomputed from scratch: for every node type t a vector w[t] ≥ 0 over its
// rows (from the LP's duals for admitted types, the pricing LP's duals for
// the others, the dominator's for dominated ones), scaled so that Σ_r
// w[t][r] ≤ price[t]; then every pod of class c is charged u[c] = min over
// the types t that admit it of Σ_r w[t][r]·g[t][r][c], and the bound is
// Σ_c n[c]·u[c]. For any feasible plan, each node of type t carries pods
// whose charges sum to at most Σ_r w[t][r]·Σ_pods g ≤ Σ_r w[t][r] ≤
// price[t], so the plan costs at least the bound whatever w is, and
// whatever rounding error the simplex made (weights that come out NaN or
// infinite are set to 0). The LP only makes w good: at its optimum the
// certificate equals the LP's optimum. The certificate is scaled down by
// one part in 10¹² to cover the rounding of its own sum. For clustered
// classes, the certificate at the LP's optimum is close to the LP's
// optimum, above or below.
//
// # Cost
//
// Grouping is O(pods × types); a simplex pivot is O(rows²) with rows = LP
// classes + the admitted types' rows in the LP; pricing a type is
// O(its rows × its classes) per pivot; the certificate is O(types × pod
// classes × weighted rows). The 8,152 pods of the Alibaba openb trace (151
// classes) on the 172 AWS types take about 50 ms; 1,000 and 10,000 pods
// that all differ, on the 344 AWS types (on-demand and spot), about 50 and
// 160 ms (BenchmarkDistinct, on two cores).
//
// Compute is safe for concurrent use: it keeps no state between calls.
package lowerbound
