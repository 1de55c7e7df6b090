// Package openb reads the pod and node lists of the Alibaba GPU cluster
// trace cluster-trace-gpu-v2023 ("openb", the trace of Weng et al.,
// "Beware of Fragmentation", USENIX ATC '23) into the packing model of
// package cluster.
//
// The readers are strict: columns are found by header name (their order
// differs between files), every required column must be present, an
// unknown or repeated column is an error, and every value is checked. An
// error names the line and column of the bad value (ParseError). Nothing
// panics on bad input.
//
// Pods: name, cpu_milli, memory_mib, num_gpu, gpu_milli, and optionally
// gpu_spec, qos, pod_phase, creation_time, deletion_time, scheduled_time
// (the multigpu files carry only the first five). gpu_milli is the share of
// ONE GPU in thousandths: 1000 with num_gpu ≥ 1 asks for num_gpu whole
// GPUs, 1..999 with num_gpu 1 for a share of one GPU. gpu_spec lists the
// GPU models the pod may use, separated by '|'. QoS, phase and times are
// checked but not kept: the packing model has no time.
//
// Nodes: sn, cpu_milli, memory_mib, gpu, model; each row is one node and
// becomes one NodeType named after it, with PodSlots pod slots (as the
// paper's simulator) and no price.
//
// The functions are safe for concurrent use; each call reads its own
// reader.
package openb

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/rightsizer/rightsizer/internal/errtext"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// Limits on values, well above anything in the trace, that keep
// arithmetic in range and reject garbage early.
const (
	// PodSlots is the pod slots of every node read by ReadNodes: the
	// simulator of the FGD paper gives nodes 1001, which never binds.
	PodSlots = 1001
	// MaxRows is the most data rows a file may hold.
	MaxRows = 1_000_000
	// MaxMilliCPU is the largest cpu_milli accepted (a million cores).
	MaxMilliCPU = 1_000_000_000
	// MaxMemoryMiB is the largest memory_mib accepted (1 PiB).
	MaxMemoryMiB = 1 << 30
	// MaxGPUs is the largest GPU count of a pod or node.
	MaxGPUs = 1024
	// MaxNameLen is the longest pod or node name, in bytes.
	MaxNameLen = 253
)

// ParseError is a bad value, or a bad line, of a trace file.
type ParseError struct {
	// Line is the 1-based line of the file.
	Line int
	// Column is the header name of the bad column; empty when the whole
	// line is bad.
	Column string
	Err    error
}

func (e *ParseError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("line %d, column %s: %v", e.Line, e.Column, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// Pod columns.
const (
	colName          = "name"
	colCPU           = "cpu_milli"
	colMemory        = "memory_mib"
	colNumGPU        = "num_gpu"
	colGPUMilli      = "gpu_milli"
	colGPUSpec       = "gpu_spec"
	colQoS           = "qos"
	colPhase         = "pod_phase"
	colCreationTime  = "creation_time"
	colDeletionTime  = "deletion_time"
	colScheduledTime = "scheduled_time"
)

// Node columns.
const (
	colSN    = "sn"
	colGPU   = "gpu"
	colModel = "model"
)

var (
	podRequired  = []string{colName, colCPU, colMemory, colNumGPU, colGPUMilli}
	podOptional  = []string{colGPUSpec, colQoS, colPhase, colCreationTime, colDeletionTime, colScheduledTime}
	nodeRequired = []string{colSN, colCPU, colMemory, colGPU, colModel}
)

// table is a CSV file read by header name.
type table struct {
	r    *csv.Reader
	cols map[string]int
	rec  []string
	line int
	rows int
}

// newTable reads the header and checks it: every required column, only
// known ones, none twice.
func newTable(r io.Reader, required, optional []string) (*table, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty input: no header line")
	}
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	known := map[string]bool{}
	for _, c := range required {
		known[c] = true
	}
	for _, c := range optional {
		known[c] = true
	}
	t := &table{r: cr, cols: map[string]int{}}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\uFEFF") // a byte-order mark some tools write
		}
		if !known[h] {
			return nil, &ParseError{Line: 1, Err: fmt.Errorf("unknown column %q (want %s, optionally %s)",
				h, strings.Join(required, ","), strings.Join(optional, ","))}
		}
		if _, dup := t.cols[h]; dup {
			return nil, &ParseError{Line: 1, Err: fmt.Errorf("column %q twice", h)}
		}
		t.cols[h] = i
	}
	var missing []string
	for _, c := range required {
		if _, ok := t.cols[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, &ParseError{Line: 1, Err: fmt.Errorf("missing column(s) %s", strings.Join(missing, ","))}
	}
	cr.FieldsPerRecord = len(header)
	return t, nil
}

// next reads the next row; false at the end of the input.
func (t *table) next() (bool, error) {
	rec, err := t.r.Read()
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return false, &ParseError{Line: pe.Line, Err: pe.Err}
		}
		return false, err
	}
	t.rows++
	if t.rows > MaxRows {
		return false, fmt.Errorf("more than %d rows", MaxRows)
	}
	t.rec = rec
	t.line, _ = t.r.FieldPos(0)
	return true, nil
}

// str is the column's value in the current row; "" for a missing
// optional column.
func (t *table) str(col string) string {
	i, ok := t.cols[col]
	if !ok {
		return ""
	}
	return t.rec[i]
}

func (t *table) errorf(col, format string, args ...any) error {
	return &ParseError{Line: t.line, Column: col, Err: fmt.Errorf(format, args...)}
}

// int reads a non-negative decimal integer of at most hi.
func (t *table) int(col string, hi int64) (int64, error) {
	s := t.str(col)
	if s == "" {
		return 0, t.errorf(col, "empty value")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, t.errorf(col, "%q is not a non-negative integer", errtext.Clip(s))
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v > hi {
		return 0, t.errorf(col, "%s is out of range 0..%d", errtext.Clip(s), hi)
	}
	return v, nil
}

// optionalInt reads a non-negative integer that may be empty.
func (t *table) optionalInt(col string) error {
	if t.str(col) == "" {
		return nil
	}
	_, err := t.int(col, 1<<62)
	return err
}

// name reads a non-empty name without control characters.
func (t *table) name(col string) (string, error) {
	s := t.str(col)
	switch {
	case s == "":
		return "", t.errorf(col, "empty name")
	case len(s) > MaxNameLen:
		return "", t.errorf(col, "name of %d bytes (at most %d)", len(s), MaxNameLen)
	case strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return "", t.errorf(col, "name %q has control characters", s)
	}
	return s, nil
}

// ReadPods reads a pod list (openb_pod_list_*.csv) in file order. Memory
// is converted from MiB to bytes; a pod's GPU request becomes GPU.Count
// (whole GPUs), GPU.Milli (a share of one GPU) or nothing, and gpu_spec
// GPU.Models. Names must be unique. Its cost is linear in the input.
func ReadPods(r io.Reader) ([]cluster.Pod, error) {
	t, err := newTable(r, podRequired, podOptional)
	if err != nil {
		return nil, fmt.Errorf("read pods: %w", err)
	}
	var pods []cluster.Pod
	seen := map[string]int{}
	for {
		ok, err := t.next()
		if err != nil {
			return nil, fmt.Errorf("read pods: %w", err)
		}
		if !ok {
			return pods, nil
		}
		p, err := t.pod()
		if err != nil {
			return nil, fmt.Errorf("read pods: %w", err)
		}
		if first, dup := seen[p.Name]; dup {
			return nil, fmt.Errorf("read pods: %w", t.errorf(colName, "pod %q also on line %d", p.Name, first))
		}
		seen[p.Name] = t.line
		pods = append(pods, p)
	}
}

func (t *table) pod() (cluster.Pod, error) {
	var p cluster.Pod
	var err error
	if p.Name, err = t.name(colName); err != nil {
		return p, err
	}
	cpu, err := t.int(colCPU, MaxMilliCPU)
	if err != nil {
		return p, err
	}
	mem, err := t.int(colMemory, MaxMemoryMiB)
	if err != nil {
		return p, err
	}
	p.CPU, p.Memory = recommender.MilliCPU(cpu), recommender.Bytes(mem)*recommender.MiB
	num, err := t.int(colNumGPU, MaxGPUs)
	if err != nil {
		return p, err
	}
	milli, err := t.int(colGPUMilli, cluster.MilliGPU)
	if err != nil {
		return p, err
	}
	switch {
	case num == 0 && milli != 0:
		return p, t.errorf(colGPUMilli, "%d milli of GPU with num_gpu 0", milli)
	case num > 0 && milli == 0:
		return p, t.errorf(colGPUMilli, "0 milli of GPU with num_gpu %d", num)
	case milli == cluster.MilliGPU:
		p.GPU.Count = int(num)
	case num > 1:
		return p, t.errorf(colGPUMilli, "a share of %d milli on each of %d GPUs: shares are of one GPU only", milli, num)
	default:
		p.GPU.Milli = int(milli)
	}
	if spec := t.str(colGPUSpec); spec != "" {
		if num == 0 {
			return p, t.errorf(colGPUSpec, "GPU models %q for a pod without GPUs", errtext.Clip(spec))
		}
		for m := range strings.SplitSeq(spec, "|") {
			if m == "" || strings.ContainsFunc(m, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
				return p, t.errorf(colGPUSpec, "bad GPU model %q in %q", m, errtext.Clip(spec))
			}
			p.GPU.Models = append(p.GPU.Models, m)
		}
	}
	for _, col := range []string{colCreationTime, colDeletionTime, colScheduledTime} {
		if err := t.optionalInt(col); err != nil {
			return p, err
		}
	}
	return p, nil
}

// ReadNodes reads a node list (openb_node_list_*.csv) in file order: one
// NodeType per node, named after its sn, with its CPU, memory (MiB to
// bytes), GPUs and GPU model, PodSlots pod slots and no price. A node
// with GPUs must name its model; one without must not. Names must be
// unique. Its cost is linear in the input.
func ReadNodes(r io.Reader) ([]cluster.NodeType, error) {
	t, err := newTable(r, nodeRequired, nil)
	if err != nil {
		return nil, fmt.Errorf("read nodes: %w", err)
	}
	var nodes []cluster.NodeType
	seen := map[string]int{}
	for {
		ok, err := t.next()
		if err != nil {
			return nil, fmt.Errorf("read nodes: %w", err)
		}
		if !ok {
			return nodes, nil
		}
		n, err := t.node()
		if err != nil {
			return nil, fmt.Errorf("read nodes: %w", err)
		}
		if first, dup := seen[n.Name]; dup {
			return nil, fmt.Errorf("read nodes: %w", t.errorf(colSN, "node %q also on line %d", n.Name, first))
		}
		seen[n.Name] = t.line
		nodes = append(nodes, n)
	}
}

func (t *table) node() (cluster.NodeType, error) {
	var n cluster.NodeType
	var err error
	if n.Name, err = t.name(colSN); err != nil {
		return n, err
	}
	cpu, err := t.int(colCPU, MaxMilliCPU)
	if err != nil {
		return n, err
	}
	mem, err := t.int(colMemory, MaxMemoryMiB)
	if err != nil {
		return n, err
	}
	gpus, err := t.int(colGPU, MaxGPUs)
	if err != nil {
		return n, err
	}
	model := t.str(colModel)
	switch {
	case gpus > 0 && model == "":
		return n, t.errorf(colModel, "no GPU model for %d GPUs", gpus)
	case gpus == 0 && model != "":
		return n, t.errorf(colModel, "GPU model %q for a node without GPUs", errtext.Clip(model))
	case strings.ContainsFunc(model, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '|' }):
		return n, t.errorf(colModel, "bad GPU model %q", errtext.Clip(model))
	}
	n.Allocatable = cluster.Resources{CPU: recommender.MilliCPU(cpu), Memory: recommender.Bytes(mem) * recommender.MiB, Pods: PodSlots}
	n.GPUs, n.GPUModel = int(gpus), model
	return n, nil
}

// LoadPods reads the pod list file at path (ReadPods).
func LoadPods(path string) ([]cluster.Pod, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load pods: %w", err)
	}
	pods, err := ReadPods(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pods, nil
}

// LoadNodes reads the node list file at path (ReadNodes).
func LoadNodes(path string) ([]cluster.NodeType, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load nodes: %w", err)
	}
	nodes, err := ReadNodes(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return nodes, nil
}

// Spec returns the pod's GPU request as the trace writes it: num_gpu,
// gpu_milli (per GPU) and gpu_spec. It is the inverse of ReadPods'
// mapping.
func Spec(p *cluster.Pod) (numGPU, gpuMilli int, gpuSpec string) {
	numGPU, gpuMilli = p.GPU.PerGPU()
	return numGPU, gpuMilli, strings.Join(p.GPU.Models, "|")
}

// Sample draws n pods from pods uniformly with replacement, the same for a
// seed, each renamed "sample-NNNNN" so that names stay unique: a larger or
// smaller workload with the trace's mix, for benchmarks. pods must not be
// empty.
func Sample(pods []cluster.Pod, n int, seed uint64) []cluster.Pod {
	rng := rand.New(rand.NewPCG(seed, 0))
	out := make([]cluster.Pod, n)
	for i := range out {
		out[i] = pods[rng.IntN(len(pods))]
		out[i].Name = fmt.Sprintf("sample-%05d", i)
	}
	return out
}
