package gpu

import (
	"errors"
	"log/slog"
	"time"
)

// Collector reads the node's GPUs.
type Collector interface {
	// Collect reads every GPU once and attributes its processes to
	// containers. now stamps the Snapshot and paces GPM (see the package
	// documentation); pass the time of the agent's tick. Per-process
	// utilisation and GPM cover the interval since the previous Collect,
	// so call it at a steady interval (the agent's 1–10 s). An error means
	// nothing could be read this time (NVML could not count the GPUs, or
	// the collector is closed); a reading NVML refuses for one device is
	// left out of that device's Has set instead. Safe for concurrent use:
	// calls are serialised.
	Collect(now time.Time) (Snapshot, error)
	// Close releases NVML (GPM buffers, then nvmlShutdown). Collect then
	// returns ErrClosed. Idempotent; safe for concurrent use.
	Close() error
}

// Errors the collector returns.
var (
	// ErrNoGPU reports that NVML could not be used: no libnvidia-ml (no
	// driver on the node), an NVML that would not initialise, no GPU, or a
	// binary built without cgo. New returns it with a Collector that
	// reads nothing, so the agent runs CPU-only.
	ErrNoGPU = errors.New("no nvidia gpu")
	// ErrClosed reports a Collect after Close.
	ErrClosed = errors.New("gpu collector closed")
)

// Options configure New. The zero value is usable: default library path,
// no logging, every process unattributed.
type Options struct {
	// Logger receives the one line about missing GPUs and, once per
	// device, metric and NVML error, why a reading was skipped. nil
	// discards.
	Logger *slog.Logger
	// LibraryPath is the libnvidia-ml.so.1 to load; empty means the
	// dynamic linker's search (what the NVIDIA container toolkit mounts).
	// Set it for operator-managed drivers, e.g.
	// /run/nvidia/driver/usr/lib64/libnvidia-ml.so.1.
	LibraryPath string
	// ContainerOfPID maps processes to containers; nil attributes none.
	ContainerOfPID ContainerOfPID
}

// New initialises NVML and returns a Collector over every GPU on the node.
// When NVML cannot be used it logs one line, and returns a Collector whose
// Collect returns empty Snapshots together with an error wrapping ErrNoGPU:
// the caller may keep the Collector (CPU-only) or drop it. New never
// panics, whatever the driver.
func New(opts Options) (Collector, error) {
	c, err := newNVML(opts)
	if errors.Is(err, ErrNoGPU) {
		logger(opts.Logger).Info("no gpu, running cpu-only", "reason", err.Error())
	}
	return c, err
}

// noGPU is the Collector of a node without usable GPUs.
type noGPU struct{}

func (noGPU) Collect(now time.Time) (Snapshot, error) { return Snapshot{Time: now}, nil }
func (noGPU) Close() error                            { return nil }

var _ Collector = noGPU{}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
