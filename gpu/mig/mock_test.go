//go:build cgo

package mig

import (
	"fmt"
	"slices"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"
	"github.com/stretchr/testify/require"
)

// mockIndex maps our profile order (see sevenSlice) to the NVML profile
// index the mock keys its tables by.
var mockIndex = []int{
	nvml.GPU_INSTANCE_PROFILE_1_SLICE,
	nvml.GPU_INSTANCE_PROFILE_1_SLICE_REV1,
	nvml.GPU_INSTANCE_PROFILE_1_SLICE_REV2,
	nvml.GPU_INSTANCE_PROFILE_2_SLICE,
	nvml.GPU_INSTANCE_PROFILE_3_SLICE,
	nvml.GPU_INSTANCE_PROFILE_4_SLICE,
	nvml.GPU_INSTANCE_PROFILE_7_SLICE,
}

// mockDiff lists every way the mock's geometry for cfg differs from our
// model's, one line each; fields we have not measured (0) are not compared.
func mockDiff(t *testing.T, cfg gpus.Config, m Model) []string {
	t.Helper()
	var diffs []string
	if !slices.Contains(m.PCIDeviceIDs, cfg.PciDeviceId) {
		diffs = append(diffs, fmt.Sprintf("PCI device ID: mock %#x, real %#x", cfg.PciDeviceId, m.PCIDeviceIDs))
	}
	if int(cfg.MemoryMB/1024) != m.MemoryGB {
		diffs = append(diffs, fmt.Sprintf("memory: mock %d GiB, real %d GB", cfg.MemoryMB/1024, m.MemoryGB))
	}
	require.Len(t, m.Profiles, len(mockIndex))
	for i, idx := range mockIndex {
		p := m.Profiles[i]
		info, ok := cfg.MIGProfiles.GpuInstanceProfiles[idx]
		require.True(t, ok, "mock has no profile index %d", idx)
		if int(info.Id) != p.ID {
			diffs = append(diffs, fmt.Sprintf("%s ID: mock %d, real %d", p.Name, info.Id, p.ID))
		}
		if int(info.SliceCount) != p.ComputeSlices {
			diffs = append(diffs, fmt.Sprintf("%s slices: mock %d, real %d", p.Name, info.SliceCount, p.ComputeSlices))
		}
		if int(info.InstanceCount) != p.MaxCount {
			diffs = append(diffs, fmt.Sprintf("%s max: mock %d, real %d", p.Name, info.InstanceCount, p.MaxCount))
		}
		if p.SMs != 0 && int(info.MultiprocessorCount) != p.SMs {
			diffs = append(diffs, fmt.Sprintf("%s SMs: mock %d, real %d", p.Name, info.MultiprocessorCount, p.SMs))
		}
		if p.MemoryMiB != 0 && int64(info.MemorySizeMB) != p.MemoryMiB {
			diffs = append(diffs, fmt.Sprintf("%s MiB: mock %d, real %d", p.Name, info.MemorySizeMB, p.MemoryMiB))
		}
		var got []Placement
		for _, pl := range cfg.MIGProfiles.GpuInstancePlacements[idx] {
			got = append(got, Placement{Start: int(pl.Start), Size: int(pl.Size)})
		}
		if !slices.Equal(got, p.Placements) {
			diffs = append(diffs, fmt.Sprintf("%s placements: mock %s, real %s", p.Name, placementList(got), placementList(p.Placements)))
		}
	}
	return diffs
}

// TestMockGeometryIsNotTrusted documents, line by line, where go-nvml's
// mock (v0.13.3-1) disagrees with the real geometry in our tables
// (research/gpu.md §1.4). If the mock is fixed upstream this test fails:
// re-check the new values against hardware transcripts before trusting them.
func TestMockGeometryIsNotTrusted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		cfg   gpus.Config
		model string
		want  []string
	}{
		{
			// The A100 placements and SMs match the hardware (research
			// §1.4); the mock reports profile indices as IDs and rounds
			// some memory sizes differently from nvidia-smi -lgip.
			name: "A100-40GB", cfg: gpus.A100_SXM4_40GB, model: "A100-40GB",
			want: []string{
				"1g.5gb ID: mock 0, real 19",
				"1g.5gb+me ID: mock 7, real 20",
				"1g.10gb ID: mock 9, real 15",
				"1g.10gb MiB: mock 9856, real 9984",
				"2g.10gb ID: mock 1, real 14",
				"2g.10gb MiB: mock 9856, real 9984",
				"3g.20gb ID: mock 2, real 9",
				"3g.20gb MiB: mock 19968, real 20096",
				"4g.20gb ID: mock 3, real 5",
				"4g.20gb MiB: mock 19968, real 20096",
				"7g.40gb ID: mock 4, real 0",
				"7g.40gb MiB: mock 40192, real 40448",
			},
		},
		{
			// research §1.4: SMs 16/16/16/32/48/64/112 against 16/16/26/
			// 32/60/64/132; 1g.20gb, 3g and 7g placements wrong.
			name: "H100-80GB", cfg: gpus.H100_SXM5_80GB, model: "H100-80GB",
			want: []string{
				"1g.10gb ID: mock 0, real 19",
				"1g.10gb MiB: mock 10240, real 9856",
				"1g.10gb+me ID: mock 7, real 20",
				"1g.10gb+me MiB: mock 10240, real 9856",
				"1g.20gb ID: mock 9, real 15",
				"1g.20gb SMs: mock 16, real 26",
				"1g.20gb MiB: mock 20480, real 19968",
				"1g.20gb placements: mock [0:1 1:1 2:1 3:1 4:1 5:1 6:1], real [0:2 2:2 4:2 6:2]",
				"2g.20gb ID: mock 1, real 14",
				"2g.20gb MiB: mock 20480, real 19968",
				"3g.40gb ID: mock 2, real 9",
				"3g.40gb SMs: mock 48, real 60",
				"3g.40gb MiB: mock 40960, real 40192",
				"3g.40gb placements: mock [0:3 4:3], real [0:4 4:4]",
				"4g.40gb ID: mock 3, real 5",
				"4g.40gb MiB: mock 40960, real 40448",
				"7g.80gb ID: mock 4, real 0",
				"7g.80gb SMs: mock 112, real 132",
				"7g.80gb MiB: mock 81920, real 81152",
				"7g.80gb placements: mock [0:7], real [0:8]",
			},
		},
		{
			// The same errors as H100, plus a PCI device ID that
			// mig-parted's config does not know.
			name: "H200-141GB", cfg: gpus.H200_SXM5_141GB, model: "H200-141GB",
			want: []string{
				"PCI device ID: mock 0x233310de, real [0x233510de 0x233b10de]",
				"1g.18gb ID: mock 0, real 19",
				"1g.18gb MiB: mock 18432, real 16384",
				"1g.18gb+me ID: mock 7, real 20",
				"1g.18gb+me MiB: mock 18432, real 16384",
				"1g.35gb ID: mock 9, real 15",
				"1g.35gb SMs: mock 16, real 26",
				"1g.35gb MiB: mock 35840, real 33024",
				"1g.35gb placements: mock [0:1 1:1 2:1 3:1 4:1 5:1 6:1], real [0:2 2:2 4:2 6:2]",
				"2g.35gb ID: mock 1, real 14",
				"2g.35gb MiB: mock 35840, real 33024",
				"3g.71gb ID: mock 2, real 9",
				"3g.71gb SMs: mock 48, real 60",
				"3g.71gb MiB: mock 72704, real 71168",
				"3g.71gb placements: mock [0:3 4:3], real [0:4 4:4]",
				"4g.71gb ID: mock 3, real 5",
				"4g.71gb MiB: mock 72704, real 71168",
				"7g.141gb ID: mock 4, real 0",
				"7g.141gb SMs: mock 112, real 132",
				"7g.141gb MiB: mock 144384, real 143104",
				"7g.141gb placements: mock [0:7], real [0:8]",
			},
		},
		{
			// research §1.4: PCI 0x2B0010DE against mig-parted's
			// 0x290110DE; 3g/4g/7g SMs and memory are not measured, so
			// only the placements of those are compared.
			name: "B200-180GB", cfg: gpus.B200_SXM5_180GB, model: "B200-180GB",
			want: []string{
				"PCI device ID: mock 0x2b0010de, real [0x290110de]",
				"1g.23gb ID: mock 0, real 19",
				"1g.23gb MiB: mock 23552, real 20992",
				"1g.23gb+me ID: mock 7, real 20",
				"1g.23gb+me MiB: mock 23552, real 20992",
				"1g.45gb ID: mock 9, real 15",
				"1g.45gb SMs: mock 18, real 30",
				"1g.45gb MiB: mock 46080, real 45312",
				"1g.45gb placements: mock [0:1 1:1 2:1 3:1 4:1 5:1 6:1], real [0:2 2:2 4:2 6:2]",
				"2g.45gb ID: mock 1, real 14",
				"2g.45gb MiB: mock 46080, real 45312",
				"3g.90gb ID: mock 2, real 9",
				"3g.90gb placements: mock [0:3 4:3], real [0:4 4:4]",
				"4g.90gb ID: mock 3, real 5",
				"7g.180gb ID: mock 4, real 0",
				"7g.180gb placements: mock [0:7], real [0:8]",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var m Model
			for _, x := range Models() {
				if x.Name == tc.model {
					m = x
				}
			}
			require.Equal(t, tc.model, m.Name)
			require.Equal(t, tc.want, mockDiff(t, tc.cfg, m))
			// Whatever the mock claims, the mock's device name finds our
			// table, so code that looks geometry up never uses the mock's.
			byName, ok := ForName(tc.cfg.Name)
			require.True(t, ok, tc.cfg.Name)
			require.Equal(t, tc.model, byName.Name)
		})
	}
}
