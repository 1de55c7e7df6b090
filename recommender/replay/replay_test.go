package replay

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
)

// The committed fixtures: crops of the real traces (see testdata/README.md).
const (
	fixtureBitbrains = "testdata/bitbrains"
	fixtureGenAI     = "testdata/genai"
)

// copyDir copies the named files of src into a new temporary folder.
func copyDir(t *testing.T, src string, names ...string) string {
	t.Helper()
	dst := t.TempDir()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(src, n))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, n), b, 0o600))
	}
	return dst
}

// writeFiles writes name → content files into a new temporary folder.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for n, c := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte(c), 0o600))
	}
	return dir
}

func TestOpenDetectsFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		dir       func(t *testing.T) string
		opts      Options
		want      Format
		workloads int
		samples   int
		wantErr   error
		errText   string
	}{
		{
			name:      "bitbrains fixture",
			dir:       func(*testing.T) string { return fixtureBitbrains },
			want:      FormatBitbrains,
			workloads: 3,
			samples:   51,
		},
		{
			name:      "genai fixture",
			dir:       func(*testing.T) string { return fixtureGenAI },
			want:      FormatGenAI,
			workloads: 4,
			samples:   54,
		},
		{
			name: "genai without the memory file",
			dir: func(t *testing.T) string {
				return copyDir(t, fixtureGenAI, genaiDutyFile, genaiGPUMemoryFile)
			},
			want:      FormatGenAI,
			workloads: 4,
			samples:   54,
		},
		{
			name: "bitbrains beside unrelated files and folders",
			dir: func(t *testing.T) string {
				dir := copyDir(t, fixtureBitbrains, "1.csv")
				require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("x"), 0o600))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "vm.csv"), []byte("x"), 0o600))
				require.NoError(t, os.Mkdir(filepath.Join(dir, "2.csv"), 0o700))
				return dir
			},
			want:      FormatBitbrains,
			workloads: 1,
			samples:   22,
		},
		{
			name: "genai with only the duty cycle",
			dir: func(t *testing.T) string {
				return copyDir(t, fixtureGenAI, genaiDutyFile, genaiMemUtilFile)
			},
			errText: "genai trace needs both pod_gpu_duty_cycle_anon.csv and pod_gpu_memory_used_bytes_anon.csv",
		},
		{
			name:    "empty folder",
			dir:     func(t *testing.T) string { return t.TempDir() },
			wantErr: ErrUnknownFormat,
			errText: "want Bitbrains files <n>.csv",
		},
		{
			name: "unrelated files",
			dir: func(t *testing.T) string {
				return writeFiles(t, map[string]string{"pods.csv": "a,b\n1,2\n", "1.txt": "x", "-1.csv": "x"})
			},
			wantErr: ErrUnknownFormat,
		},
		{
			name: "both formats",
			dir: func(t *testing.T) string {
				dir := copyDir(t, fixtureGenAI, genaiDutyFile, genaiGPUMemoryFile)
				require.NoError(t, os.WriteFile(filepath.Join(dir, "1.csv"), []byte(bbFile(bbHeader)), 0o600))
				return dir
			},
			wantErr: ErrUnknownFormat,
			errText: "both Bitbrains",
		},
		{
			name:    "no such folder",
			dir:     func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") },
			wantErr: fs.ErrNotExist,
		},
		{
			name:    "invalid options",
			dir:     func(*testing.T) string { return fixtureBitbrains },
			opts:    Options{BatchSize: -1},
			errText: "batch size -1 is negative",
		},
		{
			name: "bad file names the file",
			dir: func(t *testing.T) string {
				return writeFiles(t, map[string]string{"3.csv": "Timestamp [ms]\n"})
			},
			wantErr: ErrMissingColumn,
			errText: `3.csv: missing column "CPU cores"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := tc.dir(t)
			src, err := Open(dir, tc.opts)
			if tc.wantErr != nil || tc.errText != "" {
				require.Error(t, err)
				if tc.wantErr != nil {
					require.ErrorIs(t, err, tc.wantErr)
				}
				require.ErrorContains(t, err, "open trace "+dir)
				require.ErrorContains(t, err, tc.errText)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, src.Format())
			require.Len(t, src.Workloads(), tc.workloads)
			require.Equal(t, tc.samples, src.Len())
			checkSamples(t, src)
		})
	}
}

func TestFixtures(t *testing.T) {
	t.Parallel()
	t.Run("bitbrains", func(t *testing.T) {
		t.Parallel()
		src, err := Open(fixtureBitbrains, Options{})
		require.NoError(t, err)
		require.Equal(t, unix(1373972137), src.Start())
		require.Equal(t, unix(1373978437), src.End())
		// VM 20 switches off in the crop: its repeated timestamps and
		// zero-capacity rows are dropped.
		require.Equal(t, map[SkipReason]int{SkipDuplicate: 15, SkipUnprovisioned: 9}, src.Skipped())
		ws := src.Workloads()
		require.Equal(t, []recommender.Amounts{
			{CPU: 2000, Memory: 8388608 * recommender.KiB},
			{CPU: 1000, Memory: 4194304 * recommender.KiB},
			{CPU: 8000, Memory: 20971520 * recommender.KiB},
		}, []recommender.Amounts{ws[0].Containers[0].Requests, ws[1].Containers[0].Requests, ws[2].Containers[0].Requests})
		require.Empty(t, src.MemoryUtil())
	})
	t.Run("genai", func(t *testing.T) {
		t.Parallel()
		src, err := Open(fixtureGenAI, Options{})
		require.NoError(t, err)
		require.Equal(t, map[SkipReason]int{SkipBadKey: 1, SkipNegative: 1}, src.Skipped())
		mu := src.MemoryUtil()
		require.Len(t, mu, 5) // 4 GPU pods and one without GPU metrics
		require.Len(t, mu[recommender.WorkloadKey{Namespace: "genai", Kind: "Pod", Name: "pod-1e7b8d8d787be5f1"}], 12)
		var has [16]int
		for s := range src.All() {
			has[s.Usage.Has]++
		}
		both := recommender.ResourceSet(0).With(recommender.ResourceGPUCompute).With(recommender.ResourceGPUMemory)
		require.Equal(t, 44, has[both])
		require.Equal(t, 9, has[recommender.ResourceSet(0).With(recommender.ResourceGPUMemory)])
		require.Equal(t, 1, has[recommender.ResourceSet(0).With(recommender.ResourceGPUCompute)])
	})
}

func TestWorkloadsAreCopies(t *testing.T) {
	t.Parallel()
	src, err := Open(fixtureBitbrains, Options{})
	require.NoError(t, err)
	ws := src.Workloads()
	ws[0].Containers[0].Requests.CPU = 1
	ws[0].Key.Name = "changed"
	require.Equal(t, recommender.MilliCPU(2000), src.Workloads()[0].Containers[0].Requests.CPU)
	require.Equal(t, "vm-1", src.Workloads()[0].Key.Name)
}

func TestAllStopsEarly(t *testing.T) {
	t.Parallel()
	src, err := Open(fixtureGenAI, Options{})
	require.NoError(t, err)
	n := 0
	for range src.All() {
		n++
		if n == 5 {
			break
		}
	}
	require.Equal(t, 5, n)
	require.Len(t, slices.Collect(src.All()), src.Len(), "a second pass sees everything")
}

func TestEmptySource(t *testing.T) {
	t.Parallel()
	src, err := buildBitbrains([]input{memInput("1.csv", 1, []byte(bbFile(bbHeader)))}, DefaultOptions())
	require.NoError(t, err)
	require.Zero(t, src.Len())
	require.True(t, src.Start().IsZero())
	require.True(t, src.End().IsZero())
	sink := &fakeSink{}
	st, err := src.Replay(t.Context(), sink)
	require.NoError(t, err)
	require.Equal(t, Stats{Workloads: 1}, st)
	require.Equal(t, []string{"upsert"}, sink.calls)
}

func TestReplay(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	rejectEvery3rd := func(batch []recommender.Sample) error {
		var errs []error
		for i, s := range batch {
			if i%3 == 0 {
				errs = append(errs, &recommender.SampleError{Index: i, Key: s.Key, Err: recommender.ErrInvalidSample})
			}
		}
		return errors.Join(errs...)
	}
	tests := []struct {
		name       string
		batchSize  int
		sink       func(cancel context.CancelFunc) *fakeSink
		cancelled  bool // cancel ctx before Replay
		wantErr    error
		errText    string
		wantStats  func(n int) Stats
		wantCalls  []string // checked when set
		wantBatch  []int    // checked when set
		allDeliver bool     // every sample reached the sink, in order
	}{
		{
			name:      "upserts first, then every sample in order and in batches",
			batchSize: 7,
			sink:      func(context.CancelFunc) *fakeSink { return &fakeSink{keep: true} },
			wantStats: func(n int) Stats {
				return Stats{Workloads: 3, Samples: n, Batches: (n + 6) / 7}
			},
			wantBatch:  []int{7, 7, 7, 7, 7, 7, 7, 2},
			allDeliver: true,
		},
		{
			name: "default batch size takes everything at once",
			sink: func(context.CancelFunc) *fakeSink { return &fakeSink{keep: true} },
			wantStats: func(n int) Stats {
				return Stats{Workloads: 3, Samples: n, Batches: 1}
			},
			wantCalls:  []string{"upsert", "upsert", "upsert", "ingest"},
			allDeliver: true,
		},
		{
			name:      "joined sample errors are counted, not fatal",
			batchSize: 10,
			sink: func(context.CancelFunc) *fakeSink {
				return &fakeSink{keep: true, ingestErr: rejectEvery3rd}
			},
			wantStats: func(n int) Stats {
				// Batches of 10, 10, 10, 10, 10, 1: indexes 0, 3, 6, 9 of each full batch.
				return Stats{Workloads: 3, Samples: n, Batches: 6, Rejected: 5*4 + 1}
			},
			allDeliver: true,
		},
		{
			name:      "a wrapped sample error is counted",
			batchSize: 25,
			sink: func(context.CancelFunc) *fakeSink {
				return &fakeSink{ingestErr: func(b []recommender.Sample) error {
					return fmt.Errorf("engine: %w", &recommender.SampleError{Key: b[0].Key, Err: recommender.ErrInvalidSample})
				}}
			},
			wantStats: func(n int) Stats {
				return Stats{Workloads: 3, Samples: n, Batches: 3, Rejected: 3}
			},
		},
		{
			name:      "a sample error joined with another error is fatal",
			batchSize: 10,
			sink: func(context.CancelFunc) *fakeSink {
				return &fakeSink{ingestErr: func(b []recommender.Sample) error {
					return errors.Join(rejectEvery3rd(b), errBoom)
				}}
			},
			wantErr: errBoom,
			errText: "ingest 10 samples from 2013-07-16T10:55:37Z: ",
			wantStats: func(int) Stats {
				return Stats{Workloads: 3, Samples: 10, Batches: 1}
			},
		},
		{
			name: "an upsert error is fatal and wrapped",
			sink: func(context.CancelFunc) *fakeSink {
				return &fakeSink{upsertErr: func(w recommender.Workload) error {
					if w.Key.Name == "vm-20" {
						return errBoom
					}
					return nil
				}}
			},
			wantErr:   errBoom,
			errText:   "upsert workload bitbrains/VM/vm-20: boom",
			wantStats: func(int) Stats { return Stats{Workloads: 1} },
			wantCalls: []string{"upsert", "upsert"},
		},
		{
			name:      "cancelled before the start",
			cancelled: true,
			sink:      func(context.CancelFunc) *fakeSink { return &fakeSink{} },
			wantErr:   context.Canceled,
			wantStats: func(int) Stats { return Stats{} },
			wantCalls: []string{},
		},
		{
			name:      "cancelled during the replay stops before the next batch",
			batchSize: 5,
			sink: func(cancel context.CancelFunc) *fakeSink {
				return &fakeSink{onIngest: func(call int, _ []recommender.Sample) {
					if call == 2 {
						cancel()
					}
				}}
			},
			wantErr: context.Canceled,
			wantStats: func(int) Stats {
				return Stats{Workloads: 3, Samples: 10, Batches: 2}
			},
			wantBatch: []int{5, 5},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, err := Open(fixtureBitbrains, Options{BatchSize: tc.batchSize})
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tc.cancelled {
				cancel()
			}
			sink := tc.sink(cancel)
			st, err := src.Replay(ctx, sink)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.ErrorContains(t, err, tc.errText)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.wantStats(src.Len()), st)
			require.Equal(t, int64(st.Rejected), src.Rejected())

			sink.mu.Lock()
			defer sink.mu.Unlock()
			require.Empty(t, sink.disorder)
			if tc.wantCalls != nil {
				require.Equal(t, tc.wantCalls, append([]string{}, sink.calls...))
			}
			if tc.wantBatch != nil {
				require.Equal(t, tc.wantBatch, sink.batchSizes)
			}
			for _, b := range sink.batchSizes {
				require.LessOrEqual(t, b, max(tc.batchSize, DefaultBatchSize))
			}
			if tc.allDeliver {
				require.Equal(t, src.Workloads(), sink.upserts)
				require.Equal(t, slices.Collect(src.All()), sink.samples)
				firstIngest := slices.Index(sink.calls, "ingest")
				require.Equal(t, len(src.Workloads()), firstIngest, "every upsert comes before the first ingest")
			}
		})
	}
}

func TestRunIsUsageSource(t *testing.T) {
	t.Parallel()
	src, err := Open(fixtureGenAI, Options{BatchSize: 8})
	require.NoError(t, err)
	var us recommender.UsageSource = src
	sink := &fakeSink{strict: true}
	require.NoError(t, us.Run(t.Context(), sink))
	sink.mu.Lock()
	defer sink.mu.Unlock()
	require.Equal(t, src.Len(), sink.ingested)
	require.Zero(t, sink.rejected)
	require.Empty(t, sink.disorder)
	require.Len(t, sink.upserts, 4)
}

func TestConcurrentReplays(t *testing.T) {
	t.Parallel()
	src, err := Open(fixtureBitbrains, Options{BatchSize: 3})
	require.NoError(t, err)
	sink := &fakeSink{}
	const runs = 4
	errs := make(chan error, runs)
	for range runs {
		go func() { errs <- src.Run(t.Context(), sink) }()
	}
	for range runs {
		require.NoError(t, <-errs)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	require.Equal(t, runs*src.Len(), sink.ingested)
}

func TestCountSampleErrors(t *testing.T) {
	t.Parallel()
	se := &recommender.SampleError{Err: recommender.ErrInvalidSample}
	other := errors.New("disk full")
	tests := []struct {
		name string
		err  error
		n    int
		ok   bool
	}{
		{name: "one", err: se, n: 1, ok: true},
		{name: "ingest error", err: &recommender.IngestError{Rejected: 250, Samples: []*recommender.SampleError{se}}, n: 250, ok: true},
		{name: "wrapped ingest error", err: fmt.Errorf("engine: %w", &recommender.IngestError{Rejected: 3}), n: 3, ok: true},
		{name: "ingest error joined with another", err: errors.Join(&recommender.IngestError{Rejected: 3}, other)},
		{name: "wrapped", err: fmt.Errorf("ingest: %w", se), n: 1, ok: true},
		{name: "joined", err: errors.Join(se, se, se), n: 3, ok: true},
		{name: "nested joins", err: errors.Join(se, fmt.Errorf("x: %w", errors.Join(se, se))), n: 3, ok: true},
		{name: "joined with another", err: errors.Join(se, other)},
		{name: "wrapped join with another", err: fmt.Errorf("ingest: %w", errors.Join(se, other))},
		{name: "other", err: other},
		{name: "sample error wrapping nothing special", err: &recommender.SampleError{Err: other}, n: 1, ok: true},
		{name: "two wrapped with %w twice", err: fmt.Errorf("%w and %w", se, other)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n, ok := countSampleErrors(tc.err)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.n, n)
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  Options
		wants []string
	}{
		{name: "zero is valid", opts: Options{}},
		{name: "defaults are valid", opts: DefaultOptions()},
		{
			name:  "every problem is reported",
			opts:  Options{BatchSize: -1, GPUMemoryPerGPU: -1, MaxRows: -5},
			wants: []string{"batch size -1 is negative", "gpu memory per gpu -1 bytes", "max rows -5 is negative"},
		},
		{
			name:  "gpu memory above 1 PiB",
			opts:  Options{GPUMemoryPerGPU: 2 << 50},
			wants: []string{"outside [0, 1 PiB]"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.opts.Validate()
			if len(tc.wants) == 0 {
				require.NoError(t, err)
				return
			}
			for _, w := range tc.wants {
				require.ErrorContains(t, err, w)
			}
		})
	}
	require.Equal(t, DefaultOptions(), Options{}.complete())
}

func TestFormatString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		f    Format
		want string
	}{
		{FormatUnknown, "unknown"},
		{FormatBitbrains, "bitbrains"},
		{FormatGenAI, "genai"},
		{Format(99), "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, tc.f.String())
		})
	}
}
