package apiload

import (
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*Config)
		errs   []string // substrings of the error; none means valid
	}{
		{"default", func(*Config) {}, nil},
		{"no background", func(c *Config) { c.BackgroundRate = 0 }, nil},
		{"several minutes per batch", func(c *Config) { c.SamplesPerContainer = 10 }, nil},
		{"every problem at once", func(c *Config) {
			c.Workloads, c.Streams, c.ListRate, c.ListDuration = 0, -1, 0, 0
		}, []string{"workloads 0", "streams -1", "list rate", "list duration"}},
		{"negative background", func(c *Config) { c.BackgroundRate = -1 }, []string{"background rate"}},
		{"page too big", func(c *Config) { c.PageSize = 1001 }, []string{"page size 1001"}},
		{"batch not whole containers", func(c *Config) { c.SamplesPerContainer = 3 }, []string{"does not divide batch size"}},
		{"blocks not whole", func(c *Config) { c.Workloads = 10_500 }, []string{"does not divide workloads"}},
		{"more streams than blocks", func(c *Config) { c.Streams = 11 }, []string{"streams 11 exceed the 10 blocks"}},
		{"background stream declares too many", func(c *Config) { c.Workloads = 200_000 }, []string{"workloads 200000 exceed the 100000 containers"}},
		{"no background, streams share the fleet", func(c *Config) { c.Workloads, c.BackgroundRate = 200_000, 0 }, nil},
		{"no background, one stream declares too many", func(c *Config) { c.Workloads, c.BackgroundRate, c.Streams = 200_000, 0, 1 }, []string{"ingest stream's 200000 containers exceed"}},
		{"setup not whole batches", func(c *Config) { c.SamplesPerContainer, c.SetupSamples = 4, 30 }, []string{"does not divide setup samples"}},
		{"zero timeout", func(c *Config) { c.ProbeTimeout = 0 }, []string{"probe timeout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := DefaultConfig()
			tc.change(&c)
			err := c.Validate()
			if len(tc.errs) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, s := range tc.errs {
				require.ErrorContains(t, err, s)
			}
		})
	}
}

func TestConfigFlags(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.AddFlags(fs)
	require.NoError(t, fs.Parse([]string{"-streams", "4", "-duration", "2s", "-runs", "5", "-bg-rate", "0", "-seed", "9"}))
	require.Equal(t, 4, c.Streams)
	require.Equal(t, 2*time.Second, c.IngestDuration)
	require.Equal(t, 5, c.Runs)
	require.Zero(t, c.BackgroundRate)
	require.Equal(t, uint64(9), c.Seed)
	require.Equal(t, DefaultConfig().Workloads, c.Workloads)
}
