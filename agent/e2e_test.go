//go:build cgo

package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rightsizer/rightsizer/agent"
	"github.com/rightsizer/rightsizer/agent/cgroup"
	"github.com/rightsizer/rightsizer/agent/cgroup/cgroupfake"
	"github.com/rightsizer/rightsizer/agent/stream"
	"github.com/rightsizer/rightsizer/api"
	"github.com/rightsizer/rightsizer/api/apitest"
	"github.com/rightsizer/rightsizer/gpu"
	"github.com/rightsizer/rightsizer/gpu/gpufake"
	"github.com/rightsizer/rightsizer/recommender"
)

// TestEndToEnd: the agent reads a node (a cgroup tree in the kernel's
// formats and go-nvml's DGX H100 mock), streams to a real rightsizer API
// server over loopback, and a recommendation appears for the container,
// GPU memory and GPU compute included.
func TestEndToEnd(t *testing.T) {
	root := t.TempDir()
	tree, err := cgroupfake.New(root, cgroupfake.Config{Pods: 3, ContainersPerPod: 1, Seed: 7})
	require.NoError(t, err)
	var app []*cgroupfake.Container
	for _, c := range tree.Containers {
		if !c.Sandbox {
			app = append(app, c)
		}
	}
	require.Len(t, app, 3)
	keys := map[[2]string]recommender.ContainerKey{}
	for i, c := range app {
		keys[[2]string{c.PodUID, c.ID}] = recommender.ContainerKey{
			WorkloadKey: recommender.WorkloadKey{Namespace: "ml", Kind: "Deployment", Name: []string{"infer", "web", "batch"}[i]},
			Container:   "main",
		}
	}
	infer := keys[[2]string{app[0].PodUID, app[0].ID}]

	clk := clocktesting.NewFakePassiveClock(time.Now().Add(-time.Hour).Truncate(time.Second))
	cg, err := cgroup.New(cgroup.Options{Root: root, RescanInterval: cgroup.DefaultRescanInterval, Clock: clk})
	require.NoError(t, err)
	defer func() { require.NoError(t, cg.Close()) }()

	// The inference container runs one process on GPU 0: 20 GiB, half the SMs.
	nv := gpufake.Wrap(dgxh100.New())
	g := nv.GPUs[0]
	g.Processes = []nvml.ProcessInfo{{Pid: 4242, UsedGpuMemory: 20 << 30}}
	col, err := gpu.NewFromNVML(nv, gpu.Options{ContainerOfPID: func(pid int) (string, string, bool) {
		if pid == 4242 {
			return app[0].PodUID, app[0].ID, true
		}
		return "", "", false
	}})
	require.NoError(t, err)
	defer func() { require.NoError(t, col.Close()) }()

	engine, err := recommender.NewEngine(recommender.DefaultOptions())
	require.NoError(t, err)
	o := api.DefaultOptions()
	o.Engine, o.ShutdownTimeout = engine, 0
	addr, stopServer := apitest.Start(t, o)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	so := stream.DefaultOptions()
	so.Target = addr
	sender, err := stream.New(so)
	require.NoError(t, err)
	streamed := make(chan error, 1)
	go func() { streamed <- sender.Run(ctx) }()

	a, err := agent.New(agent.Config{Cgroups: cg, GPU: col, Resolver: resolver(keys), Sender: sender, Interval: 10 * time.Second})
	require.NoError(t, err)
	const rounds = 12
	for i := range rounds {
		g.Samples = append(g.Samples, nvml.ProcessUtilizationSample{Pid: 4242, TimeStamp: uint64(i + 1), SmUtil: 50})
		b := a.Round(ctx, clk.Now())
		if i > 0 {
			require.Len(t, b.Samples, 3, "round %d: one sample per app container (sandboxes skipped)", i)
		}
		sender.Send(b)
		require.NoError(t, tree.Advance(10*time.Second))
		clk.SetTime(clk.Now().Add(10 * time.Second))
	}

	var rec recommender.Recommendation
	require.Eventually(t, func() bool {
		rec, err = engine.Recommend(infer)
		return err == nil && rec.Samples >= rounds-1 && rec.GPUMemory != nil && rec.GPUCompute != nil
	}, 20*time.Second, 5*time.Millisecond)
	t.Logf("gpu compute %+v\ngpu memory %+v\nreason %s", *rec.GPUCompute, *rec.GPUMemory, rec.Reason)
	require.InDelta(t, 0.5, float64(rec.GPUCompute.Request), 0.15, "GPU compute near the half GPU used")
	require.InDelta(t, float64(20*recommender.GiB), float64(rec.GPUMemory.Request), float64(4*recommender.GiB), "GPU memory near the 20 GiB used")
	require.Positive(t, rec.CPU.Request)
	require.Positive(t, rec.Memory.Request)
	web, err := engine.Recommend(keys[[2]string{app[1].PodUID, app[1].ID}])
	require.NoError(t, err)
	require.Nil(t, web.GPUMemory, "no GPU for the container that has none")

	cancel()
	require.NoError(t, <-streamed)
	stopServer()
}

// resolver names the fake tree's containers.
type resolver map[[2]string]recommender.ContainerKey

func (r resolver) Resolve(podUID, containerID string) (recommender.ContainerKey, bool) {
	k, ok := r[[2]string{podUID, containerID}]
	return k, ok
}

func (r resolver) ResolvePod(string, string, string) (recommender.ContainerKey, bool) {
	return recommender.ContainerKey{}, false
}
