// Command bench-api drives a rightsizer API server over loopback with the
// load generator of package apiload and writes bench/out/api.json (see
// apiload.Result). It starts `-bin serve` on ports of the kernel's choosing
// unless -grpc names a server that is already running.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/rightsizer/rightsizer/bench/apiload"
)

func main() {
	cfg := apiload.DefaultConfig()
	out := flag.String("out", "bench/out/api.json", "where to write the result")
	bin := flag.String("bin", "bin/rightsizer", "rightsizer binary to start with `serve` (unless -grpc is set)")
	addr := flag.String("grpc", "", "gRPC address of a running server to drive instead of starting one")
	startTimeout := flag.Duration("start-timeout", 30*time.Second, "wait for a started server to write its addresses")
	cpuProfile := flag.String("cpuprofile", "", "write the load generator's CPU profile to this file")
	cfg.AddFlags(flag.CommandLine)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := profiled(*cpuProfile, func() error { return run(ctx, cfg, *bin, *addr, *out, *startTimeout) })
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-api:", err)
		os.Exit(1)
	}
}

// profiled runs fn, with the CPU profiled into path unless it is empty.
func profiled(path string, fn func() error) (err error) {
	if path == "" {
		return fn()
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	return fn()
}

func run(ctx context.Context, cfg apiload.Config, bin, addr, out string, startTimeout time.Duration) (err error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	target := apiload.Target{Addr: addr}
	if addr == "" {
		srv, err := apiload.StartServer(ctx, bin, startTimeout)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, srv.Stop(15*time.Second)) }()
		target = apiload.Target{Addr: srv.Addrs.GRPC, PID: srv.PID()}
		log.Info("server started", "grpc", srv.Addrs.GRPC, "pid", srv.PID())
	}
	res, err := apiload.Run(ctx, cfg, target, log)
	if err != nil {
		return err
	}
	if err := res.WriteJSON(out); err != nil {
		return err
	}
	if err := res.WriteTable(os.Stdout); err != nil {
		return err
	}
	fmt.Println("wrote", out)
	return nil
}
