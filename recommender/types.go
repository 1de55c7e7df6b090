package recommender

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rightsizer/rightsizer/internal/errtext"
)

// MilliCPU is an amount of CPU in thousandths of a core (Kubernetes "m").
// Usage samples round to the nearest millicore; sub-millicore usage counts
// as zero, which is below every floor a profile allows.
type MilliCPU int64

// Cores returns the amount in cores.
func (m MilliCPU) Cores() float64 { return float64(m) / 1000 }

// String formats the amount as Kubernetes would ("250m", "2").
func (m MilliCPU) String() string {
	if m%1000 == 0 {
		return strconv.FormatInt(int64(m)/1000, 10)
	}
	return strconv.FormatInt(int64(m), 10) + "m"
}

// MilliCPUFromCores converts cores to millicores, rounding to nearest.
func MilliCPUFromCores(cores float64) MilliCPU { return MilliCPU(math.Round(cores * 1000)) }

// Bytes is an amount of memory (RAM or GPU memory) in bytes.
type Bytes int64

// Common byte sizes.
const (
	KiB Bytes = 1 << 10
	MiB Bytes = 1 << 20
	GiB Bytes = 1 << 30
)

// GiB returns the amount in gibibytes.
func (b Bytes) GiB() float64 { return float64(b) / float64(GiB) }

// String formats the amount with the largest binary suffix that keeps it
// readable, rounded up to a whole MiB above 1 MiB ("512Mi", "1.5Gi").
func (b Bytes) String() string {
	switch {
	case b >= GiB:
		return strconv.FormatFloat(math.Ceil(b.GiB()*100)/100, 'f', -1, 64) + "Gi"
	case b >= MiB:
		return strconv.FormatInt(int64((b+MiB-1)/MiB), 10) + "Mi"
	case b >= KiB:
		return strconv.FormatInt(int64((b+KiB-1)/KiB), 10) + "Ki"
	default:
		return strconv.FormatInt(int64(b), 10)
	}
}

// GPUCompute is GPU busy time in GPUs: 1.0 is one GPU fully busy, 0.25 one
// GPU busy a quarter of the time (or a quarter of its SMs), 2.0 two GPUs.
type GPUCompute float64

// Resource names one kind of resource that rightsizer tracks.
type Resource uint8

// The resources, in their canonical order.
const (
	ResourceCPU        Resource = iota // cores, as MilliCPU
	ResourceMemory                     // bytes of working set
	ResourceGPUCompute                 // GPUs busy, as GPUCompute
	ResourceGPUMemory                  // bytes of GPU memory
)

// String returns the resource's name as used in flags, YAML and output.
func (r Resource) String() string {
	switch r {
	case ResourceCPU:
		return "cpu"
	case ResourceMemory:
		return "memory"
	case ResourceGPUCompute:
		return "gpu_compute"
	case ResourceGPUMemory:
		return "gpu_memory"
	}
	return "resource(" + strconv.Itoa(int(r)) + ")"
}

// ResourceSet is a set of resources, one bit per Resource.
type ResourceSet uint8

// Has reports whether r is in the set.
func (s ResourceSet) Has(r Resource) bool { return s&(1<<r) != 0 }

// With returns the set with r added.
func (s ResourceSet) With(r Resource) ResourceSet { return s | 1<<r }

// WorkloadKey identifies a workload: the owner that pods roll up to
// (Deployment, StatefulSet, DaemonSet, Job, CronJob, or a bare Pod).
type WorkloadKey struct {
	Cluster   string `json:"cluster,omitempty"` // empty for the local cluster
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"` // e.g. "Deployment"; "Pod" for bare pods
	Name      string `json:"name"`
}

// String formats the key as cluster/namespace/kind/name, omitting an empty cluster.
func (k WorkloadKey) String() string {
	s := k.Namespace + "/" + k.Kind + "/" + k.Name
	if k.Cluster != "" {
		s = k.Cluster + "/" + s
	}
	return s
}

// ContainerKey identifies one container of a workload. Samples from every
// replica of the container share the key, so they merge into one state.
type ContainerKey struct {
	WorkloadKey
	Container string `json:"container"`
}

// String formats the key as cluster/namespace/kind/name/container.
func (k ContainerKey) String() string { return k.WorkloadKey.String() + "/" + k.Container }

// Limits on keys. Keys come from outside (agents, remote-write, traces),
// so they are bounded before they are stored.
const (
	MaxKeyPartLen = 253 // a DNS subdomain, the longest Kubernetes name
)

// ErrInvalidKey reports a key that cannot be stored.
var ErrInvalidKey = errors.New("invalid key")

// Validate reports whether every part of the key is present (the cluster
// may be empty), at most MaxKeyPartLen bytes, valid UTF-8 without control
// characters or '/'.
func (k WorkloadKey) Validate() error {
	for _, p := range [...]struct {
		name, v  string
		optional bool
	}{
		{"cluster", k.Cluster, true},
		{"namespace", k.Namespace, false},
		{"kind", k.Kind, false},
		{"name", k.Name, false},
	} {
		if err := validKeyPart(p.name, p.v, p.optional); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks the workload key as WorkloadKey.Validate does, and the
// container name by the same rules.
func (k ContainerKey) Validate() error {
	if err := k.WorkloadKey.Validate(); err != nil {
		return err
	}
	return validKeyPart("container", k.Container, false)
}

func validKeyPart(name, v string, optional bool) error {
	if err := validateKeyPart(v, optional); err != nil {
		return fmt.Errorf("%w: %s %q: %w", ErrInvalidKey, name, errtext.Clip(v), err)
	}
	return nil
}

func validateKeyPart(s string, optional bool) error {
	if s == "" {
		if optional {
			return nil
		}
		return errors.New("empty")
	}
	if len(s) > MaxKeyPartLen {
		return fmt.Errorf("longer than %d bytes", MaxKeyPartLen)
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '/' }) {
		return errors.New("contains '/' or a control character")
	}
	return nil
}

// Usage is one observation of a container's resource use. Only the
// resources in Has are meaningful; zero is a valid observation.
type Usage struct {
	CPU        MilliCPU   // cores in use, averaged over the source's interval
	Memory     Bytes      // working set (RSS where the source has it)
	GPUCompute GPUCompute // GPUs busy
	GPUMemory  Bytes      // GPU memory in use
	// ThrottledFraction is the fraction of CFS periods in the source's
	// interval in which the container was throttled (0–1). Only meaningful
	// when HasThrottling is set.
	ThrottledFraction float64
	Has               ResourceSet
	HasThrottling     bool
}

// Sample is one observation of one container (of any replica) at one time.
type Sample struct {
	Key   ContainerKey
	Time  time.Time
	Usage Usage
}

// OOMEvent records that a container was killed for exceeding its memory
// limit (OOMKilled) or evicted for node memory pressure.
type OOMEvent struct {
	Key  ContainerKey
	Time time.Time
	// Limit is the memory limit in force when the container died; zero when
	// the source does not know it (the engine then uses the inventory's).
	Limit Bytes
	// Usage is the working set seen just before the kill, if known.
	Usage Bytes
}

// Amounts holds one amount per resource; zero means unset.
type Amounts struct {
	CPU        MilliCPU
	Memory     Bytes
	GPUCompute GPUCompute
	GPUMemory  Bytes
}

// ContainerRole says how a container runs inside its pod.
type ContainerRole uint8

// The container roles.
const (
	RoleApp     ContainerRole = iota // a regular container
	RoleInit                         // an init container that runs to completion
	RoleSidecar                      // a restartable init container (native sidecar)
)

// String returns "app", "init" or "sidecar".
func (r ContainerRole) String() string {
	switch r {
	case RoleInit:
		return "init"
	case RoleSidecar:
		return "sidecar"
	}
	return "app"
}

// ContainerSpec is what one container of a workload asks for today.
type ContainerSpec struct {
	Name     string
	Role     ContainerRole
	Requests Amounts
	Limits   Amounts
}

// Workload is the inventory record of one workload: what it runs and what
// it requests. Sources and Kubernetes discovery keep it current.
type Workload struct {
	Key      WorkloadKey
	Labels   map[string]string
	Replicas int32
	// Containers lists app, init and sidecar containers.
	Containers []ContainerSpec
	// AutoscaledOn lists the resources that a horizontal autoscaler (HPA or
	// KEDA) scales this workload on; the engine will not recommend against
	// the autoscaler's target for them.
	AutoscaledOn ResourceSet
	// Managed says that rightsizer's controller applies this workload's
	// recommendations (an opt-in per workload), so that its requests are
	// rightsizer's own: risk-budget calibration then learns from them.
	Managed bool
}

// Container returns the spec of the named container, if the workload has it.
func (w *Workload) Container(name string) (ContainerSpec, bool) {
	for _, c := range w.Containers {
		if c.Name == name {
			return c, true
		}
	}
	return ContainerSpec{}, false
}
