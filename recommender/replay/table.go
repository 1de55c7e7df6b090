package replay

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/rightsizer/rightsizer/internal/errtext"
)

// MaxLineBytes is the longest line, in bytes without its line ending, that
// Open accepts in a trace file. A longer line is an error (ErrLineTooLong).
const MaxLineBytes = 1 << 20

// Errors that Open returns for files it cannot read. They are wrapped with
// the file's path; test them with errors.Is.
var (
	// ErrUnknownFormat reports a folder that holds no trace Open knows.
	ErrUnknownFormat = errors.New("unknown trace format")
	// ErrMissingColumn reports a header that lacks a required column.
	ErrMissingColumn = errors.New("missing column")
	// ErrBadHeader reports an empty file or a header that names a column
	// twice.
	ErrBadHeader = errors.New("bad header")
	// ErrLineTooLong reports a line longer than MaxLineBytes.
	ErrLineTooLong = errors.New("line longer than 1 MiB")
	// ErrTooManyRows reports a trace with more rows than Options.MaxRows.
	ErrTooManyRows = errors.New("too many rows")
)

// SkipReason says why Open dropped an input row.
type SkipReason string

// The reasons for dropping a row.
const (
	// SkipFieldCount: the row has a different number of fields than the header.
	SkipFieldCount SkipReason = "field_count"
	// SkipParse: a required field is not a number.
	SkipParse SkipReason = "parse"
	// SkipNonFinite: a required field is NaN or ±Inf.
	SkipNonFinite SkipReason = "non_finite"
	// SkipNegative: a required field is negative.
	SkipNegative SkipReason = "negative"
	// SkipAbsurd: a value is beyond the sanity bounds (see the package doc).
	SkipAbsurd SkipReason = "absurd"
	// SkipBadKey: a GenAI container_ip is empty or not hexadecimal.
	SkipBadKey SkipReason = "bad_key"
	// SkipDuplicate: the timestamp repeats for the same workload and metric;
	// the first row in file order is kept.
	SkipDuplicate SkipReason = "duplicate_time"
	// SkipUnprovisioned: a Bitbrains row with no CPU and no memory capacity
	// (the VM is switched off), or, unless Options.KeepZeroMemory, with
	// no CPU capacity and zero memory usage (nothing measured).
	SkipUnprovisioned SkipReason = "unprovisioned"
)

// Sanity bounds on input values. A value beyond them is SkipAbsurd.
const (
	maxCores       = 10_000             // cores
	maxBytes       = float64(1 << 50)   // 1 PiB
	maxKB          = maxBytes / 1024    // 1 PiB in KiB
	maxMHz         = maxCores * 100_000 // 10,000 cores at 100 GHz
	maxUnixSeconds = 9_200_000_000      // 2261-07-16: nanoseconds still fit an int64
	maxPercent     = 100                // GPU duty cycle
	maxFraction    = 1                  // memory utilisation
	maxHashLen     = 64                 // hex digits of a GenAI pod hash
)

const (
	utf8BOM        = "\ufeff" // a byte order mark some tools write
	nanosPerSecond = int64(1_000_000_000)
)

// skipCounts counts dropped rows by reason. Not safe for concurrent use.
type skipCounts map[SkipReason]int

func (s skipCounts) add(r SkipReason, n int) {
	if n > 0 {
		s[r] += n
	}
}

// rowBudget is how many more data rows Open may read across all files.
// It is safe for concurrent use.
type rowBudget struct{ left atomic.Int64 }

func newRowBudget(n int) *rowBudget {
	b := &rowBudget{}
	b.left.Store(int64(n))
	return b
}

// take reports whether one more row may be read, and counts it.
func (b *rowBudget) take() bool { return b.left.Add(-1) >= 0 }

// table reads one delimited text file: a header, then data rows. Blank
// lines are ignored. Not safe for concurrent use.
type table struct {
	path   string
	sc     *bufio.Scanner
	sep    byte
	line   int      // number of the line last read, from 1
	cols   []string // header names, trimmed
	fields []string // the current row, reused between rows
	budget *rowBudget
}

// newTable reads the header of r. path names the file in errors.
func newTable(r io.Reader, path string, sep byte, budget *rowBudget) (*table, error) {
	sc := bufio.NewScanner(r)
	// A line of MaxLineBytes plus "\r\n" fits; a longer one fails with
	// bufio.ErrTooLong.
	sc.Buffer(make([]byte, 0, 64*1024), MaxLineBytes+2)
	t := &table{path: path, sc: sc, sep: sep, budget: budget}
	line, ok, err := t.scan()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("read %s: %w: empty file, want a header", path, ErrBadHeader)
	}
	line = strings.TrimPrefix(line, utf8BOM)
	cols := splitFields(line, sep, nil, -1)
	seen := make(map[string]bool, len(cols))
	for _, c := range cols {
		if seen[c] {
			return nil, fmt.Errorf("read %s: %w: column %q appears twice", path, ErrBadHeader, errtext.Clip(c))
		}
		seen[c] = true
	}
	t.cols = cols
	return t, nil
}

// scan returns the next non-blank line, or ok == false at the end.
func (t *table) scan() (line string, ok bool, err error) {
	for t.sc.Scan() {
		t.line++
		line := t.sc.Text()
		if trimSpace(line) == "" {
			continue
		}
		if len(line) > MaxLineBytes {
			return "", false, fmt.Errorf("read %s: line %d: %w", t.path, t.line, ErrLineTooLong)
		}
		return line, true, nil
	}
	if err := t.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return "", false, fmt.Errorf("read %s: line %d: %w", t.path, t.line+1, ErrLineTooLong)
		}
		return "", false, fmt.Errorf("read %s: %w", t.path, err)
	}
	return "", false, nil
}

// column returns the index of the named column.
func (t *table) column(name string) (int, error) {
	for i, c := range t.cols {
		if c == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("read %s: %w %q", t.path, ErrMissingColumn, name)
}

// next returns the fields of the next data row, or ok == false at the end.
// The slice is reused by the next call. A row with a different number of
// fields than the header comes back with that (wrong) length, so the caller
// can count it.
func (t *table) next() (fields []string, ok bool, err error) {
	line, ok, err := t.scan()
	if !ok || err != nil {
		return nil, false, err
	}
	if !t.budget.take() {
		return nil, false, fmt.Errorf("read %s: line %d: %w", t.path, t.line, ErrTooManyRows)
	}
	t.fields = splitFields(line, t.sep, t.fields[:0], len(t.cols)+1)
	return t.fields, true, nil
}

// readTable reads r as a table separated by sep, finds the named columns
// (a missing one is an error) and calls fn with each data row's fields and
// the index of each named column in them. Rows with the wrong number of
// fields are counted as SkipFieldCount and not passed on.
func readTable(r io.Reader, path string, sep byte, budget *rowBudget, skipped skipCounts, names []string, fn func(fields []string, idx []int)) error {
	tab, err := newTable(r, path, sep, budget)
	if err != nil {
		return err
	}
	idx := make([]int, len(names))
	for i, name := range names {
		if idx[i], err = tab.column(name); err != nil {
			return err
		}
	}
	for {
		fields, ok, err := tab.next()
		if err != nil || !ok {
			return err
		}
		if len(fields) != len(tab.cols) {
			skipped[SkipFieldCount]++
			continue
		}
		fn(fields, idx)
	}
}

// splitFields appends the fields of line to dst, each trimmed of spaces,
// tabs and carriage returns. With limit > 0 it stops after limit fields
// (the last holding the rest of the line), which is enough to tell that a
// row has too many.
func splitFields(line string, sep byte, dst []string, limit int) []string {
	for limit <= 0 || len(dst) < limit-1 {
		i := strings.IndexByte(line, sep)
		if i < 0 {
			break
		}
		dst = append(dst, trimSpace(line[:i]))
		line = line[i+1:]
	}
	return append(dst, trimSpace(line))
}

// trimSpace removes leading and trailing spaces, tabs and carriage returns.
func trimSpace(s string) string {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// parseValue parses a field as a float64 in [0, maximum]. It returns the
// reason to skip the row when the field is not such a number.
func parseValue(s string, maximum float64) (float64, SkipReason) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var numErr *strconv.NumError
		if errors.As(err, &numErr) && errors.Is(numErr.Err, strconv.ErrRange) {
			return 0, SkipAbsurd
		}
		return 0, SkipParse
	}
	return v, checkValue(v, maximum)
}

// checkValue reports why v is not a number in [0, maximum], or "".
func checkValue(v, maximum float64) SkipReason {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return SkipNonFinite
	case v < 0:
		return SkipNegative
	case v > maximum:
		return SkipAbsurd
	}
	return ""
}

// unixNanos converts seconds since the epoch, in [0, maxUnixSeconds], to
// nanoseconds. Whole seconds convert exactly.
func unixNanos(sec float64) int64 {
	whole, frac := math.Modf(sec)
	return int64(whole)*nanosPerSecond + int64(math.Round(frac*float64(nanosPerSecond)))
}
