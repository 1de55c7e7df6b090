// Command bench-engine measures the sketch against VPA's decaying
// histogram and the engine's concurrent ingest, and writes
// bench/out/engine.json (see bench.EngineResult).
package main

import (
	"flag"
	"fmt"
	"os"

	benchout "github.com/rightsizer/rightsizer/bench/internal/out"

	"github.com/rightsizer/rightsizer/bench"
)

func main() {
	cfg := bench.DefaultEngineConfig()
	out := flag.String("out", "bench/out/engine.json", "where to write the result")
	flag.IntVar(&cfg.Repeats, "repeats", cfg.Repeats, "repeats of each timed measurement (median reported)")
	flag.IntVar(&cfg.EngineContainers, "containers", cfg.EngineContainers, "containers in the concurrent-ingest measurement")
	flag.IntVar(&cfg.EngineSamples, "samples", cfg.EngineSamples, "samples per timed concurrent-ingest repeat")
	flag.IntVar(&cfg.EngineStripes, "stripes", 0, "engine lock stripes (0: the engine's default)")
	flag.Parse()
	if err := run(cfg, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench-engine:", err)
		os.Exit(1)
	}
}

func run(cfg bench.EngineConfig, out string) error {
	res, err := bench.RunEngine(cfg)
	if err != nil {
		return err
	}
	if err := benchout.WriteJSON(out, res); err != nil {
		return err
	}
	fmt.Printf("insert      ours %6.1f ns   vpa %6.1f ns   (%.1f× faster)\n", res.OursInsertNs, res.VPAInsertNs, res.InsertSpeedup)
	fmt.Printf("P90 query   ours %6.0f ns   vpa %6.0f ns\n", res.OursQueryNs, res.VPAQueryNs)
	fmt.Printf("state       ours %6.0f B    vpa %6.0f B per container after a week at 1/min\n", res.OursStateBytes, res.VPAStateBytes)
	fmt.Printf("max error   ours %6.2f%%    vpa %6.2f%%  (all values: %.2f%% vs %.2f%%)\n", 100*res.OursMaxRelErr, 100*res.VPAMaxRelErr, 100*res.OursMaxRelErrAll, 100*res.VPAMaxRelErrAll)
	fmt.Printf("engine      %.2fM samples/s (median of %d runs, %.0f ns of CPU per sample) from %d goroutines into %d containers; %.0f B heap per container\n",
		res.EngineSamplesPerSec/1e6, len(res.EngineSamplesPerSecRuns), res.EngineCPUNsPerSample, res.EngineGoroutines, res.EngineContainers, res.EngineHeapBytesPerContainer)
	fmt.Println("wrote", out)
	return nil
}
