package apiload

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
)

var fleetNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fleetConfig(workloads, batch, perContainer int) Config {
	c := DefaultConfig()
	c.Workloads, c.BatchSize, c.SamplesPerContainer = workloads, batch, perContainer
	return c
}

// decode returns the message a frame sends.
func decode(t *testing.T, fr *frame) *rightsizerv1.IngestUsageRequest {
	t.Helper()
	b := make([]byte, fr.size())
	fr.stamp(b)
	var req rightsizerv1.IngestUsageRequest
	require.NoError(t, proto.Unmarshal(b, &req))
	return &req
}

// A block's batch, with or without its refs and wherever its containers
// sit in the stream's list, is what the encoding says: the block's
// containers, declared only when asked, each sample at its container's
// index and minute.
func TestFleetEncoding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                           string
		workloads, batch, perContainer int
		block, offset                  int
	}{
		{"first block at the list's start", 40, 10, 1, 0, 0},
		{"later block at the list's start", 40, 10, 1, 3, 0},
		{"block further down the list", 40, 10, 1, 2, 20},
		{"indexes cross into two-byte varints", 400, 100, 1, 1, 100},
		{"indexes in three-byte varints", 40, 10, 1, 0, 99_990},
		{"several minutes per container", 40, 12, 3, 1, 4},
	} {
		for _, declare := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, declare %v", tc.name, declare), func(t *testing.T) {
				t.Parallel()
				f, err := NewFleet(fleetConfig(tc.workloads, tc.batch, tc.perContainer), fleetNow)
				require.NoError(t, err)
				per := tc.batch / tc.perContainer
				require.Equal(t, tc.workloads/per, f.Blocks())
				require.Equal(t, per, f.BlockContainers())
				require.Equal(t, tc.batch, f.BatchSamples())
				e := f.Encoding(tc.block, tc.offset)
				require.Same(t, e, f.Encoding(tc.block, tc.offset), "kept")
				require.NotSame(t, e, f.Encoding(tc.block, tc.offset+1))

				fr := f.Next(e, declare)
				req := decode(t, fr)
				require.Equal(t, tc.batch, fr.samples)
				require.Len(t, req.Samples, tc.batch)
				if declare {
					require.Len(t, req.Containers, per)
					for c, ref := range req.Containers {
						require.Equal(t, Namespace, ref.GetWorkload().GetNamespace())
						require.Equal(t, Kind, ref.GetWorkload().GetKind())
						require.Equal(t, WorkloadName(tc.block*per+c), ref.GetWorkload().GetName())
						require.Equal(t, Container, ref.GetContainer())
					}
				} else {
					require.Empty(t, req.Containers)
				}
				start := fleetNow.Add(-History).UnixMilli()
				for j, s := range req.Samples {
					require.Equal(t, uint32(tc.offset+j/tc.perContainer), s.GetContainerIndex(), "sample %d", j)
					require.Equal(t, start+int64(j%tc.perContainer)*minuteMs, s.GetTimeUnixMillis(), "sample %d", j)
					require.NotNil(t, s.CpuCores)
					require.NotNil(t, s.MemoryBytes)
					require.Greater(t, s.GetCpuCores(), 0.0)
					require.Positive(t, s.GetMemoryBytes())
				}

				// Byte for byte what proto.Marshal writes for the same
				// message, so a server sees nothing unusual.
				b := make([]byte, fr.size())
				fr.stamp(b)
				want, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
				require.NoError(t, err)
				require.Equal(t, want, b)
			})
		}
	}
}

// Two encodings of a block differ only in their indexes: the values and
// the clock are the block's.
func TestFleetEncodingsShareValuesAndClock(t *testing.T) {
	t.Parallel()
	f, err := NewFleet(fleetConfig(20, 10, 2), fleetNow)
	require.NoError(t, err)
	a, b := decode(t, f.Next(f.Encoding(1, 0), true)), decode(t, f.Next(f.Encoding(1, 300), false))
	require.Len(t, b.Samples, len(a.Samples))
	for j := range a.Samples {
		require.Equal(t, a.Samples[j].GetContainerIndex()+300, b.Samples[j].GetContainerIndex())
		require.Equal(t, a.Samples[j].GetTimeUnixMillis()+2*minuteMs, b.Samples[j].GetTimeUnixMillis(), "the clock is the block's")
	}
	for range variants - 1 {
		b = decode(t, f.Next(f.Encoding(1, 300), false))
	}
	require.Equal(t, a.Samples[3].GetCpuCores(), b.Samples[3].GetCpuCores(), "variants cycle")
	require.Equal(t, a.Samples[3].GetMemoryBytes(), b.Samples[3].GetMemoryBytes())
}

func TestFleetClockStopsAtNow(t *testing.T) {
	t.Parallel()
	f, err := NewFleet(fleetConfig(2, 2, 1), fleetNow)
	require.NoError(t, err)
	f.blocks[0].minute = int64(History/time.Minute) - 1
	var times []int64
	for range 3 {
		times = append(times, decode(t, f.Next(f.Encoding(0, 0), false)).Samples[0].GetTimeUnixMillis())
	}
	now := fleetNow.UnixMilli()
	require.Equal(t, []int64{now - minuteMs, now, now}, times)
}

func TestFleetDeterministic(t *testing.T) {
	t.Parallel()
	a, err := NewFleet(fleetConfig(20, 10, 1), fleetNow)
	require.NoError(t, err)
	b, err := NewFleet(fleetConfig(20, 10, 1), fleetNow)
	require.NoError(t, err)
	c := fleetConfig(20, 10, 1)
	c.Seed = 2
	other, err := NewFleet(c, fleetNow)
	require.NoError(t, err)
	require.Equal(t, a.blocks, b.blocks)
	require.NotEqual(t, a.blocks, other.blocks)
	require.Equal(t, a.Encoding(1, 7), b.Encoding(1, 7))
}

func TestNewFleetErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		now  time.Time
	}{
		{"batch not whole containers", fleetConfig(10, 10, 3), fleetNow},
		{"blocks not whole", fleetConfig(15, 10, 1), fleetNow},
		{"no workloads", fleetConfig(0, 10, 1), fleetNow},
		{"time before 1971", fleetConfig(10, 10, 1), time.Date(1970, 6, 1, 0, 0, 0, 0, time.UTC)},
		{"time after 2109", fleetConfig(10, 10, 1), time.Date(2110, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewFleet(tc.cfg, tc.now)
			require.Error(t, err)
		})
	}
}

func TestPut6(t *testing.T) {
	t.Parallel()
	for _, v := range []int64{minVarint6, fleetNow.UnixMilli(), maxVarint6 - 1, 1 << 40} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			t.Parallel()
			b := put6(nil, v)
			require.Len(t, b, 6)
			got, n := protowire.ConsumeVarint(b)
			require.Equal(t, 6, n)
			require.Equal(t, uint64(v), got)
			require.Equal(t, protowire.AppendVarint(nil, uint64(v)), b, "minimal encoding")
		})
	}
}

func TestFleetInventory(t *testing.T) {
	t.Parallel()
	f, err := NewFleet(fleetConfig(25, 10, 2), fleetNow)
	require.NoError(t, err)
	inv := f.Inventory()
	require.Len(t, inv, 3)
	n := 0
	for _, req := range inv {
		require.LessOrEqual(t, len(req.Workloads), 10)
		for _, w := range req.Workloads {
			require.Equal(t, WorkloadName(n), w.GetWorkload().GetName())
			require.Equal(t, fmt.Sprintf("t%02d", n%teams), w.GetLabels()["team"])
			require.Len(t, w.GetContainers(), 1)
			spec := w.GetContainers()[0]
			require.Equal(t, Container, spec.GetName())
			require.Positive(t, spec.GetRequests().GetCpuMillicores())
			require.Positive(t, spec.GetRequests().GetMemoryBytes())
			n++
		}
	}
	require.Equal(t, 25, n)
}

func TestFleetProbe(t *testing.T) {
	t.Parallel()
	f, err := NewFleet(fleetConfig(10, 10, 1), fleetNow)
	require.NoError(t, err)
	req := f.Probe("p1", 3, fleetNow, 42)
	require.Equal(t, ProbeNamespace, req.Workloads[0].GetWorkload().GetNamespace())
	require.Len(t, req.Containers, 1, "declares its one container")
	require.Equal(t, "p1", req.Containers[0].GetWorkload().GetName())
	require.Len(t, req.Samples, 3)
	for j, s := range req.Samples {
		require.Equal(t, uint32(42), s.GetContainerIndex(), "the container's place in the stream's list")
		require.Equal(t, fleetNow.Add(time.Duration(j-3)*time.Minute).UnixMilli(), s.GetTimeUnixMillis())
	}
}
