package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"
)

func rec(k, v string) Record { return Record{Key: []byte(k), Value: []byte(v)} }

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	type op func(t *testing.T, s *Store)
	write := func(header string, puts []Record, deletes ...string) op {
		return func(t *testing.T, s *Store) {
			var dels [][]byte
			for _, d := range deletes {
				dels = append(dels, []byte(d))
			}
			require.NoError(t, s.Write(Meta{Header: []byte(header)}, puts, dels))
		}
	}
	replace := func(header string, all []Record) op {
		return func(t *testing.T, s *Store) {
			require.NoError(t, s.Replace(Meta{Header: []byte(header)}, all))
		}
	}
	tests := []struct {
		name       string
		ops        []op
		want       []Record
		header     string
		generation uint64
	}{
		{name: "empty store"},
		{
			name:       "write",
			ops:        []op{write("v1", []Record{rec("b", "2"), rec("a", "1"), rec("c", "3")})},
			want:       []Record{rec("a", "1"), rec("b", "2"), rec("c", "3")},
			header:     "v1",
			generation: 1,
		},
		{
			name: "deletes",
			ops: []op{
				write("v1", []Record{rec("a", "1"), rec("b", "2"), rec("c", "3")}),
				write("v2", []Record{rec("d", "4")}, "b", "missing"),
			},
			want:       []Record{rec("a", "1"), rec("c", "3"), rec("d", "4")},
			header:     "v2",
			generation: 2,
		},
		{
			name: "put wins over delete of the same key",
			ops: []op{
				write("", []Record{rec("a", "1")}),
				write("", []Record{rec("a", "2")}, "a"),
			},
			want:       []Record{rec("a", "2")},
			generation: 2,
		},
		{
			name:       "later duplicate wins",
			ops:        []op{write("", []Record{rec("a", "1"), rec("b", "x"), rec("a", "2")})},
			want:       []Record{rec("a", "2"), rec("b", "x")},
			generation: 1,
		},
		{
			name: "replace drops the old records",
			ops: []op{
				write("v1", []Record{rec("a", "1"), rec("b", "2")}),
				replace("v2", []Record{rec("d", "4"), rec("c", "3")}),
			},
			want:       []Record{rec("c", "3"), rec("d", "4")},
			header:     "v2",
			generation: 2,
		},
		{
			name: "replace with nothing",
			ops: []op{
				write("v1", []Record{rec("a", "1")}),
				replace("v1", nil),
			},
			header:     "v1",
			generation: 2,
		},
		{
			name:       "meta-only write",
			ops:        []op{write("hdr", nil)},
			header:     "hdr",
			generation: 1,
		},
		{
			name:       "empty and binary values",
			ops:        []op{write("", []Record{rec("empty", ""), {Key: []byte{0, 0xff}, Value: []byte{0, 1, 2}}})},
			want:       []Record{{Key: []byte{0, 0xff}, Value: []byte{0, 1, 2}}, rec("empty", "")},
			generation: 1,
		},
		{
			name:       "large records",
			ops:        []op{replace("big", records(2000, 1500, "big"))},
			want:       records(2000, 1500, "big"),
			header:     "big",
			generation: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "sub", "dir", "checkpoint.db") // parents created by Open
			clk := testingclock.NewFakePassiveClock(time.Date(2026, 3, 1, 12, 0, 0, 7, time.UTC))
			s, err := Open(path, Options{NoSync: true, Clock: clk})
			require.NoError(t, err)
			require.NoError(t, s.Recovered())
			for _, o := range tt.ops {
				o(t, s)
			}
			check := func(s *Store) {
				got, meta, stats := loadAll(t, s)
				require.Equal(t, normalise(tt.want), normalise(got))
				require.Zero(t, stats.Skipped)
				require.Equal(t, tt.generation, meta.Generation)
				require.Equal(t, FormatVersion, meta.FormatVersion)
				if tt.header == "" {
					require.Nil(t, meta.Header)
				} else {
					require.Equal(t, tt.header, string(meta.Header))
				}
				if tt.generation == 0 {
					require.True(t, meta.WrittenAt.IsZero())
				} else {
					require.Equal(t, clk.Now(), meta.WrittenAt)
				}
				alone, err := s.Meta()
				require.NoError(t, err)
				require.Equal(t, meta, alone)
			}
			check(s)
			require.NoError(t, s.Close())

			// The same again from disk.
			s = openTest(t, path, nil)
			require.NoError(t, s.Recovered())
			check(s)
			require.Empty(t, corruptFiles(t, path))
		})
	}
}

// normalise maps nil values to empty ones so that require.Equal compares
// contents.
func normalise(recs []Record) []Record {
	out := make([]Record, 0, len(recs))
	for _, r := range recs {
		if r.Value == nil {
			r.Value = []byte{}
		}
		out = append(out, r)
	}
	return out
}

func TestWrittenAtGiven(t *testing.T) {
	t.Parallel()
	s := openTest(t, filepath.Join(t.TempDir(), "c.db"), nil)
	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	require.NoError(t, s.Write(Meta{WrittenAt: at, Generation: 99, FormatVersion: 42}, nil, nil))
	m, err := s.Meta()
	require.NoError(t, err)
	require.True(t, at.Equal(m.WrittenAt))
	require.Equal(t, time.UTC, m.WrittenAt.Location())
	require.Equal(t, uint64(1), m.Generation, "Generation is output only")
	require.Equal(t, FormatVersion, m.FormatVersion, "FormatVersion is output only")
}

func TestWriteDoesNotRetain(t *testing.T) {
	t.Parallel()
	s := openTest(t, filepath.Join(t.TempDir(), "c.db"), nil)
	puts := []Record{rec("b", "bbb"), rec("a", "aaa")}
	dels := [][]byte{[]byte("z"), []byte("y")}
	header := []byte("hdr")
	require.NoError(t, s.Write(Meta{Header: header}, puts, dels))
	require.Equal(t, []Record{rec("b", "bbb"), rec("a", "aaa")}, puts, "caller's slice reordered")
	require.Equal(t, [][]byte{[]byte("z"), []byte("y")}, dels, "caller's slice reordered")
	for _, r := range puts {
		clear(r.Key)
		clear(r.Value)
	}
	clear(header)
	got, meta, _ := loadAll(t, s)
	require.Equal(t, []Record{rec("a", "aaa"), rec("b", "bbb")}, got)
	require.Equal(t, "hdr", string(meta.Header))
}

func TestInvalidRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rec  Record
	}{
		{name: "empty key", rec: Record{Value: []byte("v")}},
		{name: "key too large", rec: Record{Key: make([]byte, 32769), Value: []byte("v")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := openTest(t, filepath.Join(t.TempDir(), "c.db"), nil)
			for _, write := range []func() error{
				func() error { return s.Write(Meta{}, []Record{rec("ok", "1"), tt.rec}, nil) },
				func() error { return s.Replace(Meta{}, []Record{rec("ok", "1"), tt.rec}) },
			} {
				err := write()
				require.ErrorIs(t, err, ErrInvalidRecord)
				require.Contains(t, err.Error(), "record 1")
			}
			got, meta, _ := loadAll(t, s)
			require.Empty(t, got, "nothing of a rejected write is stored")
			require.Zero(t, meta.Generation)
		})
	}
}

func TestLoadCallback(t *testing.T) {
	t.Parallel()
	s := openTest(t, filepath.Join(t.TempDir(), "c.db"), nil)
	require.NoError(t, s.Write(Meta{}, []Record{rec("a", "1"), rec("b", "2"), rec("c", "3")}, nil))

	errStop := errors.New("stop")
	var seen []string
	_, stats, err := s.Load(func(k, _ []byte) error {
		seen = append(seen, string(k))
		if string(k) == "b" {
			return errStop
		}
		return nil
	})
	require.ErrorIs(t, err, errStop)
	require.False(t, IsCorrupt(err))
	require.Contains(t, err.Error(), `record "b"`)
	require.Equal(t, []string{"a", "b"}, seen)
	require.Equal(t, 1, stats.Records)

	// A panic in the callback is the caller's: it is not turned into a
	// CorruptError, and the store stays usable.
	require.PanicsWithValue(t, "boom", func() {
		_, _, _ = s.Load(func([]byte, []byte) error { panic("boom") })
	})
	require.NoError(t, s.Write(Meta{}, []Record{rec("d", "4")}, nil))
	got, _, _ := loadAll(t, s)
	require.Len(t, got, 4)

	_, _, err = s.Load(nil)
	require.Error(t, err)
}

func TestClosed(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "c.db"), Options{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	calls := map[string]func() error{
		"Write":   func() error { return s.Write(Meta{}, []Record{rec("a", "1")}, nil) },
		"Replace": func() error { return s.Replace(Meta{}, nil) },
		"Load": func() error {
			_, _, err := s.Load(func([]byte, []byte) error { return nil })
			return err
		},
		"Meta": func() error {
			_, err := s.Meta()
			return err
		},
		"Close": s.Close,
	}
	for name, call := range calls {
		err := call()
		require.ErrorIs(t, err, ErrClosed, name)
		require.Contains(t, err.Error(), "closed", name)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	tests := []struct {
		name string
		path string
	}{
		{name: "empty path", path: ""},
		{name: "parent is a file", path: filepath.Join(file, "c.db")},
		{name: "path is a directory", path: dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Open(tt.path, Options{NoSync: true})
			require.Error(t, err)
			require.Nil(t, s)
			require.False(t, IsCorrupt(err))
			require.True(t, strings.HasPrefix(err.Error(), "open checkpoint"), err.Error())
		})
	}
}

func TestOpenPermissionDenied(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("needs a non-root Unix user")
	}
	path := filepath.Join(t.TempDir(), "c.db")
	writeValidFile(t, path, "", nil)
	require.NoError(t, os.Chmod(path, 0o400))
	_, err := Open(path, Options{NoSync: true})
	require.ErrorIs(t, err, os.ErrPermission)
	require.False(t, IsCorrupt(err))
	require.Empty(t, corruptFiles(t, path), "an unreadable file is not moved aside")
}

func TestLockSameProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.db")
	first := openTest(t, path, nil)
	start := time.Now()
	second, err := Open(path, Options{NoSync: true, LockTimeout: 100 * time.Millisecond})
	require.ErrorIs(t, err, ErrLocked)
	require.Nil(t, second)
	require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	require.Contains(t, err.Error(), path)
	require.Contains(t, err.Error(), "locked")
	require.Empty(t, corruptFiles(t, path))

	_, err = Open(path, Options{NoSync: true, LockTimeout: -1})
	require.ErrorIs(t, err, ErrLocked, "negative timeout: no wait")

	require.NoError(t, first.Close())
	third := openTest(t, path, nil)
	require.NoError(t, third.Recovered())
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	const (
		writers = 4
		writes  = 25
		perOp   = 10
	)
	s := openTest(t, filepath.Join(t.TempDir(), "c.db"), nil)
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, writers+2)
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				puts := make([]Record, perOp)
				for j := range puts {
					puts[j] = rec(fmt.Sprintf("w%d/%03d/%d", w, i, j), fmt.Sprintf("value %d %d %d", w, i, j))
				}
				var dels [][]byte
				if i > 0 {
					dels = [][]byte{fmt.Appendf(nil, "w%d/%03d/0", w, i-1)}
				}
				if err := s.Write(Meta{Header: []byte{byte(w)}}, puts, dels); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				var prev []byte
				_, stats, err := s.Load(func(k, v []byte) error {
					if prev != nil && bytes.Compare(prev, k) >= 0 {
						return fmt.Errorf("keys out of order: %q then %q", prev, k)
					}
					prev = append(prev[:0], k...)
					return nil
				})
				if err == nil && stats.Skipped != 0 {
					err = fmt.Errorf("%d records skipped", stats.Skipped)
				}
				if err == nil {
					_, err = s.Meta()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got, meta, _ := loadAll(t, s)
	require.Equal(t, uint64(writers*writes), meta.Generation)
	require.Len(t, got, writers*(writes*perOp-(writes-1)))
}

func TestCloseWhileWriting(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "c.db"), Options{NoSync: true})
	require.NoError(t, err)
	started := make(chan struct{}, 4)
	results := make(chan error, 4)
	for w := range 4 {
		go func() {
			for i := 0; ; i++ {
				err := s.Write(Meta{}, []Record{rec(fmt.Sprintf("%d-%d", w, i), "v")}, nil)
				if i == 0 {
					started <- struct{}{}
				}
				if err != nil {
					results <- err
					return
				}
				if _, _, err := s.Load(func([]byte, []byte) error { return nil }); err != nil {
					results <- err
					return
				}
			}
		}()
	}
	for range 4 {
		<-started
	}
	require.NoError(t, s.Close())
	for range 4 {
		require.ErrorIs(t, <-results, ErrClosed)
	}
}

func TestSkippedKeysExamples(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "c.db")
	writeValidFile(t, path, "", records(50, 10, "x"))
	damageRecords(t, path, func(k []byte, v []byte) []byte {
		v[0] ^= 0xff // CRC byte
		return v
	})
	logs := &logCapture{}
	s := openTest(t, path, slogFor(logs))
	require.NoError(t, s.Recovered())
	got, _, stats := loadAll(t, s)
	require.Empty(t, got)
	require.Equal(t, 50, stats.Skipped)
	require.Len(t, stats.SkippedKeys, MaxSkippedKeys)
	require.True(t, slices.IsSortedFunc(stats.SkippedKeys, bytes.Compare))
	require.Equal(t, "key-00000", string(stats.SkippedKeys[0]))
	require.Len(t, logs.warnings(), 1)
}

// TestLargeCheckpoint writes a checkpoint of the size the engine keeps for
// a large cluster: 100,000 records of 1.5 KB, then changes 1,000 of them
// and deletes 1,000, and reads it all back after reopening.
func TestLargeCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 150 MB")
	}
	t.Parallel()
	const n, size = 100_000, 1536
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	all := benchRecords(n, size, 1)
	require.NoError(t, s.Replace(Meta{Header: []byte("v1")}, all))
	fresh := benchRecords(n, size, 2)
	var puts []Record
	var dels [][]byte
	for i := 0; i < n; i += n / 1000 {
		puts = append(puts, Record{Key: all[i].Key, Value: fresh[i].Value})
		dels = append(dels, all[i+1].Key)
	}
	require.NoError(t, s.Write(Meta{Header: []byte("v2")}, puts, dels))
	require.NoError(t, s.Close())

	want := map[string][]byte{}
	for _, r := range all {
		want[string(r.Key)] = r.Value
	}
	for _, r := range puts {
		want[string(r.Key)] = r.Value
	}
	for _, k := range dels {
		delete(want, string(k))
	}
	s = openTest(t, path, nil)
	require.NoError(t, s.Recovered())
	seen := 0
	meta, stats, err := s.Load(func(k, v []byte) error {
		w, ok := want[string(k)]
		if !ok || !bytes.Equal(w, v) {
			return fmt.Errorf("record %q: unexpected value", k)
		}
		seen++
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, len(want), seen)
	require.Zero(t, stats.Skipped)
	require.Equal(t, uint64(2), meta.Generation)
	require.Equal(t, "v2", string(meta.Header))
}
