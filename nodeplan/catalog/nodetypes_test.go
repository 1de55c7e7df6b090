package catalog_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/rightsizer/rightsizer/internal/golden"
	"github.com/rightsizer/rightsizer/nodeplan/catalog"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// nodeType returns the named node type of the list.
func nodeType(t *testing.T, types []cluster.NodeType, name, capacity string) cluster.NodeType {
	t.Helper()
	i := slices.IndexFunc(types, func(n cluster.NodeType) bool { return n.Name == name && n.CapacityType == capacity })
	require.GreaterOrEqual(t, i, 0, "no %s %s", capacity, name)
	return types[i]
}

// TestNodeTypesRealRows pins two rows of the embedded catalog field by
// field: a CPU type and a GPU type with every GPU label.
func TestNodeTypesRealRows(t *testing.T) {
	t.Parallel()
	types, err := catalog.AWSUSEast1().NodeTypes(catalog.NodeTypeOptions{})
	require.NoError(t, err)
	require.Len(t, types, 172, "one on-demand node type per instance type")

	require.Equal(t, cluster.NodeType{
		Name: "m5.large", CapacityType: "on-demand", PricePerHour: 0.096,
		Allocatable: cluster.Resources{CPU: 1930, Memory: 6903 * recommender.MiB, Pods: 29},
		Labels: map[string]string{
			"node.kubernetes.io/instance-type":      "m5.large",
			"karpenter.sh/capacity-type":            "on-demand",
			"kubernetes.io/arch":                    "amd64",
			"karpenter.k8s.aws/instance-category":   "m",
			"karpenter.k8s.aws/instance-family":     "m5",
			"karpenter.k8s.aws/instance-generation": "5",
			"karpenter.k8s.aws/instance-size":       "large",
			"karpenter.k8s.aws/instance-cpu":        "2",
			"karpenter.k8s.aws/instance-memory":     "8192",
		},
	}, nodeType(t, types, "m5.large", "on-demand"))

	require.Equal(t, cluster.NodeType{
		Name: "g5.12xlarge", CapacityType: "on-demand", PricePerHour: 5.672,
		Allocatable: cluster.Resources{CPU: 47810, Memory: 173400 * recommender.MiB, Pods: 737},
		GPUs:        4, GPUModel: "A10G-24GB", GPUMemory: 22888 * recommender.MiB, GPUResource: cluster.NVIDIAGPU,
		Labels: map[string]string{
			"node.kubernetes.io/instance-type":            "g5.12xlarge",
			"karpenter.sh/capacity-type":                  "on-demand",
			"kubernetes.io/arch":                          "amd64",
			"karpenter.k8s.aws/instance-category":         "g",
			"karpenter.k8s.aws/instance-family":           "g5",
			"karpenter.k8s.aws/instance-generation":       "5",
			"karpenter.k8s.aws/instance-size":             "12xlarge",
			"karpenter.k8s.aws/instance-cpu":              "48",
			"karpenter.k8s.aws/instance-memory":           "196608",
			"karpenter.k8s.aws/instance-gpu-name":         "a10g",
			"karpenter.k8s.aws/instance-gpu-count":        "4",
			"karpenter.k8s.aws/instance-gpu-memory":       "22888",
			"karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia",
		},
	}, nodeType(t, types, "g5.12xlarge", "on-demand"))

	// arm64 and a metal size with a suffix.
	g := nodeType(t, types, "m7g.medium", "on-demand")
	require.Equal(t, "arm64", g.Labels[catalog.LabelArch])
	m := nodeType(t, types, "m7i.metal-24xl", "on-demand")
	require.Equal(t, "metal-24xl", m.Labels[catalog.LabelInstanceSize])
	require.Equal(t, "7", m.Labels[catalog.LabelInstanceGeneration])
	inf := nodeType(t, types, "inf2.xlarge", "on-demand")
	require.Equal(t, "inf", inf.Labels[catalog.LabelInstanceCategory])
}

// TestLabelKeys checks the label keys against Kubernetes' constants where
// it defines them, and the others' spelling (Karpenter's own constants
// are in modules this one does not need).
func TestLabelKeys(t *testing.T) {
	t.Parallel()
	require.Equal(t, corev1.LabelInstanceTypeStable, catalog.LabelInstanceType)
	require.Equal(t, corev1.LabelArchStable, catalog.LabelArch)
	for _, k := range []string{catalog.LabelInstanceCategory, catalog.LabelInstanceFamily, catalog.LabelInstanceGeneration,
		catalog.LabelInstanceSize, catalog.LabelInstanceCPU, catalog.LabelInstanceMemory, catalog.LabelInstanceGPUName,
		catalog.LabelInstanceGPUCount, catalog.LabelInstanceGPUMemory, catalog.LabelInstanceGPUManufacturer} {
		require.Regexp(t, `^karpenter\.k8s\.aws/instance-[a-z-]+$`, k)
	}
	require.Equal(t, "karpenter.sh/capacity-type", catalog.LabelCapacityType)
}

// TestGPUResource maps every manufacturer the catalog labels to its GPU
// resource, and refuses others.
func TestGPUResource(t *testing.T) {
	t.Parallel()
	for m, want := range map[string]string{"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu"} {
		got, ok := catalog.GPUResource(m)
		require.True(t, ok, m)
		require.Equal(t, want, got)
	}
	for _, m := range []string{"", "intel", "NVIDIA"} {
		_, ok := catalog.GPUResource(m)
		require.False(t, ok, m)
	}
	// The embedded catalog has no AMD GPUs; a user's may.
	c, err := catalog.Parse(strings.NewReader(header + goodRows + "g4ad.xlarge,g4ad,amd64,4,16384,1,radeon-pro-v520,8192,3920m,14Gi,8,1,0.379\n"))
	require.NoError(t, err)
	for _, taint := range []bool{true, false} {
		types, err := c.NodeTypes(catalog.NodeTypeOptions{GPUTaint: taint})
		require.NoError(t, err)
		amd := 0
		for _, nt := range types {
			if nt.GPUs == 0 {
				require.Empty(t, nt.GPUResource, nt.Name)
				continue
			}
			res, ok := catalog.GPUResource(nt.Labels[catalog.LabelInstanceGPUManufacturer])
			require.True(t, ok, nt.Name)
			require.Equal(t, res, nt.GPUResource, "the GPU resource of %s", nt.Name)
			if taint {
				require.Equal(t, res, nt.Taints[0].Key, "the GPU taint of %s", nt.Name)
			}
			if res == "amd.com/gpu" {
				amd++
				require.False(t, nt.Admits(&cluster.Pod{GPU: cluster.GPURequest{Count: 1}, Tolerations: []cluster.Toleration{{Operator: "Exists"}}}), nt.Name)
			}
		}
		require.Equal(t, 1, amd)
	}
}

// TestCategoryGeneration reads instance category and generation as
// Karpenter's AWS provider does, from names of a user catalog, and leaves
// both labels off a name it cannot read.
func TestCategoryGeneration(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(header)
	names := []struct{ name, family, category, generation string }{
		{"m7i-flex.large", "m7i-flex", "m", "7"},
		{"u-6tb1.metal", "u-6tb1", "u", "1"},
		{"x2iedn.xlarge", "x2iedn", "x", "2"},
		{"p5en.48xlarge", "p5en", "p", "5"},
		{"trn1n.32xlarge", "trn1n", "trn", "1"},
		{"c7gn.medium", "c7gn", "c", "7"},
		{"mac2-m2pro.metal", "mac2-m2pro", "mac", "2"},
		{"custom.big", "custom", "", ""},
		{"9x.big", "9x", "", ""},
	}
	for _, n := range names {
		fmt.Fprintf(&b, "%s,%s,amd64,2,4096,,,,1930m,3114Mi,29,,0.1\n", n.name, n.family)
	}
	c, err := catalog.Parse(strings.NewReader(b.String()))
	require.NoError(t, err)
	types, err := c.NodeTypes(catalog.NodeTypeOptions{})
	require.NoError(t, err)
	for i, n := range names {
		l := types[i].Labels
		require.Equal(t, n.name, l[catalog.LabelInstanceType])
		require.Equal(t, n.family, l[catalog.LabelInstanceFamily], n.name)
		cat, ok := l[catalog.LabelInstanceCategory]
		require.Equal(t, n.category != "", ok, n.name)
		require.Equal(t, n.category, cat, n.name)
		require.Equal(t, n.generation, l[catalog.LabelInstanceGeneration], n.name)
	}
	_, err = c.NodeTypes(catalog.NodeTypeOptions{Categories: []string{"mac", "u"}})
	require.NoError(t, err)
}

// names lists node types as "name/capacity".
func names(types []cluster.NodeType) []string {
	out := make([]string, len(types))
	for i, n := range types {
		out[i] = n.Name + "/" + n.CapacityType
	}
	return out
}

// TestNodeTypesOptions covers each option on a small catalog: two CPU
// types (one arm64) and a GPU type, with a spot price on c5.large only.
func TestNodeTypesOptions(t *testing.T) {
	t.Parallel()
	base, err := catalog.Parse(strings.NewReader(spotHeader +
		"c5.large,c5,amd64,2,4096,,,,1930m,3114Mi,29,,0.085,0.03\n" +
		"m7g.large,m7g,arm64,2,8192,,,,1930m,6903Mi,29,,0.0816,\n" +
		"g5.xlarge,g5,amd64,4,16384,1,a10g,22888,3920m,14162Mi,58,1,1.006,\n"))
	require.NoError(t, err)
	discounted, err := base.WithOverrides(catalog.Overrides{SpotDiscount: 0.5})
	require.NoError(t, err)
	gpuTaint := []cluster.Taint{{Key: "nvidia.com/gpu", Value: "true", Effect: "NoSchedule"}}
	for _, tc := range []struct {
		name  string
		c     *catalog.Catalog
		opts  catalog.NodeTypeOptions
		want  []string
		check func(t *testing.T, types []cluster.NodeType)
	}{
		{name: "defaults: on-demand, catalog order", c: base,
			want: []string{"c5.large/on-demand", "m7g.large/on-demand", "g5.xlarge/on-demand"},
			check: func(t *testing.T, types []cluster.NodeType) {
				for _, n := range types {
					require.Nil(t, n.Taints)
				}
			}},
		{name: "spot only where priced", c: base, opts: catalog.NodeTypeOptions{CapacityTypes: []string{"spot"}},
			want: []string{"c5.large/spot"},
			check: func(t *testing.T, types []cluster.NodeType) {
				require.InDelta(t, 0.03, types[0].PricePerHour, 0)
				require.Equal(t, "spot", types[0].Labels[catalog.LabelCapacityType])
			}},
		{name: "on-demand before spot, whatever the order asked", c: discounted,
			opts: catalog.NodeTypeOptions{CapacityTypes: []string{"spot", "on-demand", "spot"}},
			want: []string{"c5.large/on-demand", "c5.large/spot", "m7g.large/on-demand", "m7g.large/spot", "g5.xlarge/on-demand", "g5.xlarge/spot"},
			check: func(t *testing.T, types []cluster.NodeType) {
				require.InDelta(t, 0.03, types[1].PricePerHour, 0, "a known spot price wins over the discount")
				require.InDelta(t, 0.0408, types[3].PricePerHour, 1e-12)
				require.InDelta(t, 1.006, types[4].PricePerHour, 0)
				require.InDelta(t, 0.503, types[5].PricePerHour, 1e-12)
				require.Equal(t, types[4].Allocatable, types[5].Allocatable)
			}},
		{name: "DaemonSet overhead", c: base,
			opts: catalog.NodeTypeOptions{DaemonSetOverhead: cluster.Resources{CPU: 150, Memory: 200 * recommender.MiB, Pods: 4}},
			want: []string{"c5.large/on-demand", "m7g.large/on-demand", "g5.xlarge/on-demand"},
			check: func(t *testing.T, types []cluster.NodeType) {
				require.Equal(t, cluster.Resources{CPU: 1780, Memory: 2914 * recommender.MiB, Pods: 25}, types[0].Allocatable)
				require.Equal(t, cluster.Resources{CPU: 3770, Memory: 13962 * recommender.MiB, Pods: 54}, types[2].Allocatable)
				require.Equal(t, 1, types[2].GPUs, "GPUs are not overhead")
			}},
		{name: "max pods caps, DaemonSets included", c: base,
			opts: catalog.NodeTypeOptions{MaxPods: 32, DaemonSetOverhead: cluster.Resources{Pods: 2}},
			want: []string{"c5.large/on-demand", "m7g.large/on-demand", "g5.xlarge/on-demand"},
			check: func(t *testing.T, types []cluster.NodeType) {
				require.Equal(t, 27, types[0].Allocatable.Pods, "29 < 32: the catalog's")
				require.Equal(t, 30, types[2].Allocatable.Pods, "58 capped to 32")
			}},
		{name: "overhead drops what it does not fit", c: base,
			opts: catalog.NodeTypeOptions{DaemonSetOverhead: cluster.Resources{CPU: 1930}},
			want: []string{"g5.xlarge/on-demand"}},
		{name: "overhead takes the last pod slot", c: base,
			opts: catalog.NodeTypeOptions{MaxPods: 3, DaemonSetOverhead: cluster.Resources{Pods: 3}},
			want: nil},
		{name: "overhead takes the memory", c: base,
			opts: catalog.NodeTypeOptions{DaemonSetOverhead: cluster.Resources{Memory: 6903 * recommender.MiB}},
			want: []string{"g5.xlarge/on-demand"}},
		{name: "GPU taint on GPU types only", c: base, opts: catalog.NodeTypeOptions{GPUTaint: true},
			want: []string{"c5.large/on-demand", "m7g.large/on-demand", "g5.xlarge/on-demand"},
			check: func(t *testing.T, types []cluster.NodeType) {
				require.Nil(t, types[0].Taints)
				require.Equal(t, gpuTaint, types[2].Taints)
			}},
		{name: "families", c: base, opts: catalog.NodeTypeOptions{Families: []string{"g5", "m7g"}},
			want: []string{"m7g.large/on-demand", "g5.xlarge/on-demand"}},
		{name: "categories", c: base, opts: catalog.NodeTypeOptions{Categories: []string{"c", "g"}},
			want: []string{"c5.large/on-demand", "g5.xlarge/on-demand"}},
		{name: "arch", c: base, opts: catalog.NodeTypeOptions{Arch: []string{"arm64"}},
			want: []string{"m7g.large/on-demand"}},
		{name: "filters together", c: base, opts: catalog.NodeTypeOptions{Arch: []string{"amd64"}, Categories: []string{"m", "c"}},
			want: []string{"c5.large/on-demand"}},
		{name: "filters to nothing", c: base, opts: catalog.NodeTypeOptions{Arch: []string{"arm64"}, Families: []string{"c5"}},
			want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			types, err := tc.c.NodeTypes(tc.opts)
			if tc.want == nil {
				require.ErrorIs(t, err, catalog.ErrNoNodeTypes)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, names(types))
			for _, n := range types {
				require.Equal(t, n.CapacityType, n.Labels[catalog.LabelCapacityType])
				require.Positive(t, n.PricePerHour)
				require.True(t, n.Allocatable.CPU > 0 && n.Allocatable.Memory > 0 && n.Allocatable.Pods > 0, n.Name)
			}
			if tc.check != nil {
				tc.check(t, types)
			}
		})
	}
}

// TestNodeTypesErrors rejects bad options, naming each problem, and
// explains an empty result.
func TestNodeTypesErrors(t *testing.T) {
	t.Parallel()
	aws := catalog.AWSUSEast1()
	for _, tc := range []struct {
		name string
		opts catalog.NodeTypeOptions
		want []string
	}{
		{"negative overhead", catalog.NodeTypeOptions{DaemonSetOverhead: cluster.Resources{CPU: -1}},
			[]string{"node type options: negative DaemonSet overhead (cpu -1m, memory 0 bytes, 0 pods)"}},
		{"negative max pods", catalog.NodeTypeOptions{MaxPods: -1}, []string{"max pods -1: want 0 (the catalog's) or more"}},
		{"capacity type", catalog.NodeTypeOptions{CapacityTypes: []string{"reserved"}}, []string{`capacity type "reserved": want on-demand or spot`}},
		{"family", catalog.NodeTypeOptions{Families: []string{"m5", "m9"}}, []string{`instance family "m9": not in the catalog, which has c5, c6i,`}},
		{"category", catalog.NodeTypeOptions{Categories: []string{"x"}}, []string{`instance category "x": not in the catalog, which has c, g, inf, m, p, r, t`}},
		{"arch", catalog.NodeTypeOptions{Arch: []string{"x86_64"}}, []string{`architecture "x86_64": want amd64 or arm64`}},
		{"every problem", catalog.NodeTypeOptions{MaxPods: -1, Arch: []string{"386"}, Families: []string{"zz"}},
			[]string{"max pods", `instance family "zz"`, `architecture "386"`}},
		{"no spot prices", catalog.NodeTypeOptions{CapacityTypes: []string{"spot"}},
			[]string{"no node types: 172 of 172 instance types pass the filters, 172 without a spot price (give spot prices or a spot discount)"}},
		{"all too small", catalog.NodeTypeOptions{Families: []string{"t3"}, DaemonSetOverhead: cluster.Resources{CPU: 8000}},
			[]string{"no node types: 7 of 172 instance types pass the filters, 7 of them too small for the DaemonSet overhead"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			types, err := aws.NodeTypes(tc.opts)
			requireErrorHolds(t, err, tc.want)
			require.Nil(t, types)
			_, err = aws.Dropped(tc.opts)
			if errors.Is(err, catalog.ErrNoNodeTypes) || err == nil {
				return // valid options
			}
			require.ErrorContains(t, err, tc.want[0])
		})
	}
}

// TestDropped names the instance types the overhead leaves no room on,
// and NodeTypes leaves exactly those out.
func TestDropped(t *testing.T) {
	t.Parallel()
	aws := catalog.AWSUSEast1()
	opts := catalog.NodeTypeOptions{DaemonSetOverhead: cluster.Resources{CPU: 1000, Memory: 1 * recommender.GiB, Pods: 5}, Categories: []string{"t", "m"}}
	dropped, err := aws.Dropped(opts)
	require.NoError(t, err)
	// The mediums have 940m CPU, t3.nano and t3.micro 74 and 548 MiB of
	// memory and 4 pod slots; t3.small keeps 394 MiB and 6 slots.
	require.Equal(t, []string{"m6g.medium", "m7g.medium", "t3.nano", "t3.micro"}, dropped)
	types, err := aws.NodeTypes(opts)
	require.NoError(t, err)
	kept := map[string]bool{}
	for _, n := range types {
		kept[n.Name] = true
	}
	for _, in := range aws.Instances() {
		if in.Family[0] != 't' && in.Family[0] != 'm' {
			continue
		}
		require.NotEqual(t, kept[in.Name], slices.Contains(dropped, in.Name), in.Name)
	}
	none, err := aws.Dropped(catalog.NodeTypeOptions{})
	require.NoError(t, err)
	require.Empty(t, none)
}

// TestNodeTypesProperties checks every node type of the embedded catalog,
// spot and on-demand with GPU taints: allocatable within the instance's
// and less the overhead, exactly the label keys promised, and each call's
// values the caller's own.
func TestNodeTypesProperties(t *testing.T) {
	t.Parallel()
	c, err := catalog.AWSUSEast1().WithOverrides(catalog.Overrides{SpotDiscount: 0.6})
	require.NoError(t, err)
	overhead := cluster.Resources{CPU: 200, Memory: 300 * recommender.MiB, Pods: 3}
	opts := catalog.NodeTypeOptions{DaemonSetOverhead: overhead, MaxPods: 110, CapacityTypes: []string{"on-demand", "spot"}, GPUTaint: true}
	types, err := c.NodeTypes(opts)
	require.NoError(t, err)
	dropped, err := c.Dropped(opts)
	require.NoError(t, err)
	require.Len(t, types, 2*(172-len(dropped)))
	base := []string{catalog.LabelInstanceType, catalog.LabelCapacityType, catalog.LabelArch, catalog.LabelInstanceCategory,
		catalog.LabelInstanceFamily, catalog.LabelInstanceGeneration, catalog.LabelInstanceSize, catalog.LabelInstanceCPU,
		catalog.LabelInstanceMemory}
	gpu := append(slices.Clone(base), catalog.LabelInstanceGPUName, catalog.LabelInstanceGPUCount,
		catalog.LabelInstanceGPUMemory, catalog.LabelInstanceGPUManufacturer)
	slices.Sort(base)
	slices.Sort(gpu)
	for i, n := range types {
		in, ok := c.Instance(n.Name)
		require.True(t, ok)
		want := cluster.Resources{CPU: in.Allocatable.CPU, Memory: in.Allocatable.Memory, Pods: min(in.Allocatable.Pods, 110)}.Sub(overhead)
		require.Equal(t, want, n.Allocatable, n.Name)
		require.Equal(t, []string{"on-demand", "spot"}[i%2], n.CapacityType)
		keys := slices.Sorted(maps.Keys(n.Labels))
		if in.GPUs > 0 {
			require.Equal(t, gpu, keys, n.Name)
			require.Len(t, n.Taints, 1)
			require.Equal(t, in.GPUModel, n.GPUModel)
		} else {
			require.Equal(t, base, keys, n.Name)
			require.Empty(t, n.Taints)
		}
	}
	// The caller's own: changing one result leaves the next alone, and
	// the on-demand and spot twins share nothing.
	types[0].Labels["changed"] = "yes"
	types[0].Labels[catalog.LabelArch] = "changed"
	again, err := c.NodeTypes(opts)
	require.NoError(t, err)
	require.Equal(t, "amd64", again[0].Labels[catalog.LabelArch])
	require.Equal(t, "amd64", types[1].Labels[catalog.LabelArch])
	g := slices.IndexFunc(types, func(n cluster.NodeType) bool { return n.GPUs > 0 })
	types[g].Taints[0].Value = "changed"
	require.Equal(t, "true", types[g+1].Taints[0].Value)
}

// checkLabels checks that every instance type of the catalog becomes a
// node type whose labels Kubernetes accepts.
func checkLabels(t *testing.T, c *catalog.Catalog) {
	t.Helper()
	types, err := c.NodeTypes(catalog.NodeTypeOptions{})
	require.NoError(t, err)
	require.Len(t, types, len(c.Instances()))
	for _, n := range types {
		for k, v := range n.Labels {
			require.Empty(t, validation.IsQualifiedName(k), k)
			require.Empty(t, validation.IsValidLabelValue(v), "%s=%q", k, v)
		}
	}
}

// TestLabelsValid checks the embedded catalog's labels.
func TestLabelsValid(t *testing.T) {
	t.Parallel()
	checkLabels(t, catalog.AWSUSEast1())
}

// TestNodeTypesGolden pins every node type of the embedded catalog, on
// demand and spot at the documented typical discount, with a small
// DaemonSet overhead: the packer's and the NodePool writer's input.
func TestNodeTypesGolden(t *testing.T) {
	t.Parallel()
	c, err := catalog.AWSUSEast1().WithOverrides(catalog.Overrides{SpotDiscount: 0.6})
	require.NoError(t, err)
	types, err := c.NodeTypes(catalog.NodeTypeOptions{
		DaemonSetOverhead: cluster.Resources{CPU: 150, Memory: 192 * recommender.MiB, Pods: 3},
		CapacityTypes:     []string{"on-demand", "spot"}, GPUTaint: true,
	})
	require.NoError(t, err)
	var b strings.Builder
	for _, n := range types {
		fmt.Fprintf(&b, "%s %s $%.6f cpu=%dm mem=%dMi pods=%d", n.Name, n.CapacityType, n.PricePerHour,
			n.Allocatable.CPU, n.Allocatable.Memory/recommender.MiB, n.Allocatable.Pods)
		if n.GPUs > 0 {
			fmt.Fprintf(&b, " gpus=%d %s %dMi", n.GPUs, n.GPUModel, n.GPUMemory/recommender.MiB)
		}
		for _, tn := range n.Taints {
			fmt.Fprintf(&b, " taint=%s=%s:%s", tn.Key, tn.Value, tn.Effect)
		}
		for _, k := range slices.Sorted(maps.Keys(n.Labels)) {
			if k != catalog.LabelInstanceType && k != catalog.LabelCapacityType {
				fmt.Fprintf(&b, " %s=%s", strings.TrimPrefix(k, "karpenter.k8s.aws/instance-"), n.Labels[k])
			}
		}
		b.WriteString("\n")
	}
	golden.Lines(t, "testdata/nodetypes.golden", b.String())
}

// BenchmarkNodeTypes turns the embedded catalog into its 344 on-demand
// and spot node types.
func BenchmarkNodeTypes(b *testing.B) {
	c, err := catalog.AWSUSEast1().WithOverrides(catalog.Overrides{SpotDiscount: 0.6})
	require.NoError(b, err)
	opts := catalog.NodeTypeOptions{CapacityTypes: []string{"on-demand", "spot"}, GPUTaint: true}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.NodeTypes(opts); err != nil {
			b.Fatal(err)
		}
	}
}
