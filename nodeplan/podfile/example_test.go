package podfile_test

import (
	"fmt"
	"strings"

	"github.com/rightsizer/rightsizer/nodeplan/podfile"
)

func ExampleRead() {
	const pods = `
pods:
  - name: web
    namespace: shop
    replicas: 2
    requests: {cpu: 500m, memory: 1Gi}
    recommended: {cpu: 200m, memory: 600Mi}
  - name: infer
    namespace: ml
    requests: {cpu: 2, memory: 8Gi}
    gpu: {milli: 500, models: [A10G-24GB]}
`
	f, err := podfile.Read(strings.NewReader(pods))
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, p := range f.Current {
		r := f.Recommended[i]
		fmt.Printf("%s: cpu %v → %v, memory %v → %v, GPU %d milli\n", p.Name, p.CPU, r.CPU, p.Memory, r.Memory, p.GPU.TotalMilli())
	}

	_, err = podfile.Read(strings.NewReader("pods:\n  - {name: web, gpu: {count: 1, milli: 500}}\n"))
	fmt.Println(err)
	// Output:
	// shop/web-0: cpu 500m → 200m, memory 1Gi → 600Mi, GPU 0 milli
	// shop/web-1: cpu 500m → 200m, memory 1Gi → 600Mi, GPU 0 milli
	// ml/infer: cpu 2 → 2, memory 8Gi → 8Gi, GPU 500 milli
	// document 1 (line 1): pods[0] (web): gpu: give count (whole GPUs) or milli (a share of one GPU), not both
}
