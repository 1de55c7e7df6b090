package gpu

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Table prints the run's figures, a row per policy (see Score for what
// each column counts).
func (r Result) Table(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "%s: %d pods, %.1f h (%.0f pod-hours, %.0f in warm-up), %s, $%.2f/GPU-hour; a decision every %s, warm-up %s\n\n",
		r.Trace, r.Pods, r.Hours, r.PodHours, r.WarmupPodHours, r.Device, r.PricePerHour, r.Interval, r.Warmup); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tgpu_equivalents\tconcurrent_gpus\tlayout_gpus\tpeak\tmem_gib_hours\tmem_overflow_events\toverflow_pod_hours\toverflow_pods\treactions\treshapes\tcost_usd\t")
	for _, s := range r.Scores {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%d\t%.0f\t%d\t%d\t%d\t%d\t%d\t%.0f\t\n", s.Policy, s.GPUEquivalents, s.ConcurrentGPUs,
			s.LayoutGPUs, s.LayoutPeakGPUs, s.MemGiBHours, s.MemOverflowEvents, s.MemOverflowPodHours, s.MemOverflowPods, s.Reactions, s.Reshapes, s.CostUSD)
	}
	return tw.Flush()
}
