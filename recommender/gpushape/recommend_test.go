package gpushape_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rightsizer/rightsizer/gpu/mig"
	"github.com/rightsizer/rightsizer/nodeplan/catalog"
	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/gpushape"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const gib = recommender.GiB

// device builds a Device for a model from the embedded catalog (memory and
// price per GPU-hour) and package mig (geometry; none for GPUs without
// MIG), as a caller would.
func device(t testing.TB, model string) gpushape.Device {
	t.Helper()
	g, ok := catalog.AWSUSEast1().GPU(model)
	require.True(t, ok, "%s not in the catalog", model)
	d := gpushape.Device{Model: mig.Model{Name: model}, Memory: g.Memory, PricePerHour: g.PricePerHour}
	for _, m := range mig.Models() {
		if m.Name == model {
			d.Model = m
		}
	}
	return d
}

func policy(t testing.TB, name string) gpushape.Policy {
	t.Helper()
	p, err := gpushape.PolicyFor(name)
	require.NoError(t, err)
	return p
}

// compute is a usage distribution in GPUs: P50, P90, P99 and the max.
func compute(p50, p90, p99, maxv recommender.GPUCompute) ([]gpushape.Quantile, recommender.GPUCompute) {
	return []gpushape.Quantile{{Q: 0.5, Value: p50}, {Q: 0.9, Value: p90}, {Q: 0.99, Value: p99}}, maxv
}

func usage(mem recommender.Bytes, p50, p90, p99, maxv recommender.GPUCompute) gpushape.Usage {
	q, m := compute(p50, p90, p99, maxv)
	return gpushape.Usage{MemoryMax: mem, Compute: q, ComputeMax: m, Hours: 168}
}

var (
	oneGPU  = gpushape.Allocation{Kind: gpushape.KindWhole, Count: 1}
	twoGPUs = gpushape.Allocation{Kind: gpushape.KindWhole, Count: 2}
	mig4g   = gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "4g.40gb"}
)

// h100Month is one H100's month: 6.88 $/h (p5.4xlarge) × 730 h.
const h100Month = 6.88 * 730

// TestRecommend pins the shape, flags, saving and reason of typical
// containers. Prices come from the embedded catalog.
func TestRecommend(t *testing.T) {
	t.Parallel()
	type want struct {
		alloc  gpushape.Allocation
		flags  gpushape.Flags
		saving float64
		reason string
	}
	for _, tc := range []struct {
		name    string
		model   string
		policy  string
		tweak   func(*gpushape.Policy) // changes to the named policy
		current gpushape.Allocation
		usage   gpushape.Usage
		want    want
	}{
		{
			// The example: an 80 GB H100 at 12 % with 9 GiB used.
			// cost: 9 GiB + 5 % = 9.45 GiB fits 1g.10gb's 9.62 GiB, and
			// its P60 compute (0.09 GPUs + 10 %, 13 SMs) its 16 SMs.
			name: "h100 at 12% with 9GiB, cost: 1g.10gb", model: "H100-80GB", policy: recommender.ProfileCost,
			current: oneGPU, usage: usage(9*gib, 0.08, 0.12, 0.15, 0.3),
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.10gb"},
				saving: 4304.91, // 6/7 of h100Month
				reason: "1 × GPU → mig 1g.10gb (9.63Gi, 16 SMs): needs 9.46Gi GPU memory (peak 9Gi + max(5%, 256Mi)) and 0.099 GPUs (P60 0.09 GPUs + 10%); saves $4304.91/month"},
		},
		{
			// balanced: 9 GiB + 15 % = 10.35 GiB needs the 2-slot 1g
			// (19.5 GiB); its 26 SMs hold P90 0.12 + 10 % (17.4 SMs).
			name: "h100 at 12% with 9GiB, balanced: 1g.20gb", model: "H100-80GB", policy: recommender.ProfileBalanced,
			current: oneGPU, usage: usage(9*gib, 0.08, 0.12, 0.15, 0.3),
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.20gb"},
				saving: 3766.80, // 3/4 of h100Month
				reason: "1 × GPU → mig 1g.20gb (19.5Gi, 26 SMs): needs 10.36Gi GPU memory (peak 9Gi + max(15%, 1Gi)) and 0.132 GPUs (P90 0.12 GPUs + 10%); saves $3766.80/month"},
		},
		{
			// The same memory with P90 compute 0.2 GPUs (+10 % = 29 SMs)
			// outgrows 1g.20gb's 26 SMs: 2g.20gb's 32.
			name: "h100 with 9GiB at 20%, balanced: 2g.20gb", model: "H100-80GB", policy: recommender.ProfileBalanced,
			current: oneGPU, usage: usage(9*gib, 0.1, 0.2, 0.25, 0.4),
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "2g.20gb"},
				saving: 3587.43, // 5/7 of h100Month
				reason: "1 × GPU → mig 2g.20gb (19.5Gi, 32 SMs): needs 10.36Gi GPU memory (peak 9Gi + max(15%, 1Gi)) and 0.22 GPUs (P90 0.2 GPUs + 10%); saves $3587.43/month"},
		},
		{
			// 70 GiB + 15 % is more than the GPU holds: keep it, never
			// more GPUs than the workload runs on.
			name: "70GiB keeps the whole GPU", model: "H100-80GB", policy: recommender.ProfileBalanced,
			current: oneGPU, usage: usage(70*gib, 0.3, 0.5, 0.7, 0.9),
			want: want{alloc: oneGPU,
				reason: "keep 1 × GPU: needs 80.5Gi GPU memory (peak 70Gi + max(15%, 1Gi)) and 0.55 GPUs (P90 0.5 GPUs + 10%); needs more than its 1 GPU(s) hold; 1 recommended (more help only if the workload shards across GPUs)"},
		},
		{
			// 70 GiB + 5 % fits the GPU but no MIG profile or share.
			name: "70GiB, cost: whole GPU", model: "H100-80GB", policy: recommender.ProfileCost,
			current: oneGPU, usage: usage(70*gib, 0.3, 0.5, 0.7, 0.9),
			want: want{alloc: oneGPU,
				reason: "keep 1 × GPU: needs 73.5Gi GPU memory (peak 70Gi + max(5%, 256Mi)) and 0.385 GPUs (P60 0.35 GPUs + 10%)"},
		},
		{
			// Two GPUs at 30 % each (0.6 GPUs) with 30 GiB in all: one
			// GPU holds it; 4g.40gb's 64 SMs (0.48 GPUs) do not.
			name: "two GPUs at 30% become one", model: "H100-80GB", policy: recommender.ProfileBalanced,
			current: twoGPUs, usage: usage(30*gib, 0.5, 0.6, 0.65, 0.8),
			want: want{alloc: oneGPU, saving: 5022.40,
				reason: "fewer GPUs: 2 × GPU → 1 × GPU: needs 34.5Gi GPU memory (peak 30Gi + max(15%, 1Gi)) and 0.66 GPUs (P90 0.6 GPUs + 10%); saves $5022.40/month"},
		},
		{
			// Two GPUs busy 1.6 GPUs: both stay.
			name: "two busy GPUs stay", model: "H100-80GB", policy: recommender.ProfileBalanced,
			current: twoGPUs, usage: usage(100*gib, 1.2, 1.5, 1.7, 1.9),
			want: want{alloc: twoGPUs,
				reason: "keep 2 × GPU: needs 115Gi GPU memory (peak 100Gi + max(15%, 1Gi)) and 1.65 GPUs (P90 1.5 GPUs + 10%)"},
		},
		{
			// On 1g.10gb (16 SMs = 0.121 GPUs) its P60 compute reads
			// 0.119: 98 % of the slice, censored. One size up by SMs is
			// 1g.20gb (26 SMs), flagged, at a cost.
			name: "slice pinned at its compute cap steps up", model: "H100-80GB", policy: recommender.ProfileCost,
			current: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.10gb"},
			usage:   usage(4*gib, 0.118, 0.121, 0.121, 0.121),
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.20gb"}, flags: gpushape.FlagCapped,
				saving: -538.11, // (1/7 − 1/4) of h100Month
				reason: "mig 1g.10gb → mig 1g.20gb (19.5Gi, 26 SMs): needs 4.25Gi GPU memory (peak 4Gi + max(5%, 256Mi)) and 0.131 GPUs (P60 0.119 GPUs + 10%); capped: P60 compute 0.119 GPUs is 98% of its 0.121 GPUs; usage is censored, one size up; costs $538.11/month more"},
		},
		{
			// 9.5 GiB on 1g.10gb (9.62 GiB) is 98.7 % of it: demand is at
			// least the cap, so memory is sized from the cap, 9.62 GiB +
			// 5 %: 1g.20gb.
			name: "slice pinned at its memory cap steps up", model: "H100-80GB", policy: recommender.ProfileCost,
			current: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.10gb"},
			usage:   usage(9728*recommender.MiB, 0.02, 0.05, 0.08, 0.1),
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.20gb"}, flags: gpushape.FlagCapped,
				saving: -538.11,
				reason: "mig 1g.10gb → mig 1g.20gb (19.5Gi, 26 SMs): needs 10.11Gi GPU memory (peak 9.5Gi + max(5%, 256Mi)) and 0.03 GPUs (P60 0.028 GPUs + 10%); capped: memory peak 9.5Gi is 98.7% of its 9.63Gi; usage is censored, one size up (memory: its cap + max(5%, 256Mi)); costs $538.11/month more"},
		},
		{
			// Without compute headroom, censoring alone decides: P60
			// 0.118 GPUs fits 1g.10gb's 0.121, but sits at 97 % of it.
			name: "censoring alone steps up", model: "H100-80GB", policy: recommender.ProfileCost,
			tweak:   func(p *gpushape.Policy) { p.ComputeHeadroom = 0 },
			current: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.10gb"},
			usage:   usage(4*gib, 0.118, 0.118, 0.12, 0.121),
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.20gb"}, flags: gpushape.FlagCapped, saving: -538.11,
				reason: "mig 1g.10gb → mig 1g.20gb (19.5Gi, 26 SMs): needs 4.25Gi GPU memory (peak 4Gi + max(5%, 256Mi)) and 0.121 GPUs (P60 0.118 GPUs + 0%); capped: P60 compute 0.118 GPUs is 97.3% of its 0.121 GPUs; usage is censored, one size up; costs $538.11/month more"},
		},
		{
			// … and at 91 % of the slice it is not censored: kept.
			name: "below the cap the slice is kept", model: "H100-80GB", policy: recommender.ProfileCost,
			tweak:   func(p *gpushape.Policy) { p.ComputeHeadroom = 0 },
			current: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.10gb"},
			usage:   usage(4*gib, 0.11, 0.11, 0.12, 0.121),
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.10gb"},
				reason: "keep mig 1g.10gb (9.63Gi, 16 SMs): needs 4.25Gi GPU memory (peak 4Gi + max(5%, 256Mi)) and 0.11 GPUs (P60 0.11 GPUs + 0%)"},
		},
		{
			// An MPS client at its memory limit (22888 MiB / 4): sized
			// from the limit + 1 GiB, the next share, 1/3.
			name: "MPS share at its memory limit steps up", model: "L4-24GB", policy: recommender.ProfileBalanced,
			current: gpushape.Allocation{Kind: gpushape.KindMPS, Replicas: 4},
			usage:   usage(5600*recommender.MiB, 0.05, 0.1, 0.15, 0.2),
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindMPS, Replicas: 3}, flags: gpushape.FlagCapped,
				saving: -48.96, // (1/4 − 1/3) × 0.8048 × 730
				reason: "mps 1/4 → mps 1/3 (7.46Gi limit, 0.333 GPUs): needs 6.59Gi GPU memory (peak 5.47Gi + max(15%, 1Gi)) and 0.11 GPUs (P90 0.1 GPUs + 10%); capped: memory peak 5.47Gi is 97.9% of its 5.59Gi; usage is censored, one size up (memory: its cap + max(15%, 1Gi)); no MIG on L4-24GB; MPS limits each client's memory and threads; costs $48.96/month more"},
		},
		{
			// A time-sliced replica that filled the GPU's memory: its cap
			// is the whole GPU, which it gets.
			name: "time-sliced share at the GPU's memory goes whole", model: "L4-24GB", policy: recommender.ProfileCost,
			current: gpushape.Allocation{Kind: gpushape.KindTimeSlice, Replicas: 4},
			usage:   usage(22*gib, 0.05, 0.1, 0.15, 0.2),
			want: want{alloc: oneGPU, flags: gpushape.FlagCapped, saving: -440.63,
				reason: "time-slicing 1/4 → 1 × GPU: needs 23.11Gi GPU memory (peak 22Gi + max(5%, 256Mi)) and 0.069 GPUs (P60 0.063 GPUs + 10%); capped: memory peak 22Gi is 98.4% of its 22.36Gi; usage is censored by the whole GPU it shares: a GPU of its own; costs $440.63/month more"},
		},
		{
			// 3g.40gb's memory full: sized from its cap, 39.25 GiB + 5 %,
			// which 4g.40gb (256 MiB more, a step that buys nothing)
			// does not hold: whole GPU.
			name: "3g.40gb at its memory cap goes whole", model: "H100-80GB", policy: recommender.ProfileCost,
			current: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "3g.40gb"},
			usage:   usage(39*gib, 0.2, 0.3, 0.35, 0.4),
			want: want{alloc: oneGPU, flags: gpushape.FlagCapped, saving: -2511.20,
				reason: "mig 3g.40gb → 1 × GPU: needs 41.22Gi GPU memory (peak 39Gi + max(5%, 256Mi)) and 0.248 GPUs (P60 0.225 GPUs + 10%); capped: memory peak 39Gi is 99.4% of its 39.25Gi; usage is censored, one size up (memory: its cap + max(5%, 256Mi)); costs $2511.20/month more"},
		},
		{
			// 37.5 GiB on 3g.40gb is 95.5 % of it: censored. One byte
			// past the cap would be 4g.40gb, 256 MiB more at 4/7 of a GPU;
			// demand is at least the cap, and the cap + 5 % needs the GPU.
			name: "3g.40gb near its memory cap skips 4g.40gb", model: "H100-80GB", policy: recommender.ProfileCost,
			current: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "3g.40gb"},
			usage:   usage(37*gib+gib/2, 0.2, 0.3, 0.35, 0.4),
			want: want{alloc: oneGPU, flags: gpushape.FlagCapped, saving: -2511.20,
				reason: "mig 3g.40gb → 1 × GPU: needs 41.22Gi GPU memory (peak 37.5Gi + max(5%, 256Mi)) and 0.248 GPUs (P60 0.225 GPUs + 10%); capped: memory peak 37.5Gi is 95.5% of its 39.25Gi; usage is censored, one size up (memory: its cap + max(5%, 256Mi)); costs $2511.20/month more"},
		},
		{
			// A whole GPU full of memory is censored too, but another GPU
			// helps only a sharded workload: kept, flagged.
			name: "whole GPU at its cap is kept and flagged", model: "H100-80GB", policy: recommender.ProfileBalanced,
			current: oneGPU, usage: usage(79*gib, 0.9, 0.99, 1, 1),
			want: want{alloc: oneGPU, flags: gpushape.FlagCapped,
				reason: "keep 1 × GPU: needs 90.86Gi GPU memory (peak 79Gi + max(15%, 1Gi)) and 1.089 GPUs (P90 0.99 GPUs + 10%); capped: memory peak 79Gi is 98.8% of its 80Gi, P90 compute 0.99 GPUs is 99% of its 1 GPUs; usage is censored, kept (another GPU helps only if the workload shards across GPUs)"},
		},
		{
			// Idle for 70 of 72 hours: flagged with what the GPU costs.
			name: "idle GPU flagged with its cost", model: "H100-80GB", policy: recommender.ProfileBalanced,
			current: oneGPU,
			usage: func() gpushape.Usage {
				u := usage(20*gib, 0, 0.01, 0.02, 0.3)
				u.Hours, u.IdleFraction = 72, 70.0/72
				return u
			}(),
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "3g.40gb"}, flags: gpushape.FlagIdle, saving: 2511.20,
				reason: "1 × GPU → mig 3g.40gb (39.25Gi, 60 SMs): needs 23Gi GPU memory (peak 20Gi + max(15%, 1Gi)) and 0.011 GPUs (P90 0.01 GPUs + 10%); idle 97.2% of 72h (compute under 5% of its allocation): 1 × GPU costs $5022.40/month; saves $2511.20/month"},
		},
		{
			// Idle, but for less than the policy's 48 hours: not flagged.
			name: "short idle not flagged", model: "H100-80GB", policy: recommender.ProfileBalanced,
			current: oneGPU,
			usage: func() gpushape.Usage {
				u := usage(20*gib, 0, 0.01, 0.02, 0.3)
				u.Hours, u.IdleFraction = 24, 1
				return u
			}(),
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "3g.40gb"}, saving: 2511.20,
				reason: "1 × GPU → mig 3g.40gb (39.25Gi, 60 SMs): needs 23Gi GPU memory (peak 20Gi + max(15%, 1Gi)) and 0.011 GPUs (P90 0.01 GPUs + 10%); saves $2511.20/month"},
		},
		{
			// L4 has no MIG: a steady workload gets an MPS share, the
			// smallest of up to 4 whose memory limit (22888 MiB / 4) holds
			// 4 GiB + 1 GiB.
			name: "no MIG on L4, steady: MPS", model: "L4-24GB", policy: recommender.ProfileBalanced,
			current: oneGPU, usage: usage(4*gib, 0.05, 0.1, 0.15, 0.2),
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindMPS, Replicas: 4}, saving: 440.63, // 3/4 × 0.8048 × 730
				reason: "1 × GPU → mps 1/4 (5.59Gi limit, 0.25 GPUs): needs 5Gi GPU memory (peak 4Gi + max(15%, 1Gi)) and 0.11 GPUs (P90 0.1 GPUs + 10%); no MIG on L4-24GB; MPS limits each client's memory and threads; saves $440.63/month"},
		},
		{
			// cost allows time-slicing: a workload that bursts to 0.6 GPUs
			// above its 1/5 share would be throttled by MPS.
			name: "no MIG on L4, bursty, cost: time-slicing", model: "L4-24GB", policy: recommender.ProfileCost,
			current: oneGPU, usage: usage(4*gib, 0.05, 0.1, 0.15, 0.6),
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindTimeSlice, Replicas: 5}, flags: gpushape.FlagUnisolated,
				saving: 470.00, // 4/5 × 0.8048 × 730
				reason: "1 × GPU → time-slicing 1/5 (4.48Gi budget, 0.2 GPUs when contended): needs 4.25Gi GPU memory (peak 4Gi + max(5%, 256Mi)) and 0.069 GPUs (P60 0.063 GPUs + 10%); no MIG on L4-24GB; bursts to 0.6 GPUs, which MPS would throttle; no memory isolation: co-tenants must keep to their share; saves $470.00/month"},
		},
		{
			// performance shares only through MIG: L4 stays whole.
			name: "no MIG on L4, performance: whole", model: "L4-24GB", policy: recommender.ProfilePerformance,
			current: oneGPU, usage: usage(4*gib, 0.05, 0.1, 0.15, 0.2),
			want: want{alloc: oneGPU,
				reason: "keep 1 × GPU: needs 6Gi GPU memory (peak 4Gi + max(25%, 2Gi)) and 0.173 GPUs (P98 0.144 GPUs + 20%)"},
		},
		{
			// A100-40GB from p4d.24xlarge: 21.957642 / 8 $/h.
			name: "a100-40gb 1g.5gb priced from p4d", model: "A100-40GB", policy: recommender.ProfileCost,
			current: oneGPU, usage: usage(3*gib, 0.02, 0.05, 0.08, 0.1),
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.5gb"},
				saving: 1717.40, // 6/7 × 2.74470525 × 730
				reason: "1 × GPU → mig 1g.5gb (4.75Gi, 14 SMs): needs 3.25Gi GPU memory (peak 3Gi + max(5%, 256Mi)) and 0.03 GPUs (P60 0.028 GPUs + 10%); saves $1717.40/month"},
		},
		{
			name: "no usage keeps the allocation", model: "H100-80GB", policy: recommender.ProfileBalanced,
			current: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "2g.20gb"}, usage: gpushape.Usage{},
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "2g.20gb"}, flags: gpushape.FlagNoUsage,
				reason: "no gpu usage seen: mig 2g.20gb kept"},
		},
		{
			// Stability: 34.5 GiB and 0.33 GPUs fit 3g.40gb (1/2 of the
			// GPU), which saves 12.5 % of the current 4g.40gb (4/7): under
			// balanced's 15 %, not worth a restart.
			name: "a small saving keeps the profile", model: "H100-80GB", policy: recommender.ProfileBalanced,
			current: mig4g, usage: usage(30*gib, 0.2, 0.3, 0.35, 0.4),
			want: want{alloc: mig4g,
				reason: "keep mig 4g.40gb (39.5Gi, 64 SMs): needs 34.5Gi GPU memory (peak 30Gi + max(15%, 1Gi)) and 0.33 GPUs (P90 0.3 GPUs + 10%); mig 3g.40gb would save under 15% of mig 4g.40gb, not worth a restart: kept"},
		},
		{
			name: "MinSaving 0 takes any saving", model: "H100-80GB", policy: recommender.ProfileBalanced,
			tweak:   func(p *gpushape.Policy) { p.MinSaving = 0 },
			current: mig4g, usage: usage(30*gib, 0.2, 0.3, 0.35, 0.4),
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "3g.40gb"}, saving: 358.74, // 1/14 of h100Month
				reason: "mig 4g.40gb → mig 3g.40gb (39.25Gi, 60 SMs): needs 34.5Gi GPU memory (peak 30Gi + max(15%, 1Gi)) and 0.33 GPUs (P90 0.3 GPUs + 10%); saves $358.74/month"},
		},
		{
			// A large saving (4/7 → 1/7 of the GPU) goes ahead.
			name: "a large saving reshapes", model: "H100-80GB", policy: recommender.ProfileBalanced,
			current: mig4g, usage: usage(5*gib, 0.05, 0.08, 0.1, 0.2),
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.10gb"}, saving: 2152.46,
				reason: "mig 4g.40gb → mig 1g.10gb (9.63Gi, 16 SMs): needs 6Gi GPU memory (peak 5Gi + max(15%, 1Gi)) and 0.088 GPUs (P90 0.08 GPUs + 10%); saves $2152.46/month"},
		},
		{
			// A current shape the policy does not allow is left, whatever
			// the saving: balanced has no time-slicing.
			name: "a disallowed share is left", model: "H100-80GB", policy: recommender.ProfileBalanced,
			current: gpushape.Allocation{Kind: gpushape.KindTimeSlice, Replicas: 2}, usage: usage(30*gib, 0.2, 0.3, 0.35, 0.4),
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "3g.40gb"},
				reason: "time-slicing 1/2 → mig 3g.40gb (39.25Gi, 60 SMs): needs 34.5Gi GPU memory (peak 30Gi + max(15%, 1Gi)) and 0.33 GPUs (P90 0.3 GPUs + 10%)"},
		},
		{
			// Compute not measured (no quantiles): memory alone sizes it.
			name: "memory only", model: "H100-80GB", policy: recommender.ProfileBalanced,
			current: oneGPU, usage: gpushape.Usage{MemoryMax: 30 * gib, Hours: 100},
			want: want{alloc: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "3g.40gb"}, saving: 2511.20,
				reason: "1 × GPU → mig 3g.40gb (39.25Gi, 60 SMs): needs 34.5Gi GPU memory (peak 30Gi + max(15%, 1Gi)), compute not measured; saves $2511.20/month"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := gpushape.Input{Usage: tc.usage, Current: tc.current, Device: device(t, tc.model)}
			p := policy(t, tc.policy)
			if tc.tweak != nil {
				tc.tweak(&p)
			}
			s, err := gpushape.Recommend(in, p)
			require.NoError(t, err)
			require.Equal(t, tc.want.alloc, s.Allocation(), s.Reason)
			require.Equal(t, tc.want.flags, s.Flags, s.Reason)
			require.InDelta(t, tc.want.saving, s.MonthlySavingUSD, 0.005, s.Reason)
			require.Equal(t, tc.want.reason, s.Reason)
			if tc.want.flags.Has(gpushape.FlagIdle) {
				require.InDelta(t, h100Month, s.IdleMonthlyCostUSD, 0.005)
			} else {
				require.Zero(t, s.IdleMonthlyCostUSD)
			}
		})
	}
}

// TestRecommendInvalid rejects what cannot be sized, wrapping
// ErrInvalidInput.
func TestRecommendInvalid(t *testing.T) {
	t.Parallel()
	h100, l4 := device(t, "H100-80GB"), device(t, "L4-24GB")
	ok := usage(9*gib, 0.1, 0.2, 0.3, 0.4)
	bal := policy(t, recommender.ProfileBalanced)
	for _, tc := range []struct {
		name string
		in   gpushape.Input
		p    gpushape.Policy
		want string
	}{
		{"profile the model lacks", gpushape.Input{Usage: ok, Device: h100, Current: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.5gb"}}, bal,
			`model "H100-80GB" has no mig profile "1g.5gb"`},
		{"mig on a model without", gpushape.Input{Usage: ok, Device: l4, Current: gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.10gb"}}, bal,
			`model "L4-24GB" has no mig`},
		{"zero GPUs", gpushape.Input{Usage: ok, Device: h100, Current: gpushape.Allocation{}}, bal, "count 0 not in [1, 1024]"},
		{"zero replicas", gpushape.Input{Usage: ok, Device: h100, Current: gpushape.Allocation{Kind: gpushape.KindMPS}}, bal, "replicas 0 not in [1, 1024]"},
		{"unknown kind", gpushape.Input{Usage: ok, Device: h100, Current: gpushape.Allocation{Kind: 9, Count: 1}}, bal, "unknown kind"},
		{"NaN compute", gpushape.Input{Usage: gpushape.Usage{Hours: 1, Compute: []gpushape.Quantile{{Q: 0.5, Value: recommender.GPUCompute(math.NaN())}}}, Device: h100, Current: oneGPU}, bal,
			"compute quantile 0: value NaN not in"},
		{"unsorted quantiles", gpushape.Input{Usage: gpushape.Usage{Hours: 1, Compute: []gpushape.Quantile{{Q: 0.9, Value: 0.2}, {Q: 0.5, Value: 0.1}}}, Device: h100, Current: oneGPU}, bal,
			"compute quantiles not ascending at 1"},
		{"negative memory", gpushape.Input{Usage: gpushape.Usage{Hours: 1, MemoryMax: -1}, Device: h100, Current: oneGPU}, bal, "memory max -1 not in"},
		{"idle fraction above 1", gpushape.Input{Usage: gpushape.Usage{Hours: 1, IdleFraction: 2}, Device: h100, Current: oneGPU}, bal, "idle fraction 2 not in [0, 1]"},
		{"negative price", gpushape.Input{Usage: ok, Device: gpushape.Device{Model: h100.Model, PricePerHour: -1}, Current: oneGPU}, bal, "price per hour -1"},
		{"no memory size", gpushape.Input{Usage: ok, Device: gpushape.Device{Model: mig.Model{Name: "X"}}, Current: oneGPU}, bal, "no memory size"},
		{"zero policy", gpushape.Input{Usage: ok, Device: h100, Current: oneGPU}, gpushape.Policy{}, "compute percentile 0 not in (0, 1]"},
		{"memory risk above 0.5", gpushape.Input{Usage: ok, Device: h100, Current: oneGPU}, func() gpushape.Policy { p := bal; p.MemoryRisk = 0.6; return p }(),
			"memory risk 0.6 not in [0, 0.5]"},
		{"NaN memory risk", gpushape.Input{Usage: ok, Device: h100, Current: oneGPU}, func() gpushape.Policy { p := bal; p.MemoryRisk = math.NaN(); return p }(),
			"memory risk NaN not in [0, 0.5]"},
		{"a memory peak above the max", gpushape.Input{Usage: gpushape.Usage{Hours: 1, MemoryMax: gib, MemoryPeaks: []recommender.Bytes{gib, 2 * gib}}, Device: h100, Current: oneGPU}, bal,
			"memory peak 1: 2147483648 not in [0, memory max 1073741824]"},
		{"a negative memory peak", gpushape.Input{Usage: gpushape.Usage{Hours: 1, MemoryMax: gib, MemoryPeaks: []recommender.Bytes{-1}}, Device: h100, Current: oneGPU}, bal,
			"memory peak 0: -1 not in"},
		{"too many replicas", gpushape.Input{Usage: ok, Device: h100, Current: oneGPU}, func() gpushape.Policy { p := bal; p.MaxReplicas = 49; return p }(),
			"max replicas 49 not in [0, 48]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := gpushape.Recommend(tc.in, tc.p)
			require.ErrorIs(t, err, gpushape.ErrInvalidInput)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := gpushape.PolicyFor("thrifty")
	require.ErrorIs(t, err, gpushape.ErrInvalidInput)
}

// TestPolicies checks the built-in policies are valid and follow the
// recommender's profile names.
func TestPolicies(t *testing.T) {
	t.Parallel()
	var names []string
	for _, p := range gpushape.DefaultPolicies() {
		require.NoError(t, p.Validate(), p.Name)
		names = append(names, p.Name)
	}
	var want []string
	for _, p := range recommender.BuiltinProfiles() {
		want = append(want, p.Name)
	}
	require.Equal(t, want, names)
}

// TestDeviceMemory derives a device's memory when the caller gives none.
func TestDeviceMemory(t *testing.T) {
	t.Parallel()
	m, _ := mig.ForPCIDeviceID(0x233010DE) // H100 SXM5
	require.Equal(t, 81152*recommender.MiB, gpushape.Device{Model: m}.MemoryBytes(), "the 7g profile's")
	require.Equal(t, 5*gib, gpushape.Device{Model: m, Memory: 5 * gib}.MemoryBytes())
	b200, _ := mig.ForPCIDeviceID(0x290110DE) // 7g memory not measured
	require.Equal(t, recommender.Bytes(180e9), gpushape.Device{Model: b200}.MemoryBytes())
}

// TestCapacity pins what each kind of allocation gives.
func TestCapacity(t *testing.T) {
	t.Parallel()
	d := device(t, "H100-80GB")
	for _, tc := range []struct {
		a    gpushape.Allocation
		want gpushape.Capacity
	}{
		{twoGPUs, gpushape.Capacity{Memory: 160 * gib, Compute: 2, GPUs: 2}},
		{gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "1g.20gb"}, gpushape.Capacity{Memory: 19968 * recommender.MiB, Compute: 26.0 / 132, GPUs: 0.25}},
		{gpushape.Allocation{Kind: gpushape.KindMIG, Profile: "4g.40gb"}, gpushape.Capacity{Memory: 40448 * recommender.MiB, Compute: 64.0 / 132, GPUs: 4.0 / 7}},
		{gpushape.Allocation{Kind: gpushape.KindMPS, Replicas: 4}, gpushape.Capacity{Memory: 20 * gib, Compute: 0.25, GPUs: 0.25}},
		{gpushape.Allocation{Kind: gpushape.KindTimeSlice, Replicas: 4}, gpushape.Capacity{Memory: 80 * gib, Compute: 1, GPUs: 0.25}},
	} {
		got, err := d.Capacity(tc.a)
		require.NoError(t, err)
		require.Equal(t, tc.want, got, tc.a.String())
	}
}

// TestComputeAt interpolates between quantiles, holds the lowest below
// them and runs towards the max above.
func TestComputeAt(t *testing.T) {
	t.Parallel()
	u := usage(0, 0.1, 0.5, 0.6, 1.6)
	for q, want := range map[float64]float64{0.1: 0.1, 0.5: 0.1, 0.7: 0.3, 0.9: 0.5, 0.99: 0.6, 0.995: 1.1, 1: 1.6} {
		require.InDelta(t, want, float64(u.ComputeAt(q)), 1e-9, "q=%v", q)
	}
	require.Zero(t, gpushape.Usage{}.ComputeAt(0.9))
	u.ComputeMax = 0 // unknown max: the highest quantile holds
	require.InDelta(t, 0.6, float64(u.ComputeAt(1)), 1e-9)
}

// TestIdleSample counts a sample idle under the policy's thresholds.
func TestIdleSample(t *testing.T) {
	t.Parallel()
	p := policy(t, recommender.ProfileBalanced)
	c := gpushape.Capacity{Memory: 80 * gib, Compute: 1, GPUs: 1}
	require.True(t, p.IdleSample(0.01, 20*gib, 20*gib, c))
	require.True(t, p.IdleSample(0.049, 24*gib, 20*gib, c), "within 5% of 80Gi above baseline")
	require.False(t, p.IdleSample(0.05, 20*gib, 20*gib, c), "busy")
	require.False(t, p.IdleSample(0.01, 25*gib, 20*gib, c), "memory moving")
}

// TestFlagsJSON round-trips flags and kinds through their names.
func TestFlagsJSON(t *testing.T) {
	t.Parallel()
	f := gpushape.FlagCapped | gpushape.FlagIdle
	b, err := f.MarshalJSON()
	require.NoError(t, err)
	require.JSONEq(t, `["capped","idle"]`, string(b))
	var g gpushape.Flags
	require.NoError(t, g.UnmarshalJSON(b))
	require.Equal(t, f, g)
	require.Error(t, g.UnmarshalJSON([]byte(`["nope"]`)))
	for k := gpushape.KindWhole; k <= gpushape.KindMPS; k++ {
		b, err := k.MarshalText()
		require.NoError(t, err)
		var back gpushape.Kind
		require.NoError(t, back.UnmarshalText(b))
		require.Equal(t, k, back)
	}
	_, err = gpushape.Kind(9).MarshalText()
	require.Error(t, err)
	require.Error(t, new(gpushape.Kind).UnmarshalText([]byte("x")))
}
