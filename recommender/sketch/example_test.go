package sketch_test

import (
	"fmt"
	"time"

	"github.com/rightsizer/rightsizer/recommender/sketch"
)

// Track a container's CPU usage with a 24 h half-life and ask for the P90.
func Example() {
	cfg, err := sketch.NewConfig(sketch.DefaultOptions()) // 1 %, 24 h half-life
	if err != nil {
		panic(err)
	}
	s := cfg.New()
	start := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	for m := range 7 * 24 * 60 { // a week at one sample a minute
		cores := 0.2
		if m%60 < 6 { // busy six minutes an hour
			cores = 1.5
		}
		if err := s.Add(cores, start.Add(time.Duration(m)*time.Minute)); err != nil {
			panic(err)
		}
	}
	p50, _ := s.Quantile(0.5)
	p95, _ := s.Quantile(0.95)
	// Each answer is within 1 % of the exact one: the true P95 is 1.5.
	fmt.Printf("P50 %.2f cores, P95 %.2f cores, %.0f%% of time above 1 core\n", p50, p95, 100*(1-s.CDF(1)))
	// Output: P50 0.20 cores, P95 1.49 cores, 10% of time above 1 core
}
