// Command gpuprobe prints what rightsizer's GPU collector reads on this
// machine: every GPU, MIG device and GPU process, as the agent would see
// them, and (with -geometry) the MIG profiles and placements the driver
// reports next to our tables in package mig. It only reads: it never
// changes MIG mode, instances, clocks or any other GPU setting.
//
//	go run ./gpu/cmd/gpuprobe [-count 3] [-interval 1s] [-json] [-geometry]
//
// It needs cgo and a driver (libnvidia-ml.so.1); without either it says so
// and exits 0. Run it as root to see processes of other users, MIG
// placements and /proc/<pid>/cgroup.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/rightsizer/rightsizer/gpu"
	"github.com/rightsizer/rightsizer/gpu/mig"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gpuprobe:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("gpuprobe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	count := fs.Int("count", 3, "reads to take (per-process utilisation and GPM need two)")
	interval := fs.Duration("interval", time.Second, "time between reads")
	asJSON := fs.Bool("json", false, "also print the last Snapshot as JSON")
	geometry := fs.Bool("geometry", true, "list the MIG profiles and placements the driver reports, against our tables")
	library := fs.String("library", "", "libnvidia-ml.so.1 to load (default: the dynamic linker's search)")
	verbose := fs.Bool("v", false, "log skipped readings at debug level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *count < 1 || *interval <= 0 {
		return errors.New("-count must be at least 1 and -interval positive")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	col, err := gpu.New(gpu.Options{Logger: log, LibraryPath: *library})
	if errors.Is(err, gpu.ErrNoGPU) {
		fmt.Fprintln(stdout, "no GPU:", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, col.Close()) }()

	var s gpu.Snapshot
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for i := range *count {
		if i > 0 {
			<-tick.C
		}
		if s, err = col.Collect(time.Now()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "== read %d at %s\n", i+1, s.Time.Format(time.RFC3339Nano))
		printSnapshot(stdout, s)
	}
	if *geometry {
		fmt.Fprintln(stdout, "== MIG geometry reported by the driver")
		if err := printGeometry(stdout, *library); err != nil {
			fmt.Fprintln(stdout, "geometry:", err)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	return nil
}

var metricNames = []struct {
	m    gpu.Metric
	name string
}{
	{gpu.MetricMemory, "memory"}, {gpu.MetricUtilization, "utilization"}, {gpu.MetricPower, "power"},
	{gpu.MetricProcesses, "processes"}, {gpu.MetricProcessUtilization, "process-utilization"},
	{gpu.MetricGPM, "gpm"}, {gpu.MetricPlacement, "placement"},
}

func has(s gpu.MetricSet) string {
	var out []string
	for _, m := range metricNames {
		if s.Has(m.m) {
			out = append(out, m.name)
		}
	}
	return "[" + strings.Join(out, " ") + "]"
}

func printSnapshot(w io.Writer, s gpu.Snapshot) {
	fmt.Fprintf(w, "driver %s, %d GPUs\n", s.DriverVersion, len(s.Devices))
	for _, d := range s.Devices {
		model, known := mig.Lookup(d.PCIDeviceID, d.Name)
		fmt.Fprintf(w, "GPU %d %s %q pci %#08x mig=%t table=%s read=%s\n", d.Index, d.UUID, d.Name, d.PCIDeviceID, d.MIGEnabled, modelName(model, known), has(d.Has))
		fmt.Fprintf(w, "  memory %s / %s, util %.0f%% (memory %.0f%%), power %.1f W, gpm graphics %.0f%% sm %.0f%% occupancy %.0f%%\n",
			d.MemoryUsed, d.MemoryTotal, 100*d.GPUUtil, 100*d.MemoryUtil, float64(d.PowerMilliwatts)/1000,
			100*d.GPM.GraphicsUtil, 100*d.GPM.SMUtil, 100*d.GPM.SMOccupancy)
		printProcesses(w, "  ", d.Processes)
		for _, m := range d.MIG {
			valid := "placement unknown"
			if m.Has.Has(gpu.MetricPlacement) {
				valid = "no table"
				if known {
					valid = "valid for " + model.Name
					if err := model.ValidatePlacement(m.Profile, m.Placement); err != nil {
						valid = "NOT IN TABLE: " + err.Error()
					}
				}
			}
			fmt.Fprintf(w, "  MIG %d %s profile %q (id %d) GI %d CI %d at %s (%s), %d SMs, slices %dg/%dc, share %.3f GPU, read=%s\n",
				m.Index, m.UUID, m.Profile, m.ProfileID, m.GPUInstanceID, m.ComputeInstanceID, m.Placement, valid,
				m.SMs, m.GPUSlices, m.ComputeSlices, m.Share, has(m.Has))
			fmt.Fprintf(w, "    memory %s / %s, gpm graphics %.0f%% sm %.0f%% occupancy %.0f%%\n",
				m.MemoryUsed, m.MemoryTotal, 100*m.GPM.GraphicsUtil, 100*m.GPM.SMUtil, 100*m.GPM.SMOccupancy)
			printProcesses(w, "    ", m.Processes)
		}
	}
	fmt.Fprintf(w, "unattributed (no container mapper in the probe): %d processes, %s, %.3f GPUs\n",
		s.Unattributed.Processes, s.Unattributed.GPUMemory, s.Unattributed.GPUCompute)
}

func printProcesses(w io.Writer, indent string, ps []gpu.Process) {
	for _, p := range ps {
		mem, sm := "?", "?"
		if p.HasMemory {
			mem = p.Memory.String()
		}
		if p.HasSMUtil {
			sm = fmt.Sprintf("%.0f%%", 100*p.SMUtil)
		}
		fmt.Fprintf(w, "%spid %d memory %s sm %s cgroup %s\n", indent, p.PID, mem, sm, cgroupOf(p.PID))
	}
}

// cgroupOf returns the first line of /proc/<pid>/cgroup, the path the
// agent's container mapper parses; "?" when unreadable.
func cgroupOf(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "?"
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return line
}

func modelName(m mig.Model, ok bool) string {
	if !ok {
		return "none"
	}
	return m.Name
}
