//go:build cgo

package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/gpu"
	"github.com/rightsizer/rightsizer/gpu/gpufake"
	"github.com/rightsizer/rightsizer/gpu/mig"
)

func TestPrintSnapshot(t *testing.T) {
	srv := gpufake.Wrap(dgxh100.New())
	srv.GPUs[0].Processes = []nvml.ProcessInfo{{Pid: 4242, UsedGpuMemory: 1 << 30}}
	h100, _ := mig.ForPCIDeviceID(0x233010DE)
	p, _ := h100.Profile("3g.40gb")
	srv.GPUs[1].AddMIG(p, 4)
	col, err := gpu.NewFromNVML(srv, gpu.Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, col.Close()) }()
	s, err := col.Collect(time.Unix(0, 0))
	require.NoError(t, err)
	var out bytes.Buffer
	printSnapshot(&out, s)
	for _, want := range []string{
		"driver 550.54.15, 8 GPUs",
		`GPU 0 GPU-00000000-0000-4000-8000-000000000000 "NVIDIA H100 80GB HBM3" pci 0x233010de mig=false table=H100-80GB read=[memory utilization power processes process-utilization]`,
		"  pid 4242 memory 1Gi sm 0% cgroup ?",
		`MIG 0 MIG-00000001-0001-4000-8000-000000000000 profile "3g.40gb" (id 9) GI 1 CI 0 at 4:4 (valid for H100-80GB), 60 SMs, slices 3g/3c, share 0.455 GPU`,
		"unattributed (no container mapper in the probe): 1 processes, 1Gi, 0.000 GPUs",
	} {
		require.Contains(t, out.String(), want)
	}
}

func TestRunWithoutGPU(t *testing.T) {
	var out, errs bytes.Buffer
	require.NoError(t, run([]string{"-library", "/nonexistent/libnvidia-ml.so.1", "-count", "1"}, &out, &errs))
	require.Contains(t, out.String(), "no GPU: no nvidia gpu: init nvml: ERROR_LIBRARY_NOT_FOUND")
	require.Error(t, run([]string{"-count", "0"}, &out, &errs))
}
