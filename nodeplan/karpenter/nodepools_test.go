package karpenter

import (
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/rightsizer/rightsizer/internal/golden"
	"github.com/rightsizer/rightsizer/nodeplan/catalog"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
)

// instanceRE splits an AWS instance type as the AWS provider does:
// category letters, generation digits, the rest of the family, the size.
var instanceRE = regexp.MustCompile(`^([a-z]+)([0-9]+)[a-z0-9-]*\.(.+)$`)

// ec2 returns an AWS instance type labelled as the catalog labels it. GPU
// types get the GPU labels; taints are left to the caller.
func ec2(name, capacity, arch string, vcpu, memMiB, gpus int, gpuName string, gpuMemMiB int) cluster.NodeType {
	m := instanceRE.FindStringSubmatch(name)
	if m == nil {
		panic("bad instance type " + name)
	}
	family, _, _ := strings.Cut(name, ".")
	labels := map[string]string{
		catalog.LabelInstanceType:       name,
		catalog.LabelCapacityType:       capacity,
		catalog.LabelArch:               arch,
		catalog.LabelInstanceCategory:   m[1],
		catalog.LabelInstanceFamily:     family,
		catalog.LabelInstanceGeneration: m[2],
		catalog.LabelInstanceSize:       m[3],
		catalog.LabelInstanceCPU:        strconv.Itoa(vcpu),
		catalog.LabelInstanceMemory:     strconv.Itoa(memMiB),
	}
	t := cluster.NodeType{Name: name, CapacityType: capacity, GPUs: gpus, Labels: labels}
	if gpus > 0 {
		labels[catalog.LabelInstanceGPUName] = gpuName
		labels[catalog.LabelInstanceGPUCount] = strconv.Itoa(gpus)
		labels[catalog.LabelInstanceGPUMemory] = strconv.Itoa(gpuMemMiB)
		labels[catalog.LabelInstanceGPUManufacturer] = "nvidia"
		t.GPUModel = strings.ToUpper(gpuName)
	}
	return t
}

// The instance types of the tests, with their catalog figures.
func m7iXL(c string) cluster.NodeType  { return ec2("m7i.xlarge", c, "amd64", 4, 16384, 0, "", 0) }
func m7i2XL(c string) cluster.NodeType { return ec2("m7i.2xlarge", c, "amd64", 8, 32768, 0, "", 0) }
func c7iXL(c string) cluster.NodeType  { return ec2("c7i.xlarge", c, "amd64", 4, 8192, 0, "", 0) }
func c7i2XL(c string) cluster.NodeType { return ec2("c7i.2xlarge", c, "amd64", 8, 16384, 0, "", 0) }
func m6iL(c string) cluster.NodeType   { return ec2("m6i.large", c, "amd64", 2, 8192, 0, "", 0) }
func m7g2XL(c string) cluster.NodeType { return ec2("m7g.2xlarge", c, "arm64", 8, 32768, 0, "", 0) }
func g6XL(c string) cluster.NodeType   { return ec2("g6.xlarge", c, "amd64", 4, 16384, 1, "l4", 22888) }
func g62XL(c string) cluster.NodeType  { return ec2("g6.2xlarge", c, "amd64", 8, 32768, 1, "l4", 22888) }
func g612XL(c string) cluster.NodeType {
	return ec2("g6.12xlarge", c, "amd64", 48, 196608, 4, "l4", 22888)
}

// p548XL carries the GPU taint itself, as GPU types in the catalog may.
func p548XL(c string) cluster.NodeType {
	t := ec2("p5.48xlarge", c, "amd64", 192, 2097152, 8, "h100", 81920)
	t.Taints = []cluster.Taint{{Key: "nvidia.com/gpu", Value: "true", Effect: "NoSchedule"}}
	return t
}

const (
	od   = catalog.CapacityTypeOnDemand
	spot = catalog.CapacityTypeSpot
)

// goldenCases are the plans whose YAML is pinned under testdata, and which
// the integration test applies to a real API server.
var goldenCases = []struct {
	name string
	used []Use
	opts Options
}{
	{
		name: "cpu",
		used: []Use{{m7iXL(od), 3}, {c7i2XL(od), 2}, {m6iL(od), 1}},
	},
	{
		name: "cpu-spot",
		used: []Use{{m7iXL(od), 2}, {m7iXL(spot), 4}, {c7iXL(spot), 2}, {m7g2XL(spot), 1}},
		opts: Options{
			NamePrefix: "rightsizer-",
			CPU: Policy{Windows: []Budget{{
				Nodes: "0", Schedule: "0 9 * * mon-fri", Duration: "8h",
				Reasons: []DisruptionReason{DisruptionReasonUnderutilized},
			}}},
		},
	},
	{
		name: "gpu",
		used: []Use{
			{m7i2XL(od), 2},
			{g6XL(spot), 3}, {g62XL(spot), 1}, {g612XL(od), 1},
			{p548XL(od), 1},
		},
		opts: Options{NodeClassName: "al2023"},
	},
	{
		name: "fallback",
		used: []Use{{m7iXL(spot), 4}, {c7iXL(spot), 2}, {g6XL(spot), 2}},
		opts: Options{
			AnyFamily:        true,
			OnDemandFallback: true,
			LimitHeadroom:    -1,
			SpotMinValues:    3,
			CPU:              Policy{ConsolidationPolicy: ConsolidationPolicyBalanced, ConsolidateAfter: "5m"},
			GPU:              Policy{ConsolidateAfter: "Never", ExpireAfter: "Never", Nodes: "1"},
		},
	},
}

func TestGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pools, err := NodePools(tc.used, tc.opts)
			require.NoError(t, err)
			for _, p := range pools {
				checkPool(t, p)
			}
			y, err := Marshal(pools)
			require.NoError(t, err)
			golden.Lines(t, filepath.Join("testdata", tc.name+".golden.yaml"), string(y))
			checkYAML(t, y)

			// The YAML reads back, strictly, as the same pools.
			docs := strings.Split(string(y), "\n---\n")
			require.Len(t, docs, len(pools))
			for i, d := range docs {
				var back NodePool
				require.NoError(t, yaml.UnmarshalStrict([]byte(d), &back))
				require.Equal(t, pools[i], back)
			}
		})
	}
}

// checkYAML rejects what must never be emitted.
func checkYAML(t *testing.T, y []byte) {
	t.Helper()
	s := string(y)
	for _, bad := range []string{"status", "null", "{}", "[]"} {
		require.NotContains(t, s, bad)
	}
}

// checkPool checks the invariants every emitted pool keeps, the ones the
// CRD checks and the ones it does not.
func checkPool(t testing.TB, p NodePool) {
	t.Helper()
	require.Equal(t, APIVersion, p.APIVersion)
	require.Equal(t, Kind, p.Kind)
	require.NoError(t, checkPoolName(p.Metadata.Name))
	s := p.Spec
	require.GreaterOrEqual(t, s.Weight, int32(1))
	require.LessOrEqual(t, s.Weight, int32(maxWeight))
	require.Equal(t, NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: s.Template.Spec.NodeClassRef.Name}, s.Template.Spec.NodeClassRef)
	require.NotEmpty(t, s.Template.Spec.NodeClassRef.Name)
	require.NoError(t, checkNillableDuration(s.Template.Spec.ExpireAfter))
	require.NoError(t, checkNillableDuration(s.Disruption.ConsolidateAfter))
	require.Contains(t, []ConsolidationPolicy{ConsolidationPolicyWhenEmpty, ConsolidationPolicyWhenEmptyOrUnderutilized, ConsolidationPolicyBalanced}, s.Disruption.ConsolidationPolicy)
	require.NotEmpty(t, s.Disruption.Budgets)
	require.Empty(t, s.Disruption.Budgets[0].Schedule, "the first budget is always active")
	for i, b := range s.Disruption.Budgets {
		require.NoError(t, checkBudgetNodes(b.Nodes))
		if i > 0 {
			require.NoError(t, checkWindow(b))
		}
	}
	reqs := s.Template.Spec.Requirements
	require.NotEmpty(t, reqs)
	require.LessOrEqual(t, len(reqs), 100)
	require.Equal(t, catalog.LabelCapacityType, reqs[0].Key)
	keys := map[string]bool{}
	for _, r := range reqs {
		require.False(t, keys[r.Key], "requirement %s twice", r.Key)
		keys[r.Key] = true
		switch r.Operator {
		case "In":
			require.NotEmpty(t, r.Values, r.Key)
		case "Gt":
			require.Len(t, r.Values, 1, r.Key)
			n, err := strconv.Atoi(r.Values[0])
			require.NoError(t, err)
			require.GreaterOrEqual(t, n, 0)
		case "Exists":
			require.Empty(t, r.Values)
		default:
			t.Fatalf("operator %s", r.Operator)
		}
		for _, v := range r.Values {
			_, err := strconv.Atoi(v) // numbers need not be label values
			if err != nil {
				require.Regexp(t, `^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`, v)
			}
		}
		if r.MinValues != nil {
			require.GreaterOrEqual(t, *r.MinValues, 1)
			require.LessOrEqual(t, *r.MinValues, maxMinValues)
			if r.Operator == "In" {
				require.GreaterOrEqual(t, len(r.Values), *r.MinValues)
			}
		}
	}
	require.NotEmpty(t, s.Limits)
	for k, v := range s.Limits {
		q, err := resource.ParseQuantity(v)
		require.NoError(t, err, k)
		require.Positive(t, q.Sign(), k)
	}
	if slices.ContainsFunc(reqs, func(r Requirement) bool { return r.Key == catalog.LabelInstanceGPUName }) {
		require.True(t, slices.ContainsFunc(s.Template.Spec.Taints, func(t Taint) bool {
			return (t.Key == "nvidia.com/gpu" || t.Key == "amd.com/gpu") && (t.Effect == "NoSchedule" || t.Effect == "NoExecute")
		}), "GPU pool %s without a GPU taint", p.Metadata.Name)
	}
}

// The zero Options stand for DefaultOptions.
func TestDefaultOptions(t *testing.T) {
	t.Parallel()
	used := goldenCases[2].used
	a, err := NodePools(used, Options{})
	require.NoError(t, err)
	b, err := NodePools(used, DefaultOptions())
	require.NoError(t, err)
	require.Equal(t, a, b)
	require.NoError(t, DefaultOptions().Validate())
	require.NoError(t, Options{}.Validate())
}

func TestLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		used     []Use
		headroom float64
		want     map[string]map[string]string // by pool
	}{
		{
			// 30 vCPU and 88 GiB, plus the larger of 20 % and the largest
			// node (8 vCPU, 16 GiB): 38 and 105.6 GiB.
			name: "default headroom",
			used: []Use{{m7iXL(od), 3}, {c7i2XL(od), 2}, {m6iL(od), 1}},
			want: map[string]map[string]string{"general": {"cpu": "38", "memory": "106Gi"}},
		},
		{
			// 40 vCPU and 160 GiB plus 20 %, above one node.
			name: "many nodes",
			used: []Use{{m6iL(od), 20}},
			want: map[string]map[string]string{"general": {"cpu": "48", "memory": "192Gi"}},
		},
		{
			// 100 × 1.2 is 120, not 121, in floating point.
			name: "exact products stay exact",
			used: []Use{{ec2("t3.small", od, "amd64", 1, 1024, 0, "", 0), 100}},
			want: map[string]map[string]string{"general": {"cpu": "120", "memory": "120Gi"}},
		},
		{
			name:     "no headroom",
			used:     []Use{{m6iL(od), 3}},
			headroom: -1,
			want:     map[string]map[string]string{"general": {"cpu": "6", "memory": "24Gi"}},
		},
		{
			// At least one node: a single p5.48xlarge gets room for a second.
			name:     "headroom 50 %",
			used:     []Use{{p548XL(od), 2}, {g6XL(od), 1}},
			headroom: 0.5,
			want: map[string]map[string]string{
				"gpu-h100": {"cpu": "576", "memory": "6144Gi", "nvidia.com/gpu": "24"},
				"gpu-l4":   {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"},
			},
		},
		{
			name: "spot and on-demand apart",
			used: []Use{{m7iXL(od), 1}, {m7iXL(spot), 5}},
			want: map[string]map[string]string{
				"general":      {"cpu": "8", "memory": "32Gi"},
				"general-spot": {"cpu": "24", "memory": "96Gi"},
			},
		},
		{
			name: "duplicates sum",
			used: []Use{{m7iXL(od), 1}, {m7iXL(od), 4}},
			want: map[string]map[string]string{"general": {"cpu": "24", "memory": "96Gi"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pools, err := NodePools(tc.used, Options{LimitHeadroom: tc.headroom})
			require.NoError(t, err)
			got := map[string]map[string]string{}
			for _, p := range pools {
				got[p.Metadata.Name] = p.Spec.Limits
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestWeightsAndMinValues(t *testing.T) {
	t.Parallel()
	used := []Use{{m7iXL(od), 1}, {m7iXL(spot), 1}, {c7iXL(spot), 1}, {g6XL(spot), 1}, {g62XL(spot), 1}}
	tests := []struct {
		name       string
		opts       Options
		weights    map[string]int32
		minValues  map[string]int // spot pools' minValues, 0 for none
		familyReqs map[string]string
	}{
		{
			name:       "defaults",
			weights:    map[string]int32{"general": 10, "general-spot": 50, "gpu-l4-spot": 50},
			minValues:  map[string]int{"general": 0, "general-spot": 2, "gpu-l4-spot": 2},
			familyReqs: map[string]string{"general": "In", "general-spot": "In"},
		},
		{
			name:       "custom",
			opts:       Options{OnDemandWeight: 1, SpotWeight: 100, SpotMinValues: 3},
			weights:    map[string]int32{"general": 1, "general-spot": 100, "gpu-l4-spot": 100},
			minValues:  map[string]int{"general": 0, "general-spot": 0, "gpu-l4-spot": 0},
			familyReqs: map[string]string{"general": "In", "general-spot": "In"},
		},
		{
			name:       "no minValues",
			opts:       Options{SpotMinValues: -1, AnyFamily: true},
			weights:    map[string]int32{"general": 10, "general-spot": 50, "gpu-l4-spot": 50},
			minValues:  map[string]int{"general": 0, "general-spot": 0, "gpu-l4-spot": 0},
			familyReqs: map[string]string{},
		},
		{
			name:       "any family",
			opts:       Options{AnyFamily: true},
			weights:    map[string]int32{"general": 10, "general-spot": 50, "gpu-l4-spot": 50},
			minValues:  map[string]int{"general": 0, "general-spot": 2, "gpu-l4-spot": 2},
			familyReqs: map[string]string{"general-spot": "Exists"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pools, err := NodePools(used, tc.opts)
			require.NoError(t, err)
			weights, minValues, families := map[string]int32{}, map[string]int{}, map[string]string{}
			for _, p := range pools {
				checkPool(t, p)
				n := p.Metadata.Name
				weights[n] = p.Spec.Weight
				minValues[n] = 0
				for _, r := range p.Spec.Template.Spec.Requirements {
					if r.MinValues != nil {
						minValues[n] = *r.MinValues
					}
					if r.Key == catalog.LabelInstanceFamily {
						families[n] = r.Operator
					}
				}
			}
			require.Equal(t, tc.weights, weights)
			require.Equal(t, tc.minValues, minValues)
			require.Equal(t, tc.familyReqs, families)
		})
	}
}

func TestNoTypes(t *testing.T) {
	t.Parallel()
	for _, used := range [][]Use{nil, {{m7iXL(od), 0}}} {
		pools, err := NodePools(used, Options{})
		require.NoError(t, err)
		require.Empty(t, pools)
		y, err := Marshal(pools)
		require.NoError(t, err)
		require.Empty(t, y)
	}
}

func TestOptionErrors(t *testing.T) {
	t.Parallel()
	window := func(nodes, schedule, duration string, reasons ...DisruptionReason) Options {
		return Options{CPU: Policy{Windows: []Budget{{Nodes: nodes, Schedule: schedule, Duration: duration, Reasons: reasons}}}}
	}
	tests := []struct {
		name string
		opts Options
		want []string // substrings of the error; none for valid options
	}{
		{name: "zero"},
		{name: "all set", opts: Options{
			NodeClassName: "gpu", NamePrefix: "team-a-", LimitHeadroom: 10, OnDemandWeight: 99, SpotWeight: 100, SpotMinValues: 50,
			CPU: Policy{ConsolidationPolicy: ConsolidationPolicyBalanced, ConsolidateAfter: "1h30m", ExpireAfter: "Never", Nodes: "100%"},
			GPU: Policy{ConsolidateAfter: "0s", ExpireAfter: "2160h", Nodes: "0", Windows: []Budget{
				{Nodes: "0", Schedule: "@daily", Duration: "90m"},
				{Nodes: "5", Schedule: "*/15 9-17 * jan-jun MON-FRI", Duration: "1h30m", Reasons: []DisruptionReason{"Empty", "Drifted"}},
			}},
		}},
		{name: "node class", opts: Options{NodeClassName: "My_Class"}, want: []string{`node class name "My_Class"`}},
		{name: "prefix", opts: Options{NamePrefix: "Team/"}, want: []string{`name prefix "Team/"`}},
		{name: "prefix too long", opts: Options{NamePrefix: strings.Repeat("a", 60)}, want: []string{"must be no more than 63"}},
		{name: "headroom NaN", opts: Options{LimitHeadroom: nan()}, want: []string{"limit headroom NaN"}},
		{name: "headroom huge", opts: Options{LimitHeadroom: 11}, want: []string{"limit headroom 11"}},
		{name: "weight range", opts: Options{OnDemandWeight: -1, SpotWeight: 101}, want: []string{"on-demand weight -1: want 1..100", "spot weight 101: want 1..100"}},
		{name: "spot not above", opts: Options{OnDemandWeight: 50, SpotWeight: 50}, want: []string{"spot weight 50 is not above on-demand weight 50"}},
		{name: "spot below default on-demand", opts: Options{SpotWeight: 5}, want: []string{"spot weight 5 is not above on-demand weight 10"}},
		{name: "min values", opts: Options{SpotMinValues: 51}, want: []string{"spot minValues 51: want 1..50"}},
		{name: "policy", opts: Options{GPU: Policy{ConsolidationPolicy: "Always"}}, want: []string{`gpu policy: consolidation policy "Always"`}},
		{name: "consolidateAfter days", opts: Options{CPU: Policy{ConsolidateAfter: "1d"}}, want: []string{`cpu policy: consolidateAfter: "1d"`}},
		{name: "consolidateAfter fraction", opts: Options{CPU: Policy{ConsolidateAfter: "1.5h"}}, want: []string{`consolidateAfter: "1.5h"`}},
		{name: "consolidateAfter never", opts: Options{CPU: Policy{ConsolidateAfter: "never"}}, want: []string{`consolidateAfter: "never"`}},
		{name: "consolidateAfter range", opts: Options{CPU: Policy{ConsolidateAfter: "9999999999h"}}, want: []string{`"9999999999h": out of range`}},
		{name: "expireAfter", opts: Options{GPU: Policy{ExpireAfter: "30 days"}}, want: []string{`gpu policy: expireAfter: "30 days"`}},
		{name: "nodes percent", opts: Options{CPU: Policy{Nodes: "110%"}}, want: []string{`budget nodes: "110%"`}},
		{name: "nodes negative", opts: Options{CPU: Policy{Nodes: "-1"}}, want: []string{`budget nodes: "-1"`}},
		{name: "nodes range", opts: Options{CPU: Policy{Nodes: "99999999999"}}, want: []string{`"99999999999": out of range`}},
		{name: "window without schedule", opts: window("0", "", "8h"), want: []string{"budget window 1: schedule: empty"}},
		{name: "window without duration", opts: window("0", "0 9 * * *", ""), want: []string{"budget window 1: duration: empty"}},
		{name: "window seconds", opts: window("0", "0 9 * * *", "30s"), want: []string{`duration "30s"`}},
		{name: "window nodes", opts: window("", "0 9 * * *", "8h"), want: []string{`nodes: ""`}},
		{name: "window six fields", opts: window("0", "0 0 9 * * *", "8h"), want: []string{"want five fields"}},
		{name: "window macro", opts: window("0", "@every 5m", "8h"), want: []string{"unknown macro"}},
		{name: "window time zone", opts: window("0", "CRON_TZ=UTC 0 9 * * *", "8h"), want: []string{"time zones are not supported"}},
		{name: "window field", opts: window("0", "0 9 * * mon;fri", "8h"), want: []string{`field "mon;fri"`}},
		{name: "window reason", opts: window("0", "@daily", "8h", "Unhealthy"), want: []string{`reason "Unhealthy"`}},
		{name: "window reason twice", opts: window("0", "@daily", "8h", "Empty", "Empty"), want: []string{`reason "Empty" given twice`}},
		{name: "too many windows", opts: Options{GPU: Policy{Windows: make([]Budget, 50)}}, want: []string{"50 budget windows: at most 49"}},
		{name: "every problem at once", opts: Options{SpotWeight: 200, CPU: Policy{ConsolidateAfter: "x", Nodes: "y"}}, want: []string{
			"spot weight 200", `consolidateAfter: "x"`, `budget nodes: "y"`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.opts.Validate()
			_, err2 := NodePools([]Use{{m7iXL(od), 1}}, tc.opts)
			if len(tc.want) == 0 {
				require.NoError(t, err)
				require.NoError(t, err2)
				return
			}
			require.Error(t, err)
			require.Equal(t, err, err2)
			require.True(t, strings.HasPrefix(err.Error(), "karpenter options: "), err.Error())
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func nan() float64 { z := 0.0; return z / z }

func TestInputErrors(t *testing.T) {
	t.Parallel()
	without := func(nt cluster.NodeType, key string) cluster.NodeType {
		delete(nt.Labels, key)
		return nt
	}
	with := func(nt cluster.NodeType, key, value string) cluster.NodeType {
		nt.Labels[key] = value
		return nt
	}
	tainted := func(nt cluster.NodeType, taints ...cluster.Taint) cluster.NodeType {
		nt.Taints = taints
		return nt
	}
	tests := []struct {
		name string
		used []Use
		want []string
	}{
		{name: "negative count", used: []Use{{m7iXL(od), -1}}, want: []string{`node type "m7i.xlarge": count -1`}},
		{name: "huge count", used: []Use{{m7iXL(od), 1 << 30}}, want: []string{"count 1073741824"}},
		{name: "huge sum", used: []Use{{m7iXL(od), 1 << 20}, {m7iXL(od), 1}}, want: []string{"more than 1048576 nodes"}},
		{name: "no instance type", used: []Use{{without(m7iXL(od), catalog.LabelInstanceType), 1}}, want: []string{
			`node type "m7i.xlarge": label node.kubernetes.io/instance-type missing`,
		}},
		{name: "no size", used: []Use{{without(m7iXL(od), catalog.LabelInstanceSize), 1}}, want: []string{"label karpenter.k8s.aws/instance-size missing"}},
		{name: "no family", used: []Use{{without(m7iXL(od), catalog.LabelInstanceFamily), 1}}, want: []string{"label karpenter.k8s.aws/instance-family missing"}},
		{name: "no memory", used: []Use{{without(g6XL(od), catalog.LabelInstanceMemory), 1}}, want: []string{"label karpenter.k8s.aws/instance-memory missing"}},
		{name: "no gpu name", used: []Use{{without(g6XL(od), catalog.LabelInstanceGPUName), 1}}, want: []string{"label karpenter.k8s.aws/instance-gpu-name missing"}},
		{name: "bad cpu", used: []Use{{with(m7iXL(od), catalog.LabelInstanceCPU, "4.5"), 1}}, want: []string{`label karpenter.k8s.aws/instance-cpu="4.5": want an integer 1..16384`}},
		{name: "zero memory", used: []Use{{with(m7iXL(od), catalog.LabelInstanceMemory, "0"), 1}}, want: []string{`instance-memory="0"`}},
		{name: "bad generation", used: []Use{{with(m7iXL(od), catalog.LabelInstanceGeneration, "seven"), 1}}, want: []string{`instance-generation="seven"`}},
		{name: "bad label value", used: []Use{{with(m7iXL(od), catalog.LabelInstanceSize, "x large"), 1}}, want: []string{`label karpenter.k8s.aws/instance-size="x large"`}},
		{name: "capacity type", used: []Use{{with(m7iXL("reserved"), catalog.LabelCapacityType, "reserved"), 1}}, want: []string{`capacity type "reserved": want on-demand or spot`}},
		{name: "capacity type missing", used: []Use{{func() cluster.NodeType {
			nt := without(m7iXL(od), catalog.LabelCapacityType)
			nt.CapacityType = ""
			return nt
		}(), 1}}, want: []string{`capacity type "": want on-demand or spot`}},
		{name: "capacity types disagree", used: []Use{{with(m7iXL(od), catalog.LabelCapacityType, spot), 1}}, want: []string{
			`capacity type "on-demand", but label karpenter.sh/capacity-type="spot"`,
		}},
		{name: "gpu count", used: []Use{{with(g6XL(od), catalog.LabelInstanceGPUCount, "2"), 1}}, want: []string{"instance-gpu-count=2, but the node type has 1 GPUs"}},
		{name: "gpus negative", used: []Use{{func() cluster.NodeType { nt := m7iXL(od); nt.GPUs = -1; return nt }(), 1}}, want: []string{"-1 GPUs"}},
		{name: "manufacturer", used: []Use{{with(g6XL(od), catalog.LabelInstanceGPUManufacturer, "intel"), 1}}, want: []string{`instance-gpu-manufacturer="intel": want nvidia or amd`}},
		{name: "gpu resource disagrees", used: []Use{{func() cluster.NodeType { nt := g6XL(od); nt.GPUResource = "amd.com/gpu"; return nt }(), 1}}, want: []string{
			`GPU resource "amd.com/gpu", but label karpenter.k8s.aws/instance-gpu-manufacturer="nvidia"`,
		}},
		{name: "gpu name makes a bad pool name", used: []Use{{with(g6XL(od), catalog.LabelInstanceGPUName, "L4"), 1}}, want: []string{`pool name "gpu-L4"`}},
		{name: "bad taint", used: []Use{{tainted(m7iXL(od), cluster.Taint{Key: "dedicated", Value: "a b", Effect: "Sometimes"}), 1}}, want: []string{
			"taint dedicated=a b:Sometimes", "value:", "effect: want NoSchedule",
		}},
		{name: "taint without key", used: []Use{{tainted(m7iXL(od), cluster.Taint{Effect: "NoSchedule"}), 1}}, want: []string{"empty key"}},
		{name: "taints differ in a pool", used: []Use{
			{tainted(m7iXL(od), cluster.Taint{Key: "dedicated", Value: "batch", Effect: "NoSchedule"}), 1}, {c7iXL(od), 1},
		}, want: []string{`pool "general": node types "m7i.xlarge" and "c7i.xlarge" carry different taints`}},
		{name: "same type, other labels", used: []Use{{m7iXL(od), 1}, {with(m7iXL(od), catalog.LabelArch, "arm64"), 1}}, want: []string{
			`node type "m7i.xlarge" (on-demand) given twice with different labels`,
		}},
		{name: "every bad type", used: []Use{{without(m7iXL(od), catalog.LabelInstanceSize), 1}, {without(c7iXL(od), catalog.LabelArch), 1}}, want: []string{
			`node type "m7i.xlarge": label karpenter.k8s.aws/instance-size missing`, `node type "c7i.xlarge": label kubernetes.io/arch missing`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pools, err := NodePools(tc.used, Options{})
			require.Error(t, err)
			require.Nil(t, pools)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

// The GPU taint a type carries is kept, not doubled; an AMD GPU pool is
// tainted and limited by amd.com/gpu.
func TestGPUTaints(t *testing.T) {
	t.Parallel()
	amd := ec2("g4ad.xlarge", od, "amd64", 4, 16384, 1, "radeon-pro-v520", 8192)
	amd.Labels[catalog.LabelInstanceGPUManufacturer] = "amd"
	pools, err := NodePools([]Use{{p548XL(od), 1}, {g6XL(od), 1}, {amd, 1}}, Options{})
	require.NoError(t, err)
	got := map[string][]Taint{}
	for _, p := range pools {
		got[p.Metadata.Name] = p.Spec.Template.Spec.Taints
	}
	require.Equal(t, map[string][]Taint{
		"gpu-h100":            {{Key: "nvidia.com/gpu", Value: "true", Effect: "NoSchedule"}},
		"gpu-l4":              {{Key: "nvidia.com/gpu", Value: "true", Effect: "NoSchedule"}},
		"gpu-radeon-pro-v520": {{Key: "amd.com/gpu", Value: "true", Effect: "NoSchedule"}},
	}, got)
	require.Equal(t, "2", pools[2].Spec.Limits["amd.com/gpu"])
}

// A GPU taint that only prefers to keep pods off is kept, and the
// NoSchedule one is added beside it.
func TestGPUPreferNoSchedule(t *testing.T) {
	t.Parallel()
	nt := g6XL(od)
	nt.Taints = []cluster.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: "PreferNoSchedule"}}
	pools, err := NodePools([]Use{{nt, 1}}, Options{})
	require.NoError(t, err)
	require.Equal(t, []Taint{
		{Key: "nvidia.com/gpu", Value: "true", Effect: "NoSchedule"},
		{Key: "nvidia.com/gpu", Value: "present", Effect: "PreferNoSchedule"},
	}, pools[0].Spec.Template.Spec.Taints)
}

// A type without category or generation (a name the catalog cannot parse)
// leaves its pool without those requirements, and AnyFamily keeps the
// family list there.
func TestUncategorised(t *testing.T) {
	t.Parallel()
	odd := m7iXL(od)
	delete(odd.Labels, catalog.LabelInstanceCategory)
	delete(odd.Labels, catalog.LabelInstanceGeneration)
	for _, anyFamily := range []bool{false, true} {
		pools, err := NodePools([]Use{{odd, 1}, {c7iXL(od), 1}}, Options{AnyFamily: anyFamily})
		require.NoError(t, err)
		require.Len(t, pools, 1)
		checkPool(t, pools[0])
		var keys []string
		for _, r := range pools[0].Spec.Template.Spec.Requirements {
			keys = append(keys, r.Key)
		}
		require.Equal(t, []string{catalog.LabelCapacityType, catalog.LabelArch, catalog.LabelInstanceFamily, catalog.LabelInstanceSize}, keys)
	}
}
