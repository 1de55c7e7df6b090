package karpenter

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/rightsizer/rightsizer/internal/kubetest"
	"github.com/rightsizer/rightsizer/nodeplan/catalog"
)

// These tests apply NodePools to a real kube-apiserver with Karpenter's
// CRD from its Go module (internal/kubetest), so that the CRD's OpenAPI
// schema and CEL rules judge them. NodePools are cluster-scoped: each test
// names its objects apart.

var nodePoolsGVR = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodepools"}

// nodePoolClient returns a client of the shared test cluster's NodePools,
// or skips the test when there is no cluster to start.
func nodePoolClient(t *testing.T) dynamic.ResourceInterface {
	t.Helper()
	cfg := rest.CopyConfig(kubetest.Shared(t).Config)
	cfg.QPS = -1 // no client-side rate limit
	hc, err := rest.HTTPClientFor(cfg)
	require.NoError(t, err)
	t.Cleanup(hc.CloseIdleConnections)
	dyn, err := dynamic.NewForConfigAndClient(cfg, hc)
	require.NoError(t, err)
	return dyn.Resource(nodePoolsGVR)
}

// unstructuredDocs reads multi-document YAML as the API server would, with
// integers as int64.
func unstructuredDocs(t *testing.T, y []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	for _, d := range strings.Split(string(y), "\n---\n") {
		j, err := yaml.YAMLToJSON([]byte(d))
		require.NoError(t, err)
		u := &unstructured.Unstructured{}
		require.NoError(t, u.UnmarshalJSON(j))
		objs = append(objs, u)
	}
	return objs
}

// Every pool of every golden case is created, and reads back with the
// spec, labels and annotations it was sent with: the CRD's defaulting
// changed nothing, since every defaulted field is set.
func TestApplyGolden(t *testing.T) {
	c := nodePoolClient(t)
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			pools, err := NodePools(tc.used, tc.opts)
			require.NoError(t, err)
			y, err := Marshal(pools)
			require.NoError(t, err)
			objs := unstructuredDocs(t, y)
			require.Len(t, objs, len(pools))
			for _, u := range objs {
				u.SetName("golden-" + tc.name + "-" + u.GetName())
				_, err := c.Create(t.Context(), u, metav1.CreateOptions{})
				require.NoError(t, err, "create %s", u.GetName())
				got, err := c.Get(t.Context(), u.GetName(), metav1.GetOptions{})
				require.NoError(t, err)
				require.Equal(t, u.Object["spec"], got.Object["spec"], "spec of %s", u.GetName())
				require.Equal(t, u.GetLabels(), got.GetLabels())
				require.Equal(t, u.GetAnnotations(), got.GetAnnotations())
			}
		})
	}
}

// validPool is a spot GPU pool with taints, minValues and limits, as
// unstructured, named name.
func validPool(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	pools, err := NodePools([]Use{{g6XL(spot), 3}, {g62XL(spot), 1}}, Options{})
	require.NoError(t, err)
	require.Len(t, pools, 1)
	y, err := Marshal(pools)
	require.NoError(t, err)
	u := unstructuredDocs(t, y)[0]
	u.SetName(name)
	return u
}

func dryRun() metav1.CreateOptions { return metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}} }

// Validation is live: pools broken in ways the CRD forbids are rejected,
// by its schema and by its CEL rules, while the same pool unbroken is
// accepted.
func TestApplyRejected(t *testing.T) {
	c := nodePoolClient(t)
	_, err := c.Create(t.Context(), validPool(t, "control"), dryRun())
	require.NoError(t, err, "the unbroken pool")

	set := func(value any, path ...string) func(*testing.T, *unstructured.Unstructured) {
		return func(t *testing.T, u *unstructured.Unstructured) {
			require.NoError(t, unstructured.SetNestedField(u.Object, value, path...))
		}
	}
	setRequirement := func(key string, value any, field string) func(*testing.T, *unstructured.Unstructured) {
		return func(t *testing.T, u *unstructured.Unstructured) {
			reqs, _, err := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "requirements")
			require.NoError(t, err)
			found := false
			for _, r := range reqs {
				if m := r.(map[string]any); m["key"] == key {
					m[field], found = value, true
				}
			}
			require.True(t, found, key)
			require.NoError(t, unstructured.SetNestedSlice(u.Object, reqs, "spec", "template", "spec", "requirements"))
		}
	}
	tests := []struct {
		name   string
		mutate func(*testing.T, *unstructured.Unstructured)
		want   string
	}{
		{"budget nodes over 100%", set([]any{map[string]any{"nodes": "110%"}}, "spec", "disruption", "budgets"), "spec.disruption.budgets[0].nodes"},
		{"consolidateAfter in days", set("5d", "spec", "disruption", "consolidateAfter"), "spec.disruption.consolidateAfter"},
		{"consolidateAfter missing", func(t *testing.T, u *unstructured.Unstructured) {
			unstructured.RemoveNestedField(u.Object, "spec", "disruption", "consolidateAfter")
		}, "spec.disruption.consolidateAfter: Required value"},
		{"expireAfter in days", set("30d", "spec", "template", "spec", "expireAfter"), "spec.template.spec.expireAfter"},
		{"consolidation policy", set("Always", "spec", "disruption", "consolidationPolicy"), "spec.disruption.consolidationPolicy: Unsupported value"},
		{"schedule without duration (CEL)", set([]any{map[string]any{"nodes": "0", "schedule": "@daily"}}, "spec", "disruption", "budgets"),
			"'schedule' must be set with 'duration'"},
		{"budget reason", set([]any{map[string]any{"nodes": "0", "reasons": []any{"Unhealthy"}}}, "spec", "disruption", "budgets"),
			"spec.disruption.budgets[0].reasons[0]: Unsupported value"},
		{"weight 0", set(int64(0), "spec", "weight"), "spec.weight"},
		{"weight 101", set(int64(101), "spec", "weight"), "spec.weight"},
		{"minValues above the values (CEL)", setRequirement(catalog.LabelInstanceType, int64(3), "minValues"),
			"requirements with 'minValues' must have at least that many values"},
		{"In without values (CEL)", setRequirement(catalog.LabelInstanceType, []any{}, "values"), "requirements with operator 'In' must have a value defined"},
		{"restricted label (CEL)", setRequirement(catalog.LabelInstanceType, "karpenter.sh/nodepool", "key"), `label "karpenter.sh/nodepool" is restricted`},
		{"node class without name (CEL)", set("", "spec", "template", "spec", "nodeClassRef", "name"), "name may not be empty"},
		{"taint effect", set([]any{map[string]any{"key": "nvidia.com/gpu", "effect": "Sometimes"}}, "spec", "template", "spec", "taints"),
			"spec.template.spec.taints[0].effect: Unsupported value"},
		{"limit", set(map[string]any{"cpu": "lots"}, "spec", "limits"), "spec.limits.cpu"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := validPool(t, fmt.Sprintf("rejected-%d", i))
			tc.mutate(t, u)
			_, err := c.Create(t.Context(), u, dryRun())
			require.Error(t, err)
			require.True(t, apierrors.IsInvalid(err), "%v", err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

// Options' checks agree with the CRD's patterns: a value NodePools accepts
// the API server accepts, and a value the server rejects NodePools
// rejects. NodePools is stricter only where Karpenter would fail later, on
// durations and counts out of range.
func TestApplyValidationAgrees(t *testing.T) {
	c := nodePoolClient(t)
	durations := []string{"0s", "30s", "1m", "1h30m", "720h", "Never", "5d", "1.5h", "never", "-1s", "30", " 30s", "1h 30m", "NEVER", "9999999999h"}
	fields := []struct {
		name   string
		values []string
		check  func(string) error
		set    func(*unstructured.Unstructured, string) error
	}{
		{"consolidateAfter", durations, checkNillableDuration, func(u *unstructured.Unstructured, v string) error {
			return unstructured.SetNestedField(u.Object, v, "spec", "disruption", "consolidateAfter")
		}},
		{"expireAfter", durations, checkNillableDuration, func(u *unstructured.Unstructured, v string) error {
			return unstructured.SetNestedField(u.Object, v, "spec", "template", "spec", "expireAfter")
		}},
		{"budget nodes", []string{"0", "3", "10%", "0%", "100%", "101%", "-1", "10 %", "1.5", "%", "99999999999"}, checkBudgetNodes,
			func(u *unstructured.Unstructured, v string) error {
				return unstructured.SetNestedSlice(u.Object, []any{map[string]any{"nodes": v}}, "spec", "disruption", "budgets")
			}},
		{"budget duration", []string{"8h", "90m", "1h30m", "1h30m0s", "30s", "1d", "1h30s", "h", "8H"},
			func(d string) error { return checkWindow(Budget{Nodes: "0", Schedule: "@daily", Duration: d}) },
			func(u *unstructured.Unstructured, v string) error {
				return unstructured.SetNestedSlice(u.Object, []any{map[string]any{"nodes": "0", "schedule": "@daily", "duration": v}},
					"spec", "disruption", "budgets")
			}},
	}
	outOfRange := map[string]bool{"9999999999h": true, "99999999999": true}
	n := 0
	for _, f := range fields {
		accepted, rejected := 0, 0
		for _, v := range f.values {
			n++
			u := validPool(t, fmt.Sprintf("agree-%d", n))
			require.NoError(t, f.set(u, v))
			_, serverErr := c.Create(t.Context(), u, dryRun())
			if serverErr != nil {
				require.True(t, apierrors.IsInvalid(serverErr), "%s %q: %v", f.name, v, serverErr)
				rejected++
			} else {
				accepted++
			}
			ours := f.check(v)
			switch {
			case ours == nil:
				require.NoError(t, serverErr, "%s %q: NodePools accepts it, the API server does not", f.name, v)
			case serverErr != nil:
			case outOfRange[v]:
				require.ErrorContains(t, ours, "out of range")
			default:
				t.Errorf("%s %q: NodePools rejects it (%v), the API server accepts it", f.name, v, ours)
			}
		}
		require.Positive(t, accepted, f.name)
		require.Positive(t, rejected, f.name)
	}
}
