//go:build cgo

package gpu_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"

	"github.com/rightsizer/rightsizer/gpu"
	"github.com/rightsizer/rightsizer/gpu/gpufake"
	"github.com/rightsizer/rightsizer/gpu/mig"
)

// Two containers time-slice GPU 0 of a (fake) DGX H100; a third runs on a
// 1g.10gb MIG slice of GPU 1. The agent would pass gpu.New(opts) and
// agent/cgroup.ContainerOfPID instead.
func Example() {
	srv := gpufake.Wrap(dgxh100.New())
	g := srv.GPUs[0]
	g.Processes = []nvml.ProcessInfo{{Pid: 100, UsedGpuMemory: 4 << 30}, {Pid: 200, UsedGpuMemory: 8 << 30}}
	g.Samples = []nvml.ProcessUtilizationSample{{Pid: 100, TimeStamp: 1, SmUtil: 30}, {Pid: 200, TimeStamp: 1, SmUtil: 60}}
	h100, _ := mig.ForPCIDeviceID(0x233010DE)
	p, _ := h100.Profile("1g.10gb")
	srv.GPUs[1].GPMSupported = true
	slice := srv.GPUs[1].AddMIG(p, 0)
	slice.Processes = []nvml.ProcessInfo{{Pid: 300, UsedGpuMemory: 6 << 30}}
	slice.GPM = gpufake.GPMValues{GraphicsUtil: 100}

	owners := map[int][2]string{100: {"pod-a", "web"}, 200: {"pod-b", "train"}, 300: {"pod-c", "infer"}}
	col, err := gpu.NewFromNVML(srv, gpu.Options{
		ContainerOfPID: func(pid int) (string, string, bool) {
			o, ok := owners[pid]
			return o[0], o[1], ok
		},
	})
	if errors.Is(err, gpu.ErrNoGPU) {
		return // CPU-only
	}
	defer func() {
		if err := col.Close(); err != nil {
			fmt.Println(err)
		}
	}()

	now := time.Unix(1_700_000_000, 0)
	if _, err := col.Collect(now); err != nil { // primes GPM
		fmt.Println(err)
	}
	// The driver samples again; the next Collect reads only new samples.
	g.Samples = append(g.Samples, nvml.ProcessUtilizationSample{Pid: 100, TimeStamp: 2, SmUtil: 30}, nvml.ProcessUtilizationSample{Pid: 200, TimeStamp: 2, SmUtil: 60})
	s, err := col.Collect(now.Add(10 * time.Second))
	if err != nil {
		fmt.Println(err)
	}
	m := s.Devices[1].MIG[0]
	fmt.Printf("%s %s at %s, %d SMs = %.3f GPU\n", m.UUID[:12], m.Profile, m.Placement, m.SMs, m.Share)
	for _, c := range s.Containers {
		fmt.Printf("%s/%s: %s, %.3f GPUs\n", c.PodUID, c.ContainerID, c.GPUMemory, c.GPUCompute)
	}
	// Output:
	// MIG-00000001 1g.10gb at 0:1, 16 SMs = 0.121 GPU
	// pod-a/web: 4Gi, 0.300 GPUs
	// pod-b/train: 8Gi, 0.600 GPUs
	// pod-c/infer: 6Gi, 0.121 GPUs
}
