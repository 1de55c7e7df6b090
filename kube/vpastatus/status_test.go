package vpastatus

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	vpav1 "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1"

	"github.com/rightsizer/rightsizer/recommender"
)

func TestWorkloadKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ref     *autoscalingv1.CrossVersionObjectReference
		want    recommender.WorkloadKey
		wantErr bool
	}{
		{"deployment", &autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			recommender.WorkloadKey{Cluster: "c1", Namespace: "ns", Kind: "Deployment", Name: "web"}, false},
		{"cronjob", &autoscalingv1.CrossVersionObjectReference{APIVersion: "batch/v1", Kind: "CronJob", Name: "nightly"},
			recommender.WorkloadKey{Cluster: "c1", Namespace: "ns", Kind: "CronJob", Name: "nightly"}, false},
		{"no apiVersion", &autoscalingv1.CrossVersionObjectReference{Kind: "StatefulSet", Name: "db"},
			recommender.WorkloadKey{Cluster: "c1", Namespace: "ns", Kind: "StatefulSet", Name: "db"}, false},
		{"wrong group", &autoscalingv1.CrossVersionObjectReference{APIVersion: "batch/v1", Kind: "Deployment", Name: "web"}, recommender.WorkloadKey{}, true},
		{"unknown kind", &autoscalingv1.CrossVersionObjectReference{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: "web"}, recommender.WorkloadKey{}, true},
		{"nil", nil, recommender.WorkloadKey{}, true},
		{"no name", &autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment"}, recommender.WorkloadKey{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := workloadKey("c1", "ns", tt.ref)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestSelects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		names []string
		want  bool
	}{
		{nil, false}, // the upstream default recommender's
		{[]string{"default"}, false},
		{[]string{"other"}, false},
		{[]string{"rightsizer"}, true},
		{[]string{"other", "rightsizer"}, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.names), func(t *testing.T) {
			t.Parallel()
			vpa := &vpav1.VerticalPodAutoscaler{}
			for _, n := range tt.names {
				vpa.Spec.Recommenders = append(vpa.Spec.Recommenders, &vpav1.VerticalPodAutoscalerRecommenderSelector{Name: n})
			}
			require.Equal(t, tt.want, selects(vpa, "rightsizer"))
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	ok := DefaultOptions()
	require.NoError(t, ok.Validate())
	bad := DefaultOptions()
	bad.RecommenderName = "default"
	bad.Interval = 0
	bad.QPS = 0
	bad.Namespaces, bad.ExcludeNamespaces = []string{"a"}, []string{"a", "Not_DNS"}
	err := bad.Validate()
	require.Error(t, err)
	for _, s := range []string{"upstream VPA's own", "interval", "qps", "both included and excluded", "Not_DNS"} {
		require.ErrorContains(t, err, s)
	}
}

// rec builds a recommendation with usage for container name.
func rec(name string, cpu recommender.ResourceRecommendation[recommender.MilliCPU], mem recommender.ResourceRecommendation[recommender.Bytes]) recommender.Recommendation {
	return recommender.Recommendation{ContainerKey: recommender.ContainerKey{Container: name}, CPU: cpu, Memory: mem, Samples: 1000}
}

var (
	cpu250 = recommender.ResourceRecommendation[recommender.MilliCPU]{Request: 250, LowerBound: 200, UpperBound: 400, Uncapped: 250, CurrentRequest: 1000}
	mem256 = recommender.ResourceRecommendation[recommender.Bytes]{Request: 256 * recommender.MiB, Limit: 300 * recommender.MiB,
		LowerBound: 200 * recommender.MiB, UpperBound: 500 * recommender.MiB, Uncapped: 256 * recommender.MiB}
)

// summary is a status's quantities: container → resource → target,
// lowerBound, upperBound, uncappedTarget (millicores or bytes).
type summary map[string]map[corev1.ResourceName][4]int64

func summarize(st *vpav1.VerticalPodAutoscalerStatus) summary {
	s := summary{}
	if st.Recommendation == nil {
		return s
	}
	val := func(r corev1.ResourceName, l corev1.ResourceList) int64 {
		q, ok := l[r]
		if !ok {
			return -1
		}
		if r == corev1.ResourceCPU {
			return q.MilliValue()
		}
		return q.Value()
	}
	for _, c := range st.Recommendation.ContainerRecommendations {
		m := map[corev1.ResourceName][4]int64{}
		for r := range c.Target {
			m[r] = [4]int64{val(r, c.Target), val(r, c.LowerBound), val(r, c.UpperBound), val(r, c.UncappedTarget)}
		}
		s[c.ContainerName] = m
	}
	return s
}

func conditions(st *vpav1.VerticalPodAutoscalerStatus) map[vpav1.VerticalPodAutoscalerConditionType]string {
	m := map[vpav1.VerticalPodAutoscalerConditionType]string{}
	for _, c := range st.Conditions {
		m[c.Type] = string(c.Status) + "/" + c.Reason
	}
	return m
}

func mode(m vpav1.ContainerScalingMode) *vpav1.ContainerScalingMode { return &m }

func TestDesiredStatus(t *testing.T) {
	t.Parallel()
	const mib = int64(recommender.MiB)
	ready := map[vpav1.VerticalPodAutoscalerConditionType]string{vpav1.RecommendationProvided: "True/"}
	autoscaled := rec("app", cpu250, mem256)
	autoscaled.Flags = recommender.FlagAutoscaled
	autoscaled.CPU.Request, autoscaled.CPU.Kept = 1000, true
	autoscaled.CPU.UpperBound = 1000
	noMem := rec("app", cpu250, recommender.ResourceRecommendation[recommender.Bytes]{Request: 128 * recommender.MiB, Kept: true})
	young := rec("app", cpu250, mem256)
	young.Flags = recommender.FlagInsufficientHistory
	sidecar, initC := rec("proxy", cpu250, mem256), rec("setup", cpu250, mem256)
	sidecar.Role, initC.Role = recommender.RoleSidecar, recommender.RoleInit
	cpuLimit := cpu250
	cpuLimit.Limit = 300

	tests := []struct {
		name      string
		recs      []recommender.Recommendation
		notFound  bool
		targetErr error
		policy    *vpav1.PodResourcePolicy
		want      summary
		wantConds map[vpav1.VerticalPodAutoscalerConditionType]string
	}{
		{
			name: "bounds from the recommendation, memory upper bound at most the limit",
			recs: []recommender.Recommendation{rec("app", cpu250, mem256)},
			want: summary{"app": {
				corev1.ResourceCPU:    {250, 200, 400, 250},
				corev1.ResourceMemory: {256 * mib, 200 * mib, 300 * mib, 256 * mib},
			}},
			wantConds: ready,
		},
		{
			name: "cpu limit caps the upper bound",
			recs: []recommender.Recommendation{rec("app", cpuLimit, mem256)},
			want: summary{"app": {
				corev1.ResourceCPU:    {250, 200, 300, 250},
				corev1.ResourceMemory: {256 * mib, 200 * mib, 300 * mib, 256 * mib},
			}},
			wantConds: ready,
		},
		{
			name: "maxAllowed and minAllowed cap target and bounds, not uncappedTarget",
			recs: []recommender.Recommendation{rec("app", cpu250, mem256)},
			policy: &vpav1.PodResourcePolicy{ContainerPolicies: []vpav1.ContainerResourcePolicy{{
				ContainerName: "*",
				MaxAllowed:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("220m")},
				MinAllowed:    corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("280Mi")},
			}}},
			want: summary{"app": {
				corev1.ResourceCPU:    {220, 200, 220, 250},
				corev1.ResourceMemory: {280 * mib, 280 * mib, 300 * mib, 256 * mib},
			}},
			wantConds: ready,
		},
		{
			name: "a zero cap is no cap",
			recs: []recommender.Recommendation{rec("app", cpu250, mem256)},
			policy: &vpav1.PodResourcePolicy{ContainerPolicies: []vpav1.ContainerResourcePolicy{{
				ContainerName: "app",
				MaxAllowed:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0")},
			}}},
			want: summary{"app": {
				corev1.ResourceCPU:    {250, 200, 400, 250},
				corev1.ResourceMemory: {256 * mib, 200 * mib, 300 * mib, 256 * mib},
			}},
			wantConds: ready,
		},
		{
			name: "controlledResources",
			recs: []recommender.Recommendation{rec("app", cpu250, mem256)},
			policy: &vpav1.PodResourcePolicy{ContainerPolicies: []vpav1.ContainerResourcePolicy{{
				ContainerName: "app", ControlledResources: &[]corev1.ResourceName{corev1.ResourceMemory},
			}}},
			want:      summary{"app": {corev1.ResourceMemory: {256 * mib, 200 * mib, 300 * mib, 256 * mib}}},
			wantConds: ready,
		},
		{
			name: "mode Off by name beats the default policy",
			recs: []recommender.Recommendation{rec("app", cpu250, mem256), sidecar},
			policy: &vpav1.PodResourcePolicy{ContainerPolicies: []vpav1.ContainerResourcePolicy{
				{ContainerName: "*", MaxAllowed: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
				{ContainerName: "app", Mode: mode(vpav1.ContainerScalingModeOff)},
			}},
			want: summary{"proxy": {
				corev1.ResourceCPU:    {100, 100, 100, 250},
				corev1.ResourceMemory: {256 * mib, 200 * mib, 300 * mib, 256 * mib},
			}},
			wantConds: ready,
		},
		{
			name: "every container off",
			recs: []recommender.Recommendation{rec("app", cpu250, mem256)},
			policy: &vpav1.PodResourcePolicy{ContainerPolicies: []vpav1.ContainerResourcePolicy{
				{ContainerName: "*", Mode: mode(vpav1.ContainerScalingModeOff)},
			}},
			want:      summary{},
			wantConds: map[vpav1.VerticalPodAutoscalerConditionType]string{vpav1.RecommendationProvided: "False/" + ReasonNotControlled},
		},
		{
			name: "init containers are left out, sidecars are not",
			recs: []recommender.Recommendation{sidecar, initC},
			want: summary{"proxy": {
				corev1.ResourceCPU:    {250, 200, 400, 250},
				corev1.ResourceMemory: {256 * mib, 200 * mib, 300 * mib, 256 * mib},
			}},
			wantConds: ready,
		},
		{
			name: "a request kept for an autoscaler is written",
			recs: []recommender.Recommendation{autoscaled},
			want: summary{"app": {
				corev1.ResourceCPU:    {1000, 200, 1000, 250},
				corev1.ResourceMemory: {256 * mib, 200 * mib, 300 * mib, 256 * mib},
			}},
			wantConds: ready,
		},
		{
			name:      "a request kept for lack of usage is not",
			recs:      []recommender.Recommendation{noMem},
			want:      summary{"app": {corev1.ResourceCPU: {250, 200, 400, 250}}},
			wantConds: ready,
		},
		{
			name: "low confidence",
			recs: []recommender.Recommendation{young},
			want: summary{"app": {
				corev1.ResourceCPU:    {250, 200, 400, 250},
				corev1.ResourceMemory: {256 * mib, 200 * mib, 300 * mib, 256 * mib},
			}},
			wantConds: map[vpav1.VerticalPodAutoscalerConditionType]string{
				vpav1.RecommendationProvided: "True/", vpav1.LowConfidence: "True/" + ReasonInsufficientHistory,
			},
		},
		{
			name:      "containers without samples",
			recs:      []recommender.Recommendation{{ContainerKey: recommender.ContainerKey{Container: "app"}, CPU: cpu250}},
			want:      summary{},
			wantConds: map[vpav1.VerticalPodAutoscalerConditionType]string{vpav1.RecommendationProvided: "False/" + ReasonNoUsageData},
		},
		{
			name:      "workload unknown",
			notFound:  true,
			want:      summary{},
			wantConds: map[vpav1.VerticalPodAutoscalerConditionType]string{vpav1.RecommendationProvided: "False/" + ReasonNoUsageData},
		},
		{
			name:      "unsupported target",
			targetErr: errors.New("targetRef kind \"Rollout\" is not supported"),
			want:      summary{},
			wantConds: map[vpav1.VerticalPodAutoscalerConditionType]string{vpav1.RecommendationProvided: "False/" + ReasonUnsupportedTarget},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vpa := &vpav1.VerticalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
			vpa.Spec.ResourcePolicy = tt.policy
			st := desiredStatus(statusInput{vpa: vpa, recs: tt.recs, notFound: tt.notFound, targetErr: tt.targetErr, now: metav1.Now()})
			require.Equal(t, tt.want, summarize(&st))
			require.Equal(t, tt.wantConds, conditions(&st))
			require.Equal(t, int64(3), *st.ObservedGeneration)
			for _, c := range st.Conditions {
				if c.Status == corev1.ConditionFalse {
					require.NotEmpty(t, c.Message, "a condition without a recommendation says why")
				}
			}
		})
	}
}

func TestDesiredStatusKeepsTransitionTimes(t *testing.T) {
	t.Parallel()
	then := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	now := metav1.NewTime(then.Add(time.Hour))
	vpa := &vpav1.VerticalPodAutoscaler{}
	vpa.Status.Conditions = []vpav1.VerticalPodAutoscalerCondition{
		{Type: vpav1.RecommendationProvided, Status: corev1.ConditionTrue, LastTransitionTime: then},
		{Type: vpav1.LowConfidence, Status: corev1.ConditionFalse, LastTransitionTime: then},
		{Type: vpav1.NoPodsMatched, Status: corev1.ConditionTrue, LastTransitionTime: then}, // another recommender's
	}
	young := rec("app", cpu250, mem256)
	young.Flags = recommender.FlagInsufficientHistory
	st := desiredStatus(statusInput{vpa: vpa, recs: []recommender.Recommendation{young}, now: now})
	got := map[vpav1.VerticalPodAutoscalerConditionType]metav1.Time{}
	for _, c := range st.Conditions {
		got[c.Type] = c.LastTransitionTime
	}
	require.Equal(t, map[vpav1.VerticalPodAutoscalerConditionType]metav1.Time{
		vpav1.RecommendationProvided: then, // unchanged status keeps its time
		vpav1.LowConfidence:          now,  // False → True is a transition
	}, got)
}

func TestSettle(t *testing.T) {
	t.Parallel()
	base := desiredStatus(statusInput{
		vpa:  &vpav1.VerticalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Generation: 1}},
		recs: []recommender.Recommendation{rec("app", cpu250, mem256)}, now: metav1.Now(),
	})
	withCPU := func(st vpav1.VerticalPodAutoscalerStatus, milli int64) vpav1.VerticalPodAutoscalerStatus {
		st = *st.DeepCopy()
		st.Recommendation.ContainerRecommendations[0].Target[corev1.ResourceCPU] = *resource.NewMilliQuantity(milli, resource.DecimalSI)
		return st
	}
	gen := func(st vpav1.VerticalPodAutoscalerStatus, g int64) vpav1.VerticalPodAutoscalerStatus {
		st = *st.DeepCopy()
		st.ObservedGeneration = &g
		return st
	}
	dropMem := func(st vpav1.VerticalPodAutoscalerStatus) vpav1.VerticalPodAutoscalerStatus {
		st = *st.DeepCopy()
		for _, l := range []corev1.ResourceList{st.Recommendation.ContainerRecommendations[0].Target, st.Recommendation.ContainerRecommendations[0].LowerBound,
			st.Recommendation.ContainerRecommendations[0].UpperBound, st.Recommendation.ContainerRecommendations[0].UncappedTarget} {
			delete(l, corev1.ResourceMemory)
		}
		return st
	}
	lowConf := func(st vpav1.VerticalPodAutoscalerStatus) vpav1.VerticalPodAutoscalerStatus {
		st = *st.DeepCopy()
		st.Conditions = append(st.Conditions, vpav1.VerticalPodAutoscalerCondition{Type: vpav1.LowConfidence, Status: corev1.ConditionTrue})
		return st
	}
	// Quantities that print differently but are equal are equal.
	reformatted := *base.DeepCopy()
	reformatted.Recommendation.ContainerRecommendations[0].Target[corev1.ResourceCPU] = resource.MustParse("0.25")

	tests := []struct {
		name      string
		cur, want vpav1.VerticalPodAutoscalerStatus
		minChange float64
		write     bool
		wantCPU   int64 // target cpu written, when write
	}{
		{"equal", base, base, 0.05, false, 0},
		{"equal after a round trip", base, reformatted, 0, false, 0},
		{"jitter below min change", base, withCPU(base, 260), 0.05, false, 0},
		{"move above min change", base, withCPU(base, 270), 0.05, true, 270},
		{"any move without min change", base, withCPU(base, 251), 0, true, 251},
		{"new generation writes fresh numbers", base, gen(withCPU(base, 251), 2), 0.05, true, 251},
		{"a resource going writes", base, dropMem(base), 0.05, true, 250},
		{"a condition changing writes, keeping jittered numbers", base, lowConf(withCPU(base, 251)), 0.05, true, 250},
		{"a first recommendation writes", vpav1.VerticalPodAutoscalerStatus{}, base, 0.05, true, 250},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := settle(tt.cur, tt.want, tt.minChange)
			if !tt.write {
				require.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			q := got.Recommendation.ContainerRecommendations[0].Target[corev1.ResourceCPU]
			require.Equal(t, tt.wantCPU, q.MilliValue())
			require.Equal(t, conditions(&tt.want), conditions(got))
		})
	}
}
