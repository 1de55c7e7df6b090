package cgroup

import (
	"bytes"
	"errors"
	"math"
)

// The parsers below read the kernel's formats (Documentation/admin-guide/
// cgroup-v2.rst, "Interface Files"; Documentation/accounting/psi.rst) by
// hand, from a caller's buffer, without allocating: they run for every
// file of every container every round. Keys may appear in any order and
// new keys may appear anywhere, so each looks keys up by name and
// ignores the rest. A file that lacks a key the parser needs is an error,
// so that a truncated read is never taken for a zero.

// errSyntax is what every parser returns for input not in the kernel's
// format. One static error keeps the failure path allocation-free too.
var errSyntax = errors.New("malformed cgroup file")

// cpuStat holds the cpu.stat counters the reader uses, in microseconds
// and periods. The three bandwidth counters are present only where the cpu
// controller is enabled, which the kubelet always does for pods.
type cpuStat struct {
	usageUsec     uint64
	nrPeriods     uint64
	nrThrottled   uint64
	throttledUsec uint64
	hasThrottling bool
}

func parseCPUStat(b []byte) (cpuStat, error) {
	var s cpuStat
	seen, err := parseKeyed(b, &cpuStatKeys, [4]*uint64{&s.usageUsec, &s.nrPeriods, &s.nrThrottled, &s.throttledUsec}, false)
	if err != nil || seen&1 == 0 { // usage_usec is always there
		return cpuStat{}, errSyntax
	}
	s.hasThrottling = seen&0b1110 == 0b1110
	return s, nil
}

var cpuStatKeys = [4]string{"usage_usec", "nr_periods", "nr_throttled", "throttled_usec"}

// memoryStat holds the memory.stat entries the reader uses, in bytes.
type memoryStat struct {
	anon, file, inactiveFile, activeFile uint64
}

var memoryStatKeys = [4]string{"anon", "file", "inactive_file", "active_file"}

func parseMemoryStat(b []byte) (memoryStat, error) {
	var s memoryStat
	seen, err := parseKeyed(b, &memoryStatKeys, [4]*uint64{&s.anon, &s.file, &s.inactiveFile, &s.activeFile}, true)
	if err != nil || seen != 0b1111 {
		return memoryStat{}, errSyntax
	}
	return s, nil
}

var oomKillKey = [4]string{"oom_kill"}

// parseOOMKills returns memory.events' oom_kill: the number of the
// cgroup's processes (its descendants' included) that any OOM killer has
// killed.
func parseOOMKills(b []byte) (uint64, error) {
	var n uint64
	seen, err := parseKeyed(b, &oomKillKey, [4]*uint64{&n}, true)
	if err != nil || seen == 0 {
		return 0, errSyntax
	}
	return n, nil
}

// parseKeyed reads a flat-keyed file ("key value" lines: cpu.stat,
// memory.stat, memory.events), storing the value of keys[i] in *dst[i]
// (an empty key is unused). It returns bit i set for each keys[i] seen.
// With stopEarly it stops once every key is seen (memory.stat runs to some
// 60 lines and the keys the reader needs come in its first half);
// otherwise the whole file must be well formed.
func parseKeyed(b []byte, keys *[4]string, dst [4]*uint64, stopEarly bool) (int, error) {
	all := 0
	for i, k := range keys {
		if k != "" {
			all |= 1 << i
		}
	}
	seen := 0
	for len(b) > 0 && (!stopEarly || seen != all) {
		key, val, rest, ok := nextKeyValue(b)
		if !ok {
			return seen, errSyntax
		}
		b = rest
		for i, k := range keys {
			if k != "" && string(key) == k {
				if *dst[i], ok = parseUint(val); !ok {
					return seen, errSyntax
				}
				seen |= 1 << i
				break
			}
		}
	}
	return seen, nil
}

// parseSingleUint parses a single-value file such as memory.current.
func parseSingleUint(b []byte) (uint64, error) {
	n, ok := parseUint(trimNewline(b))
	if !ok {
		return 0, errSyntax
	}
	return n, nil
}

// parseLimit parses a limit file such as memory.max, where "max" means no
// limit, reported as 0.
func parseLimit(b []byte) (uint64, error) {
	b = trimNewline(b)
	if string(b) == "max" {
		return 0, nil
	}
	n, ok := parseUint(b)
	if !ok {
		return 0, errSyntax
	}
	return n, nil
}

// pressure holds one PSI file: the share of wall time in the last 10 s
// that some (or all non-idle) tasks were stalled, in percent, and the
// cumulative stall time in microseconds. Kernels before 5.13 have no
// "full" line in cpu.pressure; hasFull says whether one was read.
type pressure struct {
	someAvg10, fullAvg10 float64
	someTotal, fullTotal uint64
	hasFull              bool
}

// parsePressure parses a PSI file:
//
//	some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//	full avg10=0.00 avg60=0.00 avg300=0.00 total=0
func parsePressure(b []byte) (pressure, error) {
	var p pressure
	hasSome := false
	for len(b) > 0 {
		var line []byte
		line, b = cutLine(b)
		var avg *float64
		var total *uint64
		switch {
		case bytes.HasPrefix(line, []byte("some ")):
			avg, total, hasSome = &p.someAvg10, &p.someTotal, true
		case bytes.HasPrefix(line, []byte("full ")):
			avg, total, p.hasFull = &p.fullAvg10, &p.fullTotal, true
		default:
			return pressure{}, errSyntax
		}
		const a10, tot = 1, 2
		seen := 0
		for f := line[len("some "):]; len(f) > 0; {
			var field []byte
			if i := bytes.IndexByte(f, ' '); i >= 0 {
				field, f = f[:i], f[i+1:]
			} else {
				field, f = f, nil
			}
			k, v, ok := bytes.Cut(field, []byte("="))
			if !ok {
				return pressure{}, errSyntax
			}
			switch string(k) {
			case "avg10":
				if *avg, ok = parseDecimal(v); !ok {
					return pressure{}, errSyntax
				}
				seen |= a10
			case "total":
				if *total, ok = parseUint(v); !ok {
					return pressure{}, errSyntax
				}
				seen |= tot
			}
		}
		if seen != a10|tot {
			return pressure{}, errSyntax
		}
	}
	if !hasSome {
		return pressure{}, errSyntax
	}
	return p, nil
}

// nextKeyValue splits the first "key value" line of a flat-keyed file off
// b. ok is false for a line without exactly one space.
func nextKeyValue(b []byte) (key, val, rest []byte, ok bool) {
	line, rest := cutLine(b)
	i := bytes.IndexByte(line, ' ')
	if i <= 0 {
		return nil, nil, nil, false
	}
	return line[:i], line[i+1:], rest, true
}

// cutLine splits b at its first newline, which it drops.
func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}

// parseUint parses an unsigned decimal, rejecting signs, spaces,
// anything else and overflow.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseDecimal parses the kernel's fixed-point "12.34" (PSI averages are
// printed with two decimals; more are accepted).
func parseDecimal(b []byte) (float64, bool) {
	whole, frac, hasFrac := bytes.Cut(b, []byte("."))
	w, ok := parseUint(whole)
	if !ok {
		return 0, false
	}
	v := float64(w)
	if hasFrac {
		if len(frac) > 18 {
			return 0, false
		}
		f, ok := parseUint(frac)
		if !ok {
			return 0, false
		}
		v += float64(f) / math.Pow10(len(frac))
	}
	return v, true
}
