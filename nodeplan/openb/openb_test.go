package openb

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/internal/realdata"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

const podHeader = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"

func TestReadPods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []cluster.Pod
		err  string // substring of the error; empty for none
	}{
		{
			name: "all kinds",
			in: podHeader +
				"p0,12000,16384,1,1000,,LS,Running,0,12537496,0\n" +
				"p1,6000,12288,1,460,,LS,Running,427061,12902960,427061\n" +
				"p2,88000,327680,8,1000,,BE,Pending,1,2,\n" +
				"p3,4000,2048,0,0,,BE,Failed,5,6,7\n" +
				"p4,1000,1024,2,1000,V100M16|V100M32,LS,Running,1,2,3\n",
			want: []cluster.Pod{
				{Name: "p0", CPU: 12000, Memory: 16384 * recommender.MiB, GPU: cluster.GPURequest{Count: 1}},
				{Name: "p1", CPU: 6000, Memory: 12288 * recommender.MiB, GPU: cluster.GPURequest{Milli: 460}},
				{Name: "p2", CPU: 88000, Memory: 327680 * recommender.MiB, GPU: cluster.GPURequest{Count: 8}},
				{Name: "p3", CPU: 4000, Memory: 2048 * recommender.MiB},
				{Name: "p4", CPU: 1000, Memory: 1024 * recommender.MiB, GPU: cluster.GPURequest{Count: 2, Models: []string{"V100M16", "V100M32"}}},
			},
		},
		{
			name: "five columns, other order, byte-order mark",
			in:   "\uFEFFgpu_milli,name,num_gpu,memory_mib,cpu_milli\n500,a,1,100,2000\n",
			want: []cluster.Pod{{Name: "a", CPU: 2000, Memory: 100 * recommender.MiB, GPU: cluster.GPURequest{Milli: 500}}},
		},
		{name: "header only", in: podHeader},
		{name: "empty", in: "", err: "empty input"},
		{name: "missing column", in: "name,cpu_milli,memory_mib,num_gpu\n", err: "missing column(s) gpu_milli"},
		{name: "unknown column", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli,zone\n", err: `unknown column "zone"`},
		{name: "column twice", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli,name\n", err: `column "name" twice`},
		{name: "short row", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1,1,0\n", err: "line 2: wrong number of fields"},
		{name: "negative", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,-1,1,0,0\n", err: `line 2, column cpu_milli: "-1" is not a non-negative integer`},
		{name: "fraction", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1.5,1,0,0\n", err: "column cpu_milli"},
		{name: "NaN", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1,NaN,0,0\n", err: "column memory_mib"},
		{name: "huge memory", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1,99999999999999999999999,0,0\n", err: "column memory_mib: 99999999999999999999999 is out of range"},
		{name: "empty value", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,,1,0,0\n", err: "column cpu_milli: empty value"},
		{name: "empty name", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n,1,1,0,0\n", err: "column name: empty name"},
		{name: "duplicate name", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1,1,0,0\na,1,1,0,0\n", err: `line 3, column name: pod "a" also on line 2`},
		{name: "share without gpu", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1,1,0,500\n", err: "500 milli of GPU with num_gpu 0"},
		{name: "gpu without milli", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1,1,2,0\n", err: "0 milli of GPU with num_gpu 2"},
		{name: "share of two", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1,1,2,500\n", err: "shares are of one GPU only"},
		{name: "more than a gpu", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1,1,1,1001\n", err: "out of range 0..1000"},
		{name: "too many gpus", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1,1,1025,1000\n", err: "column num_gpu"},
		{name: "spec on cpu pod", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\na,1,1,0,0,T4\n", err: "column gpu_spec"},
		{name: "empty model in spec", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\na,1,1,1,1000,T4||P100\n", err: `bad GPU model ""`},
		{name: "bad time", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli,creation_time\na,1,1,0,0,yesterday\n", err: "column creation_time"},
		{name: "bare quote", in: "name,cpu_milli,memory_mib,num_gpu,gpu_milli\na\"b,1,1,0,0\n", err: "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadPods(strings.NewReader(tt.in))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			for i := range got {
				require.NoError(t, got[i].Validate())
			}
		})
	}
}

func TestParseErrorNamesLineAndColumn(t *testing.T) {
	t.Parallel()
	_, err := ReadPods(strings.NewReader("name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1,1,0,0\nb,1,x,0,0\n"))
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, 3, pe.Line)
	require.Equal(t, "memory_mib", pe.Column)
}

func TestReadNodes(t *testing.T) {
	t.Parallel()
	const header = "sn,cpu_milli,memory_mib,gpu,model\n"
	tests := []struct {
		name string
		in   string
		want []cluster.NodeType
		err  string
	}{
		{
			name: "gpu and cpu nodes",
			in:   header + "n0,64000,262144,2,P100\nn1,32000,131072,0,\n",
			want: []cluster.NodeType{
				{Name: "n0", Allocatable: cluster.Resources{CPU: 64000, Memory: 262144 * recommender.MiB, Pods: PodSlots}, GPUs: 2, GPUModel: "P100"},
				{Name: "n1", Allocatable: cluster.Resources{CPU: 32000, Memory: 131072 * recommender.MiB, Pods: PodSlots}},
			},
		},
		{name: "header only", in: header},
		{name: "empty", err: "empty input"},
		{name: "pod header", in: podHeader, err: "unknown column"},
		{name: "gpus without model", in: header + "n0,1,1,8,\n", err: "line 2, column model: no GPU model for 8 GPUs"},
		{name: "model without gpus", in: header + "n0,1,1,0,T4\n", err: "column model"},
		{name: "model with bar", in: header + "n0,1,1,1,T4|P100\n", err: "bad GPU model"},
		{name: "negative gpus", in: header + "n0,1,1,-2,T4\n", err: "column gpu"},
		{name: "duplicate", in: header + "n0,1,1,0,\nn0,1,1,0,\n", err: `node "n0" also on line 2`},
		{name: "extra field", in: header + "n0,1,1,0,,x\n", err: "wrong number of fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadNodes(strings.NewReader(tt.in))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestSpecInvertsReadPods(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		pod        cluster.Pod
		num, milli int
		spec       string
	}{
		{cluster.Pod{}, 0, 0, ""},
		{cluster.Pod{GPU: cluster.GPURequest{Milli: 470}}, 1, 470, ""},
		{cluster.Pod{GPU: cluster.GPURequest{Count: 4, Models: []string{"A", "B"}}}, 4, 1000, "A|B"},
	} {
		num, milli, spec := Spec(&tt.pod)
		require.Equal(t, []any{tt.num, tt.milli, tt.spec}, []any{num, milli, spec})
	}
}

// TestRealFiles reads every trace file and checks the totals research/fgd.md
// gives for them.
func TestRealFiles(t *testing.T) {
	t.Parallel()
	dir := realdata.Dir(t, "alibaba-gpu-2023")
	nodes, err := LoadNodes(filepath.Join(dir, "openb_node_list_gpu_node.csv"))
	require.NoError(t, err)
	require.Len(t, nodes, 1213)
	gpus, cpu := 0, recommender.MilliCPU(0)
	for _, n := range nodes {
		gpus += n.GPUs
		cpu += n.Allocatable.CPU
	}
	require.Equal(t, 6212, gpus)
	require.Equal(t, recommender.MilliCPU(107_018_000), cpu)
	all, err := LoadNodes(filepath.Join(dir, "openb_node_list_all_node.csv"))
	require.NoError(t, err)
	require.Len(t, all, 1523)

	for _, tt := range []struct {
		file       string
		pods       int
		gpuMilli   int
		withModels int
	}{
		{"openb_pod_list_default.csv", 8152, 6_086_800, 0},
		{"openb_pod_list_gpushare100.csv", 8152, 0, 0},
		{"openb_pod_list_gpuspec33.csv", 8152, 0, 2388},
		{"openb_pod_list_multigpu50.csv", 9061, 0, 0},
	} {
		t.Run(tt.file, func(t *testing.T) {
			pods, err := LoadPods(filepath.Join(dir, tt.file))
			require.NoError(t, err)
			require.Len(t, pods, tt.pods)
			total, models := 0, 0
			for i := range pods {
				require.NoError(t, pods[i].Validate())
				total += pods[i].GPU.TotalMilli()
				if len(pods[i].GPU.Models) > 0 {
					models++
				}
			}
			if tt.gpuMilli > 0 {
				require.Equal(t, tt.gpuMilli, total)
			}
			require.Equal(t, tt.withModels, models)
		})
	}
}

func FuzzReadPods(f *testing.F) {
	f.Add([]byte(podHeader + "p0,12000,16384,1,1000,,LS,Running,0,12537496,0\np1,6000,12288,1,460,T4|P100,LS,Running,1,2,\n"))
	f.Add([]byte("name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1,1,8,1000\n"))
	f.Add([]byte("name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,1,1,1,999\nb,\"2\",3,0,0\n"))
	f.Add([]byte("name,cpu_milli,memory_mib,num_gpu,gpu_milli\na,-1,NaN,1e9,1001\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, in []byte) {
		pods, err := ReadPods(strings.NewReader(string(in)))
		if err != nil {
			require.Nil(t, pods)
			var pe *ParseError
			if errors.As(err, &pe) {
				require.Positive(t, pe.Line)
			}
			return
		}
		for i := range pods {
			require.NoError(t, pods[i].Validate())
			require.NotEmpty(t, pods[i].Name)
			require.GreaterOrEqual(t, pods[i].Memory, recommender.Bytes(0))
		}
	})
}

func FuzzReadNodes(f *testing.F) {
	f.Add([]byte("sn,cpu_milli,memory_mib,gpu,model\nn0,64000,262144,2,P100\nn1,32000,131072,0,\n"))
	f.Add([]byte("model,gpu,memory_mib,cpu_milli,sn\nG2,8,1,1,x\n"))
	f.Add([]byte("sn,cpu_milli,memory_mib,gpu,model\nn0,1,1,99999999999,T4\n"))
	f.Add([]byte("sn\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		nodes, err := ReadNodes(strings.NewReader(string(in)))
		if err != nil {
			require.Nil(t, nodes)
			return
		}
		for _, n := range nodes {
			require.NotEmpty(t, n.Name)
			require.LessOrEqual(t, n.GPUs, MaxGPUs)
			require.Equal(t, n.GPUs > 0, n.GPUModel != "")
			require.NotPanics(t, func() { cluster.NewNode(&n) })
		}
	})
}

func TestSample(t *testing.T) {
	pods := []cluster.Pod{{Name: "a", CPU: 1}, {Name: "b", CPU: 2}, {Name: "c", CPU: 3}}
	s := Sample(pods, 300, 7)
	require.Len(t, s, 300)
	require.Equal(t, s, Sample(pods, 300, 7), "the same for a seed")
	require.NotEqual(t, s, Sample(pods, 300, 8))
	seen := map[string]bool{}
	drawn := map[recommender.MilliCPU]int{}
	for _, p := range s {
		require.False(t, seen[p.Name], "names stay unique")
		seen[p.Name] = true
		drawn[p.CPU]++
	}
	require.Len(t, drawn, 3, "every pod drawn")
	require.Equal(t, "a", pods[0].Name, "the input is not changed")
}
