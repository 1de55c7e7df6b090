package replay

import (
	"io"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/rightsizer/rightsizer/recommender"
)

// The GenAI columns Open reads, by header name, and the workload key parts.
const (
	gaValue     = "value"
	gaTime      = "timestamp_anon" // seconds, shifted by the anonymiser
	gaIP        = "container_ip"   // MD5 of the pod IP, hex
	gaNamespace = "genai"
	gaKind      = "Pod"
	gaPrefix    = 16 // hex digits of the hash in a pod name, when unique

	percentPerGPU = 100 // duty cycle percent of one fully busy GPU
)

// buildGenAI reads the three GenAI files; memUtil may be nil.
func buildGenAI(duty, gpuMem input, memUtil *input, opts Options) (*Source, error) {
	budget := newRowBudget(opts.MaxRows)
	skipped := skipCounts{}
	dutyPts, err := decodeGenAIMetric(duty, budget, skipped, maxPercent)
	if err != nil {
		return nil, err
	}
	memPts, err := decodeGenAIMetric(gpuMem, budget, skipped, maxBytes)
	if err != nil {
		return nil, err
	}
	var utilPts map[string][]point
	if memUtil != nil {
		if utilPts, err = decodeGenAIMetric(*memUtil, budget, skipped, maxFraction); err != nil {
			return nil, err
		}
	}

	// Name every pod seen in any file the same way, so MemoryUtil keys
	// match Workloads keys.
	names := podNames(hashes(dutyPts, memPts, utilPts))
	ips := hashes(dutyPts, memPts)
	ws := make([]recommender.Workload, 0, len(ips))
	ss := make([]series, 0, len(ips))
	for _, ip := range ips {
		wk := recommender.WorkloadKey{Namespace: gaNamespace, Kind: gaKind, Name: names[ip]}
		d, n1 := sortDedupe(dutyPts[ip], pointTime)
		m, n2 := sortDedupe(memPts[ip], pointTime)
		skipped.add(SkipDuplicate, n1+n2)
		ss = append(ss, joinGPU(recommender.ContainerKey{WorkloadKey: wk, Container: container}, d, m))
		ws = append(ws, recommender.Workload{
			Key:      wk,
			Replicas: 1,
			Containers: []recommender.ContainerSpec{{
				Name: container,
				Role: recommender.RoleApp,
				Requests: recommender.Amounts{
					GPUCompute: 1,
					GPUMemory:  opts.GPUMemoryPerGPU,
				},
			}},
		})
	}
	var utils []fractionSeries
	for _, ip := range slices.Sorted(maps.Keys(utilPts)) {
		u, n := sortDedupe(utilPts[ip], pointTime)
		skipped.add(SkipDuplicate, n)
		fs := fractionSeries{
			key: recommender.WorkloadKey{Namespace: gaNamespace, Kind: gaKind, Name: names[ip]},
			t:   make([]int64, len(u)),
			v:   make([]float64, len(u)),
		}
		for i, p := range u {
			fs.t[i], fs.v[i] = p.t, p.v
		}
		utils = append(utils, fs)
	}
	slices.SortFunc(utils, func(a, b fractionSeries) int {
		return compareKeys(recommender.ContainerKey{WorkloadKey: a.key}, recommender.ContainerKey{WorkloadKey: b.key})
	})
	s := newSource(FormatGenAI, ws, ss, skipped, opts)
	s.memUtil = utils
	return s, nil
}

func pointTime(p point) int64 { return p.t }

// hashes returns the sorted union of the keys of ms.
func hashes(ms ...map[string][]point) []string {
	set := map[string]bool{}
	for _, m := range ms {
		for h := range m {
			set[h] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// decodeGenAIMetric reads one GenAI file into per-pod points, keyed by the
// lower-case hash, in file order. Values above maximum are SkipAbsurd.
func decodeGenAIMetric(in input, budget *rowBudget, skipped skipCounts, maximum float64) (map[string][]point, error) {
	pts := map[string][]point{}
	err := in.read(func(r io.Reader) error {
		return readTable(r, in.path, ',', budget, skipped, []string{gaValue, gaTime, gaIP}, func(fields []string, idx []int) {
			ip, ok := normalizeHash(fields[idx[2]])
			if !ok {
				skipped[SkipBadKey]++
				return
			}
			ts, reason := parseValue(fields[idx[1]], maxUnixSeconds)
			if reason != "" {
				skipped[reason]++
				return
			}
			v, reason := parseValue(fields[idx[0]], maximum)
			if reason != "" {
				skipped[reason]++
				return
			}
			prev, found := pts[ip]
			if !found {
				ip = strings.Clone(ip) // do not keep the whole line alive
			}
			pts[ip] = append(prev, point{t: unixNanos(ts), v: v})
		})
	})
	return pts, err
}

// normalizeHash returns the pod hash in lower case, or false when it is
// empty, longer than maxHashLen or not hexadecimal.
func normalizeHash(s string) (string, bool) {
	if s == "" || len(s) > maxHashLen {
		return "", false
	}
	upper := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			upper = true
		default:
			return "", false
		}
	}
	if upper {
		s = strings.ToLower(s)
	}
	return s, true
}

// podNames maps each distinct hash to its pod name: "pod-" and the first
// gaPrefix hex digits when those are unique across all hashes, else
// "pod-" and the full hash for every pod.
func podNames(hashes []string) map[string]string {
	prefix := func(h string) string { return h[:min(len(h), gaPrefix)] }
	seen := make(map[string]bool, len(hashes))
	unique := true
	for _, h := range hashes {
		p := prefix(h)
		if seen[p] {
			unique = false
			break
		}
		seen[p] = true
	}
	names := make(map[string]string, len(hashes))
	for _, h := range hashes {
		if unique {
			names[h] = "pod-" + prefix(h)
		} else {
			names[h] = "pod-" + h
		}
	}
	return names
}

// joinGPU merges a pod's duty-cycle and GPU-memory points, both sorted and
// without repeated times, into one series: a time present in both gives
// one sample with both resources.
func joinGPU(key recommender.ContainerKey, duty, mem []point) series {
	n := len(duty) + len(mem)
	for i, j := 0, 0; i < len(duty) && j < len(mem); {
		switch {
		case duty[i].t < mem[j].t:
			i++
		case mem[j].t < duty[i].t:
			j++
		default:
			n-- // joined
			i++
			j++
		}
	}
	s := series{
		key:    key,
		t:      make([]int64, 0, n),
		has:    make([]recommender.ResourceSet, 0, n),
		gpu:    make([]recommender.GPUCompute, 0, n),
		gpuMem: make([]recommender.Bytes, 0, n),
	}
	var i, j int
	for i < len(duty) || j < len(mem) {
		t := earliest(duty, i, mem, j)
		var (
			has recommender.ResourceSet
			gpu recommender.GPUCompute
			gm  recommender.Bytes
		)
		if i < len(duty) && duty[i].t == t {
			gpu = recommender.GPUCompute(duty[i].v / percentPerGPU)
			has = has.With(recommender.ResourceGPUCompute)
			i++
		}
		if j < len(mem) && mem[j].t == t {
			gm = recommender.Bytes(math.Round(mem[j].v))
			has = has.With(recommender.ResourceGPUMemory)
			j++
		}
		s.t = append(s.t, t)
		s.has = append(s.has, has)
		s.gpu = append(s.gpu, gpu)
		s.gpuMem = append(s.gpuMem, gm)
	}
	return s
}

// earliest returns the smaller of a[i].t and b[j].t, skipping an exhausted
// side; at least one side must have points left.
func earliest(a []point, i int, b []point, j int) int64 {
	switch {
	case i == len(a):
		return b[j].t
	case j == len(b):
		return a[i].t
	}
	return min(a[i].t, b[j].t)
}
