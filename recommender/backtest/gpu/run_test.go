package gpu

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/gpushape"
)

// Memory of the shapes the synthetic traces get, in GiB: H100-80GB's
// 1g.10gb (9,856 MiB), 1g.20gb (19,968 MiB) and the test device.
const (
	mem1g10 = 9856.0 / 1024
	mem1g20 = 19968.0 / 1024
	memGPU  = 80.0
)

// want is the part of a Score a synthetic case pins.
type want struct {
	eq, layout, concurrent, gibHours float64
	overflows, overflowPodHours      int
	shapes                           []string // per window of the pod named in the case's shapesOf
}

// TestRunKnownAnswers walks hand-made traces, one sample a minute for three
// hours (windows [0, 1h), [1h, 2h), [2h, 3h)), whose every decision can be
// worked out by hand from gpushape's flat memory rule (flatPolicies) and
// Kruize's, with no reactions within a window (TestRunReacts and
// TestRunMemoryRisk cover those):
//
//   - 8 GiB at 10 % busy: cost needs 8 GiB + 5 % and P60 0.1 + 10 % =
//     0.11 GPUs, balanced 8 GiB + 15 % and 0.11: both a 1g.10gb (9.625 GiB,
//     16/132 SMs, 1/7 GPU); performance 8 + 2 GiB: a 1g.20gb (19.5 GiB,
//     1/4 GPU). Kruize: P98 of 15-minute peaks, 0.1 busy and 8/80 of the
//     memory, fits 1g.10gb's 1/7 and 1/8.
//   - Growing to 12 GiB at minute 90: the 1g.10gb shapes overflow for the
//     30 samples of [90, 120); at 2 h cost and balanced see the peak (and
//     the cap: 12 GiB is above 95 % of 9.625) and Kruize a P98 of 12/80:
//     all take a 1g.20gb.
//
// The first window is the warm-up: one whole GPU for everyone.
func TestRunKnownAnswers(t *testing.T) {
	t.Parallel()
	small := 1.0/7 + 1.0/7              // a pod's GPU-hours in 1g.10gb after warm-up
	grown := 1.0/7 + 1.0/4              // 1g.10gb, then 1g.20gb
	smallGiB := mem1g10 + mem1g10       // its GiB-hours after warm-up
	grownGiB := mem1g10 + mem1g20       // same, growing
	perfGiB := 2 * (memGPU + 2*mem1g20) // two pods in 1g.20gb after warm-up
	const h2 = 61.0 / 60                // hours observed after a 1-hour gap
	tests := []struct {
		name     string
		pods     []Pod
		shapesOf string
		want     map[string]want
	}{
		{
			name:     "steady and growing",
			pods:     []Pod{series("grows", 0, 180, grows), series("steady", 0, 180, steady)},
			shapesOf: "grows",
			want: map[string]want{
				"whole-gpu":   {eq: 2, layout: 2, concurrent: 2, gibHours: 6 * memGPU, shapes: []string{"warm-up", "1 × GPU", "1 × GPU"}},
				"kruize":      {eq: (1+small)/3 + (1+grown)/3, layout: 4.0 / 3, concurrent: (2 + 2.0/7 + grown) / 3, gibHours: 2*memGPU + smallGiB + grownGiB, overflows: 30, overflowPodHours: 1, shapes: []string{"warm-up", "mig 1g.10gb", "mig 1g.20gb"}},
				"cost":        {eq: (1+small)/3 + (1+grown)/3, layout: 4.0 / 3, concurrent: (2 + 2.0/7 + grown) / 3, gibHours: 2*memGPU + smallGiB + grownGiB, overflows: 30, overflowPodHours: 1, shapes: []string{"warm-up", "mig 1g.10gb", "mig 1g.20gb"}},
				"balanced":    {eq: (1+small)/3 + (1+grown)/3, layout: 4.0 / 3, concurrent: (2 + 2.0/7 + grown) / 3, gibHours: 2*memGPU + smallGiB + grownGiB, overflows: 30, overflowPodHours: 1, shapes: []string{"warm-up", "mig 1g.10gb", "mig 1g.20gb"}},
				"performance": {eq: 1, layout: 4.0 / 3, concurrent: 1, gibHours: perfGiB, shapes: []string{"warm-up", "mig 1g.20gb", "mig 1g.20gb"}},
			},
		},
		{
			// A pod that starts at 1.5 h has 30 minutes of history at 2 h:
			// it stays on the warm-up's whole GPU under every policy.
			name:     "late pod stays in warm-up",
			pods:     []Pod{series("late", 90, 180, steady), series("steady", 0, 180, steady)},
			shapesOf: "late",
			want: map[string]want{
				"whole-gpu":   {eq: 2, layout: 5.0 / 3, concurrent: 5.0 / 3, gibHours: 3*memGPU + 1.5*memGPU, shapes: []string{"warm-up", "warm-up"}},
				"kruize":      {eq: 1 + (1+small)/3, layout: 5.0 / 3, concurrent: (1 + 1 + 1.0/7 + 1 + 1.0/7) / 3, gibHours: memGPU + smallGiB + 1.5*memGPU, shapes: []string{"warm-up", "warm-up"}},
				"cost":        {eq: 1 + (1+small)/3, layout: 5.0 / 3, concurrent: (1 + 1 + 1.0/7 + 1 + 1.0/7) / 3, gibHours: memGPU + smallGiB + 1.5*memGPU, shapes: []string{"warm-up", "warm-up"}},
				"balanced":    {eq: 1 + (1+small)/3, layout: 5.0 / 3, concurrent: (1 + 1 + 1.0/7 + 1 + 1.0/7) / 3, gibHours: memGPU + smallGiB + 1.5*memGPU, shapes: []string{"warm-up", "warm-up"}},
				"performance": {eq: 1 + 0.5, layout: 5.0 / 3, concurrent: (1 + 1.25 + 1.25) / 3, gibHours: memGPU + 2*mem1g20 + 1.5*memGPU, shapes: []string{"warm-up", "warm-up"}},
			},
		},
		{
			// No samples in [1h, 2h): no decision there, and the window
			// weighs nothing in layout_gpus; at 2 h the pod is decided from
			// its first hour, from the whole GPU it still holds. The first
			// sample after the gap stands for two steps (the cap), so the
			// last window is observed for 61 minutes.
			name:     "gap keeps the allocation",
			pods:     []Pod{{Name: "gappy", Samples: append(series("a", 0, 60, steady).Samples, series("b", 120, 180, steady).Samples...)}},
			shapesOf: "gappy",
			want: map[string]want{
				"whole-gpu":   {eq: 1, layout: 1, concurrent: 1, gibHours: (1 + h2) * memGPU, shapes: []string{"warm-up", "1 × GPU"}},
				"kruize":      {eq: (1 + h2/7) / (1 + h2), layout: 1, concurrent: (1 + h2/7) / (1 + h2), gibHours: memGPU + h2*mem1g10, shapes: []string{"warm-up", "mig 1g.10gb"}},
				"cost":        {eq: (1 + h2/7) / (1 + h2), layout: 1, concurrent: (1 + h2/7) / (1 + h2), gibHours: memGPU + h2*mem1g10, shapes: []string{"warm-up", "mig 1g.10gb"}},
				"balanced":    {eq: (1 + h2/7) / (1 + h2), layout: 1, concurrent: (1 + h2/7) / (1 + h2), gibHours: memGPU + h2*mem1g10, shapes: []string{"warm-up", "mig 1g.10gb"}},
				"performance": {eq: (1 + h2/4) / (1 + h2), layout: 1, concurrent: (1 + h2/4) / (1 + h2), gibHours: memGPU + h2*mem1g20, shapes: []string{"warm-up", "mig 1g.20gb"}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := Run(t.Context(), Trace{Name: tc.name, Pods: tc.pods}, flatPolicies(), Options{Device: testDevice(t), NoReactions: true})
			require.NoError(t, err)
			require.Equal(t, len(tc.pods), res.Pods)
			require.Equal(t, testStep, res.Step)
			require.Equal(t, 3, res.Windows)
			require.Len(t, res.Scores, len(tc.want))
			for _, s := range res.Scores {
				w, ok := tc.want[s.Policy]
				require.True(t, ok, s.Policy)
				require.InDelta(t, w.eq, s.GPUEquivalents, 1e-9, "%s gpu_equivalents", s.Policy)
				require.InDelta(t, w.layout, s.LayoutGPUs, 1e-9, "%s layout_gpus", s.Policy)
				require.InDelta(t, w.concurrent, s.ConcurrentGPUs, 1e-9, "%s concurrent_gpus", s.Policy)
				require.InDelta(t, w.gibHours, s.MemGiBHours, 1e-6, "%s mem_gib_hours", s.Policy)
				require.Equal(t, w.overflows, s.MemOverflowEvents, "%s mem_overflow_events", s.Policy)
				require.Equal(t, w.overflowPodHours, s.MemOverflowPodHours, "%s mem_overflow_pod_hours", s.Policy)
				require.InDelta(t, s.GPUHours, s.CostUSD, 1e-9, "%s at $1 per GPU-hour", s.Policy)
				var shapes []string
				for _, p := range s.PodScores {
					if p.Pod != tc.shapesOf {
						continue
					}
					for _, ws := range p.Windows {
						k := ws.Decision.Allocation.String()
						if ws.Decision.Warmup {
							k = "warm-up"
						}
						shapes = append(shapes, k)
					}
				}
				require.Equal(t, w.shapes, shapes, s.Policy)
			}
		})
	}
}

// TestRunIsCausal changes everything after 2 h and checks that no decision
// made at or before 2 h moves: policies see only the past.
func TestRunIsCausal(t *testing.T) {
	t.Parallel()
	base := []Pod{series("grows", 0, 240, grows), series("steady", 0, 240, steady)}
	wild := func(i int) (float64, float64) {
		if i >= 120 {
			return 0.95, 70
		}
		return grows(i)
	}
	changed := []Pod{series("grows", 0, 240, wild), series("steady", 0, 240, steady)}
	opts := Options{Device: testDevice(t)}
	a, err := Run(t.Context(), Trace{Pods: base}, Policies(), opts)
	require.NoError(t, err)
	b, err := Run(t.Context(), Trace{Pods: changed}, Policies(), opts)
	require.NoError(t, err)
	for i := range a.Scores {
		for j := range a.Scores[i].PodScores {
			wa, wb := a.Scores[i].PodScores[j].Windows, b.Scores[i].PodScores[j].Windows
			require.Len(t, wb, len(wa))
			for k := range wa {
				if wa[k].Start.After(t0.Add(2 * time.Hour)) {
					continue
				}
				require.Equal(t, wa[k].Decision, wb[k].Decision, "%s %s at %v", a.Scores[i].Policy, wa[k].Start, a.Scores[i].PodScores[j].Pod)
			}
		}
	}
	// The change itself is seen: the 70 GiB samples overflow every shape
	// decided before them but the whole GPU.
	for _, s := range b.Scores {
		if s.Policy != "whole-gpu" {
			require.Positive(t, s.MemOverflowEvents, s.Policy)
		}
	}
}

// TestRunFeedsBackTheAllocation checks that each decision gets the previous
// one as its current allocation, one whole GPU at first.
func TestRunFeedsBackTheAllocation(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	_, err := Run(t.Context(), Trace{Pods: []Pod{series("p", 0, 240, steady)}}, []Policy{rec}, Options{Device: testDevice(t)})
	require.NoError(t, err)
	require.Equal(t, []gpushape.Allocation{
		oneGPU,
		{Kind: gpushape.KindMIG, Profile: "1g.10gb"},
		{Kind: gpushape.KindMIG, Profile: "2g.20gb"},
	}, rec.current)
	require.Equal(t, []int{60, 120, 180}, rec.history)
}

// recorder is a Policy that cycles through shapes and records what it is
// given. Not safe for concurrent use: give it one pod.
type recorder struct {
	current []gpushape.Allocation
	history []int
}

func (*recorder) Name() string { return "recorder" }

func (r *recorder) Decide(in Input) (Decision, error) {
	r.current = append(r.current, in.Current)
	r.history = append(r.history, len(in.Samples))
	next := []string{"1g.10gb", "2g.20gb", "3g.40gb"}[len(r.current)-1]
	return decisionOf(in.Device, gpushape.Allocation{Kind: gpushape.KindMIG, Profile: next}, "")
}

// TestRunErrors checks the inputs Run refuses.
func TestRunErrors(t *testing.T) {
	t.Parallel()
	ok := Trace{Pods: []Pod{series("p", 0, 180, steady)}}
	dev := testDevice(t)
	bad := badPolicy{}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		trace  Trace
		pols   []Policy
		opts   Options
		target error
	}{
		{name: "no pods", trace: Trace{}, opts: Options{Device: dev}},
		{name: "samples out of order", trace: Trace{Pods: []Pod{{Name: "p", Samples: []Sample{both(2, 0, 1), both(1, 0, 1)}}}}, opts: Options{Device: dev}},
		{name: "repeated pod", trace: Trace{Pods: []Pod{series("p", 0, 2, steady), series("p", 0, 2, steady)}}, opts: Options{Device: dev}},
		{name: "negative warm-up", trace: ok, opts: Options{Device: dev, Warmup: -time.Hour}},
		{name: "policy twice", trace: ok, pols: []Policy{WholeGPU{}, WholeGPU{}}, opts: Options{Device: dev}},
		{name: "invalid decision", trace: ok, pols: []Policy{bad}, opts: Options{Device: dev}, target: errBadDecision},
		{name: "kruize without an interval", trace: ok, pols: []Policy{Kruize{Percentile: 98}}, opts: Options{Device: dev}, target: gpushape.ErrInvalidInput},
		{name: "canceled", ctx: canceled, trace: ok, pols: Policies(), opts: Options{Device: dev}, target: context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := tc.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			pols := tc.pols
			if pols == nil {
				pols = Policies()
			}
			_, err := Run(ctx, tc.trace, pols, tc.opts)
			require.Error(t, err)
			if tc.target != nil {
				require.True(t, errors.Is(err, tc.target), "%v", err)
			}
		})
	}
}

// badPolicy returns a shape with no memory.
type badPolicy struct{}

func (badPolicy) Name() string { return "bad" }

func (badPolicy) Decide(Input) (Decision, error) {
	return Decision{Allocation: oneGPU, GPUs: 1}, nil
}

// TestDefaultDevice pins the GPU the GenAI trace is scored on.
func TestDefaultDevice(t *testing.T) {
	t.Parallel()
	d, err := DefaultDevice()
	require.NoError(t, err)
	require.Equal(t, "H100-80GB", d.Model.Name)
	require.Equal(t, 80*recommender.GiB, d.MemoryBytes())
	require.Positive(t, d.PricePerHour)
}

// TestRunReacts walks a pod at 8 GiB that grows to 12 GiB at minute 150,
// past the 1g.10gb (9.625 GiB) that the flat cost rule gives it at 1 h
// and 2 h (8 GiB + 5 %). Cost reacts at the overflow: it sees the sample
// censored at 9.625 GiB, which is its cap, and steps up to 1g.20gb (the
// cap + 5 % = 10.1 GiB) for the rest of the window; at 3 h it keeps it.
// Without reactions, and under Kruize (which never reacts), the pod
// overflows for the 30 minutes to the next decision point.
func TestRunReacts(t *testing.T) {
	t.Parallel()
	pod := series("grows", 0, 240, func(i int) (float64, float64) {
		if i >= 150 {
			return 0.10, 12
		}
		return 0.10, 8
	})
	cost := flatPolicies()[2]
	require.Equal(t, "cost", cost.Name())
	g10, g20 := gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.10gb"}, gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.20gb"}
	tests := []struct {
		name        string
		policy      Policy
		noReactions bool
		overflows   int
		reactions   []Reaction // of the window at 2 h, decisions by allocation only
		gpuHours    float64
		shapeHours  map[string]float64
	}{
		{
			name: "cost reacts", policy: cost, overflows: 1,
			reactions: []Reaction{{At: t0.Add(150 * time.Minute), Decision: Decision{Allocation: g20}}},
			// Warm-up, 1g.10gb to minute 150 (its overflow included), then
			// 1g.20gb.
			gpuHours:   1 + (60+31)/60.0/7 + (29+60)/60.0/4,
			shapeHours: map[string]float64{"warm-up": 1, "mig 1g.10gb": 91.0 / 60, "mig 1g.20gb": 89.0 / 60},
		},
		{
			name: "cost without reactions", policy: cost, noReactions: true, overflows: 30,
			gpuHours:   1 + 2.0/7 + 1.0/4,
			shapeHours: map[string]float64{"warm-up": 1, "mig 1g.10gb": 2, "mig 1g.20gb": 1},
		},
		{
			name: "kruize does not react", policy: NewKruize(), overflows: 30,
			gpuHours:   1 + 2.0/7 + 1.0/4,
			shapeHours: map[string]float64{"warm-up": 1, "mig 1g.10gb": 2, "mig 1g.20gb": 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := Run(t.Context(), Trace{Pods: []Pod{pod}}, []Policy{tc.policy}, Options{Device: testDevice(t), NoReactions: tc.noReactions})
			require.NoError(t, err)
			s := res.Scores[0]
			require.Equal(t, tc.overflows, s.MemOverflowEvents)
			require.Equal(t, 1, s.MemOverflowPodHours)
			require.Equal(t, len(tc.reactions), s.Reactions)
			require.InDelta(t, tc.gpuHours, s.GPUHours, 1e-9)
			require.InDelta(t, tc.gpuHours/4, s.GPUEquivalents, 1e-9)
			require.Len(t, s.ShapePodHours, len(tc.shapeHours))
			for k, v := range tc.shapeHours {
				require.InDelta(t, v, s.ShapePodHours[k], 1e-9, k)
			}
			ws := s.PodScores[0].Windows
			require.Len(t, ws, 4)
			require.Equal(t, g10, ws[2].Decision.Allocation)
			require.Len(t, ws[2].Reactions, len(tc.reactions))
			for i, r := range tc.reactions {
				require.Equal(t, r.At, ws[2].Reactions[i].At)
				require.Equal(t, r.Decision.Allocation, ws[2].Reactions[i].Decision.Allocation)
				require.Contains(t, ws[2].Reactions[i].Decision.Reason, "capped", "the overflow shows at the cap")
			}
			// The window's layout holds the shape it ends with, and the
			// next decision starts from it.
			final, reserved := g10, 1.0/7
			if len(tc.reactions) > 0 {
				final, reserved = g20, 1.0/4
			}
			require.Equal(t, final, ws[2].Final().Allocation)
			require.Equal(t, 1, s.Layouts[2].GPUs)
			require.InDelta(t, reserved, s.Layouts[2].Reserved, 1e-12, "the final shape's GPUs")
			require.Equal(t, g20, ws[3].Decision.Allocation)
			if _, ok := tc.policy.(Rightsizer); ok {
				require.Equal(t, len(tc.reactions) > 0, strings.HasPrefix(ws[3].Decision.Reason, "keep mig 1g.20gb"), ws[3].Decision.Reason)
			}
		})
	}
}

// TestRunReactionInput checks what a reacting policy sees at an overflow:
// the samples up to it, its memory censored at the shape's, Now at it,
// the shape it overflowed as current; that it can react twice in a
// window; and that an overflow in warm-up, which no policy decides, gets
// no reaction.
func TestRunReactionInput(t *testing.T) {
	t.Parallel()
	pod := series("p", 0, 180, func(i int) (float64, float64) {
		switch i {
		case 30:
			return 0.1, 90 // above the test device's 80 GiB, in warm-up
		case 100:
			return 0.1, 12 // above 1g.10gb
		case 101:
			return 0.1, 25 // above 1g.20gb
		}
		return 0.1, 8
	})
	rec := &reactor{}
	res, err := Run(t.Context(), Trace{Pods: []Pod{pod}}, []Policy{rec}, Options{Device: testDevice(t)})
	require.NoError(t, err)
	s := res.Scores[0]
	require.Equal(t, 3, s.MemOverflowEvents, "one in warm-up, one per shape after")
	require.Equal(t, 2, s.Reactions)
	require.Len(t, rec.inputs, 4, "two decision points, two reactions")

	for i, want := range []struct {
		at      int // minute of the overflow
		current string
		memory  float64 // GiB seen at the overflow: the shape's
	}{{100, "1g.10gb", mem1g10}, {101, "1g.20gb", mem1g20}} {
		in := rec.inputs[1+i]
		require.True(t, in.Overflow)
		require.Equal(t, t0.Add(time.Duration(want.at)*time.Minute), in.Now)
		require.Len(t, in.Samples, want.at+1)
		require.Len(t, in.Durations, want.at+1)
		require.Equal(t, want.current, in.Current.Profile)
		require.InDelta(t, want.memory, in.Samples[want.at].Memory.GiB(), 1e-9, "censored at the shape")
		require.Equal(t, pod.Samples[want.at].Compute, in.Samples[want.at].Compute)
	}
	require.InDelta(t, 12.0, pod.Samples[100].Memory.GiB(), 1e-9, "the trace is not written to")
	require.False(t, rec.inputs[3].Overflow)
	require.Equal(t, "3g.40gb", rec.inputs[3].Current.Profile, "the next window starts from the last reaction")
}

// reactor is an OOMReactor that takes 1g.10gb at decision points and one
// size up at each overflow, and records its inputs. Not safe for
// concurrent use: give it one pod.
type reactor struct{ inputs []Input }

func (*reactor) Name() string      { return "reactor" }
func (*reactor) ReactsToOOM() bool { return true }

func (r *reactor) Decide(in Input) (Decision, error) {
	r.inputs = append(r.inputs, in)
	next := "1g.10gb"
	if in.Overflow {
		next = map[string]string{"1g.10gb": "1g.20gb", "1g.20gb": "3g.40gb"}[in.Current.Profile]
	}
	return decisionOf(in.Device, gpushape.Allocation{Kind: gpushape.KindMIG, Profile: next}, "")
}
