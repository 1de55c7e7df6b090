// Package app is rightsizer-agent's wiring: flags, then the cgroup reader,
// GPU collector, pod resolver, pod-resources client and stream, run
// together until the context ends.
package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rightsizer/rightsizer/agent"
	"github.com/rightsizer/rightsizer/agent/cgroup"
	"github.com/rightsizer/rightsizer/agent/podresources"
	"github.com/rightsizer/rightsizer/agent/pods"
	"github.com/rightsizer/rightsizer/agent/stream"
	"github.com/rightsizer/rightsizer/gpu"
)

// config is the agent's flags.
type config struct {
	server, tokenFile, caFile, serverName string
	insecure                              bool
	interval                              time.Duration
	maxQueued                             int
	node, cluster, kubeconfig             string
	cgroupRoot, podResources, nvmlLibrary string
	noGPU                                 bool
	metricsAddr, addrFile                 string
	logLevel                              string
}

func (c *config) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.server, "server", "", "rightsizer's gRPC address (host:port); required")
	fs.StringVar(&c.tokenFile, "token-file", "", "bearer token file, read per stream (a projected ServiceAccount token rotates)")
	fs.StringVar(&c.caFile, "tls-ca-file", "", "verify the server's certificate against these CAs (PEM); without it and --insecure, the system's")
	fs.StringVar(&c.serverName, "tls-server-name", "", "the name the server's certificate must carry (default: --server's host)")
	fs.BoolVar(&c.insecure, "insecure", false, "connect without TLS (loopback, or inside a mesh that encrypts)")
	fs.DurationVar(&c.interval, "interval", 10*time.Second, "time between rounds (at least 1s)")
	fs.IntVar(&c.maxQueued, "max-queued-batches", stream.DefaultOptions().MaxBatches, "rounds kept while the server is unreachable; older are dropped")
	fs.StringVar(&c.node, "node-name", os.Getenv("NODE_NAME"), "this node's name (default $NODE_NAME, from the downward API)")
	fs.StringVar(&c.cluster, "cluster-name", "", "the cluster's name in workload keys (as the server's --cluster-name)")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig for the pod watch; default the in-cluster config")
	fs.StringVar(&c.cgroupRoot, "cgroup-root", cgroup.DefaultRoot, "the cgroup v2 mount, or the kubelet's tree under it")
	fs.StringVar(&c.podResources, "pod-resources-socket", podresources.DefaultSocket, "the kubelet's pod-resources socket (empty: off)")
	fs.StringVar(&c.nvmlLibrary, "nvml-library", "", "path of libnvidia-ml.so (default: the loader's search)")
	fs.BoolVar(&c.noGPU, "no-gpu", false, "do not look for GPUs")
	fs.StringVar(&c.metricsAddr, "metrics-addr", ":9102", "serve /metrics and /healthz here")
	fs.StringVar(&c.addrFile, "addr-file", "", "once serving, write the metrics address here (tests start on port 0)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
}

func (c *config) validate() error {
	var errs []error
	if c.server == "" {
		errs = append(errs, errors.New("--server is required"))
	}
	if c.node == "" {
		errs = append(errs, errors.New("--node-name (or $NODE_NAME) is required"))
	}
	if c.interval < time.Second {
		errs = append(errs, fmt.Errorf("--interval %v: want at least 1s", c.interval))
	}
	if c.insecure && (c.caFile != "" || c.serverName != "") {
		errs = append(errs, errors.New("--insecure contradicts --tls-ca-file and --tls-server-name"))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level: %w", err))
	}
	return errors.Join(errs...)
}

// Run parses args and runs the agent until ctx ends.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config
	fs := pflag.NewFlagSet("rightsizer-agent", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.logLevel))
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	return run(ctx, &c, log)
}

func run(ctx context.Context, c *config, log *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	restCfg, err := restConfig(c.kubeconfig)
	if err != nil {
		return err
	}
	kc, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	resolver, err := pods.New(kc, pods.Options{NodeName: c.node, Cluster: c.cluster, Logger: log})
	if err != nil {
		return err
	}
	co := cgroup.DefaultOptions()
	co.Root, co.Logger, co.Registerer = c.cgroupRoot, log, reg
	cg, err := cgroup.New(co)
	if err != nil {
		return err
	}
	defer func() { _ = cg.Close() }()

	cfg := agent.Config{Cgroups: cg, Resolver: resolver, Interval: c.interval, Logger: log, Registerer: reg}
	if !c.noGPU {
		col, err := gpu.New(gpu.Options{Logger: log, LibraryPath: c.nvmlLibrary, ContainerOfPID: func(pid int) (string, string, bool) {
			return cgroup.ContainerOfPID("/proc", pid)
		}})
		switch {
		case errors.Is(err, gpu.ErrNoGPU):
			log.Info("no GPU or no NVIDIA driver: collecting CPU and memory only", "reason", err.Error())
		case err != nil:
			return err
		default:
			cfg.GPU = col
			defer func() { _ = col.Close() }()
		}
	}
	if c.podResources != "" && cfg.GPU != nil {
		pr, err := podresources.New(podresources.Options{Socket: c.podResources, Logger: log})
		if err != nil {
			return err
		}
		defer func() { _ = pr.Close() }()
		cfg.Devices = pr
	}
	so := stream.DefaultOptions()
	so.Target, so.TokenFile, so.MaxBatches, so.Logger, so.Registerer = c.server, c.tokenFile, c.maxQueued, log, reg
	if !c.insecure {
		if so.TLS, err = tlsConfig(c.caFile, c.serverName); err != nil {
			return err
		}
	}
	sender, err := stream.New(so)
	if err != nil {
		return err
	}
	cfg.Sender = sender
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}

	l, err := net.Listen("tcp", c.metricsAddr)
	if err != nil {
		return fmt.Errorf("--metrics-addr: %w", err)
	}
	if c.addrFile != "" {
		if err := os.WriteFile(c.addrFile, []byte(l.Addr().String()+"\n"), 0o600); err != nil {
			_ = l.Close()
			return fmt.Errorf("--addr-file: %w", err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return resolver.Run(gctx) })
	g.Go(func() error { return sender.Run(gctx) })
	g.Go(func() error {
		// Rounds start once the pod cache is synced: before that every
		// reading would be unresolved.
		select {
		case <-resolver.Ready():
		case <-gctx.Done():
			return nil
		}
		log.Info("agent running", "node", c.node, "server", c.server, "interval", c.interval.String(), "gpu", cfg.GPU != nil)
		return a.Run(gctx)
	})
	g.Go(func() error {
		if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("metrics server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		return hs.Close()
	})
	return g.Wait()
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig: %w", err)
		}
		return cfg, nil
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("in-cluster config (or give --kubeconfig): %w", err)
	}
	return cfg, nil
}

func tlsConfig(caFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca-file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca-file %s: no PEM certificates", caFile)
		}
	}
	return cfg, nil
}
