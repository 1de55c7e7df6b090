package karpenter

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/rightsizer/rightsizer/nodeplan/catalog"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
)

// FuzzNodePools feeds labels from outside (a user's catalog) and options
// from flags: NodePools either reports an error or returns pools that keep
// every invariant and marshal to YAML that reads back as the same pools.
// It never panics.
func FuzzNodePools(f *testing.F) {
	f.Add("m7i.xlarge", "m", "m7i", "7", "xlarge", "amd64", "4", "16384", "", 0, "spot", 3, "1m", "10%", "0 9 * * mon-fri", "8h", 0.2, 2, "dedicated")
	f.Add("g6.xlarge", "g", "g6", "6", "xlarge", "amd64", "4", "16384", "l4", 1, "on-demand", 2, "Never", "0", "@daily", "90m", -1.0, -1, "")
	f.Add("p5.48xlarge", "p", "p5", "5", "48xlarge", "amd64", "192", "2097152", "h100", 8, "spot", 1, "10m", "100%", "", "", 10.0, 50, "nvidia.com/gpu")
	f.Add("x", "", "", "", "", "", "", "", "", 0, "", 0, "", "", "", "", 0.0, 0, "")
	f.Add("m7i.xlarge", "m", "m7i", "-1", "x large", "amd64", "1e3", "NaN", "L4", -2, "reserved", -5, "1d", "110%", "@every 1m", "30s", 11.0, 51, "a b")
	f.Fuzz(func(t *testing.T, instanceType, category, family, generation, size, arch, cpu, memory, gpuName string,
		gpus int, capacity string, count int, consolidateAfter, nodes, schedule, duration string,
		headroom float64, minValues int, taintKey string,
	) {
		nt := cluster.NodeType{Name: instanceType, CapacityType: capacity, GPUs: gpus, Labels: map[string]string{
			catalog.LabelInstanceType: instanceType, catalog.LabelInstanceCategory: category, catalog.LabelInstanceFamily: family, catalog.LabelInstanceGeneration: generation,
			catalog.LabelInstanceSize: size, catalog.LabelArch: arch, catalog.LabelInstanceCPU: cpu, catalog.LabelInstanceMemory: memory, catalog.LabelInstanceGPUName: gpuName,
		}}
		if taintKey != "" {
			nt.Taints = []cluster.Taint{{Key: taintKey, Value: "true", Effect: "NoSchedule"}}
		}
		other := nt
		other.Labels = map[string]string{}
		for k, v := range nt.Labels {
			other.Labels[k] = v
		}
		other.Labels[catalog.LabelInstanceType] = strings.ToLower(instanceType) + "-b"
		opts := Options{
			LimitHeadroom: headroom, SpotMinValues: minValues, AnyFamily: count%2 == 0, OnDemandFallback: count%3 == 0,
			CPU: Policy{ConsolidateAfter: consolidateAfter, Nodes: nodes},
			GPU: Policy{ExpireAfter: consolidateAfter, Windows: []Budget{{Nodes: nodes, Schedule: schedule, Duration: duration}}},
		}
		pools, err := NodePools([]Use{{nt, count}, {other, 1}}, opts)
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		for _, p := range pools {
			checkPool(t, p)
		}
		y, err := Marshal(pools)
		require.NoError(t, err)
		checkYAML(t, y)
		for i, d := range strings.Split(string(y), "\n---\n") {
			var back NodePool
			require.NoError(t, yaml.UnmarshalStrict([]byte(d), &back))
			require.Equal(t, pools[i], back)
		}
	})
}
