//go:build cgo

// Package gpufake is a fake NVML machine for tests of the GPU collector and
// of the agent, built on go-nvml's mock servers (dgxa100.New(),
// dgxh100.New(), …). Those implement identity, memory totals and MIG
// profile queries; gpufake fills in the calls they leave nil (a nil call
// panics): process lists, process and device utilisation, power, MIG
// devices and GPM, from fields the test sets. It also makes UUIDs
// deterministic and lets a test make any call fail with a chosen NVML error.
//
// MIG devices are added either with real geometry from package mig
// (AddMIG: hardware profile IDs, placements and SM counts) or with the
// mock's own tables (AddMockMIG: profile indices as IDs and the mock's
// wrong H100/H200/B200 numbers), so both paths of the collector are tested.
//
// Not safe for concurrent use: set fields between Collect calls, from the
// goroutine that calls Collect. Needs cgo, as go-nvml does (no driver).
package gpufake

import (
	"fmt"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/rightsizer/rightsizer/gpu/mig"
)

// Server is a fake NVML: an nvml.Interface to pass to gpu.NewFromNVML.
type Server struct {
	*server.Server
	// GPUs are the server's devices, by index.
	GPUs []*GPU
	// Errors makes a library call return the given error instead of
	// succeeding, by method name: "Init", "DeviceGetCount",
	// "DeviceGetHandleByIndex", "GpmSampleAlloc", "GpmMetricsGet".
	Errors map[string]nvml.Return
	// MissingSymbols are the NVML symbols LookupSymbol reports absent
	// (an older driver), e.g. "nvmlGpmMetricsGet".
	MissingSymbols map[string]bool

	mu      sync.Mutex
	samples map[nvml.GpmSample]gpmSource // where each GPM sample was last taken
	// Allocated and Freed count GPM samples, so tests can check for leaks.
	Allocated, Freed int
	// Shutdowns counts Shutdown calls.
	Shutdowns int
}

// GPMValues are the GPM metrics a fake device reports, in percent.
type GPMValues struct {
	GraphicsUtil, SMUtil, SMOccupancy float64
}

// GPU is one fake physical GPU.
type GPU struct {
	*server.Device
	server *Server
	// Util is what GetUtilizationRates returns (percent).
	Util nvml.Utilization
	// PowerMilliwatts is what GetPowerUsage returns.
	PowerMilliwatts uint32
	// Processes and MPSProcesses are what GetComputeRunningProcesses and
	// GetMPSComputeRunningProcesses return.
	Processes, MPSProcesses []nvml.ProcessInfo
	// Samples is NVML's process-utilisation buffer: GetProcessUtilization
	// returns those newer than its argument, or ERROR_NOT_FOUND if none.
	Samples []nvml.ProcessUtilizationSample
	// GPMSupported is what GpmQueryDeviceSupport says; GPM is what a
	// whole-GPU GPM sample pair reads.
	GPMSupported bool
	GPM          GPMValues
	// MIGDevices are the MIG devices, by MIG index (AddMIG).
	MIGDevices []*MIGDevice
	// Errors makes a device call return the given error, by method name
	// (e.g. "GetUtilizationRates": nvml.ERROR_NOT_SUPPORTED).
	Errors map[string]nvml.Return
}

// MIGDevice is one fake MIG device.
type MIGDevice struct {
	*mock.Device
	Parent            *GPU
	UUID              string
	GPUInstance       *server.GpuInstance
	ComputeInstanceID int
	Attributes        nvml.DeviceAttributes
	Memory            nvml.Memory
	Processes         []nvml.ProcessInfo
	GPM               GPMValues
	Errors            map[string]nvml.Return
}

type gpmSource struct {
	gpu *GPU
	gi  int // -1 for the whole GPU
}

// Wrap fills in s, a go-nvml mock server (dgxa100.New(), dgxh100.New(),
// server.New(...)), and returns it as a fake. GPU i gets the UUID
// "GPU-0000000i-…" and a PCI bus ID like the mock's.
func Wrap(s *server.Server) *Server {
	f := &Server{Server: s, Errors: map[string]nvml.Return{}, MissingSymbols: map[string]bool{}, samples: map[nvml.GpmSample]gpmSource{}}
	for i, d := range s.Devices {
		sd := d.(*server.Device)
		sd.UUID = fmt.Sprintf("GPU-%08d-0000-4000-8000-000000000000", i)
		g := &GPU{Device: sd, server: f, Errors: map[string]nvml.Return{}}
		g.fill()
		f.GPUs = append(f.GPUs, g)
	}
	f.fill()
	return f
}

func (f *Server) fail(name string) nvml.Return {
	if r, ok := f.Errors[name]; ok {
		return r
	}
	return nvml.SUCCESS
}

func (f *Server) fill() {
	f.InitFunc = func() nvml.Return { return f.fail("Init") }
	f.ShutdownFunc = func() nvml.Return {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.Shutdowns++
		return nvml.SUCCESS
	}
	f.DeviceGetCountFunc = func() (int, nvml.Return) {
		if r := f.fail("DeviceGetCount"); r != nvml.SUCCESS {
			return 0, r
		}
		return len(f.GPUs), nvml.SUCCESS
	}
	f.DeviceGetHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
		if r := f.fail("DeviceGetHandleByIndex"); r != nvml.SUCCESS {
			return nil, r
		}
		if i < 0 || i >= len(f.GPUs) {
			return nil, nvml.ERROR_INVALID_ARGUMENT
		}
		return f.GPUs[i], nvml.SUCCESS
	}
	f.LookupSymbolFunc = func(name string) error {
		if f.MissingSymbols[name] {
			return fmt.Errorf("symbol %s: %w", name, nvml.ERROR_FUNCTION_NOT_FOUND)
		}
		return nil
	}
	f.GpmSampleAllocFunc = func() (nvml.GpmSample, nvml.Return) {
		if r := f.fail("GpmSampleAlloc"); r != nvml.SUCCESS {
			return nil, r
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.Allocated++
		s := &mock.GpmSample{}
		s.FreeFunc = func() nvml.Return {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.Freed++
			delete(f.samples, s)
			return nvml.SUCCESS
		}
		return s, nvml.SUCCESS
	}
	f.GpmMetricsGetFunc = func(m *nvml.GpmMetricsGetType) nvml.Return {
		if r := f.fail("GpmMetricsGet"); r != nvml.SUCCESS {
			return r
		}
		f.mu.Lock()
		src, ok1 := f.samples[m.Sample2]
		_, ok2 := f.samples[m.Sample1]
		f.mu.Unlock()
		if !ok1 || !ok2 {
			return nvml.ERROR_INVALID_ARGUMENT
		}
		v := src.gpu.GPM
		if src.gi >= 0 {
			v = GPMValues{}
			for _, md := range src.gpu.MIGDevices {
				if int(md.GPUInstance.Info.Id) == src.gi {
					v = md.GPM
				}
			}
		}
		for i := range m.NumMetrics {
			mt := &m.Metrics[i]
			switch nvml.GpmMetricId(mt.MetricId) {
			case nvml.GPM_METRIC_GRAPHICS_UTIL:
				mt.Value = v.GraphicsUtil
			case nvml.GPM_METRIC_SM_UTIL:
				mt.Value = v.SMUtil
			case nvml.GPM_METRIC_SM_OCCUPANCY:
				mt.Value = v.SMOccupancy
			default:
				mt.NvmlReturn = uint32(nvml.ERROR_NOT_SUPPORTED)
			}
		}
		return nvml.SUCCESS
	}
}

func (g *GPU) fail(name string) nvml.Return {
	if r, ok := g.Errors[name]; ok {
		return r
	}
	return nvml.SUCCESS
}

func (g *GPU) fill() {
	d := g.Device
	uuid, memory, migMode := d.GetUUIDFunc, d.GetMemoryInfoFunc, d.GetMigModeFunc
	d.GetUUIDFunc = func() (string, nvml.Return) {
		if r := g.fail("GetUUID"); r != nvml.SUCCESS {
			return "", r
		}
		return uuid()
	}
	d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		if r := g.fail("GetMemoryInfo"); r != nvml.SUCCESS {
			return nvml.Memory{}, r
		}
		return memory()
	}
	d.GetMigModeFunc = func() (int, int, nvml.Return) {
		if r := g.fail("GetMigMode"); r != nvml.SUCCESS {
			return 0, 0, r
		}
		return migMode()
	}
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		if r := g.fail("GetUtilizationRates"); r != nvml.SUCCESS {
			return nvml.Utilization{}, r
		}
		if g.MigMode == nvml.DEVICE_MIG_ENABLE {
			return nvml.Utilization{}, nvml.ERROR_NOT_SUPPORTED // as NVML: no utilisation under MIG
		}
		return g.Util, nvml.SUCCESS
	}
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) {
		if r := g.fail("GetPowerUsage"); r != nvml.SUCCESS {
			return 0, r
		}
		return g.PowerMilliwatts, nvml.SUCCESS
	}
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		if r := g.fail("GetComputeRunningProcesses"); r != nvml.SUCCESS {
			return nil, r
		}
		return append([]nvml.ProcessInfo(nil), g.Processes...), nvml.SUCCESS
	}
	d.GetMPSComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		if r := g.fail("GetMPSComputeRunningProcesses"); r != nvml.SUCCESS {
			return nil, r
		}
		return append([]nvml.ProcessInfo(nil), g.MPSProcesses...), nvml.SUCCESS
	}
	d.GetProcessUtilizationFunc = func(last uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
		if r := g.fail("GetProcessUtilization"); r != nvml.SUCCESS {
			return nil, r
		}
		if g.MigMode == nvml.DEVICE_MIG_ENABLE {
			return nil, nvml.ERROR_NOT_SUPPORTED
		}
		var out []nvml.ProcessUtilizationSample
		for _, s := range g.Samples {
			if s.TimeStamp > last {
				out = append(out, s)
			}
		}
		if len(out) == 0 {
			return nil, nvml.ERROR_NOT_FOUND
		}
		return out, nvml.SUCCESS
	}
	d.GetMaxMigDeviceCountFunc = func() (int, nvml.Return) {
		if r := g.fail("GetMaxMigDeviceCount"); r != nvml.SUCCESS {
			return 0, r
		}
		if g.MigMode != nvml.DEVICE_MIG_ENABLE {
			return 0, nvml.SUCCESS
		}
		return 7, nvml.SUCCESS
	}
	d.GetMigDeviceHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
		if r := g.fail("GetMigDeviceHandleByIndex"); r != nvml.SUCCESS {
			return nil, r
		}
		if i < 0 || i >= len(g.MIGDevices) || g.MIGDevices[i] == nil {
			return nil, nvml.ERROR_NOT_FOUND
		}
		return g.MIGDevices[i], nvml.SUCCESS
	}
	d.GetGpuInstanceByIdFunc = func(id int) (nvml.GpuInstance, nvml.Return) {
		if r := g.fail("GetGpuInstanceById"); r != nvml.SUCCESS {
			return nil, r
		}
		g.RLock()
		defer g.RUnlock()
		for gi := range g.GpuInstances {
			if int(gi.Info.Id) == id {
				return gi, nvml.SUCCESS
			}
		}
		return nil, nvml.ERROR_NOT_FOUND
	}
	d.GpmQueryDeviceSupportFunc = func() (nvml.GpmSupport, nvml.Return) {
		if r := g.fail("GpmQueryDeviceSupport"); r != nvml.SUCCESS {
			return nvml.GpmSupport{}, r
		}
		s := nvml.GpmSupport{Version: nvml.GPM_SUPPORT_VERSION}
		if g.GPMSupported {
			s.IsSupportedDevice = 1
		}
		return s, nvml.SUCCESS
	}
	d.GpmSampleGetFunc = func(s nvml.GpmSample) nvml.Return {
		if r := g.fail("GpmSampleGet"); r != nvml.SUCCESS {
			return r
		}
		return g.server.record(s, gpmSource{g, -1})
	}
	d.GpmMigSampleGetFunc = func(gi int, s nvml.GpmSample) nvml.Return {
		if r := g.fail("GpmMigSampleGet"); r != nvml.SUCCESS {
			return r
		}
		return g.server.record(s, gpmSource{g, gi})
	}
}

func (f *Server) record(s nvml.GpmSample, src gpmSource) nvml.Return {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s == nil {
		return nvml.ERROR_INVALID_ARGUMENT
	}
	f.samples[s] = src
	return nvml.SUCCESS
}

// AddMIG enables MIG mode on g (the fake's, never a real GPU's) and adds a
// MIG device of the real profile p (from package mig) at memory slice
// start, with one compute instance covering it. Its memory total is the
// profile's MiB, its UUID "MIG-<gpu index>-<gi id>-…".
func (g *GPU) AddMIG(p mig.Profile, start int) *MIGDevice {
	return g.addMIG(uint32(p.ID), nvml.GpuInstancePlacement{Start: uint32(start), Size: uint32(p.MemorySlices)}, nvml.DeviceAttributes{
		MultiprocessorCount:       uint32(p.SMs),
		GpuInstanceSliceCount:     uint32(p.ComputeSlices),
		ComputeInstanceSliceCount: uint32(p.ComputeSlices),
		MemorySizeMB:              uint64(p.MemoryMiB),
	})
}

// AddMockMIG is AddMIG with the mock's own profile table: profileIndex is
// an nvml.GPU_INSTANCE_PROFILE_* index, which the mock also reports as the
// profile ID, with the mock's SMs, memory and placement sizes.
func (g *GPU) AddMockMIG(profileIndex, start int) *MIGDevice {
	info, ret := g.GetGpuInstanceProfileInfo(profileIndex)
	if ret != nvml.SUCCESS {
		panic(fmt.Sprintf("gpufake: mock has no profile index %d: %v", profileIndex, ret))
	}
	size := uint32(0)
	for _, pl := range g.Config.MIGProfiles.GpuInstancePlacements[profileIndex] {
		size = pl.Size
	}
	return g.addMIG(info.Id, nvml.GpuInstancePlacement{Start: uint32(start), Size: size}, nvml.DeviceAttributes{
		MultiprocessorCount:       info.MultiprocessorCount,
		GpuInstanceSliceCount:     info.SliceCount,
		ComputeInstanceSliceCount: info.SliceCount,
		MemorySizeMB:              info.MemorySizeMB,
	})
}

func (g *GPU) addMIG(profileID uint32, pl nvml.GpuInstancePlacement, attrs nvml.DeviceAttributes) *MIGDevice {
	g.Lock()
	g.MigMode = nvml.DEVICE_MIG_ENABLE
	info := nvml.GpuInstanceInfo{Device: g.Device, Id: g.GpuInstanceCounter + 1, ProfileId: profileID, Placement: pl}
	g.GpuInstanceCounter++
	gi := server.NewGpuInstanceFromInfo(info, g.Config.MIGProfiles)
	g.GpuInstances[gi] = struct{}{}
	g.Unlock()

	m := &MIGDevice{
		Device: &mock.Device{}, Parent: g, GPUInstance: gi, Attributes: attrs,
		UUID:   fmt.Sprintf("MIG-%08d-%04d-4000-8000-000000000000", g.Index, info.Id),
		Memory: nvml.Memory{Total: attrs.MemorySizeMB << 20, Free: attrs.MemorySizeMB << 20},
		Errors: map[string]nvml.Return{},
	}
	m.fill()
	g.MIGDevices = append(g.MIGDevices, m)
	return m
}

func (m *MIGDevice) fail(name string) nvml.Return {
	if r, ok := m.Errors[name]; ok {
		return r
	}
	return nvml.SUCCESS
}

func (m *MIGDevice) fill() {
	m.GetUUIDFunc = func() (string, nvml.Return) {
		if r := m.fail("GetUUID"); r != nvml.SUCCESS {
			return "", r
		}
		return m.UUID, nvml.SUCCESS
	}
	m.IsMigDeviceHandleFunc = func() (bool, nvml.Return) { return true, nvml.SUCCESS }
	m.GetDeviceHandleFromMigDeviceHandleFunc = func() (nvml.Device, nvml.Return) { return m.Parent, nvml.SUCCESS }
	m.GetGpuInstanceIdFunc = func() (int, nvml.Return) {
		if r := m.fail("GetGpuInstanceId"); r != nvml.SUCCESS {
			return 0, r
		}
		return int(m.GPUInstance.Info.Id), nvml.SUCCESS
	}
	m.GetComputeInstanceIdFunc = func() (int, nvml.Return) {
		if r := m.fail("GetComputeInstanceId"); r != nvml.SUCCESS {
			return 0, r
		}
		return m.ComputeInstanceID, nvml.SUCCESS
	}
	m.GetAttributesFunc = func() (nvml.DeviceAttributes, nvml.Return) {
		if r := m.fail("GetAttributes"); r != nvml.SUCCESS {
			return nvml.DeviceAttributes{}, r
		}
		return m.Attributes, nvml.SUCCESS
	}
	m.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		if r := m.fail("GetMemoryInfo"); r != nvml.SUCCESS {
			return nvml.Memory{}, r
		}
		return m.Memory, nvml.SUCCESS
	}
	m.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		if r := m.fail("GetComputeRunningProcesses"); r != nvml.SUCCESS {
			return nil, r
		}
		return append([]nvml.ProcessInfo(nil), m.Processes...), nvml.SUCCESS
	}
}
