package gpu

import (
	"cmp"
	"slices"

	"github.com/rightsizer/rightsizer/recommender"
)

// ContainerOfPID maps a host PID to the pod UID and container ID it runs
// in; ok is false when the PID is in no Kubernetes container or is gone
// (agent/cgroup.ContainerOfPID reads /proc/<pid>/cgroup). Collect calls it
// at most once per PID per Collect, from the goroutine that called Collect.
type ContainerOfPID func(pid int) (podUID, containerID string, ok bool)

// owner is a container, or the zero owner for unattributed processes.
type owner struct{ pod, container string }

type usageAcc struct {
	u                 ContainerUsage
	pids              map[int]struct{}
	devices           map[string]struct{}
	memIncomplete     bool
	computeIncomplete bool
}

// attributor sums one Snapshot's processes per container. Not safe for
// concurrent use; one per Collect.
type attributor struct {
	containerOf ContainerOfPID
	memo        map[int]owner
	acc         map[owner]*usageAcc
}

// attribute fills in each process's PodUID and ContainerID and the
// Snapshot's Containers and Unattributed from the devices' readings. It is
// a pure function of the Snapshot and the mapper.
//
// Rules (see the package documentation for why):
//   - memory: the sum of the container's processes' memory, over devices;
//   - compute on a whole GPU with per-process utilisation: the sum of its
//     processes' SMUtil, at most 1 per GPU;
//   - compute on a whole GPU without it, or on a MIG instance (where NVML
//     has no per-process utilisation): the device's busy fraction (GPUUtil;
//     GPM GraphicsUtil × Share) if the container is the device's only
//     owner, else not measured;
//   - processes the mapper does not know go to Unattributed, which counts
//     as an owner, so a device shared with unknown processes is not given
//     to the container whole.
func attribute(s *Snapshot, containerOf ContainerOfPID) {
	a := attributor{containerOf: containerOf, memo: map[int]owner{}, acc: map[owner]*usageAcc{}}
	for i := range s.Devices {
		d := &s.Devices[i]
		if d.MIGEnabled {
			for j := range d.MIG {
				m := &d.MIG[j]
				a.device(m.UUID, m.Processes, false, m.GPM.GraphicsUtil*m.Share, m.Has.Has(MetricGPM) && m.Share > 0)
			}
			continue
		}
		a.device(d.UUID, d.Processes, d.Has.Has(MetricProcessUtilization), d.GPUUtil, d.Has.Has(MetricUtilization))
	}
	s.Containers, s.Unattributed = a.result()
}

func (a *attributor) owner(pid int) owner {
	if o, ok := a.memo[pid]; ok {
		return o
	}
	var o owner
	if a.containerOf != nil {
		if pod, ctr, ok := a.containerOf(pid); ok {
			o = owner{pod, ctr}
		}
	}
	a.memo[pid] = o
	return o
}

// device attributes one device's processes. perProcess says the processes'
// SMUtil was measured; busy (GPUs) is the device's own busy fraction,
// valid when busyOK, given whole to a sole owner.
func (a *attributor) device(uuid string, procs []Process, perProcess bool, busy float64, busyOK bool) {
	type devUse struct{ util float64 }
	per := make(map[owner]*devUse, 2)
	var owners []owner // first-seen order, so sums are deterministic
	for k := range procs {
		p := &procs[k]
		o := a.owner(p.PID)
		p.PodUID, p.ContainerID = o.pod, o.container
		acc := a.acc[o]
		if acc == nil {
			acc = &usageAcc{u: ContainerUsage{PodUID: o.pod, ContainerID: o.container}, pids: map[int]struct{}{}, devices: map[string]struct{}{}}
			a.acc[o] = acc
		}
		acc.pids[p.PID] = struct{}{}
		acc.devices[uuid] = struct{}{}
		if p.HasMemory {
			acc.u.GPUMemory += p.Memory
		} else {
			acc.memIncomplete = true
		}
		du := per[o]
		if du == nil {
			du = &devUse{}
			per[o] = du
			owners = append(owners, o)
		}
		if p.HasSMUtil {
			du.util += p.SMUtil
		}
	}
	for _, o := range owners {
		acc := a.acc[o]
		switch {
		case perProcess:
			// Processes time-slice one GPU: their busy fractions add up,
			// but one container cannot keep one GPU more than busy.
			acc.u.GPUCompute += recommender.GPUCompute(min(1, per[o].util))
		case busyOK && len(owners) == 1:
			acc.u.GPUCompute += recommender.GPUCompute(busy)
		default:
			acc.computeIncomplete = true
		}
	}
}

func (a *attributor) result() (containers []ContainerUsage, unattributed ContainerUsage) {
	for o, acc := range a.acc {
		u := acc.u
		u.Processes = len(acc.pids)
		u.Devices = make([]string, 0, len(acc.devices))
		for d := range acc.devices {
			u.Devices = append(u.Devices, d)
		}
		slices.Sort(u.Devices)
		if !acc.memIncomplete {
			u.Has = u.Has.With(recommender.ResourceGPUMemory)
		}
		if !acc.computeIncomplete {
			u.Has = u.Has.With(recommender.ResourceGPUCompute)
		}
		if o == (owner{}) {
			unattributed = u
			continue
		}
		containers = append(containers, u)
	}
	slices.SortFunc(containers, func(x, y ContainerUsage) int {
		return cmp.Or(cmp.Compare(x.PodUID, y.PodUID), cmp.Compare(x.ContainerID, y.ContainerID))
	})
	return containers, unattributed
}
