package simulate

import (
	"errors"
	"fmt"
	"math"
	"time"

	"k8s.io/utils/clock"
)

// Defaults and bounds of Options.
const (
	// DefaultStep is the default sampling interval: metrics-server's and
	// the VPA recommender's.
	DefaultStep = time.Minute
	// DefaultDuration is the default virtual time to simulate: a week, so
	// that daily and weekly patterns and a few OOM kills are in the data.
	DefaultDuration = 7 * 24 * time.Hour
	// MinStep and MaxStep bound Options.Step: below a second the models'
	// per-step arithmetic stops making sense, above an hour the daily
	// curve and short-lived containers are lost.
	MinStep = time.Second
	MaxStep = time.Hour
)

// DefaultStart returns the default virtual start time,
// 2026-11-02T00:00:00Z, a Monday, so that output is reproducible.
func DefaultStart() time.Time { return time.Date(2026, time.November, 2, 0, 0, 0, 0, time.UTC) }

// Options configures a Simulator. The zero value of each field means what
// its comment says; DefaultOptions fills them in explicitly.
type Options struct {
	// Seed selects the random streams of the usage noise, spikes, leaks,
	// rollouts and runs. The cluster's own shape is chosen by the caller
	// (see DefaultCluster's seed).
	Seed uint64
	// Start is the virtual time at which the simulation starts; samples
	// are stamped Start+Step, Start+2·Step, … Zero means DefaultStart().
	Start time.Time
	// Step is the sampling interval in virtual time, in [MinStep, MaxStep].
	// Zero means DefaultStep.
	Step time.Duration
	// Duration is the virtual time to simulate; Run returns nil after the
	// last whole step that fits in it. Zero means until ctx is cancelled.
	Duration time.Duration
	// Speed is the pace in virtual seconds per real second (60 plays a
	// virtual minute each real second). Zero means as fast as possible.
	Speed float64
	// Backfill is virtual time played as fast as possible before Speed
	// takes over, so that a live demo starts with days of history and then
	// moves at a watchable pace. Ignored when Speed is zero.
	Backfill time.Duration
	// Clock paces the simulation when Speed > 0 and is not used otherwise.
	// Nil means the real clock.
	Clock clock.Clock
}

// DefaultOptions returns the options of the demo: seed 1, DefaultStart,
// DefaultStep, DefaultDuration, as fast as possible, on the real clock.
func DefaultOptions() Options {
	return Options{
		Seed:     1,
		Start:    DefaultStart(),
		Step:     DefaultStep,
		Duration: DefaultDuration,
		Clock:    clock.RealClock{},
	}
}

// Validate reports every invalid field, joined with errors.Join, or nil.
func (o Options) Validate() error {
	var errs []error
	step := o.Step
	if step == 0 {
		step = DefaultStep
	}
	if step < MinStep || step > MaxStep {
		errs = append(errs, fmt.Errorf("step %s is outside [%s, %s]", o.Step, MinStep, MaxStep))
	}
	if o.Duration < 0 {
		errs = append(errs, fmt.Errorf("duration %s is negative", o.Duration))
	} else if o.Duration > 0 && o.Duration < step {
		errs = append(errs, fmt.Errorf("duration %s is shorter than the step %s", o.Duration, step))
	}
	if o.Backfill < 0 {
		errs = append(errs, fmt.Errorf("backfill %s is negative", o.Backfill))
	}
	if math.IsNaN(o.Speed) || math.IsInf(o.Speed, 0) || o.Speed < 0 {
		errs = append(errs, fmt.Errorf("speed %v is not a finite non-negative number", o.Speed))
	}
	if !o.Start.IsZero() && (o.Start.Year() < 1970 || o.Start.Year() > 2200) {
		errs = append(errs, fmt.Errorf("start %s is outside the years 1970 to 2200", o.Start.Format(time.RFC3339)))
	}
	return errors.Join(errs...)
}

// complete returns o with its zero fields set to their defaults.
func (o Options) complete() Options {
	if o.Start.IsZero() {
		o.Start = DefaultStart()
	}
	if o.Step == 0 {
		o.Step = DefaultStep
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return o
}
