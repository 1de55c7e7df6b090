//go:build cgo

package gpu_test

import (
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"

	"github.com/rightsizer/rightsizer/gpu"
	"github.com/rightsizer/rightsizer/gpu/gpufake"
)

// BenchmarkCollect reads a fake DGX H100 (8 GPUs, GPM on) running 50
// processes of 25 containers, time-sliced 6–7 per GPU, with fresh
// per-process samples on every read, as at the agent's every tick. It
// measures the collector's own cost (the fake NVML calls are nearly free;
// a real driver adds its own per-call latency).
func BenchmarkCollect(b *testing.B) {
	const gpus, procs = 8, 50
	srv := gpufake.Wrap(dgxh100.New())
	owners := map[int][2]string{}
	for p := range procs {
		pid := 1000 + p
		g := srv.GPUs[p%gpus]
		g.Processes = append(g.Processes, proc(pid, gib))
		owners[pid] = [2]string{"pod-" + string(rune('a'+p/2%26)), "ctr"}
	}
	for _, g := range srv.GPUs {
		g.GPMSupported = true
		g.GPM = gpufake.GPMValues{GraphicsUtil: 50, SMUtil: 40, SMOccupancy: 20}
		// Each read returns one new sample per process, like a driver
		// sampling every second between 1 s ticks.
		g.GetProcessUtilizationFunc = func(last uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
			out := make([]nvml.ProcessUtilizationSample, len(g.Processes))
			for i, p := range g.Processes {
				out[i] = nvml.ProcessUtilizationSample{Pid: p.Pid, TimeStamp: last + 1, SmUtil: 10}
			}
			return out, nvml.SUCCESS
		}
	}
	c := newContainers(owners)
	col, err := gpu.NewFromNVML(srv, gpu.Options{ContainerOfPID: c.of})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := col.Close(); err != nil {
			b.Error(err)
		}
	})
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		s, err := col.Collect(now)
		if err != nil || len(s.Containers) != 25 {
			b.Fatalf("collect: %v, %d containers", err, len(s.Containers))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/procs, "ns/process")
}
