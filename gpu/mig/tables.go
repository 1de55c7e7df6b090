package mig

// The geometry tables. Sources, per research/gpu.md:
//   - profile IDs, slice counts and maximum counts: NVIDIA MIG User Guide
//     (v580) "Supported MIG Profiles", §3.3;
//   - placements: `nvidia-smi mig -lgipp` on A100 and H100 (the MIG User
//     Guide's example and two independent H100-80GB transcripts), §3.2;
//     H200 and B200 report the same profile IDs and memory fractions and
//     are assumed to share the table (no -lgipp transcript was found);
//   - memory and SMs: `nvidia-smi mig -lgip` transcripts, §3.3. nvidia-smi
//     prints GiB with two decimals; GI sizes are multiples of 128 MiB, so
//     "19.62" is 20096 MiB (19.625 GiB). Where transcripts disagree across
//     drivers the lower value is kept.
//   - PCI device IDs: mig-parted's config, §3.3.

// Standard placements of the 7-compute/8-memory-slice GPUs (§3.2).
var (
	place1g    = []Placement{{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}, {5, 1}, {6, 1}} // no 1g at slice 7
	place1g2m  = []Placement{{0, 2}, {2, 2}, {4, 2}, {6, 2}}
	place2g    = []Placement{{0, 2}, {2, 2}, {4, 2}} // no 2g at slice 6
	place3g    = []Placement{{0, 4}, {4, 4}}         // 3g takes 4 memory slices
	place4g    = []Placement{{0, 4}}
	placeFull7 = []Placement{{0, 8}}
)

// sevenSlice builds the seven standard profiles of a 7/8-slice GPU, in the
// order 1g, 1g+me, 1g (2 memory slices), 2g, 3g, 4g, 7g, from their names
// (without "+me"), memory in MiB and SM counts (0 where not measured).
func sevenSlice(names [6]string, mib [6]int64, sms [6]int) []Profile {
	// Index into names/mib/sms: 0 1g, 1 1g with 2 memory slices, 2 2g,
	// 3 3g, 4 4g, 5 7g; the +me variant repeats the 1g values.
	return []Profile{
		{Name: names[0], ID: 19, ComputeSlices: 1, MemorySlices: 1, MemoryMiB: mib[0], SMs: sms[0], MaxCount: 7, Placements: place1g},
		{Name: names[0] + "+me", ID: 20, ComputeSlices: 1, MemorySlices: 1, MemoryMiB: mib[0], SMs: sms[0], MaxCount: 1, MediaExtensions: true, Placements: place1g},
		{Name: names[1], ID: 15, ComputeSlices: 1, MemorySlices: 2, MemoryMiB: mib[1], SMs: sms[1], MaxCount: 4, Placements: place1g2m},
		{Name: names[2], ID: 14, ComputeSlices: 2, MemorySlices: 2, MemoryMiB: mib[2], SMs: sms[2], MaxCount: 3, Placements: place2g},
		{Name: names[3], ID: 9, ComputeSlices: 3, MemorySlices: 4, MemoryMiB: mib[3], SMs: sms[3], MaxCount: 2, Placements: place3g},
		{Name: names[4], ID: 5, ComputeSlices: 4, MemorySlices: 4, MemoryMiB: mib[4], SMs: sms[4], MaxCount: 1, Placements: place4g},
		{Name: names[5], ID: 0, ComputeSlices: 7, MemorySlices: 8, MemoryMiB: mib[5], SMs: sms[5], MaxCount: 1, Placements: placeFull7},
	}
}

var models = []Model{
	{
		// A100-SXM4-40GB / A100-PCIE-40GB.
		Name: "A100-40GB", PCIDeviceIDs: []uint32{0x20B010DE, 0x20F110DE}, NameTokens: []string{"A100", "40GB"},
		MemoryGB: 40, FullSMs: 108, ComputeSlices: ComputeSlices7, MemorySlices: MemorySlices8,
		Profiles: sevenSlice(
			[6]string{"1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"},
			// 4.75, ~9.75, 9.75, 19.62, ~19.62, 39.50 GiB
			[6]int64{4864, 9984, 9984, 20096, 20096, 40448},
			[6]int{14, 14, 28, 42, 56, 98},
		),
	},
	{
		// A100-SXM4-80GB / A100 80GB PCIe.
		Name: "A100-80GB", PCIDeviceIDs: []uint32{0x20B210DE, 0x20B510DE}, NameTokens: []string{"A100", "80GB"},
		MemoryGB: 80, FullSMs: 108, ComputeSlices: ComputeSlices7, MemorySlices: MemorySlices8,
		Profiles: sevenSlice(
			[6]string{"1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"},
			// 9.50 (9.50–9.75), 19.50, 19.50 (19.50–19.62), 39.25 (39.25–39.50), 39.25, 78.50 (78.50–79.25) GiB
			[6]int64{9728, 19968, 19968, 40192, 40192, 80384},
			[6]int{14, 14, 28, 42, 56, 98},
		),
	},
	{
		// H100 SXM5 80GB (132 SMs). H100 PCIe (114 SMs) is deliberately
		// not matched: its SM counts are not in the notes.
		Name: "H100-80GB", PCIDeviceIDs: []uint32{0x233010DE}, NameTokens: []string{"H100", "80GB"},
		MemoryGB: 80, FullSMs: 132, ComputeSlices: ComputeSlices7, MemorySlices: MemorySlices8,
		Profiles: sevenSlice(
			[6]string{"1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"},
			// 9.62 (9.62–9.75), 19.50 (19.50–19.62), 19.50, 39.25 (GI = 40192 MiB), 39.50, 79.25 GiB
			[6]int64{9856, 19968, 19968, 40192, 40448, 81152},
			[6]int{16, 26, 32, 60, 64, 132},
		),
	},
	{
		// H100 NVL / H800 NVL, 94 GB: names and counts from mig-parted's
		// config; memory, SMs and PCI IDs not captured.
		Name: "H100-94GB", NameTokens: []string{"H100", "NVL"},
		MemoryGB: 94, ComputeSlices: ComputeSlices7, MemorySlices: MemorySlices8,
		Profiles: sevenSlice(
			[6]string{"1g.12gb", "1g.24gb", "2g.24gb", "3g.47gb", "4g.47gb", "7g.94gb"},
			[6]int64{},
			[6]int{},
		),
	},
	{
		// H200 SXM5 141GB and H200 NVL.
		Name: "H200-141GB", PCIDeviceIDs: []uint32{0x233510DE, 0x233B10DE}, NameTokens: []string{"H200"},
		MemoryGB: 141, FullSMs: 132, ComputeSlices: ComputeSlices7, MemorySlices: MemorySlices8,
		Profiles: sevenSlice(
			[6]string{"1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"},
			// 16.00, 32.25, 32.25, 69.50, 69.50, 139.75 GiB
			[6]int64{16384, 33024, 33024, 71168, 71168, 143104},
			[6]int{16, 26, 32, 60, 64, 132},
		),
	},
	{
		// B200 180GB. 3g/4g/7g memory and SMs were not captured, nor the
		// GPU's SM count with MIG off.
		Name: "B200-180GB", PCIDeviceIDs: []uint32{0x290110DE}, NameTokens: []string{"B200"},
		MemoryGB: 180, ComputeSlices: ComputeSlices7, MemorySlices: MemorySlices8,
		Profiles: sevenSlice(
			[6]string{"1g.23gb", "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb"},
			// 20.50 (22.00 on an earlier driver), 44.25, 44.25 GiB; rest not measured
			[6]int64{20992, 45312, 45312, 0, 0, 0},
			[6]int{18, 30, 36, 0, 0, 0},
		),
	},
}
