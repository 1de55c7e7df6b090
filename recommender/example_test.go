package recommender_test

import (
	"fmt"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
)

// Feed an engine a week of a container's usage and ask what it should
// request.
func Example() {
	e, err := recommender.NewEngine(recommender.DefaultOptions())
	if err != nil {
		panic(err)
	}
	k := recommender.ContainerKey{
		WorkloadKey: recommender.WorkloadKey{Namespace: "shop", Kind: "Deployment", Name: "checkout"},
		Container:   "app",
	}
	if err := e.UpsertWorkload(recommender.Workload{Key: k.WorkloadKey, Replicas: 3, Containers: []recommender.ContainerSpec{
		{Name: "app", Requests: recommender.Amounts{CPU: 2000, Memory: 4 * recommender.GiB}},
	}}); err != nil {
		panic(err)
	}
	start := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	var batch []recommender.Sample
	for m := range 7 * 24 * 60 {
		cpu := recommender.MilliCPU(300 + 100*(m%60)/60) // 300m to 400m each hour
		batch = append(batch, recommender.Sample{Key: k, Time: start.Add(time.Duration(m) * time.Minute), Usage: recommender.Usage{
			CPU: cpu, Memory: 900 * recommender.MiB,
			Has: recommender.ResourceSet(0).With(recommender.ResourceCPU).With(recommender.ResourceMemory),
		}})
	}
	if err := e.Ingest(batch); err != nil {
		panic(err)
	}
	r, err := e.Recommend(k)
	if err != nil {
		panic(err)
	}
	fmt.Printf("cpu %v → %v, memory %v → %v (limit %v), confidence %.2f, $%.0f/month\n",
		r.CPU.CurrentRequest, r.CPU.Request, r.Memory.CurrentRequest, r.Memory.Request, r.Memory.Limit, r.Confidence, r.MonthlyCostDelta)
	// Output: cpu 2 → 403m, memory 4Gi → 1.01Gi (limit 1.06Gi), confidence 1.00, $-145/month
}
