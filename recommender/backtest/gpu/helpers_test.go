package gpu

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/gpu/mig"
	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/gpushape"
)

// t0 is the start of every synthetic trace.
var t0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

// testStep is the synthetic traces' sampling interval.
const testStep = time.Minute

// testDevice is an H100-80GB with 80 GiB of memory at $1 per GPU-hour, so
// that the figures of the synthetic tests do not follow the catalog.
func testDevice(t testing.TB) gpushape.Device {
	t.Helper()
	m, ok := mig.ForPCIDeviceID(H100PCIDeviceID)
	require.True(t, ok)
	return gpushape.Device{Model: m, Memory: 80 * recommender.GiB, PricePerHour: 1}
}

// both returns a sample at minute i with busy time c (GPUs) and memory
// in GiB.
func both(i int, c float64, gib float64) Sample {
	return Sample{
		Time:    t0.Add(time.Duration(i) * testStep),
		Compute: recommender.GPUCompute(c),
		Memory:  recommender.Bytes(gib * float64(recommender.GiB)),
		Has:     recommender.ResourceSet(0).With(recommender.ResourceGPUCompute).With(recommender.ResourceGPUMemory),
	}
}

// series returns a pod with a sample at every minute of [from, to), its
// usage given by f(minute).
func series(name string, from, to int, f func(i int) (compute, gib float64)) Pod {
	p := Pod{Name: name}
	for i := from; i < to; i++ {
		c, g := f(i)
		p.Samples = append(p.Samples, both(i, c, g))
	}
	return p
}

// steady is 10 % busy with 8 GiB, throughout.
func steady(int) (float64, float64) { return 0.10, 8 }

// grows is steady until minute 90, then holds 12 GiB.
func grows(i int) (float64, float64) {
	if i >= 90 {
		return 0.10, 12
	}
	return 0.10, 8
}

// flatPolicies are Policies with rightsizer's GPU memory sized by the
// flat rule (gpushape.Policy.MemoryRisk 0: the largest peak plus
// headroom), whose shapes a hand can work out.
func flatPolicies() []Policy {
	ps := Policies()
	for i, p := range ps {
		if r, ok := p.(Rightsizer); ok {
			r.Policy.MemoryRisk = 0
			ps[i] = r
		}
	}
	return ps
}
