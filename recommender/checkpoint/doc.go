// Package checkpoint is the crash-safe on-disk store for the recommendation
// engine's state: a versioned key/value checkpoint in one embedded bbolt
// file (go.etcd.io/bbolt).
//
// The store is generic. The engine encodes each container's state to bytes
// itself and hands the store Records (key, value); the store adds integrity
// checks, keeps a small Meta beside the records (an opaque caller header,
// such as the engine's own encoding version, the time written and a
// generation counter), and never loses the last good checkpoint:
//
//	s, err := checkpoint.Open(path, checkpoint.Options{Logger: logger})
//	// err: permissions, or the file is locked by another process.
//	// s.Recovered() != nil: a bad file was moved aside; s is empty.
//	meta, stats, err := s.Load(func(key, value []byte) error { ... })
//	err = s.Write(checkpoint.Meta{Header: hdr}, changed, deleted) // incremental
//	err = s.Replace(checkpoint.Meta{Header: hdr}, all)            // full
//
// # Layout
//
// The bbolt file holds two buckets. "meta" holds the layout version
// (FormatVersion), the generation (incremented by every successful Write or
// Replace), the time written and the caller's header. "records" holds the
// records, in key order. Every value in both buckets is stored as a 4-byte
// CRC-32C (Castagnoli) followed by the payload; the CRC covers the key's
// length, the key and the payload.
//
// # Crash safety
//
// Each Write and Replace is one bbolt read-write transaction. bbolt keeps a
// copy-on-write B+tree: a transaction writes changed pages to free space,
// never over pages of the last commit, fsyncs them, and only then writes
// and fsyncs one of its two meta pages, which carries a checksum and
// points at the new tree root. A crash at any point before the meta page is
// durable leaves the previous meta page, and so the previous checkpoint,
// in force; a torn meta page fails its checksum and bbolt uses the other
// one. So after a crash a Write or Replace is on disk entirely or not at
// all, and the file is never left unreadable by a crash (Options.NoSync
// gives this up for machine crashes, and is for tests only).
//
// bbolt checksums its meta pages but not its data pages. The per-value
// CRC-32C catches bit rot inside a key or value: Load skips such a record
// and counts it in LoadStats, and every other record still loads.
//
// # Corrupt files
//
// Damage that a crash cannot cause (a disk error, a truncated copy, another
// program's file, a file from a newer version) is handled by Open without
// failing or panicking. Before bbolt maps the file, Open checks its
// structure page by page: meta pages, freelist, and the bounds, types, key
// order and references of every page of every bucket, so that bbolt, which
// trusts its pages and may panic, fault or loop on a damaged one, never
// meets one. It then checks the layout and the meta's checksums and version.
// A file that fails is renamed to "<path>.corrupt-<UTC time>" (it is never
// deleted), one warning is logged, and the store starts empty; Recovered
// returns a *CorruptError saying what was wrong and where the file went.
// A file that holds a valid bbolt database with no buckets at all (a
// creation interrupted before its first transaction) is taken as a new,
// empty store.
//
// Should the file be damaged on disk while it is open, bbolt panics and
// memory faults on its map inside Load, Meta, Write and Replace are
// recovered and returned as a *CorruptError; Close and Open again to move
// the file aside. When such a panic leaves bbolt's own locks held, every
// later call returns that error and Close releases the file without
// waiting for them.
//
// # Locking and concurrency
//
// Open takes an exclusive lock (flock(2)) on the file, held until Close, so
// two processes, or two Stores in one process, never write one file; the
// second Open fails with ErrLocked after Options.LockTimeout. The lock is
// taken before the file is checked, so a file is never moved aside from
// under its owner. On systems without flock(2) only bbolt's own lock
// applies, and the check runs before it is taken.
//
// All methods of Store are safe for concurrent use; they run one at a time.
// Load reads one consistent snapshot: the last committed Write or Replace.
//
// # Costs
//
// For 100,000 records of 1.5 KB (150 MB), on a 2-core VM with a virtio
// disk (go test -run='^$' -bench=. -benchmem ./recommender/checkpoint/):
// Replace takes about 0.8 s with fsync (0.5 s without) and allocates about
// 300 MB; a Write of 1,000 changed records about 40 ms with fsync (15 ms
// without); Open, which checks the whole file, about 80 ms with the file in
// the page cache; Load about 40 ms plus the callback's work.
//
// A 1.5 KB record takes about 2.2 KB of file after one Replace (two fit a
// 4 KB page). A Replace writes the new records before it frees the old
// ones, so after repeated Replaces the file settles near 4.3 KB per record.
// bbolt reuses freed pages but never shrinks the file.
package checkpoint
