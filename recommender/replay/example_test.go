package replay_test

import (
	"context"
	"fmt"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/replay"
)

// Open a trace folder and walk its samples in time order. Samples at the
// same time come in key order. vm-41 reports memory=0, a gap in the
// trace, so that sample carries CPU only: see Options.KeepZeroMemory.
func Example() {
	src, err := replay.Open("testdata/bitbrains", replay.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(src.Format(), len(src.Workloads()), "workloads,", src.Len(), "samples")
	fmt.Println(src.Start().Format(time.RFC3339), "to", src.End().Format(time.RFC3339))
	for _, w := range src.Workloads() {
		r := w.Containers[0].Requests
		fmt.Printf("%s requests cpu=%s memory=%s\n", w.Key, r.CPU, r.Memory)
	}
	n := 0
	for s := range src.All() {
		fmt.Printf("%s %s cpu=%s memory=%s\n", s.Time.Format(time.TimeOnly), s.Key.Name, s.Usage.CPU, s.Usage.Memory)
		if n++; n == 4 {
			break
		}
	}
	fmt.Println("skipped:", src.Skipped())
	// Output:
	// bitbrains 3 workloads, 51 samples
	// 2013-07-16T10:55:37Z to 2013-07-16T12:40:37Z
	// bitbrains/VM/vm-1 requests cpu=2 memory=8Gi
	// bitbrains/VM/vm-20 requests cpu=1 memory=4Gi
	// bitbrains/VM/vm-41 requests cpu=8 memory=20Gi
	// 10:55:37 vm-1 cpu=275m memory=1.45Gi
	// 10:55:37 vm-20 cpu=9m memory=208Mi
	// 10:55:37 vm-41 cpu=27m memory=0
	// 11:00:37 vm-1 cpu=343m memory=1.21Gi
	// skipped: map[duplicate_time:15 unprovisioned:9]
}

// countingSink counts what it receives.
type countingSink struct{ workloads, samples int }

func (c *countingSink) Ingest(s []recommender.Sample) error       { c.samples += len(s); return nil }
func (c *countingSink) RecordOOM(recommender.OOMEvent) error      { return nil }
func (c *countingSink) UpsertWorkload(recommender.Workload) error { c.workloads++; return nil }

// Replay a GenAI trace into a sink: every pod is assumed to request one
// 80 GiB GPU, and memory utilisation is kept aside as fractions.
func ExampleSource_Replay() {
	src, err := replay.Open("testdata/genai", replay.Options{BatchSize: 16})
	if err != nil {
		fmt.Println(err)
		return
	}
	sink := &countingSink{}
	stats, err := src.Replay(context.Background(), sink)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+v\n", stats)
	fmt.Println(sink.workloads, "workloads,", sink.samples, "samples")
	r := src.Workloads()[0].Containers[0].Requests
	fmt.Printf("requests gpu=%v gpu_memory=%s\n", r.GPUCompute, r.GPUMemory)
	fmt.Println(len(src.MemoryUtil()), "pods with memory utilisation")
	// Output:
	// {Workloads:4 Samples:54 Batches:4 Rejected:0}
	// 4 workloads, 54 samples
	// requests gpu=1 gpu_memory=80Gi
	// 5 pods with memory utilisation
}
