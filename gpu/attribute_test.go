package gpu

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
)

// These tests drive attribute with hand-built Snapshots, so they run in
// the CGO_ENABLED=0 build too; nvml_test.go drives it through NVML fakes.

func TestAttributeOrdersAndSeparates(t *testing.T) {
	t.Parallel()
	util := MetricSet(0).With(MetricProcessUtilization)
	snap := func() Snapshot {
		return Snapshot{Devices: []Device{
			{UUID: "GPU-b", Has: util, Processes: []Process{
				{PID: 3, Memory: 3, HasMemory: true, SMUtil: 0.3, HasSMUtil: true},
				{PID: 1, Memory: 1, HasMemory: true, SMUtil: 0.1, HasSMUtil: true},
			}},
			{UUID: "GPU-a", Has: util, Processes: []Process{
				{PID: 2, Memory: 2, HasMemory: true, SMUtil: 0.2, HasSMUtil: true},
				{PID: 4, Memory: 4, HasMemory: true, SMUtil: 0.4, HasSMUtil: true},
			}},
		}}
	}
	all := recommender.ResourceSet(0).With(recommender.ResourceGPUMemory).With(recommender.ResourceGPUCompute)
	for _, tc := range []struct {
		name         string
		of           ContainerOfPID
		containers   []ContainerUsage
		unattributed ContainerUsage
	}{
		{
			name:         "no mapper: everything unattributed",
			of:           nil,
			unattributed: ContainerUsage{GPUMemory: 10, GPUCompute: 1, Has: all, Devices: []string{"GPU-a", "GPU-b"}, Processes: 4},
		},
		{
			name: "mapper: sorted by pod then container; unknown and empty IDs unattributed",
			of: func(pid int) (string, string, bool) {
				switch pid {
				case 1:
					return "pod-z", "c", true
				case 2:
					return "pod-a", "y", true
				case 3:
					return "pod-a", "x", true
				}
				return "", "", pid == 4 // ok but empty: unattributed
			},
			containers: []ContainerUsage{
				{PodUID: "pod-a", ContainerID: "x", GPUMemory: 3, GPUCompute: 0.3, Has: all, Devices: []string{"GPU-b"}, Processes: 1},
				{PodUID: "pod-a", ContainerID: "y", GPUMemory: 2, GPUCompute: 0.2, Has: all, Devices: []string{"GPU-a"}, Processes: 1},
				{PodUID: "pod-z", ContainerID: "c", GPUMemory: 1, GPUCompute: 0.1, Has: all, Devices: []string{"GPU-b"}, Processes: 1},
			},
			unattributed: ContainerUsage{GPUMemory: 4, GPUCompute: 0.4, Has: all, Devices: []string{"GPU-a"}, Processes: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := snap()
			attribute(&s, tc.of)
			require.Len(t, s.Containers, len(tc.containers))
			for i, want := range tc.containers {
				got := s.Containers[i]
				require.InDelta(t, float64(want.GPUCompute), float64(got.GPUCompute), 1e-12)
				got.GPUCompute = want.GPUCompute
				require.Equal(t, want, got)
			}
			got := s.Unattributed
			require.InDelta(t, float64(tc.unattributed.GPUCompute), float64(got.GPUCompute), 1e-12)
			got.GPUCompute = tc.unattributed.GPUCompute
			require.Equal(t, tc.unattributed, got)
			// Each process carries its owner.
			for _, d := range s.Devices {
				for _, p := range d.Processes {
					if tc.of == nil {
						require.Empty(t, p.PodUID+p.ContainerID)
					}
				}
			}
		})
	}
}

func TestAttributeMIGShare(t *testing.T) {
	t.Parallel()
	gpm := MetricSet(0).With(MetricGPM)
	s := Snapshot{Devices: []Device{{UUID: "GPU-0", MIGEnabled: true, MIG: []MIGDevice{
		{UUID: "MIG-1", Share: 14.0 / 108, Has: gpm, GPM: GPM{GraphicsUtil: 1}, Processes: []Process{{PID: 1, Memory: 5, HasMemory: true}}},
		{UUID: "MIG-2", Share: 0, Has: gpm, GPM: GPM{GraphicsUtil: 1}, Processes: []Process{{PID: 2, Memory: 6, HasMemory: true}}},
	}}}}
	attribute(&s, func(pid int) (string, string, bool) { return "pod", string(rune('a' + pid)), true })
	require.Len(t, s.Containers, 2)
	require.InDelta(t, 14.0/108, float64(s.Containers[0].GPUCompute), 1e-12, "a fully busy A100 1g is 14 of 108 SMs")
	require.True(t, s.Containers[0].Has.Has(recommender.ResourceGPUCompute))
	require.False(t, s.Containers[1].Has.Has(recommender.ResourceGPUCompute), "unknown share: compute not measured")
	require.True(t, s.Containers[1].Has.Has(recommender.ResourceGPUMemory))
}

func TestMetricSet(t *testing.T) {
	t.Parallel()
	var s MetricSet
	for m := MetricMemory; m <= MetricPlacement; m++ {
		require.False(t, s.Has(m))
		s = s.With(m)
		require.True(t, s.Has(m))
	}
}
