package checkpoint

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The helper process: TestCrash and TestLockOtherProcess run this test
// binary again with -test.run=^TestCrashHelper$ and these variables set.
const (
	helperModeEnv = "RIGHTSIZER_CHECKPOINT_HELPER" // "writer" or "locker"
	helperPathEnv = "RIGHTSIZER_CHECKPOINT_HELPER_PATH"

	// crashMaxGenerations bounds the writer should its parent not kill it.
	crashMaxGenerations = 500
)

// TestCrashHelper is not a test of its own: it is the child process of
// TestCrash ("writer": write checkpoints until killed, printing
// "committed G" after each commit) and TestLockOtherProcess ("locker":
// hold the store open until stdin closes).
func TestCrashHelper(t *testing.T) {
	mode := os.Getenv(helperModeEnv)
	if mode == "" {
		t.Skip("helper process for TestCrash and TestLockOtherProcess")
	}
	path := os.Getenv(helperPathEnv)
	switch mode {
	case "writer":
		s, err := Open(path, Options{LockTimeout: 10 * time.Second}) // with fsync, as in production
		require.NoError(t, err)
		next := generation(1)
		for g := uint64(1); g <= crashMaxGenerations; g++ {
			// The records are ready before "committed G-1" is printed, so
			// that a kill that follows it lands inside this write.
			recs := next
			meta := Meta{Header: binary.AppendUvarint(nil, g)}
			_, err = fmt.Fprintf(os.Stdout, "begin %d\n", g)
			require.NoError(t, err)
			if g%3 == 0 {
				err = s.Replace(meta, recs)
			} else {
				err = s.Write(meta, recs, generationDeletes(g))
			}
			require.NoError(t, err)
			next = generation(g + 1)
			_, err = fmt.Fprintf(os.Stdout, "committed %d\n", g)
			require.NoError(t, err)
		}
		require.NoError(t, s.Close())
	case "locker":
		s, err := Open(path, Options{NoSync: true})
		require.NoError(t, err)
		_, err = fmt.Fprintln(os.Stdout, "locked")
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, os.Stdin)
		require.NoError(t, s.Close())
	default:
		t.Fatalf("unknown helper mode %q", mode)
	}
}

// generationSize is the number of records of generation g: it varies, so
// that Write both adds and deletes records.
func generationSize(g uint64) int { return 200 + int(g*37%150) }

// generation returns the records of generation g: keys "rec-0000" up to
// generationSize(g), values of 0.5 to 3 KB holding g, the key's index,
// pseudo-random bytes seeded by both, and a CRC-32 of all that.
func generation(g uint64) []Record {
	recs := make([]Record, generationSize(g))
	for i := range recs {
		recs[i] = Record{Key: fmt.Appendf(nil, "rec-%04d", i), Value: generationValue(g, uint64(i))}
	}
	return recs
}

func generationValue(g, i uint64) []byte {
	r := rand.New(rand.NewPCG(g, i))
	v := make([]byte, 16, 500+(i*131+g*17)%2500)
	binary.LittleEndian.PutUint64(v, g)
	binary.LittleEndian.PutUint64(v[8:], i)
	for len(v) < cap(v)-4 {
		v = binary.LittleEndian.AppendUint32(v, r.Uint32())
	}
	v = v[:cap(v)-4]
	return binary.LittleEndian.AppendUint32(v, crc32.ChecksumIEEE(v))
}

// generationDeletes lists the keys of generation g-1 that g drops.
func generationDeletes(g uint64) [][]byte {
	var dels [][]byte
	for i := generationSize(g); i < generationSize(g-1); i++ {
		dels = append(dels, fmt.Appendf(nil, "rec-%04d", i))
	}
	return dels
}

// TestCrash kills a writer process with SIGKILL, possibly in the middle of
// a commit, after a number of commits drawn from a seeded RNG, and checks
// that the file then holds exactly one whole generation, no older than the
// last one the writer reported committed.
func TestCrash(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	rng := rand.New(rand.NewPCG(20260301, 7))
	for round := range 8 {
		killAfter := 1 + uint64(rng.IntN(15))
		t.Run(fmt.Sprintf("round=%d/kill_after=%d", round, killAfter), func(t *testing.T) {
			crashRound(t, killAfter)
		})
	}
}

func crashRound(t *testing.T, killAfter uint64) {
	path := filepath.Join(t.TempDir(), "checkpoint.db")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // a backstop against a hung child, not a synchronisation
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperModeEnv+"=writer", helperPathEnv+"="+path)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	var last, begun uint64 // last generation reported committed, and begun
	killed := false
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		word, num, ok := strings.Cut(lines.Text(), " ")
		if !ok || (word != "begin" && word != "committed") {
			continue
		}
		gen, err := strconv.ParseUint(num, 10, 64)
		require.NoError(t, err)
		if word == "begin" {
			require.Equal(t, last+1, gen)
			begun = gen
			continue
		}
		require.Equal(t, begun, gen)
		last = gen
		if !killed && gen >= killAfter {
			require.NoError(t, cmd.Process.Kill()) // SIGKILL: no deferred code runs in the child
			killed = true
		}
	}
	require.NoError(t, lines.Err())
	werr := cmd.Wait()
	require.True(t, killed, "writer ended on its own after %d commits: %v\n%s", last, werr, stderr.String())
	var exitErr *exec.ExitError
	require.True(t, errors.As(werr, &exitErr), "%v", werr)
	require.Equal(t, -1, exitErr.ExitCode(), "writer was killed by a signal")

	s, err := Open(path, Options{NoSync: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	require.NoError(t, s.Recovered(), "a crash never leaves a corrupt file")

	gens := map[uint64]int{}
	var keys []string
	meta, stats, err := s.Load(func(k, v []byte) error {
		require.GreaterOrEqual(t, len(v), 20)
		body := v[:len(v)-4]
		require.Equal(t, crc32.ChecksumIEEE(body), binary.LittleEndian.Uint32(v[len(v)-4:]), "value checksum of %q", k)
		g, i := binary.LittleEndian.Uint64(v), binary.LittleEndian.Uint64(v[8:])
		require.Equal(t, fmt.Sprintf("rec-%04d", i), string(k))
		require.Equal(t, generationValue(g, i), v)
		gens[g]++
		keys = append(keys, string(k))
		return nil
	})
	require.NoError(t, err)
	require.Zero(t, stats.Skipped)
	require.Len(t, gens, 1, "records from several generations: %v", gens)
	var g uint64
	for g = range gens {
	}
	require.GreaterOrEqual(t, g, last, "a reported commit was lost")
	require.LessOrEqual(t, g, last+1)
	var want []string
	for _, r := range generation(g) {
		want = append(want, string(r.Key))
	}
	require.Equal(t, want, keys, "the record set of generation %d, whole", g)
	require.Equal(t, g, meta.Generation)
	hg, _ := binary.Uvarint(meta.Header)
	require.Equal(t, g, hg, "meta committed with its records")
	when := "between writes"
	if begun > last {
		when = fmt.Sprintf("during the write of generation %d", begun)
	}
	t.Logf("killed %s, after commit %d was reported; file holds generation %d (%d records)", when, last, g, stats.Records)
}

// TestLockOtherProcess checks that a store held by another process makes
// Open fail with ErrLocked, and succeed once that process closes it.
func TestLockOtherProcess(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("helper process uses Unix pipes")
	}
	path := filepath.Join(t.TempDir(), "checkpoint.db")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperModeEnv+"=locker", helperPathEnv+"="+path)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	lines := bufio.NewScanner(stdout)
	require.True(t, lines.Scan(), "helper: %s", stderr.String())
	require.Equal(t, "locked", lines.Text())

	_, err = Open(path, Options{NoSync: true, LockTimeout: 100 * time.Millisecond})
	require.ErrorIs(t, err, ErrLocked)
	require.Contains(t, err.Error(), path)
	require.Empty(t, corruptFiles(t, path))

	require.NoError(t, stdin.Close())
	for lines.Scan() {
	}
	require.NoError(t, cmd.Wait(), "helper: %s", stderr.String())
	s := openTest(t, path, nil)
	require.NoError(t, s.Recovered())
}

// lockedBuffer collects a helper's stderr; unlike bytes.Buffer it may be
// read while exec's copying goroutine writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
