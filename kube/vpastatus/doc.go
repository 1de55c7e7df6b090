// Package vpastatus writes rightsizer's recommendations into the status of
// VerticalPodAutoscaler objects (autoscaling.k8s.io/v1), so that upstream
// VPA's updater and admission controller apply rightsizer's numbers: the
// VPA-compatible mode.
//
// A VPA opts in by naming rightsizer in spec.recommenders:
//
//	spec:
//	  recommenders:
//	    - name: rightsizer
//	  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
//
// VPAs that name another recommender, or none (they belong to upstream's
// default recommender), are never written. The Writer resolves the
// targetRef (Deployment, StatefulSet, DaemonSet, Job or CronJob, in the
// VPA's namespace) to a recommender.WorkloadKey and asks a Recommender
// (the engine) for the workload's recommendations. Per container it
// writes target, lowerBound, upperBound and uncappedTarget for cpu and
// memory (see vpaAmounts for how each is drawn from a Recommendation, and
// why), honouring the VPA's resourcePolicy as upstream's recommender does:
// containers in mode Off are left out, only controlledResources are
// written, and minAllowed/maxAllowed cap target and both bounds while
// uncappedTarget stays uncapped. The conditions RecommendationProvided
// (with a reason and a message when there is no recommendation yet) and
// LowConfidence follow.
//
// What is not done: upstream's admission-time capping to LimitRanges and,
// for controlledValues RequestsOnly, to the container's limit happen in
// its admission controller, not in a recommender, and stay there; the
// per-VPA alpha fields (OOM bump, memory aggregation) are rightsizer
// policy's business; GPUs have no place in VPA status.
//
// Writes go to the status subresource as a JSON merge patch, only when
// the status changed (quantities by at least Options.MinChange), through
// a token bucket (Options.QPS, Burst). Every VPA is re-evaluated each
// Options.Interval from the informer's cache, and at once when it
// changes; evaluation reads no API.
//
// RBAC: list and watch verticalpodautoscalers, and patch
// verticalpodautoscalers/status, in group autoscaling.k8s.io.
package vpastatus
