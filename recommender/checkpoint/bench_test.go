package checkpoint

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchRecords returns n records shaped like the engine's: a
// namespace/pod/container key and a value of size pseudo-random bytes.
func benchRecords(n, size int, seed uint64) []Record {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	recs := make([]Record, n)
	buf := make([]byte, n*size)
	_, _ = rand.NewChaCha8(key).Read(buf)
	for i := range recs {
		recs[i] = Record{
			Key:   fmt.Appendf(nil, "ns-%03d/pod-%06d/container-%d", i%200, i, i%3),
			Value: buf[i*size : (i+1)*size : (i+1)*size],
		}
	}
	return recs
}

// BenchmarkReplace measures a full checkpoint: Replace of 100,000 records
// of 1.5 KB (about 150 MB), with fsync (as in production) and without.
func BenchmarkReplace(b *testing.B) {
	const n, size = 100_000, 1536
	recs := benchRecords(n, size, 1)
	for _, noSync := range []bool{false, true} {
		b.Run(fmt.Sprintf("nosync=%t", noSync), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "c.db"), Options{NoSync: noSync})
			require.NoError(b, err)
			defer func() { require.NoError(b, s.Close()) }()
			b.SetBytes(n * size)
			b.ReportAllocs()
			for b.Loop() {
				require.NoError(b, s.Replace(Meta{Header: []byte("v1")}, recs))
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			fileMetric(b, s.Path(), n)
		})
	}
}

// BenchmarkWrite measures an incremental checkpoint: Write of 1,000
// changed records of 1.5 KB, at random among the 100,000 of the store,
// with fsync and without.
func BenchmarkWrite(b *testing.B) {
	const n, changed, size = 100_000, 1000, 1536
	all := benchRecords(n, size, 1)
	fresh := benchRecords(n, size, 3)
	for _, noSync := range []bool{false, true} {
		b.Run(fmt.Sprintf("nosync=%t", noSync), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "c.db"), Options{NoSync: noSync})
			require.NoError(b, err)
			defer func() { require.NoError(b, s.Close()) }()
			require.NoError(b, s.Replace(Meta{}, all))
			r := rand.New(rand.NewPCG(2, 2))
			batch := make([]Record, changed)
			b.SetBytes(changed * size)
			b.ReportAllocs()
			for b.Loop() {
				for i := range batch {
					j := r.IntN(n)
					batch[i] = Record{Key: all[j].Key, Value: fresh[j].Value}
				}
				require.NoError(b, s.Write(Meta{Header: []byte("v1")}, batch, nil))
			}
			fileMetric(b, s.Path(), n)
		})
	}
}

// BenchmarkOpen measures Open (structure check included) of a store of
// 100,000 records of 1.5 KB, and BenchmarkLoad a Load of all of them.
func BenchmarkOpen(b *testing.B) {
	const n, size = 100_000, 1536
	path := filepath.Join(b.TempDir(), "c.db")
	s, err := Open(path, Options{NoSync: true})
	require.NoError(b, err)
	require.NoError(b, s.Replace(Meta{}, benchRecords(n, size, 1)))
	require.NoError(b, s.Close())
	fi, err := os.Stat(path)
	require.NoError(b, err)
	b.SetBytes(fi.Size())
	for b.Loop() {
		s, err := Open(path, Options{})
		require.NoError(b, err)
		require.NoError(b, s.Recovered())
		require.NoError(b, s.Close())
	}
}

func BenchmarkLoad(b *testing.B) {
	const n, size = 100_000, 1536
	s, err := Open(filepath.Join(b.TempDir(), "c.db"), Options{NoSync: true})
	require.NoError(b, err)
	defer func() { require.NoError(b, s.Close()) }()
	require.NoError(b, s.Replace(Meta{}, benchRecords(n, size, 1)))
	b.SetBytes(n * size)
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		_, stats, err := s.Load(func([]byte, []byte) error { return nil })
		require.NoError(b, err)
		require.Equal(b, n, stats.Records)
	}
	b.ReportMetric(float64(n)*float64(b.N)/time.Since(start).Seconds(), "records/s")
}

// fileMetric reports the file's size per record.
func fileMetric(b *testing.B, path string, n int) {
	fi, err := os.Stat(path)
	require.NoError(b, err)
	b.ReportMetric(float64(fi.Size())/float64(n), "file-B/record")
}
