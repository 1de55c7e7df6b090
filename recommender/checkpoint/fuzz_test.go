package checkpoint

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzOpen writes arbitrary bytes as the checkpoint file and opens it:
// Open must neither fail nor panic, and must return a store that loads,
// writes, and reopens cleanly. Failing inputs found by the fuzzer are kept
// in testdata/fuzz/FuzzOpen.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	small := writeValidFile(f, filepath.Join(dir, "small.db"), "hdr", []Record{rec("a", "1"), rec("b", "22"), rec("c", "333")})
	multi := writeValidFile(f, filepath.Join(dir, "multi.db"), "hdr", records(60, 300, "fuzz"))
	f.Add(small)
	f.Add(multi)
	for _, n := range []int{0, 1, 16, 80, 4095, 4096, 4096 + 80, 8192, 3 * 4096, len(small) - 1} {
		f.Add(small[:min(n, len(small))])
	}
	f.Add(multi[:len(multi)/2])
	f.Add(randomBytes(8192, 3))

	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "checkpoint.db")
		require.NoError(t, os.WriteFile(path, data, 0o600))

		s, err := Open(path, Options{NoSync: true, LockTimeout: -1})
		require.NoError(t, err)
		defer func() { _ = s.Close() }()
		var ce *CorruptError
		if errors.As(s.Recovered(), &ce) {
			moved, err := os.ReadFile(ce.MovedTo)
			require.NoError(t, err)
			require.Equal(t, data, moved, "the file is moved aside untouched")
		}

		n := 0
		before, _, err := s.Load(func(k, v []byte) error {
			n++
			return nil
		})
		require.NoError(t, err, "a file Open accepts loads")

		value := data[:min(len(data), 100)]
		require.NoError(t, s.Write(Meta{Header: []byte("fuzz")}, []Record{{Key: []byte("fuzz-key"), Value: value}}, [][]byte{[]byte("a")}))
		var got []byte
		after, _, err := s.Load(func(k, v []byte) error {
			if string(k) == "fuzz-key" {
				got = bytes.Clone(v)
			}
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, value, got)
		require.Equal(t, before.Generation+1, after.Generation)
		require.NoError(t, s.Close())

		// What the store wrote on the file it accepted is sound.
		s2, err := Open(path, Options{NoSync: true, LockTimeout: -1})
		require.NoError(t, err)
		defer func() { _ = s2.Close() }()
		require.NoError(t, s2.Recovered())
		_, stats, err := s2.Load(func([]byte, []byte) error { return nil })
		require.NoError(t, err)
		require.GreaterOrEqual(t, stats.Records, 1)
	})
}
