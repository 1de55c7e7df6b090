package fgd

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteText writes the report as aligned text: each policy's allocation
// at 100 % and 130 % arrived (mean ± sd over the seeds) beside the
// published figure, the paired differences, and the offline figure.
func (r *Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "%s on %d nodes (%d GPUs), %d trace pods to %.0f %%, seeds %v\n",
		r.Trace, r.Nodes, r.GPUs, r.TracePods, r.Inflation*100, r.Seeds)
	published := map[string]PublishedFigure{}
	for _, f := range r.Published {
		published[f.Policy] = f
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "policy\talloc@100\talloc@130\tpublished@100\tpublished@130\tunalloc GPUs@100\ts/run")
	for _, p := range r.Policies {
		pub100, pub130 := "-", "-"
		if f, ok := published[p.Policy]; ok {
			pub100, pub130 = fmt.Sprintf("%.2f", f.At100.Mean), fmt.Sprintf("%.2f", f.At130.Mean)
		}
		fmt.Fprintf(tw, "%s\t%.2f ± %.2f\t%.2f ± %.2f\t%s\t%s\t%.0f\t%.2f\n", p.Policy,
			p.At100.Mean, p.At100.SD, p.At130.Mean, p.At130.SD, pub100, pub130, p.Unallocated100, p.RunSeconds)
	}
	for _, f := range r.Published {
		if r.Policy(f.Policy) == nil {
			fmt.Fprintf(tw, "%s (published only)\t-\t-\t%.2f\t%.2f\t\t\n", f.Policy, f.At100.Mean, f.At130.Mean)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range r.Paired {
		fmt.Fprintf(w, "%s − %s: %+.2f ± %.2f at 100 %% (higher on %d/%d seeds), %+.2f ± %.2f at 130 %% (%d/%d)\n",
			p.Policy, p.Baseline, p.At100.Mean, p.At100.SD, p.Wins100, p.At100.N, p.At130.Mean, p.At130.SD, p.Wins130, p.At130.N)
	}
	if o := r.Offline; o != nil {
		fmt.Fprintf(w, "offline (seed %d, %s, %s): %.2f %% allocated, %d of %d pods placed; %s\n",
			o.Seed, o.Policy, o.Strategy, o.Alloc, o.Placed, o.Pods, o.Label)
	}
	_, err := fmt.Fprintf(w, "%.1f s\n", r.Seconds)
	return err
}
