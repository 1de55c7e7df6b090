package mig

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// researchRow is one row of research/gpu.md §3.3 as printed there: the
// memory is nvidia-smi's GiB (the low end of a range), 0 where the notes
// say "n/a"; placements are §3.2's -lgipp lines.
type researchRow struct {
	model, profile string
	id             int
	memSlices      int
	computeSlices  int
	max            int
	gib            float64
	sms            int
	placements     string
}

const (
	lgipp1g   = "[0:1 1:1 2:1 3:1 4:1 5:1 6:1]"
	lgipp1g2m = "[0:2 2:2 4:2 6:2]"
	lgipp2g   = "[0:2 2:2 4:2]"
	lgipp3g   = "[0:4 4:4]"
	lgipp4g   = "[0:4]"
	lgipp7g   = "[0:8]"
)

var research = []researchRow{
	{"A100-40GB", "1g.5gb", 19, 1, 1, 7, 4.75, 14, lgipp1g},
	{"A100-40GB", "1g.5gb+me", 20, 1, 1, 1, 4.75, 14, lgipp1g},
	{"A100-40GB", "1g.10gb", 15, 2, 1, 4, 9.75, 14, lgipp1g2m},
	{"A100-40GB", "2g.10gb", 14, 2, 2, 3, 9.75, 28, lgipp2g},
	{"A100-40GB", "3g.20gb", 9, 4, 3, 2, 19.62, 42, lgipp3g},
	{"A100-40GB", "4g.20gb", 5, 4, 4, 1, 19.62, 56, lgipp4g},
	{"A100-40GB", "7g.40gb", 0, 8, 7, 1, 39.50, 98, lgipp7g},

	{"A100-80GB", "1g.10gb", 19, 1, 1, 7, 9.50, 14, lgipp1g},
	{"A100-80GB", "1g.10gb+me", 20, 1, 1, 1, 9.50, 14, lgipp1g},
	{"A100-80GB", "1g.20gb", 15, 2, 1, 4, 19.50, 14, lgipp1g2m},
	{"A100-80GB", "2g.20gb", 14, 2, 2, 3, 19.50, 28, lgipp2g},
	{"A100-80GB", "3g.40gb", 9, 4, 3, 2, 39.25, 42, lgipp3g},
	{"A100-80GB", "4g.40gb", 5, 4, 4, 1, 39.25, 56, lgipp4g},
	{"A100-80GB", "7g.80gb", 0, 8, 7, 1, 78.50, 98, lgipp7g},

	{"H100-80GB", "1g.10gb", 19, 1, 1, 7, 9.62, 16, lgipp1g},
	{"H100-80GB", "1g.10gb+me", 20, 1, 1, 1, 9.62, 16, lgipp1g},
	{"H100-80GB", "1g.20gb", 15, 2, 1, 4, 19.50, 26, lgipp1g2m},
	{"H100-80GB", "2g.20gb", 14, 2, 2, 3, 19.50, 32, lgipp2g},
	{"H100-80GB", "3g.40gb", 9, 4, 3, 2, 39.25, 60, lgipp3g},
	{"H100-80GB", "4g.40gb", 5, 4, 4, 1, 39.50, 64, lgipp4g},
	{"H100-80GB", "7g.80gb", 0, 8, 7, 1, 79.25, 132, lgipp7g},

	{"H100-94GB", "1g.12gb", 19, 1, 1, 7, 0, 0, lgipp1g},
	{"H100-94GB", "1g.12gb+me", 20, 1, 1, 1, 0, 0, lgipp1g},
	{"H100-94GB", "1g.24gb", 15, 2, 1, 4, 0, 0, lgipp1g2m},
	{"H100-94GB", "2g.24gb", 14, 2, 2, 3, 0, 0, lgipp2g},
	{"H100-94GB", "3g.47gb", 9, 4, 3, 2, 0, 0, lgipp3g},
	{"H100-94GB", "4g.47gb", 5, 4, 4, 1, 0, 0, lgipp4g},
	{"H100-94GB", "7g.94gb", 0, 8, 7, 1, 0, 0, lgipp7g},

	{"H200-141GB", "1g.18gb", 19, 1, 1, 7, 16.00, 16, lgipp1g},
	{"H200-141GB", "1g.18gb+me", 20, 1, 1, 1, 16.00, 16, lgipp1g},
	{"H200-141GB", "1g.35gb", 15, 2, 1, 4, 32.25, 26, lgipp1g2m},
	{"H200-141GB", "2g.35gb", 14, 2, 2, 3, 32.25, 32, lgipp2g},
	{"H200-141GB", "3g.71gb", 9, 4, 3, 2, 69.50, 60, lgipp3g},
	{"H200-141GB", "4g.71gb", 5, 4, 4, 1, 69.50, 64, lgipp4g},
	{"H200-141GB", "7g.141gb", 0, 8, 7, 1, 139.75, 132, lgipp7g},

	{"B200-180GB", "1g.23gb", 19, 1, 1, 7, 20.50, 18, lgipp1g},
	{"B200-180GB", "1g.23gb+me", 20, 1, 1, 1, 20.50, 18, lgipp1g},
	{"B200-180GB", "1g.45gb", 15, 2, 1, 4, 44.25, 30, lgipp1g2m},
	{"B200-180GB", "2g.45gb", 14, 2, 2, 3, 44.25, 36, lgipp2g},
	{"B200-180GB", "3g.90gb", 9, 4, 3, 2, 0, 0, lgipp3g},
	{"B200-180GB", "4g.90gb", 5, 4, 4, 1, 0, 0, lgipp4g},
	{"B200-180GB", "7g.180gb", 0, 8, 7, 1, 0, 0, lgipp7g},
}

func modelNamed(t *testing.T, name string) Model {
	t.Helper()
	for _, m := range Models() {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no model %q", name)
	return Model{}
}

func TestTablesMatchResearch(t *testing.T) {
	t.Parallel()
	rows := map[string]int{}
	for _, r := range research {
		t.Run(r.model+"/"+r.profile, func(t *testing.T) {
			t.Parallel()
			p, ok := modelNamed(t, r.model).Profile(r.profile)
			require.True(t, ok)
			require.Equal(t, r.id, p.ID, "profile ID")
			require.Equal(t, r.memSlices, p.MemorySlices, "memory slices")
			require.Equal(t, r.computeSlices, p.ComputeSlices, "compute slices")
			require.Equal(t, r.max, p.MaxCount, "max count")
			require.InDelta(t, r.gib, float64(p.MemoryMiB)/1024, 0.01, "GiB as nvidia-smi prints it")
			require.Equal(t, r.sms, p.SMs, "SMs")
			require.Equal(t, r.placements, placementList(p.Placements))
			require.Equal(t, strings.HasSuffix(r.profile, "+me"), p.MediaExtensions)
		})
		rows[r.model]++
	}
	// Every profile of every model is covered by a research row.
	for _, m := range Models() {
		require.Equal(t, len(m.Profiles), rows[m.Name], m.Name)
	}
}

func TestTableInvariants(t *testing.T) {
	t.Parallel()
	for _, m := range Models() {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			ids, names := map[int]bool{}, map[string]bool{}
			for _, p := range m.Profiles {
				require.False(t, ids[p.ID], "duplicate ID %d", p.ID)
				require.False(t, names[p.Name], "duplicate name %s", p.Name)
				ids[p.ID], names[p.Name] = true, true
				require.GreaterOrEqual(t, len(p.Placements), p.MaxCount, "%s: fewer placements than instances", p.Name)
				require.LessOrEqual(t, p.ComputeSlices*p.MaxCount, m.ComputeSlices, p.Name)
				for _, pl := range p.Placements {
					require.Equal(t, p.MemorySlices, pl.Size, p.Name)
					require.LessOrEqual(t, pl.Start+pl.Size, m.MemorySlices, p.Name)
					require.Zero(t, pl.Start%pl.Size, "%s: placements are aligned to their size", p.Name)
				}
				if p.SMs > 0 && m.FullSMs > 0 {
					require.LessOrEqual(t, p.SMs, m.FullSMs, p.Name)
				}
				// The name's "Ng" is the compute slices and its memory
				// is the device's eighths, as go-nvlib derives it.
				attrs := []string(nil)
				if p.MediaExtensions {
					attrs = []string{"me"}
				}
				deviceBytes := uint64(m.MemoryGB) << 30
				mib := uint64(p.MemorySlices) * deviceBytes / 8 >> 20
				require.Equal(t, p.Name, ProfileName(p.ComputeSlices, p.ComputeSlices, mib, deviceBytes, attrs...))
			}
		})
	}
}

func TestProfileName(t *testing.T) {
	t.Parallel()
	const gib = 1 << 30
	for _, tc := range []struct {
		g, c        int
		mib, device uint64
		attrs       []string
		want        string
	}{
		// research §1.3: H200's ≈141 GiB gives 1g.18gb and 3g.71gb.
		{1, 1, 16384, 140*gib + gib/2, nil, "1g.18gb"},
		{3, 3, 71168, 140*gib + gib/2, nil, "3g.71gb"},
		{7, 7, 143104, 140*gib + gib/2, nil, "7g.141gb"},
		// A real H100 reports ≈79.6 GiB in total and 9.62 GiB for 1g.
		{1, 1, 9856, 81559 << 20, nil, "1g.10gb"},
		{1, 1, 9856, 81559 << 20, []string{"me"}, "1g.10gb+me"},
		{3, 1, 40192, 81559 << 20, nil, "1c.3g.40gb"},
		{1, 1, 4864, 40 * gib, nil, "1g.5gb"},
		{2, 2, 100, 0, nil, "2g.0gb"},
	} {
		require.Equal(t, tc.want, ProfileName(tc.g, tc.c, tc.mib, tc.device, tc.attrs...))
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pci  uint32
		name string
		want string
	}{
		{0x233010DE, "", "H100-80GB"},
		{0x20B210DE, "", "A100-80GB"},
		{0x20F110DE, "", "A100-40GB"},
		{0x233B10DE, "", "H200-141GB"},
		{0x290110DE, "", "B200-180GB"},
		{0, "NVIDIA A100-SXM4-40GB", "A100-40GB"},
		{0, "Mock NVIDIA A100-SXM4-40GB", "A100-40GB"},
		{0, "NVIDIA A100 80GB PCIe", "A100-80GB"},
		{0, "NVIDIA H100 80GB HBM3", "H100-80GB"},
		{0, "NVIDIA H100 NVL", "H100-94GB"},
		{0, "NVIDIA H200 141GB HBM3e", "H200-141GB"},
		{0x2B0010DE, "NVIDIA B200 180GB HBM3e", "B200-180GB"}, // the mock's wrong PCI ID falls back to the name
		{0, "NVIDIA H100 PCIe", ""},                           // 114 SMs: not in the tables
		{0, "Tesla T4", ""},
	} {
		m, ok := Lookup(tc.pci, tc.name)
		require.Equal(t, tc.want != "", ok, "%#x %q", tc.pci, tc.name)
		require.Equal(t, tc.want, m.Name)
	}
}

func TestModelsAreCopies(t *testing.T) {
	t.Parallel()
	m := Models()[0]
	m.Profiles[0].Placements[0] = Placement{Start: 7, Size: 1}
	m.Profiles[0].Name = "changed"
	m.PCIDeviceIDs[0] = 0
	fresh := Models()[0]
	require.Equal(t, Placement{0, 1}, fresh.Profiles[0].Placements[0])
	require.NotEqual(t, "changed", fresh.Profiles[0].Name)
	require.NotZero(t, fresh.PCIDeviceIDs[0])
}

func TestValidatePlacement(t *testing.T) {
	t.Parallel()
	h100 := modelNamed(t, "H100-80GB")
	for _, tc := range []struct {
		profile string
		p       Placement
		want    error
	}{
		{"1g.10gb", Placement{6, 1}, nil},
		{"1g.10gb", Placement{7, 1}, ErrInvalidPlacement}, // no 1g at slice 7
		{"1g.20gb", Placement{6, 2}, nil},
		{"1g.20gb", Placement{1, 2}, ErrInvalidPlacement},
		{"2g.20gb", Placement{6, 2}, ErrInvalidPlacement}, // no 2g at slice 6
		{"3g.40gb", Placement{4, 4}, nil},
		{"3g.40gb", Placement{4, 3}, ErrInvalidPlacement}, // the mock's 3-slice placement
		{"4g.40gb", Placement{4, 4}, ErrInvalidPlacement},
		{"7g.80gb", Placement{0, 8}, nil},
		{"7g.80gb", Placement{0, 7}, ErrInvalidPlacement},
		{"5g.50gb", Placement{0, 4}, ErrUnknownProfile},
	} {
		err := h100.ValidatePlacement(tc.profile, tc.p)
		if tc.want == nil {
			require.NoError(t, err, "%s at %s", tc.profile, tc.p)
		} else {
			require.ErrorIs(t, err, tc.want, "%s at %s", tc.profile, tc.p)
		}
	}
}

func TestValidateLayout(t *testing.T) {
	t.Parallel()
	a100 := modelNamed(t, "A100-40GB")
	at := func(profile string, start, size int) Instance {
		return Instance{profile, Placement{start, size}}
	}
	ones := func(n int) []Instance {
		var out []Instance
		for i := range n {
			out = append(out, at("1g.5gb", i, 1))
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		layout []Instance
		want   []error
	}{
		{"empty", nil, nil},
		{"7g", []Instance{at("7g.40gb", 0, 8)}, nil},
		{"4g+3g", []Instance{at("4g.20gb", 0, 4), at("3g.20gb", 4, 4)}, nil},
		{"2g×2+3g (research: feasible)", []Instance{at("2g.10gb", 0, 2), at("2g.10gb", 2, 2), at("3g.20gb", 4, 4)}, nil},
		{"1g×7", ones(7), nil},
		{"3g@0+2g+2g: 2g cannot start at 6", []Instance{at("3g.20gb", 0, 4), at("2g.10gb", 4, 2), at("2g.10gb", 6, 2)}, []error{ErrInvalidPlacement}},
		{"3g×2+1g (research: infeasible)", []Instance{at("3g.20gb", 0, 4), at("3g.20gb", 4, 4), at("1g.5gb", 0, 1)}, []error{ErrOverlap}},
		{"1g2m×4+1g (research: infeasible)", []Instance{at("1g.10gb", 0, 2), at("1g.10gb", 2, 2), at("1g.10gb", 4, 2), at("1g.10gb", 6, 2), at("1g.5gb", 3, 1)}, []error{ErrOverlap}},
		{"two +me", []Instance{at("1g.5gb+me", 0, 1), at("1g.5gb+me", 1, 1)}, []error{ErrCapacity}},
		{"4g+4g: one placement, max 1", []Instance{at("4g.20gb", 0, 4), at("4g.20gb", 0, 4)}, []error{ErrOverlap, ErrCapacity}},
		{"1g×7 + 1g at 7", append(ones(7), at("1g.5gb", 7, 1)), []error{ErrInvalidPlacement}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := a100.ValidateLayout(tc.layout)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorIs(t, err, w)
			}
		})
	}
}

func TestValidateLayoutComputeBudget(t *testing.T) {
	t.Parallel()
	// A hypothetical model whose memory would allow more compute than it
	// has: the compute budget is checked on its own.
	m := Model{Name: "tiny", ComputeSlices: 2, MemorySlices: 8, Profiles: []Profile{
		{Name: "1g.1gb", ComputeSlices: 1, MemorySlices: 1, MaxCount: 8, Placements: place1g},
	}}
	err := m.ValidateLayout([]Instance{{"1g.1gb", Placement{0, 1}}, {"1g.1gb", Placement{1, 1}}, {"1g.1gb", Placement{2, 1}}})
	require.ErrorIs(t, err, ErrCapacity)
	require.Contains(t, err.Error(), "3 compute slices of 2")
}

func TestPlacementMask(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    Placement
		want uint8
	}{
		{Placement{0, 8}, 0xFF},
		{Placement{4, 4}, 0xF0},
		{Placement{6, 2}, 0xC0},
		{Placement{3, 1}, 0x08},
		{Placement{7, 4}, 0x80}, // cut at slice 7
		{Placement{-1, 2}, 0x01},
	} {
		require.Equal(t, tc.want, tc.p.Mask(), tc.p.String())
	}
}

func ExampleModel_ValidateLayout() {
	m, _ := ForPCIDeviceID(0x233010DE) // H100 SXM5 80GB
	p, _ := m.Profile("3g.40gb")
	fmt.Println(p.Name, p.SMs, "SMs", p.MemoryMiB, "MiB", p.Placements)
	err := m.ValidateLayout([]Instance{
		{Profile: "3g.40gb", Placement: Placement{Start: 0, Size: 4}},
		{Profile: "2g.20gb", Placement: Placement{Start: 4, Size: 2}},
		{Profile: "2g.20gb", Placement: Placement{Start: 6, Size: 2}},
	})
	fmt.Println(errors.Is(err, ErrInvalidPlacement))
	// Output:
	// 3g.40gb 60 SMs 40192 MiB [0:4 4:4]
	// true
}
