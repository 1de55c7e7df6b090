// Command bench-agent measures the node agent's cgroup reader on a
// synthetic node of 200 containers and writes bench/out/agent.json (see
// agentload.Result).
package main

import (
	"flag"
	"fmt"
	"os"

	benchout "github.com/rightsizer/rightsizer/bench/internal/out"

	"github.com/rightsizer/rightsizer/bench/agentload"
)

func main() {
	cfg := agentload.DefaultConfig()
	out := flag.String("out", "bench/out/agent.json", "where to write the result")
	flag.IntVar(&cfg.Containers, "containers", cfg.Containers, "application containers on the node")
	flag.IntVar(&cfg.ContainersPerPod, "containers-per-pod", cfg.ContainersPerPod, "containers per pod (each pod also has a sandbox cgroup)")
	flag.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "rounds measured (the median is reported)")
	flag.IntVar(&cfg.Baseline, "baseline", cfg.Baseline, "rounds of the straightforward baseline reader")
	flag.DurationVar(&cfg.Interval, "interval", cfg.Interval, "time each round stands for")
	flag.StringVar(&cfg.Dir, "dir", "", "where to write the cgroup tree (default: a temporary directory)")
	flag.Parse()
	if err := run(cfg, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench-agent:", err)
		os.Exit(1)
	}
}

func run(cfg agentload.Config, out string) error {
	res, err := agentload.Run(cfg)
	if err != nil {
		return err
	}
	if err := benchout.WriteJSON(out, res); err != nil {
		return err
	}
	verdict := func(ok bool) string {
		if ok {
			return "pass"
		}
		return "FAIL"
	}
	fmt.Printf("%d containers (%d cgroups with sandboxes) every %gs, %d rounds\n", res.Containers, res.Cgroups, res.IntervalSeconds, res.Rounds)
	fmt.Printf("cpu   %.2f ms/round median (p90 %.2f, mean %.2f, wall %.2f; %.1f µs/cgroup)   target %.0f ms   %s\n",
		res.CPUMsPerRound, res.CPUMsPerRoundP90, res.CPUMsPerRoundMean, res.WallMsPerRound, res.CPUUsPerCgroup, res.Targets.CPUMsPerRound, verdict(res.PassCPU))
	fmt.Printf("      listing every directory every round: %.2f ms (+%.2f); baseline reader %.2f ms (%.1f× ours); %.1f allocs/round\n",
		res.FullScanCPUMsPerRound, res.FullScanCPUMs, res.BaselineCPUMsPerRound, res.BaselineRatio, res.AllocsPerRound)
	fmt.Printf("rss   %.1f MiB (heap %.1f MiB, %d open files)   target %.0f MiB   %s\n",
		res.RSSMiB, res.HeapInuseMiB, res.OpenFiles, res.Targets.RSSMiB, verdict(res.PassRSS))
	if res.KernelMiB > 0 {
		fmt.Printf("      plus %.1f MiB of kernel memory for the open files on a node (%.1f KiB per cgroupfs file, measured here)\n",
			res.KernelMiB, res.KernelKiBPerCgroupFile)
	}
	if !res.Pass {
		return fmt.Errorf("targets missed or readings wrong (max CPU error %.2g cores, %d file errors)", res.MaxCPUErrorCores, res.FileErrors)
	}
	return nil
}
