package replay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
)

// Defaults for Options fields left at zero.
const (
	// DefaultBatchSize is the number of samples per Sink.Ingest call.
	DefaultBatchSize = 4096
	// DefaultGPUMemoryPerGPU is the GPU memory of one H100-80GB, the GPU
	// assumed for the GenAI trace.
	DefaultGPUMemoryPerGPU = 80 * recommender.GiB
	// DefaultMaxRows is the most data rows Open reads from one trace: about
	// 40 times the published Bitbrains and GenAI folders.
	DefaultMaxRows = 1 << 24
)

// Options configures Open. The zero value means every default.
type Options struct {
	// BatchSize is the number of samples per Sink.Ingest call; zero means
	// DefaultBatchSize. Negative is invalid.
	BatchSize int
	// GPUMemoryPerGPU is the GPU memory, in bytes, of the one GPU each
	// GenAI pod is assumed to request; zero means DefaultGPUMemoryPerGPU.
	// Negative or more than 1 PiB is invalid. Unused for Bitbrains.
	GPUMemoryPerGPU recommender.Bytes
	// MaxRows bounds the data rows Open reads across all files of a trace,
	// so that a huge input is an error (ErrTooManyRows) rather than an
	// out-of-memory crash; zero means DefaultMaxRows. Negative is invalid.
	MaxRows int
	// KeepZeroMemory, for Bitbrains, ingests "Memory usage [KB]" = 0 on a
	// running VM as zero bytes. By default such a value counts as not
	// measured and the sample carries CPU only: the published trace has
	// these zeros in 17% of running rows (96% for some VMs), in runs of up
	// to a day while the VM is busy, so they are gaps in a sampled
	// active-memory metric, and sizing memory from them would OOM.
	KeepZeroMemory bool
}

// DefaultOptions returns the options that the zero Options stands for.
func DefaultOptions() Options {
	return Options{
		BatchSize:       DefaultBatchSize,
		GPUMemoryPerGPU: DefaultGPUMemoryPerGPU,
		MaxRows:         DefaultMaxRows,
	}
}

// Validate reports every invalid field, joined.
func (o Options) Validate() error {
	var errs []error
	if o.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("batch size %d is negative", o.BatchSize))
	}
	if o.GPUMemoryPerGPU < 0 || float64(o.GPUMemoryPerGPU) > maxBytes {
		errs = append(errs, fmt.Errorf("gpu memory per gpu %d bytes is outside [0, 1 PiB]", o.GPUMemoryPerGPU))
	}
	if o.MaxRows < 0 {
		errs = append(errs, fmt.Errorf("max rows %d is negative", o.MaxRows))
	}
	return errors.Join(errs...)
}

// complete returns o with zero fields set to their defaults.
func (o Options) complete() Options {
	d := DefaultOptions()
	if o.BatchSize == 0 {
		o.BatchSize = d.BatchSize
	}
	if o.GPUMemoryPerGPU == 0 {
		o.GPUMemoryPerGPU = d.GPUMemoryPerGPU
	}
	if o.MaxRows == 0 {
		o.MaxRows = d.MaxRows
	}
	return o
}

// Format names a trace format that Open reads.
type Format uint8

// The formats. The zero Format is FormatUnknown.
const (
	FormatUnknown   Format = iota
	FormatBitbrains        // GWA-T-12 Bitbrains Rnd: <n>.csv per VM
	FormatGenAI            // Alibaba cluster-trace-v2026-GenAI: pod_*_anon.csv
)

// String returns "bitbrains", "genai" or "unknown".
func (f Format) String() string {
	switch f {
	case FormatBitbrains:
		return "bitbrains"
	case FormatGenAI:
		return "genai"
	}
	return "unknown"
}

// The GenAI file names.
const (
	genaiDutyFile      = "pod_gpu_duty_cycle_anon.csv"
	genaiGPUMemoryFile = "pod_gpu_memory_used_bytes_anon.csv"
	genaiMemUtilFile   = "pod_memory_util_anon.csv"
)

// container names the one container of every replayed workload.
const container = "main"

// bitbrainsFile matches a Bitbrains VM file name; the number is the VM.
var bitbrainsFile = regexp.MustCompile(`^([0-9]{1,9})\.csv$`)

// FractionPoint is one observation of a fraction (0–1) at one time.
type FractionPoint struct {
	Time     time.Time
	Fraction float64
}

// Stats summarises one Replay.
type Stats struct {
	Workloads int // UpsertWorkload calls that succeeded
	Samples   int // samples passed to Ingest
	Batches   int // Ingest calls
	Rejected  int // samples that Ingest rejected with a recommender.SampleError
}

// Source is a trace loaded into memory. It is immutable after Open, so all
// methods are safe for concurrent use, including concurrent Runs.
type Source struct {
	format    Format
	workloads []recommender.Workload // sorted by key
	series    []series               // series[i] belongs to workloads[i]
	memUtil   []fractionSeries       // GenAI only, sorted by key
	skipped   skipCounts
	n         int   // samples across series
	start     int64 // unix nanoseconds of the first sample
	end       int64 // unix nanoseconds of the last sample
	batchSize int
	rejected  atomic.Int64
}

var _ recommender.UsageSource = (*Source)(nil)

// Open loads the trace in dir. It detects the format from the file names:
// Bitbrains when dir holds files named <n>.csv, GenAI when it holds
// pod_gpu_duty_cycle_anon.csv and pod_gpu_memory_used_bytes_anon.csv
// (pod_memory_util_anon.csv is optional). Anything else is an error that
// wraps ErrUnknownFormat. Open reads every file fully: it takes O(rows log
// rows) time and about 25 bytes of memory per sample.
func Open(dir string, opts Options) (*Source, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("open trace %s: %w", dir, err)
	}
	opts = opts.complete()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open trace %s: %w", dir, err)
	}
	var (
		vms   []input
		genai = map[string]input{}
	)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		path := filepath.Join(dir, name)
		in := input{path: path, open: func() (io.ReadCloser, error) { return os.Open(path) }}
		switch name {
		case genaiDutyFile, genaiGPUMemoryFile, genaiMemUtilFile:
			genai[name] = in
			continue
		}
		if m := bitbrainsFile.FindStringSubmatch(name); m != nil {
			n, err := strconv.Atoi(m[1])
			if err != nil {
				return nil, fmt.Errorf("open trace %s: vm file %s: %w", dir, name, err)
			}
			in.vm = n
			vms = append(vms, in)
		}
	}
	var s *Source
	switch {
	case len(genai) > 0 && len(vms) > 0:
		return nil, fmt.Errorf("open trace %s: %w: both Bitbrains <n>.csv and GenAI pod_*_anon.csv files", dir, ErrUnknownFormat)
	case len(genai) > 0:
		duty, ok1 := genai[genaiDutyFile]
		gpuMem, ok2 := genai[genaiGPUMemoryFile]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("open trace %s: genai trace needs both %s and %s", dir, genaiDutyFile, genaiGPUMemoryFile)
		}
		var memUtil *input
		if in, ok := genai[genaiMemUtilFile]; ok {
			memUtil = &in
		}
		s, err = buildGenAI(duty, gpuMem, memUtil, opts)
	case len(vms) > 0:
		s, err = buildBitbrains(vms, opts)
	default:
		return nil, fmt.Errorf("open trace %s: %w: want Bitbrains files <n>.csv (1.csv, 2.csv, …) or GenAI files %s, %s and %s",
			dir, ErrUnknownFormat, genaiDutyFile, genaiGPUMemoryFile, genaiMemUtilFile)
	}
	if err != nil {
		return nil, fmt.Errorf("open trace %s: %w", dir, err)
	}
	return s, nil
}

// input is one trace file. Tests and fuzzers supply in-memory ones.
type input struct {
	path string // names the file in errors
	vm   int    // Bitbrains VM number
	open func() (io.ReadCloser, error)
}

// read opens the input and passes it to fn, closing it afterwards.
func (in input) read(fn func(r io.Reader) error) (err error) {
	rc, err := in.open()
	if err != nil {
		return fmt.Errorf("open %s: %w", in.path, err)
	}
	defer func() {
		if cerr := rc.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", in.path, cerr)
		}
	}()
	return fn(rc)
}

// newSource sorts the workloads by key, pairs them with their series and
// computes the summary fields.
func newSource(f Format, ws []recommender.Workload, ss []series, skipped skipCounts, opts Options) *Source {
	idx := make([]int, len(ws))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return compareKeys(ss[a].key, ss[b].key) })
	s := &Source{
		format:    f,
		workloads: make([]recommender.Workload, len(ws)),
		series:    make([]series, len(ss)),
		skipped:   skipped,
		start:     math.MaxInt64,
		end:       math.MinInt64,
		batchSize: opts.BatchSize,
	}
	for to, from := range idx {
		s.workloads[to] = ws[from]
		s.series[to] = ss[from]
		if t := ss[from].t; len(t) > 0 {
			s.n += len(t)
			s.start = min(s.start, t[0])
			s.end = max(s.end, t[len(t)-1])
		}
	}
	return s
}

// compareKeys orders keys by cluster, namespace, kind, name and container,
// each compared as bytes.
func compareKeys(a, b recommender.ContainerKey) int {
	return cmp.Or(
		cmp.Compare(a.Cluster, b.Cluster),
		cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.Container, b.Container),
	)
}

// Format returns the format Open detected.
func (s *Source) Format() Format { return s.format }

// Workloads returns the workloads, sorted by key, as fresh copies the
// caller may modify.
func (s *Source) Workloads() []recommender.Workload {
	out := make([]recommender.Workload, len(s.workloads))
	for i, w := range s.workloads {
		out[i] = cloneWorkload(w)
	}
	return out
}

func cloneWorkload(w recommender.Workload) recommender.Workload {
	w.Labels = maps.Clone(w.Labels)
	w.Containers = slices.Clone(w.Containers)
	return w
}

// Start returns the time of the first sample (UTC), or the zero time if
// there are none.
func (s *Source) Start() time.Time {
	if s.n == 0 {
		return time.Time{}
	}
	return time.Unix(0, s.start).UTC()
}

// End returns the time of the last sample (UTC), or the zero time if there
// are none.
func (s *Source) End() time.Time {
	if s.n == 0 {
		return time.Time{}
	}
	return time.Unix(0, s.end).UTC()
}

// Len returns the number of samples.
func (s *Source) Len() int { return s.n }

// Skipped returns how many input rows Open dropped, by reason. Reasons with
// no rows are absent. The map is a fresh copy.
func (s *Source) Skipped() map[SkipReason]int { return maps.Clone(map[SkipReason]int(s.skipped)) }

// Rejected returns how many samples the sinks of all Runs so far rejected
// with a recommender.SampleError.
func (s *Source) Rejected() int64 { return s.rejected.Load() }

// MemoryUtil returns, for the GenAI format, each pod's memory utilisation
// series in time order: the fraction (0–1) of the pod's memory limit in
// use. The limit itself is not in the trace, so these are not bytes and
// are not ingested as recommender.ResourceMemory; they are kept for
// analysis. The keys use the same naming as Workloads, but the map also
// holds pods that have no GPU metrics and therefore no workload. Duplicate
// timestamps keep the first row. The map is a fresh copy (about 32 bytes
// per point); it is empty for Bitbrains.
func (s *Source) MemoryUtil() map[recommender.WorkloadKey][]FractionPoint {
	out := make(map[recommender.WorkloadKey][]FractionPoint, len(s.memUtil))
	for _, m := range s.memUtil {
		pts := make([]FractionPoint, len(m.t))
		for i, t := range m.t {
			pts[i] = FractionPoint{Time: time.Unix(0, t).UTC(), Fraction: m.v[i]}
		}
		out[m.key] = pts
	}
	return out
}

// All returns an iterator over every sample in global time order. Samples
// at the same time come in key order (cluster, namespace, kind, name,
// container, compared as bytes). It merges the per-workload series with a
// heap: O(log w) per sample for w workloads, no allocation per sample. The
// iterator can be used many times and concurrently.
func (s *Source) All() iter.Seq[recommender.Sample] {
	return func(yield func(recommender.Sample) bool) {
		h := make(mergeHeap, 0, len(s.series))
		for i := range s.series {
			if len(s.series[i].t) > 0 {
				h = append(h, cursor{t: s.series[i].t[0], w: i})
			}
		}
		h.init()
		for len(h) > 0 {
			c := &h[0]
			ser := &s.series[c.w]
			if !yield(ser.sample(c.pos)) {
				return
			}
			c.pos++
			if c.pos < len(ser.t) {
				c.t = ser.t[c.pos]
			} else {
				h[0] = h[len(h)-1]
				h = h[:len(h)-1]
			}
			h.down(0)
		}
	}
}

// Run implements recommender.UsageSource: it calls Replay and drops the
// statistics.
func (s *Source) Run(ctx context.Context, sink recommender.Sink) error {
	_, err := s.Replay(ctx, sink)
	return err
}

// Replay feeds sink: first UpsertWorkload for every workload in key order,
// then Ingest with every sample in the order of All, in batches of
// Options.BatchSize. The batch slice is reused after Ingest returns.
//
// An Ingest error made only of *recommender.SampleError values (alone,
// wrapped or joined with errors.Join) is counted in Stats.Rejected
// and in Rejected, and the replay goes on. Any other sink error stops the
// replay and is returned wrapped. When ctx is cancelled Replay returns
// ctx.Err() before the next sink call.
func (s *Source) Replay(ctx context.Context, sink recommender.Sink) (Stats, error) {
	var st Stats
	for _, w := range s.workloads {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if err := sink.UpsertWorkload(cloneWorkload(w)); err != nil {
			return st, fmt.Errorf("upsert workload %s: %w", w.Key, err)
		}
		st.Workloads++
	}
	batch := make([]recommender.Sample, 0, min(s.batchSize, s.n))
	flush := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := sink.Ingest(batch)
		st.Batches++
		st.Samples += len(batch)
		if err != nil {
			n, ok := countSampleErrors(err)
			if !ok {
				return fmt.Errorf("ingest %d samples from %s: %w", len(batch), batch[0].Time.Format(time.RFC3339), err)
			}
			st.Rejected += n
			s.rejected.Add(int64(n))
		}
		batch = batch[:0]
		return nil
	}
	for smp := range s.All() {
		batch = append(batch, smp)
		if len(batch) == s.batchSize {
			if err := flush(); err != nil {
				return st, err
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return st, err
		}
	}
	return st, nil
}

// countSampleErrors returns the number of rejected samples err reports,
// and whether it reports nothing else: an *recommender.IngestError counts
// its Rejected, a *recommender.SampleError one. It follows Unwrap() error
// chains and errors.Join trees, so a rejection joined with anything else is
// not "only" rejections; that is why it walks the tree by hand instead of
// using errors.As, which would stop at the first match.
func countSampleErrors(err error) (int, bool) {
	for err != nil {
		switch e := err.(type) { //nolint:errorlint // walks the tree itself, see above
		case *recommender.IngestError:
			return e.Rejected, e.Rejected > 0
		case *recommender.SampleError:
			return 1, true
		case interface{ Unwrap() []error }:
			total := 0
			for _, inner := range e.Unwrap() {
				n, ok := countSampleErrors(inner)
				if !ok {
					return 0, false
				}
				total += n
			}
			return total, total > 0
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		default:
			return 0, false
		}
	}
	return 0, false
}

// cursor is a position in one workload's series.
type cursor struct {
	t   int64 // time of the sample at pos
	w   int   // workload index; lower is earlier in key order
	pos int
}

// mergeHeap is a min-heap of cursors by (t, w).
type mergeHeap []cursor

func (h mergeHeap) less(i, j int) bool {
	if h[i].t != h[j].t {
		return h[i].t < h[j].t
	}
	return h[i].w < h[j].w
}

func (h mergeHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h mergeHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		j := l
		if r := l + 1; r < len(h) && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}
