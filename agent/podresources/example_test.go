package podresources_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/rightsizer/rightsizer/agent/podresources"
)

func ExamplePhysicalID() {
	for _, id := range []string{"GPU-8c4a1f0e-9f3b-4c7e-b1e2-0d9a4f6c2b11::3", "MIG-5e1f7a2b-0c3d-5e6f-8a9b-1c2d3e4f5a6b"} {
		fmt.Println(podresources.PhysicalID(id))
	}
	// Output:
	// GPU-8c4a1f0e-9f3b-4c7e-b1e2-0d9a4f6c2b11 true
	// MIG-5e1f7a2b-0c3d-5e6f-8a9b-1c2d3e4f5a6b false
}

// The agent takes a snapshot each round and attributes each GPU to the
// containers that hold it.
func ExampleClient_Snapshot() {
	c, err := podresources.New(podresources.Options{Timeout: 2 * time.Second, Logger: slog.Default()})
	if err != nil {
		panic(err)
	}
	defer func() { _ = c.Close() }() // nothing to do about a failed close at exit
	s, err := c.Snapshot(context.Background())
	if err != nil {
		slog.Warn("pod-resources unavailable, GPUs unattributed this round", "err", err)
		return
	}
	for id, holders := range s.Devices {
		for _, h := range holders {
			// A device with n holders is time-sliced or MPS-shared.
			fmt.Println(id, h.ContainerRef, h.Resource, "shared by", len(holders))
		}
	}
	for resource, ids := range s.Idle {
		fmt.Println("idle", resource, ids)
	}
}
