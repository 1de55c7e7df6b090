package recommender

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rightsizer/rightsizer/internal/bitnames"
)

// Flags mark what a reader of a recommendation must know.
type Flags uint16

// The flags.
const (
	// FlagInsufficientHistory: less history or fewer samples than the
	// profile's MinHistory / MinSamples; bounds are wide, confidence low.
	FlagInsufficientHistory Flags = 1 << iota
	// FlagOOM: an OOM kill within the profile's window raised memory.
	FlagOOM
	// FlagThrottled: the container spent more than the profile's
	// ThrottleThreshold of CFS periods throttled; its CPU usage is censored
	// at its limit, so the recommendation starts from the limit.
	FlagThrottled
	// FlagCapped: the policy's Max cut a request or limit.
	FlagCapped
	// FlagAutoscaled: an HPA or KEDA scales the workload on a resource; its
	// request is kept so the autoscaler's utilization target keeps its
	// meaning (VPA #6060).
	FlagAutoscaled
	// FlagNoRequest: the container sets no CPU or memory request today.
	FlagNoRequest
	numFlags = iota
)

var flagNames = [numFlags]string{"insufficient-history", "oom", "throttled", "capped", "autoscaled", "no-request"}

// Has reports whether every flag of g is set in f.
func (f Flags) Has(g Flags) bool { return f&g == g }

// Names returns the names of the set flags, in a fixed order.
func (f Flags) Names() []string { return bitnames.Names(f, flagNames[:]) }

// String joins the names with commas.
func (f Flags) String() string { return strings.Join(f.Names(), ",") }

// MarshalJSON writes the flags as a list of names.
func (f Flags) MarshalJSON() ([]byte, error) { return json.Marshal(f.Names()) }

// UnmarshalJSON reads a list of names.
func (f *Flags) UnmarshalJSON(b []byte) error {
	return bitnames.UnmarshalJSON(b, f, flagNames[:], "flag")
}

// Amount is a resource amount with its unit in its type.
type Amount interface {
	MilliCPU | Bytes | GPUCompute
}

// ResourceRecommendation is the advice for one resource of one container.
// All amounts are per replica.
type ResourceRecommendation[T Amount] struct {
	// Request and Limit recommended; a zero Limit means "no limit".
	Request T `json:"request"`
	Limit   T `json:"limit"`
	// LowerBound and UpperBound bracket the request: any request between
	// them is consistent with the history seen. They are wide for a young
	// container (at most about twice its observed maximum, never a
	// placeholder) and narrow as history grows.
	LowerBound T `json:"lowerBound"`
	UpperBound T `json:"upperBound"`
	// Uncapped is the request before the policy's Min and Max.
	Uncapped T `json:"uncappedRequest"`
	// Live (CPU only) is the request rightsizer's controller applies now:
	// the same rules over the profile's LiveHalfLife, a horizon of hours.
	// It follows the workload closer than Request, and relies on the
	// controller raising it in place as soon as usage runs above it. For
	// workloads the controller does not manage, or without a live horizon,
	// it equals Request.
	Live T `json:"live,omitempty"`
	// CurrentRequest and CurrentLimit are today's, from the inventory.
	CurrentRequest T `json:"currentRequest"`
	CurrentLimit   T `json:"currentLimit"`
	// Percentile is the usage percentile the request is built on.
	Percentile float64 `json:"percentile"`
	// Risk is the expected fraction of time usage exceeds Request, from the
	// decayed usage distribution.
	Risk float64 `json:"risk"`
	// OOMRisk (memory only) is the estimated chance that usage exceeds
	// Limit within one peak window (a day by default).
	OOMRisk float64 `json:"oomRisk,omitempty"`
	// Kept is set when the request was left at CurrentRequest (no usage
	// seen, or an autoscaler owns the resource).
	Kept bool `json:"kept,omitempty"`
}

// Recommendation is rightsizer's advice for one container (all replicas).
type Recommendation struct {
	ContainerKey
	Role     ContainerRole `json:"role"`
	Replicas int32         `json:"replicas"`
	Profile  string        `json:"profile"`

	CPU    ResourceRecommendation[MilliCPU] `json:"cpu"`
	Memory ResourceRecommendation[Bytes]    `json:"memory"`
	// GPUCompute and GPUMemory are nil until GPU usage is seen.
	GPUCompute *ResourceRecommendation[GPUCompute] `json:"gpuCompute,omitempty"`
	GPUMemory  *ResourceRecommendation[Bytes]      `json:"gpuMemory,omitempty"`

	// Confidence in [0, 1] grows with history (to the profile's
	// FullConfidence) and with samples (to its MinSamples).
	Confidence  float64   `json:"confidence"`
	FirstSample time.Time `json:"firstSample"`
	LastSample  time.Time `json:"lastSample"`
	Samples     int64     `json:"samples"`

	// MonthlyCostDelta is the change in monthly list price of the CPU and
	// memory requests over all replicas, in USD; negative saves money.
	// Savings materialise only when nodes shrink (see nodeplan).
	MonthlyCostDelta float64 `json:"monthlyCostDelta"`
	// Reason says in one line how the numbers came about.
	Reason string `json:"reason"`
	Flags  Flags  `json:"flags"`
}

// History returns the time between the first and the last sample.
func (r *Recommendation) History() time.Duration { return r.LastSample.Sub(r.FirstSample) }

// MarshalJSON writes ContainerRole as its name.
func (r ContainerRole) MarshalJSON() ([]byte, error) { return json.Marshal(r.String()) }

// UnmarshalJSON reads a role name.
func (r *ContainerRole) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	switch s {
	case "app", "":
		*r = RoleApp
	case "init":
		*r = RoleInit
	case "sidecar":
		*r = RoleSidecar
	default:
		return fmt.Errorf("unknown container role %q", s)
	}
	return nil
}
