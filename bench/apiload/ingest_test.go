package apiload

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
)

// fakeClient is an IngestUsage client stream that encodes each message
// with the frame codec, decodes it and hands it to a fakeServer, as a
// connection would, keeping the stream's list of containers.
type fakeClient struct {
	grpc.ClientStream // nil: only the methods below are called

	f       *fakeServer
	codec   frameCodec
	list    streamList
	resp    rightsizerv1.IngestUsageResponse
	batches []*rightsizerv1.IngestUsageRequest
}

func newFakeClient(f *fakeServer) *fakeClient { return &fakeClient{f: f, codec: newFrameCodec()} }

func (c *fakeClient) Send(req *rightsizerv1.IngestUsageRequest) error { return c.SendMsg(req) }

func (c *fakeClient) SendMsg(m any) error {
	out, err := c.codec.Marshal(m)
	if err != nil {
		return err
	}
	defer out.Free()
	var req rightsizerv1.IngestUsageRequest
	if err := c.codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(out.Materialize())}, &req); err != nil {
		return err
	}
	c.batches = append(c.batches, &req)
	c.f.ingest(&req, &c.list, &c.resp, int64(len(c.batches)-1))
	return nil
}

func (c *fakeClient) CloseAndRecv() (*rightsizerv1.IngestUsageResponse, error) { return &c.resp, nil }

var _ ingestClient = (*fakeClient)(nil)

// Streams that share out the fleet (or own it all, as the background
// stream does) declare each of their containers once, in the first batch
// of its block, and index their own list of containers thereafter; the
// fleet's clocks run on from one stream to the next.
func TestIngestStreamsDeclareOnce(t *testing.T) {
	t.Parallel()
	type phase struct{ streams, passes int }
	for _, tc := range []struct {
		name                           string
		workloads, batch, perContainer int
		phases                         []phase
	}{
		{"two streams, then one owning all", 60, 10, 1, []phase{{2, 3}, {2, 2}, {1, 2}}},
		{"odd share", 50, 10, 1, []phase{{3, 2}}},
		{"several minutes per container", 40, 12, 3, []phase{{2, 2}, {1, 1}}},
		{"lists past 127 containers", 400, 100, 1, []phase{{1, 2}, {2, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeServer()
			f, err := NewFleet(fleetConfig(tc.workloads, tc.batch, tc.perContainer), fleetNow)
			require.NoError(t, err)
			per := f.BlockContainers()
			var sent int64
			for _, ph := range tc.phases {
				for s := range ph.streams {
					owned := ownedBlocks(f.Blocks(), s, ph.streams)
					c := newFakeClient(srv)
					g := newIngestStream(c, f, owned, MaxStreamContainers)
					for range ph.passes * len(owned) {
						require.NoError(t, g.sendBatch())
					}
					n, err := g.close()
					require.NoError(t, err)
					require.Equal(t, int64(ph.passes*len(owned)*tc.batch), n)
					sent += n

					require.Equal(t, len(owned)*per, g.containers)
					require.Len(t, c.list.refs, len(owned)*per, "every container declared once")
					for i, req := range c.batches {
						k := i % len(owned)
						if i >= len(owned) {
							require.Empty(t, req.Containers, "batch %d repeats no refs", i)
						} else {
							require.Len(t, req.Containers, per, "batch %d declares its block", i)
						}
						for j, smp := range req.Samples {
							ref, err := c.list.ref(smp.GetContainerIndex())
							require.NoError(t, err)
							require.Equal(t, WorkloadName(owned[k]*per+j/tc.perContainer), ref.GetWorkload().GetName(),
								"sample %d of batch %d", j, i)
						}
					}
				}
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			require.Empty(t, srv.violations, "in time order, none declared twice on a stream")
			require.Equal(t, sent, srv.accepted)
			require.Len(t, srv.last, tc.workloads)
		})
	}
}

// A stream that would declare more containers than it may sends nothing
// more and says so; a server that rejects them fails the stream's close.
func TestIngestStreamFull(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		limit, server int // the stream's and the fake's
		wantErr       error
		wantText      string
	}{
		{"client stops at its limit", 25, MaxStreamContainers, errStreamFull, "block 2"},
		{"server rejects the containers", MaxStreamContainers, 25, nil,
			"server rejected 5 samples and 0 workloads, first: container 5 of batch 2: the stream already declared 25 containers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeServer()
			srv.maxContainers = tc.server
			f, err := NewFleet(fleetConfig(40, 10, 1), fleetNow)
			require.NoError(t, err)
			c := newFakeClient(srv)
			g := newIngestStream(c, f, ownedBlocks(4, 0, 1), tc.limit)
			require.NoError(t, g.sendBatch())
			require.NoError(t, g.sendBatch())
			err = g.sendBatch()
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.ErrorContains(t, err, tc.wantText)
				require.Len(t, c.batches, 2, "nothing sent")
				require.Equal(t, 20, g.containers)
				return
			}
			require.NoError(t, err)
			_, err = g.close()
			require.ErrorContains(t, err, tc.wantText)
		})
	}
}

// The fake rejects a sample whose index is beyond its stream's list, even
// where another stream's list, or a later batch's, would hold it.
func TestFakeRejectsIndexBeyondList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		send func(f *Fleet, g *ingestStream) error
		want string
	}{
		{"samples before their refs", func(f *Fleet, g *ingestStream) error {
			return g.sendMsg(f.Next(f.Encoding(0, 0), false))
		}, "sample 0 of batch 0: container_index 0 beyond the stream's 0 containers"},
		{"offset past the list", func(f *Fleet, g *ingestStream) error {
			if err := g.sendMsg(f.Next(f.Encoding(0, 0), true)); err != nil {
				return err
			}
			return g.sendMsg(f.Next(f.Encoding(1, 15), true))
		}, "rejected 5 samples and 0 workloads, first: sample 5 of batch 1: container_index 20 beyond the stream's 20 containers"},
		{"probe past the list", func(f *Fleet, g *ingestStream) error {
			return g.send(f.Probe("p", 1, fleetNow, 1))
		}, "sample 0 of batch 0: container_index 1 beyond the stream's 1 containers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := NewFleet(fleetConfig(20, 10, 1), fleetNow)
			require.NoError(t, err)
			g := newIngestStream(newFakeClient(newFakeServer()), f, nil, MaxStreamContainers)
			require.NoError(t, tc.send(f, g))
			_, err = g.close()
			require.ErrorContains(t, err, tc.want)
		})
	}
}
