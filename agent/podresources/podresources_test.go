package podresources

import (
	"context"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeKubelet serves the real pod-resources proto. A nil alloc answers
// GetAllocatableResources with Unimplemented, as the embedded server does.
type fakeKubelet struct {
	podresourcesv1.UnimplementedPodResourcesListerServer
	list       *podresourcesv1.ListPodResourcesResponse
	alloc      *podresourcesv1.AllocatableResourcesResponse
	hang       bool // List blocks until the caller gives up
	allocCalls atomic.Int32
}

func (f *fakeKubelet) List(ctx context.Context, _ *podresourcesv1.ListPodResourcesRequest) (*podresourcesv1.ListPodResourcesResponse, error) {
	if f.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return f.list, nil
}

func (f *fakeKubelet) GetAllocatableResources(ctx context.Context, req *podresourcesv1.AllocatableResourcesRequest) (*podresourcesv1.AllocatableResourcesResponse, error) {
	f.allocCalls.Add(1)
	if f.alloc == nil {
		return f.UnimplementedPodResourcesListerServer.GetAllocatableResources(ctx, req)
	}
	return f.alloc, nil
}

// serve starts f on a unix socket in a temporary directory and returns the
// socket's path. The server stops when the test ends.
func serve(t *testing.T, f *fakeKubelet) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "kubelet.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := grpc.NewServer()
	podresourcesv1.RegisterPodResourcesListerServer(srv, f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Stop() // not GracefulStop: a hanging handler would block it
		<-done
	})
	return sock
}

func newClient(t *testing.T, opts Options) *Client {
	t.Helper()
	c, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

func pod(ns, name string, ctrs ...*podresourcesv1.ContainerResources) *podresourcesv1.PodResources {
	return &podresourcesv1.PodResources{Namespace: ns, Name: name, Containers: ctrs}
}

func ctr(name string, devs ...*podresourcesv1.ContainerDevices) *podresourcesv1.ContainerResources {
	return &podresourcesv1.ContainerResources{Name: name, Devices: devs, CpuIds: []int64{2, 3}}
}

func devs(resource string, ids ...string) *podresourcesv1.ContainerDevices {
	return &podresourcesv1.ContainerDevices{ResourceName: resource, DeviceIds: ids}
}

func replicas(id string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = id + "::" + string(rune('0'+i))
	}
	return out
}

func ref(ns, pod, c string) ContainerRef { return ContainerRef{Namespace: ns, Pod: pod, Container: c} }

func TestSnapshot(t *testing.T) {
	t.Parallel()
	const (
		gpu    = "nvidia.com/gpu"
		shared = "nvidia.com/gpu.shared"
		mig1g  = "nvidia.com/mig-1g.10gb"
		mig3g  = "nvidia.com/mig-3g.40gb"
	)
	train, infer, side := ref("ml", "train-0", "trainer"), ref("ml", "infer-7d9f-x2", "server"), ref("ml", "infer-7d9f-x2", "sidecar")
	for _, tc := range []struct {
		name  string
		list  []*podresourcesv1.PodResources
		alloc []*podresourcesv1.ContainerDevices // nil: Unimplemented
		want  Snapshot
	}{
		{
			name: "whole GPUs",
			list: []*podresourcesv1.PodResources{
				pod("ml", "train-0", ctr("trainer", devs(gpu, "GPU-b", "GPU-a"))),
				pod("ml", "infer-7d9f-x2", ctr("server", devs(gpu, "GPU-c")), ctr("sidecar")),
			},
			alloc: []*podresourcesv1.ContainerDevices{devs(gpu, "GPU-a", "GPU-b", "GPU-c", "GPU-d", "GPU-e")},
			want: Snapshot{
				Devices: map[string][]Holder{
					"GPU-a": {{ContainerRef: train, Resource: gpu, Replicas: 1}},
					"GPU-b": {{ContainerRef: train, Resource: gpu, Replicas: 1}},
					"GPU-c": {{ContainerRef: infer, Resource: gpu, Replicas: 1}},
				},
				Containers:       map[ContainerRef][]string{train: {"GPU-a", "GPU-b"}, infer: {"GPU-c"}},
				AllocatableKnown: true,
				Idle:             map[string][]string{gpu: {"GPU-d", "GPU-e"}},
				Replicas:         map[string]int{"GPU-a": 1, "GPU-b": 1, "GPU-c": 1, "GPU-d": 1, "GPU-e": 1},
			},
		},
		{
			name: "MIG devices, mixed strategy",
			list: []*podresourcesv1.PodResources{
				pod("ml", "train-0", ctr("trainer", devs(mig3g, "MIG-3"))),
				pod("ml", "infer-7d9f-x2", ctr("server", devs(mig1g, "MIG-1"))),
			},
			alloc: []*podresourcesv1.ContainerDevices{devs(mig1g, "MIG-1", "MIG-2"), devs(mig3g, "MIG-3", "MIG-4")},
			want: Snapshot{
				Devices: map[string][]Holder{
					"MIG-3": {{ContainerRef: train, Resource: mig3g, Replicas: 1}},
					"MIG-1": {{ContainerRef: infer, Resource: mig1g, Replicas: 1}},
				},
				Containers:       map[ContainerRef][]string{train: {"MIG-3"}, infer: {"MIG-1"}},
				AllocatableKnown: true,
				Idle:             map[string][]string{mig1g: {"MIG-2"}, mig3g: {"MIG-4"}},
				Replicas:         map[string]int{"MIG-1": 1, "MIG-2": 1, "MIG-3": 1, "MIG-4": 1},
			},
		},
		{
			name: "time-sliced replicas",
			list: []*podresourcesv1.PodResources{
				pod("ml", "train-0", ctr("trainer", devs(shared, "GPU-a::0"))),
				// Two replicas of one GPU to one container, and one of a
				// shared MIG device.
				pod("ml", "infer-7d9f-x2",
					ctr("server", devs(shared, "GPU-a::3", "GPU-a::5")),
					ctr("sidecar", devs(shared, "MIG-9::1"))),
			},
			alloc: []*podresourcesv1.ContainerDevices{
				devs(shared, replicas("GPU-a", 4)...), devs(shared, replicas("GPU-a", 8)[4:]...),
				devs(shared, replicas("GPU-b", 8)...), devs(shared, replicas("MIG-9", 2)...),
			},
			want: Snapshot{
				Devices: map[string][]Holder{
					"GPU-a": {{ContainerRef: train, Resource: shared, Replicas: 1}, {ContainerRef: infer, Resource: shared, Replicas: 2}},
					"MIG-9": {{ContainerRef: side, Resource: shared, Replicas: 1}},
				},
				Containers:       map[ContainerRef][]string{train: {"GPU-a"}, infer: {"GPU-a"}, side: {"MIG-9"}},
				AllocatableKnown: true,
				Idle:             map[string][]string{shared: {"GPU-b"}},
				Replicas:         map[string]int{"GPU-a": 8, "GPU-b": 8, "MIG-9": 2},
			},
		},
		{
			name: "other vendors' devices ignored, nothing idle",
			list: []*podresourcesv1.PodResources{
				pod("ml", "train-0", ctr("trainer", devs(gpu, "GPU-a"), devs("intel.com/sriov_netdevice", "0000:3b:02.1"))),
				pod("kube-system", "coredns-1", ctr("coredns")),
			},
			alloc: []*podresourcesv1.ContainerDevices{devs(gpu, "GPU-a"), devs("intel.com/sriov_netdevice", "0000:3b:02.1", "0000:3b:02.2")},
			want: Snapshot{
				Devices:          map[string][]Holder{"GPU-a": {{ContainerRef: train, Resource: gpu, Replicas: 1}}},
				Containers:       map[ContainerRef][]string{train: {"GPU-a"}},
				AllocatableKnown: true,
				Idle:             map[string][]string{},
				Replicas:         map[string]int{"GPU-a": 1},
			},
		},
		{
			name: "GetAllocatableResources unimplemented",
			list: []*podresourcesv1.PodResources{pod("ml", "train-0", ctr("trainer", devs(gpu, "GPU-a")))},
			want: Snapshot{
				Devices:    map[string][]Holder{"GPU-a": {{ContainerRef: train, Resource: gpu, Replicas: 1}}},
				Containers: map[ContainerRef][]string{train: {"GPU-a"}},
			},
		},
		{
			name: "no pods",
			want: Snapshot{Devices: map[string][]Holder{}, Containers: map[ContainerRef][]string{}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeKubelet{list: &podresourcesv1.ListPodResourcesResponse{PodResources: tc.list}}
			if tc.alloc != nil {
				f.alloc = &podresourcesv1.AllocatableResourcesResponse{Devices: tc.alloc, CpuIds: []int64{0, 1, 2, 3}}
			}
			c := newClient(t, Options{Socket: serve(t, f), Timeout: 10 * time.Second})
			got, err := c.Snapshot(t.Context())
			require.NoError(t, err)
			require.Equal(t, tc.want, *got)
			// Calls within AllocatableRefresh reuse the first answer, an
			// Unimplemented one included.
			again, err := c.Snapshot(t.Context())
			require.NoError(t, err)
			require.Equal(t, tc.want, *again)
			require.EqualValues(t, 1, f.allocCalls.Load())
		})
	}
}

func TestSnapshotFails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		socket func(t *testing.T) string
		code   codes.Code
	}{
		{
			name: "kubelet hangs",
			socket: func(t *testing.T) string {
				return serve(t, &fakeKubelet{hang: true})
			},
			code: codes.DeadlineExceeded,
		},
		{
			name:   "socket missing",
			socket: func(t *testing.T) string { return filepath.Join(t.TempDir(), "kubelet.sock") },
			code:   codes.Unavailable,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const timeout = 300 * time.Millisecond
			c := newClient(t, Options{Socket: tc.socket(t), Timeout: timeout})
			start := time.Now()
			s, err := c.Snapshot(t.Context())
			require.Nil(t, s)
			require.Error(t, err)
			require.Equal(t, tc.code, status.Code(err), "%v", err)
			// Bounded by the timeout, with slack for a loaded machine.
			require.Less(t, time.Since(start), timeout+5*time.Second)
		})
	}
}

func TestAllocatableRefresh(t *testing.T) {
	t.Parallel()
	f := &fakeKubelet{
		list:  &podresourcesv1.ListPodResourcesResponse{},
		alloc: &podresourcesv1.AllocatableResourcesResponse{Devices: []*podresourcesv1.ContainerDevices{devs("nvidia.com/gpu", "GPU-a")}},
	}
	clk := clocktesting.NewFakePassiveClock(time.Unix(1e9, 0))
	c := newClient(t, Options{Socket: serve(t, f), AllocatableRefresh: time.Minute, Clock: clk})
	snap := func() *Snapshot {
		t.Helper()
		s, err := c.Snapshot(t.Context())
		require.NoError(t, err)
		return s
	}
	require.Equal(t, map[string][]string{"nvidia.com/gpu": {"GPU-a"}}, snap().Idle)
	clk.SetTime(clk.Now().Add(59 * time.Second))
	snap()
	require.EqualValues(t, 1, f.allocCalls.Load())

	clk.SetTime(clk.Now().Add(time.Second))
	// The kubelet now says it cannot: the devices are no longer known.
	f.alloc = nil
	require.False(t, snap().AllocatableKnown)
	require.EqualValues(t, 2, f.allocCalls.Load())
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	o := Options{Timeout: -1, MaxMessageSize: -1}
	err := o.Validate()
	require.ErrorContains(t, err, "timeout")
	require.ErrorContains(t, err, "max message size")
	_, err = New(o)
	require.Error(t, err)
	require.NoError(t, (&Options{}).Validate())
}

func TestPhysicalID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		replica  bool
	}{
		{"GPU-8c4a1f0e-9f3b-4c7e-b1e2-0d9a4f6c2b11", "GPU-8c4a1f0e-9f3b-4c7e-b1e2-0d9a4f6c2b11", false},
		{"GPU-8c4a1f0e-9f3b-4c7e-b1e2-0d9a4f6c2b11::3", "GPU-8c4a1f0e-9f3b-4c7e-b1e2-0d9a4f6c2b11", true},
		{"MIG-5e1f7a2b-0c3d-5e6f-8a9b-1c2d3e4f5a6b::12", "MIG-5e1f7a2b-0c3d-5e6f-8a9b-1c2d3e4f5a6b", true},
		{"MIG-GPU-8c4a1f0e-9f3b-4c7e-b1e2-0d9a4f6c2b11/1/0", "MIG-GPU-8c4a1f0e-9f3b-4c7e-b1e2-0d9a4f6c2b11/1/0", false},
		{"nvidia0/gi1/vgpu2", "nvidia0/gi1/vgpu2", false},
		{"GPU-a::", "GPU-a::", false},
		{"GPU-a::x", "GPU-a::x", false},
		{"::3", "::3", false},
	} {
		got, replica := PhysicalID(tc.in)
		require.Equal(t, tc.want, got, tc.in)
		require.Equal(t, tc.replica, replica, tc.in)
	}
}

// The client survives a kubelet restart: the socket is recreated at the
// same path and the next call reaches the new server.
func TestKubeletRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "kubelet.sock")
	start := func() (stop func()) {
		l, err := net.Listen("unix", sock)
		require.NoError(t, err)
		srv := grpc.NewServer()
		podresourcesv1.RegisterPodResourcesListerServer(srv, &fakeKubelet{list: &podresourcesv1.ListPodResourcesResponse{}})
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = srv.Serve(l)
		}()
		return func() { srv.Stop(); <-done }
	}
	stop := start()
	c := newClient(t, Options{Socket: sock})
	_, err := c.Snapshot(t.Context())
	require.NoError(t, err)
	stop()

	stop = start()
	defer stop()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err = c.Snapshot(t.Context())
		if err == nil || time.Now().After(deadline) {
			break
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal("test context ended")
		}
	}
	require.NoError(t, err)
}
