package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/checkpoint"
	"github.com/rightsizer/rightsizer/recommender/replay"
	"github.com/rightsizer/rightsizer/recommender/report"
	"github.com/rightsizer/rightsizer/recommender/simulate"
)

// recommendOptions are the flags of `rightsizer recommend`.
type recommendOptions struct {
	Replay    string
	Demo      bool
	Duration  string
	Seed      uint64
	Policy    string
	Profile   string
	Output    string
	Namespace string
	State     string
}

func (o *recommendOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Replay, "replay", "", "replay a trace folder (the layout of shared/data/bitbrains-rnd/<month> or alibaba-genai-2026), or a dataset name found under shared/data")
	fs.BoolVar(&o.Demo, "demo", false, "simulate a realistic over-provisioned cluster (no cluster needed)")
	fs.StringVar(&o.Duration, "duration", "8d", "with --demo: how much virtual time to simulate, e.g. 36h, 8d, 2w")
	fs.Uint64Var(&o.Seed, "seed", 1, "with --demo: the simulation's random seed")
	fs.StringVar(&o.Policy, "policy", "", "a policy file (strict YAML: profiles, namespace and workload overrides)")
	fs.StringVar(&o.Profile, "profile", "", "the default profile: cost, balanced, performance, or one the policy defines")
	fs.StringVarP(&o.Output, "output", "o", "table", "output format: table, json, yaml or csv")
	fs.StringVarP(&o.Namespace, "namespace", "n", "", "only this namespace")
	fs.StringVar(&o.State, "state", "", "a checkpoint file: restore from it first, checkpoint to it every minute and when done; alone, print what it holds")
}

// Validate reports every problem with the flags at once.
func (o *recommendOptions) Validate() error {
	var errs []error
	switch {
	case o.Demo && o.Replay != "":
		errs = append(errs, errors.New("give one of --replay DIR and --demo, not both"))
	case !o.Demo && o.Replay == "" && o.State == "":
		errs = append(errs, errors.New("give --demo, --replay DIR or --state FILE"))
	}
	if _, err := report.ParseFormat(o.Output); err != nil {
		errs = append(errs, fmt.Errorf("--output: %w", err))
	}
	if d, err := model.ParseDuration(o.Duration); err != nil || d <= 0 {
		errs = append(errs, fmt.Errorf("--duration %q: want a positive duration such as 36h or 8d", o.Duration))
	}
	return errors.Join(errs...)
}

func newRecommendCommand(logger func() (*slog.Logger, error)) *cobra.Command {
	o := &recommendOptions{}
	cmd := &cobra.Command{
		Use:   "recommend (--demo | --replay DIR | --state FILE)",
		Short: "Ingest usage from a trace or the simulator, then print recommendations",
		Example: "  rightsizer recommend --demo\n" +
			"  rightsizer recommend --replay bitbrains-rnd/2013-7 --profile cost -o csv\n" +
			"  rightsizer recommend --demo --state rightsizer.db   # keep what was learned\n" +
			"  rightsizer recommend --state rightsizer.db          # and print it later",
		Args: cobra.NoArgs,
		RunE: validated(o, logger, func(cmd *cobra.Command, log *slog.Logger) error { return runRecommend(cmd, o, log) }),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runRecommend(cmd *cobra.Command, o *recommendOptions, log *slog.Logger) error {
	pol, err := loadPolicy(o.Policy, o.Profile)
	if err != nil {
		return err
	}
	opts := recommender.DefaultOptions()
	opts.Policy, opts.Logger = pol, log
	engine, err := recommender.NewEngine(opts)
	if err != nil {
		return err
	}
	if o.State != "" {
		store, err := checkpoint.Open(o.State, checkpoint.Options{Logger: log})
		if err != nil {
			return err
		}
		defer func() { _ = store.Close() }()
		if err := store.Recovered(); err != nil {
			log.Warn("checkpoint file was unreadable: moved aside, starting empty", "err", err)
		}
		rs, err := engine.Restore(store)
		if err != nil {
			return err
		}
		if rs.WrittenAt.IsZero() {
			log.Info("new state file", "file", o.State)
		} else {
			log.Info("restored state", "file", o.State, "containers", rs.Containers, "workloads", rs.Workloads, "skipped", rs.Skipped, "written_at", rs.WrittenAt)
		}
		if err := ingest(cmd.Context(), o, engine, store, log); err != nil {
			return err
		}
	} else if err := ingest(cmd.Context(), o, engine, nil, log); err != nil {
		return err
	}
	format, _ := report.ParseFormat(o.Output)
	return report.Write(cmd.OutOrStdout(), format, engine.List(recommender.Filter{Namespace: o.Namespace}))
}

// ingest feeds the engine from the source the flags name, if any. With a
// store it checkpoints every minute and once more at the end, also when
// the source fails or the command is interrupted.
func ingest(ctx context.Context, o *recommendOptions, engine *recommender.Engine, store recommender.CheckpointStore, log *slog.Logger) error {
	if !o.Demo && o.Replay == "" {
		return nil
	}
	src, what, err := source(o)
	if err != nil {
		return err
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	done, finish := context.WithCancel(gctx)
	if store != nil {
		g.Go(func() error { return engine.RunCheckpoints(done, store, time.Minute) })
	}
	g.Go(func() error {
		defer finish()
		if err := src.Run(gctx, engine); err != nil {
			return fmt.Errorf("ingest %s: %w", what, err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	log.Info("ingested usage", "source", what, "containers", engine.Len(), "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}

// source builds the usage source the flags ask for.
func source(o *recommendOptions) (recommender.UsageSource, string, error) {
	if o.Demo {
		d, _ := model.ParseDuration(o.Duration)
		so := simulate.DefaultOptions()
		so.Seed, so.Duration = o.Seed, time.Duration(d)
		sim, err := simulate.New(simulate.DefaultCluster(o.Seed), so)
		if err != nil {
			return nil, "", err
		}
		return sim, fmt.Sprintf("simulated cluster (seed %d, %s)", o.Seed, o.Duration), nil
	}
	dir, err := replay.Locate(o.Replay)
	if err != nil {
		return nil, "", fmt.Errorf("--replay: %w", err)
	}
	src, err := replay.Open(dir, replay.DefaultOptions())
	if err != nil {
		return nil, "", err
	}
	return src, dir, nil
}
