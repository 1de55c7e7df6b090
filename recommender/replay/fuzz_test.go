package replay

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
)

// fuzzOptions keeps fuzzed traces small.
var fuzzOptions = Options{MaxRows: 1 << 12}.complete()

// fixtureHead returns the first lines of a committed fixture file. Seeds
// stay small because the fuzzer minimises every new input byte by byte,
// which takes minutes from a whole fixture.
func fixtureHead(f *testing.F, lines int, parts ...string) []byte {
	f.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, parts...)...))
	require.NoError(f, err)
	end := 0
	for range lines {
		i := bytes.IndexByte(b[end:], '\n')
		if i < 0 {
			return b
		}
		end += i + 1
	}
	return b[:end]
}

// checkFuzzed fails t unless src holds only valid samples, in order, with
// valid workloads, and a strict sink accepts all of them.
func checkFuzzed(t *testing.T, src *Source) {
	t.Helper()
	checkSamples(t, src)
	for _, w := range src.Workloads() {
		require.NoError(t, recommender.ContainerKey{WorkloadKey: w.Key, Container: container}.Validate())
		for _, c := range w.Containers {
			r := c.Requests
			require.True(t, r.CPU >= 0 && r.Memory >= 0 && r.GPUCompute >= 0 && r.GPUMemory >= 0, "requests %+v", r)
		}
	}
	for k, pts := range src.MemoryUtil() {
		require.NoError(t, recommender.ContainerKey{WorkloadKey: k, Container: container}.Validate())
		for i, p := range pts {
			require.True(t, p.Fraction >= 0 && p.Fraction <= 1, "fraction %v", p.Fraction)
			require.True(t, i == 0 || pts[i-1].Time.Before(p.Time), "memory util out of order")
		}
	}
	for r, n := range src.Skipped() {
		require.Positive(t, n, r)
	}
	sink := &fakeSink{strict: true}
	require.NoError(t, src.Run(t.Context(), sink))
	require.Zero(t, sink.rejected)
	require.Empty(t, sink.disorder)
}

func FuzzBitbrains(f *testing.F) {
	for _, vm := range []string{"1.csv", "20.csv", "41.csv"} {
		f.Add(fixtureHead(f, 4, "bitbrains", vm))
	}
	// vm-20 switching off: repeated timestamps and zero capacity.
	vm20 := fixtureHead(f, 28, "bitbrains", "20.csv")
	f.Add(append(fixtureHead(f, 1, "bitbrains", "20.csv"), vm20[bytes.Index(vm20, []byte("1373975137")):]...))
	f.Add([]byte(bbFile(bbHeader, bbOK, bbOK)))
	f.Add([]byte(bbFile(bbHeader,
		bbLine("300", "0", "0", "0", "0", "0"),
		bbLine("300", "1", "1e-300", "1", "1024", "1024"),
		bbLine("NaN", "2", "5200", "1300", "-1", "1e400"),
	)))
	f.Add([]byte("Timestamp [ms];CPU cores;CPU capacity provisioned [MHZ];CPU usage [MHZ];Memory capacity provisioned [KB];Memory usage [KB]\r\n1;1;1;1;1;1\r\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		src, err := buildBitbrains([]input{memInput("1.csv", 1, data)}, fuzzOptions)
		if err != nil {
			return
		}
		checkFuzzed(t, src)
	})
}

func FuzzGenAI(f *testing.F) {
	f.Add(
		fixtureHead(f, 6, "genai", genaiDutyFile),
		fixtureHead(f, 6, "genai", genaiGPUMemoryFile),
		fixtureHead(f, 6, "genai", genaiMemUtilFile),
	)
	f.Add(
		[]byte(gaFile(dutyHeader, "50,100,"+podA, "50,100,"+podAlike, "101,100,"+podB)),
		[]byte(gaFile(gmHeader, "100,1e15,"+podA, "100,1,"+podB, "157,7,AB")),
		[]byte(gaFile(muHeader, "0.5,100,"+podA, "-0,100,"+podB, "1,100,")),
	)
	f.Add([]byte("container_ip,value,timestamp_anon\na,1,1\n"), []byte("value,timestamp_anon,container_ip\n"), []byte{})
	f.Fuzz(func(t *testing.T, duty, gm, mu []byte) {
		muIn := memInput("mu.csv", 0, mu)
		src, err := buildGenAI(memInput("duty.csv", 0, duty), memInput("gm.csv", 0, gm), &muIn, fuzzOptions)
		if err != nil {
			return
		}
		checkFuzzed(t, src)
	})
}
