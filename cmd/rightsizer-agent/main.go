// Command rightsizer-agent is the node agent, run as a DaemonSet: it reads
// every container's cgroup and the node's GPUs and streams usage to
// rightsizer's IngestUsage. It is the only rightsizer binary that links
// cgo (NVML); without a GPU or a driver it runs CPU-only.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rightsizer/rightsizer/cmd/rightsizer-agent/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rightsizer-agent:", err)
		os.Exit(1)
	}
}
