package gpu

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/internal/realdata"
	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/gpushape"
)

// finals returns the decisions of a window's reactions.
func finals(ws WindowScore) []Decision {
	var ds []Decision
	for _, r := range ws.Reactions {
		ds = append(ds, r.Decision)
	}
	return ds
}

// TestRealTraceInvariants walks the first 12 pods of the GenAI trace (by
// name: full-day pods and two that stop after about 6 h) under every
// policy on the default H100-80GB, and checks what must hold whatever the
// policies decide: every sample is scored once under the decision in
// force (a reaction's from the sample after its overflow), reactions
// follow overflows and step up, and only rightsizer's profiles react.
func TestRealTraceInvariants(t *testing.T) {
	t.Parallel()
	tr, err := Load(realdata.Dir(t, "alibaba-genai-2026"))
	require.NoError(t, err)
	require.Len(t, tr.Pods, 80)
	tr.Pods = tr.Pods[:12]
	res, err := Run(t.Context(), tr, Policies(), Options{})
	require.NoError(t, err)
	require.Equal(t, "H100-80GB", res.Device)
	require.Equal(t, 12, res.Pods)
	require.Equal(t, 23, res.Windows, "22.8 h of decisions every hour")
	require.Positive(t, res.WarmupPodHours)

	dev, err := DefaultDevice()
	require.NoError(t, err)
	kruize := map[string]bool{}
	for _, p := range KruizeH100 {
		kruize[p.Name] = true
	}
	var warm [][]bool // per pod, per window: warm-up, the same for every policy
	for _, s := range res.Scores {
		t.Run(s.Policy, func(t *testing.T) {
			require.Len(t, s.PodScores, 12)
			var hours, gpuHours, gib, eq float64
			overflows, reactions, reshapes := 0, 0, 0
			for i, p := range s.PodScores {
				pod := tr.Pods[i]
				require.Equal(t, pod.Name, p.Pod)
				var w []bool
				durs := durations(pod, res.Step)
				next := 0
				prev := oneGPU // every pod starts on one whole GPU
				for _, ws := range p.Windows {
					if ws.Decision.Allocation != prev {
						reshapes++
					}
					prev = ws.Final().Allocation
					w = append(w, ws.Decision.Warmup)
					for _, d := range append([]Decision{ws.Decision}, finals(ws)...) {
						c, err := dev.Capacity(d.Allocation)
						require.NoError(t, err)
						// The memory scored is the shape's: the allocation's,
						// or for a share its 1/replicas budget.
						switch d.Allocation.Kind {
						case gpushape.KindMPS, gpushape.KindTimeSlice:
							require.Equal(t, dev.MemoryBytes()/recommender.Bytes(d.Allocation.Replicas), d.Memory)
						default:
							require.Equal(t, c.Memory, d.Memory)
						}
						require.InDelta(t, c.GPUs, d.GPUs, 1e-12)
						require.LessOrEqual(t, d.GPUs, 1.0, "no policy adds a GPU to a one-GPU pod")
						if d.NeedMemory > 0 && d.Allocation.Kind != gpushape.KindWhole {
							require.GreaterOrEqual(t, d.Memory, d.NeedMemory, "a shape below its own requirement: %s", d.Reason)
						}
						if s.Policy == "kruize" && !d.Warmup {
							require.True(t, kruize[d.Allocation.Profile], d.Allocation.String())
						}
					}
					if s.Policy != "cost" && s.Policy != "balanced" && s.Policy != "performance" {
						require.Empty(t, ws.Reactions, "%s does not react to overflows", s.Policy)
					}
					// Re-score the window from the trace, each sample under
					// the decision in force: the window's, then each
					// reaction's from the sample after its overflow.
					for next < len(pod.Samples) && pod.Samples[next].Time.Before(ws.Start) {
						next++
					}
					n, over, r := 0, 0, 0
					d := ws.Decision
					for ; next < len(pod.Samples) && pod.Samples[next].Time.Before(ws.Start.Add(res.Interval)); next++ {
						x := pod.Samples[next]
						h := durs[next].Hours()
						hours += h
						gpuHours += d.GPUs * h
						gib += d.Memory.GiB() * h
						if x.HasMemory() && x.Memory > d.Memory {
							over++
							if r < len(ws.Reactions) {
								require.Equal(t, x.Time, ws.Reactions[r].At, "a reaction at each overflow")
								require.Greater(t, ws.Reactions[r].Decision.Memory, d.Memory, "a reaction steps up: %s", ws.Reactions[r].Decision.Reason)
								d = ws.Reactions[r].Decision
								r++
							}
						}
						n++
					}
					require.Equal(t, len(ws.Reactions), r, "every reaction follows an overflow")
					require.Equal(t, ws.Samples, n)
					require.Equal(t, ws.Overflows, over)
					require.Equal(t, ws.Final(), d)
					overflows += over
					reactions += r
				}
				eq += p.GPUEquivalents
				warm = append(warm, w)
			}
			require.InDelta(t, res.PodHours, hours, 1e-6, "every sample scored once")
			require.InDelta(t, s.GPUHours, gpuHours, 1e-6)
			require.InDelta(t, s.MemGiBHours, gib, 1e-6)
			require.InDelta(t, s.GPUEquivalents, eq, 1e-9)
			require.Equal(t, s.MemOverflowEvents, overflows)
			require.Equal(t, s.Reactions, reactions)
			require.Equal(t, s.Reshapes, reshapes)
			if s.Policy == "whole-gpu" {
				require.Zero(t, reshapes, "whole-gpu never changes a pod's shape")
			}
			if s.Policy == "cost" {
				require.Positive(t, reactions, "these pods overflow a cost shape")
			}
			require.Positive(t, s.GPUEquivalents)
			require.LessOrEqual(t, s.GPUEquivalents, 12+1e-9)
			for _, l := range s.Layouts {
				require.LessOrEqual(t, l.GPUs, l.Pods, "no packing needs more GPUs than pods")
				if l.Pods > 0 {
					require.Positive(t, l.GPUs)
				}
			}
			if s.Policy == "whole-gpu" {
				require.InDelta(t, 12, s.GPUEquivalents, 1e-9, "one GPU per pod")
				require.Zero(t, s.MemOverflowEvents, "no pod outgrows its GPU")
				require.InDelta(t, s.ConcurrentGPUs, s.LayoutGPUs, 1e-9)
				for _, l := range s.Layouts {
					require.Equal(t, l.Pods, l.GPUs)
				}
			} else {
				require.Less(t, s.GPUEquivalents, 12.0, "%s saves nothing", s.Policy)
			}
		})
	}
	// Warm-up is the harness's, not a policy's: the same windows for all.
	n := len(res.Scores[0].PodScores)
	for i := 1; i < len(res.Scores); i++ {
		require.True(t, slices.EqualFunc(warm[:n], warm[i*n:(i+1)*n], slices.Equal[[]bool]), res.Scores[i].Policy)
	}
}

// TestRealTraceTarget checks the target on the whole GenAI trace
// and on each half of its pods (Trace.Split: the profiles' memory risks
// were chosen on the even half, so the odd half is a hold-out): balanced
// reserves fewer GPUs than kruize with no more overflows; the profiles
// keep their order, cost ≤ balanced ≤ performance in GPUs and the reverse
// in failed decisions; and each profile fails no more decisions than
// with the flat memory rule while reserving fewer GPUs.
func TestRealTraceTarget(t *testing.T) {
	t.Parallel()
	tr, err := Load(realdata.Dir(t, "alibaba-genai-2026"))
	require.NoError(t, err)
	pols := append(Policies(), renamed(flatPolicies()[2:], "flat ")...)
	for _, part := range []struct {
		name string
		tr   Trace
	}{{"all", tr}, {"even", tr.Split(0, 2)}, {"odd", tr.Split(1, 2)}} {
		t.Run(part.name, func(t *testing.T) {
			t.Parallel()
			res, err := Run(t.Context(), part.tr, pols, Options{})
			require.NoError(t, err)
			score := func(name string) Score {
				s, ok := res.Score(name)
				require.True(t, ok, name)
				return s
			}
			k, c, b, p := score("kruize"), score("cost"), score("balanced"), score("performance")
			require.Less(t, b.GPUEquivalents, k.GPUEquivalents)
			require.LessOrEqual(t, b.MemOverflowEvents, k.MemOverflowEvents)
			require.Less(t, c.GPUEquivalents, b.GPUEquivalents)
			require.Less(t, b.GPUEquivalents, p.GPUEquivalents)
			require.GreaterOrEqual(t, c.MemOverflowPodHours, b.MemOverflowPodHours)
			require.GreaterOrEqual(t, b.MemOverflowPodHours, p.MemOverflowPodHours)
			for _, s := range []Score{c, b, p} {
				f := score("flat " + s.Policy)
				require.Less(t, s.GPUEquivalents, f.GPUEquivalents, s.Policy)
				require.LessOrEqual(t, s.MemOverflowPodHours, f.MemOverflowPodHours, s.Policy)
			}
		})
	}
}

// renamed returns rightsizer policies under prefixed names.
func renamed(ps []Policy, prefix string) []Policy {
	out := make([]Policy, len(ps))
	for i, p := range ps {
		r := p.(Rightsizer)
		r.Policy.Name = prefix + r.Policy.Name
		out[i] = r
	}
	return out
}
