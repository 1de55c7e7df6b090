package simulate_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/rightsizer/rightsizer/recommender"
	"github.com/rightsizer/rightsizer/recommender/simulate"
)

// peakSink is a recommender.Sink that remembers when CPU use peaked.
type peakSink struct {
	workloads, samples int
	peak               recommender.MilliCPU
	peakAt             time.Time
}

func (s *peakSink) UpsertWorkload(recommender.Workload) error { s.workloads++; return nil }
func (s *peakSink) RecordOOM(recommender.OOMEvent) error      { return nil }

func (s *peakSink) Ingest(batch []recommender.Sample) error {
	for _, x := range batch {
		s.samples++
		if x.Usage.CPU > s.peak {
			s.peak, s.peakAt = x.Usage.CPU, x.Time
		}
	}
	return nil
}

// A web service with two replicas, simulated for one virtual day.
func Example() {
	cluster := simulate.Cluster{Workloads: []simulate.WorkloadSpec{{
		Key:      recommender.WorkloadKey{Namespace: "shop", Kind: "Deployment", Name: "cart"},
		Replicas: 2,
		Containers: []simulate.ContainerSpec{{
			Spec: recommender.ContainerSpec{
				Name:     "cart",
				Requests: recommender.Amounts{CPU: 500, Memory: 256 * recommender.MiB},
				Limits:   recommender.Amounts{Memory: 512 * recommender.MiB},
			},
			Model: simulate.Model{
				Archetype:  simulate.ArchetypeDiurnal,
				CPU:        30,  // millicores at night
				CPUPeak:    220, // at the weekday peak
				Memory:     90 * recommender.MiB,
				MemoryPeak: 130 * recommender.MiB,
				Noise:      0.1,
				PeakAt:     14 * time.Hour, // UTC
			},
		}},
	}}}

	opts := simulate.DefaultOptions()
	opts.Duration = 24 * time.Hour
	sim, err := simulate.New(cluster, opts)
	if err != nil {
		log.Fatal(err)
	}
	sink := &peakSink{}
	if err := sim.Run(context.Background(), sink); err != nil {
		log.Fatal(err)
	}
	fmt.Println("workloads:", sink.workloads)
	fmt.Println("samples:", sink.samples)
	fmt.Println("cpu peaked in the afternoon:", sink.peakAt.Hour() >= 12 && sink.peakAt.Hour() < 17)
	fmt.Println("virtual time:", sim.Now().Format(time.RFC3339))
	// Output:
	// workloads: 1
	// samples: 2880
	// cpu peaked in the afternoon: true
	// virtual time: 2026-11-03T00:00:00Z
}

// The demo cluster's shape: what `rightsizer recommend --demo` sees.
func ExampleDefaultCluster() {
	c := simulate.DefaultCluster(1)
	kinds := map[string]int{}
	for _, w := range c.Workloads {
		kinds[w.Key.Kind]++
	}
	fmt.Println("workloads:", len(c.Workloads))
	fmt.Println("kinds:", kinds)
	// Output:
	// workloads: 51
	// kinds: map[CronJob:7 DaemonSet:4 Deployment:30 StatefulSet:10]
}
