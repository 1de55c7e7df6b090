package gpu

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/rightsizer/rightsizer/gpu/mig"
	"github.com/rightsizer/rightsizer/gpu/migpack"
	"github.com/rightsizer/rightsizer/recommender/gpushape"
)

// packer counts the GPUs a set of MIG and whole-GPU demands needs once
// packed onto fresh GPUs of one model. It is the one seam to package
// gpu/migpack, so that the walk does not depend on the rest of its API.
type packer interface {
	pack(m mig.Model, demands []migpack.Demand) (int, error)
}

// migPacker packs with migpack.Pack: exact (or greedy past its memo
// budget) over the model's placements, the device plugin's strategy.
type migPacker struct{ strategy migpack.Strategy }

var _ packer = migPacker{}

func (p migPacker) pack(m mig.Model, demands []migpack.Demand) (int, error) {
	if len(demands) == 0 {
		return 0, nil
	}
	res, err := migpack.Pack(m, demands, migpack.Options{Strategy: p.strategy})
	if err != nil {
		return 0, err
	}
	if res.Unplaced > 0 {
		return 0, fmt.Errorf("pack %d demands on %s: %d unplaced", len(demands), m.Name, res.Unplaced)
	}
	return res.Used, nil
}

// shareKey groups shares that can sit on one GPU: the device plugin's
// sharing config gives a GPU one mechanism and one replica count.
type shareKey struct {
	kind     gpushape.Kind
	replicas int
}

// layoutGPUs returns the GPUs that a window's allocations need: MIG
// profiles and whole GPUs packed by p onto the model's GPUs (MIG mixed
// with MIG off on one node, the mixed strategy), plus, for each
// (mechanism, replicas) group of MPS or time-slicing shares, the GPUs
// that hold them, ⌈shares / replicas⌉: MPS does not run on MIG GPUs,
// and a GPU's sharing config has one replica count.
func layoutGPUs(p packer, m mig.Model, pods []string, allocs []gpushape.Allocation) (int, error) {
	var demands []migpack.Demand
	shares := map[shareKey]int{}
	for i, a := range allocs {
		switch a.Kind {
		case gpushape.KindWhole:
			demands = append(demands, migpack.Demand{Workload: pods[i], Profile: migpack.WholeGPU, Count: a.Count})
		case gpushape.KindMIG:
			demands = append(demands, migpack.Demand{Workload: pods[i], Profile: a.Profile})
		case gpushape.KindMPS, gpushape.KindTimeSlice:
			shares[shareKey{a.Kind, a.Replicas}]++
		default:
			return 0, fmt.Errorf("layout of %s: unknown allocation %v", pods[i], a)
		}
	}
	n, err := p.pack(m, demands)
	if err != nil {
		return 0, err
	}
	keys := slices.SortedFunc(maps.Keys(shares), func(a, b shareKey) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.replicas, b.replicas))
	})
	for _, k := range keys {
		n += (shares[k] + k.replicas - 1) / k.replicas
	}
	return n, nil
}
