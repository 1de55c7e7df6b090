package nodeplan

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// HoursPerMonth is the hours in the month that per-month costs are
// given for (365 × 24 / 12).
const HoursPerMonth = 730

// DefaultBudget is the time the search (column generation and
// improvement) may take when Input.Budget is zero.
const DefaultBudget = 1800 * time.Millisecond

// FullFraction is the share of a resource in use above which a node
// counts as full in it, for stranded capacity.
const FullFraction = 0.95

// ErrNoFeasibleOffering is returned, wrapped, when no node type is given
// to place pods on.
var ErrNoFeasibleOffering = errors.New("no feasible node offering")

// Input is what Plan packs: a snapshot of pods and node types.
type Input struct {
	// Pods are the pods to place. Each must be valid (cluster.Pod.Validate).
	Pods []cluster.Pod
	// Types are the node types a plan may use, e.g. every instance type
	// of a catalog once per capacity type, each with its price. A type has
	// at most 64 GPUs.
	Types []cluster.NodeType
	// Seed drives all randomness: the same Input (Seed and MaxMoves
	// included) gives the same plan.
	Seed uint64
	// Budget caps the wall-clock time of the search, a safety cutoff:
	// the column generation stops at it and the improvement does not
	// start or stops (the first construction and the rounding always
	// complete). Zero means DefaultBudget. When it cuts the search short,
	// Result.Stats.BudgetHit says so and the plan depends on the machine's
	// speed; otherwise the search's effort is fixed. The lower bound's LP
	// then gets Budget again (lowerbound.Options.TimeLimit); stopped by it,
	// the bound is a weaker valid one (Result.LowerBoundMethod
	// "lp-partial", "volume" or "largest-pod"). So a Plan call may take
	// twice Budget, plus the construction.
	Budget time.Duration
	// MaxMoves caps the improvement moves, deterministically; zero means
	// DefaultMaxMoves of the constructed plan, negative none at all.
	MaxMoves int
}

// DefaultMaxMoves is the improvement moves Plan tries by default for a
// constructed plan of n nodes: one per four nodes, at least 250 and at
// most 2,500. Each move costs O(n) (it looks for room on every node), and
// after the column generation few moves still find a saving.
func DefaultMaxMoves(n int) int { return min(max(n/4, 250), 2500) }

// Result is a priced node plan. It marshals to JSON as is.
type Result struct {
	// Nodes are the plan's nodes, by type index then first pod.
	Nodes []Node `json:"nodes"`
	// Unplaced are the pods no node type admits, by pod index.
	Unplaced []Unplaced `json:"unplaced,omitempty"`
	// CostPerHour is the nodes' price in USD per hour; CostPerMonth the
	// same over HoursPerMonth.
	CostPerHour  float64 `json:"costPerHour"`
	CostPerMonth float64 `json:"costPerMonth"`
	// ByType counts the nodes per type, the dearest total first.
	ByType []TypeCount `json:"byType"`
	// Utilisation is requested over allocatable over all nodes.
	Utilisation Utilisation `json:"utilisation"`
	// Stranded is capacity free in one resource on nodes full in another.
	Stranded Stranded `json:"stranded"`
	// LowerBoundPerHour is a lower bound, in USD per hour, on the cost of
	// any plan that places the placeable pods, computed by LowerBoundMethod;
	// GapPct is (CostPerHour − LowerBoundPerHour) / LowerBoundPerHour ×
	// 100, or 0 when the bound is 0.
	LowerBoundPerHour float64 `json:"lowerBoundPerHour"`
	LowerBoundMethod  string  `json:"lowerBoundMethod"`
	GapPct            float64 `json:"gapPct"`
	// Seed is Input.Seed; Stats what the improvement did.
	Seed  uint64 `json:"seed"`
	Stats Stats  `json:"stats"`
}

// Node is one node of a plan.
type Node struct {
	// Type is the index of its type in Input.Types; TypeName and
	// CapacityType repeat that type's.
	Type         int    `json:"type"`
	TypeName     string `json:"typeName"`
	CapacityType string `json:"capacityType,omitempty"`
	// Pods are its pods, by pod index.
	Pods []Placement `json:"pods"`
}

// Placement is one pod on a node.
type Placement struct {
	// Pod is the pod's index in Input.Pods.
	Pod int `json:"pod"`
	// GPUs are the indexes of the node's GPUs the pod takes (ascending):
	// Count of them for whole GPUs, one for a share, none without GPUs.
	GPUs []int `json:"gpus,omitempty"`
}

// Unplaced is a pod the plan leaves out, and why.
type Unplaced struct {
	Pod    int    `json:"pod"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// TypeCount is how many nodes of one type a plan uses.
type TypeCount struct {
	Type         int    `json:"type"`
	Name         string `json:"name"`
	CapacityType string `json:"capacityType,omitempty"`
	Count        int    `json:"count"`
	// PricePerHour is one node's price, CostPerHour Count of them, in USD
	// per hour.
	PricePerHour float64 `json:"pricePerHour"`
	CostPerHour  float64 `json:"costPerHour"`
}

// Utilisation is how much of the plan's allocatable capacity the pods
// request, per resource: CPU in millicores, memory in bytes, pod slots,
// and GPUs in milli (1000 per GPU). The ratios are requested over
// allocatable, 0 when nothing is allocatable.
type Utilisation struct {
	CPURequested        recommender.MilliCPU `json:"cpuRequestedMillicores"`
	CPUAllocatable      recommender.MilliCPU `json:"cpuAllocatableMillicores"`
	MemoryRequested     recommender.Bytes    `json:"memoryRequestedBytes"`
	MemoryAllocatable   recommender.Bytes    `json:"memoryAllocatableBytes"`
	PodsRequested       int                  `json:"podsRequested"`
	PodsAllocatable     int                  `json:"podsAllocatable"`
	GPUMilliRequested   int                  `json:"gpuMilliRequested"`
	GPUMilliAllocatable int                  `json:"gpuMilliAllocatable"`
	CPU                 float64              `json:"cpu"`
	Memory              float64              `json:"memory"`
	Pods                float64              `json:"pods"`
	GPU                 float64              `json:"gpu"`
}

// Stranded is capacity left free in one resource on the nodes that are
// full (FullFraction or more in use) in another: what the plan pays for
// and cannot use. Units as in Utilisation; the fractions are of the
// plan's allocatable in that resource.
type Stranded struct {
	CPU            recommender.MilliCPU `json:"cpuMillicores"`
	Memory         recommender.Bytes    `json:"memoryBytes"`
	Pods           int                  `json:"pods"`
	GPUMilli       int                  `json:"gpuMilli"`
	CPUFraction    float64              `json:"cpuFraction"`
	MemoryFraction float64              `json:"memoryFraction"`
	PodsFraction   float64              `json:"podsFraction"`
	GPUFraction    float64              `json:"gpuFraction"`
}

// Stats say what the search did.
type Stats struct {
	// Classes is the number of distinct pods (requests and placement
	// constraints): the packer's unit.
	Classes int `json:"classes"`
	// LPPerHour is the cost, in USD per hour, of the column generation's
	// LP relaxation over the fills it found, Columns those fills and
	// Rounds its rounds; all 0 when it did not run (more than 250
	// classes). It guides the plan and is no bound.
	LPPerHour float64 `json:"lpPerHour,omitempty"`
	Columns   int     `json:"columns,omitempty"`
	Rounds    int     `json:"rounds,omitempty"`
	// ConstructedPerHour is the cost, in USD per hour, of the plan before
	// the improvement.
	ConstructedPerHour float64 `json:"constructedPerHour"`
	// Moves is the improvement moves tried; Accepted those kept (equal
	// cost included), Improved those that lowered the cost.
	Moves    int `json:"moves"`
	Accepted int `json:"accepted"`
	Improved int `json:"improved"`
	// BudgetHit is true when the time budget, not the fixed effort, ended
	// the search: the plan then depends on the machine's speed.
	BudgetHit bool `json:"budgetHit,omitempty"`
}

// Saving compares the cost of two plans: the current requests' and the
// recommended ones', in USD.
type Saving struct {
	CurrentPerHour      float64 `json:"currentPerHour"`
	RecommendedPerHour  float64 `json:"recommendedPerHour"`
	CurrentPerMonth     float64 `json:"currentPerMonth"`
	RecommendedPerMonth float64 `json:"recommendedPerMonth"`
	SavingPerHour       float64 `json:"savingPerHour"`
	SavingPerMonth      float64 `json:"savingPerMonth"`
	// SavingPct is SavingPerHour over CurrentPerHour × 100, 0 when the
	// current plan costs nothing.
	SavingPct float64 `json:"savingPct"`
	// CurrentNodes and RecommendedNodes count the plans' nodes.
	CurrentNodes     int `json:"currentNodes"`
	RecommendedNodes int `json:"recommendedNodes"`
}

// Compare returns the saving of the recommended plan over the current
// one (negative when it costs more). A nil plan costs nothing.
func Compare(current, recommended *Result) Saving {
	var s Saving
	if current != nil {
		s.CurrentPerHour, s.CurrentNodes = current.CostPerHour, len(current.Nodes)
	}
	if recommended != nil {
		s.RecommendedPerHour, s.RecommendedNodes = recommended.CostPerHour, len(recommended.Nodes)
	}
	s.CurrentPerMonth = s.CurrentPerHour * HoursPerMonth
	s.RecommendedPerMonth = s.RecommendedPerHour * HoursPerMonth
	s.SavingPerHour = s.CurrentPerHour - s.RecommendedPerHour
	s.SavingPerMonth = s.SavingPerHour * HoursPerMonth
	if s.CurrentPerHour > 0 {
		s.SavingPct = s.SavingPerHour / s.CurrentPerHour * 100
	}
	return s
}

// validate reports every problem with the input (up to ten per kind).
func (in *Input) validate() error {
	var errs []error
	if in.Budget < 0 {
		errs = append(errs, fmt.Errorf("negative budget %v", in.Budget))
	}
	if len(in.Pods) > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("%d pods: at most %d", len(in.Pods), math.MaxInt32))
	}
	if len(in.Pods) > 0 && len(in.Types) == 0 {
		errs = append(errs, fmt.Errorf("%w: no node types for %d pods", ErrNoFeasibleOffering, len(in.Pods)))
	}
	bad := 0
	for i := range in.Types {
		t := &in.Types[i]
		var why []string
		if math.IsNaN(t.PricePerHour) || math.IsInf(t.PricePerHour, 0) || t.PricePerHour < 0 {
			why = append(why, fmt.Sprintf("price %v USD/h is not a finite non-negative number", t.PricePerHour))
		}
		if a := t.Allocatable; a.CPU < 0 || a.Memory < 0 || a.Pods < 0 {
			why = append(why, fmt.Sprintf("negative allocatable (cpu %d m, memory %d bytes, pods %d)", a.CPU, a.Memory, a.Pods))
		}
		if t.GPUs < 0 || t.GPUs > maxGPUsPerNode {
			why = append(why, fmt.Sprintf("%d GPUs: want 0..%d", t.GPUs, maxGPUsPerNode))
		}
		if len(why) > 0 {
			if bad < 10 {
				errs = append(errs, fmt.Errorf("node type %d (%q): %v", i, t.Name, why))
			}
			bad++
		}
	}
	if bad > 10 {
		errs = append(errs, fmt.Errorf("and %d more bad node types", bad-10))
	}
	bad = 0
	for i := range in.Pods {
		if err := in.Pods[i].Validate(); err != nil {
			if bad < 10 {
				errs = append(errs, fmt.Errorf("pod %d: %w", i, err))
			}
			bad++
		}
	}
	if bad > 10 {
		errs = append(errs, fmt.Errorf("and %d more bad pods", bad-10))
	}
	return errors.Join(errs...)
}

// Plan packs the pods onto nodes of the given types at the least cost it
// finds (see the package documentation), and prices the plan against a
// lower bound. Pods no type admits are left out, each with the reason.
// It returns an error for invalid input (naming each bad pod or type) or
// when ctx ends first.
//
// The same Input gives the same plan unless Input.Budget cuts the search
// short (Result.Stats.BudgetHit). Plan is safe for concurrent use; it
// does not modify the input, and prices node types on up to
// min(GOMAXPROCS, 8) goroutines. Time: each construction takes
// O(R × T × C) for R fills (at most one per node, far fewer for repeated
// pods), T types and C distinct pods (C capped at 64 per probe beyond 256
// waiting); the column generation (C ≤ 250) at most 300 rounds, each an
// LP solve of O(C²) per pivot and a bounded knapsack search per type;
// each improvement move about O(N + T × C) for N nodes. The 8,152 pods
// of the Alibaba openb trace on the 172 AWS instance types take about
// 1.3 s on two cores.
func Plan(ctx context.Context, in Input) (*Result, error) {
	if err := in.validate(); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	budget := in.Budget
	if budget == 0 {
		budget = DefaultBudget
	}
	start := time.Now()

	s := newSolver(in.Pods, in.Types, in.Seed)
	deadline := start.Add(budget)
	nodes, constructed, err := s.build(ctx, deadline)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	moves := in.MaxMoves
	if moves == 0 {
		moves = DefaultMaxMoves(len(nodes))
	}
	nodes, st, err := s.improve(ctx, nodes, moves, deadline)
	if err != nil {
		return nil, err
	}
	st.BudgetHit = st.BudgetHit || s.budgetHit
	st.ConstructedPerHour = constructed
	st.Classes = len(s.cls)
	st.LPPerHour, st.Columns, st.Rounds = s.lpValue, s.lpColumns, s.lpRounds

	res := s.result(nodes)
	res.Seed = in.Seed
	res.Stats = st
	if err := res.bound(ctx, s, budget); err != nil {
		return nil, err
	}
	return res, nil
}

// result turns the solver's nodes into a Result, without the bound.
func (s *solver) result(nodes []*node) *Result {
	res := &Result{Nodes: make([]Node, 0, len(nodes))}
	for _, j := range s.unplaceable {
		for _, p := range s.cls[j].pods {
			res.Unplaced = append(res.Unplaced, Unplaced{Pod: int(p), Name: s.pods[p].Name, Reason: explain(&s.pods[p], s.types)})
		}
	}
	slices.SortFunc(res.Unplaced, func(a, b Unplaced) int { return a.Pod - b.Pod })

	counts := map[int]int{}
	u := &res.Utilisation
	var strCPU, strMem, strGPU float64
	var strPods int
	for _, n := range nodes {
		nt := &s.types[n.t]
		out := Node{Type: int(n.t), TypeName: nt.Name, CapacityType: nt.CapacityType, Pods: make([]Placement, 0, len(n.pods))}
		for _, m := range n.pods {
			pl := Placement{Pod: int(m.pod)}
			if m.gpus != 0 {
				pl.GPUs = make([]int, 0, bits.OnesCount64(m.gpus))
				for g := m.gpus; g != 0; g &= g - 1 {
					pl.GPUs = append(pl.GPUs, bits.TrailingZeros64(g))
				}
			}
			out.Pods = append(out.Pods, pl)
		}
		slices.SortFunc(out.Pods, func(a, b Placement) int { return a.Pod - b.Pod })
		res.Nodes = append(res.Nodes, out)
		counts[int(n.t)]++
		res.CostPerHour += nt.PricePerHour

		ti := &s.ty[n.t]
		usedCPU, usedMem, usedPods := ti.cpu-n.cpu, ti.mem-n.mem, ti.slots-n.slots
		freeGPU := int64(freeMilli(n))
		usedGPU := int64(ti.gpus)*cluster.MilliGPU - freeGPU
		u.CPURequested += recommender.MilliCPU(usedCPU)
		u.CPUAllocatable += recommender.MilliCPU(ti.cpu)
		u.MemoryRequested += recommender.Bytes(usedMem)
		u.MemoryAllocatable += recommender.Bytes(ti.mem)
		u.PodsRequested += int(usedPods)
		u.PodsAllocatable += int(ti.slots)
		u.GPUMilliRequested += int(usedGPU)
		u.GPUMilliAllocatable += int(ti.gpus) * cluster.MilliGPU

		full := [4]bool{
			ti.cpu > 0 && float64(usedCPU) >= FullFraction*float64(ti.cpu),
			ti.mem > 0 && float64(usedMem) >= FullFraction*float64(ti.mem),
			ti.slots > 0 && float64(usedPods) >= FullFraction*float64(ti.slots),
			ti.gpus > 0 && float64(usedGPU) >= FullFraction*float64(ti.gpus*cluster.MilliGPU),
		}
		other := func(k int) bool {
			for i, f := range full {
				if i != k && f {
					return true
				}
			}
			return false
		}
		if other(0) {
			strCPU += float64(n.cpu)
		}
		if other(1) {
			strMem += float64(n.mem)
		}
		if other(2) {
			strPods += int(n.slots)
		}
		if other(3) {
			strGPU += float64(freeGPU)
		}
	}
	slices.SortFunc(res.Nodes, func(a, b Node) int {
		if a.Type != b.Type {
			return a.Type - b.Type
		}
		return firstPod(a) - firstPod(b)
	})
	res.CostPerMonth = res.CostPerHour * HoursPerMonth

	for t, c := range counts {
		nt := &s.types[t]
		res.ByType = append(res.ByType, TypeCount{
			Type: t, Name: nt.Name, CapacityType: nt.CapacityType, Count: c,
			PricePerHour: nt.PricePerHour, CostPerHour: float64(c) * nt.PricePerHour,
		})
	}
	slices.SortFunc(res.ByType, func(a, b TypeCount) int {
		if a.CostPerHour != b.CostPerHour {
			if a.CostPerHour > b.CostPerHour {
				return -1
			}
			return 1
		}
		return a.Type - b.Type
	})

	u.CPU = ratio(float64(u.CPURequested), float64(u.CPUAllocatable))
	u.Memory = ratio(float64(u.MemoryRequested), float64(u.MemoryAllocatable))
	u.Pods = ratio(float64(u.PodsRequested), float64(u.PodsAllocatable))
	u.GPU = ratio(float64(u.GPUMilliRequested), float64(u.GPUMilliAllocatable))
	res.Stranded = Stranded{
		CPU: recommender.MilliCPU(strCPU), Memory: recommender.Bytes(strMem), Pods: strPods, GPUMilli: int(strGPU),
		CPUFraction:    ratio(strCPU, float64(u.CPUAllocatable)),
		MemoryFraction: ratio(strMem, float64(u.MemoryAllocatable)),
		PodsFraction:   ratio(float64(strPods), float64(u.PodsAllocatable)),
		GPUFraction:    ratio(strGPU, float64(u.GPUMilliAllocatable)),
	}
	return res
}

func firstPod(n Node) int {
	if len(n.Pods) == 0 {
		return -1
	}
	return n.Pods[0].Pod
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}
