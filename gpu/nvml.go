//go:build cgo

package gpu

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/rightsizer/rightsizer/gpu/mig"
	"github.com/rightsizer/rightsizer/recommender"
)

// library is the part of nvml.Interface the collector calls.
type library interface {
	Init() nvml.Return
	Shutdown() nvml.Return
	SystemGetDriverVersion() (string, nvml.Return)
	DeviceGetCount() (int, nvml.Return)
	DeviceGetHandleByIndex(index int) (nvml.Device, nvml.Return)
	Extensions() nvml.ExtendedInterface // LookupSymbol: which optional calls the driver has
	gpmLibrary
}

// gpmLibrary allocates GPM samples and computes metrics from two of them.
type gpmLibrary interface {
	GpmSampleAlloc() (nvml.GpmSample, nvml.Return)
	GpmMetricsGet(*nvml.GpmMetricsGetType) nvml.Return
}

// The parts of nvml.Device the collector calls, by concern. Every NVML
// device handle (and every go-nvml mock device) satisfies them; a fake
// must implement exactly these.
type (
	deviceIdentity interface {
		GetUUID() (string, nvml.Return)
		GetName() (string, nvml.Return)
		GetIndex() (int, nvml.Return)
		GetPciInfo() (nvml.PciInfo, nvml.Return)
	}
	deviceUsage interface {
		GetMemoryInfo() (nvml.Memory, nvml.Return)
		GetUtilizationRates() (nvml.Utilization, nvml.Return)
		GetPowerUsage() (uint32, nvml.Return)
	}
	deviceProcesses interface {
		GetComputeRunningProcesses() ([]nvml.ProcessInfo, nvml.Return)
		GetMPSComputeRunningProcesses() ([]nvml.ProcessInfo, nvml.Return)
		GetProcessUtilization(lastSeenTimestamp uint64) ([]nvml.ProcessUtilizationSample, nvml.Return)
	}
	migParent interface {
		GetMigMode() (current, pending int, ret nvml.Return)
		GetMaxMigDeviceCount() (int, nvml.Return)
		GetMigDeviceHandleByIndex(index int) (nvml.Device, nvml.Return)
		GetGpuInstanceById(id int) (nvml.GpuInstance, nvml.Return)
		GetGpuInstanceProfileInfo(profileIndex int) (nvml.GpuInstanceProfileInfo, nvml.Return)
	}
	migChild interface {
		GetGpuInstanceId() (int, nvml.Return)
		GetComputeInstanceId() (int, nvml.Return)
		GetAttributes() (nvml.DeviceAttributes, nvml.Return)
	}
	gpmDevice interface {
		GpmQueryDeviceSupport() (nvml.GpmSupport, nvml.Return)
		GpmSampleGet(nvml.GpmSample) nvml.Return
		GpmMigSampleGet(gpuInstanceID int, sample nvml.GpmSample) nvml.Return
	}
	device interface {
		deviceIdentity
		deviceUsage
		deviceProcesses
		migParent
		migChild
		gpmDevice
	}
)

var (
	_ library = nvml.Interface(nil)
	_ device  = nvml.Device(nil)
)

// minGPMInterval is the shortest interval GPM metrics are computed over:
// NVML asks for more than 100 ms between two MIG samples. A Collect sooner
// than that after the previous sample reports no GPM.
const minGPMInterval = 100 * time.Millisecond

// maxWarned bounds the set of (device, metric, error) triples already
// logged; MIG reconfigurations mint new UUIDs, so it is cleared when full.
const maxWarned = 1024

// capabilities are the optional NVML entry points this driver exports.
// Calling a missing symbol would abort the process (go-nvml links them
// lazily), so each is looked up once at start.
type capabilities struct{ mig, mps, gpm bool }

// gpmState is the pair of GPM sample buffers of one device or GPU instance:
// prev holds the sample taken at the previous Collect (at).
type gpmState struct {
	prev, cur nvml.GpmSample
	at        time.Time
	primed    bool
}

// nvmlCollector reads GPUs through NVML. All fields are guarded by mu.
type nvmlCollector struct {
	mu          sync.Mutex
	lib         library
	log         *slog.Logger
	containerOf ContainerOfPID
	caps        capabilities
	driver      string
	closed      bool

	lastSeen   map[string]uint64    // device UUID → newest process-utilisation timestamp read (µs)
	gpm        map[string]*gpmState // device UUID, or UUID/gi/<id> → GPM buffers
	gpmSupport map[string]bool      // device UUID → GpmQueryDeviceSupport
	fullSMs    map[string]int       // device UUID → SMs with MIG off, from NVML when the tables lack the model
	warned     map[string]struct{}  // device UUID/metric/error already logged
	seen       map[string]struct{}  // GPM keys this Collect sampled
	// metrics is GpmMetricsGet's argument, reused: it holds room for 333
	// metrics (about 16 KiB), too much to allocate per device per tick.
	metrics nvml.GpmMetricsGetType
}

// NewFromNVML returns a Collector over lib, an NVML that has not been
// initialised yet (nvml.New(), or a go-nvml mock or gpufake server in
// tests). It initialises lib; like New, it returns a Collector that reads
// nothing and an error wrapping ErrNoGPU when lib cannot be used, and never
// panics. The Collector owns lib: Close shuts it down.
func NewFromNVML(lib nvml.Interface, opts Options) (Collector, error) {
	c, err := newCollector(lib, opts)
	if errors.Is(err, ErrNoGPU) {
		logger(opts.Logger).Info("no gpu, running cpu-only", "reason", err.Error())
	}
	return c, err
}

func newNVML(opts Options) (Collector, error) {
	var lib nvml.Interface
	if opts.LibraryPath != "" {
		lib = nvml.New(nvml.WithLibraryPath(opts.LibraryPath))
	} else {
		lib = nvml.New()
	}
	return newCollector(lib, opts)
}

func newCollector(lib library, opts Options) (Collector, error) {
	if err := initNVML(lib); err != nil {
		return noGPU{}, err
	}
	n, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS || n == 0 {
		_ = lib.Shutdown() // nothing to read; the error already says why
		if ret != nvml.SUCCESS {
			return noGPU{}, fmt.Errorf("%w: count gpus: %w", ErrNoGPU, ret)
		}
		return noGPU{}, fmt.Errorf("%w: nvml found no gpu", ErrNoGPU)
	}
	c := &nvmlCollector{
		lib:         lib,
		log:         logger(opts.Logger),
		containerOf: opts.ContainerOfPID,
		caps: capabilities{
			mig: hasSymbols(lib, "nvmlDeviceGetMigMode", "nvmlDeviceGetMaxMigDeviceCount", "nvmlDeviceGetMigDeviceHandleByIndex",
				"nvmlDeviceGetGpuInstanceId", "nvmlDeviceGetComputeInstanceId", "nvmlDeviceGetGpuInstanceById", "nvmlGpuInstanceGetInfo"),
			mps: hasAnySymbol(lib, "nvmlDeviceGetMPSComputeRunningProcesses", "nvmlDeviceGetMPSComputeRunningProcesses_v2", "nvmlDeviceGetMPSComputeRunningProcesses_v3"),
			gpm: hasSymbols(lib, "nvmlGpmQueryDeviceSupport", "nvmlGpmSampleAlloc", "nvmlGpmSampleFree", "nvmlGpmSampleGet", "nvmlGpmMigSampleGet", "nvmlGpmMetricsGet"),
		},
		lastSeen:   map[string]uint64{},
		gpm:        map[string]*gpmState{},
		gpmSupport: map[string]bool{},
		fullSMs:    map[string]int{},
		warned:     map[string]struct{}{},
		seen:       map[string]struct{}{},
	}
	if v, ret := lib.SystemGetDriverVersion(); ret == nvml.SUCCESS {
		c.driver = v
	}
	c.log.Info("gpu collector started", "gpus", n, "driver", c.driver, "mig", c.caps.mig, "gpm", c.caps.gpm)
	return c, nil
}

// initNVML calls lib.Init, turning a failure or a panic into ErrNoGPU.
func initNVML(lib library) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: init nvml: panic: %v", ErrNoGPU, r)
		}
	}()
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return fmt.Errorf("%w: init nvml: %w", ErrNoGPU, ret)
	}
	return nil
}

func hasSymbols(lib library, names ...string) bool {
	ext := lib.Extensions()
	if ext == nil {
		return false
	}
	for _, n := range names {
		if ext.LookupSymbol(n) != nil {
			return false
		}
	}
	return true
}

func hasAnySymbol(lib library, names ...string) bool {
	for _, n := range names {
		if hasSymbols(lib, n) {
			return true
		}
	}
	return false
}

func (c *nvmlCollector) Collect(now time.Time) (s Snapshot, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return Snapshot{Time: now}, ErrClosed
	}
	// A Go panic inside the bindings (never seen, but the agent must not
	// die of a GPU) fails this Collect only.
	defer func() {
		if r := recover(); r != nil {
			s, err = Snapshot{Time: now}, fmt.Errorf("read gpus: panic: %v", r)
		}
	}()
	s = Snapshot{Time: now, DriverVersion: c.driver}
	n, ret := c.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return s, fmt.Errorf("count gpus: %w", ret)
	}
	clear(c.seen)
	for i := range n {
		h, ret := c.lib.DeviceGetHandleByIndex(i)
		if !c.ok("index "+strconv.Itoa(i), "handle", ret) {
			continue
		}
		if d, ok := c.readDevice(i, h, now); ok {
			s.Devices = append(s.Devices, d)
		}
	}
	c.forgetUnseen()
	attribute(&s, c.containerOf)
	return s, nil
}

func (c *nvmlCollector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for k, st := range c.gpm {
		errs = append(errs, freeGPM(st))
		delete(c.gpm, k)
	}
	if ret := c.lib.Shutdown(); ret != nvml.SUCCESS {
		errs = append(errs, fmt.Errorf("shut down nvml: %w", ret))
	}
	return errors.Join(errs...)
}

// ok reports whether ret is SUCCESS; otherwise it logs the failure once
// per (device, metric, error): at debug level for ERROR_NOT_SUPPORTED,
// which is how NVML says "not on this GPU", at warn level otherwise.
func (c *nvmlCollector) ok(dev, metric string, ret nvml.Return) bool {
	if ret == nvml.SUCCESS {
		return true
	}
	key := dev + "/" + metric + "/" + strconv.Itoa(int(ret))
	if _, done := c.warned[key]; done {
		return false
	}
	if len(c.warned) >= maxWarned {
		clear(c.warned)
	}
	c.warned[key] = struct{}{}
	level := slog.LevelWarn
	if ret == nvml.ERROR_NOT_SUPPORTED {
		level = slog.LevelDebug
	}
	c.log.Log(context.Background(), level, "gpu reading skipped", "gpu", dev, "metric", metric, "error", ret.Error())
	return false
}

func (c *nvmlCollector) readDevice(index int, h device, now time.Time) (Device, bool) {
	uuid, ret := h.GetUUID()
	if !c.ok("index "+strconv.Itoa(index), "uuid", ret) {
		return Device{}, false
	}
	d := Device{Index: index, UUID: uuid}
	if name, ret := h.GetName(); c.ok(uuid, "name", ret) {
		d.Name = name
	}
	if i, ret := h.GetIndex(); c.ok(uuid, "index", ret) {
		d.Index = i
	}
	if pci, ret := h.GetPciInfo(); c.ok(uuid, "pci", ret) {
		d.PCIDeviceID = pci.PciDeviceId
	}
	if mem, ret := h.GetMemoryInfo(); c.ok(uuid, "memory", ret) {
		d.MemoryUsed, d.MemoryTotal = recommender.Bytes(mem.Used), recommender.Bytes(mem.Total)
		d.Has = d.Has.With(MetricMemory)
	}
	if p, ret := h.GetPowerUsage(); c.ok(uuid, "power", ret) {
		d.PowerMilliwatts = p
		d.Has = d.Has.With(MetricPower)
	}
	if c.caps.mig {
		// ERROR_NOT_SUPPORTED on GPUs without MIG: logged at debug, once.
		if cur, _, ret := h.GetMigMode(); c.ok(uuid, "mig mode", ret) {
			d.MIGEnabled = cur == nvml.DEVICE_MIG_ENABLE
		}
	}
	gpm := c.gpmSupported(uuid, h)
	if d.MIGEnabled {
		// NVML has no device or per-process utilisation under MIG, and the
		// parent's process list repeats the instances': read the instances.
		d.MIG = c.readMIG(&d, h, gpm, now)
		return d, true
	}
	if u, ret := h.GetUtilizationRates(); c.ok(uuid, "utilization", ret) {
		d.GPUUtil, d.MemoryUtil = percent(u.Gpu), percent(u.Memory)
		d.Has = d.Has.With(MetricUtilization)
	}
	procs, listed := c.readProcesses(uuid, h, c.caps.mps)
	if listed {
		d.Has = d.Has.With(MetricProcesses)
	}
	util, measured := c.readProcessUtil(uuid, h)
	if measured {
		d.Has = d.Has.With(MetricProcessUtilization)
	}
	d.Processes = mergeProcesses(procs, listed, util, measured)
	if gpm {
		if g, ok := c.readGPM(uuid, h, -1, now); ok {
			d.GPM = g
			d.Has = d.Has.With(MetricGPM)
		}
	}
	return d, true
}

// readProcesses lists the compute (and, with mps, MPS client) processes
// on h with their memory, by PID.
func (c *nvmlCollector) readProcesses(uuid string, h deviceProcesses, mps bool) ([]Process, bool) {
	infos, ret := h.GetComputeRunningProcesses()
	if !c.ok(uuid, "processes", ret) {
		return nil, false
	}
	if mps {
		if more, ret := h.GetMPSComputeRunningProcesses(); c.ok(uuid, "mps processes", ret) {
			infos = append(infos, more...)
		}
	}
	procs := make([]Process, 0, len(infos))
	for _, in := range infos {
		p := Process{PID: int(in.Pid)}
		// VALUE_NOT_AVAILABLE (all ones): NVML withholds the amount.
		if in.UsedGpuMemory != math.MaxUint64 {
			p.Memory, p.HasMemory = recommender.Bytes(in.UsedGpuMemory), true
		}
		procs = append(procs, p)
	}
	slices.SortFunc(procs, func(a, b Process) int { return cmp.Compare(a.PID, b.PID) })
	// A PID in both lists (an MPS client the driver also lists as compute)
	// counts once, with the larger amount.
	out := procs[:0]
	for _, p := range procs {
		if n := len(out); n > 0 && out[n-1].PID == p.PID {
			if q := &out[n-1]; p.HasMemory && (!q.HasMemory || p.Memory > q.Memory) {
				q.Memory, q.HasMemory = p.Memory, true
			}
			continue
		}
		out = append(out, p)
	}
	return out, true
}

// readProcessUtil returns each PID's SM utilisation (0–1) over the samples
// NVML took since the previous call on this device, and whether it was
// measured. A PID NVML has no new sample of was idle. NVML keeps one
// sample per process per sample period in which it ran; the mean over a
// PID's samples errs high for a bursty process (its idle periods have no
// sample), which is the safe side for sizing.
func (c *nvmlCollector) readProcessUtil(uuid string, h deviceProcesses) (map[int]float64, bool) {
	last := c.lastSeen[uuid]
	samples, ret := h.GetProcessUtilization(last)
	switch {
	case ret == nvml.ERROR_NOT_FOUND:
		return nil, true // no process ran since last
	case ret == nvml.ERROR_INSUFFICIENT_SIZE && len(samples) == 0:
		return nil, true // go-nvml's way of saying "no samples"
	case !c.ok(uuid, "process utilization", ret):
		return nil, false
	}
	sum, n := map[int]float64{}, map[int]int{}
	newest := last
	for _, s := range samples {
		if s.TimeStamp <= last {
			continue
		}
		newest = max(newest, s.TimeStamp)
		sum[int(s.Pid)] += percent(s.SmUtil)
		n[int(s.Pid)]++
	}
	c.lastSeen[uuid] = newest
	for pid, v := range sum {
		sum[pid] = v / float64(n[pid])
	}
	return sum, true
}

// mergeProcesses joins the process list and the utilisation samples: a
// PID sampled but not listed (it exited, or it is a graphics process) has
// no memory on the device if the list was read.
func mergeProcesses(procs []Process, listed bool, util map[int]float64, measured bool) []Process {
	for i := range procs {
		if measured {
			procs[i].SMUtil, procs[i].HasSMUtil = util[procs[i].PID], true
		}
	}
	var extra []Process
	for pid, u := range util {
		if _, found := slices.BinarySearchFunc(procs, pid, func(p Process, pid int) int { return cmp.Compare(p.PID, pid) }); !found {
			extra = append(extra, Process{PID: pid, HasMemory: listed, SMUtil: u, HasSMUtil: true})
		}
	}
	if len(extra) == 0 {
		return procs
	}
	procs = append(procs, extra...)
	slices.SortFunc(procs, func(a, b Process) int { return cmp.Compare(a.PID, b.PID) })
	return procs
}

func (c *nvmlCollector) readMIG(d *Device, h device, gpm bool, now time.Time) []MIGDevice {
	count, ret := h.GetMaxMigDeviceCount()
	if !c.ok(d.UUID, "mig devices", ret) {
		return nil
	}
	model, known := mig.Lookup(d.PCIDeviceID, d.Name)
	fullSMs := c.parentSMs(d.UUID, h, model)
	deviceBytes := uint64(d.MemoryTotal)
	if !d.Has.Has(MetricMemory) && known {
		deviceBytes = uint64(model.MemoryGB) << 30
	}
	var out []MIGDevice
	for j := range count {
		mh, ret := h.GetMigDeviceHandleByIndex(j)
		if ret == nvml.ERROR_NOT_FOUND || !c.ok(d.UUID, "mig device "+strconv.Itoa(j), ret) {
			continue // NOT_FOUND: no MIG device at this index
		}
		uuid, ret := mh.GetUUID()
		if !c.ok(d.UUID, "mig device "+strconv.Itoa(j)+" uuid", ret) {
			continue
		}
		m := MIGDevice{Index: j, UUID: uuid, GPUInstanceID: -1, ComputeInstanceID: -1, ProfileID: -1}
		if gi, ret := mh.GetGpuInstanceId(); c.ok(uuid, "gpu instance id", ret) {
			m.GPUInstanceID = gi
		}
		if ci, ret := mh.GetComputeInstanceId(); c.ok(uuid, "compute instance id", ret) {
			m.ComputeInstanceID = ci
		}
		var memMiB uint64
		if a, ret := mh.GetAttributes(); c.ok(uuid, "attributes", ret) {
			m.SMs, m.GPUSlices, m.ComputeSlices = int(a.MultiprocessorCount), int(a.GpuInstanceSliceCount), int(a.ComputeInstanceSliceCount)
			memMiB = a.MemorySizeMB
		}
		if mem, ret := mh.GetMemoryInfo(); c.ok(uuid, "memory", ret) {
			m.MemoryUsed, m.MemoryTotal = recommender.Bytes(mem.Used), recommender.Bytes(mem.Total)
			m.Has = m.Has.With(MetricMemory)
		}
		if m.GPUInstanceID >= 0 {
			if gi, ret := h.GetGpuInstanceById(m.GPUInstanceID); c.ok(uuid, "gpu instance", ret) {
				if info, ret := gi.GetInfo(); c.ok(uuid, "gpu instance info", ret) {
					m.ProfileID = int(info.ProfileId)
					m.Placement = mig.Placement{Start: int(info.Placement.Start), Size: int(info.Placement.Size)}
					m.Has = m.Has.With(MetricPlacement)
				}
			}
		}
		m.Profile = profileName(m, memMiB, deviceBytes, model, known)
		if fullSMs > 0 && m.SMs > 0 {
			m.Share = float64(m.SMs) / float64(fullSMs)
		}
		// MPS does not run on MIG: the compute list is complete.
		if procs, listed := c.readProcesses(uuid, mh, false); listed {
			m.Processes = procs
			m.Has = m.Has.With(MetricProcesses)
		}
		if gpm && m.GPUInstanceID >= 0 {
			if g, ok := c.readGPM(d.UUID+"/gi/"+strconv.Itoa(m.GPUInstanceID), h, m.GPUInstanceID, now); ok {
				m.GPM = g
				m.Has = m.Has.With(MetricGPM)
			}
		}
		out = append(out, m)
	}
	return out
}

// profileName names a MIG device's profile: from our tables when NVML's
// profile ID is in them and the table's slices agree with what NVML says
// the instance is (so a mock's profile indices, which collide with real
// IDs, are not misread), else derived from the attributes as go-nvlib
// derives it. A compute instance smaller than its GPU instance gets the
// "Cc." prefix either way.
func profileName(m MIGDevice, memMiB, deviceBytes uint64, model mig.Model, known bool) string {
	if known && m.ProfileID >= 0 {
		if p, ok := model.ProfileByID(m.ProfileID); ok && p.ComputeSlices == m.GPUSlices &&
			(m.Placement.Size == 0 || m.Placement.Size == p.MemorySlices) {
			if m.ComputeSlices > 0 && m.ComputeSlices != m.GPUSlices {
				return strconv.Itoa(m.ComputeSlices) + "c." + p.Name
			}
			return p.Name
		}
	}
	if m.GPUSlices == 0 || memMiB == 0 || deviceBytes == 0 {
		return ""
	}
	return mig.ProfileName(m.GPUSlices, m.ComputeSlices, memMiB, deviceBytes)
}

// parentSMs is the parent GPU's SM count with MIG off: from our tables, or
// else the largest GPU-instance profile NVML reports (the 7g profile, which
// on A100 has 98 of 108 SMs: Share then errs high). Cached per GPU.
func (c *nvmlCollector) parentSMs(uuid string, h migParent, model mig.Model) int {
	if model.FullSMs > 0 {
		return model.FullSMs
	}
	if n, ok := c.fullSMs[uuid]; ok {
		return n
	}
	most := 0
	for i := range nvml.GPU_INSTANCE_PROFILE_COUNT {
		if info, ret := h.GetGpuInstanceProfileInfo(i); ret == nvml.SUCCESS {
			most = max(most, int(info.MultiprocessorCount))
		}
	}
	c.fullSMs[uuid] = most
	return most
}

// gpmSupported asks NVML once per GPU whether it has GPM (Hopper and newer).
func (c *nvmlCollector) gpmSupported(uuid string, h gpmDevice) bool {
	if !c.caps.gpm {
		return false
	}
	if ok, done := c.gpmSupport[uuid]; done {
		return ok
	}
	s, ret := h.GpmQueryDeviceSupport()
	ok := c.ok(uuid, "gpm support", ret) && s.IsSupportedDevice != 0
	c.gpmSupport[uuid] = ok
	return ok
}

// gpmMetrics are the GPM metrics read, in GPM's field order.
var gpmMetrics = [...]nvml.GpmMetricId{nvml.GPM_METRIC_GRAPHICS_UTIL, nvml.GPM_METRIC_SM_UTIL, nvml.GPM_METRIC_SM_OCCUPANCY}

// readGPM takes a GPM sample of the device (gi < 0) or of its GPU instance
// gi and returns the metrics since the previous sample under the same key.
// The first call only primes the buffers; so does a call less than
// minGPMInterval after the previous sample. All three metrics or none.
func (c *nvmlCollector) readGPM(key string, h gpmDevice, gi int, now time.Time) (GPM, bool) {
	c.seen[key] = struct{}{}
	st := c.gpm[key]
	if st == nil {
		prev, ret := c.lib.GpmSampleAlloc()
		if !c.ok(key, "gpm alloc", ret) {
			return GPM{}, false
		}
		cur, ret := c.lib.GpmSampleAlloc()
		if !c.ok(key, "gpm alloc", ret) {
			_ = prev.Free() // best effort: nothing else holds it
			return GPM{}, false
		}
		st = &gpmState{prev: prev, cur: cur}
		c.gpm[key] = st
	}
	if st.primed && now.Sub(st.at) < minGPMInterval {
		return GPM{}, false
	}
	var ret nvml.Return
	if gi < 0 {
		ret = h.GpmSampleGet(st.cur)
	} else {
		ret = h.GpmMigSampleGet(gi, st.cur)
	}
	if !c.ok(key, "gpm sample", ret) {
		return GPM{}, false
	}
	primed := st.primed
	st.prev, st.cur, st.at, st.primed = st.cur, st.prev, now, true
	if !primed {
		return GPM{}, false
	}
	// st.prev now holds this sample, st.cur the previous one.
	mg := &c.metrics
	mg.NumMetrics, mg.Sample1, mg.Sample2 = uint32(len(gpmMetrics)), st.cur, st.prev
	for i, id := range gpmMetrics {
		mg.Metrics[i] = nvml.GpmMetric{MetricId: uint32(id)}
	}
	if !c.ok(key, "gpm metrics", c.lib.GpmMetricsGet(mg)) {
		return GPM{}, false
	}
	var v [len(gpmMetrics)]float64
	for i := range gpmMetrics {
		if !c.ok(key, "gpm metric "+strconv.Itoa(int(gpmMetrics[i])), nvml.Return(mg.Metrics[i].NvmlReturn)) {
			return GPM{}, false
		}
		v[i] = clamp01(mg.Metrics[i].Value / 100)
	}
	return GPM{GraphicsUtil: v[0], SMUtil: v[1], SMOccupancy: v[2]}, true
}

// forgetUnseen frees the GPM buffers of devices and GPU instances this
// Collect did not see (a GPU gone, a MIG reconfiguration, which mints new
// GPU instances). The per-GPU maps (lastSeen, gpmSupport, fullSMs) are
// kept: they are keyed by physical GPU, so bounded by the hardware, and a
// GPU missing from one read must not re-read NVML's whole sample buffer.
func (c *nvmlCollector) forgetUnseen() {
	for k, st := range c.gpm {
		if _, ok := c.seen[k]; !ok {
			if err := freeGPM(st); err != nil {
				c.log.Warn("gpu gpm free failed", "key", k, "error", err.Error())
			}
			delete(c.gpm, k)
		}
	}
}

func freeGPM(st *gpmState) error {
	var errs []error
	for _, s := range []nvml.GpmSample{st.prev, st.cur} {
		if ret := s.Free(); ret != nvml.SUCCESS {
			errs = append(errs, fmt.Errorf("free gpm sample: %w", ret))
		}
	}
	return errors.Join(errs...)
}

// percent converts NVML's whole percent to a fraction 0–1.
func percent(p uint32) float64 { return clamp01(float64(p) / 100) }

func clamp01(f float64) float64 {
	if math.IsNaN(f) {
		return 0
	}
	return min(1, max(0, f))
}
