package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func slogFor(h slog.Handler) *slog.Logger { return slog.New(h) }

// rawUpdate runs fn in a bbolt transaction on the file at path, bypassing
// the store, to build files the store would never write.
func rawUpdate(t testing.TB, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, db.Update(fn))
	require.NoError(t, db.Close())
}

// damageRecords rewrites every stored record value (CRC included) of the
// checkpoint at path with fn's result.
func damageRecords(t testing.TB, path string, fn func(k, stored []byte) []byte) {
	t.Helper()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket(recordsBucket)
		type kv struct{ k, v []byte }
		var all []kv
		if err := b.ForEach(func(k, v []byte) error {
			all = append(all, kv{bytes.Clone(k), bytes.Clone(v)})
			return nil
		}); err != nil {
			return err
		}
		for _, e := range all {
			if err := b.Put(e.k, fn(e.k, e.v)); err != nil {
				return err
			}
		}
		return nil
	})
}

// inspect returns the chosen meta page and every page in use of the bbolt
// file at path.
func inspect(t testing.TB, path string) (boltMeta, []pageInfo) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { require.NoError(t, f.Close()) }()
	fi, err := f.Stat()
	require.NoError(t, err)
	m, err := findMeta(f, fi.Size())
	require.NoError(t, err)
	var pages []pageInfo
	require.NoError(t, verifyFile(f, fi.Size(), func(p pageInfo) { pages = append(pages, p) }))
	return m, pages
}

// findPage returns the first page of bucket with the given flags.
func findPage(t testing.TB, pages []pageInfo, bucket string, flags uint16) uint64 {
	t.Helper()
	for _, p := range pages {
		if p.Bucket == bucket && p.Flags == flags {
			return p.ID
		}
	}
	require.FailNow(t, "no such page", "bucket %q flags %#x", bucket, flags)
	return 0
}

// patch overwrites the file at path at off with b.
func patch(t testing.TB, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func readAt(t testing.TB, path string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { require.NoError(t, f.Close()) }()
	b := make([]byte, n)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	return b
}

// leafElement returns the file offsets of element i of the leaf page id:
// the element itself, its key and its value.
func leafElement(t testing.TB, path string, ps, id uint64, i int) (elemOff, keyOff, valueOff int64, ksize, vsize int) {
	t.Helper()
	elemOff = int64(id*ps) + pageHeaderSize + int64(i)*elementSize
	e := readAt(t, path, elemOff, elementSize)
	pos, ks, vs := ne.Uint32(e[4:]), ne.Uint32(e[8:]), ne.Uint32(e[12:])
	keyOff = elemOff + int64(pos)
	return elemOff, keyOff, keyOff + int64(ks), int(ks), int(vs)
}

// resealMeta rewrites field (a byte offset within the meta) of both meta
// pages and recomputes their checksums, as a different bbolt would.
func resealMeta(t testing.TB, path string, ps uint64, field int, value uint32) {
	t.Helper()
	for i := range uint64(2) {
		off := int64(i*ps) + pageHeaderSize
		m := readAt(t, path, off, metaSize)
		ne.PutUint32(m[field:], value)
		h := fnv.New64a()
		_, _ = h.Write(m[:metaChecksumStart])
		ne.PutUint64(m[metaChecksumStart:], h.Sum64())
		patch(t, path, off, m)
	}
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestCorruptFiles checks what Open and Load do with damaged and foreign
// files: move the file aside and start empty (quarantine), skip the damaged
// records (skip), or read the file normally (ok).
func TestCorruptFiles(t *testing.T) {
	t.Parallel()
	base := records(300, 200, "base")
	type outcome int
	const (
		quarantine outcome = iota
		skip
		ok
	)
	tests := []struct {
		name string
		// damage turns the valid checkpoint at path (holding base) into
		// the file under test.
		damage  func(t *testing.T, path string)
		want    outcome
		errText string // quarantine: in the CorruptError
		// skip: the keys expected to be skipped; ok: the records expected
		skipped []string
		check   func(t *testing.T, s *Store)
	}{
		{
			name:    "random bytes",
			damage:  func(t *testing.T, path string) { require.NoError(t, os.WriteFile(path, randomBytes(64<<10, 1), 0o600)) },
			errText: "not a bbolt database",
		},
		{
			name:    "few random bytes",
			damage:  func(t *testing.T, path string) { require.NoError(t, os.WriteFile(path, randomBytes(100, 2), 0o600)) },
			errText: "too small",
		},
		{
			name:    "zero length",
			damage:  func(t *testing.T, path string) { require.NoError(t, os.Truncate(path, 0)) },
			errText: "empty",
		},
		{name: "truncated to 1 byte", damage: truncateAt(1), errText: "too small"},
		{name: "truncated inside the first meta page", damage: truncateAt(100), errText: "too small"},
		{name: "truncated after the first page", damage: truncateAt(4096), errText: "too small"},
		{name: "truncated after the meta pages", damage: truncateAt(2*4096 + 16), errText: "truncated"},
		{name: "truncated to half", damage: truncateFraction(1, 2), errText: "truncated"},
		{name: "truncated by one page", damage: truncatePages(-1), errText: "truncated"},
		{name: "truncated by one byte", damage: truncateBytes(-1), errText: "truncated"},
		{
			name:   "unused tail cut off",
			damage: truncatePages(0),
			want:   ok,
		},
		{
			name: "bbolt file with other buckets",
			damage: func(t *testing.T, path string) {
				require.NoError(t, os.Remove(path))
				rawUpdate(t, path, func(tx *bolt.Tx) error {
					b, err := tx.CreateBucket([]byte("users"))
					if err != nil {
						return err
					}
					return b.Put([]byte("alice"), []byte("admin"))
				})
			},
			errText: `not a rightsizer checkpoint: no "meta" bucket`,
		},
		{
			name: "our layout plus a foreign bucket",
			damage: func(t *testing.T, path string) {
				rawUpdate(t, path, func(tx *bolt.Tx) error {
					_, err := tx.CreateBucket([]byte("extra"))
					return err
				})
			},
			errText: `unexpected bucket "extra"`,
		},
		{
			name: "future format version",
			damage: func(t *testing.T, path string) {
				rawUpdate(t, path, func(tx *bolt.Tx) error {
					return putMeta(tx.Bucket(metaBucket), keyFormat, binary.LittleEndian.AppendUint32(nil, FormatVersion+1))
				})
			},
			errText: "format version 2 is newer than this program supports (1)",
		},
		{
			name: "meta value fails its checksum",
			damage: func(t *testing.T, path string) {
				rawUpdate(t, path, func(tx *bolt.Tx) error {
					mb := tx.Bucket(metaBucket)
					v := bytes.Clone(mb.Get(keyGeneration))
					v[len(v)-1] ^= 1
					return mb.Put(keyGeneration, v)
				})
			},
			errText: `meta "generation": checksum mismatch`,
		},
		{
			name: "other bbolt version",
			damage: func(t *testing.T, path string) {
				m, _ := inspect(t, path)
				resealMeta(t, path, uint64(m.pageSize), 4, 3)
			},
			errText: "unsupported bbolt version 3",
		},
		{
			name: "both meta pages damaged",
			damage: func(t *testing.T, path string) {
				patch(t, path, pageHeaderSize+20, []byte{0xde, 0xad})
				patch(t, path, 4096+pageHeaderSize+20, []byte{0xde, 0xad})
			},
			errText: "checksum mismatch",
		},
		{
			name: "leaf page type damaged",
			damage: func(t *testing.T, path string) {
				m, pages := inspect(t, path)
				id := findPage(t, pages, "records", leafPageFlag)
				patch(t, path, int64(id*uint64(m.pageSize))+8, []byte{0x40, 0})
			},
			errText: "type 0x40, want branch or leaf",
		},
		{
			name: "page id damaged",
			damage: func(t *testing.T, path string) {
				m, pages := inspect(t, path)
				id := findPage(t, pages, "records", leafPageFlag)
				patch(t, path, int64(id*uint64(m.pageSize)), []byte{0xff})
			},
			errText: "identifies itself as page",
		},
		{
			name: "branch child outside the file",
			damage: func(t *testing.T, path string) {
				m, pages := inspect(t, path)
				id := findPage(t, pages, "records", branchPageFlag)
				patch(t, path, int64(id*uint64(m.pageSize))+pageHeaderSize+8, ne.AppendUint64(nil, m.hwm+5))
			},
			errText: "outside the database",
		},
		{
			name: "branch child points at its own page",
			damage: func(t *testing.T, path string) {
				m, pages := inspect(t, path)
				id := findPage(t, pages, "records", branchPageFlag)
				patch(t, path, int64(id*uint64(m.pageSize))+pageHeaderSize+elementSize+8, ne.AppendUint64(nil, id))
			},
			errText: "referenced twice",
		},
		{
			name: "branch key differs from its child's first key",
			damage: func(t *testing.T, path string) {
				// bbolt would add a second reference to the child when it
				// next rewrote it, instead of replacing the first (found by
				// FuzzOpen).
				m, pages := inspect(t, path)
				id := findPage(t, pages, "records", branchPageFlag)
				elem := int64(id*uint64(m.pageSize)) + pageHeaderSize + elementSize
				e := readAt(t, path, elem, elementSize)
				last := elem + int64(ne.Uint32(e)) + int64(ne.Uint32(e[4:])) - 1
				patch(t, path, last, []byte{readAt(t, path, last, 1)[0] + 1})
			},
			errText: "first key differs from its parent's key",
		},
		{
			name: "leaf element offset damaged",
			damage: func(t *testing.T, path string) {
				m, pages := inspect(t, path)
				elem, _, _, _, _ := leafElement(t, path, uint64(m.pageSize), findPage(t, pages, "records", leafPageFlag), 0)
				patch(t, path, elem+4, ne.AppendUint32(nil, 0x00ffffff))
			},
			errText: "outside its page",
		},
		{
			name: "element count damaged",
			damage: func(t *testing.T, path string) {
				m, pages := inspect(t, path)
				id := findPage(t, pages, "records", leafPageFlag)
				patch(t, path, int64(id*uint64(m.pageSize))+10, ne.AppendUint16(nil, 0xfff0))
			},
			errText: "do not fit in the page",
		},
		{
			name: "keys out of order",
			damage: func(t *testing.T, path string) {
				m, pages := inspect(t, path)
				_, key, _, _, _ := leafElement(t, path, uint64(m.pageSize), findPage(t, pages, "records", leafPageFlag), 1)
				patch(t, path, key, []byte("aaa"))
			},
			errText: "out of order",
		},
		{
			name: "freelist page damaged",
			damage: func(t *testing.T, path string) {
				m, _ := inspect(t, path)
				patch(t, path, int64(m.freelist*uint64(m.pageSize))+8, []byte{leafPageFlag, 0})
			},
			errText: "freelist",
		},
		{
			name: "freelist lists a page in use",
			damage: func(t *testing.T, path string) {
				m, _ := inspect(t, path)
				off := int64(m.freelist * uint64(m.pageSize))
				patch(t, path, off+10, ne.AppendUint16(nil, 1))
				patch(t, path, off+pageHeaderSize, ne.AppendUint64(nil, m.root))
			},
			errText: "in use but also on the freelist",
		},
		{
			name: "freelist count damaged",
			damage: func(t *testing.T, path string) {
				m, _ := inspect(t, path)
				off := int64(m.freelist * uint64(m.pageSize))
				patch(t, path, off+10, ne.AppendUint16(nil, 0xffff))
				patch(t, path, off+pageHeaderSize, ne.AppendUint64(nil, 1<<40))
			},
			errText: "more than fit",
		},
		{
			name: "value bytes flipped in a data page",
			damage: func(t *testing.T, path string) {
				m, pages := inspect(t, path)
				_, key, val, ks, _ := leafElement(t, path, uint64(m.pageSize), findPage(t, pages, "records", leafPageFlag), 0)
				require.Equal(t, "key-00000", string(readAt(t, path, key, ks)))
				patch(t, path, val+crcSize+10, []byte{0xff, 0xfe})
			},
			want:    skip,
			skipped: []string{"key-00000"},
		},
		{
			name: "records with bad checksums",
			damage: func(t *testing.T, path string) {
				damageRecords(t, path, func(k, v []byte) []byte {
					switch string(k) {
					case "key-00007", "key-00150":
						v[len(v)-1]++ // payload
					case "key-00299":
						v[0]++ // stored CRC
					}
					return v
				})
			},
			want:    skip,
			skipped: []string{"key-00007", "key-00150", "key-00299"},
		},
		{
			name: "records that are malformed",
			damage: func(t *testing.T, path string) {
				rawUpdate(t, path, func(tx *bolt.Tx) error {
					b := tx.Bucket(recordsBucket)
					if err := b.Put([]byte("key-00003"), []byte{1, 2}); err != nil {
						return err
					}
					_, err := b.CreateBucket([]byte("key-00004a"))
					return err
				})
			},
			want:    skip,
			skipped: []string{"key-00003", "key-00004a"},
		},
		{
			name: "bbolt file without buckets",
			damage: func(t *testing.T, path string) {
				require.NoError(t, os.Remove(path))
				rawUpdate(t, path, func(*bolt.Tx) error { return nil })
			},
			want: ok,
			check: func(t *testing.T, s *Store) {
				got, meta, _ := loadAll(t, s)
				require.Empty(t, got)
				require.Zero(t, meta.Generation)
			},
		},
		{
			name: "newest meta page damaged",
			damage: func(t *testing.T, path string) {
				s, err := Open(path, Options{NoSync: true})
				require.NoError(t, err)
				require.NoError(t, s.Write(Meta{Header: []byte("newer")}, []Record{rec("zzz", "lost")}, nil))
				require.NoError(t, s.Close())
				m, _ := inspect(t, path)
				// The meta of transaction txid lies on page txid%2.
				patch(t, path, int64((m.txid%2)*uint64(m.pageSize))+pageHeaderSize+20, []byte{0xde, 0xad})
			},
			want: ok,
			check: func(t *testing.T, s *Store) {
				// bbolt falls back to the previous commit, whole.
				got, meta, _ := loadAll(t, s)
				require.Equal(t, base, got)
				require.Equal(t, "hdr", string(meta.Header))
				require.Equal(t, uint64(1), meta.Generation)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "checkpoint.db")
			writeValidFile(t, path, "hdr", base)
			tt.damage(t, path)
			damaged, err := os.ReadFile(path)
			require.NoError(t, err)

			logs := &logCapture{}
			var s *Store
			require.NotPanics(t, func() {
				s, err = Open(path, Options{NoSync: true, Logger: slogFor(logs)})
			})
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })

			switch tt.want {
			case quarantine:
				rerr := s.Recovered()
				require.Error(t, rerr)
				require.True(t, IsCorrupt(rerr))
				var ce *CorruptError
				require.True(t, errors.As(rerr, &ce))
				require.Equal(t, path, ce.Path)
				require.True(t, strings.HasPrefix(ce.MovedTo, path+".corrupt-"), ce.MovedTo)
				require.Contains(t, ce.Error(), path)
				require.Contains(t, ce.Error(), ce.MovedTo)
				require.Contains(t, ce.Error(), tt.errText)
				moved, err := os.ReadFile(ce.MovedTo)
				require.NoError(t, err)
				require.Equal(t, damaged, moved, "the damaged file is kept as it was")
				require.Equal(t, []string{ce.MovedTo}, corruptFiles(t, path))
				require.Len(t, logs.warnings(), 1)

				// An empty, working store took its place.
				got, meta, stats := loadAll(t, s)
				require.Empty(t, got)
				require.Zero(t, stats.Skipped)
				require.Zero(t, meta.Generation)
				require.NoError(t, s.Write(Meta{}, []Record{rec("a", "1")}, nil))
				require.NoError(t, s.Close())
				s2 := openTest(t, path, nil)
				require.NoError(t, s2.Recovered())
				got, _, _ = loadAll(t, s2)
				require.Equal(t, []Record{rec("a", "1")}, got)

			case skip:
				require.NoError(t, s.Recovered())
				require.Empty(t, corruptFiles(t, path))
				got, meta, stats := loadAll(t, s)
				require.Equal(t, "hdr", string(meta.Header))
				require.Equal(t, len(tt.skipped), stats.Skipped)
				var keys []string
				for _, k := range stats.SkippedKeys {
					keys = append(keys, string(k))
				}
				require.Equal(t, tt.skipped, keys)
				var want []Record
				for _, r := range base {
					if !slices.Contains(tt.skipped, string(r.Key)) {
						want = append(want, r)
					}
				}
				require.Equal(t, want, got, "every other record is intact")
				require.Equal(t, []string{"checkpoint records failed their checksum and were skipped"}, logs.warnings())

				// Writing or deleting the skipped keys repairs them.
				fixed := map[string]string{}
				for i, k := range tt.skipped[:len(tt.skipped)-1] {
					fixed[k] = fmt.Sprint("fixed ", i)
					require.NoError(t, s.Write(Meta{}, []Record{rec(k, fixed[k])}, nil))
				}
				deleted := tt.skipped[len(tt.skipped)-1]
				require.NoError(t, s.Write(Meta{}, nil, [][]byte{[]byte(deleted)}))
				got, _, stats = loadAll(t, s)
				require.Zero(t, stats.Skipped)
				for _, r := range got {
					require.NotEqual(t, deleted, string(r.Key))
					if v, ok := fixed[string(r.Key)]; ok {
						require.Equal(t, v, string(r.Value))
						delete(fixed, string(r.Key))
					}
				}
				require.Empty(t, fixed, "rewritten records missing")

			case ok:
				require.NoError(t, s.Recovered())
				require.Empty(t, corruptFiles(t, path))
				require.Empty(t, logs.warnings())
				if tt.check != nil {
					tt.check(t, s)
				} else {
					got, _, stats := loadAll(t, s)
					require.Zero(t, stats.Skipped)
					require.Equal(t, base, got)
				}
			}
		})
	}
}

func truncateAt(size int64) func(*testing.T, string) {
	return func(t *testing.T, path string) { require.NoError(t, os.Truncate(path, size)) }
}

// truncatePages truncates the file to the database's high-water mark plus
// delta pages.
func truncatePages(delta int64) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		m, _ := inspect(t, path)
		require.NoError(t, os.Truncate(path, (int64(m.hwm)+delta)*int64(m.pageSize)))
	}
}

// truncateBytes truncates the file to the database's high-water mark plus
// delta bytes.
func truncateBytes(delta int64) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		m, _ := inspect(t, path)
		require.NoError(t, os.Truncate(path, int64(m.hwm)*int64(m.pageSize)+delta))
	}
}

func truncateFraction(num, den int64) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		m, _ := inspect(t, path)
		require.NoError(t, os.Truncate(path, int64(m.hwm)*int64(m.pageSize)*num/den))
	}
}

// TestDamageWhileOpen damages the file under an open store, so that bbolt
// itself meets the damage: its panics and memory faults must come back as
// a CorruptError, and the next Open must move the file aside.
func TestDamageWhileOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		damage func(t *testing.T, path string, m boltMeta, pages []pageInfo)
		// wedged: bbolt's locks stay held, so every later call fails.
		wedged bool
	}{
		{
			name: "page type overwritten",
			damage: func(t *testing.T, path string, m boltMeta, pages []pageInfo) {
				id := findPage(t, pages, "records", leafPageFlag)
				patch(t, path, int64(id*uint64(m.pageSize))+8, []byte{0x40, 0})
			},
		},
		{
			name: "both meta pages overwritten",
			damage: func(t *testing.T, path string, m boltMeta, _ []pageInfo) {
				// bbolt panics inside Begin and keeps its locks: the store
				// must fail every later call and still close.
				for i := range int64(2) {
					patch(t, path, i*int64(m.pageSize)+pageHeaderSize+20, []byte{0xde, 0xad})
				}
			},
			wedged: true,
		},
		{
			name: "file truncated under the map",
			damage: func(t *testing.T, path string, m boltMeta, _ []pageInfo) {
				require.NoError(t, os.Truncate(path, 2*int64(m.pageSize)))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "c.db")
			writeValidFile(t, path, "hdr", records(300, 200, "x"))
			s, err := Open(path, Options{NoSync: true})
			require.NoError(t, err)
			m, pages := inspect(t, path)
			tt.damage(t, path, m, pages)

			_, _, err = s.Load(func([]byte, []byte) error { return nil })
			require.True(t, IsCorrupt(err), "%v", err)
			require.Regexp(t, "bbolt panic|memory fault", err.Error())
			err = s.Write(Meta{}, []Record{rec("key-00001", "v")}, nil)
			require.True(t, IsCorrupt(err), "%v", err)
			require.Equal(t, tt.wedged, s.wedged != nil)
			if tt.wedged {
				_, err = s.Meta()
				require.True(t, IsCorrupt(err), "%v", err)
				require.Contains(t, err.Error(), "unusable")
			}
			require.NoError(t, s.Close()) // does not wait for bbolt's locks
			require.ErrorIs(t, s.Close(), ErrClosed)

			s = openTest(t, path, nil) // the file lock was released
			require.True(t, IsCorrupt(s.Recovered()))
			got, _, _ := loadAll(t, s)
			require.Empty(t, got)
		})
	}
}
