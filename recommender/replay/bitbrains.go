package replay

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/rightsizer/rightsizer/recommender"
)

// The Bitbrains columns Open reads, by header name.
const (
	bbTimestamp = "Timestamp [ms]" // epoch seconds, despite the name
	bbCores     = "CPU cores"
	bbCPUCap    = "CPU capacity provisioned [MHZ]"
	bbCPUUse    = "CPU usage [MHZ]"
	bbMemCap    = "Memory capacity provisioned [KB]"
	bbMemUse    = "Memory usage [KB]"
)

// bbColumns lists the required columns in the order of bbRow's fields.
var bbColumns = [...]string{bbTimestamp, bbCores, bbCPUCap, bbCPUUse, bbMemCap, bbMemUse}

// bbMax is the largest valid value of each column in bbColumns.
var bbMax = [...]float64{maxUnixSeconds, maxCores, maxMHz, maxMHz, maxKB, maxKB}

// The Bitbrains workload key parts.
const (
	bbNamespace = "bitbrains"
	bbKind      = "VM"
)

// bbRow is one parsed Bitbrains row. has is empty for a VM that is off.
type bbRow struct {
	t      int64 // unix nanoseconds
	has    recommender.ResourceSet
	cpu    recommender.MilliCPU
	mem    recommender.Bytes
	cores  float64           // provisioned cores; 0 when unknown
	memCap recommender.Bytes // provisioned memory; 0 when unknown
}

// buildBitbrains reads one file per VM.
func buildBitbrains(vms []input, opts Options) (*Source, error) {
	vms = slices.Clone(vms)
	slices.SortFunc(vms, func(a, b input) int { return cmp.Compare(a.vm, b.vm) })
	for i := 1; i < len(vms); i++ {
		if vms[i].vm == vms[i-1].vm {
			return nil, fmt.Errorf("%s and %s are both vm %d", vms[i-1].path, vms[i].path, vms[i].vm)
		}
	}
	budget := newRowBudget(opts.MaxRows)
	type result struct {
		ser     series
		w       recommender.Workload
		skipped skipCounts
		err     error
	}
	// Decode the files in parallel; every goroutine ends before this
	// function returns.
	results := make([]result, len(vms))
	var (
		next   atomic.Int64
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	for range min(runtime.GOMAXPROCS(0), len(vms)) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(vms) {
					return
				}
				r := &results[i]
				r.skipped = skipCounts{}
				r.ser, r.w, r.err = decodeBitbrains(vms[i], opts, budget, r.skipped)
				if r.err != nil {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	skipped := skipCounts{}
	ws := make([]recommender.Workload, 0, len(vms))
	ss := make([]series, 0, len(vms))
	// Workers take files in index order, so an undecoded file comes after
	// the first failed one.
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		for reason, n := range r.skipped {
			skipped.add(reason, n)
		}
		ws = append(ws, r.w)
		ss = append(ss, r.ser)
	}
	return newSource(FormatBitbrains, ws, ss, skipped, opts), nil
}

// decodeBitbrains reads one VM's file into its series and workload.
func decodeBitbrains(in input, opts Options, budget *rowBudget, skipped skipCounts) (series, recommender.Workload, error) {
	key := recommender.ContainerKey{
		WorkloadKey: recommender.WorkloadKey{Namespace: bbNamespace, Kind: bbKind, Name: "vm-" + strconv.Itoa(in.vm)},
		Container:   container,
	}
	var rows []bbRow
	err := in.read(func(r io.Reader) error {
		return readTable(r, in.path, ';', budget, skipped, bbColumns[:], func(fields []string, idx []int) {
			row, reason := parseBitbrainsRow(fields, (*[len(bbColumns)]int)(idx), !opts.KeepZeroMemory)
			if reason != "" {
				skipped[reason]++
				return
			}
			rows = append(rows, row)
		})
	})
	if err != nil {
		return series{}, recommender.Workload{}, err
	}
	rows, dups := sortDedupe(rows, func(r bbRow) int64 { return r.t })
	skipped.add(SkipDuplicate, dups)

	ser := series{
		key: key,
		t:   make([]int64, 0, len(rows)),
		has: make([]recommender.ResourceSet, 0, len(rows)),
		cpu: make([]recommender.MilliCPU, 0, len(rows)),
		mem: make([]recommender.Bytes, 0, len(rows)),
	}
	var req recommender.Amounts
	for _, r := range rows {
		if r.cores > 0 {
			req.CPU = recommender.MilliCPUFromCores(r.cores)
		}
		if r.memCap > 0 {
			req.Memory = r.memCap
		}
		if r.has == 0 {
			skipped[SkipUnprovisioned]++
			continue
		}
		ser.t = append(ser.t, r.t)
		ser.has = append(ser.has, r.has)
		ser.cpu = append(ser.cpu, r.cpu)
		ser.mem = append(ser.mem, r.mem)
	}
	w := recommender.Workload{
		Key:        key.WorkloadKey,
		Replicas:   1,
		Containers: []recommender.ContainerSpec{{Name: container, Role: recommender.RoleApp, Requests: req}},
	}
	return ser, w, nil
}

// parseBitbrainsRow parses the required fields of one row; idx holds their
// positions in the order of bbColumns. It returns the reason to skip the
// row, or "". A row with an empty has is a VM that is off; the caller drops
// it after removing repeated timestamps.
func parseBitbrainsRow(fields []string, idx *[len(bbColumns)]int, zeroMemoryAsMissing bool) (bbRow, SkipReason) {
	var v [len(bbColumns)]float64
	for i, at := range idx {
		var reason SkipReason
		if v[i], reason = parseValue(fields[at], bbMax[i]); reason != "" {
			return bbRow{}, reason
		}
	}
	ts, cores, cpuCap, cpuUse, memCap, memUse := v[0], v[1], v[2], v[3], v[4], v[5]
	row := bbRow{
		t:      unixNanos(ts),
		cores:  cores,
		memCap: kilobytes(memCap),
		mem:    kilobytes(memUse),
	}
	if cores > 0 && cpuCap > 0 {
		// Cores in use = MHz used / MHz of one provisioned core.
		used := cpuUse / (cpuCap / cores)
		if reason := checkValue(used, maxCores); reason != "" {
			return bbRow{}, SkipAbsurd
		}
		row.cpu = recommender.MilliCPUFromCores(used)
		row.has = row.has.With(recommender.ResourceCPU)
	}
	switch {
	case row.has == 0 && memCap == 0:
		// Switched off: no capacity at all.
	case memUse == 0 && zeroMemoryAsMissing:
		// Not measured; with no CPU either, the row is dropped like a VM
		// that is off.
	default:
		row.has = row.has.With(recommender.ResourceMemory)
	}
	return row, ""
}

// kilobytes converts KiB, at most maxKB, to bytes, rounding to nearest.
func kilobytes(kb float64) recommender.Bytes { return recommender.Bytes(math.Round(kb * 1024)) }
