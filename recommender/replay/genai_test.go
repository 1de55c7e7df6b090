package replay

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
)

// GenAI test pods: two hashes that differ in the first 16 hex digits, and
// one that shares podA's first 16.
const (
	podA     = "23b8eba99c14e73d454503a55ae96989"
	podB     = "11415d99a127e215d2148a1f6600007f"
	podAlike = "23b8eba99c14e73d0000000000000000"
)

// gaFile builds a GenAI file with the real files' column order for the
// duty-cycle file and CRLF line endings.
func gaFile(header string, rows ...string) string {
	return strings.Join(append([]string{header}, rows...), "\r\n") + "\r\n"
}

const (
	dutyHeader = "value,timestamp_anon,container_ip"
	gmHeader   = "timestamp_anon,value,container_ip"
	muHeader   = "value,timestamp_anon,container_ip"
)

func TestGenAIDecode(t *testing.T) {
	t.Parallel()
	var (
		both    = recommender.ResourceSet(0).With(recommender.ResourceGPUCompute).With(recommender.ResourceGPUMemory)
		compute = recommender.ResourceSet(0).With(recommender.ResourceGPUCompute)
		gpuMem  = recommender.ResourceSet(0).With(recommender.ResourceGPUMemory)
	)
	type sample struct {
		pod  string
		sec  int64
		want recommender.Usage
	}
	tests := []struct {
		name        string
		duty, gm    string
		mu          *string // nil: no memory-util file
		opts        Options
		wantErr     error
		errText     string
		pods        []string // workload names
		samples     []sample
		skipped     map[SkipReason]int
		memUtil     map[string][]FractionPoint
		gpuMemReq   recommender.Bytes
		wantNoUtils bool
	}{
		{
			name: "aligned timestamps join into one sample",
			duty: gaFile(dutyHeader, "50.0,1662858720.0,"+podA, "0.0,1662858777.0,"+podA),
			gm:   gaFile(gmHeader, "1662858720.0,33879490560.0,"+podA, "1662858777.0,0.0,"+podA),
			pods: []string{"pod-23b8eba99c14e73d"},
			samples: []sample{
				{"pod-23b8eba99c14e73d", 1662858720, recommender.Usage{GPUCompute: 0.5, GPUMemory: 33879490560, Has: both}},
				{"pod-23b8eba99c14e73d", 1662858777, recommender.Usage{Has: both}},
			},
			gpuMemReq: DefaultGPUMemoryPerGPU,
		},
		{
			name: "unaligned timestamps stay separate",
			duty: gaFile(dutyHeader, "25.0,1662858720.0,"+podA, "100,1662858834.0,"+podA),
			gm:   gaFile(gmHeader, "1662858777.0,1024.0,"+podA, "1662858834.0,2048,"+podA),
			pods: []string{"pod-23b8eba99c14e73d"},
			samples: []sample{
				{"pod-23b8eba99c14e73d", 1662858720, recommender.Usage{GPUCompute: 0.25, Has: compute}},
				{"pod-23b8eba99c14e73d", 1662858777, recommender.Usage{GPUMemory: 1024, Has: gpuMem}},
				{"pod-23b8eba99c14e73d", 1662858834, recommender.Usage{GPUCompute: 1, GPUMemory: 2048, Has: both}},
			},
			gpuMemReq: DefaultGPUMemoryPerGPU,
		},
		{
			name: "columns by header name, pods in key order, custom GPU memory",
			duty: gaFile("container_ip,value,timestamp_anon", podA+",10,100", podB+",20,100"),
			gm:   gaFile("container_ip,timestamp_anon,value", podB+",200,7"),
			opts: Options{GPUMemoryPerGPU: 40 * recommender.GiB},
			pods: []string{"pod-11415d99a127e215", "pod-23b8eba99c14e73d"},
			samples: []sample{
				{"pod-11415d99a127e215", 100, recommender.Usage{GPUCompute: 0.2, Has: compute}},
				{"pod-23b8eba99c14e73d", 100, recommender.Usage{GPUCompute: 0.1, Has: compute}},
				{"pod-11415d99a127e215", 200, recommender.Usage{GPUMemory: 7, Has: gpuMem}},
			},
			gpuMemReq: 40 * recommender.GiB,
		},
		{
			name: "sixteen hex digits not unique: full hashes",
			duty: gaFile(dutyHeader, "10,100,"+podA, "10,100,"+podAlike),
			gm:   gaFile(gmHeader),
			pods: []string{"pod-" + podAlike, "pod-" + podA},
			samples: []sample{
				{"pod-" + podAlike, 100, recommender.Usage{GPUCompute: 0.1, Has: compute}},
				{"pod-" + podA, 100, recommender.Usage{GPUCompute: 0.1, Has: compute}},
			},
			gpuMemReq: DefaultGPUMemoryPerGPU,
		},
		{
			name: "upper-case hash is the same pod",
			duty: gaFile(dutyHeader, "10,100,"+strings.ToUpper(podA)),
			gm:   gaFile(gmHeader, "100,5,"+podA),
			pods: []string{"pod-23b8eba99c14e73d"},
			samples: []sample{
				{"pod-23b8eba99c14e73d", 100, recommender.Usage{GPUCompute: 0.1, GPUMemory: 5, Has: both}},
			},
			gpuMemReq: DefaultGPUMemoryPerGPU,
		},
		{
			name: "repeated timestamps keep the first row",
			duty: gaFile(dutyHeader, "10,100,"+podA, "90,100,"+podA),
			gm:   gaFile(gmHeader, "100,5,"+podA, "100,6,"+podA, "100,7,"+podA),
			pods: []string{"pod-23b8eba99c14e73d"},
			samples: []sample{
				{"pod-23b8eba99c14e73d", 100, recommender.Usage{GPUCompute: 0.1, GPUMemory: 5, Has: both}},
			},
			skipped:   map[SkipReason]int{SkipDuplicate: 3},
			gpuMemReq: DefaultGPUMemoryPerGPU,
		},
		{
			name: "bad rows are skipped by reason",
			duty: gaFile(dutyHeader,
				"10,100,"+podA,
				"10,100,",                          // empty hash
				"10,100,not-a-hash",                // not hex
				"10,100,"+strings.Repeat("a", 65),  // too long
				"101,200,"+podA,                    // more than 100 %
				"NaN,300,"+podA,                    // NaN
				"10,-1,"+podA,                      // negative time
				"ten,400,"+podA,                    // not a number
				"10,500,"+podA+",extra",            // too many fields
				"10,600",                           // too few fields
				"10,1e10,"+podA,                    // year 2286
				"10,\"700\","+podA,                 // quoted: not parsed
				"10,800,"+podA+"\x00",              // control character
				"10,900,"+podA+" ",                 // trailing space is trimmed
				"+Inf,1000,"+podA,                  // infinite
				"-0.5,1100,"+podA,                  // negative value
				"1e999,1200,"+podA,                 // out of float64 range
				"10,1300,"+strings.Repeat("f", 64), // longest hash is fine
			),
			gm:   gaFile(gmHeader, "100,2e15,"+podA), // more than 1 PiB
			pods: []string{"pod-23b8eba99c14e73d", "pod-ffffffffffffffff"},
			samples: []sample{
				{"pod-23b8eba99c14e73d", 100, recommender.Usage{GPUCompute: 0.1, Has: compute}},
				{"pod-23b8eba99c14e73d", 900, recommender.Usage{GPUCompute: 0.1, Has: compute}},
				{"pod-ffffffffffffffff", 1300, recommender.Usage{GPUCompute: 0.1, Has: compute}},
			},
			skipped: map[SkipReason]int{
				SkipBadKey: 4, SkipAbsurd: 4, SkipNonFinite: 2, SkipNegative: 2, SkipParse: 2, SkipFieldCount: 2,
			},
			gpuMemReq: DefaultGPUMemoryPerGPU,
		},
		{
			name: "memory utilisation is kept aside, not ingested",
			duty: gaFile(dutyHeader, "10,100,"+podA),
			gm:   gaFile(gmHeader, "100,5,"+podA),
			mu: ptr(gaFile(muHeader,
				"0.5,160,"+podA, "0.25,100,"+podA, "0.75,100,"+podA, // unsorted, repeated
				"0.1,100,"+podB,                     // a pod without GPU metrics
				"0.1,100,",                          // empty hash
				"-1.1742115020751951e-05,100,"+podB, // negative
				"1.5,100,"+podB,                     // above 1
			)),
			pods: []string{"pod-23b8eba99c14e73d"},
			samples: []sample{
				{"pod-23b8eba99c14e73d", 100, recommender.Usage{GPUCompute: 0.1, GPUMemory: 5, Has: both}},
			},
			skipped: map[SkipReason]int{SkipDuplicate: 1, SkipBadKey: 1, SkipNegative: 1, SkipAbsurd: 1},
			memUtil: map[string][]FractionPoint{
				"pod-23b8eba99c14e73d": {{Time: unix(100), Fraction: 0.25}, {Time: unix(160), Fraction: 0.5}},
				"pod-11415d99a127e215": {{Time: unix(100), Fraction: 0.1}},
			},
			gpuMemReq: DefaultGPUMemoryPerGPU,
		},
		{
			name:    "missing column",
			duty:    gaFile(dutyHeader, "10,100,"+podA),
			gm:      gaFile("timestamp_anon,container_ip", "100,"+podA),
			wantErr: ErrMissingColumn,
			errText: `genai/gm.csv: missing column "value"`,
		},
		{
			name:    "missing column in the memory file",
			duty:    gaFile(dutyHeader),
			gm:      gaFile(gmHeader),
			mu:      ptr(gaFile("value,timestamp,container_ip")),
			wantErr: ErrMissingColumn,
			errText: `genai/mu.csv: missing column "timestamp_anon"`,
		},
		{
			name:    "rows bounded across files",
			duty:    gaFile(dutyHeader, "10,100,"+podA, "10,200,"+podA),
			gm:      gaFile(gmHeader, "100,5,"+podA),
			opts:    Options{MaxRows: 2},
			wantErr: ErrTooManyRows,
			errText: "genai/gm.csv: line 2",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu *input
			if tc.mu != nil {
				in := memInput("genai/mu.csv", 0, []byte(*tc.mu))
				mu = &in
			}
			src, err := buildGenAI(
				memInput("genai/duty.csv", 0, []byte(tc.duty)),
				memInput("genai/gm.csv", 0, []byte(tc.gm)),
				mu, tc.opts.complete())
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.ErrorContains(t, err, tc.errText)
				return
			}
			require.NoError(t, err)
			require.Equal(t, FormatGenAI, src.Format())

			var pods []string
			for _, w := range src.Workloads() {
				pods = append(pods, w.Key.Name)
				require.Equal(t, recommender.Workload{
					Key:      recommender.WorkloadKey{Namespace: "genai", Kind: "Pod", Name: w.Key.Name},
					Replicas: 1,
					Containers: []recommender.ContainerSpec{{
						Name:     "main",
						Requests: recommender.Amounts{GPUCompute: 1, GPUMemory: tc.gpuMemReq},
					}},
				}, w)
			}
			require.Equal(t, tc.pods, pods)

			var got []sample
			for _, s := range checkSamples(t, src) {
				require.Equal(t, "genai", s.Key.Namespace)
				require.Equal(t, "main", s.Key.Container)
				got = append(got, sample{s.Key.Name, s.Time.Unix(), s.Usage})
			}
			require.Equal(t, tc.samples, got)

			skipped := tc.skipped
			if skipped == nil {
				skipped = map[SkipReason]int{}
			}
			require.Equal(t, skipped, src.Skipped())

			wantUtil := map[recommender.WorkloadKey][]FractionPoint{}
			for name, pts := range tc.memUtil {
				wantUtil[recommender.WorkloadKey{Namespace: "genai", Kind: "Pod", Name: name}] = pts
			}
			require.Equal(t, wantUtil, src.MemoryUtil())
		})
	}
}

func TestNormalizeHash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{in: podA, want: podA, ok: true},
		{in: "ABCdef0123", want: "abcdef0123", ok: true},
		{in: "a", want: "a", ok: true},
		{in: ""},
		{in: "g"},
		{in: "ab cd"},
		{in: "é"},
		{in: strings.Repeat("0", 64), want: strings.Repeat("0", 64), ok: true},
		{in: strings.Repeat("0", 65)},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, ok := normalizeHash(tc.in)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func ptr[T any](v T) *T { return &v }
