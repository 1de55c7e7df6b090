package recommender

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/rightsizer/rightsizer/recommender/checkpoint"
	"github.com/rightsizer/rightsizer/recommender/internal/wire"
	"github.com/rightsizer/rightsizer/recommender/sketch"
)

// CheckpointStore is where the engine persists its state.
// *checkpoint.Store implements it.
type CheckpointStore interface {
	Write(meta checkpoint.Meta, puts []checkpoint.Record, deletes [][]byte) error
	Replace(meta checkpoint.Meta, all []checkpoint.Record) error
	Load(fn func(key, value []byte) error) (checkpoint.Meta, checkpoint.LoadStats, error)
}

var _ CheckpointStore = (*checkpoint.Store)(nil)

// engineHeader marks a checkpoint written by this engine's encoding.
const engineHeader = "rightsizer-engine/1"

// Record keys: a one-byte kind, then for containers the five key parts,
// each as a uvarint length and bytes.
const (
	keyContainer = 'c'
	keyInventory = 'i'
	stateVersion = 2
)

// ckptTracker remembers what changed between checkpoints that a state's
// unsaved flag cannot: deletions and inventory edits.
type ckptTracker struct {
	mu       sync.Mutex // serialises checkpoints and guards the fields
	deletes  map[ContainerKey]struct{}
	wroteAll bool // a full checkpoint has been written
}

func (t *ckptTracker) deleted(k ContainerKey) {
	t.mu.Lock()
	if t.deletes == nil {
		t.deletes = map[ContainerKey]struct{}{}
	}
	t.deletes[k] = struct{}{}
	t.mu.Unlock()
}

// CheckpointStats describes one checkpoint.
type CheckpointStats struct {
	Full       bool // everything was written, not only changes
	Containers int  // container records written
	Deleted    int
	Bytes      int
}

// Checkpoint writes the engine's state to store: everything the first time,
// then only containers changed since the last successful checkpoint. It
// holds each stripe's lock only while encoding that stripe. If the write
// fails, nothing is marked saved, so the next checkpoint retries.
func (e *Engine) Checkpoint(store CheckpointStore) (CheckpointStats, error) {
	start := time.Now()
	t := &e.ckpt
	t.mu.Lock()
	defer t.mu.Unlock()
	stats := CheckpointStats{Full: !t.wroteAll}
	var puts []checkpoint.Record
	var saved []ContainerKey
	for i := range e.stripes {
		st := &e.stripes[i]
		st.mu.Lock()
		st.each(func(cs *containerState) {
			if !stats.Full && !cs.unsaved {
				return
			}
			v := cs.appendBinary(nil)
			puts = append(puts, checkpoint.Record{Key: appendContainerKey(nil, cs.key), Value: v})
			saved = append(saved, cs.key)
			cs.unsaved = false
			stats.Bytes += len(v)
		})
		st.mu.Unlock()
	}
	stats.Containers = len(saved)
	inv, err := json.Marshal(e.Workloads())
	if err != nil {
		return stats, fmt.Errorf("encode inventory: %w", err)
	}
	puts = append(puts, checkpoint.Record{Key: []byte{keyInventory}, Value: inv})
	var deletes [][]byte
	for k := range t.deletes {
		deletes = append(deletes, appendContainerKey(nil, k))
	}
	stats.Deleted = len(deletes)
	meta := checkpoint.Meta{Header: []byte(engineHeader)}
	if stats.Full {
		err = store.Replace(meta, puts)
	} else {
		err = store.Write(meta, puts, deletes)
	}
	if err != nil {
		e.metrics.checkpoints.WithLabelValues("error").Inc()
		if checkpoint.IsCorrupt(err) {
			// The file is damaged: whoever reopens it gets an empty store,
			// so the next checkpoint must write everything.
			t.wroteAll = false
		}
		for _, k := range saved {
			st, h := e.locate(&k)
			st.mu.Lock()
			if cs := st.get(h, &k); cs != nil {
				cs.unsaved = true
			}
			st.mu.Unlock()
		}
		return stats, fmt.Errorf("write checkpoint: %w", err)
	}
	t.wroteAll = true
	clear(t.deletes)
	e.metrics.checkpoints.WithLabelValues("ok").Inc()
	e.metrics.ckptSeconds.Observe(time.Since(start).Seconds())
	e.metrics.ckptRecords.Add(float64(len(puts)))
	return stats, nil
}

// RestoreStats describes a restore.
type RestoreStats struct {
	Containers int // container states restored
	Workloads  int
	Skipped    int // records that failed to decode (or the store's checksum)
	WrittenAt  time.Time
}

// Restore loads a checkpoint into the engine, merging with any state the
// engine already has. A record that fails to decode is skipped and counted
// (one bad record loses nothing else); only a failure of the store itself
// is an error. A checkpoint from another encoding version is ignored with
// an error, leaving the engine as it was.
func (e *Engine) Restore(store CheckpointStore) (RestoreStats, error) {
	var stats RestoreStats
	var workloads []Workload
	var firstErr error
	skip := func(err error) {
		stats.Skipped++
		if firstErr == nil {
			firstErr = err
		}
	}
	meta, ls, err := store.Load(func(key, value []byte) error {
		if len(key) == 0 {
			skip(errors.New("empty key"))
			return nil
		}
		switch key[0] {
		case keyInventory:
			if err := json.Unmarshal(value, &workloads); err != nil {
				skip(fmt.Errorf("decode inventory: %w", err))
				workloads = nil
			}
		case keyContainer:
			k, err := decodeContainerKey(key)
			if err == nil {
				err = e.restoreContainer(k, value)
			}
			if err != nil {
				skip(fmt.Errorf("container record: %w", err))
				return nil
			}
			stats.Containers++
		default:
			skip(fmt.Errorf("unknown record kind %q", key[0]))
		}
		return nil
	})
	if err != nil {
		return stats, fmt.Errorf("load checkpoint: %w", err)
	}
	if h := string(meta.Header); h != "" && h != engineHeader {
		return RestoreStats{}, fmt.Errorf("checkpoint written by %q, this engine reads %q", h, engineHeader)
	}
	for _, w := range workloads {
		if err := e.UpsertWorkload(w); err != nil {
			skip(fmt.Errorf("workload %s: %w", w.Key, err))
			continue
		}
		stats.Workloads++
	}
	stats.Skipped += ls.Skipped
	stats.WrittenAt = meta.WrittenAt
	if stats.Skipped > 0 {
		e.log.Warn("skipped unreadable checkpoint records", "skipped", stats.Skipped, "first_error", firstErr)
	}
	return stats, nil
}

func (e *Engine) restoreContainer(k ContainerKey, v []byte) error {
	if err := k.Validate(); err != nil {
		return err
	}
	cs, err := e.decodeState(v)
	if err != nil {
		return err
	}
	st, h := e.locate(&k)
	st.mu.Lock()
	defer st.mu.Unlock()
	if old := st.get(h, &k); old != nil {
		return old.merge(cs, old.halfLife())
	}
	if e.count.Load() >= int64(e.opts.MaxContainers) {
		return fmt.Errorf("already tracking the maximum of %d containers", e.opts.MaxContainers)
	}
	e.adopt(st, h, k, cs)
	return nil
}

// RunCheckpoints checkpoints to store every interval until ctx is done,
// then writes a final checkpoint (the shutdown checkpoint) and returns.
// Failures are logged and retried at the next tick.
func (e *Engine) RunCheckpoints(ctx context.Context, store CheckpointStore, interval time.Duration) error {
	tick := e.opts.Clock.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			stats, err := e.Checkpoint(store)
			if err != nil {
				return fmt.Errorf("shutdown checkpoint: %w", err)
			}
			e.log.Info("wrote shutdown checkpoint", "containers", stats.Containers, "bytes", stats.Bytes)
			return nil
		case <-tick.C():
			if _, err := e.Checkpoint(store); err != nil {
				e.log.Warn("checkpoint failed", "err", err)
			}
		}
	}
}

// appendContainerKey encodes a container key as a record key.
func appendContainerKey(b []byte, k ContainerKey) []byte {
	b = append(b, keyContainer)
	for _, s := range [...]string{k.Cluster, k.Namespace, k.Kind, k.Name, k.Container} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

func decodeContainerKey(b []byte) (ContainerKey, error) {
	if len(b) == 0 || b[0] != keyContainer {
		return ContainerKey{}, errors.New("not a container key")
	}
	b = b[1:]
	var parts [5]string
	for i := range parts {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > MaxKeyPartLen || uint64(len(b)-w) < n {
			return ContainerKey{}, errors.New("malformed container key")
		}
		parts[i] = string(b[w : w+int(n)])
		b = b[w+int(n):]
	}
	if len(b) != 0 {
		return ContainerKey{}, errors.New("trailing bytes in container key")
	}
	return ContainerKey{WorkloadKey: WorkloadKey{Cluster: parts[0], Namespace: parts[1], Kind: parts[2], Name: parts[3]}, Container: parts[4]}, nil
}

// appendBinary encodes the state, version 2:
//
//	byte     version
//	varint   first, last sample time (ns); uvarint samples
//	sketch   cpu, memory (uvarint length + sketch encoding each)
//	peaks    memory peak ring; varint time the memory last grew (ns)
//	varint   throttle reference; float64 sum, weight
//	uvarint  OOM count; per OOM varint time, uvarint limit, usage
//	byte     1 if GPU state follows: sketch compute, sketch memory, peaks;
//	         2 if the idle histogram follows those (gpuIdle.appendBinary)
//	byte     1 if the live CPU sketch follows; then the sketch
//	byte     1 if calibration follows; then float64 budget, alpha,
//	         uvarint request, byte managed, varint next, uvarint n, over
func (st *containerState) appendBinary(b []byte) []byte {
	b = append(b, stateVersion)
	b = binary.AppendVarint(b, st.first)
	b = binary.AppendVarint(b, st.last)
	b = binary.AppendUvarint(b, uint64(st.samples))
	b = appendSketch(b, &st.cpu)
	b = appendSketch(b, &st.mem)
	b = st.memPeaks.appendBinary(b)
	b = binary.AppendVarint(b, st.memGrewAt)
	b = binary.AppendVarint(b, st.thr.ref)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(st.thr.sum))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(st.thr.weight))
	b = binary.AppendUvarint(b, uint64(len(st.ooms)))
	for _, o := range st.ooms {
		b = binary.AppendVarint(b, o.at)
		b = binary.AppendUvarint(b, uint64(o.limit))
		b = binary.AppendUvarint(b, uint64(o.usage))
	}
	if st.gpu == nil {
		b = append(b, 0)
	} else {
		marker := byte(1)
		if !st.gpu.idle.empty() {
			marker = 2
		}
		b = append(b, marker)
		b = appendSketch(b, &st.gpu.compute)
		b = appendSketch(b, &st.gpu.mem)
		b = st.gpu.memPeaks.appendBinary(b)
		if marker == 2 {
			b = st.gpu.idle.appendBinary(b)
		}
	}
	if st.cpuLive.Config() == nil {
		b = append(b, 0)
	} else {
		b = appendSketch(append(b, 1), &st.cpuLive)
	}
	c := st.cal
	if c == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.budget))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c.alpha))
	b = binary.AppendUvarint(b, uint64(c.req))
	managed := byte(0)
	if c.managed {
		managed = 1
	}
	b = append(b, managed)
	b = binary.AppendVarint(b, c.next)
	b = binary.AppendUvarint(b, uint64(c.n))
	return binary.AppendUvarint(b, uint64(c.over))
}

func appendSketch(b []byte, s *sketch.Sketch) []byte {
	enc, _ := s.AppendBinary(nil) // AppendBinary cannot fail
	b = binary.AppendUvarint(b, uint64(len(enc)))
	return append(b, enc...)
}

func (r *peakRing) appendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(r.interval))
	b = binary.AppendVarint(b, r.cur)
	b = binary.AppendUvarint(b, r.seen)
	b = binary.AppendUvarint(b, uint64(len(r.peaks)))
	for _, p := range r.peaks {
		b = binary.AppendUvarint(b, uint64(p))
	}
	return b
}

var errCorruptState = errors.New("corrupt container state")

// stateDecoder reads a state encoding; see wire.Reader.
type stateDecoder struct{ *wire.Reader }

// float reads a non-negative, finite float64.
func (d stateDecoder) float(what string) float64 {
	v := d.Float64(what)
	if !(v >= 0 && v <= math.MaxFloat64) {
		d.Fail(what)
		return 0
	}
	return v
}

// bytesVal reads an amount of bytes, which must fit an int64.
func (d stateDecoder) bytesVal(what string) Bytes {
	v := d.Uvarint(what)
	if v > math.MaxInt64 {
		d.Fail(what)
		return 0
	}
	return Bytes(v)
}

func (d stateDecoder) sketch(e *Engine, what string) sketch.Sketch {
	enc := d.Bytes(d.Uvarint(what), what)
	if d.Err() != nil {
		return sketch.Sketch{}
	}
	opts, err := sketch.DecodeOptions(enc)
	if err == nil {
		var cfg *sketch.Config
		if cfg, err = e.internConfig(opts, true); err == nil {
			var s *sketch.Sketch
			if s, err = cfg.Decode(enc); err == nil {
				return *s
			}
		}
	}
	d.Fail(fmt.Sprintf("%s (%v)", what, err))
	return sketch.Sketch{}
}

func (d stateDecoder) peaks(what string) peakRing {
	var r peakRing
	interval := d.Uvarint(what)
	r.cur = d.Varint(what)
	r.seen = d.Uvarint(what)
	n := d.Uvarint(what)
	if d.Err() != nil {
		return r
	}
	if interval < uint64(time.Minute) || interval > math.MaxInt64 || n == 0 || n > MaxPeakWindows || (n < 64 && r.seen>>n != 0) {
		d.Fail(what)
		return r
	}
	r.interval = int64(interval)
	r.peaks = make([]Bytes, n)
	for i := range r.peaks {
		r.peaks[i] = d.bytesVal(what)
	}
	return r
}

// decodeState decodes a state, checking every field: a corrupt record is
// an error, never a panic or an unbounded allocation.
func (e *Engine) decodeState(b []byte) (*containerState, error) {
	d := stateDecoder{wire.NewReader(b, errCorruptState)}
	if v := d.Byte("version"); d.Err() == nil && v != stateVersion {
		return nil, fmt.Errorf("%w: unsupported version %d", errCorruptState, v)
	}
	st := &containerState{}
	st.first = d.Varint("first sample time")
	st.last = d.Varint("last sample time")
	samples := d.Uvarint("sample count")
	st.cpu = d.sketch(e, "cpu sketch")
	st.mem = d.sketch(e, "memory sketch")
	st.memPeaks = d.peaks("memory peaks")
	st.memGrewAt = d.Varint("memory growth time")
	st.thr.ref = d.Varint("throttle time")
	st.thr.sum = d.float("throttle sum")
	st.thr.weight = d.float("throttle weight")
	nOOM := d.Uvarint("oom count")
	if d.Err() == nil && nOOM > maxOOMRecords {
		d.Fail("oom count")
	}
	for range nOOM {
		if d.Err() != nil {
			break
		}
		st.ooms = append(st.ooms, oomRecord{at: d.Varint("oom time"), limit: d.bytesVal("oom limit"), usage: d.bytesVal("oom usage")})
	}
	switch m := d.Byte("gpu marker"); m {
	case 0:
	case 1, 2:
		st.gpu = &gpuState{compute: d.sketch(e, "gpu compute sketch"), mem: d.sketch(e, "gpu memory sketch"), memPeaks: d.peaks("gpu memory peaks")}
		if m == 2 {
			st.gpu.idle = d.idle("gpu idle histogram")
		}
	default:
		d.Fail("gpu marker")
	}
	switch d.Byte("live marker") {
	case 0:
	case 1:
		st.cpuLive = d.sketch(e, "live cpu sketch")
	default:
		d.Fail("live marker")
	}
	switch d.Byte("calibration marker") {
	case 0:
	case 1:
		c := &calibration{budget: d.float("budget"), alpha: d.float("alpha")}
		c.req = MilliCPU(min(d.Uvarint("calibrated request"), math.MaxInt64))
		c.managed = d.Byte("managed") == 1
		c.next = d.Varint("calibration time")
		c.n, c.over = int32(min(d.Uvarint("calibration count"), math.MaxInt32)), int32(min(d.Uvarint("calibration misses"), math.MaxInt32))
		if !(c.budget > 0 && c.budget <= 0.5 && c.alpha > 0 && c.alpha <= 0.5 && c.over <= c.n) {
			d.Fail("calibration")
		}
		st.cal = c
	default:
		d.Fail("calibration marker")
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	if rest := d.Rest(); len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errCorruptState, len(rest))
	}
	if samples > math.MaxInt64 || st.first > st.last || st.cpu.Config() != st.mem.Config() ||
		(st.gpu != nil && (st.gpu.compute.Config() != st.cpu.Config() || st.gpu.mem.Config() != st.cpu.Config())) {
		return nil, fmt.Errorf("%w: inconsistent fields", errCorruptState)
	}
	if st.cpu.Config().Options().HalfLife < time.Minute {
		return nil, fmt.Errorf("%w: half-life below a minute", errCorruptState)
	}
	if st.thr.weight > 0 && st.thr.sum > st.thr.weight*(1+1e-9) {
		return nil, fmt.Errorf("%w: throttle mean above 1", errCorruptState)
	}
	st.samples = int64(samples)
	st.unsaved, st.dirty = false, true
	return st, nil
}

// maxDecodedConfigs bounds the sketch Configs that checkpoint data can
// make the engine create (each holds a mapping table of up to 128 KiB).
const maxDecodedConfigs = 64

// internConfig returns the shared Config for opts, creating it. Configs
// asked for by decoded data (fromData) are bounded; the policy's are
// bounded by the policy itself.
func (e *Engine) internConfig(o sketch.Options, fromData bool) (*sketch.Config, error) {
	e.cfgMu.Lock()
	defer e.cfgMu.Unlock()
	if c, ok := e.cfgs[o]; ok {
		return c, nil
	}
	if fromData && len(e.cfgs) >= maxDecodedConfigs {
		return nil, errors.New("too many distinct sketch configurations")
	}
	c, err := sketch.NewConfig(o)
	if err != nil {
		return nil, err
	}
	e.cfgs[o] = c
	return c, nil
}
