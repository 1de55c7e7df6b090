// Package apitest runs a real rightsizer API server, gRPC only, on
// 127.0.0.1:0 for the tests of packages that talk to it (the node agent,
// its stream).
package apitest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rightsizer/rightsizer/api"
)

// Start serves o (o.Engine is required) until the test ends or stop is
// called, and returns the gRPC address. A zero o.ShutdownTimeout becomes
// 50 ms: an agent's idle ingest stream would otherwise hold a graceful
// stop for the default 10 s.
func Start(t testing.TB, o api.Options) (addr string, stop func()) {
	t.Helper()
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 50 * time.Millisecond
	}
	srv, err := api.New(o)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l, nil) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("API server: %v", err)
		}
	})
	t.Cleanup(stop)
	return l.Addr().String(), stop
}
