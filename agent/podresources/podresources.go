// Package podresources reads which containers hold which devices from the
// kubelet's pod-resources API (k8s.io/kubelet/pkg/apis/podresources/v1),
// served on a unix socket on every node.
//
// The node agent calls Client.Snapshot once per round, or less often. A
// Snapshot maps each physical device, as NVIDIA's device plugin names it
// ("GPU-<uuid>", "MIG-<uuid>"), to the containers that hold it, and each
// container to its devices. Time-sliced and MPS replicas ("<id>::<n>") are
// folded into their physical device, keeping how many replicas each
// container holds and so how many containers share the device. Devices
// that the kubelet can allocate (GetAllocatableResources) but no container
// holds are reported as idle, per resource name.
//
// The pod-resources API names pods by namespace and name, not UID: package
// agent/pods resolves those names to workloads.
//
// Access to the socket is root-only by file permissions. Mount its
// directory (/var/lib/kubelet/pod-resources), not the socket itself, so
// that the client reconnects to the new socket after a kubelet restart.
package podresources

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
	"k8s.io/utils/clock"
)

// DefaultSocket is where the kubelet serves the pod-resources API.
const DefaultSocket = "/var/lib/kubelet/pod-resources/kubelet.sock"

// DefaultMaxMessageSize is the largest response the client accepts, as
// the kubelet's own client sets it (pkg/kubelet/apis/podresources
// DefaultMaxMsgSize): a List on a node with hundreds of pods and per-CPU
// assignments exceeds gRPC's 4 MiB default.
const DefaultMaxMessageSize = 16 << 20 // bytes

// Options configure a Client.
type Options struct {
	// Socket is the path of the kubelet's unix socket. Default DefaultSocket.
	Socket string
	// Timeout bounds each call to the kubelet, so that a hung kubelet
	// costs a round at most this long. Default 2 s: the kubelet answers
	// from memory, in milliseconds.
	Timeout time.Duration
	// AllocatableRefresh is how often GetAllocatableResources is called
	// again: what a node can allocate changes only when a device plugin
	// re-registers (a MIG reconfiguration, a driver upgrade). Default one
	// minute; negative calls it on every Snapshot.
	AllocatableRefresh time.Duration
	// MaxMessageSize bounds a response, in bytes. Default
	// DefaultMaxMessageSize.
	MaxMessageSize int
	// Keep selects the resource names reported; nil keeps NVIDIA's
	// (NVIDIAResource). CPU and memory assignments are never reported.
	Keep func(resourceName string) bool
	// Logger; nil discards.
	Logger *slog.Logger
	// Clock times AllocatableRefresh; nil is the real clock.
	Clock clock.PassiveClock
}

// NVIDIAResource reports whether a resource name is one of NVIDIA's
// device plugin: "nvidia.com/gpu", "nvidia.com/gpu.shared",
// "nvidia.com/mig-<profile>", or a name renamed in its config, which
// keeps the "nvidia.com/" domain.
func NVIDIAResource(name string) bool { return strings.HasPrefix(name, "nvidia.com/") }

func (o *Options) complete() {
	if o.Socket == "" {
		o.Socket = DefaultSocket
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if o.AllocatableRefresh == 0 {
		o.AllocatableRefresh = time.Minute
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.Keep == nil {
		o.Keep = NVIDIAResource
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
}

// Validate reports every invalid option.
func (o *Options) Validate() error {
	var errs []error
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %v is negative", o.Timeout))
	}
	if o.MaxMessageSize < 0 {
		errs = append(errs, fmt.Errorf("max message size %d is negative", o.MaxMessageSize))
	}
	return errors.Join(errs...)
}

// Client calls the kubelet's pod-resources API over one gRPC connection,
// which is made on first use and remade after the kubelet restarts. It is
// safe for concurrent use.
type Client struct {
	opts   Options
	conn   *grpc.ClientConn
	lister podresourcesv1.PodResourcesListerClient

	mu sync.Mutex // guards the fields below; never held across a call
	// alloc is the last answer of GetAllocatableResources: physical device
	// ID → what the kubelet advertises for it. Nil before the first answer.
	alloc         map[string]advertised
	allocNext     time.Time // when to call GetAllocatableResources again
	unimplemented bool      // the kubelet answered Unimplemented last time
}

type advertised struct {
	resource string
	ids      int // IDs advertised: 1, or the number of replicas of a shared device
}

// New returns a client for the socket in opts. It does not connect: a
// missing socket (the kubelet not up yet) is an error of each call, not of
// New.
func New(opts Options) (*Client, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("pod-resources options: %w", err)
	}
	opts.complete()
	socket := opts.Socket
	// The dialer takes the path as is: a "unix://" target would parse it
	// as a URL.
	conn, err := grpc.NewClient("passthrough:///localhost",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		}),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(opts.MaxMessageSize)),
		// gRPC's default backoff grows to 120 s, which after a kubelet
		// restart would fail rounds for two minutes; the socket is local,
		// so retrying it often is cheap.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: opts.Timeout,
		}))
	if err != nil {
		return nil, fmt.Errorf("pod-resources client for %s: %w", opts.Socket, err)
	}
	return &Client{opts: opts, conn: conn, lister: podresourcesv1.NewPodResourcesListerClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// ContainerRef names a container as the pod-resources API does: by its
// pod's namespace and name (no UID) and the container's name.
type ContainerRef struct {
	Namespace string
	Pod       string
	Container string
}

// String formats the reference as namespace/pod/container.
func (r ContainerRef) String() string { return r.Namespace + "/" + r.Pod + "/" + r.Container }

// Holder is one container's hold on one physical device.
type Holder struct {
	ContainerRef
	// Resource is the extended resource the device was allocated as,
	// e.g. "nvidia.com/gpu" or "nvidia.com/mig-1g.10gb".
	Resource string
	// Replicas is how many of the device's IDs the container holds: 1 for
	// a whole device, possibly more for time-sliced or MPS replicas.
	Replicas int
}

// Snapshot is what the kubelet said in one Client.Snapshot call. Device IDs
// in it are physical: the replica suffix "::<n>" is removed.
type Snapshot struct {
	// Devices maps each device held by a container to its holders, in the
	// kubelet's order. More than one holder means the device is shared.
	Devices map[string][]Holder
	// Containers maps each container that holds a device to the IDs of
	// the devices it holds, sorted.
	Containers map[ContainerRef][]string
	// AllocatableKnown is false when the kubelet did not say what it can
	// allocate: GetAllocatableResources is unimplemented (kubelets before
	// 1.23 without the KubeletPodResourcesGetAllocatable feature gate) or
	// failed before it ever answered. Idle and Replicas are nil then.
	AllocatableKnown bool
	// Idle maps each resource name to the devices advertised under it that
	// no container holds, sorted.
	Idle map[string][]string
	// Replicas maps each allocatable device to the number of IDs the
	// kubelet advertises for it: 1, or its replica count when shared.
	Replicas map[string]int
}

// PhysicalID returns the device that a device ID names: the ID without a
// time-slicing or MPS replica suffix ("GPU-…::3" → "GPU-…"), as NVIDIA's
// device plugin forms it (internal/rm/devices.go NewAnnotatedID,
// "%s::%d"). Other IDs are returned unchanged.
func PhysicalID(id string) (physical string, replica bool) {
	i := strings.LastIndex(id, "::")
	if i <= 0 || i+2 == len(id) {
		return id, false
	}
	for _, r := range id[i+2:] {
		if r < '0' || r > '9' {
			return id, false
		}
	}
	return id[:i], true
}

// Snapshot lists the devices that containers hold and, from the cached
// answer of GetAllocatableResources (refreshed every AllocatableRefresh),
// the idle ones. Each call to the kubelet is bounded by Options.Timeout.
// An error means List failed: the error wraps the gRPC status
// (codes.Unavailable when the socket is missing or the kubelet down,
// codes.DeadlineExceeded when it did not answer in time). A failure of
// GetAllocatableResources is logged, and the last answer is used.
//
// Cost: one List call and O(devices) work; another call per
// AllocatableRefresh.
func (c *Client) Snapshot(ctx context.Context) (*Snapshot, error) {
	lctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	resp, err := c.lister.List(lctx, &podresourcesv1.ListPodResourcesRequest{})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("list pod resources: %w", err)
	}
	s := c.fromList(resp)
	if alloc := c.allocatable(ctx); alloc != nil {
		s.AllocatableKnown = true
		s.Idle = map[string][]string{}
		s.Replicas = make(map[string]int, len(alloc))
		for id, a := range alloc {
			s.Replicas[id] = a.ids
			if _, held := s.Devices[id]; !held {
				s.Idle[a.resource] = append(s.Idle[a.resource], id)
			}
		}
		for _, ids := range s.Idle {
			slices.Sort(ids)
		}
	}
	return s, nil
}

func (c *Client) fromList(resp *podresourcesv1.ListPodResourcesResponse) *Snapshot {
	s := &Snapshot{Devices: map[string][]Holder{}, Containers: map[ContainerRef][]string{}}
	for _, p := range resp.GetPodResources() {
		for _, ctr := range p.GetContainers() {
			ref := ContainerRef{Namespace: p.GetNamespace(), Pod: p.GetName(), Container: ctr.GetName()}
			for _, d := range ctr.GetDevices() {
				res := d.GetResourceName()
				if !c.opts.Keep(res) {
					continue
				}
				for _, raw := range d.GetDeviceIds() {
					id, _ := PhysicalID(raw)
					hs := s.Devices[id]
					// A container holding two replicas of one device
					// (time-slicing hands out replicas of any device)
					// is one holder with Replicas 2.
					if i := slices.IndexFunc(hs, func(h Holder) bool { return h.ContainerRef == ref }); i >= 0 {
						hs[i].Replicas++
						continue
					}
					s.Devices[id] = append(hs, Holder{ContainerRef: ref, Resource: res, Replicas: 1})
					s.Containers[ref] = append(s.Containers[ref], id)
				}
			}
		}
	}
	for _, ids := range s.Containers {
		slices.Sort(ids)
	}
	return s
}

// allocatable returns the cached allocatable devices, calling the kubelet
// again once AllocatableRefresh has passed. It returns nil when the
// kubelet never answered.
func (c *Client) allocatable(ctx context.Context) map[string]advertised {
	now := c.opts.Clock.Now()
	c.mu.Lock()
	alloc, due := c.alloc, !now.Before(c.allocNext)
	if due {
		// One caller refreshes; concurrent ones use the cache meanwhile.
		c.allocNext = now.Add(max(c.opts.AllocatableRefresh, 0))
	}
	c.mu.Unlock()
	if !due {
		return alloc
	}

	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	resp, err := c.lister.GetAllocatableResources(actx, &podresourcesv1.AllocatableResourcesRequest{})
	cancel()

	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case status.Code(err) == codes.Unimplemented:
		if !c.unimplemented {
			c.opts.Logger.Info("kubelet does not implement GetAllocatableResources: idle devices unknown",
				"socket", c.opts.Socket)
		}
		c.unimplemented, c.alloc = true, nil
	case err != nil:
		c.opts.Logger.Warn("pod-resources GetAllocatableResources failed", "socket", c.opts.Socket, "err", err)
	default:
		c.unimplemented = false
		c.alloc = c.fromAllocatable(resp)
	}
	return c.alloc
}

func (c *Client) fromAllocatable(resp *podresourcesv1.AllocatableResourcesResponse) map[string]advertised {
	out := map[string]advertised{}
	for _, d := range resp.GetDevices() {
		res := d.GetResourceName()
		if !c.opts.Keep(res) {
			continue
		}
		for _, raw := range d.GetDeviceIds() {
			id, _ := PhysicalID(raw)
			a := out[id]
			a.ids++
			// A device advertised under two names (never seen from NVIDIA's
			// plugin) keeps the first in name order, so the answer is
			// deterministic.
			if a.resource == "" || cmp.Less(res, a.resource) {
				a.resource = res
			}
			out[id] = a
		}
	}
	return out
}
