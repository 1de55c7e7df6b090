package cgroup

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
)

// DefaultRoot is where the cgroup v2 hierarchy is mounted on a node. A
// DaemonSet that mounts the host's elsewhere passes that.
const DefaultRoot = "/sys/fs/cgroup"

// file names one interface file that the reader reads per container.
type file uint8

const (
	fileCPUStat file = iota
	fileMemoryCurrent
	fileMemoryStat
	fileMemoryMax
	fileMemoryEvents
	fileCPUPressure
	fileMemoryPressure
	numFiles
)

var fileNames = [numFiles]string{
	"cpu.stat", "memory.current", "memory.stat", "memory.max", "memory.events", "cpu.pressure", "memory.pressure",
}

// Options configure a Reader.
type Options struct {
	// Root is the directory searched for Kubernetes containers' cgroups:
	// the cgroup v2 mount (DefaultRoot), or a directory of the kubelet's
	// tree under it (kubepods.slice, kubepods, kind's kubelet.slice).
	// Default DefaultRoot.
	Root string
	// RescanInterval is how often every directory of the kubelet's tree
	// is listed again. Between those full scans a directory is listed
	// only when its link count (2 + its subdirectories, on cgroupfs as on
	// ext4 and tmpfs) has changed, or when a container under it has
	// gone, so new pods and containers are still found within a round.
	// The full scan catches what link counts cannot show: a container
	// removed and another created in the same pod within one round, on
	// a file system (not cgroupfs) where the removed one's open files
	// stay readable. Default one minute; negative lists every directory
	// every round.
	RescanInterval time.Duration
	// Clock times readings; nil is the real clock. Its Now must carry a
	// monotonic reading (time.Now's does) so that rates do not jump with
	// the wall clock.
	Clock clock.PassiveClock
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer receives the reader's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// DefaultRescanInterval is Options.RescanInterval's default.
const DefaultRescanInterval = time.Minute

// DefaultOptions returns the defaults documented on Options.
func DefaultOptions() Options {
	return Options{Root: DefaultRoot, RescanInterval: DefaultRescanInterval}
}

// Validate reports every problem with o.
func (o Options) Validate() error {
	if o.Root == "" {
		return errors.New("cgroup root: must not be empty")
	}
	return nil
}

// Reader samples the cgroup v2 files of every Kubernetes container on the
// node and turns their counters into Readings. It keeps each container's
// previous counters to difference them, and its interface files open to
// reread them (seven descriptors per container); it forgets containers
// that are gone, so its memory and descriptors are bounded by the
// containers alive at once.
//
// Read and Close are not safe for concurrent use: one goroutine calls
// Read once a round. Stats may be called from any goroutine.
type Reader struct {
	root           string
	rescanInterval time.Duration // negative: every round
	clock          clock.PassiveClock
	log            *slog.Logger

	buf  []byte // file contents, reused for every file
	dirs dirLister

	top      *dir         // the root, once scanned
	list     []*container // known containers, sorted by dir
	gen      uint64       // listing generation, to find entries a listing no longer shows
	lastFull time.Time    // time of the last full scan
	scanned  bool

	warned [numFiles]bool // whether a failure of each file has been logged at Warn

	// afterScan, when set (by tests), runs between a round's scan and
	// its reads: where a container removed in between is found gone.
	afterScan func()

	stats counters
}

// container is a container's cgroup and its previous counters.
type container struct {
	pod            *dir // the pod's directory
	name, id, dir  string
	paths          [numFiles]string // built once: Read only reads them
	fds            [numFiles]int    // open interface files, -1 where not open
	gen            uint64           // listing that last showed it
	gone           bool
	sampled        bool      // whether prevTime holds a previous reading's time
	prevTime       time.Time // time of the previous reading
	prev           Field     // which previous counters hold values: FieldCPU, FieldThrottling, FieldOOMKills, FieldCPUStall, FieldMemoryStall
	cpu            cpuStat
	oomKills       uint64
	cpuPSI, memPSI pressure
}

func newContainer(pod *dir, name, id string) *container {
	c := &container{pod: pod, name: name, id: id, dir: pod.path + "/" + name, fds: noFiles()}
	for f := range numFiles {
		c.paths[f] = c.dir + "/" + fileNames[f]
	}
	return c
}

// noFiles returns the fds of a container with no file open. (The zero
// value would be standard input, seven times.)
func noFiles() (fds [numFiles]int) {
	for f := range fds {
		fds[f] = -1
	}
	return fds
}

// close closes c's open files.
func (c *container) close() {
	for f, fd := range c.fds {
		if fd >= 0 {
			closeFile(fd)
			c.fds[f] = -1
		}
	}
}

// counters are the reader's statistics, updated by Read and read by
// Stats and the metrics collector from other goroutines.
type counters struct {
	rounds, scans, listings, scanErrors, vanished atomic.Uint64
	containers                                    atomic.Int64
	fileErrors                                    [numFiles]atomic.Uint64
}

// Stats are a Reader's running totals.
type Stats struct {
	// Rounds is the number of Read calls. Scans is how many of them
	// listed every directory; Listings counts directories listed, by
	// those and by the rounds between, which list only what changed.
	Rounds, Scans, Listings uint64
	// ScanErrors counts rounds that could not read Root.
	ScanErrors uint64
	// Containers is the number of container cgroups now known.
	Containers int
	// Vanished counts containers whose cgroup disappeared after a round
	// had found it: normal on a busy node.
	Vanished uint64
	// FileErrors counts, by file name ("cpu.stat", "memory.stat", …),
	// reads and parses that failed in a cgroup that still exists; each
	// failure left that file's fields missing from one Reading.
	FileErrors map[string]uint64
}

// New returns a Reader for o. It touches no file until the first Read.
func New(o Options) (*Reader, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	r := &Reader{
		root:           filepath.Clean(o.Root),
		rescanInterval: o.RescanInterval,
		clock:          o.Clock,
		log:            o.Logger,
		buf:            make([]byte, 8<<10), // memory.stat is the longest, at 2–3 KiB
	}
	if r.rescanInterval == 0 {
		r.rescanInterval = DefaultRescanInterval
	}
	if r.clock == nil {
		r.clock = clock.RealClock{}
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(&collector{s: &r.stats}); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Stats returns the reader's running totals. Safe for concurrent use.
func (r *Reader) Stats() Stats {
	s := Stats{
		Rounds:     r.stats.rounds.Load(),
		Scans:      r.stats.scans.Load(),
		Listings:   r.stats.listings.Load(),
		ScanErrors: r.stats.scanErrors.Load(),
		Containers: int(r.stats.containers.Load()),
		Vanished:   r.stats.vanished.Load(),
		FileErrors: make(map[string]uint64, numFiles),
	}
	for f := range numFiles {
		s.FileErrors[fileNames[f]] = r.stats.fileErrors[f].Load()
	}
	return s
}

// Close closes the files the reader holds open. The Reader must not be
// used after.
func (r *Reader) Close() error {
	if r.top != nil {
		r.drop(r.top)
		r.top = nil
	}
	r.list = nil
	r.stats.containers.Store(0)
	return nil
}

// Read takes one round: it brings the set of containers up to date, then
// reads every known container's files and appends one Reading per
// container to dst, in a stable order (by cgroup path), and returns it.
// A container's first Reading has no rates; every later one covers the
// time since the one before. Failures never stop a round: a file that
// cannot be read or parsed leaves its fields missing (and is counted in
// Stats), and a container whose cgroup has gone yields no Reading and is
// forgotten.
//
// Besides a path per directory it stats, Read allocates only for
// containers and directories it sees for the first time, and for dst to
// grow: pass the previous round's slice, truncated, as dst.
func (r *Reader) Read(dst []Reading) []Reading {
	now := r.clock.Now()
	full := !r.scanned || r.rescanInterval < 0 || now.Sub(r.lastFull) >= r.rescanInterval
	if full {
		r.lastFull, r.scanned = now, true
	}
	r.scan(full)
	if r.afterScan != nil {
		r.afterScan()
	}
	gone := false
	for _, c := range r.list {
		rd, ok := r.sample(c)
		if !ok {
			c.gone, gone = true, true
			r.stats.vanished.Add(1)
			r.log.Debug("cgroup vanished", "pod_uid", c.pod.uid, "container_id", c.id)
			continue
		}
		dst = append(dst, rd)
	}
	if gone {
		r.list = slices.DeleteFunc(r.list, func(c *container) bool {
			if c.gone {
				c.close()
				delete(c.pod.containers, c.name)
				// Its pod may hold its successor (a restart): list the
				// pod again next round, whatever its link count says.
				c.pod.dirty = true
			}
			return c.gone
		})
		r.stats.containers.Store(int64(len(r.list)))
	}
	r.stats.rounds.Add(1)
	return dst
}

// readStatus is the outcome of reading one file.
type readStatus uint8

const (
	readOK readStatus = iota
	readFailed
	readGone
)

// read reads c's file f into r.buf, opening it on first use and keeping
// it open. A failure in a cgroup that still exists is counted and logged,
// and the file is reopened next round.
func (r *Reader) read(c *container, f file) ([]byte, readStatus) {
	var err error
	if c.fds[f] < 0 {
		if c.fds[f], err = openFile(c.paths[f]); err != nil {
			c.fds[f] = -1
			if isGone(err) && !dirExists(c.dir) {
				return nil, readGone
			}
			r.fail(c, f, err)
			return nil, readFailed
		}
	}
	b, err := preadAll(c.fds[f], r.buf)
	r.buf = b[:0]
	if err == nil {
		return b, readOK
	}
	closeFile(c.fds[f])
	c.fds[f] = -1
	if isGone(err) {
		return nil, readGone
	}
	r.fail(c, f, err)
	return nil, readFailed
}

// fail counts a failed file and logs it: at Warn the first time for each
// file name (a node that lacks a controller fails every round), at Debug
// after that.
func (r *Reader) fail(c *container, f file, err error) {
	r.stats.fileErrors[f].Add(1)
	level := slog.LevelDebug
	if !r.warned[f] {
		r.warned[f], level = true, slog.LevelWarn
	}
	r.log.Log(context.Background(), level, "cannot read cgroup file", "file", fileNames[f], "dir", c.dir, "err", err)
}

// sample reads c's files once and derives a Reading. ok is false when the
// cgroup has gone.
func (r *Reader) sample(c *container) (rd Reading, ok bool) {
	now := r.clock.Now()
	rd = Reading{PodUID: c.pod.uid, ContainerID: c.id, Time: now}
	// Rates need time to have passed since a previous reading; a clock
	// that did not advance gives none rather than a division by zero.
	var dt time.Duration
	if c.sampled {
		dt = now.Sub(c.prevTime)
	}
	prev := c.prev
	if dt > 0 {
		rd.Interval = dt
	} else {
		prev = 0
	}
	c.prev = 0
	c.sampled, c.prevTime = true, now

	b, st := r.read(c, fileCPUStat)
	if st == readGone {
		return Reading{}, false
	}
	if st == readOK {
		if s, err := parseCPUStat(b); err != nil {
			r.fail(c, fileCPUStat, err)
		} else {
			cpuRates(&rd, prev, &c.cpu, &s, dt)
			c.cpu = s
			c.prev |= FieldCPU
			if s.hasThrottling {
				c.prev |= FieldThrottling
			}
		}
	}

	var current uint64
	if b, st = r.read(c, fileMemoryCurrent); st == readGone {
		return Reading{}, false
	} else if st == readOK {
		var err error
		if current, err = parseSingleUint(b); err != nil {
			r.fail(c, fileMemoryCurrent, err)
		} else {
			rd.MemoryCurrentBytes = current
			rd.Valid |= FieldMemory
		}
	}

	if b, st = r.read(c, fileMemoryStat); st == readGone {
		return Reading{}, false
	} else if st == readOK {
		if s, err := parseMemoryStat(b); err != nil {
			r.fail(c, fileMemoryStat, err)
		} else {
			rd.AnonBytes, rd.FileBytes = s.anon, s.file
			rd.ActiveFileBytes, rd.InactiveFileBytes = s.activeFile, s.inactiveFile
			rd.Valid |= FieldMemoryStat
			if rd.Valid.Has(FieldMemory) {
				if current > s.inactiveFile {
					rd.WorkingSetBytes = current - s.inactiveFile
				}
				rd.Valid |= FieldWorkingSet
			}
		}
	}

	if b, st = r.read(c, fileMemoryMax); st == readGone {
		return Reading{}, false
	} else if st == readOK {
		if n, err := parseLimit(b); err != nil {
			r.fail(c, fileMemoryMax, err)
		} else {
			rd.MemoryLimitBytes = n
			rd.Valid |= FieldMemoryLimit
		}
	}

	if b, st = r.read(c, fileMemoryEvents); st == readGone {
		return Reading{}, false
	} else if st == readOK {
		if n, err := parseOOMKills(b); err != nil {
			r.fail(c, fileMemoryEvents, err)
		} else {
			rd.OOMKillsTotal = n
			rd.Valid |= FieldOOMKillsTotal
			if prev.Has(FieldOOMKills) && n >= c.oomKills {
				rd.OOMKills = n - c.oomKills
				rd.Valid |= FieldOOMKills
			}
			c.oomKills = n
			c.prev |= FieldOOMKills
		}
	}

	for _, psi := range [...]struct {
		f          file
		dst        *Pressure
		last       *pressure
		avg, stall Field
	}{
		{fileCPUPressure, &rd.CPUPressure, &c.cpuPSI, FieldCPUPressure, FieldCPUStall},
		{fileMemoryPressure, &rd.MemoryPressure, &c.memPSI, FieldMemoryPressure, FieldMemoryStall},
	} {
		if b, st = r.read(c, psi.f); st == readGone {
			return Reading{}, false
		} else if st != readOK {
			continue
		}
		p, err := parsePressure(b)
		if err != nil {
			r.fail(c, psi.f, err)
			continue
		}
		psi.dst.SomeAvg10, psi.dst.FullAvg10 = p.someAvg10, p.fullAvg10
		rd.Valid |= psi.avg
		if prev.Has(psi.stall) && p.someTotal >= psi.last.someTotal && p.fullTotal >= psi.last.fullTotal && p.hasFull == psi.last.hasFull {
			psi.dst.SomeStall = time.Duration(p.someTotal-psi.last.someTotal) * time.Microsecond
			psi.dst.FullStall = time.Duration(p.fullTotal-psi.last.fullTotal) * time.Microsecond
			rd.Valid |= psi.stall
		}
		*psi.last = p
		c.prev |= psi.stall
	}
	return rd, true
}

// cpuRates sets rd's CPU and throttling fields from two cpu.stat readings
// dt apart, when the previous one is valid (in prev) and no counter went
// backwards. Counters only go backwards if the cgroup was replaced under
// the same name, which the kubelet never does; the round after gives
// rates again.
func cpuRates(rd *Reading, prev Field, last, cur *cpuStat, dt time.Duration) {
	if !prev.Has(FieldCPU) || cur.usageUsec < last.usageUsec {
		return
	}
	rd.CPUCores = float64(cur.usageUsec-last.usageUsec) / 1e6 / dt.Seconds()
	rd.Valid |= FieldCPU
	if !prev.Has(FieldThrottling) || !cur.hasThrottling ||
		cur.nrPeriods < last.nrPeriods || cur.nrThrottled < last.nrThrottled || cur.throttledUsec < last.throttledUsec {
		return
	}
	periods, throttled := cur.nrPeriods-last.nrPeriods, cur.nrThrottled-last.nrThrottled
	if periods > 0 {
		rd.ThrottledFraction = min(1, float64(throttled)/float64(periods))
	}
	rd.ThrottledTime = time.Duration(cur.throttledUsec-last.throttledUsec) * time.Microsecond
	rd.Valid |= FieldThrottling
}

// readSmallFile reads a short file into a new buffer.
func readSmallFile(path string) ([]byte, error) {
	return readInto(path, make([]byte, 0, 512))
}
