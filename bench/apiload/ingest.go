package apiload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
)

type ingestClient = grpc.ClientStreamingClient[rightsizerv1.IngestUsageRequest, rightsizerv1.IngestUsageResponse]

// ingestStream is one IngestUsage stream. It sends the batches of the
// blocks it owns round robin; no other stream sends them meanwhile, so each
// container's samples arrive in time order. The first batch of each block
// declares the block's containers, appending them to the stream's list
// of containers; later ones carry samples only. Not safe for concurrent
// use.
type ingestStream struct {
	s          ingestClient
	fleet      *Fleet
	blocks     []int
	encs       []*Encoding // per owned block, once declared
	next       int
	containers int   // in the stream's list
	limit      int   // containers the stream may declare
	samples    int64 // samples sent
	items      int64 // workloads sent
}

// openIngest opens a stream on conn that owns blocks of the fleet.
func (r *runner) openIngest(ctx context.Context, conn *grpc.ClientConn, blocks []int) (*ingestStream, error) {
	s, err := rightsizerv1.NewUsageServiceClient(conn).IngestUsage(ctx, grpc.ForceCodecV2(r.codec))
	if err != nil {
		return nil, fmt.Errorf("open ingest stream: %w", err)
	}
	return newIngestStream(s, r.fleet, blocks, r.streamContainers), nil
}

// newIngestStream returns a stream on s that owns blocks and may declare
// limit containers.
func newIngestStream(s ingestClient, fleet *Fleet, blocks []int, limit int) *ingestStream {
	return &ingestStream{s: s, fleet: fleet, blocks: blocks, encs: make([]*Encoding, len(blocks)), limit: limit}
}

// errStreamFull is an attempt to declare more containers than a stream
// may.
var errStreamFull = errors.New("stream's list of containers is full")

// room reports whether the stream may declare n more containers.
func (g *ingestStream) room(n int) bool { return g.containers+n <= g.limit }

// sendBatch sends the next block's next batch, declaring the block's
// containers if the stream has not yet.
func (g *ingestStream) sendBatch() error {
	k := g.next
	e, declare := g.encs[k], g.encs[k] == nil
	if declare {
		if !g.room(g.fleet.BlockContainers()) {
			return fmt.Errorf("ingest: block %d: %w", g.blocks[k], errStreamFull)
		}
		e = g.fleet.Encoding(g.blocks[k], g.containers)
	}
	fr := g.fleet.Next(e, declare)
	g.next = (g.next + 1) % len(g.blocks)
	if err := g.sendMsg(fr); err != nil {
		return err
	}
	if declare {
		g.encs[k] = e
		g.containers += g.fleet.BlockContainers()
	}
	g.samples += int64(fr.samples)
	return nil
}

// send sends a message built by hand (inventory, probes), whose samples
// index the stream's list as it will be with the message's containers.
func (g *ingestStream) send(req *rightsizerv1.IngestUsageRequest) error {
	if !g.room(len(req.Containers)) {
		return fmt.Errorf("ingest: %w", errStreamFull)
	}
	if err := g.sendMsg(req); err != nil {
		return err
	}
	g.containers += len(req.Containers)
	g.samples += int64(len(req.Samples))
	g.items += int64(len(req.Workloads))
	return nil
}

func (g *ingestStream) sendMsg(m any) error {
	err := g.s.SendMsg(m)
	if errors.Is(err, io.EOF) {
		// The server ended the stream; its status says why.
		_, err = g.s.CloseAndRecv()
	}
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	return nil
}

// close ends the stream and checks that the server accepted everything
// sent. It returns the samples accepted.
func (g *ingestStream) close() (int64, error) {
	resp, err := g.s.CloseAndRecv()
	if err != nil {
		return 0, fmt.Errorf("ingest: close: %w", err)
	}
	if n := resp.GetRejectedSamples() + resp.GetRejectedWorkloads() + resp.GetRejectedOomEvents(); n > 0 || len(resp.GetRejections()) > 0 {
		why := ""
		if rs := resp.GetRejections(); len(rs) > 0 {
			why = fmt.Sprintf(", first: %s %d of batch %d: %s", rs[0].GetItem(), rs[0].GetItemIndex(), rs[0].GetBatchIndex(), rs[0].GetReason())
		}
		return resp.GetAcceptedSamples(), fmt.Errorf("ingest: server rejected %d samples and %d workloads%s",
			resp.GetRejectedSamples(), resp.GetRejectedWorkloads(), why)
	}
	if resp.GetAcceptedSamples() != g.samples || resp.GetAcceptedWorkloads() != g.items {
		return resp.GetAcceptedSamples(), fmt.Errorf("ingest: server accepted %d samples and %d workloads of %d and %d sent",
			resp.GetAcceptedSamples(), resp.GetAcceptedWorkloads(), g.samples, g.items)
	}
	return resp.GetAcceptedSamples(), nil
}

// ownedBlocks returns the blocks stream s of n owns: every n-th.
func ownedBlocks(blocks, s, n int) []int {
	var out []int
	for b := s; b < blocks; b += n {
		out = append(out, b)
	}
	return out
}

// streams opens one stream per ingest connection, each owning its share
// of the blocks, runs fn on each concurrently, closes them and returns the
// samples the server accepted.
func (r *runner) streams(ctx context.Context, fn func(g *ingestStream) error) (int64, error) {
	accepted := make([]int64, len(r.ingestConns))
	eg, ctx := errgroup.WithContext(ctx)
	for i, conn := range r.ingestConns {
		eg.Go(func() error {
			g, err := r.openIngest(ctx, conn, ownedBlocks(r.fleet.Blocks(), i, len(r.ingestConns)))
			if err != nil {
				return err
			}
			if err := fn(g); err != nil {
				return err
			}
			accepted[i], err = g.close()
			return err
		})
	}
	err := eg.Wait()
	var sum int64
	for _, a := range accepted {
		sum += a
	}
	r.accepted += sum
	return sum, err
}

// setup upserts the fleet, then sends SetupSamples per container.
func (r *runner) setup(ctx context.Context) error {
	g, err := r.openIngest(ctx, r.ingestConns[0], nil)
	if err != nil {
		return err
	}
	for _, req := range r.fleet.Inventory() {
		if err := g.send(req); err != nil {
			return fmt.Errorf("upsert workloads: %w", err)
		}
	}
	if _, err := g.close(); err != nil {
		return fmt.Errorf("upsert workloads: %w", err)
	}
	passes := r.cfg.SetupSamples / r.cfg.SamplesPerContainer
	_, err = r.streams(ctx, func(g *ingestStream) error {
		for range passes * len(g.blocks) {
			if err := g.sendBatch(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("setup samples: %w", err)
	}
	return nil
}

// ingestRun is one timed throughput run.
type ingestRun struct {
	samplesPerSec            float64
	serverCPUNs, clientCPUNs float64 // per sample; server's zero when unknown
}

// ingestRun sends as fast as the server takes batches, on every ingest
// stream, for IngestDuration.
func (r *runner) ingestRun(ctx context.Context) (ingestRun, error) {
	var run ingestRun
	server0, serverErr := r.serverCPU()
	client0 := selfCPU()
	start := time.Now()
	deadline := start.Add(r.cfg.IngestDuration)
	n, err := r.streams(ctx, func(g *ingestStream) error {
		for time.Now().Before(deadline) {
			if err := g.sendBatch(); err != nil {
				return err
			}
		}
		return nil
	})
	elapsed := time.Since(start)
	client1 := selfCPU()
	server1, serverErr1 := r.serverCPU()
	if err != nil {
		return run, err
	}
	if n == 0 {
		return run, errors.New("ingest: no samples accepted")
	}
	run.samplesPerSec = float64(n) / elapsed.Seconds()
	run.clientCPUNs = float64(client1-client0) / float64(n)
	if serverErr == nil && serverErr1 == nil {
		run.serverCPUNs = float64(server1-server0) / float64(n)
	}
	return run, nil
}

// startCPU starts measuring; the returned function returns the cores the
// server (zero if unknown) and this process used on average since.
func (r *runner) startCPU() func() (server, client float64) {
	s0, serr := r.serverCPU()
	c0 := selfCPU()
	start := time.Now()
	return func() (float64, float64) {
		s1, serr1 := r.serverCPU()
		c1 := selfCPU()
		el := time.Since(start).Seconds()
		if serr != nil || serr1 != nil {
			s0, s1 = 0, 0
		}
		return (s1 - s0).Seconds() / el, (c1 - c0).Seconds() / el
	}
}

func (r *runner) serverCPU() (time.Duration, error) {
	if r.target.PID <= 0 {
		return 0, errors.New("server process unknown")
	}
	return processCPU(r.target.PID)
}

// background keeps BackgroundRate samples/s flowing into the fleet on its
// own stream until the returned stop is called; stop returns the rate the
// server accepted. It owns every block: no other fleet stream may run
// until stop returns.
func (r *runner) background(ctx context.Context) (stop func() (float64, error), err error) {
	if r.cfg.BackgroundRate == 0 {
		return func() (float64, error) { return 0, nil }, nil
	}
	all := ownedBlocks(r.fleet.Blocks(), 0, 1)
	g, err := r.openIngest(ctx, r.bgConn, all)
	if err != nil {
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(ctx)
	done := make(chan LoopStats, 1)
	go func() {
		loop := OpenLoop{Rate: r.cfg.BackgroundRate / float64(r.fleet.BatchSamples()), Workers: 1}
		done <- loop.Run(loopCtx, func(context.Context, int) error { return g.sendBatch() })
	}()
	return func() (float64, error) {
		cancel()
		st := <-done
		n, err := g.close()
		r.accepted += n
		if err == nil && st.FirstErr != nil {
			err = fmt.Errorf("background %w", st.FirstErr)
		}
		if st.Elapsed <= 0 {
			return 0, err
		}
		return float64(n) / st.Elapsed.Seconds(), err
	}, nil
}
