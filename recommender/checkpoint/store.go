package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"k8s.io/utils/clock"
)

// FormatVersion is the version of the on-disk layout that this package
// writes and reads. Open moves aside a file with any other version.
const FormatVersion uint32 = 1

// DefaultLockTimeout is how long Open waits for another holder of the file
// to let go when Options.LockTimeout is zero.
const DefaultLockTimeout = time.Second

// MaxSkippedKeys is how many example keys LoadStats.SkippedKeys keeps.
const MaxSkippedKeys = 16

// replaceFillPercent is the bbolt fill factor for Replace, which inserts in
// key order into an empty bucket: leaves are packed to 90% instead of
// bbolt's default 50%, leaving room for later in-place updates.
const replaceFillPercent = 0.9

// initialMmapSize is the least address space mapped for the file, where
// largeMmapOK: 1 GiB, a 64-bit system's small change. (On Windows bbolt
// extends the file to the size of its map, so there it maps the file's
// size.)
const (
	initialMmapSize = 1 << 30
	largeMmapOK     = strconv.IntSize == 64 && runtime.GOOS != "windows"
)

// maxOpenAttempts bounds Open's retries when the file is replaced or found
// corrupt while it is being opened.
const maxOpenAttempts = 5

// Bucket and key names of the layout (see the package documentation).
var (
	metaBucket    = []byte("meta")
	recordsBucket = []byte("records")

	keyFormat     = []byte("format")
	keyGeneration = []byte("generation")
	keyWrittenAt  = []byte("written_at")
	keyHeader     = []byte("header")
)

// errLockTimeout is lockFile's internal report of a lock still held.
var errLockTimeout = errors.New("lock timeout")

// Options configures Open. The zero value is ready to use.
type Options struct {
	// Logger receives a warning for a corrupt file moved aside, for a Load
	// that skipped records and for a Close after a bbolt panic, and debug
	// messages. Nil discards them.
	Logger *slog.Logger
	// LockTimeout is how long Open waits while another process, or another
	// Store in this process, has the file open, before it fails with
	// ErrLocked. Zero means DefaultLockTimeout (1 s); a negative value
	// means do not wait.
	LockTimeout time.Duration
	// NoSync skips fsync on commit. A crash of the machine (not of the
	// process) may then lose or damage the file. For tests only.
	NoSync bool
	// Clock stamps Meta.WrittenAt when the caller leaves it zero, and names
	// corrupt files moved aside. Nil means the real clock.
	Clock clock.PassiveClock
}

// DefaultOptions returns the options Open uses for a zero Options value,
// spelled out.
func DefaultOptions() Options {
	return Options{LockTimeout: DefaultLockTimeout}
}

// Record is one key/value pair of a checkpoint: typically one container's
// encoded state. Keys are 1 to 32768 bytes; values up to 2 GiB - 6 bytes
// (bbolt's limits, less the 4-byte checksum).
type Record struct {
	Key   []byte
	Value []byte
}

// Meta describes a checkpoint as a whole. It is stored in the same
// transaction as the records it describes.
type Meta struct {
	// Header is opaque caller data, for example the engine's own encoding
	// version. Write and Replace store a copy; a nil and an empty Header
	// are stored alike and read back as nil.
	Header []byte
	// WrittenAt is when the checkpoint was taken, stored with nanosecond
	// precision (years 1678 to 2262) and read back in UTC. When it is
	// zero, Write and Replace use the store's clock.
	WrittenAt time.Time
	// Generation counts the successful Write and Replace calls over the
	// life of the file: 0 for a new store, 1 after the first write, and so
	// on. Output only: Write and Replace ignore it.
	Generation uint64
	// FormatVersion is the layout version of the file (FormatVersion).
	// Output only.
	FormatVersion uint32
}

// LoadStats summarises a Load.
type LoadStats struct {
	// Records is how many records were passed to the callback.
	Records int
	// Bytes is the total size of the values passed to the callback, in
	// bytes (keys and checksums excluded).
	Bytes int64
	// Skipped is how many records failed their checksum or were malformed
	// and were not passed to the callback.
	Skipped int
	// SkippedKeys holds copies of the first MaxSkippedKeys skipped keys,
	// in key order.
	SkippedKeys [][]byte
}

// Store is a checkpoint file opened by Open.
//
// All methods are safe for concurrent use. They are serialised: a Load
// holds the store until it returns, and a Write waits for it. (bbolt could
// run reads alongside a write, but a panic inside bbolt can leave its locks
// held; serialising lets the other callers get an error instead of waiting
// for ever.)
type Store struct {
	path      string
	logger    *slog.Logger
	clock     clock.PassiveClock
	recovered *CorruptError // set by Open only

	mu     sync.Mutex // serialises all use of db; guards the fields below
	db     *bolt.DB
	file   *os.File      // db's file, to unlock it if db is wedged
	closed bool          // Close was called
	wedged *CorruptError // a bbolt panic left db's locks held: db is unusable
}

// Open opens the checkpoint file at path, creating it, and its parent
// directory, when missing. It holds an exclusive lock on the file until
// Close; while another process or Store holds it, Open waits up to
// opts.LockTimeout and then returns an error wrapping ErrLocked.
//
// A file that is damaged or is not a checkpoint of FormatVersion does not
// make Open fail: Open checks the file's structure before bbolt maps it,
// moves a bad file aside to "<path>.corrupt-<UTC time>", logs one warning,
// starts an empty store and reports what it found through Recovered. Open
// returns an error for what it cannot repair by starting afresh: a
// directory it cannot create or write, a file it may not open, a read
// error, the lock held elsewhere.
//
// Open reads the whole file once to check it: time linear in its size,
// about 80 ms for 220 MB in the page cache, else bound by the disk.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("open checkpoint: empty path")
	}
	s := &Store{path: path, logger: opts.Logger, clock: opts.Clock}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = clock.RealClock{}
	}
	timeout := opts.LockTimeout
	if timeout == 0 {
		timeout = DefaultLockTimeout
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open checkpoint %s: create directory: %w", path, err)
	}
	for range maxOpenAttempts {
		ok, ce, err := s.openOnce(timeout, opts.NoSync)
		switch {
		case err != nil:
			return nil, err
		case ce != nil:
			s.logger.Warn("corrupt checkpoint file moved aside; starting with an empty checkpoint",
				"path", ce.Path, "moved_to", ce.MovedTo, "err", ce.Err)
			if s.recovered == nil {
				s.recovered = ce
			}
		case ok:
			s.logger.Debug("checkpoint opened", "path", path)
			return s, nil
		}
		// Otherwise the file was replaced while we waited for it: retry.
	}
	return nil, fmt.Errorf("open checkpoint %s: the file kept changing while it was being opened", path)
}

// openOnce makes one attempt at opening the file. It sets s.db and returns
// true, or returns a CorruptError for a file it moved aside, or neither
// when the file was replaced under it and Open should try again.
func (s *Store) openOnce(timeout time.Duration, noSync bool) (_ bool, _ *CorruptError, err error) {
	f, created, err := openFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil, nil // removed since we created it: retry
	}
	if err != nil {
		return false, nil, fmt.Errorf("open checkpoint %s: %w", s.path, err)
	}
	fileOwned := true // until bbolt takes f over
	defer func() {
		if fileOwned {
			_ = f.Close()
		}
	}()
	if err := lockFile(f, timeout); err != nil {
		return false, nil, s.lockError(timeout, err)
	}
	info, same, err := sameFile(f, s.path)
	if err != nil || !same {
		return false, nil, err
	}
	if created {
		s.syncDir()
	}

	var bad error
	switch {
	case info.Size() == 0 && !created:
		bad = errors.New("file is empty (zero length)")
	case info.Size() > 0:
		bad = s.guard(func() error { return verifyFile(f, info.Size(), nil) })
	}
	if bad != nil {
		var ioe *ioError
		if errors.As(bad, &ioe) {
			return false, nil, fmt.Errorf("open checkpoint %s: read: %w", s.path, ioe.err)
		}
		var ce *CorruptError
		if errors.As(bad, &ce) {
			bad = ce.Err // a panic in the checker: still report the file
		}
		if !ownLock {
			fileOwned = false
			_ = f.Close() // some systems cannot rename an open file
		}
		ce, err := s.moveAside(bad)
		return false, ce, err
	}

	fileOwned = false
	db, err := s.openBolt(f, timeout, noSync)
	if err != nil {
		_ = f.Close() // bbolt closes it on most errors, not on a panic
		var ce *CorruptError
		if !errors.As(err, &ce) {
			if errors.Is(err, berrors.ErrTimeout) {
				return false, nil, s.lockError(timeout, errLockTimeout)
			}
			return false, nil, fmt.Errorf("open checkpoint %s: %w", s.path, err)
		}
		// bbolt rejected a file that passed the check; the lock went with
		// the file, so take it again before moving the file aside.
		ce, err := s.moveAsideRelocked(info, ce.Err, timeout)
		return false, ce, err
	}
	s.db, s.file, s.wedged = db, f, nil

	fresh, bad := s.checkLayout()
	if bad != nil {
		var closeErr error
		if !ownLock {
			closeErr = s.shutdown()
		}
		ce, err := s.moveAside(bad)
		if ownLock {
			closeErr = s.shutdown()
		}
		if err != nil {
			return false, nil, errors.Join(err, closeErr)
		}
		return false, ce, nil
	}
	if fresh {
		if err := s.run(true, nil, initLayout); err != nil {
			return false, nil, errors.Join(fmt.Errorf("open checkpoint %s: initialise: %w", s.path, err), s.shutdown())
		}
	}
	return true, nil, nil
}

// openFile opens path for reading and writing, creating it if missing, and
// reports whether it created it.
func openFile(path string) (*os.File, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, false, err
	}
	f, err = os.OpenFile(path, os.O_RDWR, 0)
	return f, false, err
}

// sameFile reports whether f is still the file at path, and returns f's
// FileInfo.
func sameFile(f *os.File, path string) (os.FileInfo, bool, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("open checkpoint %s: %w", path, err)
	}
	now, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return info, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("open checkpoint %s: %w", path, err)
	}
	return info, os.SameFile(info, now), nil
}

func (s *Store) lockError(timeout time.Duration, err error) error {
	if errors.Is(err, errLockTimeout) {
		return fmt.Errorf("open checkpoint %s: gave up after waiting %v: %w", s.path, max(timeout, 0), ErrLocked)
	}
	return fmt.Errorf("open checkpoint %s: lock: %w", s.path, err)
}

// openBolt hands the locked file f to bbolt. A panic in bbolt, or bbolt's
// own verdict that the file is invalid, comes back as a *CorruptError.
func (s *Store) openBolt(f *os.File, timeout time.Duration, noSync bool) (*bolt.DB, error) {
	mmapSize := 0
	if info, err := f.Stat(); err == nil && largeMmapOK {
		// Map ahead: each time bbolt grows its map during a transaction it
		// copies every node the transaction holds to the heap, which for a
		// Replace of 150 MB costs seconds and gigabytes. The map is address
		// space only; bbolt still grows it when the file outgrows it.
		mmapSize = int(max(initialMmapSize, 4*info.Size()))
	}
	var db *bolt.DB
	err := s.guard(func() error {
		var err error
		db, err = bolt.Open(s.path, 0o600, &bolt.Options{
			InitialMmapSize: mmapSize,
			// Where ownLock is true, f is locked already and bbolt's flock
			// on it succeeds at once; bbolt treats 0 as "wait forever".
			Timeout:      max(timeout, time.Millisecond),
			NoSync:       noSync,
			FreelistType: bolt.FreelistMapType,
			OpenFile: func(string, int, os.FileMode) (*os.File, error) {
				return f, nil
			},
		})
		return err
	})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, &CorruptError{Path: s.path, Err: err}
	default:
		return nil, err
	}
}

// moveAside renames the file at s.path to a fresh "<path>.corrupt-<UTC
// time>" name. The caller holds the lock where ownLock is true.
func (s *Store) moveAside(cause error) (*CorruptError, error) {
	base := s.path + ".corrupt-" + s.clock.Now().UTC().Format("20060102T150405.000000000Z")
	to := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if i > 100 {
			return nil, fmt.Errorf("open checkpoint %s: no free name to move the corrupt file aside to: %w", s.path, cause)
		}
		to = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(s.path, to); err != nil {
		return nil, fmt.Errorf("open checkpoint %s: move corrupt file aside: %w (the file is corrupt: %w)", s.path, err, cause)
	}
	s.syncDir()
	return &CorruptError{Path: s.path, MovedTo: to, Err: cause}, nil
}

// moveAsideRelocked locks the file at s.path again and, if it is still the
// file described by info, moves it aside.
func (s *Store) moveAsideRelocked(info os.FileInfo, cause error, timeout time.Duration) (*CorruptError, error) {
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open checkpoint %s: %w", s.path, err)
	}
	defer func() { _ = f.Close() }()
	if err := lockFile(f, timeout); err != nil {
		return nil, s.lockError(timeout, err)
	}
	now, same, err := sameFile(f, s.path)
	if err != nil || !same || !os.SameFile(info, now) {
		return nil, err
	}
	return s.moveAside(cause)
}

// syncDir makes a file created or renamed in the store's directory
// durable. Some systems cannot sync a directory; that is logged and
// ignored.
func (s *Store) syncDir() {
	d, err := os.Open(filepath.Dir(s.path))
	if err == nil {
		err = errors.Join(d.Sync(), d.Close())
	}
	if err != nil {
		s.logger.Debug("could not sync the checkpoint directory", "path", s.path, "err", err)
	}
}

// checkLayout reports whether s.db is an empty bbolt database (a new
// file, or one whose creation was interrupted before its first
// transaction), or else what stops it being a checkpoint of FormatVersion.
func (s *Store) checkLayout() (fresh bool, bad error) {
	bad = s.run(false, nil, func(tx *bolt.Tx) error {
		var names [][]byte
		if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			names = append(names, bytes.Clone(name))
			return nil
		}); err != nil {
			return err
		}
		if len(names) == 0 {
			fresh = true
			return nil
		}
		if tx.Bucket(metaBucket) == nil {
			return fmt.Errorf("not a rightsizer checkpoint: no %q bucket (found %q)", metaBucket, names)
		}
		if _, err := readMeta(tx); err != nil {
			return err
		}
		for _, n := range names {
			if !bytes.Equal(n, metaBucket) && !bytes.Equal(n, recordsBucket) {
				return fmt.Errorf("not a rightsizer checkpoint: unexpected bucket %q", n)
			}
		}
		if tx.Bucket(recordsBucket) == nil {
			return fmt.Errorf("no %q bucket", recordsBucket)
		}
		return nil
	})
	var ce *CorruptError
	if errors.As(bad, &ce) {
		bad = ce.Err
	}
	return fresh, bad
}

// initLayout creates the buckets of an empty database.
func initLayout(tx *bolt.Tx) error {
	mb, err := tx.CreateBucket(metaBucket)
	if err != nil {
		return err
	}
	if _, err := tx.CreateBucket(recordsBucket); err != nil {
		return err
	}
	if err := putMeta(mb, keyFormat, binary.LittleEndian.AppendUint32(nil, FormatVersion)); err != nil {
		return err
	}
	return putMeta(mb, keyGeneration, binary.LittleEndian.AppendUint64(nil, 0))
}

// Path returns the path of the checkpoint file.
func (s *Store) Path() string { return s.path }

// Recovered returns the *CorruptError describing the damaged file that
// Open moved aside before starting this store empty, or nil when Open
// found a good file or none.
func (s *Store) Recovered() error {
	if s.recovered == nil {
		return nil
	}
	return s.recovered
}

// Write applies deletes, then puts, and updates the meta, in one bbolt
// transaction: after a crash either all of it is on disk or none of it.
// A key in both deletes and puts ends up put; of two puts of one key the
// later wins. Write does not retain puts, deletes or meta.Header after it
// returns. It waits while another call on the Store is in progress.
//
// A Write of n records costs O(n log N) for a store of N records, plus an
// fsync of the data and one of the meta page unless Options.NoSync.
func (s *Store) Write(meta Meta, puts []Record, deletes [][]byte) error {
	return s.update("write checkpoint", meta, puts, deletes, false)
}

// Replace replaces every record with all, and updates the meta, in one
// bbolt transaction: after a crash the file holds either the previous
// record set or all of the new one. Of two records with one key the later
// wins. Replace does not retain all or meta.Header after it returns.
func (s *Store) Replace(meta Meta, all []Record) error {
	return s.update("replace checkpoint", meta, all, nil, true)
}

func (s *Store) update(op string, meta Meta, puts []Record, deletes [][]byte, replace bool) error {
	keys, values, order, err := encodeBatch(puts)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	dels := slices.Clone(deletes)
	slices.SortFunc(dels, bytes.Compare)
	writtenAt := meta.WrittenAt
	if writtenAt.IsZero() {
		writtenAt = s.clock.Now()
	}
	return s.do(op, true, nil, func(tx *bolt.Tx) error {
		mb := tx.Bucket(metaBucket)
		if mb == nil {
			return &CorruptError{Path: s.path, Err: fmt.Errorf("no %q bucket", metaBucket)}
		}
		gen, err := metaUint(mb, keyGeneration, 8)
		if err != nil {
			return &CorruptError{Path: s.path, Err: err}
		}
		var rb *bolt.Bucket
		if replace {
			if err := tx.DeleteBucket(recordsBucket); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
				return err
			}
			if rb, err = tx.CreateBucket(recordsBucket); err != nil {
				return err
			}
			rb.FillPercent = replaceFillPercent
		} else {
			if rb = tx.Bucket(recordsBucket); rb == nil {
				return &CorruptError{Path: s.path, Err: fmt.Errorf("no %q bucket", recordsBucket)}
			}
			for _, k := range dels {
				if len(k) == 0 {
					continue
				}
				if err := del(rb, k); err != nil {
					return fmt.Errorf("delete %q: %w", k, err)
				}
			}
		}
		for _, i := range order {
			if err := put(rb, keys[i], values[i]); err != nil {
				return fmt.Errorf("put %q: %w", keys[i], err)
			}
		}
		return writeMeta(mb, gen+1, writtenAt, meta.Header)
	})
}

// encodeBatch checks puts and encodes their values, with checksums, into
// one buffer. order lists the indices of puts sorted by key, stably, so
// that inserting in that order lets the later of two equal keys win.
func encodeBatch(puts []Record) (keys, values [][]byte, order []int, err error) {
	total := 0
	for i, r := range puts {
		switch {
		case len(r.Key) == 0:
			return nil, nil, nil, fmt.Errorf("%w %d: empty key", ErrInvalidRecord, i)
		case len(r.Key) > bolt.MaxKeySize:
			return nil, nil, nil, fmt.Errorf("%w %d: key of %d bytes, limit %d", ErrInvalidRecord, i, len(r.Key), bolt.MaxKeySize)
		case int64(len(r.Value)) > bolt.MaxValueSize-crcSize:
			return nil, nil, nil, fmt.Errorf("%w %d: value of %d bytes, limit %d", ErrInvalidRecord, i, len(r.Value), bolt.MaxValueSize-crcSize)
		}
		total += crcSize + len(r.Value)
	}
	buf := make([]byte, total)
	keys = make([][]byte, len(puts))
	values = make([][]byte, len(puts))
	order = make([]int, len(puts))
	for i, r := range puts {
		n := crcSize + len(r.Value)
		values[i], buf = buf[:n:n], buf[n:]
		encodeRecord(values[i], r.Key, r.Value)
		keys[i] = r.Key
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return bytes.Compare(keys[a], keys[b]) })
	return keys, values, order, nil
}

// Load reads the checkpoint: it calls fn for every record, in key order,
// and returns the meta, all from one consistent snapshot (the last
// committed Write or Replace).
//
// key and value are valid only during the call to fn, and fn must not
// modify or retain them: they point into the memory-mapped file; copy what
// you keep. fn must not call the Store's methods: they wait for Load to
// return. If fn returns an error Load stops and returns it, wrapped.
//
// A record that fails its checksum or is malformed is skipped, counted in
// LoadStats and logged in one warning: it does not stop the Load. A bbolt
// panic, meaning the file was damaged on disk after Open checked it,
// returns a *CorruptError; closing and reopening the store then moves the
// file aside. A panic in fn is not recovered.
func (s *Store) Load(fn func(key, value []byte) error) (Meta, LoadStats, error) {
	var (
		meta  Meta
		stats LoadStats
	)
	if fn == nil {
		return Meta{}, stats, errors.New("load checkpoint: nil callback")
	}
	inCallback := false
	err := s.do("load checkpoint", false, &inCallback, func(tx *bolt.Tx) error {
		m, err := readMeta(tx)
		if err != nil {
			return &CorruptError{Path: s.path, Err: err}
		}
		rb := tx.Bucket(recordsBucket)
		if rb == nil {
			return &CorruptError{Path: s.path, Err: fmt.Errorf("no %q bucket", recordsBucket)}
		}
		c := rb.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			value, err := decodeRecord(k, v)
			if err != nil {
				stats.Skipped++
				if len(stats.SkippedKeys) < MaxSkippedKeys {
					stats.SkippedKeys = append(stats.SkippedKeys, bytes.Clone(k))
				}
				continue
			}
			inCallback = true
			err = fn(k, value)
			inCallback = false
			if err != nil {
				return fmt.Errorf("record %q: %w", k, err)
			}
			stats.Records++
			stats.Bytes += int64(len(value))
		}
		meta = m
		return nil
	})
	if stats.Skipped > 0 {
		s.logger.Warn("checkpoint records failed their checksum and were skipped",
			"path", s.path, "skipped", stats.Skipped, "first_key", fmt.Sprintf("%q", stats.SkippedKeys[0]))
	}
	if err != nil {
		return Meta{}, stats, err
	}
	return meta, stats, nil
}

// Meta reads the meta of the last committed checkpoint without its
// records.
func (s *Store) Meta() (Meta, error) {
	var meta Meta
	err := s.do("read checkpoint meta", false, nil, func(tx *bolt.Tx) error {
		m, err := readMeta(tx)
		if err != nil {
			return &CorruptError{Path: s.path, Err: err}
		}
		meta = m
		return nil
	})
	if err != nil {
		return Meta{}, err
	}
	return meta, nil
}

// Close releases the file and its lock, after waiting for the call in
// progress. Calls after Close, Close included, return an error wrapping
// ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("close checkpoint: %w", ErrClosed)
	}
	s.closed = true
	if err := s.shutdown(); err != nil {
		return fmt.Errorf("close checkpoint %s: %w", s.path, err)
	}
	return nil
}

// shutdown closes s.db. When a bbolt panic left db's locks held, closing
// it would wait for ever: shutdown then only releases the file lock and
// the file, and leaves bbolt's memory map of the file in place.
func (s *Store) shutdown() error {
	if s.wedged == nil {
		return s.db.Close()
	}
	s.logger.Warn("checkpoint store closed after a bbolt panic; its memory map is leaked",
		"path", s.path, "err", s.wedged.Err)
	return errors.Join(unlockFile(s.file), s.file.Close())
}

// do runs fn in a bbolt transaction (read-write if writable) while holding
// the store, and prefixes errors with op.
func (s *Store) do(op string, writable bool, inCallback *bool, fn func(*bolt.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	switch {
	case s.closed:
		err = ErrClosed
	case s.wedged != nil:
		err = fmt.Errorf("store unusable after an earlier failure, close and reopen it: %w", s.wedged)
	default:
		err = s.run(writable, inCallback, fn)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// run runs fn in a bbolt transaction, committing a writable one if fn
// succeeds. The caller holds s.mu, or is Open.
//
// bbolt trusts the pages it reads, so damage it meets shows as a panic, or
// as a memory fault on its map, which debug.SetPanicOnFault turns into a
// panic for this goroutine. run recovers it as a *CorruptError and rolls
// the transaction back; if bbolt's own locks stay held (the panic came
// from Begin, or the rollback panicked too) it marks the store wedged. A
// panic raised while *inCallback is true comes from the caller's callback:
// run rolls back and raises it again.
func (s *Store) run(writable bool, inCallback *bool, fn func(*bolt.Tx) error) (err error) {
	var tx *bolt.Tx
	prev := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(prev)
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		released := tx != nil && rollback(tx)
		if inCallback != nil && *inCallback {
			panic(r)
		}
		ce := panicError(s.path, r)
		if !released {
			s.wedged = ce
		}
		err = ce
	}()
	tx, err = s.db.Begin(writable)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if writable {
		return tx.Commit()
	}
	return tx.Rollback()
}

// rollback ends tx after a panic and reports whether bbolt released its
// locks.
func rollback(tx *bolt.Tx) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	err := tx.Rollback()
	return err == nil || errors.Is(err, berrors.ErrTxClosed)
}

// panicError describes a recovered bbolt panic.
func panicError(path string, r any) *CorruptError {
	var fault interface{ Addr() uintptr }
	if e, ok := r.(error); ok && errors.As(e, &fault) {
		return &CorruptError{Path: path, Err: fmt.Errorf("memory fault at %#x reading the file (truncated or unreadable under the store?): %w", fault.Addr(), e)}
	}
	if e, ok := r.(error); ok {
		return &CorruptError{Path: path, Err: fmt.Errorf("bbolt panic: %w", e)}
	}
	return &CorruptError{Path: path, Err: fmt.Errorf("bbolt panic: %v", r)}
}

// guard runs fn, which does not use s.db (the structure check, bbolt's
// Open), and turns a panic or memory fault in it into a *CorruptError.
func (s *Store) guard(fn func() error) (err error) {
	prev := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(prev)
	defer func() {
		if r := recover(); r != nil {
			err = panicError(s.path, r)
		}
	}()
	return fn()
}

// putMeta stores payload, with its checksum, under key in the meta bucket.
func putMeta(mb *bolt.Bucket, key, payload []byte) error {
	v := make([]byte, crcSize+len(payload))
	encodeRecord(v, key, payload)
	return put(mb, key, v)
}

// put stores v under k in b. A damaged or foreign file may hold a nested
// bucket under k, which Load skips as malformed and bbolt refuses to
// overwrite: put deletes it first.
func put(b *bolt.Bucket, k, v []byte) error {
	err := b.Put(k, v)
	if errors.Is(err, berrors.ErrIncompatibleValue) {
		if err = b.DeleteBucket(k); err == nil {
			err = b.Put(k, v)
		}
	}
	return err
}

// del deletes k from b, be it a value or a nested bucket (see put).
func del(b *bolt.Bucket, k []byte) error {
	err := b.Delete(k)
	if errors.Is(err, berrors.ErrIncompatibleValue) {
		err = b.DeleteBucket(k)
	}
	return err
}

func writeMeta(mb *bolt.Bucket, gen uint64, writtenAt time.Time, header []byte) error {
	return errors.Join(
		putMeta(mb, keyFormat, binary.LittleEndian.AppendUint32(nil, FormatVersion)),
		putMeta(mb, keyGeneration, binary.LittleEndian.AppendUint64(nil, gen)),
		putMeta(mb, keyWrittenAt, binary.LittleEndian.AppendUint64(nil, uint64(writtenAt.UnixNano()))),
		putMeta(mb, keyHeader, header),
	)
}

// metaValue returns the checked payload stored under key in the meta
// bucket, or nil when there is none. The payload points into the map.
func metaValue(mb *bolt.Bucket, key []byte) ([]byte, error) {
	v := mb.Get(key)
	if v == nil {
		return nil, nil
	}
	p, err := decodeRecord(key, v)
	if err != nil {
		return nil, fmt.Errorf("meta %q: %w", key, err)
	}
	return p, nil
}

// metaUint reads a required little-endian integer of size bytes (4 or 8).
func metaUint(mb *bolt.Bucket, key []byte, size int) (uint64, error) {
	p, err := metaValue(mb, key)
	switch {
	case err != nil:
		return 0, err
	case p == nil:
		return 0, fmt.Errorf("meta %q missing", key)
	case len(p) != size:
		return 0, fmt.Errorf("meta %q: %d bytes, want %d", key, len(p), size)
	case size == 4:
		return uint64(binary.LittleEndian.Uint32(p)), nil
	default:
		return binary.LittleEndian.Uint64(p), nil
	}
}

// readMeta reads and checks the meta bucket. The format version is checked
// first, so that a file from a newer version says so.
func readMeta(tx *bolt.Tx) (Meta, error) {
	mb := tx.Bucket(metaBucket)
	if mb == nil {
		return Meta{}, fmt.Errorf("no %q bucket", metaBucket)
	}
	format, err := metaUint(mb, keyFormat, 4)
	if err != nil {
		return Meta{}, err
	}
	if format != uint64(FormatVersion) {
		if format > uint64(FormatVersion) {
			return Meta{}, fmt.Errorf("format version %d is newer than this program supports (%d)", format, FormatVersion)
		}
		return Meta{}, fmt.Errorf("unsupported format version %d (want %d)", format, FormatVersion)
	}
	m := Meta{FormatVersion: uint32(format)}
	if m.Generation, err = metaUint(mb, keyGeneration, 8); err != nil {
		return Meta{}, err
	}
	if p, err := metaValue(mb, keyWrittenAt); err != nil {
		return Meta{}, err
	} else if p != nil {
		if len(p) != 8 {
			return Meta{}, fmt.Errorf("meta %q: %d bytes, want 8", keyWrittenAt, len(p))
		}
		m.WrittenAt = time.Unix(0, int64(binary.LittleEndian.Uint64(p))).UTC()
	}
	p, err := metaValue(mb, keyHeader)
	if err != nil {
		return Meta{}, err
	}
	if len(p) > 0 {
		m.Header = bytes.Clone(p)
	}
	return m, nil
}
