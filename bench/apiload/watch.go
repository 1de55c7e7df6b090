package apiload

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
)

var errLost = errors.New("no event within the probe timeout")

// watcher reads a WatchRecommendations stream and hands the receipt time
// of each probe container's ADDED event to whoever waits for it.
type watcher struct {
	mu      sync.Mutex
	waiting map[string]chan time.Time // by workload name

	dead chan struct{} // closed when the stream has ended
	err  error         // why, set before dead closes
}

func newWatcher() *watcher {
	return &watcher{waiting: map[string]chan time.Time{}, dead: make(chan struct{})}
}

func (w *watcher) read(s grpc.ServerStreamingClient[rightsizerv1.WatchRecommendationsResponse]) {
	defer close(w.dead)
	for {
		ev, err := s.Recv()
		if err != nil {
			w.err = err
			return
		}
		now := time.Now()
		if ev.GetType() != rightsizerv1.RecommendationEventType_RECOMMENDATION_EVENT_TYPE_ADDED ||
			ev.GetWorkload().GetNamespace() != ProbeNamespace || ev.GetRecommendation().GetContainer() != Container {
			continue
		}
		w.mu.Lock()
		ch := w.waiting[ev.GetWorkload().GetName()]
		w.mu.Unlock()
		if ch != nil {
			select {
			case ch <- now:
			default: // a duplicate event
			}
		}
	}
}

func (w *watcher) expect(name string) chan time.Time {
	ch := make(chan time.Time, 1)
	w.mu.Lock()
	w.waiting[name] = ch
	w.mu.Unlock()
	return ch
}

func (w *watcher) forget(name string) {
	w.mu.Lock()
	delete(w.waiting, name)
	w.mu.Unlock()
}

// prober sends probes on one stream and times their events. Each probe
// declares its new container on that stream, at the next index of the
// stream's list; when the list is full, the stream is closed and a fresh
// one takes over.
type prober struct {
	r        *runner
	w        *watcher
	ctx      context.Context // of the streams
	mu       sync.Mutex      // serialises sends
	g        *ingestStream
	accepted int64 // by streams already closed
	prefix   string
	timeout  time.Duration
}

// probe creates workload prefix+name with its first samples and returns
// the time from just before the send to its ADDED event.
func (p *prober) probe(ctx context.Context, name string) (time.Duration, error) {
	name = p.prefix + name
	ch := p.w.expect(name)
	defer p.w.forget(name)
	t0, err := p.send(name)
	if err != nil {
		return 0, err
	}
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	select {
	case t := <-ch:
		return t.Sub(t0), nil
	case <-timer.C:
		return 0, errLost
	case <-p.w.dead:
		return 0, fmt.Errorf("watch ended: %w", p.w.err)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// send sends the probe batch of workload name and returns the time just
// before.
func (p *prober) send(name string) (time.Time, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.g.room(1) {
		n, err := p.g.close()
		p.accepted += n
		if err != nil {
			return time.Time{}, err
		}
		if p.g, err = p.r.openIngest(p.ctx, p.r.watchConn, nil); err != nil {
			return time.Time{}, err
		}
	}
	req := p.r.fleet.Probe(name, p.r.cfg.ProbeSamples, time.Now(), uint32(p.g.containers))
	t0 := time.Now()
	return t0, p.g.send(req)
}

// close ends the current stream and returns the samples accepted on all.
func (p *prober) close() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, err := p.g.close()
	return p.accepted + n, err
}

// watch measures the lag from ingest to watch event, with background
// ingest.
func (r *runner) watch(ctx context.Context, res *Result) (err error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ws, err := rightsizerv1.NewRecommendationServiceClient(r.watchConn).WatchRecommendations(wctx,
		&rightsizerv1.WatchRecommendationsRequest{Namespace: ProbeNamespace})
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	w := newWatcher()
	go w.read(ws)
	defer func() {
		cancel()
		<-w.dead
	}()
	g, err := r.openIngest(wctx, r.watchConn, nil)
	if err != nil {
		return err
	}
	p := &prober{
		r: r, w: w, ctx: wctx, g: g, timeout: r.cfg.ProbeTimeout,
		// Unique per run, so that a server that outlives a run still sees
		// new containers.
		prefix: "p" + strconv.FormatInt(time.Now().UnixMilli(), 36) + "-",
	}

	// The watch may be live on the server only some time after the call
	// returns: probe until one is seen.
	ready := time.Now().Add(r.cfg.ReadyTimeout)
	for i := 0; ; i++ {
		_, err := p.probe(ctx, "warm-"+strconv.Itoa(i))
		if err == nil {
			break
		}
		if !errors.Is(err, errLost) || time.Now().After(ready) {
			return fmt.Errorf("watch: no event for a warm-up probe: %w", err)
		}
	}

	stop, err := r.background(ctx)
	if err != nil {
		return err
	}
	lags := make([]time.Duration, r.cfg.Probes)
	var lost atomic.Int64
	loop := OpenLoop{
		Rate: r.cfg.ProbeRate, Count: r.cfg.Probes, Poisson: true, Seed: r.cfg.Seed,
		// Enough that a probe waiting out its timeout does not hold back
		// the schedule.
		Workers: int(min(math.Ceil(r.cfg.ProbeRate*r.cfg.ProbeTimeout.Seconds())+4, 4096)),
	}
	st := loop.Run(ctx, func(ctx context.Context, i int) error {
		d, err := p.probe(ctx, strconv.Itoa(i))
		if errors.Is(err, errLost) {
			lost.Add(1)
		}
		lags[i] = d
		return err
	})
	bg, bgErr := stop()
	n, closeErr := p.close()
	r.accepted += n
	if err := errors.Join(bgErr, closeErr, ctx.Err()); err != nil {
		return err
	}
	if int64(st.Errors) > lost.Load() {
		return fmt.Errorf("watch probe: %w", st.FirstErr)
	}
	var seen []time.Duration
	for _, d := range lags[:st.Scheduled] {
		if d > 0 {
			seen = append(seen, d)
		}
	}
	s := Summarize(seen)
	res.WatchLagP50Ms, res.WatchLagP99Ms, res.WatchLagMaxMs = s.P50, s.P99, s.Max
	res.WatchProbes, res.WatchLost = st.Scheduled, int(lost.Load())
	res.WatchBackgroundSamplesPerSec = bg
	return nil
}
