package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	vpaclient "k8s.io/autoscaler/vertical-pod-autoscaler/pkg/client/clientset/versioned"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/rightsizer/rightsizer/api"
	"github.com/rightsizer/rightsizer/kube"
	"github.com/rightsizer/rightsizer/kube/vpastatus"
	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/metricsapi"
	"github.com/rightsizer/rightsizer/recommender/prombackfill"
	"github.com/rightsizer/rightsizer/recommender/promwrite"
)

// kubeConfig configures what `serve` does with a Kubernetes cluster. With
// neither a kubeconfig nor in-cluster config, none of it runs.
type kubeConfig struct {
	Kubeconfig        string   `yaml:"kubeconfig"`
	InCluster         bool     `yaml:"inCluster"`
	Cluster           string   `yaml:"cluster"`
	Namespaces        []string `yaml:"namespaces"`
	ExcludeNamespaces []string `yaml:"excludeNamespaces"`
	Selector          string   `yaml:"selector"`
	// MetricsInterval polls metrics.k8s.io; "0" turns it off.
	MetricsInterval string `yaml:"metricsInterval"`
	// VPARecommender writes the status of VPA objects naming it; empty
	// turns VPA-compatible mode off.
	VPARecommender string `yaml:"vpaRecommender"`
	// VPAInterval is how often every such VPA's status is re-checked.
	VPAInterval string `yaml:"vpaInterval"`
	// Auth checks API bearer tokens with TokenReview and
	// SubjectAccessReview.
	Auth          bool     `yaml:"auth"`
	AuthAudiences []string `yaml:"authAudiences"`
	AuthNamespace string   `yaml:"authNamespace"`
}

// prometheusConfig configures the Prometheus sources.
type prometheusConfig struct {
	// RemoteWrite serves a remote-write receiver at /api/v1/write on the
	// HTTP address (ingest role).
	RemoteWrite bool `yaml:"remoteWrite"`
	// URL is a Prometheus to backfill history from at start; empty skips it.
	URL          string `yaml:"url"`
	BackfillDays int    `yaml:"backfillDays"`
	ClusterLabel string `yaml:"clusterLabel"`
}

func (k *kubeConfig) enabled() bool { return k.Kubeconfig != "" || k.InCluster }

func defaultKubeConfig() kubeConfig {
	return kubeConfig{
		MetricsInterval: metricsapi.DefaultOptions().Interval.String(),
		VPARecommender:  vpastatus.DefaultRecommenderName,
		VPAInterval:     vpastatus.DefaultOptions().Interval.String(),
		AuthAudiences:   []string{"rightsizer"},
	}
}

func defaultPrometheusConfig() prometheusConfig {
	return prometheusConfig{BackfillDays: int(prombackfill.DefaultOptions().History / (24 * time.Hour))}
}

func (k *kubeConfig) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&k.Kubeconfig, "kubeconfig", k.Kubeconfig, "discover workloads in the cluster this kubeconfig names (see also --in-cluster)")
	fs.BoolVar(&k.InCluster, "in-cluster", k.InCluster, "discover workloads in the cluster rightsizer runs in (its ServiceAccount)")
	fs.StringVar(&k.Cluster, "cluster-name", k.Cluster, "the cluster's name in workload keys (empty: the local cluster)")
	fs.StringSliceVar(&k.Namespaces, "namespaces", k.Namespaces, "watch only these namespaces (one watch each); default all")
	fs.StringSliceVar(&k.ExcludeNamespaces, "exclude-namespaces", k.ExcludeNamespaces, "never inventory these namespaces")
	fs.StringVar(&k.Selector, "selector", k.Selector, "a label selector workloads and pods must match")
	fs.StringVar(&k.MetricsInterval, "metrics-api-interval", k.MetricsInterval, "poll metrics.k8s.io this often when the cluster serves it (0: off)")
	fs.StringVar(&k.VPARecommender, "vpa-recommender", k.VPARecommender, "write status.recommendation of VPA objects whose spec.recommenders names this (empty: off)")
	fs.StringVar(&k.VPAInterval, "vpa-interval", k.VPAInterval, "how often VPA statuses are re-checked against the recommendations")
	fs.BoolVar(&k.Auth, "kube-auth", k.Auth, "accept ServiceAccount tokens, checked by TokenReview and SubjectAccessReview")
	fs.StringSliceVar(&k.AuthAudiences, "kube-auth-audiences", k.AuthAudiences, "with --kube-auth: audiences a token must be valid for")
	fs.StringVar(&k.AuthNamespace, "kube-auth-namespace", k.AuthNamespace, "with --kube-auth: namespace whose RoleBindings grant roles (empty: ClusterRoleBindings only)")
}

func (p *prometheusConfig) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&p.RemoteWrite, "remote-write", p.RemoteWrite, "receive Prometheus remote-write (cAdvisor and kube-state-metrics series) at /api/v1/write")
	fs.StringVar(&p.URL, "prometheus-url", p.URL, "backfill history from this Prometheus at start, in bounded batched range queries")
	fs.IntVar(&p.BackfillDays, "backfill-days", p.BackfillDays, "with --prometheus-url: days of history to read")
	fs.StringVar(&p.ClusterLabel, "prometheus-cluster-label", p.ClusterLabel, "series label that names the cluster (empty: one cluster)")
}

// sourceOptions maps the configuration to the options of each source, so
// that Validate and run build them the same way.
type sourceOptions struct {
	discovery kube.Options
	metrics   metricsapi.Options
	vpa       vpastatus.Options
	auth      api.KubeAuthOptions
	write     promwrite.Options
	backfill  prombackfill.Options
}

func (c *serveConfig) sourceOptions() (sourceOptions, []error) {
	var errs []error
	k, p := &c.Kube, &c.Prometheus
	o := sourceOptions{
		discovery: kube.Options{Cluster: k.Cluster, Namespaces: k.Namespaces, ExcludeNamespaces: k.ExcludeNamespaces, Selector: k.Selector},
		metrics:   metricsapi.DefaultOptions(),
		vpa:       vpastatus.DefaultOptions(),
		auth:      api.KubeAuthOptions{Audiences: k.AuthAudiences, Namespace: k.AuthNamespace},
		write:     promwrite.DefaultOptions(),
		backfill:  prombackfill.DefaultOptions(),
	}
	o.metrics.Namespaces, o.metrics.ExcludeNamespaces = k.Namespaces, k.ExcludeNamespaces
	if k.MetricsInterval != "0" {
		d, err := time.ParseDuration(k.MetricsInterval)
		if err != nil || d < time.Second {
			errs = append(errs, fmt.Errorf("metrics api interval %q: want 0 or a duration of at least 1s", k.MetricsInterval))
		} else {
			o.metrics.Interval = d
		}
	}
	o.vpa.RecommenderName, o.vpa.Cluster = k.VPARecommender, k.Cluster
	if d, err := time.ParseDuration(k.VPAInterval); err != nil || d < time.Second {
		errs = append(errs, fmt.Errorf("vpa interval %q: want a duration of at least 1s", k.VPAInterval))
	} else {
		o.vpa.Interval = d
	}
	o.vpa.Namespaces, o.vpa.ExcludeNamespaces = k.Namespaces, k.ExcludeNamespaces
	o.write.ClusterLabel, o.backfill.ClusterLabel = p.ClusterLabel, p.ClusterLabel
	o.backfill.History = time.Duration(p.BackfillDays) * 24 * time.Hour
	o.backfill.Namespaces, o.backfill.ExcludeNamespaces = k.Namespaces, k.ExcludeNamespaces

	if !k.enabled() {
		for name, set := range map[string]bool{
			"--kube-auth": k.Auth, "--namespaces": len(k.Namespaces) > 0, "--exclude-namespaces": len(k.ExcludeNamespaces) > 0,
			"--selector": k.Selector != "", "--cluster-name": k.Cluster != "",
		} {
			if set {
				errs = append(errs, fmt.Errorf("%s needs --kubeconfig or --in-cluster", name))
			}
		}
	}
	if k.Kubeconfig != "" && k.InCluster {
		errs = append(errs, errors.New("give --kubeconfig or --in-cluster, not both"))
	}
	if k.enabled() {
		errs = append(errs, o.discovery.Validate())
		if k.VPARecommender != "" {
			errs = append(errs, o.vpa.Validate())
		}
	}
	if p.URL != "" && p.BackfillDays < 1 {
		errs = append(errs, fmt.Errorf("backfill days %d: want at least 1", p.BackfillDays))
	}
	if p.URL != "" {
		errs = append(errs, o.backfill.Validate())
	}
	if p.RemoteWrite {
		errs = append(errs, o.write.Validate())
	}
	return o, errs
}

// sources holds what runs beside the engine and the API server.
type sources struct {
	client    kubernetes.Interface
	discovery *kube.Discovery
	vpa       *vpastatus.Writer
	metrics   *metricsapi.Source
	backfill  *prombackfill.Source
	write     *promwrite.Receiver
	resolver  recommender.PodResolver
}

// newSources builds the configured sources around engine. o.Kube and the
// remote-write handler are set on the API options.
func newSources(c *serveConfig, engine *recommender.Engine, o *api.Options, reg prometheus.Registerer, log *slog.Logger) (*sources, error) {
	so, _ := c.sourceOptions() // Validate reported any errors
	s := &sources{}
	if c.Kube.enabled() {
		cfg, err := restConfig(&c.Kube)
		if err != nil {
			return nil, err
		}
		if s.client, err = kubernetes.NewForConfig(cfg); err != nil {
			return nil, err
		}
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		so.discovery.Logger = log
		if s.discovery, err = kube.New(s.client, dyn, engine, so.discovery); err != nil {
			return nil, err
		}
		s.resolver = s.discovery
		if c.Kube.Auth {
			so.auth.Logger, so.auth.Registerer = log, reg
			if o.Kube, err = api.NewKubeAuthenticator(s.client, so.auth); err != nil {
				return nil, err
			}
		}
		if c.Kube.VPARecommender != "" {
			if !kube.Serves(s.client, "autoscaling.k8s.io/v1", "verticalpodautoscalers") {
				log.Info("VPA-compatible mode off: the cluster does not serve autoscaling.k8s.io/v1")
			} else {
				vc, err := vpaclient.NewForConfig(cfg)
				if err != nil {
					return nil, err
				}
				so.vpa.Logger, so.vpa.Registerer = log, reg
				if s.vpa, err = vpastatus.New(vc, engine, so.vpa); err != nil {
					return nil, err
				}
			}
		}
		if c.Kube.MetricsInterval != "0" {
			if !kube.Serves(s.client, "metrics.k8s.io/v1beta1", "pods") {
				log.Info("metrics.k8s.io poller off: the cluster does not serve metrics.k8s.io (no metrics-server)")
			} else {
				mc, err := metricsclient.NewForConfig(cfg)
				if err != nil {
					return nil, err
				}
				so.metrics.Logger, so.metrics.Registerer = log, reg
				if s.metrics, err = metricsapi.New(mc, s.discovery, so.metrics); err != nil {
					return nil, err
				}
			}
		}
		ready := o.Ready
		o.Ready = func() error {
			select {
			case <-s.discovery.Ready():
			default:
				return errors.New("kubernetes inventory not complete yet")
			}
			if ready != nil {
				return ready()
			}
			return nil
		}
	}
	if c.Prometheus.URL != "" {
		pc, err := promapi.NewClient(promapi.Config{Address: c.Prometheus.URL})
		if err != nil {
			return nil, fmt.Errorf("--prometheus-url: %w", err)
		}
		so.backfill.Resolver, so.backfill.Logger, so.backfill.Registerer = s.resolver, log, reg
		if s.backfill, err = prombackfill.New(pc, so.backfill); err != nil {
			return nil, err
		}
	}
	if c.Prometheus.RemoteWrite {
		so.write.Resolver, so.write.Logger, so.write.Registerer = s.resolver, log, reg
		var err error
		if s.write, err = promwrite.New(engine, so.write); err != nil {
			return nil, err
		}
		o.RemoteWrite = s.write
	}
	return s, nil
}

// run starts the sources on g. Sources that resolve pods start once the
// first inventory is complete, so that they find the pods they see.
func (s *sources) run(ctx context.Context, g *errgroup.Group, engine *recommender.Engine) {
	if s.discovery != nil {
		g.Go(func() error { return s.discovery.Run(ctx) })
	}
	afterInventory := func(fn func() error) func() error {
		return func() error {
			if s.discovery != nil {
				select {
				case <-s.discovery.Ready():
				case <-ctx.Done():
					return nil
				}
			}
			if err := fn(); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		}
	}
	if s.vpa != nil {
		g.Go(afterInventory(func() error { return s.vpa.Run(ctx) }))
	}
	if s.metrics != nil {
		g.Go(afterInventory(func() error { return s.metrics.Run(ctx, engine) }))
	}
	if s.backfill != nil {
		g.Go(afterInventory(func() error { return s.backfill.Run(ctx, engine) }))
	}
}

// close flushes what the sources hold: the remote-write receiver's last
// scrape, which waits for the rest of its points.
func (s *sources) close() error {
	if s.write != nil {
		return s.write.Flush()
	}
	return nil
}

// restConfig loads the kubeconfig or the in-cluster config.
func restConfig(k *kubeConfig) (*rest.Config, error) {
	if k.InCluster {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("--in-cluster: %w", err)
		}
		return withRate(cfg), nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", k.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig: %w", err)
	}
	return withRate(cfg), nil
}

// withRate raises client-go's default 5 requests/s: informers make few
// requests, but each new ServiceAccount token costs --kube-auth four
// (one TokenReview, three SubjectAccessReviews). The VPA writer limits
// itself.
func withRate(cfg *rest.Config) *rest.Config {
	cfg.QPS, cfg.Burst = 50, 100
	return cfg
}
