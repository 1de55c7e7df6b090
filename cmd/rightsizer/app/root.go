// Package app wires rightsizer's commands: flags in, components built,
// run. It holds no logic of its own.
package app

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
)

// NewCommand returns the root command, writing output to out and logs
// and errors to errOut.
func NewCommand(out, errOut io.Writer) *cobra.Command {
	var logLevel string
	root := &cobra.Command{
		Use:   "rightsizer",
		Short: "Right-size Kubernetes requests and limits from live usage, with confidence, risk and dollars",
		Long: "rightsizer learns each container's usage as a stream (decaying quantile sketches) and\n" +
			"recommends CPU and memory requests and limits by percentile, with bounds, confidence,\n" +
			"risk, the monthly dollar change and a reason for each.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	logger := func() (*slog.Logger, error) {
		var l slog.Level
		if err := l.UnmarshalText([]byte(logLevel)); err != nil {
			return nil, fmt.Errorf("--log-level: %w", err)
		}
		return slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: l})), nil
	}
	root.AddCommand(newRecommendCommand(logger), newBacktestCommand(logger), newServeCommand(logger), newPlanCommand(logger))
	return root
}

// validated returns a command's RunE: it checks the flags (every problem
// at once), builds the logger, then runs fn.
func validated(flags interface{ Validate() error }, logger func() (*slog.Logger, error), fn func(*cobra.Command, *slog.Logger) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		if err := flags.Validate(); err != nil {
			return err
		}
		log, err := logger()
		if err != nil {
			return err
		}
		return fn(cmd, log)
	}
}
