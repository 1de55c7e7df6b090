package karpenter

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkNodePools renders a plan of 200 uses (100 general, 100 GPU,
// on-demand and spot: 60 general and 30 GPU types over 3 GPU names, the
// repeated ones summed) and marshals it.
func BenchmarkNodePools(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := []string{"large", "xlarge", "2xlarge", "4xlarge", "8xlarge"}
	gpuNames := []string{"t4", "a10g", "l4"}
	var used []Use
	for i := range 100 {
		c := []string{od, spot}[i%2]
		fam := fmt.Sprintf("%c%di", "cmr"[i%3], 5+i%4)
		used = append(used, Use{ec2(fmt.Sprintf("%s.%s", fam, sizes[i%5]), c, "amd64", 4, 16384, 0, "", 0), 1 + r.IntN(20)})
		gfam := fmt.Sprintf("g%d", 4+i%3)
		used = append(used, Use{ec2(fmt.Sprintf("%s.%s", gfam, sizes[(i/5)%5]), c, "amd64", 8, 32768, 1+(i/5)%5, gpuNames[i%3], 24576), 1 + r.IntN(4)})
	}
	b.ReportAllocs()
	for b.Loop() {
		pools, err := NodePools(used, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Marshal(pools); err != nil {
			b.Fatal(err)
		}
	}
}
