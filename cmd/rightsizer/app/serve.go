package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sync/errgroup"

	"github.com/rightsizer/rightsizer/api"
	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/checkpoint"
	"github.com/rightsizer/rightsizer/recommender/simulate"
)

// serveConfig is the configuration of `rightsizer serve`: the YAML file
// (--config, strict: an unknown key is an error) and the flags, which
// override it.
type serveConfig struct {
	GRPCAddr           string `yaml:"grpcAddr"`
	HTTPAddr           string `yaml:"httpAddr"`
	DataDir            string `yaml:"dataDir"`
	CheckpointInterval string `yaml:"checkpointInterval"`
	Policy             string `yaml:"policy"`
	Profile            string `yaml:"profile"`
	TokensFile         string `yaml:"tokensFile"`
	NoAuth             bool   `yaml:"noAuth"`
	TLS                struct {
		CertFile          string `yaml:"certFile"`
		KeyFile           string `yaml:"keyFile"`
		ClientCAFile      string `yaml:"clientCAFile"`
		RequireClientCert bool   `yaml:"requireClientCert"`
	} `yaml:"tls"`
	Ingest struct {
		RatePerClient   float64 `yaml:"ratePerClient"`
		Burst           int     `yaml:"burst"`
		MaxWait         string  `yaml:"maxWait"`
		MaxMessageBytes int     `yaml:"maxMessageBytes"`
	} `yaml:"ingest"`
	Watch struct {
		Threshold float64 `yaml:"threshold"`
		Retention string  `yaml:"retention"`
		MaxEvents int     `yaml:"maxEvents"`
		// NotifyInterval is how often the engine looks for moved
		// recommendations: the bulk of a watch event's lag, and a pass over
		// every container that changed.
		NotifyInterval string `yaml:"notifyInterval"`
	} `yaml:"watch"`
	SnapshotInterval string           `yaml:"snapshotInterval"`
	Kube             kubeConfig       `yaml:"kubernetes"`
	Prometheus       prometheusConfig `yaml:"prometheus"`
	Demo             struct {
		Enabled bool    `yaml:"enabled"`
		Speed   float64 `yaml:"speed"`
		Seed    uint64  `yaml:"seed"`
	} `yaml:"demo"`

	configFile string // flag only
	addrFile   string // flag only
	debugAddr  string // flag only
}

func defaultServeConfig() serveConfig {
	d := api.DefaultOptions()
	var c serveConfig
	c.GRPCAddr, c.HTTPAddr = "127.0.0.1:8081", "127.0.0.1:8080"
	c.CheckpointInterval = "1m"
	c.Ingest.Burst, c.Ingest.MaxWait, c.Ingest.MaxMessageBytes = d.IngestBurst, d.IngestMaxWait.String(), d.MaxRecvBytes
	c.Watch.Threshold, c.Watch.Retention, c.Watch.MaxEvents = d.WatchThreshold, d.WatchRetention.String(), d.WatchMaxEvents
	c.Watch.NotifyInterval = recommender.DefaultOptions().NotifyInterval.String()
	c.SnapshotInterval = d.SnapshotInterval.String()
	c.Demo.Speed, c.Demo.Seed = 600, 1
	c.Kube, c.Prometheus = defaultKubeConfig(), defaultPrometheusConfig()
	return c
}

func (c *serveConfig) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.configFile, "config", "", "a YAML config file (strict: unknown keys are errors); flags override it")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", c.GRPCAddr, "gRPC listen address (port 0 picks a free port)")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "REST, /openapi.yaml, /metrics, /healthz and /readyz listen address")
	fs.StringVar(&c.addrFile, "addr-file", "", "once serving, write the bound addresses to this file as JSON {\"grpc\":…,\"http\":…}")
	fs.StringVar(&c.debugAddr, "debug-addr", "", "serve Go's /debug/pprof profiles on this address (off when empty; keep it on loopback)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "keep state in DIR/rightsizer.db (bbolt): restored at start, checkpointed periodically and at shutdown; empty keeps it in memory")
	fs.StringVar(&c.CheckpointInterval, "checkpoint-interval", c.CheckpointInterval, "how often to checkpoint to --data-dir")
	fs.StringVar(&c.Policy, "policy", c.Policy, "a policy file (strict YAML: profiles, namespace and workload overrides)")
	fs.StringVar(&c.Profile, "profile", c.Profile, "the default profile: cost, balanced, performance, or one the policy defines")
	fs.StringVar(&c.TokensFile, "tokens-file", c.TokensFile, "bearer tokens and mTLS client names with their roles (read, ingest, admin)")
	fs.BoolVar(&c.NoAuth, "no-auth", c.NoAuth, "serve without authentication on a non-loopback address (without --tokens-file, loopback addresses are served without it anyway)")
	fs.StringVar(&c.TLS.CertFile, "tls-cert-file", c.TLS.CertFile, "serve TLS with this certificate (PEM); reloaded when it changes")
	fs.StringVar(&c.TLS.KeyFile, "tls-key-file", c.TLS.KeyFile, "the certificate's private key (PEM)")
	fs.StringVar(&c.TLS.ClientCAFile, "tls-client-ca-file", c.TLS.ClientCAFile, "verify client certificates against these CAs (mTLS); clients may still use tokens")
	fs.BoolVar(&c.TLS.RequireClientCert, "tls-require-client-cert", c.TLS.RequireClientCert, "refuse clients without a verified certificate")
	fs.Float64Var(&c.Ingest.RatePerClient, "ingest-rate", c.Ingest.RatePerClient, "samples per second each ingest client may send (0: unlimited)")
	fs.IntVar(&c.Ingest.Burst, "ingest-burst", c.Ingest.Burst, "samples an ingest client may send at once")
	fs.StringVar(&c.Ingest.MaxWait, "ingest-max-wait", c.Ingest.MaxWait, "longest a rate-limited batch waits before it is rejected")
	fs.IntVar(&c.Ingest.MaxMessageBytes, "max-message-bytes", c.Ingest.MaxMessageBytes, "largest gRPC message accepted")
	fs.Float64Var(&c.Watch.Threshold, "watch-threshold", c.Watch.Threshold, "relative move of a request or limit that makes a watch event")
	fs.StringVar(&c.Watch.Retention, "watch-retention", c.Watch.Retention, "how long watch events are kept for clients that reconnect")
	fs.IntVar(&c.Watch.MaxEvents, "watch-max-events", c.Watch.MaxEvents, "most watch events kept")
	fs.StringVar(&c.Watch.NotifyInterval, "notify-interval", c.Watch.NotifyInterval, "how often moved recommendations are looked for (at most 1s): most of a watch event's lag")
	fs.StringVar(&c.SnapshotInterval, "snapshot-interval", c.SnapshotInterval, "how often the list snapshot is refreshed (lists are at most this stale)")
	fs.BoolVar(&c.Demo.Enabled, "demo", c.Demo.Enabled, "feed the simulated cluster: 7 days at once, then live on an accelerated clock")
	fs.Float64Var(&c.Demo.Speed, "demo-speed", c.Demo.Speed, "with --demo: virtual seconds per real second once live")
	fs.Uint64Var(&c.Demo.Seed, "seed", c.Demo.Seed, "with --demo: the simulation's random seed")
	c.Kube.AddFlags(fs)
	c.Prometheus.AddFlags(fs)
}

// load reads the config file, if any, under the flags that were set:
// defaults, then the file, then the flags.
func (c *serveConfig) load(fs *pflag.FlagSet) error {
	if c.configFile == "" {
		return nil
	}
	set := map[string]string{}
	fs.Visit(func(f *pflag.Flag) { set[f.Name] = f.Value.String() })
	data, err := os.ReadFile(c.configFile)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return fmt.Errorf("--config %s:\n  %s", c.configFile, strings.Join(te.Errors, "\n  "))
		}
		return fmt.Errorf("--config %s: %w", c.configFile, err)
	}
	for name, v := range set {
		if err := fs.Set(name, v); err != nil {
			return fmt.Errorf("--%s: %w", name, err)
		}
	}
	return nil
}

// options maps the configuration to the engine's and the API's options
// (without what needs files or state: the policy, auth, TLS, logger and
// registry) and the checkpoint interval. A bad duration is reported and
// replaced by its default, so that the options' own checks still run on
// the rest.
func (c *serveConfig) options() (eo recommender.Options, ao api.Options, checkpointEvery time.Duration, errs []error) {
	eo, ao = recommender.DefaultOptions(), api.DefaultOptions()
	parse := func(name, v string, min, def time.Duration) time.Duration {
		got, err := time.ParseDuration(v)
		if err != nil || got < min {
			errs = append(errs, fmt.Errorf("%s %q: want a duration of at least %v, such as 1m or 30s", name, v, min))
			return def
		}
		return got
	}
	checkpointEvery = parse("checkpoint interval", c.CheckpointInterval, time.Second, time.Minute)
	eo.NotifyInterval = parse("notify interval", c.Watch.NotifyInterval, time.Millisecond, eo.NotifyInterval)
	if !c.Demo.Enabled {
		// A node clock minutes ahead would poison a sketch's decay. The
		// demo runs ahead of real time on purpose.
		eo.MaxFutureSkew = 5 * time.Minute
	}
	ao.MaxRecvBytes = c.Ingest.MaxMessageBytes
	ao.IngestRate, ao.IngestBurst = c.Ingest.RatePerClient, c.Ingest.Burst
	ao.IngestMaxWait = parse("ingest max wait", c.Ingest.MaxWait, 0, ao.IngestMaxWait)
	ao.WatchThreshold, ao.WatchMaxEvents = c.Watch.Threshold, c.Watch.MaxEvents
	ao.WatchRetention = parse("watch retention", c.Watch.Retention, time.Second, ao.WatchRetention)
	ao.SnapshotInterval = parse("snapshot interval", c.SnapshotInterval, 10*time.Millisecond, ao.SnapshotInterval)
	return eo, ao, checkpointEvery, errs
}

// Validate reports every problem with the configuration at once.
func (c *serveConfig) Validate() error {
	eo, ao, _, errs := c.options()
	for _, a := range [...]struct{ name, addr string }{{"grpc address", c.GRPCAddr}, {"http address", c.HTTPAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", a.name, a.addr, err))
		}
	}
	if c.TokensFile == "" && !c.NoAuth && !c.Kube.Auth {
		for _, addr := range []string{c.GRPCAddr, c.HTTPAddr} {
			if !loopback(addr) {
				errs = append(errs, fmt.Errorf("refusing to serve %s without authentication: give --tokens-file or --kube-auth, or --no-auth to accept anyone", addr))
			}
		}
	}
	if (c.TokensFile != "" || c.Kube.Auth) && c.NoAuth {
		errs = append(errs, errors.New("--no-auth contradicts --tokens-file and --kube-auth"))
	}
	_, serr := c.sourceOptions()
	errs = append(errs, serr...)
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("give --tls-cert-file and --tls-key-file together"))
	}
	if c.Demo.Enabled && (math.IsNaN(c.Demo.Speed) || c.Demo.Speed < 1 || c.Demo.Speed > 1e6) {
		errs = append(errs, fmt.Errorf("demo speed %v is not in [1, 1e6] virtual seconds per second", c.Demo.Speed))
	}
	// The engine's and the API's own limits are checked by their options,
	// in the same report.
	ao.Engine = nopEngine{}
	errs = append(errs, eo.Validate(), ao.Validate())
	return joinDistinct(errs...)
}

// joinDistinct joins errs, flattening joined errors, and reports each
// message once: several sources' options check the same settings (the
// namespace lists), and a bad one needs saying only once.
func joinDistinct(errs ...error) error {
	var out []error
	seen := map[string]bool{}
	var add func(err error)
	add = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				add(e)
			}
			return
		}
		if err != nil && !seen[err.Error()] {
			seen[err.Error()] = true
			out = append(out, err)
		}
	}
	for _, err := range errs {
		add(err)
	}
	return errors.Join(out...)
}

// nopEngine stands in for the engine while validating options.
type nopEngine struct{ api.Engine }

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func newServeCommand(logger func() (*slog.Logger, error)) *cobra.Command {
	c := defaultServeConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve recommendations over gRPC and REST, learning from ingested usage",
		Long: "serve runs the engine behind the gRPC API (RecommendationService, UsageService,\n" +
			"SummaryService, health, reflection) and its REST gateway (/v1/…, /openapi.yaml,\n" +
			"/metrics, /healthz, /readyz). With --demo it feeds itself from the simulator.",
		Example: "  rightsizer serve --demo\n" +
			"  rightsizer serve --config serve.yaml\n" +
			"  rightsizer serve --grpc-addr :8081 --http-addr :8080 --tokens-file tokens.yaml \\\n" +
			"      --tls-cert-file tls.crt --tls-key-file tls.key --data-dir /var/lib/rightsizer",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.load(cmd.Flags()); err != nil {
				return err
			}
			return validated(&c, logger, func(cmd *cobra.Command, log *slog.Logger) error { return runServe(cmd, &c, log) })(cmd, nil)
		},
	}
	c.AddFlags(cmd.Flags())
	return cmd
}

func runServe(cmd *cobra.Command, c *serveConfig, log *slog.Logger) error {
	ctx := cmd.Context()
	pol, err := loadPolicy(c.Policy, c.Profile)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	eo, o, checkpointEvery, _ := c.options() // Validate reported any errors
	eo.Policy, eo.Logger, eo.Registerer = pol, log, reg
	engine, err := recommender.NewEngine(eo)
	if err != nil {
		return err
	}
	o.Engine, o.Logger, o.Registry = engine, log, reg
	if c.TokensFile != "" {
		if o.Auth, err = api.LoadTokens(c.TokensFile); err != nil {
			return fmt.Errorf("--tokens-file: %w", err)
		}
	}
	if c.TLS.CertFile != "" {
		o.TLS, err = api.ServerTLSConfig(api.TLSOptions{CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile,
			ClientCAFile: c.TLS.ClientCAFile, RequireClientCert: c.TLS.RequireClientCert})
		if err != nil {
			return err
		}
	}
	src, err := newSources(c, engine, &o, reg, log)
	if err != nil {
		return err
	}
	var store *checkpoint.Store
	if c.DataDir != "" {
		if store, err = openState(c.DataDir, engine, log); err != nil {
			return err
		}
		defer func() { _ = store.Close() }()
	}
	srv, err := api.New(o)
	if err != nil {
		return err
	}
	gl, err := net.Listen("tcp", c.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listen for gRPC: %w", err)
	}
	hl, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		_ = gl.Close()
		return fmt.Errorf("listen for HTTP: %w", err)
	}
	if c.addrFile != "" {
		if err := writeAddrFile(c.addrFile, gl.Addr().String(), hl.Addr().String()); err != nil {
			_, _ = gl.Close(), hl.Close()
			return err
		}
	}
	printBanner(cmd.OutOrStdout(), c, gl.Addr().String(), hl.Addr().String())

	g, gctx := errgroup.WithContext(ctx)
	if c.debugAddr != "" {
		if err := serveDebug(gctx, g, c.debugAddr, log); err != nil {
			return err
		}
	}
	g.Go(func() error { return engine.Run(gctx) })
	g.Go(func() error { return srv.Serve(gctx, gl, hl) })
	src.run(gctx, g, engine)
	if store != nil {
		g.Go(func() error { return engine.RunCheckpoints(gctx, store, checkpointEvery) })
	}
	if c.Demo.Enabled {
		sim, err := demoSimulator(c)
		if err != nil {
			return err
		}
		g.Go(func() error {
			if err := sim.Run(gctx, engine); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("demo: %w", err)
			}
			return nil
		})
	}
	err = g.Wait()
	if ferr := src.close(); ferr != nil {
		err = errors.Join(err, fmt.Errorf("flush remote-write: %w", ferr))
	}
	if store != nil {
		st, cerr := engine.Checkpoint(store)
		if cerr != nil {
			err = errors.Join(err, fmt.Errorf("final checkpoint: %w", cerr))
		} else {
			log.Info("checkpointed state at shutdown", "dir", c.DataDir, "containers", st.Containers, "deleted", st.Deleted)
		}
	}
	return err
}

// loadPolicy reads the policy file, if any, and applies the default
// profile, if any.
func loadPolicy(file, profile string) (*recommender.Policy, error) {
	pol := recommender.DefaultPolicy()
	if file != "" {
		var err error
		if pol, err = recommender.LoadPolicyFile(file); err != nil {
			return nil, err
		}
	}
	if profile != "" {
		var err error
		if pol, err = pol.WithDefaultProfile(profile); err != nil {
			return nil, fmt.Errorf("--profile: %w", err)
		}
	}
	return pol, nil
}

// openState opens DIR/rightsizer.db and restores the engine from it.
func openState(dir string, engine *recommender.Engine, log *slog.Logger) (*checkpoint.Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	path := filepath.Join(dir, "rightsizer.db")
	store, err := checkpoint.Open(path, checkpoint.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	if err := store.Recovered(); err != nil {
		log.Warn("state file was unreadable: moved aside, starting empty", "err", err)
	}
	rs, err := engine.Restore(store)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	log.Info("restored state", "file", path, "containers", rs.Containers, "workloads", rs.Workloads, "skipped", rs.Skipped)
	return store, nil
}

// demoSimulator plays the default cluster from seven days ago: the week
// at once, then live at the demo speed, so that recommendations keep
// moving while you watch.
func demoSimulator(c *serveConfig) (*simulate.Simulator, error) {
	so := simulate.DefaultOptions()
	so.Seed, so.Speed, so.Duration = c.Demo.Seed, c.Demo.Speed, 0
	so.Backfill = 7 * 24 * time.Hour
	so.Start = time.Now().UTC().Truncate(so.Step).Add(-so.Backfill)
	return simulate.New(simulate.DefaultCluster(c.Demo.Seed), so)
}

// writeAddrFile writes the bound addresses atomically, for scripts and
// benchmarks that start the server on port 0.
func writeAddrFile(path, grpcAddr, httpAddr string) error {
	b, _ := json.Marshal(map[string]string{"grpc": grpcAddr, "http": httpAddr})
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("--addr-file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("--addr-file: %w", err)
	}
	return nil
}

// printBanner says where the server listens and how to call it.
func printBanner(w io.Writer, c *serveConfig, grpcAddr, httpAddr string) {
	scheme, plain, auth := "http", " -plaintext", ""
	if c.TLS.CertFile != "" {
		scheme, plain = "https", ""
	}
	if c.TokensFile != "" {
		auth = ` -H "Authorization: Bearer $TOKEN"`
	}
	what := "serving"
	if c.Demo.Enabled {
		what = fmt.Sprintf("serving a simulated cluster (7 days of history, then live at %gx)", c.Demo.Speed)
	}
	fmt.Fprintf(w, "rightsizer %s\n  gRPC  %s\n  HTTP  %s://%s  (OpenAPI at /openapi.yaml, metrics at /metrics)\n\nTry:\n", what, grpcAddr, scheme, httpAddr)
	fmt.Fprintf(w, "  curl -s%s '%s://%s/v1/recommendations?order_by=RECOMMENDATION_ORDER_SAVINGS&page_size=5'\n", auth, scheme, httpAddr)
	gauth := ""
	if auth != "" {
		gauth = ` -H "authorization: Bearer $TOKEN"`
	}
	fmt.Fprintf(w, "  grpcurl%s%s -d '{}' %s rightsizer.v1.RecommendationService/WatchRecommendations\n\n", plain, gauth, grpcAddr)
}

// serveDebug serves net/http/pprof on addr until ctx is done.
func serveDebug(ctx context.Context, g *errgroup.Group, addr string, log *slog.Logger) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--debug-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("serving profiles", "addr", l.Addr().String())
	g.Go(func() error {
		<-ctx.Done()
		return srv.Close()
	})
	g.Go(func() error {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("debug server: %w", err)
		}
		return nil
	})
	return nil
}
