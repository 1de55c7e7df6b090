// Package backtest answers a user's first question, "how much would I
// save, and what would break?", from history: it replays a trace in time
// order, lets each policy (rightsizer's profiles and the VPA, KRR and
// provisioned baselines) see only the past, applies its decisions at
// fixed decision points, and scores the interval that follows.
//
// # How a replay works
//
// Every policy gets the trace's samples in time order through the same
// recommender.Sink interface the live engine serves, and nothing else.
// At each decision point (every Options.Interval after Options.Warmup) the
// harness asks each policy what each container should have applied; the
// answer holds until the next decision. A memory sample above the applied
// limit is an OOM kill at that moment: the harness flushes what the policy
// has not yet seen, reports the kill (recommender.OOMEvent) and, for
// policies that act on kills at once (OOMReactor: VPA's updater, which
// evicts within minutes of a kill, and rightsizer's controller), asks for a
// decision right away. Where requests resize in place (CPU and RAM, by
// in-place pod resize), live controllers (UsageReactor) are also asked
// after compute has run above the request for Options.ReactAfter
// consecutive samples. GPU shapes restart the pod, so the GenAI trace has
// no usage reactions, and rightsizer goes down at most every 12 h there.
// Options.NoReactions turns both reactions off.
//
// # Scoring
//
// Each sample stands for the time since its container's previous sample,
// at most two trace steps. Requested core-hours and GiB-hours integrate
// what was applied over that time; unmet core-hours integrate usage above
// the CPU request. GPU memory is costed by its limit, since a GPU, MIG
// slice or share reserves all of it; RAM by its request, as a scheduler
// reserves it. A change is an applied request or limit that moves by more
// than Options.ChangeThreshold (10 %).
//
// # Datasets
//
// Bitbrains (one VM a container): CPU and RAM as they are; the VM's
// provisioned cores and memory are the request and the memory limit.
// Alibaba GenAI: GPU busy time on the compute channel (thousandths of a
// GPU) and GPU memory on the memory channel, so that every policy and
// baseline sizes the same two numbers; and a second dataset,
// "genai-memfrac", of each pod's memory use as a fraction of its limit, on
// a nominal 1 GiB limit, because the trace does not give the limit itself.
//
// # Baselines
//
//   - provisioned: the requests as they were; never changes.
//   - vpa: VPA's recommender through its own code
//     (k8s.io/autoscaler/vertical-pod-autoscaler/pkg/recommender/model and
//     logic, v1.8.1): decaying histograms with a 24 h half-life, memory as
//     daily peaks over 8 days, the OOM bump, P90 target with P50/P95
//     bounds, +15 % margin and confidence scaling. Its updater, which the
//     module does not export as a library, is re-implemented from its
//     rules: apply when the request leaves the bounds, or on a change of
//     10 % or more once 12 h have passed, or at once after an OOM kill. On
//     GPU memory, which reads 0 until a model loads, VPA would drop a whole
//     day's peaks; the vpa baseline skips those zero samples, comparing with
//     the stronger VPA.
//   - krr: KRR's simple strategy re-implemented from its source: CPU P95
//     and memory max + 15 % (as request and limit) over up to 14 days,
//     recomputed at each decision point; it ignores OOM kills.
//
// # rightsizer
//
// Rightsizer replays the engine (recommender.Engine, the code that serves
// live traffic) under a profile and applies its recommendations as the
// controller would: anything that rises applies at once, anything that
// falls only after a stabilisation window (the highest recommendation of
// the last decision interval) and by more than 10 %. What it applies goes
// back into the engine's inventory, as discovery would see it, which is
// what a risk budget calibrates against.
package backtest
