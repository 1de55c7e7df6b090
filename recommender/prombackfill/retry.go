package prombackfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/api"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"
)

// guardedClient decorates an api.Client with what keeps the backfill
// gentle on Prometheus: a rate limit, a timeout per attempt, and retries
// with exponential backoff on 429, 5xx and network errors. It works on
// HTTP answers, below the v1 API, where status codes and Retry-After are
// still visible. Safe for concurrent use.
type guardedClient struct {
	next       api.Client
	limiter    *rate.Limiter
	clock      clock.Clock
	timeout    time.Duration // per attempt
	retries    int
	backoff    time.Duration
	maxBackoff time.Duration
	log        *slog.Logger
	requests   *prometheus.CounterVec // by code
	retried    prometheus.Counter
}

var _ api.Client = (*guardedClient)(nil)

// URL implements api.Client.
func (c *guardedClient) URL(ep string, args map[string]string) *url.URL { return c.next.URL(ep, args) }

// Do implements api.Client: it sends req, retrying as described on
// guardedClient. The body of a POST is replayed through req.GetBody.
func (c *guardedClient) Do(ctx context.Context, req *http.Request) (*http.Response, []byte, error) {
	for attempt := 0; ; attempt++ {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, nil, err
		}
		r := req
		if attempt > 0 {
			r = req.Clone(ctx)
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, nil, fmt.Errorf("replay request body: %w", err)
				}
				r.Body = body
			}
		}
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		resp, body, err := c.next.Do(actx, r)
		timedOut := err != nil && actx.Err() != nil && ctx.Err() == nil
		cancel()
		c.requests.WithLabelValues(codeOf(resp, err)).Inc()
		wait, retry := c.retryAfter(ctx, resp, body, err, timedOut, attempt)
		if !retry {
			switch {
			case timedOut:
				err = fmt.Errorf("no answer within %v: %w", c.timeout, err)
			case err == nil && resp.StatusCode >= 500 && serverTimeout(body):
				// The v1 API would report only "server error: 503".
				err = errors.New("prometheus timed out evaluating the query: lower Window or MaxSeriesPerQuery")
			}
			return resp, body, err
		}
		c.retried.Inc()
		c.log.Debug("prometheus request retried", "path", req.URL.Path, "attempt", attempt+1, "code", codeOf(resp, err), "wait", wait, "err", err)
		t := c.clock.NewTimer(wait)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		}
	}
}

// retryAfter says whether to retry, and after how long.
func (c *guardedClient) retryAfter(ctx context.Context, resp *http.Response, body []byte, err error, timedOut bool, attempt int) (time.Duration, bool) {
	if attempt >= c.retries || ctx.Err() != nil {
		return 0, false
	}
	switch {
	case timedOut:
		// Prometheus abandons the query at the same timeout: asking again
		// would only cost it the same work.
		return 0, false
	case err != nil:
		// A network error; the v1 API never errs at this layer otherwise.
	case resp.StatusCode == http.StatusTooManyRequests:
	case resp.StatusCode >= 500:
		if serverTimeout(body) {
			return 0, false
		}
	default:
		return 0, false
	}
	// Full jitter over the upper half, so that concurrent workers spread.
	d := min(c.backoff<<attempt, c.maxBackoff)
	d = d/2 + rand.N(d/2+1)
	if resp != nil {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			d = min(max(d, time.Duration(s)*time.Second), c.maxBackoff)
		}
	}
	return d, true
}

// serverTimeout reports whether an error answer is Prometheus saying the
// query ran out of time ({"errorType":"timeout"}, with 503).
func serverTimeout(body []byte) bool {
	var r struct {
		ErrorType string `json:"errorType"`
	}
	return json.Unmarshal(body, &r) == nil && r.ErrorType == "timeout"
}

// codeOf is the metric label of an answer: its status code, or "error".
func codeOf(resp *http.Response, err error) string {
	if resp != nil {
		return strconv.Itoa(resp.StatusCode)
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	return "error"
}
