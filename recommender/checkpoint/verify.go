package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/bits"
)

// This file checks the structure of a bbolt file before bbolt maps it.
//
// bbolt trusts its data pages: a damaged page can make it panic, fault on
// an address past the end of the file, loop, or, in bbolt's own consistency
// walk (run on a goroutine when the freelist is not synced), panic where no
// caller can recover. verifyFile therefore reads the file with plain ReadAt
// calls and bounds-checked slices and walks everything bbolt could touch:
// both meta pages, the freelist and every branch, leaf and nested bucket
// page reachable from the chosen meta page. It makes at least the checks of
// bbolt's (*Tx).Check (page bounds, page types, no page referenced twice, no
// page both in use and free, B+tree key order) plus the bounds of every
// element, key and value, so that a file it accepts can be opened and read
// by bbolt without panicking. It is linear in the size of the file, reads
// one page at a time and keeps one page buffer per tree level.
//
// The constants mirror go.etcd.io/bbolt/internal/common. Integers are in
// the byte order of the machine that wrote the file, as in bbolt.

const (
	boltMagic         = 0xED0CDAED
	boltVersion       = 2
	pageHeaderSize    = 16 // id u64, flags u16, count u16, overflow u32
	elementSize       = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	metaSize          = 64 // magic..txid, then checksum u64 at offset 56
	metaChecksumStart = 56
	bucketHeaderSize  = 16 // root pgid u64, sequence u64

	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	metaPageFlag     = 0x04
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01

	noFreelist = ^uint64(0)

	minPageSize = 1 << 10
	maxPageSize = 1 << 24
	// maxDepth bounds tree levels plus bucket nesting. A bbolt B+tree of
	// any size that fits in a file is far shallower.
	maxDepth = 128
)

var ne = binary.NativeEndian

// errNotBolt is the error for a file with no bbolt meta page.
var errNotBolt = errors.New("not a bbolt database: no valid meta page")

// boltMeta is a decoded bbolt meta page.
type boltMeta struct {
	pageSize uint32
	root     uint64 // root bucket's root page
	freelist uint64 // freelist page, or noFreelist
	hwm      uint64 // high-water mark: first page id never allocated
	txid     uint64
}

// parseMeta decodes and validates the meta stored in the page starting at
// p[0]. p may be short: missing bytes read as zero, as in bbolt.
func parseMeta(p []byte) (boltMeta, error) {
	var b [pageHeaderSize + metaSize]byte
	copy(b[:], p)
	m := b[pageHeaderSize:]
	switch {
	case ne.Uint32(m[0:]) != boltMagic:
		return boltMeta{}, errNotBolt
	case ne.Uint32(m[4:]) != boltVersion:
		return boltMeta{}, fmt.Errorf("unsupported bbolt version %d, want %d", ne.Uint32(m[4:]), boltVersion)
	}
	h := fnv.New64a()
	_, _ = h.Write(m[:metaChecksumStart])
	if h.Sum64() != ne.Uint64(m[metaChecksumStart:]) {
		return boltMeta{}, errors.New("meta page checksum mismatch")
	}
	return boltMeta{
		pageSize: ne.Uint32(m[8:]),
		root:     ne.Uint64(m[16:]),
		freelist: ne.Uint64(m[32:]),
		hwm:      ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
	}, nil
}

// readAtMost reads up to len(b) bytes at off and returns how many it read;
// io.EOF is not an error.
func readAtMost(r io.ReaderAt, b []byte, off int64) (int, error) {
	n, err := r.ReadAt(b, off)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// ioError marks a read failure, which is not evidence of a damaged file.
type ioError struct{ err error }

func (e *ioError) Error() string { return e.err.Error() }
func (e *ioError) Unwrap() error { return e.err }

// findMeta picks the page size and the meta page exactly as bbolt's Open
// and (*DB).meta do.
func findMeta(r io.ReaderAt, size int64) (boltMeta, error) {
	var buf [0x1000]byte
	var pageSize uint32
	// bbolt reads the first meta only from a full 4 KiB read at offset 0.
	n, err := readAtMost(r, buf[:], 0)
	if err != nil {
		return boltMeta{}, &ioError{err}
	}
	firstErr := errNotBolt
	if n == len(buf) {
		m, err := parseMeta(buf[:])
		if err == nil {
			pageSize = m.pageSize
		} else {
			firstErr = err
		}
	} else if size >= pageHeaderSize+metaSize {
		if _, err := parseMeta(buf[:n]); err != nil {
			firstErr = err
		}
	}
	// Otherwise bbolt probes for the second meta page at 1 KiB .. 16 MiB.
	for i := 0; pageSize == 0 && i <= 14; i++ {
		pos := int64(1024) << i
		if pos >= size-1024 {
			break
		}
		clear(buf[:])
		if _, err := readAtMost(r, buf[:], pos); err != nil {
			return boltMeta{}, &ioError{err}
		}
		if m, err := parseMeta(buf[:]); err == nil {
			pageSize = m.pageSize
		}
	}
	if pageSize == 0 {
		if size < 2*minPageSize {
			return boltMeta{}, fmt.Errorf("file too small for a bbolt database (%d bytes): %w", size, firstErr)
		}
		return boltMeta{}, firstErr
	}
	if pageSize < minPageSize || pageSize > maxPageSize || bits.OnesCount32(pageSize) != 1 {
		return boltMeta{}, fmt.Errorf("implausible page size %d", pageSize)
	}
	ps := int64(pageSize)
	if size < 2*ps {
		return boltMeta{}, fmt.Errorf("file too small for a bbolt database (%d bytes, page size %d)", size, ps)
	}
	var metas [2]boltMeta
	var errs [2]error
	for i := range metas {
		var p [pageHeaderSize + metaSize]byte
		if _, err := readAtMost(r, p[:], int64(i)*ps); err != nil {
			return boltMeta{}, &ioError{err}
		}
		metas[i], errs[i] = parseMeta(p[:])
	}
	a, b := 0, 1
	if metas[1].txid > metas[0].txid {
		a, b = 1, 0
	}
	var m boltMeta
	switch {
	case errs[a] == nil:
		m = metas[a]
	case errs[b] == nil:
		m, a = metas[b], b
	default:
		return boltMeta{}, fmt.Errorf("both meta pages are invalid: %w", errs[0])
	}
	// bbolt writes the meta of transaction t to page t%2, so that a commit
	// never overwrites the meta it replaces.
	if m.txid%2 != uint64(a) {
		return boltMeta{}, fmt.Errorf("meta page %d holds transaction %d", a, m.txid)
	}
	if m.pageSize != pageSize {
		return boltMeta{}, fmt.Errorf("meta pages disagree on the page size (%d, %d)", m.pageSize, pageSize)
	}
	return m, nil
}

// pageInfo describes one page reached by the checker; tests use it to
// find pages to damage.
type pageInfo struct {
	ID       uint64
	Flags    uint16
	Overflow uint32
	Bucket   string // bucket whose tree holds the page: "" for the root bucket, else the names joined with "/"
}

// checker walks a bbolt file. It is not safe for concurrent use.
type checker struct {
	r        io.ReaderAt
	pageSize uint64
	hwm      uint64
	seen     bitset // pages in use
	free     bitset // pages on the freelist
	bufs     [][]byte
	visit    func(pageInfo) // optional, for tests
}

type bitset []uint64

func newBitset(n uint64) bitset    { return make(bitset, (n+63)/64) }
func (s bitset) has(i uint64) bool { return s[i/64]&(1<<(i%64)) != 0 }
func (s bitset) set(i uint64)      { s[i/64] |= 1 << (i % 64) }

// hasAny reports whether any of the n bits from i is set.
func (s bitset) hasAny(i, n uint64) bool {
	for j := i; j < i+n; j++ {
		if s.has(j) {
			return true
		}
	}
	return false
}

// verifyFile reports whether the bbolt file in r, of size bytes, is
// structurally sound. A returned *ioError is a read failure; any other
// error describes damage. visit, if not nil, sees every page in use.
func verifyFile(r io.ReaderAt, size int64, visit func(pageInfo)) error {
	m, err := findMeta(r, size)
	if err != nil {
		return err
	}
	c := &checker{r: r, pageSize: uint64(m.pageSize), hwm: m.hwm, visit: visit}
	if m.hwm < 3 {
		return fmt.Errorf("meta high-water mark %d is below the minimum", m.hwm)
	}
	if m.hwm > uint64(size)/c.pageSize {
		return fmt.Errorf("file truncated: %d bytes, the database needs %d pages of %d bytes", size, m.hwm, m.pageSize)
	}
	c.seen = newBitset(m.hwm)
	c.free = newBitset(m.hwm)
	c.seen.set(0)
	c.seen.set(1)
	if m.freelist != noFreelist {
		if err := c.freelist(m.freelist); err != nil {
			return err
		}
	}
	if _, err := c.tree(m.root, nil, nil, 0, ""); err != nil {
		return err
	}
	return nil
}

// page reads page id, with its overflow pages, into the buffer for depth,
// and marks it in use.
func (c *checker) page(id uint64, depth int, bucket string) ([]byte, error) {
	if id < 2 || id >= c.hwm {
		return nil, fmt.Errorf("page %d is outside the database (pages 2..%d)", id, c.hwm-1)
	}
	for len(c.bufs) <= depth {
		c.bufs = append(c.bufs, make([]byte, c.pageSize))
	}
	p := c.bufs[depth][:c.pageSize]
	if err := c.readFull(p, id); err != nil {
		return nil, err
	}
	if got := ne.Uint64(p); got != id {
		return nil, fmt.Errorf("page %d identifies itself as page %d", id, got)
	}
	overflow := uint64(ne.Uint32(p[12:]))
	if overflow >= c.hwm-id {
		return nil, fmt.Errorf("page %d: %d overflow pages run past the end of the database", id, overflow)
	}
	if c.seen.hasAny(id, overflow+1) {
		return nil, fmt.Errorf("page %d is referenced twice", id)
	}
	if c.free.hasAny(id, overflow+1) {
		return nil, fmt.Errorf("page %d is in use but also on the freelist", id)
	}
	for i := id; i <= id+overflow; i++ {
		c.seen.set(i)
	}
	if overflow > 0 {
		n := (overflow + 1) * c.pageSize
		if uint64(cap(c.bufs[depth])) < n {
			grown := make([]byte, n)
			copy(grown, p)
			c.bufs[depth] = grown
		}
		p = c.bufs[depth][:n]
		if err := c.readFull(p[c.pageSize:], id+1); err != nil {
			return nil, err
		}
	}
	if c.visit != nil {
		c.visit(pageInfo{ID: id, Flags: ne.Uint16(p[8:]), Overflow: uint32(overflow), Bucket: bucket})
	}
	return p, nil
}

func (c *checker) readFull(p []byte, id uint64) error {
	n, err := readAtMost(c.r, p, int64(id*c.pageSize))
	if err != nil {
		return &ioError{err}
	}
	if n != len(p) {
		return fmt.Errorf("page %d: file ends inside the page", id)
	}
	return nil
}

func (c *checker) freelist(id uint64) error {
	p, err := c.page(id, 0, "")
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	if flags := ne.Uint16(p[8:]); flags != freelistPageFlag {
		return fmt.Errorf("freelist: page %d has type %#x, want freelist", id, flags)
	}
	start, count := uint64(pageHeaderSize), uint64(ne.Uint16(p[10:]))
	if count == 0xFFFF {
		if len(p) < pageHeaderSize+8 {
			return fmt.Errorf("freelist: page %d is too small", id)
		}
		count = ne.Uint64(p[pageHeaderSize:])
		start += 8
	}
	if count > (uint64(len(p))-start)/8 {
		return fmt.Errorf("freelist: page %d claims %d ids, more than fit", id, count)
	}
	for i := range count {
		f := ne.Uint64(p[start+8*i:])
		switch {
		case f < 2 || f >= c.hwm:
			return fmt.Errorf("freelist: page id %d is outside the database", f)
		case c.free.has(f):
			return fmt.Errorf("freelist: page %d is freed twice", f)
		case c.seen.has(f):
			return fmt.Errorf("freelist: page %d is in use but also on the freelist", f)
		}
		c.free.set(f)
	}
	return nil
}

// elem is one element of a page: its key, and its flags and value (leaf
// pages) or child page (branch pages).
type elem struct {
	flags      uint32
	key, value []byte
	child      uint64 // branch pages only
}

// element decodes element i of the page (or inline page) p, checking that
// its key and value lie inside p. The caller has checked that the element
// itself does.
func element(p []byte, i int, leaf bool) (elem, error) {
	off := uint64(pageHeaderSize + i*elementSize)
	e := p[off : off+elementSize]
	var (
		flags, pos, ksize, vsize uint32
		child                    uint64
	)
	if leaf {
		flags, pos, ksize, vsize = ne.Uint32(e), ne.Uint32(e[4:]), ne.Uint32(e[8:]), ne.Uint32(e[12:])
	} else {
		pos, ksize, child = ne.Uint32(e), ne.Uint32(e[4:]), ne.Uint64(e[8:])
	}
	kstart := off + uint64(pos)
	kend := kstart + uint64(ksize)
	vend := kend + uint64(vsize)
	if vend > uint64(len(p)) {
		return elem{}, fmt.Errorf("element %d lies outside its page", i)
	}
	if ksize == 0 {
		return elem{}, fmt.Errorf("element %d has an empty key", i)
	}
	return elem{flags: flags, key: p[kstart:kend], value: p[kend:vend], child: child}, nil
}

// order applies bbolt's key-order rules to key, element i of a page whose
// keys must lie in [prev, hi).
func order(i int, key, prev, hi []byte) error {
	if prev != nil {
		if c := bytes.Compare(prev, key); c > 0 || (c == 0 && i > 0) {
			return fmt.Errorf("element %d: keys out of order", i)
		}
	}
	if hi != nil && bytes.Compare(key, hi) >= 0 {
		return fmt.Errorf("element %d: key beyond its parent's range", i)
	}
	return nil
}

// tree checks the subtree rooted at page id, whose keys must lie in
// [lo, hi), and returns its largest key (nil for an empty leaf), copied.
// lo is nil for the root of a bucket; otherwise it is the parent's key for
// this page, which must equal the page's first key: bbolt finds a page in
// its parent by that key when it rewrites the page, and would otherwise
// add a second reference instead of replacing the first.
func (c *checker) tree(id uint64, lo, hi []byte, depth int, bucket string) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("page %d: tree deeper than %d levels", id, maxDepth)
	}
	p, err := c.page(id, depth, bucket)
	if err != nil {
		return nil, err
	}
	flags := ne.Uint16(p[8:])
	if flags != branchPageFlag && flags != leafPageFlag {
		return nil, fmt.Errorf("page %d has type %#x, want branch or leaf", id, flags)
	}
	count := int(ne.Uint16(p[10:]))
	if pageHeaderSize+count*elementSize > len(p) {
		return nil, fmt.Errorf("page %d: %d elements do not fit in the page", id, count)
	}
	if lo != nil {
		if count == 0 {
			return nil, fmt.Errorf("page %d: empty page below a branch", id)
		}
		first, err := element(p, 0, flags == leafPageFlag)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", id, err)
		}
		if !bytes.Equal(first.key, lo) {
			return nil, fmt.Errorf("page %d: first key differs from its parent's key for it", id)
		}
	}
	if flags == branchPageFlag {
		if count == 0 {
			return nil, fmt.Errorf("page %d: empty branch page", id)
		}
		elems := make([]elem, count)
		for i := range elems {
			if elems[i], err = element(p, i, false); err != nil {
				return nil, fmt.Errorf("page %d: %w", id, err)
			}
		}
		prev := lo
		for i, e := range elems {
			if err := order(i, e.key, prev, hi); err != nil {
				return nil, fmt.Errorf("page %d: %w", id, err)
			}
			next := hi
			if i+1 < len(elems) {
				next = elems[i+1].key
			}
			if prev, err = c.tree(e.child, e.key, next, depth+1, bucket); err != nil {
				return nil, err
			}
		}
		return prev, nil
	}
	if err := c.leaf(p, count, lo, hi, depth, bucket); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	if count == 0 {
		return nil, nil
	}
	last, _ := element(p, count-1, true)
	return bytes.Clone(last.key), nil
}

// leaf checks the elements of a leaf page (or inline page) p and the
// buckets they hold.
func (c *checker) leaf(p []byte, count int, lo, hi []byte, depth int, bucket string) error {
	prev := lo
	for i := range count {
		e, err := element(p, i, true)
		if err != nil {
			return err
		}
		if err := order(i, e.key, prev, hi); err != nil {
			return err
		}
		prev = e.key
		if e.flags&bucketLeafFlag == 0 {
			continue
		}
		name := string(e.key)
		if bucket != "" {
			name = bucket + "/" + name
		}
		if len(e.value) < bucketHeaderSize {
			return fmt.Errorf("bucket %q: header too short", name)
		}
		root := ne.Uint64(e.value)
		if root != 0 {
			if _, err := c.tree(root, nil, nil, depth+1, name); err != nil {
				return fmt.Errorf("bucket %q: %w", name, err)
			}
			continue
		}
		if err := c.inline(e.value[bucketHeaderSize:]); err != nil {
			return fmt.Errorf("inline bucket %q: %w", name, err)
		}
	}
	return nil
}

// inline checks an inline bucket's page, which bbolt only ever writes as a
// leaf holding no buckets.
func (c *checker) inline(p []byte) error {
	if len(p) < pageHeaderSize {
		return errors.New("page header too short")
	}
	if flags := ne.Uint16(p[8:]); flags != leafPageFlag {
		return fmt.Errorf("page type %#x, want leaf", flags)
	}
	count := int(ne.Uint16(p[10:]))
	if pageHeaderSize+count*elementSize > len(p) {
		return fmt.Errorf("%d elements do not fit", count)
	}
	var prev []byte
	for i := range count {
		e, err := element(p, i, true)
		if err != nil {
			return err
		}
		if err := order(i, e.key, prev, nil); err != nil {
			return err
		}
		if e.flags&bucketLeafFlag != 0 {
			return fmt.Errorf("element %d: bucket inside an inline bucket", i)
		}
		prev = e.key
	}
	return nil
}
