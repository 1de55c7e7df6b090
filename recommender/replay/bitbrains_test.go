package replay

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
)

// bbHeader is the header of the real Bitbrains files.
const bbHeader = "Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\tCPU usage [%];\t" +
	"Memory capacity provisioned [KB];\tMemory usage [KB];\tDisk read throughput [KB/s];\tDisk write throughput [KB/s];\t" +
	"Network received throughput [KB/s];\tNetwork transmitted throughput [KB/s]"

// bbLine formats a row in bbHeader's column order; the columns Open does
// not read are filled in.
func bbLine(ts, cores, cpuCap, cpuUse, memCap, memUse string) string {
	return strings.Join([]string{ts, cores, cpuCap, cpuUse, "1.5", memCap, memUse, "160.8", "21.7", "0.26", "1.46"}, ";\t")
}

// bbFile joins a header and rows into a file.
func bbFile(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// A typical row: 2 cores of 2600 MHz, 1300 MHz used (0.5 cores), 8 GiB
// provisioned, 1 GiB used.
var bbOK = bbLine("1372629804", "2", "5200.0", "1300.0", "8388608.0", "1048576.0")

func TestBitbrainsDecode(t *testing.T) {
	t.Parallel()
	okUsage := recommender.Usage{
		CPU:    500,
		Memory: recommender.GiB,
		Has:    recommender.ResourceSet(0).With(recommender.ResourceCPU).With(recommender.ResourceMemory),
	}
	memOnly := recommender.ResourceSet(0).With(recommender.ResourceMemory)
	tests := []struct {
		name     string
		file     string
		opts     Options
		wantErr  error  // errors.Is target; nil means success
		errText  string // substring of the error
		want     []recommender.Usage
		wantT    []int64 // unix seconds; checked when set
		skipped  map[SkipReason]int
		requests recommender.Amounts
	}{
		{
			name:     "one row",
			file:     bbFile(bbHeader, bbOK),
			want:     []recommender.Usage{okUsage},
			wantT:    []int64{1372629804},
			requests: recommender.Amounts{CPU: 2000, Memory: 8 * recommender.GiB},
		},
		{
			name: "columns by header name in any order",
			file: bbFile(
				"Memory usage [KB];\tCPU usage [MHZ];\tNetwork received throughput [KB/s];\tCPU cores;\t"+
					"Timestamp [ms];\tMemory capacity provisioned [KB];\tCPU capacity provisioned [MHZ]",
				"1048576.0;\t1300.0;\t0.2;\t2;\t1372629804;\t8388608.0;\t5200.0",
			),
			want:     []recommender.Usage{okUsage},
			wantT:    []int64{1372629804},
			requests: recommender.Amounts{CPU: 2000, Memory: 8 * recommender.GiB},
		},
		{
			name: "only the required columns, no tabs",
			file: bbFile(
				"Timestamp [ms];CPU cores;CPU capacity provisioned [MHZ];CPU usage [MHZ];Memory capacity provisioned [KB];Memory usage [KB]",
				"1372629804;2;5200.0;1300.0;8388608.0;1048576.0",
			),
			want:     []recommender.Usage{okUsage},
			requests: recommender.Amounts{CPU: 2000, Memory: 8 * recommender.GiB},
		},
		{
			name: "repeated timestamp keeps the first row",
			file: bbFile(bbHeader,
				bbLine("300", "2", "5200", "2600", "8388608", "1048576"),
				bbLine("300", "2", "5200", "5200", "8388608", "2097152"),
				bbLine("600", "2", "5200", "1300", "8388608", "1048576"),
				bbLine("600", "2", "5200", "0", "8388608", "0"),
			),
			want: []recommender.Usage{
				{CPU: 1000, Memory: recommender.GiB, Has: okUsage.Has},
				okUsage,
			},
			wantT:    []int64{300, 600},
			skipped:  map[SkipReason]int{SkipDuplicate: 2},
			requests: recommender.Amounts{CPU: 2000, Memory: 8 * recommender.GiB},
		},
		{
			name: "rows out of order are sorted, first in file order wins a tie",
			file: bbFile(bbHeader,
				bbLine("900", "2", "5200", "1300", "8388608", "1048576"),
				bbLine("300", "2", "5200", "2600", "8388608", "1048576"),
				bbLine("900", "2", "5200", "0", "8388608", "1048576"),
			),
			want: []recommender.Usage{
				{CPU: 1000, Memory: recommender.GiB, Has: okUsage.Has},
				okUsage,
			},
			wantT:    []int64{300, 900},
			skipped:  map[SkipReason]int{SkipDuplicate: 1},
			requests: recommender.Amounts{CPU: 2000, Memory: 8 * recommender.GiB},
		},
		{
			name: "usage above the provisioned cores is kept",
			file: bbFile(bbHeader, bbLine("300", "8", "20800", "26000", "1024", "1024")),
			want: []recommender.Usage{{CPU: 10000, Memory: recommender.MiB, Has: okUsage.Has}},
			requests: recommender.Amounts{
				CPU: 8000, Memory: recommender.MiB,
			},
		},
		{
			name: "wrong field count",
			file: bbFile(bbHeader,
				bbOK+";\t7",
				strings.TrimSuffix(bbOK, ";\t1.46"),
				"1372629804",
				bbLine("1372630104", "2", "5200.0", "1300.0", "8388608.0", "1048576.0"),
			),
			want:     []recommender.Usage{okUsage},
			skipped:  map[SkipReason]int{SkipFieldCount: 3},
			requests: recommender.Amounts{CPU: 2000, Memory: 8 * recommender.GiB},
		},
		{
			name: "unparsable numbers",
			file: bbFile(bbHeader,
				bbLine("300", "two", "5200", "1300", "1024", "1024"),
				bbLine("", "2", "5200", "1300", "1024", "1024"),
				bbLine("300", "2", "5200", "1,300", "1024", "1024"),
				bbLine("300", "2", "5200", "0x", "1024", "1024"),
			),
			skipped: map[SkipReason]int{SkipParse: 4},
		},
		{
			name: "NaN and infinities",
			file: bbFile(bbHeader,
				bbLine("300", "2", "5200", "NaN", "1024", "1024"),
				bbLine("300", "2", "+Inf", "1300", "1024", "1024"),
				bbLine("300", "2", "5200", "1300", "1024", "-Infinity"),
			),
			skipped: map[SkipReason]int{SkipNonFinite: 3},
		},
		{
			name: "negative values",
			file: bbFile(bbHeader,
				bbLine("-300", "2", "5200", "1300", "1024", "1024"),
				bbLine("300", "2", "5200", "1300", "1024", "-1"),
				bbLine("300", "-2", "5200", "1300", "1024", "1024"),
			),
			skipped: map[SkipReason]int{SkipNegative: 3},
		},
		{
			name: "absurd values",
			file: bbFile(bbHeader,
				bbLine("300", "20000", "5200", "1300", "1024", "1024"),         // cores
				bbLine("300", "2", "5200", "1300", "1024", "2e12"),             // > 1 PiB
				bbLine("1e10", "2", "5200", "1300", "1024", "1024"),            // year 2286
				bbLine("300", "1", "1e-300", "1", "1024", "1024"),              // 1e300 cores used
				bbLine("300", "2", "5200", "1e400", "1024", "1024"),            // out of float64 range
				bbLine("1372629804000", "2", "5200", "1300", "1024", "1024"),   // milliseconds
				bbLine("300", "2", "5200", "1300", "1125899906842624", "1024"), // 1 EiB provisioned
			),
			skipped: map[SkipReason]int{SkipAbsurd: 7},
		},
		{
			name: "a switched-off VM is skipped, memory without CPU capacity stays",
			file: bbFile(bbHeader,
				bbLine("300", "0", "0.0", "0.0", "0.0", "0.0"),
				bbLine("600", "0", "0.0", "0.0", "4194304.0", "1024.0"),
				bbLine("900", "1", "0.0", "0.0", "0.0", "0.0"),
			),
			want:     []recommender.Usage{{Memory: recommender.MiB, Has: memOnly}},
			wantT:    []int64{600},
			skipped:  map[SkipReason]int{SkipUnprovisioned: 2},
			requests: recommender.Amounts{CPU: 1000, Memory: 4 * recommender.GiB},
		},
		{
			name: "zero memory usage kept as a zero sample",
			file: bbFile(bbHeader, bbLine("300", "2", "5200", "1300", "8388608", "0")),
			opts: Options{KeepZeroMemory: true},
			want: []recommender.Usage{{CPU: 500, Has: okUsage.Has}},
			requests: recommender.Amounts{
				CPU: 2000, Memory: 8 * recommender.GiB,
			},
		},
		{
			name: "zero memory usage is missing by default",
			file: bbFile(bbHeader,
				bbLine("300", "2", "5200", "1300", "8388608", "0"),
				bbLine("600", "2", "5200", "1300", "8388608", "1048576"),
				bbLine("900", "0", "0", "0", "8388608", "0"),
			),
			opts: Options{},
			want: []recommender.Usage{
				{CPU: 500, Has: recommender.ResourceSet(0).With(recommender.ResourceCPU)},
				okUsage,
			},
			skipped:  map[SkipReason]int{SkipUnprovisioned: 1},
			requests: recommender.Amounts{CPU: 2000, Memory: 8 * recommender.GiB},
		},
		{
			name: "requests are the last provisioning",
			file: bbFile(bbHeader,
				bbLine("300", "2", "5200", "1300", "8388608", "1048576"),
				bbLine("600", "4", "10400", "1300", "16777216", "1048576"),
				bbLine("900", "0", "0", "0", "0", "0"),
			),
			want: []recommender.Usage{
				okUsage,
				{CPU: 500, Memory: recommender.GiB, Has: okUsage.Has},
			},
			skipped:  map[SkipReason]int{SkipUnprovisioned: 1},
			requests: recommender.Amounts{CPU: 4000, Memory: 16 * recommender.GiB},
		},
		{
			name: "byte order mark, CRLF, blank lines and exponents",
			file: "\ufeff" + strings.ReplaceAll(bbFile(bbHeader, "",
				bbLine("1372629804", "2", "5.2E3", "1.3e3", "8.388608E6", "1048576"), "  "), "\n", "\r\n"),
			want:     []recommender.Usage{okUsage},
			requests: recommender.Amounts{CPU: 2000, Memory: 8 * recommender.GiB},
		},
		{
			name:    "header only",
			file:    bbFile(bbHeader),
			skipped: map[SkipReason]int{},
		},
		{
			name:    "missing column",
			file:    bbFile(strings.Replace(bbHeader, "Memory usage [KB]", "Memory used [KB]", 1), bbOK),
			wantErr: ErrMissingColumn,
			errText: `vm/7.csv: missing column "Memory usage [KB]"`,
		},
		{
			name:    "empty file",
			file:    "",
			wantErr: ErrBadHeader,
			errText: "vm/7.csv",
		},
		{
			name:    "column named twice",
			file:    bbFile(bbHeader+";\tCPU cores", bbOK+";\t2"),
			wantErr: ErrBadHeader,
			errText: `"CPU cores" appears twice`,
		},
		{
			name:    "line longer than 1 MiB",
			file:    bbFile(bbHeader, bbOK, strings.Repeat("9", MaxLineBytes+1)),
			wantErr: ErrLineTooLong,
			errText: "vm/7.csv: line 3",
		},
		{
			name:    "header longer than 1 MiB",
			file:    strings.Repeat("x", 3*MaxLineBytes),
			wantErr: ErrLineTooLong,
			errText: "line 1",
		},
		{
			name:    "more rows than MaxRows",
			file:    bbFile(bbHeader, bbOK, bbOK, bbOK),
			opts:    Options{MaxRows: 2},
			wantErr: ErrTooManyRows,
			errText: "vm/7.csv: line 4",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, err := buildBitbrains([]input{memInput("vm/7.csv", 7, []byte(tc.file))}, tc.opts.complete())
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.ErrorContains(t, err, tc.errText)
				return
			}
			require.NoError(t, err)
			require.Equal(t, FormatBitbrains, src.Format())

			samples := checkSamples(t, src)
			var usages []recommender.Usage
			var times []int64
			for _, s := range samples {
				usages = append(usages, s.Usage)
				times = append(times, s.Time.Unix())
			}
			require.Equal(t, tc.want, usages)
			if tc.wantT != nil {
				require.Equal(t, tc.wantT, times)
			}
			skipped := tc.skipped
			if skipped == nil {
				skipped = map[SkipReason]int{}
			}
			require.Equal(t, skipped, src.Skipped())

			ws := src.Workloads()
			require.Len(t, ws, 1)
			key := recommender.WorkloadKey{Namespace: "bitbrains", Kind: "VM", Name: "vm-7"}
			require.Equal(t, recommender.Workload{
				Key:        key,
				Replicas:   1,
				Containers: []recommender.ContainerSpec{{Name: "main", Requests: tc.requests}},
			}, ws[0])
			for _, s := range samples {
				require.Equal(t, recommender.ContainerKey{WorkloadKey: key, Container: "main"}, s.Key)
			}
		})
	}
}

func TestBitbrainsMultipleVMs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   []input
		wantErr string
		names   []string // workload names in order
		times   []int64  // sample times in order, unix seconds
		keys    []string // sample workload names in order
	}{
		{
			name: "merged in time order, ties by key",
			files: []input{
				memInput("2.csv", 2, []byte(bbFile(bbHeader, bbLine("300", "1", "2600", "0", "1024", "0"), bbLine("900", "1", "2600", "0", "1024", "0")))),
				memInput("10.csv", 10, []byte(bbFile(bbHeader, bbLine("300", "1", "2600", "0", "1024", "0"), bbLine("600", "1", "2600", "0", "1024", "0")))),
				memInput("1.csv", 1, []byte(bbFile(bbHeader, bbLine("900", "1", "2600", "0", "1024", "0")))),
			},
			names: []string{"vm-1", "vm-10", "vm-2"},
			times: []int64{300, 300, 600, 900, 900},
			keys:  []string{"vm-10", "vm-2", "vm-10", "vm-1", "vm-2"},
		},
		{
			name: "the same vm twice",
			files: []input{
				memInput("d/1.csv", 1, []byte(bbFile(bbHeader))),
				memInput("d/01.csv", 1, []byte(bbFile(bbHeader))),
			},
			wantErr: "d/1.csv and d/01.csv are both vm 1",
		},
		{
			name: "an error in one file fails the trace",
			files: []input{
				memInput("d/1.csv", 1, []byte(bbFile(bbHeader, bbOK))),
				memInput("d/2.csv", 2, []byte("Timestamp [ms]\n1\n")),
				memInput("d/3.csv", 3, []byte(bbFile(bbHeader, bbOK))),
			},
			wantErr: `read d/2.csv: missing column "CPU cores"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, err := buildBitbrains(tc.files, DefaultOptions())
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			var names []string
			for _, w := range src.Workloads() {
				names = append(names, w.Key.Name)
			}
			require.Equal(t, tc.names, names)
			var times []int64
			var keys []string
			for _, s := range checkSamples(t, src) {
				times = append(times, s.Time.Unix())
				keys = append(keys, s.Key.Name)
			}
			require.Equal(t, tc.times, times)
			require.Equal(t, tc.keys, keys)
		})
	}
}

func TestSortDedupe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    []point
		want  []point
		drops int
	}{
		{name: "empty"},
		{name: "sorted unique", in: []point{{1, 1}, {2, 2}}, want: []point{{1, 1}, {2, 2}}},
		{name: "repeats keep first", in: []point{{1, 1}, {1, 2}, {1, 3}, {2, 4}}, want: []point{{1, 1}, {2, 4}}, drops: 2},
		{name: "unsorted is stable", in: []point{{3, 1}, {1, 2}, {3, 3}, {1, 4}}, want: []point{{1, 2}, {3, 1}}, drops: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, drops := sortDedupe(slices.Clone(tc.in), pointTime)
			require.Equal(t, len(tc.want), len(got))
			if len(tc.want) > 0 {
				require.Equal(t, tc.want, got)
			}
			require.Equal(t, tc.drops, drops)
		})
	}
}
