package backtest

import (
	"time"

	"github.com/rightsizer/rightsizer/recommender"
)

// Applied is what a policy has set on a container: requests and limits.
// The backtest scores usage against it. A zero limit means "none".
//
// Every dataset is replayed on two channels: compute in MilliCPU (CPU
// cores for Bitbrains; GPUs busy ×1000 for the GenAI trace) and memory in
// Bytes (RAM for Bitbrains; GPU memory for GenAI), so every policy and
// baseline sizes the same two numbers.
type Applied = recommender.Requirements

// Policy is anything the backtest replays: rightsizer's engine under a
// profile, or a baseline. It sees usage and OOM kills as they happen, in
// time order, through the recommender.Sink methods, and is asked at each
// decision point what to apply. It must use only what it has been fed:
// the past.
//
// The backtest calls a Policy from one goroutine.
type Policy interface {
	recommender.Sink
	// Name is the policy's name in results ("vpa", "balanced", ...).
	Name() string
	// Decide returns what container k should have applied from now on,
	// given what it has now (current), and whether that is a change. A
	// policy that would not act (VPA's updater within its bounds, say)
	// returns ok = false.
	Decide(k recommender.ContainerKey, now time.Time, current Applied) (next Applied, ok bool)
}

// OOMReactor is implemented by policies that act on an OOM kill at once,
// as VPA's updater does (its "quick OOM" rule, within a minute) and as
// rightsizer's controller does. The backtest then asks such a policy to
// Decide right after each kill; other policies (KRR, a batch report) wait
// for the next decision point.
type OOMReactor interface {
	ReactsToOOM() bool
}

// UsageReactor is implemented by policies that run as live controllers
// and can raise a request in place soon after usage has run above it (an
// in-place resize), as VPA's updater (a one-minute loop, acting when a
// request leaves its bounds) and rightsizer's controller do. The backtest
// asks such a policy to Decide after compute usage has exceeded the
// applied request for Options.ReactAfter consecutive samples.
type UsageReactor interface {
	ReactsToUsage() bool
}
