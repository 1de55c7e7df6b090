package apiload

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// Config sizes a run. Start from DefaultConfig.
type Config struct {
	// Workloads in the fleet, one container each. Default 10,000.
	Workloads int
	// BatchSize is the samples per IngestUsage message. Default 1,000.
	BatchSize int
	// SamplesPerContainer is how many consecutive minutes of one container
	// a batch carries; a batch spans BatchSize/SamplesPerContainer
	// containers, which must divide Workloads. Default 1: every batch
	// names 1,000 distinct containers.
	SamplesPerContainer int
	// SetupSamples per container before anything is timed, so that every
	// container has a recommendation. Default 30.
	SetupSamples int
	// Streams is the number of concurrent IngestUsage streams of the
	// throughput measurement, each on its own connection. Default 2.
	Streams int
	// IngestDuration is how long each throughput run sends. Default 10 s.
	IngestDuration time.Duration
	// Runs of the throughput measurement; the median is reported. Default 3.
	Runs int
	// ListRate is the open-loop rate of ListRecommendations, in requests
	// per second. Default 1,000.
	ListRate float64
	// ListDuration is how long requests are scheduled for. Default 10 s.
	ListDuration time.Duration
	// PageSize of every list request. Default 100.
	PageSize int
	// ListWorkers bound the list requests in flight. Default 64.
	ListWorkers int
	// BackgroundRate is the ingest rate, in samples per second, kept up
	// during the list and watch measurements. 0 turns it off. Default
	// 100,000.
	BackgroundRate float64
	// Probes is the number of watch-lag probes. Default 200.
	Probes int
	// ProbeRate is the mean probe rate per second; probes are sent as a
	// Poisson process so that they do not lock onto the server's notify
	// tick. Default 20.
	ProbeRate float64
	// ProbeSamples per probe container. Default 1.
	ProbeSamples int
	// ProbeTimeout is how long a probe waits for its event before it
	// counts as lost. Default 5 s.
	ProbeTimeout time.Duration
	// ReadyTimeout bounds the wait for the server's list to show the
	// whole fleet after setup. Default 30 s.
	ReadyTimeout time.Duration
	// Seed of every random choice: sample values, list pages, probe gaps.
	// Default 1.
	Seed uint64
}

// DefaultConfig is the configuration of `make bench-api`.
func DefaultConfig() Config {
	return Config{
		Workloads: 10_000, BatchSize: 1_000, SamplesPerContainer: 1, SetupSamples: 30,
		Streams: 2, IngestDuration: 10 * time.Second, Runs: 3,
		ListRate: 1_000, ListDuration: 10 * time.Second, PageSize: 100, ListWorkers: 64,
		BackgroundRate: 100_000,
		Probes:         200, ProbeRate: 20, ProbeSamples: 1, ProbeTimeout: 5 * time.Second,
		ReadyTimeout: 30 * time.Second,
		Seed:         1,
	}
}

// AddFlags registers the configuration's flags on fs.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Workloads, "workloads", c.Workloads, "workloads in the fleet, one container each")
	fs.IntVar(&c.BatchSize, "batch", c.BatchSize, "samples per IngestUsage message")
	fs.IntVar(&c.SamplesPerContainer, "samples-per-container", c.SamplesPerContainer, "consecutive minutes of one container per batch")
	fs.IntVar(&c.SetupSamples, "setup-samples", c.SetupSamples, "samples per container before anything is timed")
	fs.IntVar(&c.Streams, "streams", c.Streams, "concurrent ingest streams (one connection each)")
	fs.DurationVar(&c.IngestDuration, "duration", c.IngestDuration, "length of each ingest run")
	fs.IntVar(&c.Runs, "runs", c.Runs, "ingest runs (median reported)")
	fs.Float64Var(&c.ListRate, "list-rate", c.ListRate, "list requests per second (open loop)")
	fs.DurationVar(&c.ListDuration, "list-duration", c.ListDuration, "length of the list measurement")
	fs.IntVar(&c.PageSize, "page-size", c.PageSize, "workloads per list page")
	fs.IntVar(&c.ListWorkers, "list-workers", c.ListWorkers, "list requests in flight at most")
	fs.Float64Var(&c.BackgroundRate, "bg-rate", c.BackgroundRate, "samples per second ingested during list and watch (0: none)")
	fs.IntVar(&c.Probes, "probes", c.Probes, "watch-lag probes")
	fs.Float64Var(&c.ProbeRate, "probe-rate", c.ProbeRate, "mean watch probes per second (Poisson)")
	fs.IntVar(&c.ProbeSamples, "probe-samples", c.ProbeSamples, "samples per probe container")
	fs.DurationVar(&c.ProbeTimeout, "probe-timeout", c.ProbeTimeout, "wait for a probe's event before it counts as lost")
	fs.DurationVar(&c.ReadyTimeout, "ready-timeout", c.ReadyTimeout, "wait for the list to show the whole fleet after setup")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed of sample values, list pages and probe gaps")
}

// Validate reports every problem with the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	positive := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s %d is not positive", name, v))
		}
	}
	positive("workloads", c.Workloads)
	positive("batch size", c.BatchSize)
	positive("samples per container", c.SamplesPerContainer)
	positive("setup samples", c.SetupSamples)
	positive("streams", c.Streams)
	positive("runs", c.Runs)
	positive("page size", c.PageSize)
	positive("list workers", c.ListWorkers)
	positive("probes", c.Probes)
	positive("probe samples", c.ProbeSamples)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ingest duration", c.IngestDuration}, {"list duration", c.ListDuration},
		{"probe timeout", c.ProbeTimeout}, {"ready timeout", c.ReadyTimeout},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %v is not positive", d.name, d.v))
		}
	}
	if !(c.ListRate > 0) {
		errs = append(errs, fmt.Errorf("list rate %v is not positive", c.ListRate))
	}
	if !(c.ProbeRate > 0) {
		errs = append(errs, fmt.Errorf("probe rate %v is not positive", c.ProbeRate))
	}
	if !(c.BackgroundRate >= 0) {
		errs = append(errs, fmt.Errorf("background rate %v is negative", c.BackgroundRate))
	}
	if c.PageSize > 1000 {
		errs = append(errs, fmt.Errorf("page size %d is over the API's 1000", c.PageSize))
	}
	if c.BatchSize > 0 && c.SamplesPerContainer > 0 {
		if c.BatchSize%c.SamplesPerContainer != 0 {
			errs = append(errs, fmt.Errorf("samples per container %d does not divide batch size %d", c.SamplesPerContainer, c.BatchSize))
		} else if per := c.BatchSize / c.SamplesPerContainer; c.Workloads > 0 && c.Workloads%per != 0 {
			errs = append(errs, fmt.Errorf("containers per batch %d does not divide workloads %d", per, c.Workloads))
		} else if blocks := c.Workloads / per; c.Workloads > 0 && c.Streams > blocks {
			errs = append(errs, fmt.Errorf("streams %d exceed the %d blocks of containers a stream can own", c.Streams, blocks))
		} else if most := (blocks + c.Streams - 1) / max(c.Streams, 1) * per; c.BackgroundRate > 0 && c.Workloads > MaxStreamContainers {
			errs = append(errs, fmt.Errorf("workloads %d exceed the %d containers a stream may declare (the background stream owns them all)", c.Workloads, MaxStreamContainers))
		} else if most > MaxStreamContainers {
			errs = append(errs, fmt.Errorf("an ingest stream's %d containers exceed the %d a stream may declare", most, MaxStreamContainers))
		}
		if c.SetupSamples > 0 && c.SetupSamples%c.SamplesPerContainer != 0 {
			errs = append(errs, fmt.Errorf("samples per container %d does not divide setup samples %d", c.SamplesPerContainer, c.SetupSamples))
		}
	}
	return errors.Join(errs...)
}
