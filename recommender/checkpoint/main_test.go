package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines. The helper processes started by
// the crash and lock tests run this same binary with a helperModeEnv
// environment variable; they go through TestMain too and run only
// TestCrashHelper.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// openTest opens path with NoSync and the given logger, and closes the store
// when the test ends.
func openTest(t testing.TB, path string, logger *slog.Logger) *Store {
	t.Helper()
	s, err := Open(path, Options{NoSync: true, Logger: logger})
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// loadAll loads every record of s, copied.
func loadAll(t testing.TB, s *Store) ([]Record, Meta, LoadStats) {
	t.Helper()
	var recs []Record
	meta, stats, err := s.Load(func(k, v []byte) error {
		recs = append(recs, Record{Key: bytes.Clone(k), Value: bytes.Clone(v)})
		return nil
	})
	require.NoError(t, err)
	require.Len(t, recs, stats.Records)
	return recs, meta, stats
}

// records builds n records "key-%05d" with values of size bytes derived
// from tag.
func records(n, size int, tag string) []Record {
	recs := make([]Record, n)
	for i := range recs {
		v := make([]byte, size)
		seed := fmt.Sprintf("%s/%d/", tag, i)
		for j := range v {
			v[j] = seed[j%len(seed)]
		}
		recs[i] = Record{Key: fmt.Appendf(nil, "key-%05d", i), Value: v}
	}
	return recs
}

// logCapture is a slog.Handler that keeps records, for asserting on
// warnings. It is safe for concurrent use.
type logCapture struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCapture) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logCapture) WithGroup(string) slog.Handler            { return h }
func (h *logCapture) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

// warnings returns the messages of the records at level Warn and above.
func (h *logCapture) warnings() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var msgs []string
	for _, r := range h.records {
		if r.Level >= slog.LevelWarn {
			msgs = append(msgs, r.Message)
		}
	}
	return msgs
}

// writeValidFile creates a checkpoint at path holding recs after one
// Replace, and returns the file's bytes.
func writeValidFile(t testing.TB, path string, header string, recs []Record) []byte {
	t.Helper()
	s, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, s.Replace(Meta{Header: []byte(header)}, recs))
	require.NoError(t, s.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// corruptFiles lists the files Open moved aside next to path.
func corruptFiles(t testing.TB, path string) []string {
	t.Helper()
	m, err := filepath.Glob(path + ".corrupt-*")
	require.NoError(t, err)
	return m
}
