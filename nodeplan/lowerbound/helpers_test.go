package lowerbound

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rightsizer/rightsizer/nodeplan/catalog"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/replay"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// envRequireData turns a missing real dataset from a skipped test into a
// failure (make test and CI set it).
const envRequireData = "RIGHTSIZER_REQUIRE_DATA"

// locateReal finds a real dataset under shared/data, or skips t (fails it
// when RIGHTSIZER_REQUIRE_DATA=1).
func locateReal(t testing.TB, name string) string {
	t.Helper()
	dir, err := replay.Locate(name)
	if err != nil {
		if os.Getenv(envRequireData) == "1" {
			t.Fatalf("real data required (%s=1): %v", envRequireData, err)
		}
		t.Skipf("real data not found, skipping (set %s or %s=1 to require it): %v", replay.EnvData, envRequireData, err)
	}
	return dir
}

// awsTypes are the embedded AWS us-east-1 instance types as node types,
// on-demand, and with spot a copy of each at spotFactor × the price.
func awsTypes(spot bool, spotFactor float64) []cluster.NodeType {
	var out []cluster.NodeType
	capacity := []string{"on-demand"}
	if spot {
		capacity = append(capacity, "spot")
	}
	for _, ct := range capacity {
		for _, in := range catalog.AWSUSEast1().Instances() {
			price := in.PricePerHour
			if ct == "spot" {
				price *= spotFactor
			}
			out = append(out, cluster.NodeType{
				Name:         in.Name,
				CapacityType: ct,
				PricePerHour: price,
				Allocatable:  cluster.Resources{CPU: in.Allocatable.CPU, Memory: in.Allocatable.Memory, Pods: in.Allocatable.Pods},
				GPUs:         in.Allocatable.GPUs,
				GPUModel:     in.GPUModel,
				GPUMemory:    in.GPUMemory,
				Labels: map[string]string{
					"node.kubernetes.io/instance-type": in.Name,
					"karpenter.sh/capacity-type":       ct,
					"kubernetes.io/arch":               in.Arch,
				},
			})
		}
	}
	return out
}

// openbPods reads an Alibaba openb pod list: name, cpu_milli, memory_mib,
// num_gpu, gpu_milli, gpu_spec (GPU models separated by "|"). A pod with
// gpu_milli below 1000 asks for a share of one GPU, else for num_gpu whole
// GPUs.
func openbPods(t testing.TB, path string) []cluster.Pod {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { require.NoError(t, f.Close()) }()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, recs)
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, h := range []string{"name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec"} {
		require.Contains(t, col, h, "%s: header", path)
	}
	num := func(rec []string, h string) int64 {
		v, err := strconv.ParseInt(rec[col[h]], 10, 64)
		require.NoError(t, err, "%s: %s", path, h)
		return v
	}
	pods := make([]cluster.Pod, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		p := cluster.Pod{
			Name:   rec[col["name"]],
			CPU:    recommender.MilliCPU(num(rec, "cpu_milli")),
			Memory: recommender.Bytes(num(rec, "memory_mib")) * recommender.MiB,
		}
		switch g, m := num(rec, "num_gpu"), num(rec, "gpu_milli"); {
		case g == 0:
		case m < cluster.MilliGPU:
			p.GPU.Milli = int(m)
		default:
			p.GPU.Count = int(g)
		}
		pods = append(pods, p)
	}
	return pods
}

func openbDefault(t testing.TB) []cluster.Pod {
	t.Helper()
	return openbPods(t, filepath.Join(locateReal(t, "alibaba-gpu-2023"), "openb_pod_list_default.csv"))
}

// describe summarises a bound for logs.
func describe(b Bound, types []cluster.NodeType) string {
	s := fmt.Sprintf("%s $%.4f/h (LP primal $%.4f/h), %d/%d classes, %d rounds, %d infeasible;",
		b.Method, b.CostPerHour, b.LPCostPerHour, b.Classes, b.PodClasses, b.Rounds, len(b.Infeasible))
	for _, ta := range b.Types {
		s += fmt.Sprintf(" %s/%s×%.2f", types[ta.Type].Name, types[ta.Type].CapacityType, ta.Nodes)
	}
	return s
}
