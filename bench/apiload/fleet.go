package apiload

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
)

// Names of the synthetic fleet.
const (
	// Namespace holds the fleet's workloads: Deployments w00000, w00001, ….
	Namespace = "apiload"
	// ProbeNamespace holds the watch probes' workloads.
	ProbeNamespace = "apiload-probe"
	// Kind of every workload.
	Kind = "Deployment"
	// Container is the name of every workload's one container.
	Container = "app"
	// teams is how many team=tNN label values the fleet spreads over.
	teams = 20
	// variants is how many encodings of each block, with different sample
	// values, a fleet cycles through.
	variants = 4
	// History is how far back the first sample is stamped. The server's
	// default profile keeps eight days, and drops a container whose last
	// sample is older than nine.
	History = 8 * 24 * time.Hour
)

// MaxStreamContainers is the most containers one IngestUsage stream may
// declare: IngestUsageRequest.containers appends to a list that spans the
// stream, and samples index that list.
const MaxStreamContainers = 100_000

// Fleet is the synthetic cluster: Workloads workloads in Namespace, one
// container each, requesting about twice the CPU and memory they use.
//
// Its samples come in blocks of containers (BatchSize /
// SamplesPerContainer consecutive workloads), a batch per block, with
// values drawn once in a few variants. A stream declares each container
// once, in the first batch it sends of the container's block, and its
// later batches of that block carry samples only; a sample's
// container_index is the container's place in the stream's list. So a
// block has one encoding of its container refs, and one of its samples
// (an Encoding) per place its containers take in a stream's list; a
// batch is the samples, after the refs the first time (see frame). Both
// are written in field-number order, as proto.Marshal writes them.
//
// Each block keeps a clock that starts History before the fleet was made
// and advances one minute per sample, so a container's samples are
// monotonic in time; the clock stops at the time the fleet was made, so
// nothing is stamped in the future. Next stamps a block's next batch when
// it is sent (see frameCodec): a sample's time is a 6-byte varint for
// every millisecond time from 1971 to 2109, so it can be written into the
// encoding in place.
//
// Next may run concurrently for distinct blocks, and Encoding for any;
// everything else is read-only after NewFleet.
type Fleet struct {
	workloads, perBlock, perContainer int
	base, limit                       int64 // Unix ms of minute 0, and the latest time stamped
	blocks                            []block
	cpu                               []float64 // mean cores per container
	mem                               []float64 // mean bytes per container

	mu   sync.Mutex
	encs map[[2]int]*Encoding // by block and offset
}

// block is one run of containers, with its values and clock.
type block struct {
	first  int    // index of its first workload
	refs   []byte // its containers' refs, as IngestUsageRequest field 1
	vals   [variants][]value
	minute int64 // minute of its next batch
}

// value is one sample's usage.
type value struct {
	cpu float64
	mem int64
}

// Encoding is a block's samples, in each variant, for a stream whose list
// holds the block's containers from its index offset on.
type Encoding struct {
	block, offset int
	tmpl          [variants]template
}

// template is the samples of one encoded IngestUsageRequest and where
// their times go.
type template struct {
	b     []byte
	times []timeSlot
}

// timeSlot locates a sample's 6-byte time varint and its minute relative
// to the batch's.
type timeSlot struct {
	off, dm int32
}

// frame is one batch ready to send: the block's refs if it declares them,
// then a template, which starts at the given minute.
type frame struct {
	refs    []byte // nil unless the batch declares the block's containers
	t       *template
	base    int64 // Unix ms of the batch's first minute
	limit   int64
	samples int
}

const (
	minuteMs = int64(time.Minute / time.Millisecond)
	// Times in [minVarint6, maxVarint6) ms encode as 6-byte varints.
	minVarint6 = int64(1) << 35
	maxVarint6 = int64(1) << 42
)

// NewFleet returns the fleet of cfg (Workloads, BatchSize,
// SamplesPerContainer and Seed), with clocks starting History before now.
func NewFleet(cfg Config, now time.Time) (*Fleet, error) {
	if cfg.Workloads <= 0 || cfg.BatchSize <= 0 || cfg.SamplesPerContainer <= 0 || cfg.BatchSize%cfg.SamplesPerContainer != 0 {
		return nil, fmt.Errorf("fleet of %d workloads in batches of %d with %d samples per container is not whole",
			cfg.Workloads, cfg.BatchSize, cfg.SamplesPerContainer)
	}
	per := cfg.BatchSize / cfg.SamplesPerContainer
	if cfg.Workloads%per != 0 {
		return nil, fmt.Errorf("containers per batch %d does not divide workloads %d", per, cfg.Workloads)
	}
	f := &Fleet{
		workloads: cfg.Workloads, perBlock: per, perContainer: cfg.SamplesPerContainer,
		base: now.Add(-History).UnixMilli(), limit: now.UnixMilli(),
		cpu: make([]float64, cfg.Workloads), mem: make([]float64, cfg.Workloads),
		encs: map[[2]int]*Encoding{},
	}
	if f.base < minVarint6 || f.limit >= maxVarint6 {
		return nil, errors.New("sample times outside 1971-2109 do not encode in 6 bytes")
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 1))
	for i := range f.cpu {
		f.cpu[i] = min(0.02*math.Exp(1.2*rng.NormFloat64()+1), 16)
		f.mem[i] = min(64<<20*math.Exp(0.8*rng.NormFloat64()+1), 64<<30)
	}
	f.blocks = make([]block, cfg.Workloads/per)
	for b := range f.blocks {
		bl := &f.blocks[b]
		bl.first = b * per
		for c := range per {
			ref, err := proto.Marshal(containerRef(Namespace, WorkloadName(bl.first+c)))
			if err != nil {
				panic(fmt.Sprintf("marshal container ref: %v", err)) // unreachable: a valid message
			}
			bl.refs = protowire.AppendTag(bl.refs, 1, protowire.BytesType)
			bl.refs = protowire.AppendBytes(bl.refs, ref)
		}
		for v := range variants {
			vals := make([]value, 0, cfg.BatchSize)
			for c := range per {
				for range f.perContainer {
					vals = append(vals, value{
						cpu: f.cpu[bl.first+c] * (0.5 + rng.Float64()),
						mem: int64(f.mem[bl.first+c] * (0.85 + 0.3*rng.Float64())),
					})
				}
			}
			bl.vals[v] = vals
		}
	}
	return f, nil
}

// Blocks returns the number of blocks; a batch covers one.
func (f *Fleet) Blocks() int { return len(f.blocks) }

// BatchSamples returns the samples in one batch.
func (f *Fleet) BatchSamples() int { return f.perBlock * f.perContainer }

// WorkloadName returns the name of the i-th workload.
func WorkloadName(i int) string { return fmt.Sprintf("w%05d", i) }

func containerRef(ns, name string) *rightsizerv1.ContainerRef {
	return &rightsizerv1.ContainerRef{
		Workload:  &rightsizerv1.WorkloadRef{Namespace: ns, Kind: Kind, Name: name},
		Container: Container,
	}
}

func workload(ns, name string, team int, cpuCores, memBytes float64) *rightsizerv1.Workload {
	return &rightsizerv1.Workload{
		Workload: &rightsizerv1.WorkloadRef{Namespace: ns, Kind: Kind, Name: name},
		Labels:   map[string]string{"team": fmt.Sprintf("t%02d", team)},
		Replicas: 2,
		Containers: []*rightsizerv1.ContainerSpec{{
			Name: Container, Role: rightsizerv1.ContainerRole_CONTAINER_ROLE_APP,
			Requests: &rightsizerv1.ResourceAmounts{
				CpuMillicores: int64(math.Ceil(2000 * cpuCores)), MemoryBytes: int64(2 * memBytes),
			},
		}},
	}
}

// Inventory returns the fleet's workloads in messages of at most
// BatchSize workloads.
func (f *Fleet) Inventory() []*rightsizerv1.IngestUsageRequest {
	var out []*rightsizerv1.IngestUsageRequest
	per := f.perBlock * f.perContainer
	for lo := 0; lo < f.workloads; lo += per {
		req := &rightsizerv1.IngestUsageRequest{}
		for i := lo; i < min(lo+per, f.workloads); i++ {
			req.Workloads = append(req.Workloads, workload(Namespace, WorkloadName(i), i%teams, f.cpu[i], f.mem[i]))
		}
		out = append(out, req)
	}
	return out
}

// BlockContainers returns the containers in one block, which a stream
// declares the first time it sends the block.
func (f *Fleet) BlockContainers() int { return f.perBlock }

// Encoding returns block b's samples for a stream whose list holds the
// block's containers from index off on. It is encoded on first use and
// kept: a stream that owns the same blocks in the same order gets the
// same offsets, so later streams find it ready.
func (f *Fleet) Encoding(b, off int) *Encoding {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := [2]int{b, off}
	e := f.encs[key]
	if e == nil {
		e = &Encoding{block: b, offset: off}
		for v := range variants {
			e.tmpl[v] = f.encode(f.blocks[b].vals[v], off)
		}
		f.encs[key] = e
	}
	return e
}

// encode builds a template of samples vals, the first container's at
// index off. Zero container indexes are left out, as proto.Marshal does.
func (f *Fleet) encode(vals []value, off int) template {
	var t template
	var s []byte
	for j, v := range vals {
		c := off + j/f.perContainer
		s = s[:0]
		if c != 0 {
			s = protowire.AppendTag(s, 1, protowire.VarintType)
			s = protowire.AppendVarint(s, uint64(c))
		}
		s = protowire.AppendTag(s, 2, protowire.VarintType)
		at := len(s)
		s = put6(s, minVarint6)
		s = protowire.AppendTag(s, 3, protowire.Fixed64Type)
		s = protowire.AppendFixed64(s, math.Float64bits(v.cpu))
		s = protowire.AppendTag(s, 4, protowire.VarintType)
		s = protowire.AppendVarint(s, uint64(v.mem))
		t.b = protowire.AppendTag(t.b, 2, protowire.BytesType)
		t.b = protowire.AppendVarint(t.b, uint64(len(s)))
		t.times = append(t.times, timeSlot{off: int32(len(t.b) + at), dm: int32(j % f.perContainer)})
		t.b = append(t.b, s...)
	}
	return t
}

// put6 appends v, in [2^35, 2^42), as a 6-byte varint.
func put6(b []byte, v int64) []byte {
	return append(b, byte(v)|0x80, byte(v>>7)|0x80, byte(v>>14)|0x80, byte(v>>21)|0x80, byte(v>>28)|0x80, byte(v>>35))
}

// Next returns the next batch of e's block, with the block's container
// refs first if declare, and advances the block's clock by
// SamplesPerContainer minutes. Calls for one block must not overlap.
func (f *Fleet) Next(e *Encoding, declare bool) *frame {
	bl := &f.blocks[e.block]
	fr := &frame{
		t:    &e.tmpl[(bl.minute/int64(f.perContainer))%variants],
		base: min(f.base+bl.minute*minuteMs, f.limit), limit: f.limit,
		samples: f.perBlock * f.perContainer,
	}
	if declare {
		fr.refs = bl.refs
	}
	bl.minute += int64(f.perContainer)
	return fr
}

// size returns the encoded length of the frame.
func (fr *frame) size() int { return len(fr.refs) + len(fr.t.b) }

// stamp writes the frame's encoding, with its times, into dst, which has
// size() bytes.
func (fr *frame) stamp(dst []byte) {
	n := copy(dst, fr.refs)
	dst = dst[n:]
	copy(dst, fr.t.b)
	for _, s := range fr.t.times {
		put6(dst[s.off:s.off], min(fr.base+int64(s.dm)*minuteMs, fr.limit))
	}
}

// Probe returns a batch that creates workload name in ProbeNamespace,
// declares its container, which is at index in the stream's list, and
// gives it n samples, one minute apart, the last a minute before now.
func (f *Fleet) Probe(name string, n int, now time.Time, index uint32) *rightsizerv1.IngestUsageRequest {
	req := &rightsizerv1.IngestUsageRequest{
		Containers: []*rightsizerv1.ContainerRef{containerRef(ProbeNamespace, name)},
		Workloads:  []*rightsizerv1.Workload{workload(ProbeNamespace, name, 0, f.cpu[0], f.mem[0])},
	}
	for j := range n {
		req.Samples = append(req.Samples, &rightsizerv1.UsageSample{
			ContainerIndex: index,
			TimeUnixMillis: now.Add(time.Duration(j-n) * time.Minute).UnixMilli(),
			CpuCores:       proto.Float64(f.cpu[0]),
			MemoryBytes:    proto.Int64(int64(f.mem[0])),
		})
	}
	return req
}
