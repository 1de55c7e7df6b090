package mig

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// role names a 7-slice profile independently of the model's memory size,
// as research/gpu.md §3.2 writes the ground truth ("1g2m" is the 1g with
// two memory slices).
func role(p Profile) string {
	switch {
	case p.MediaExtensions:
		return "1g+me"
	case p.ComputeSlices == 1 && p.MemorySlices == 2:
		return "1g2m"
	default:
		return fmt.Sprintf("%dg", p.ComputeSlices)
	}
}

// roles formats a multiset with role names, largest profile first.
func roles(m Model, c Counts) string {
	var parts []string
	for i := len(c) - 1; i >= 0; i-- {
		if c[i] == 0 {
			continue
		}
		s := role(m.Profiles[i])
		if c[i] > 1 {
			s += fmt.Sprintf("×%d", c[i])
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " + ")
}

func noMedia(p Profile) bool { return !p.MediaExtensions }

// The 28 maximal multisets of research/gpu.md §3.2 (profiles 1g, 1g2m,
// 2g, 3g, 4g, 7g; "+me" left out), as enumerated there: the 17 that use
// all 7 compute slices, then the 11 that use all 8 memory slices (or
// strand the rest) with compute idle.
var maximal28 = []string{
	"7g", "4g + 3g", "4g + 2g + 1g2m", "4g + 2g + 1g", "4g + 1g2m + 1g×2", "4g + 1g×3",
	"3g + 2g×2", "3g + 2g + 1g×2", "3g + 1g×4", "2g×3 + 1g2m", "2g×3 + 1g",
	"2g×2 + 1g2m + 1g×2", "2g×2 + 1g×3", "2g + 1g2m + 1g×4", "2g + 1g×5", "1g2m + 1g×6", "1g×7",
	"4g + 1g2m×2", "3g×2", "3g + 2g + 1g2m", "3g + 1g2m + 1g×2", "2g×2 + 1g2m×2",
	"2g + 1g2m×2 + 1g×2", "1g2m×2 + 1g×4", "3g + 1g2m×2", "2g + 1g2m×3", "1g2m×3 + 1g×2", "1g2m×4",
}

// TestGroundTruth pins research/gpu.md §3.2 on every 7-slice model: 77
// valid non-empty multisets and 28 maximal ones over the six profiles
// without "+me" (the set the research enumerated; the counts are for that
// set). With "+me" (at most one per GPU) there are 127 and 44; without
// the 2-memory-slice 1g, 37 and 12.
func TestGroundTruth(t *testing.T) {
	t.Parallel()
	no1g2m := func(p Profile) bool { return noMedia(p) && role(p) != "1g2m" }
	for _, m := range Models() {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			o, err := NewOracle(m)
			require.NoError(t, err)
			for _, tc := range []struct {
				name            string
				keep            func(Profile) bool
				valid, maxCount int
			}{
				{"without +me", noMedia, 77, 28},
				{"with +me", nil, 127, 44},
				{"without +me and 1g2m", no1g2m, 37, 12},
			} {
				sets := o.Multisets(tc.keep)
				var maxi []string
				for _, c := range sets {
					if o.Maximal(c, tc.keep) {
						maxi = append(maxi, roles(m, c))
					}
				}
				require.Len(t, sets, tc.valid, tc.name)
				require.Len(t, maxi, tc.maxCount, tc.name)
				if tc.valid == 77 {
					require.ElementsMatch(t, maximal28, maxi)
				}
			}
		})
	}
}

func TestFitCases(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"A100-40GB", "H100-80GB"} {
		m := modelNamed(t, name)
		o, err := NewOracle(m)
		require.NoError(t, err)
		by := map[string]string{}
		for _, p := range m.Profiles {
			by[role(p)] = p.Name
		}
		fit := func(rs ...string) ([]Instance, error) {
			names := make([]string, len(rs))
			for i, r := range rs {
				names[i] = by[r]
			}
			c, err := o.Counts(names...)
			require.NoError(t, err)
			return o.Fit(c)
		}
		for _, tc := range []struct {
			roles []string
			want  []Placement // nil: infeasible
		}{
			{[]string{"3g", "3g", "1g"}, nil},
			{[]string{"2g", "2g", "3g"}, []Placement{{0, 2}, {2, 2}, {4, 4}}},
			{[]string{"3g", "2g", "2g"}, []Placement{{0, 2}, {2, 2}, {4, 4}}},
			{[]string{"1g", "1g", "1g", "1g", "1g", "1g", "1g", "1g2m"}, nil},
			{[]string{"1g2m", "1g2m", "1g2m", "1g2m", "1g"}, nil},
			{[]string{"1g2m", "1g2m", "1g2m", "1g2m"}, []Placement{{0, 2}, {2, 2}, {4, 2}, {6, 2}}},
			{[]string{"4g", "3g"}, []Placement{{0, 4}, {4, 4}}},
			{[]string{"4g", "4g"}, nil},
			{[]string{"7g", "1g"}, nil},
			{[]string{"1g+me", "1g+me"}, nil},
			{[]string{"1g+me", "1g", "1g", "1g", "1g", "1g", "1g"}, []Placement{{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}, {5, 1}, {6, 1}}},
			{[]string{"2g", "2g", "2g", "1g2m"}, []Placement{{0, 2}, {2, 2}, {4, 2}, {6, 2}}},
			{nil, []Placement{}},
		} {
			got, err := fit(tc.roles...)
			if tc.want == nil {
				require.ErrorIs(t, err, ErrInfeasible, "%s %v", name, tc.roles)
				continue
			}
			require.NoError(t, err, "%s %v", name, tc.roles)
			require.NoError(t, m.ValidateLayout(got))
			ps := make([]Placement, len(got))
			for i, in := range got {
				ps[i] = in.Placement
			}
			require.Equal(t, tc.want, ps, "%s %v", name, tc.roles)
		}
	}
}

func TestFitByName(t *testing.T) {
	t.Parallel()
	m := modelNamed(t, "H100-80GB")
	got, err := m.Fit("3g.40gb", "2g.20gb", "2g.20gb")
	require.NoError(t, err)
	require.Equal(t, []Instance{{"2g.20gb", Placement{0, 2}}, {"2g.20gb", Placement{2, 2}}, {"3g.40gb", Placement{4, 4}}}, got)

	_, err = m.Fit("3g.40gb", "3g.40gb", "1g.10gb")
	require.ErrorIs(t, err, ErrInfeasible)
	require.Contains(t, err.Error(), "3g.40gb×2 + 1g.10gb")

	_, err = m.Fit("1g.5gb")
	require.ErrorIs(t, err, ErrUnknownProfile)
}

func TestFitLimits(t *testing.T) {
	t.Parallel()
	o, err := NewOracle(modelNamed(t, "A100-40GB"))
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		c    Counts
		want error
	}{
		{"negative", Counts{-1}, ErrInfeasible},
		{"over max count", Counts{8}, ErrInfeasible},
		{"over compute", Counts{0, 0, 0, 0, 1, 1, 1}, ErrInfeasible},
		{"profiles past the model", Counts{0, 0, 0, 0, 0, 0, 0, 1}, ErrUnknownProfile},
		{"zeros past the model", Counts{1, 0, 0, 0, 0, 0, 0, 0}, nil},
		{"nil", nil, nil},
	} {
		_, err := o.Fit(tc.c)
		if tc.want == nil {
			require.NoError(t, err, tc.name)
		} else {
			require.ErrorIs(t, err, tc.want, tc.name)
		}
	}
}

// TestFitAgainstBruteForce checks the oracle against exhaustive search on
// every count vector within the profiles' maximum counts (3,840 of them on
// a 7-slice GPU): the fuzz target below does the same for random models.
func TestFitAgainstBruteForce(t *testing.T) {
	t.Parallel()
	m := modelNamed(t, "H100-80GB")
	o, err := NewOracle(m)
	require.NoError(t, err)
	c := make(Counts, len(m.Profiles))
	n := 0
	var walk func(i int)
	walk = func(i int) {
		if i == len(c) {
			n++
			checkAgainstBruteForce(t, m, o, c)
			return
		}
		for c[i] = 0; c[i] <= m.Profiles[i].MaxCount; c[i]++ {
			walk(i + 1)
		}
		c[i] = 0
	}
	walk(0)
	require.Equal(t, 8*2*5*4*3*2*2, n)
}

// bruteForce looks for a valid layout by trying every placement of every
// instance (skipping only overlapping partial assignments) and asking
// ValidateLayout, plus the one rule it leaves to the oracle: at most one
// media-extensions instance per GPU.
func bruteForce(m Model, c Counts) bool {
	var items []Profile
	compute, media := 0, 0
	for i, n := range c {
		for range n {
			items = append(items, m.Profiles[i])
			compute += m.Profiles[i].ComputeSlices
			if m.Profiles[i].MediaExtensions {
				media++
			}
		}
	}
	if compute > m.ComputeSlices || media > 1 {
		return false // ValidateLayout would refuse every assignment
	}
	layout := make([]Instance, len(items))
	var try func(k int, used uint8) bool
	try = func(k int, used uint8) bool {
		if k == len(items) {
			return m.ValidateLayout(layout) == nil
		}
		for _, pl := range items[k].Placements {
			if used&pl.Mask() != 0 {
				continue
			}
			layout[k] = Instance{items[k].Name, pl}
			if try(k+1, used|pl.Mask()) {
				return true
			}
		}
		return false
	}
	return try(0, 0)
}

func checkAgainstBruteForce(t testing.TB, m Model, o *Oracle, c Counts) {
	t.Helper()
	got, err := o.Fit(c)
	want := bruteForce(m, c)
	require.Equal(t, want, err == nil, "%v: oracle %v", c, err)
	if err != nil {
		require.ErrorIs(t, err, ErrInfeasible)
		return
	}
	require.NoError(t, m.ValidateLayout(got), "witness for %v", c)
	back := make(Counts, len(c))
	for _, in := range got {
		i, ok := o.Index(in.Profile)
		require.True(t, ok)
		back[i]++
	}
	require.Equal(t, []int(c), []int(back), "witness holds exactly the multiset")
}

func TestExtend(t *testing.T) {
	t.Parallel()
	m := modelNamed(t, "A100-80GB")
	o, err := NewOracle(m)
	require.NoError(t, err)
	twoTwo, err := o.Counts("2g.20gb", "2g.20gb")
	require.NoError(t, err)

	// research §3.2: 3g@0 + 2g + 2g is impossible, 3g@4 + 2g + 2g fine.
	_, err = o.Extend([]Instance{{"3g.40gb", Placement{0, 4}}}, twoTwo)
	require.ErrorIs(t, err, ErrInfeasible)
	got, err := o.Extend([]Instance{{"3g.40gb", Placement{4, 4}}}, twoTwo)
	require.NoError(t, err)
	require.Equal(t, []Instance{{"2g.20gb", Placement{0, 2}}, {"2g.20gb", Placement{2, 2}}, {"3g.40gb", Placement{4, 4}}}, got)

	// The limits count the fixed instances too.
	one, err := o.Counts("4g.40gb")
	require.NoError(t, err)
	_, err = o.Extend([]Instance{{"4g.40gb", Placement{0, 4}}}, one)
	require.ErrorIs(t, err, ErrInfeasible)
	// A fixed layout that is itself invalid is refused as ValidateLayout does.
	_, err = o.Extend([]Instance{{"2g.20gb", Placement{6, 2}}}, nil)
	require.ErrorIs(t, err, ErrInvalidPlacement)
}

func TestNewOracleRejects(t *testing.T) {
	t.Parallel()
	good := modelNamed(t, "H100-80GB")
	for _, tc := range []struct {
		name   string
		mutate func(*Model)
	}{
		{"16 memory slices", func(m *Model) { m.MemorySlices = 16 }},
		{"no compute", func(m *Model) { m.ComputeSlices = 0 }},
		{"placement past the slices", func(m *Model) { m.Profiles[0].Placements = []Placement{{7, 2}} }},
		{"placement of the wrong size", func(m *Model) { m.Profiles[3].Placements = []Placement{{0, 1}} }},
		{"profile without compute", func(m *Model) { m.Profiles[0].ComputeSlices = 0 }},
		{"repeated name", func(m *Model) { m.Profiles[1].Name = m.Profiles[0].Name }},
	} {
		m := good.clone()
		tc.mutate(&m)
		_, err := NewOracle(m)
		require.ErrorIs(t, err, ErrInvalidModel, tc.name)
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	o, err := NewOracle(modelNamed(t, "H100-80GB"))
	require.NoError(t, err)
	c, err := o.Counts("1g.10gb", "3g.40gb", "1g.10gb", "1g.20gb")
	require.NoError(t, err)
	require.Equal(t, "3g.40gb + 1g.20gb + 1g.10gb×2", o.Format(c))
	require.Equal(t, "none", o.Format(nil))
}

// FuzzOracle builds a random model (slices, profiles, placements, maximum
// counts, a "+me" flag) and a random multiset from the input and checks
// the oracle against brute force: feasible exactly when brute force finds
// a layout, and the witness is a valid layout of exactly that multiset.
func FuzzOracle(f *testing.F) {
	f.Add([]byte{7, 8, 3, 1, 1, 7, 0x7f, 0, 2, 2, 3, 0x15, 0, 3, 4, 2, 0x11, 0, 2, 2, 1})
	f.Add([]byte{7, 8, 2, 3, 4, 2, 0x11, 0, 1, 1, 7, 0x7f, 0, 2, 1})
	f.Add([]byte{4, 8, 1, 1, 2, 4, 0x55, 1, 3})
	f.Add([]byte{2, 3, 2, 1, 1, 8, 0xff, 0, 1, 1, 1, 0x03, 1, 2, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		next := func() int {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return int(b)
		}
		m := Model{Name: "fuzz", ComputeSlices: 1 + next()%8, MemorySlices: 1 + next()%8}
		nprof := 1 + next()%5
		for i := range nprof {
			p := Profile{
				Name:            fmt.Sprintf("p%d", i),
				ComputeSlices:   1 + next()%m.ComputeSlices,
				MemorySlices:    1 + next()%m.MemorySlices,
				MaxCount:        1 + next()%8,
				MediaExtensions: false,
			}
			starts := next()
			for s := 0; s+p.MemorySlices <= m.MemorySlices; s++ {
				if starts&(1<<s) != 0 {
					p.Placements = append(p.Placements, Placement{s, p.MemorySlices})
				}
			}
			p.MediaExtensions = next()%4 == 0
			m.Profiles = append(m.Profiles, p)
		}
		o, err := NewOracle(m)
		require.NoError(t, err)
		c := make(Counts, nprof)
		for i := range c {
			c[i] = next() % 5
		}
		checkAgainstBruteForce(t, m, o, c)
		// A feasible multiset's sub-multisets are feasible (monotonicity,
		// which Multisets relies on).
		if o.Feasible(c) {
			for i := range c {
				if c[i] > 0 {
					c[i]--
					require.True(t, o.Feasible(c))
					c[i]++
				}
			}
		}
	})
}

func BenchmarkFit(b *testing.B) {
	m, _ := ForPCIDeviceID(0x233010DE)
	o, err := NewOracle(m)
	require.NoError(b, err)
	sets := o.Multisets(nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, _ = o.Fit(sets[i%len(sets)])
		i++
	}
	b.ReportMetric(float64(len(sets)), "multisets")
}

func ExampleOracle_Fit() {
	m, _ := ForPCIDeviceID(0x233010DE) // H100 SXM5 80GB
	o, _ := NewOracle(m)
	c, _ := o.Counts("3g.40gb", "2g.20gb", "2g.20gb")
	layout, _ := o.Fit(c)
	fmt.Println(layout)
	c, _ = o.Counts("3g.40gb", "3g.40gb", "1g.10gb")
	_, err := o.Fit(c)
	fmt.Println(err)
	fmt.Println(len(o.Multisets(func(p Profile) bool { return !p.MediaExtensions })))
	// Output:
	// [{2g.20gb 0:2} {2g.20gb 2:2} {3g.40gb 4:4}]
	// 3g.40gb×2 + 1g.10gb on H100-80GB: 9 memory slices of 8: mig profiles do not fit one gpu
	// 77
}
