package fgd

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/nodeplan/place"
)

// DefaultInflation is the paper's workload target: pods arrive until
// their GPU request reaches 130 % of the cluster's GPUs.
const DefaultInflation = 1.3

// MaxArrivedPct is the last bin of the allocation curve, in % of the
// cluster's GPU milli.
const MaxArrivedPct = 130

// Arrivals returns one run's arrival sequence, as indices into trace:
// the trace sorted by pod name and shuffled, then, while the GPU request
// is below inflation × capacityMilli, pods drawn uniformly with
// replacement from the name-sorted trace and appended, stopping at the
// first draw whose per-GPU milli would pass the target (the simulator's
// check; it adds num_gpu × gpu_milli). A trace already above the target
// instead loses uniformly random pods until it is at or below it. The
// rng is the run's, used first here. O(n log n) in the trace.
func Arrivals(trace []cluster.Pod, capacityMilli int, inflation float64, rng *rand.Rand) []int {
	sorted := make([]int, len(trace))
	for i := range sorted {
		sorted[i] = i
	}
	slices.SortStableFunc(sorted, func(a, b int) int { return strings.Compare(trace[a].Name, trace[b].Name) })
	seq := slices.Clone(sorted)
	rng.Shuffle(len(seq), func(i, j int) { seq[i], seq[j] = seq[j], seq[i] })
	if len(trace) == 0 {
		return seq
	}
	target := inflation * float64(capacityMilli)
	total := 0
	for _, i := range seq {
		total += trace[i].GPU.TotalMilli()
	}
	if float64(total) > target {
		for float64(total) > target && len(seq) > 0 {
			j := rng.IntN(len(seq))
			total -= trace[seq[j]].GPU.TotalMilli()
			seq = slices.Delete(seq, j, j+1)
		}
		return seq
	}
	for {
		i := sorted[rng.IntN(len(sorted))]
		_, perGPU := trace[i].GPU.PerGPU()
		if float64(total+perGPU) > target {
			return seq
		}
		total += trace[i].GPU.TotalMilli()
		seq = append(seq, i)
		if trace[i].GPU.TotalMilli() == 0 && len(seq) > 64*len(trace)+1024 {
			// Only a trace with no GPU at all gets here: it could never
			// reach the target.
			return seq
		}
	}
}

// Priority returns the nodes in the run's fixed priority order, as
// indices into nodes: a random permutation (rng.Perm) of the nodes sorted
// by name, the earliest winning every score tie. This stands for the
// simulator's renaming of nodes to a seeded random prefix and its
// scheduler's choice of the smallest name among equal scores.
func Priority(nodes []cluster.NodeType, rng *rand.Rand) []int {
	sorted := make([]int, len(nodes))
	for i := range sorted {
		sorted[i] = i
	}
	slices.SortStableFunc(sorted, func(a, b int) int { return strings.Compare(nodes[a].Name, nodes[b].Name) })
	prio := rng.Perm(len(nodes)) // prio[k]: the rank of the k-th node by name
	order := make([]int, len(nodes))
	for k, r := range prio {
		order[r] = sorted[k]
	}
	return order
}

// Record is the cluster after one pod's attempt: the GPU milli of every
// pod attempted so far (failed ones included) and the GPU milli placed.
type Record struct {
	ArrivedMilli, UsedMilli int
}

// Trial is one placement run: the pods in arrival order, the policy, and
// what happened.
type Trial struct {
	Policy string
	// Records has one entry per attempted pod, in order.
	Records []Record
	// Failed is the number of pods no node took.
	Failed int
	// CapacityMilli is the cluster's GPU milli.
	CapacityMilli int
}

// Run places the pods seq (indices into pods) in order onto empty nodes
// (types, in the given priority order) with the named policy, one
// attempt each, and records the cluster after every attempt. It stops
// with ctx's error when ctx is done. O(pods × nodes) plus the policy's
// scoring.
func Run(ctx context.Context, types []cluster.NodeType, order []int, pods []cluster.Pod, seq []int, policy string, cfg place.Config) (*Trial, error) {
	ordered := make([]cluster.NodeType, len(order))
	for k, i := range order {
		ordered[k] = types[i]
	}
	s := place.NewState(ordered)
	pol, err := place.New(policy, s, cfg)
	if err != nil {
		return nil, err
	}
	tr := &Trial{Policy: policy, Records: make([]Record, 0, len(seq)), CapacityMilli: s.TotalGPUMilli()}
	arrived := 0
	for k, i := range seq {
		if k%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		p := &pods[i]
		arrived += p.GPU.TotalMilli()
		_, ok, err := pol.Place(p)
		if err != nil {
			return nil, fmt.Errorf("policy %s, pod %q: %w", policy, p.Name, err)
		}
		if !ok {
			tr.Failed++
		}
		tr.Records = append(tr.Records, Record{ArrivedMilli: arrived, UsedMilli: s.UsedGPUMilli()})
	}
	return tr, nil
}

// Curve is the allocation curve of the paper's analysis: for each whole
// arrived % X in 0..130 (of the cluster's GPU milli), the mean
// allocation % over the pods whose arrived % rounds to X, or over X±1
// when none does; NaN when those are empty too.
type Curve [MaxArrivedPct + 1]float64

// Bin computes the curve of a trial's records, as the simulator's
// merge_alloc_discrete.py: arrived % rounded half to even, allocation %
// rounded to 2 decimals per record. O(records).
func Bin(records []Record, capacityMilli int) Curve {
	var sum, n [MaxArrivedPct + 1]float64
	for _, r := range records {
		x := math.RoundToEven(float64(r.ArrivedMilli) / float64(capacityMilli) * 100)
		if x < 0 || x > MaxArrivedPct {
			continue
		}
		alloc := math.Round(float64(r.UsedMilli)/float64(capacityMilli)*100*100) / 100
		sum[int(x)] += alloc
		n[int(x)]++
	}
	var c Curve
	for x := range c {
		switch {
		case n[x] > 0:
			c[x] = sum[x] / n[x]
		default:
			s, k := 0.0, 0.0
			for y := max(x-1, 0); y <= min(x+1, MaxArrivedPct); y++ {
				s, k = s+sum[y], k+n[y]
			}
			c[x] = math.NaN()
			if k > 0 {
				c[x] = s / k
			}
		}
	}
	return c
}
