package karpenter

// The NodePool object as the CRD karpenter.sh_nodepools.yaml (Karpenter
// v1.14.1) declares it, cut to the fields rightsizer sets. Fields that are
// always set have no omitempty: an empty one would be a bug, and the API
// server rejects it rather than defaulting it silently.

// APIVersion and Kind of the objects NodePools returns.
const (
	APIVersion = "karpenter.sh/v1"
	Kind       = "NodePool"
)

// NodePool is a Karpenter v1 NodePool, without status.
type NodePool struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   ObjectMeta   `json:"metadata"`
	Spec       NodePoolSpec `json:"spec"`
}

// ObjectMeta is the part of a Kubernetes object's metadata a NodePool
// needs. NodePools are cluster-scoped: there is no namespace.
type ObjectMeta struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// NodePoolSpec is spec of a NodePool.
type NodePoolSpec struct {
	Template   NodeClaimTemplate `json:"template"`
	Disruption Disruption        `json:"disruption"`
	// Limits caps the capacity of all the pool's nodes together, by
	// resource name ("cpu", "memory", "nvidia.com/gpu"), as quantities.
	Limits map[string]string `json:"limits,omitempty"`
	// Weight is 1..100; Karpenter tries heavier pools first.
	Weight int32 `json:"weight"`
}

// NodeClaimTemplate is spec.template: what the pool's nodes look like.
type NodeClaimTemplate struct {
	Spec NodeClaimTemplateSpec `json:"spec"`
}

// NodeClaimTemplateSpec is spec.template.spec.
type NodeClaimTemplateSpec struct {
	Taints []Taint `json:"taints,omitempty"`
	// Requirements are the label constraints every node meets; never
	// empty (a pool always names its capacity type).
	Requirements []Requirement      `json:"requirements"`
	NodeClassRef NodeClassReference `json:"nodeClassRef"`
	// ExpireAfter is a duration ("720h") or "Never".
	ExpireAfter string `json:"expireAfter"`
}

// Taint is a taint put on every node of the pool.
type Taint struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
	// Effect is NoSchedule, PreferNoSchedule or NoExecute.
	Effect string `json:"effect"`
}

// Requirement is a node selector requirement with Karpenter's minValues.
type Requirement struct {
	Key string `json:"key"`
	// Operator is In, NotIn, Exists, DoesNotExist, Gt, Lt, Gte or Lte.
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
	// MinValues, when set, is how many distinct values of the key the
	// instance types Karpenter may launch must span (1..50, at most
	// len(Values) with In).
	MinValues *int `json:"minValues,omitempty"`
}

// NodeClassReference names the provider's node class (an EC2NodeClass).
type NodeClassReference struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
}

// Disruption is spec.disruption.
type Disruption struct {
	ConsolidationPolicy ConsolidationPolicy `json:"consolidationPolicy"`
	// ConsolidateAfter is a duration ("1m") or "Never".
	ConsolidateAfter string `json:"consolidateAfter"`
	// Budgets cap how many nodes may be disrupted at once; the most
	// restrictive active budget applies.
	Budgets []Budget `json:"budgets"`
}

// ConsolidationPolicy says which nodes consolidation may remove.
type ConsolidationPolicy string

// The consolidation policies of Karpenter v1.14.
const (
	// ConsolidationPolicyWhenEmpty removes only nodes without workload pods.
	ConsolidationPolicyWhenEmpty ConsolidationPolicy = "WhenEmpty"
	// ConsolidationPolicyWhenEmptyOrUnderutilized also removes or replaces
	// nodes whose pods fit elsewhere, or on a cheaper node.
	ConsolidationPolicyWhenEmptyOrUnderutilized ConsolidationPolicy = "WhenEmptyOrUnderutilized"
	// ConsolidationPolicyBalanced weighs the saving against the pods moved
	// (Karpenter v1.14.0 and later).
	ConsolidationPolicyBalanced ConsolidationPolicy = "Balanced"
)

// Budget is one disruption budget. A budget without Schedule is always
// active; one with Schedule (cron, five fields or a macro such as @daily,
// no time zone) is active for Duration after each time the schedule fires.
type Budget struct {
	// Nodes is how many of the pool's nodes may be disrupting at once: a
	// count ("0", "3") or a percentage, rounded up ("10%").
	Nodes    string `json:"nodes"`
	Schedule string `json:"schedule,omitempty"`
	// Duration is in hours and minutes ("8h", "90m", "1h30m").
	Duration string `json:"duration,omitempty"`
	// Reasons limit the budget to these kinds of disruption; empty means
	// all.
	Reasons []DisruptionReason `json:"reasons,omitempty"`
}

// DisruptionReason is a kind of disruption a budget may be limited to.
type DisruptionReason string

// The disruption reasons of Karpenter v1.14.
const (
	DisruptionReasonUnderutilized DisruptionReason = "Underutilized"
	DisruptionReasonEmpty         DisruptionReason = "Empty"
	DisruptionReasonDrifted       DisruptionReason = "Drifted"
)
