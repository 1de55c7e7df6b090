package api

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rightsizer/rightsizer/api/pbconv"

	"google.golang.org/protobuf/types/known/timestamppb"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
	"github.com/rightsizer/rightsizer/recommender"
)

// changelog is the server's retained stream of recommendation changes.
// One engine subscription feeds it; every watcher reads it from its own
// position, so that a watcher that reconnects with the resume token of
// the last event it saw misses nothing still retained, and a slow watcher
// never slows the engine or the others.
//
// Events are numbered from 1 in order; a resume token is
// "<epoch>.<sequence>", the epoch naming this server process so that a
// token from a previous process is refused rather than misread.
//
// Concurrency: mu guards everything below it; wake is closed (and
// replaced) whenever events are appended, so watchers wait on it without
// holding mu.
type changelog struct {
	epoch     string
	retention time.Duration
	maxEvents int
	now       func() time.Time

	mu     sync.Mutex
	events []logEvent // oldest first, at most maxEvents
	next   uint64     // sequence of the next event
	wake   chan struct{}
}

type logEvent struct {
	seq  uint64
	at   time.Time
	key  recommender.WorkloadKey
	resp *rightsizerv1.WatchRecommendationsResponse // shared read-only by watchers
}

func newChangelog(epoch string, retention time.Duration, maxEvents int, now func() time.Time) *changelog {
	return &changelog{epoch: epoch, retention: retention, maxEvents: maxEvents, now: now, next: 1, wake: make(chan struct{})}
}

// head returns the token of the current position: a watch from it sees
// the next event appended and everything after.
func (l *changelog) head() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.token(l.next - 1)
}

func (l *changelog) token(seq uint64) string { return l.epoch + "." + strconv.FormatUint(seq, 10) }

// append records one engine change.
func (l *changelog) append(c *recommender.Change) {
	at := l.now()
	resp := &rightsizerv1.WatchRecommendationsResponse{
		Type:           rightsizerv1.RecommendationEventType_RECOMMENDATION_EVENT_TYPE_CHANGED,
		Workload:       pbconv.WorkloadRef(c.Recommendation.WorkloadKey),
		Recommendation: containerRecommendation(&c.Recommendation),
		EventTime:      timestamppb.New(at),
	}
	if c.New {
		resp.Type = rightsizerv1.RecommendationEventType_RECOMMENDATION_EVENT_TYPE_ADDED
	} else {
		resp.Previous = previousRequirements(&c.Previous)
	}
	l.mu.Lock()
	seq := l.next
	l.next++
	resp.ResumeToken = l.token(seq)
	l.events = append(l.events, logEvent{seq: seq, at: at, key: c.Recommendation.WorkloadKey, resp: resp})
	drop := 0
	cutoff := at.Add(-l.retention)
	for drop < len(l.events) && (len(l.events)-drop > l.maxEvents || l.events[drop].at.Before(cutoff)) {
		drop++
	}
	if drop > 0 {
		// Copy down rather than reslice, so the array does not grow forever.
		n := copy(l.events, l.events[drop:])
		clear(l.events[n:])
		l.events = l.events[:n]
	}
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
}

// parse turns a resume token into the last sequence seen. An empty token
// means "from now".
func (l *changelog) parse(token string) (uint64, error) {
	if token == "" {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.next - 1, nil
	}
	epoch, seq, ok := strings.Cut(token, ".")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil || epoch == "" {
		return 0, fmt.Errorf("%w: resume_token %.40q is malformed", errInvalidToken, token)
	}
	if epoch != l.epoch {
		return 0, fmt.Errorf("%w: it comes from another server process", errResumeExpired)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n >= l.next {
		return 0, fmt.Errorf("%w: resume_token %.40q is ahead of the stream", errInvalidToken, token)
	}
	return n, nil
}

// since returns the events after seq and a channel that is closed when
// more arrive. errResumeExpired if events after seq were already dropped.
func (l *changelog) since(seq uint64) ([]logEvent, <-chan struct{}, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq+1 < l.next && (len(l.events) == 0 || l.events[0].seq > seq+1) {
		return nil, nil, fmt.Errorf("%w: events after %d are no longer retained", errResumeExpired, seq)
	}
	i := 0
	if len(l.events) > 0 {
		i = int(seq + 1 - l.events[0].seq)
	}
	// A copy: append moves events down the array as it drops old ones.
	return slices.Clone(l.events[i:]), l.wake, nil
}

// pump feeds the changelog from an engine subscription until ctx is done.
func (l *changelog) pump(ctx context.Context, e Engine, threshold float64) {
	for c := range e.Subscribe(ctx, recommender.SubscribeOptions{Threshold: threshold, IncludeNew: true, Buffer: 1024}) {
		l.append(&c)
	}
}

// watch streams the events after token that match f to send, until ctx is
// done, stop is closed (errShuttingDown) or send fails. It calls started
// once its position is fixed: from then on it misses nothing.
func (l *changelog) watch(ctx context.Context, stop <-chan struct{}, token string, f *keyFilter, started func() error, send func(*rightsizerv1.WatchRecommendationsResponse) error) error {
	seq, err := l.parse(token)
	if err != nil {
		return err
	}
	if err := started(); err != nil {
		return err
	}
	for {
		evs, wake, err := l.since(seq)
		if err != nil {
			return err
		}
		for i := range evs {
			ev := &evs[i]
			seq = ev.seq
			if !f.match(&ev.key) {
				continue
			}
			if err := send(ev.resp); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return errShuttingDown
		case <-wake:
		}
	}
}
