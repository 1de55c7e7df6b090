package cgroup

import (
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The fuzz targets check each parser against a plain reference written
// with strings and strconv (or, for paths, against the properties that
// make a result usable), and that none panics. Their seeds are the
// fixtures' files.

func fixtureSeeds(f *testing.F, name string) {
	f.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir("testdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() != name {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && !seen[string(b)] {
			seen[string(b)] = true
			f.Add(b)
		}
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
}

// refFlat parses a flat-keyed file as the kernel documents it: lines of
// "key value", values unsigned decimals. ok is false where the real
// parser must fail: a malformed line, or a bad value for a wanted key.
// Parsing stops once every wanted key is found, as parseMemoryStat does
// when stopEarly.
func refFlat(b []byte, want []string, stopEarly bool) (map[string]uint64, bool) {
	got := map[string]uint64{}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" && len(b) <= 1 {
		return got, len(b) == 0
	}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok || k == "" {
			return nil, false
		}
		isWanted := false
		for _, w := range want {
			isWanted = isWanted || w == k
		}
		if !isWanted {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || strings.TrimLeft(v, "0123456789") != "" {
			return nil, false
		}
		got[k] = n
		if stopEarly && len(got) == len(want) {
			break
		}
	}
	return got, true
}

func FuzzParseCPUStat(f *testing.F) {
	fixtureSeeds(f, "cpu.stat")
	f.Add([]byte("usage_usec 1\nnr_periods 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseCPUStat(b)
		ref, ok := refFlat(b, []string{"usage_usec", "nr_periods", "nr_throttled", "throttled_usec"}, false)
		_, hasUsage := ref["usage_usec"]
		if ok && hasUsage {
			if err != nil {
				t.Fatalf("parseCPUStat(%q): %v; reference parsed it", b, err)
			}
			_, p := ref["nr_periods"]
			_, n := ref["nr_throttled"]
			_, u := ref["throttled_usec"]
			want := cpuStat{usageUsec: ref["usage_usec"], nrPeriods: ref["nr_periods"], nrThrottled: ref["nr_throttled"],
				throttledUsec: ref["throttled_usec"], hasThrottling: p && n && u}
			if got != want {
				t.Fatalf("parseCPUStat(%q) = %+v, reference %+v", b, got, want)
			}
		} else if err == nil {
			t.Fatalf("parseCPUStat(%q) = %+v; reference rejects it", b, got)
		}
	})
}

func FuzzParseMemoryStat(f *testing.F) {
	fixtureSeeds(f, "memory.stat")
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseMemoryStat(b)
		ref, ok := refFlat(b, []string{"anon", "file", "inactive_file", "active_file"}, true)
		if ok && len(ref) == 4 {
			want := memoryStat{anon: ref["anon"], file: ref["file"], inactiveFile: ref["inactive_file"], activeFile: ref["active_file"]}
			if err != nil || got != want {
				t.Fatalf("parseMemoryStat(%q) = %+v, %v; reference %+v", b, got, err, want)
			}
		} else if err == nil {
			t.Fatalf("parseMemoryStat(%q) = %+v; reference rejects it", b, got)
		}
	})
}

func FuzzParseMemoryEvents(f *testing.F) {
	fixtureSeeds(f, "memory.events")
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseOOMKills(b)
		ref, ok := refFlat(b, []string{"oom_kill"}, true)
		if n, found := ref["oom_kill"]; ok && found {
			if err != nil || got != n {
				t.Fatalf("parseOOMKills(%q) = %d, %v; reference %d", b, got, err, n)
			}
		} else if err == nil {
			t.Fatalf("parseOOMKills(%q) = %d; reference rejects it", b, got)
		}
	})
}

func FuzzParseSingleValue(f *testing.F) {
	fixtureSeeds(f, "memory.current")
	fixtureSeeds(f, "memory.max")
	f.Add([]byte("18446744073709551615\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := strings.TrimSuffix(string(b), "\n")
		ref, refErr := strconv.ParseUint(s, 10, 64)
		if strings.TrimLeft(s, "0123456789") != "" {
			refErr = strconv.ErrSyntax
		}
		got, err := parseSingleUint(b)
		if (err == nil) != (refErr == nil) || err == nil && got != ref {
			t.Fatalf("parseSingleUint(%q) = %d, %v; reference %d, %v", b, got, err, ref, refErr)
		}
		lim, err := parseLimit(b)
		if s == "max" {
			ref, refErr = 0, nil
		}
		if (err == nil) != (refErr == nil) || err == nil && lim != ref {
			t.Fatalf("parseLimit(%q) = %d, %v; reference %d, %v", b, lim, err, ref, refErr)
		}
	})
}

func FuzzParsePressure(f *testing.F) {
	fixtureSeeds(f, "cpu.pressure")
	fixtureSeeds(f, "memory.pressure")
	f.Add([]byte("some avg10=0.25 avg60=0.00 avg300=0.00 total=30122\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parsePressure(b)
		if err != nil {
			return
		}
		// Whatever it accepted, the reference reads the same numbers.
		var want pressure
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			kind, rest, _ := strings.Cut(line, " ")
			avg, total := &want.someAvg10, &want.someTotal
			if kind == "full" {
				avg, total, want.hasFull = &want.fullAvg10, &want.fullTotal, true
			}
			for _, kv := range strings.Split(rest, " ") {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "avg10":
					x, perr := strconv.ParseFloat(v, 64)
					if perr != nil {
						t.Fatalf("parsePressure(%q) accepted avg10 %q", b, v)
					}
					*avg = x
				case "total":
					n, perr := strconv.ParseUint(v, 10, 64)
					if perr != nil {
						t.Fatalf("parsePressure(%q) accepted total %q", b, v)
					}
					*total = n
				}
			}
		}
		if want.someTotal != got.someTotal || want.fullTotal != got.fullTotal || want.hasFull != got.hasFull ||
			!closeTo(want.someAvg10, got.someAvg10) || !closeTo(want.fullAvg10, got.fullAvg10) {
			t.Fatalf("parsePressure(%q) = %+v, reference %+v", b, got, want)
		}
	})
}

func closeTo(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(a)) }

func FuzzParsePath(f *testing.F) {
	for _, p := range []string{
		"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + testEsc + ".slice/cri-containerd-" + testID + ".scope",
		"/kubepods/besteffort/pod" + testUID + "/" + testID,
		"/kubepods/pod" + testStaticUID + "/crio-" + testID,
		"/kubepods.slice/kubepods-pod" + testEsc + ".slice/crio-conmon-" + testID + ".scope",
		"/../../kubepods-pod" + testEsc + ".slice/docker-" + testID + ".scope/init",
		"", "/", "//", "pod/",
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		uid, id, ok := ParsePath(p)
		if !ok {
			if uid != "" || id != "" {
				t.Fatalf("ParsePath(%q) = %q, %q, false", p, uid, id)
			}
			return
		}
		if !isPodUID(uid) || !isContainerID(id) || !strings.Contains(p, id) {
			t.Fatalf("ParsePath(%q) = %q, %q", p, uid, id)
		}
		// The same pair, laid out by either driver, parses back.
		esc := strings.ReplaceAll(uid, "-", "_")
		for _, q := range []string{
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + esc + ".slice/crio-" + id + ".scope",
			"/kubepods/pod" + uid + "/" + id,
		} {
			u2, id2, ok2 := ParsePath(q)
			if !ok2 || u2 != uid || id2 != id {
				t.Fatalf("ParsePath(%q) = %q, %q, %v after ParsePath(%q) = %q, %q", q, u2, id2, ok2, p, uid, id)
			}
		}
	})
}

func FuzzParseProcCgroup(f *testing.F) {
	f.Add([]byte("0::/kubepods.slice/kubepods-pod" + testEsc + ".slice/cri-containerd-" + testID + ".scope\n"))
	f.Add([]byte("12:memory:/kubepods/pod" + testUID + "/" + testID + "\n0::/\n"))
	f.Add([]byte("0::/kubepods/pod" + testUID + "/" + testID + " (deleted)\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		uid, id, ok := parseProcCgroup(b)
		if ok != (id != "") || ok && (!isPodUID(uid) || !isContainerID(id)) {
			t.Fatalf("parseProcCgroup(%q) = %q, %q, %v", b, uid, id, ok)
		}
	})
}

func FuzzParseUint(f *testing.F) {
	f.Add([]byte("0"))
	f.Add([]byte("18446744073709551615"))
	f.Add([]byte("18446744073709551616"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := parseUint(b)
		ref, err := strconv.ParseUint(string(b), 10, 64)
		refOK := err == nil && strings.TrimLeft(string(b), "0123456789") == ""
		if ok != refOK || ok && got != ref {
			t.Fatalf("parseUint(%q) = %d, %v; strconv %d, %v", b, got, ok, ref, err)
		}
		d, dok := parseDecimal(b)
		if ok && (!dok || d != float64(ref)) {
			t.Fatalf("parseDecimal(%q) = %v, %v", b, d, dok)
		}
	})
}
