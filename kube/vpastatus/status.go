package vpastatus

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	"github.com/rightsizer/rightsizer/recommender"
)

// Reasons of the RecommendationProvided condition when it is False.
const (
	// ReasonUnsupportedTarget: the VPA's targetRef is missing or names a
	// kind that rightsizer's workload keys do not have.
	ReasonUnsupportedTarget = "UnsupportedTargetRef"
	// ReasonNoUsageData: rightsizer has seen no usage of any container the
	// VPA controls yet (no pods, or pods too new to have a sample).
	ReasonNoUsageData = "NoUsageData"
	// ReasonNotControlled: the resource policy turns every container off,
	// or leaves it no resource that rightsizer recommends (cpu, memory).
	ReasonNotControlled = "NoControlledResources"
	// ReasonInsufficientHistory is the reason of LowConfidence.
	ReasonInsufficientHistory = "InsufficientHistory"
)

// targetKinds maps the workload kinds a VPA may target to their API
// group. They are the kinds rightsizer's workload keys use (kube/ rolls
// pods up to them), so a targetRef of one of them names a key directly,
// without an API call.
var targetKinds = map[string]string{
	"Deployment":  "apps",
	"StatefulSet": "apps",
	"DaemonSet":   "apps",
	"Job":         "batch",
	"CronJob":     "batch",
}

// workloadKey resolves a VPA's targetRef, in the VPA's namespace, to a
// workload key. An empty apiVersion is accepted (the field is optional in
// the CRD); a group other than the kind's is not.
func workloadKey(cluster, namespace string, ref *autoscalingv1.CrossVersionObjectReference) (recommender.WorkloadKey, error) {
	if ref == nil || ref.Name == "" {
		return recommender.WorkloadKey{}, errors.New("spec.targetRef names no object")
	}
	group, ok := targetKinds[ref.Kind]
	if !ok {
		return recommender.WorkloadKey{}, fmt.Errorf("targetRef kind %q is not one of Deployment, StatefulSet, DaemonSet, Job, CronJob", ref.Kind)
	}
	if ref.APIVersion != "" {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil || gv.Group != group {
			return recommender.WorkloadKey{}, fmt.Errorf("targetRef apiVersion %q is not in group %q of kind %s", ref.APIVersion, group, ref.Kind)
		}
	}
	k := recommender.WorkloadKey{Cluster: cluster, Namespace: namespace, Kind: ref.Kind, Name: ref.Name}
	if err := k.Validate(); err != nil {
		return recommender.WorkloadKey{}, fmt.Errorf("targetRef: %w", err)
	}
	return k, nil
}

// selects reports whether a VPA names recommender name in
// spec.recommenders. A VPA without recommenders belongs to the upstream
// default recommender and is never selected.
func selects(vpa *vpav1.VerticalPodAutoscaler, name string) bool {
	for _, r := range vpa.Spec.Recommenders {
		if r != nil && r.Name == name {
			return true
		}
	}
	return false
}

// containerPolicy returns the resource policy that applies to a
// container: its own entry, else the "*" entry, else nil (upstream's rule).
func containerPolicy(name string, p *vpav1.PodResourcePolicy) *vpav1.ContainerResourcePolicy {
	if p == nil {
		return nil
	}
	var def *vpav1.ContainerResourcePolicy
	for i := range p.ContainerPolicies {
		switch p.ContainerPolicies[i].ContainerName {
		case name:
			return &p.ContainerPolicies[i]
		case vpav1.DefaultContainerResourcePolicy:
			def = &p.ContainerPolicies[i]
		}
	}
	return def
}

// controls reports whether policy lets the VPA control resource r: all of
// cpu and memory by default, else those in controlledResources.
func controls(p *vpav1.ContainerResourcePolicy, r corev1.ResourceName) bool {
	if p == nil || p.ControlledResources == nil {
		return r == corev1.ResourceCPU || r == corev1.ResourceMemory
	}
	return slices.Contains(*p.ControlledResources, r)
}

// amounts are the four numbers VPA status carries for one resource, in
// the resource's unit (millicores or bytes).
type amounts struct {
	target, lower, upper, uncapped int64
}

// vpaAmounts maps one resource of a recommendation onto VPA's four
// numbers, and says false when the recommendation carries no advice from
// usage for it. The mapping, and why:
//
//   - target is Request: what rightsizer recommends a pod asks for over
//     the profile's long horizon. Live (CPU) is not used: it is the
//     short-horizon request that rightsizer's own controller applies
//     because it raises requests in place the moment usage runs above
//     them; VPA's updater acts on a loop and by eviction, so a pod sized
//     at Live would run short until then. (Live equals Request for every
//     workload rightsizer's controller does not manage.)
//   - lowerBound is LowerBound and upperBound is UpperBound: the engine
//     documents them as the requests consistent with the history seen,
//     which is exactly what VPA's updater reads them as (a pod whose
//     request is outside them is updated). They carry the engine's
//     confidence already: from a binomial interval on the percentile's
//     rank with the effective number of independent observations, so they
//     are wide while history is short, and the top widened up to 2× while
//     confidence is low, so young pods are not evicted to reclaim
//     resources (the same intent as VPA's confidence multipliers, without
//     its 100T placeholders). Both lie within the profile's Min and Max
//     and bracket Request.
//   - upperBound is at most Limit when the recommendation sets one (never
//     below Request): a request above the limit rightsizer would set
//     reserves capacity the container is predicted never to be allowed or
//     need to use (for memory, Limit already clears the window's peak,
//     growth and OOM bumps), so a pod asking for more is oversized by the
//     engine's own numbers.
//   - uncappedTarget is Uncapped, the request from usage alone, before the
//     profile's Min and Max (and before an autoscaler pins the request):
//     VPA defines it as the target "based only on actual resource usage".
//
// A resource the engine kept at today's request because it has seen no
// usage of it (Kept without FlagAutoscaled) carries no advice; one kept
// because an HPA or KEDA scales on it does: keep the request, so the
// autoscaler's utilization target keeps its meaning (VPA #6060). Limits
// are not written: VPA has no field for them, and its admission
// controller scales limits in proportion to the request it sets.
func vpaAmounts[T recommender.MilliCPU | recommender.Bytes](r *recommender.ResourceRecommendation[T], autoscaled bool) (amounts, bool) {
	if r.Request <= 0 || (r.Kept && !autoscaled) {
		return amounts{}, false
	}
	a := amounts{
		target:   int64(r.Request),
		lower:    int64(min(r.LowerBound, r.Request)),
		upper:    int64(max(r.UpperBound, r.Request)),
		uncapped: int64(r.Uncapped),
	}
	if r.Limit > 0 {
		a.upper = max(min(a.upper, int64(r.Limit)), a.target)
	}
	if a.uncapped <= 0 {
		a.uncapped = a.target
	}
	return a, true
}

func quantity(r corev1.ResourceName, v int64) resource.Quantity {
	if r == corev1.ResourceCPU {
		return *resource.NewMilliQuantity(v, resource.DecimalSI)
	}
	return *resource.NewQuantity(v, resource.BinarySI)
}

// capToPolicy applies minAllowed then maxAllowed to q, as upstream's
// capping post-processor does to target and both bounds; a zero or absent
// quantity means no cap.
func capToPolicy(q resource.Quantity, r corev1.ResourceName, p *vpav1.ContainerResourcePolicy) resource.Quantity {
	if p == nil {
		return q
	}
	if lo, ok := p.MinAllowed[r]; ok && !lo.IsZero() && q.Cmp(lo) < 0 {
		q = lo.DeepCopy()
	}
	if hi, ok := p.MaxAllowed[r]; ok && !hi.IsZero() && q.Cmp(hi) > 0 {
		q = hi.DeepCopy()
	}
	return q
}

// containerRecommendation builds one container's entry, or false when
// the policy turns the container off or nothing it controls has advice.
func containerRecommendation(rec *recommender.Recommendation, policy *vpav1.PodResourcePolicy) (vpav1.RecommendedContainerResources, bool) {
	p := containerPolicy(rec.Container, policy)
	if p != nil && p.Mode != nil && *p.Mode == vpav1.ContainerScalingModeOff {
		return vpav1.RecommendedContainerResources{}, false
	}
	out := vpav1.RecommendedContainerResources{
		ContainerName:  rec.Container,
		Target:         corev1.ResourceList{},
		LowerBound:     corev1.ResourceList{},
		UpperBound:     corev1.ResourceList{},
		UncappedTarget: corev1.ResourceList{},
	}
	autoscaled := rec.Flags.Has(recommender.FlagAutoscaled)
	add := func(r corev1.ResourceName, a amounts, ok bool) {
		if !ok || !controls(p, r) {
			return
		}
		out.Target[r] = capToPolicy(quantity(r, a.target), r, p)
		out.LowerBound[r] = capToPolicy(quantity(r, a.lower), r, p)
		out.UpperBound[r] = capToPolicy(quantity(r, a.upper), r, p)
		out.UncappedTarget[r] = quantity(r, a.uncapped)
	}
	cpu, ok := vpaAmounts(&rec.CPU, autoscaled)
	add(corev1.ResourceCPU, cpu, ok)
	mem, ok := vpaAmounts(&rec.Memory, autoscaled)
	add(corev1.ResourceMemory, mem, ok)
	return out, len(out.Target) > 0
}

// statusInput is what a VPA's desired status depends on.
type statusInput struct {
	vpa *vpav1.VerticalPodAutoscaler
	// targetErr says why the targetRef could not be resolved; when set,
	// recs and notFound are unused.
	targetErr error
	// recs are the workload's recommendations; notFound is set when the
	// engine knows nothing of the workload.
	recs     []recommender.Recommendation
	notFound bool
	now      metav1.Time
}

// desiredStatus computes the status rightsizer wants on the VPA. It is a
// pure function of its input: conditions keep their LastTransitionTime
// from the VPA's current status while their status is unchanged, so that
// equal inputs give a status equal to the one already written.
//
// Conditions: RecommendationProvided always (False with a reason and a
// message when there is no recommendation), and LowConfidence (True) while
// any container's history is shorter than its profile's MinHistory or
// MinSamples. rightsizer owns the status of the VPAs that name it, so
// conditions of other types (left by another recommender before the VPA
// named rightsizer) are dropped, as upstream's recommender replaces the
// whole status. Messages carry no changing numbers, so they do not cause
// writes on their own.
func desiredStatus(in statusInput) vpav1.VerticalPodAutoscalerStatus {
	gen := in.vpa.Generation
	st := vpav1.VerticalPodAutoscalerStatus{ObservedGeneration: &gen}
	var conds []vpav1.VerticalPodAutoscalerCondition
	set := func(t vpav1.VerticalPodAutoscalerConditionType, status corev1.ConditionStatus, reason, msg string) {
		c := vpav1.VerticalPodAutoscalerCondition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: in.now}
		for _, old := range in.vpa.Status.Conditions {
			if old.Type == t && old.Status == status {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		conds = append(conds, c)
	}

	var (
		recs                []vpav1.RecommendedContainerResources
		lowConf             []string
		reason, msg         string
		sawUsage, sawActive bool
	)
	switch {
	case in.targetErr != nil:
		reason, msg = ReasonUnsupportedTarget, in.targetErr.Error()
	case in.notFound:
		reason, msg = ReasonNoUsageData, "rightsizer has seen no pods or usage of the target yet"
	default:
		for i := range in.recs {
			r := &in.recs[i]
			// Init containers run to completion before the app starts;
			// upstream VPA drops their samples too. Native sidecars
			// (restartable init containers) run for the pod's life and
			// are sized like app containers.
			if r.Role == recommender.RoleInit || r.Samples == 0 {
				continue
			}
			sawUsage = true
			if p := containerPolicy(r.Container, in.vpa.Spec.ResourcePolicy); p == nil || p.Mode == nil || *p.Mode != vpav1.ContainerScalingModeOff {
				sawActive = true
			}
			c, ok := containerRecommendation(r, in.vpa.Spec.ResourcePolicy)
			if !ok {
				continue
			}
			recs = append(recs, c)
			if r.Flags.Has(recommender.FlagInsufficientHistory) {
				lowConf = append(lowConf, r.Container)
			}
		}
		switch {
		case len(recs) > 0:
		case !sawUsage:
			reason, msg = ReasonNoUsageData, "rightsizer has seen no usage of the target's containers yet"
		case !sawActive:
			reason, msg = ReasonNotControlled, "the resource policy turns every container with usage off"
		default:
			reason, msg = ReasonNotControlled, "the resource policy controls neither cpu nor memory of any container with usage, or usage covers neither"
		}
	}

	if len(recs) > 0 {
		slices.SortFunc(recs, func(a, b vpav1.RecommendedContainerResources) int {
			return strings.Compare(a.ContainerName, b.ContainerName)
		})
		st.Recommendation = &vpav1.RecommendedPodResources{ContainerRecommendations: recs}
		set(vpav1.RecommendationProvided, corev1.ConditionTrue, "", "")
	} else {
		set(vpav1.RecommendationProvided, corev1.ConditionFalse, reason, msg)
	}
	if len(lowConf) > 0 {
		set(vpav1.LowConfidence, corev1.ConditionTrue, ReasonInsufficientHistory,
			"less history than the profile asks for, bounds are wide, for container(s): "+strings.Join(lowConf, ", "))
	}
	slices.SortFunc(conds, func(a, b vpav1.VerticalPodAutoscalerCondition) int {
		return strings.Compare(string(a.Type), string(b.Type))
	})
	st.Conditions = conds
	return st
}

// settle decides what to write: nil when the VPA's current status is as
// good as want, else the status to write. Quantities that moved by less
// than minChange (relative) keep their written values, so that the
// percentiles' jitter from loop to loop does not rewrite every VPA every
// interval; a new spec (generation), a container or resource appearing or
// going, or any condition change writes at once, with fresh quantities.
func settle(cur, want vpav1.VerticalPodAutoscalerStatus, minChange float64) *vpav1.VerticalPodAutoscalerStatus {
	sameGen := cur.ObservedGeneration != nil && want.ObservedGeneration != nil && *cur.ObservedGeneration == *want.ObservedGeneration
	if sameGen && minChange > 0 && cur.Recommendation != nil && want.Recommendation != nil &&
		!moved(cur.Recommendation, want.Recommendation, minChange) {
		want.Recommendation = cur.Recommendation
	}
	if apiequality.Semantic.DeepEqual(cur, want) {
		return nil
	}
	return &want
}

// moved reports whether b differs from a in shape (containers, resources)
// or in any quantity by more than frac of a's value.
func moved(a, b *vpav1.RecommendedPodResources, frac float64) bool {
	if len(a.ContainerRecommendations) != len(b.ContainerRecommendations) {
		return true
	}
	for i := range a.ContainerRecommendations {
		x, y := &a.ContainerRecommendations[i], &b.ContainerRecommendations[i]
		if x.ContainerName != y.ContainerName ||
			listMoved(x.Target, y.Target, frac) || listMoved(x.LowerBound, y.LowerBound, frac) ||
			listMoved(x.UpperBound, y.UpperBound, frac) || listMoved(x.UncappedTarget, y.UncappedTarget, frac) {
			return true
		}
	}
	return false
}

func listMoved(a, b corev1.ResourceList, frac float64) bool {
	if len(a) != len(b) {
		return true
	}
	for r, qa := range a {
		qb, ok := b[r]
		if !ok {
			return true
		}
		// Millis hold both units exactly: 1e18 millis is 1e15 bytes, a
		// petabyte, far above any container.
		va, vb := float64(qa.MilliValue()), float64(qb.MilliValue())
		if va == vb {
			continue
		}
		if va == 0 || math.Abs(vb-va) > frac*va {
			return true
		}
	}
	return false
}
