package place

import (
	"cmp"
	"slices"
	"strings"

	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// DefaultPopularity is the FGD paper's cut for typical pods: the most
// frequent specs that together make up 95 % of the pods.
const DefaultPopularity = 95

// TypicalPod is one spec of the workload the fragmentation measure
// expects: FGD's "target workload", taken from the original trace.
type TypicalPod struct {
	// CPU is its CPU request.
	CPU recommender.MilliCPU
	// GPUs is its number of GPUs (num_gpu), 0 for a pod without GPUs;
	// Milli is what it takes of each (gpu_milli, 1000 for whole GPUs).
	GPUs, Milli int
	// Models are the GPU models it may use; empty means any.
	Models []string
	// Memory is the mean memory request of the spec's pods (memory is not
	// part of the spec). FGD's measure ignores it.
	Memory recommender.Bytes
	// Weight is its share of the typical pods; the weights of a list sum
	// to 1.
	Weight float64
}

// TypicalPods groups the pods by spec (CPU, GPU count, GPU milli, GPU
// models; not memory) and keeps the most frequent specs until they cover
// at least popularityPct % of the pods (pods without GPUs included), as
// the FGD paper's simulator does; the kept specs' frequencies are
// renormalised to sum to 1. Equal frequencies are ordered by larger CPU,
// then GPU milli, GPU count and models first, as the simulator's sort.
// O(n log n) in the pods.
func TypicalPods(pods []cluster.Pod, popularityPct float64) []TypicalPod {
	type key struct {
		cpu         recommender.MilliCPU
		gpus, milli int
		models      string
	}
	counts := map[key]int{}
	mems := map[key]float64{}
	for i := range pods {
		p := &pods[i]
		k := key{cpu: p.CPU, models: strings.Join(p.GPU.Models, "|")}
		k.gpus, k.milli = p.GPU.PerGPU()
		counts[k]++
		mems[k] += float64(p.Memory)
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(
			cmp.Compare(counts[b], counts[a]),
			cmp.Compare(b.cpu, a.cpu),
			cmp.Compare(b.milli, a.milli),
			cmp.Compare(b.gpus, a.gpus),
			strings.Compare(b.models, a.models))
	})
	want := popularityPct / 100 * float64(len(pods))
	var out []TypicalPod
	cum := 0
	for _, k := range keys {
		if float64(cum) >= want {
			break
		}
		cum += counts[k]
		tp := TypicalPod{CPU: k.cpu, GPUs: k.gpus, Milli: k.milli, Weight: float64(counts[k]),
			Memory: recommender.Bytes(mems[k] / float64(counts[k]))}
		if k.models != "" {
			tp.Models = strings.Split(k.models, "|")
		}
		out = append(out, tp)
	}
	for i := range out {
		out[i].Weight /= float64(cum)
	}
	return out
}

// fragModel evaluates FGD's node fragmentation: for each typical pod, the
// idle GPU milli of the node it could not use, weighted by its share.
// Per GPU model of the cluster, typical pods that cannot use the model at
// all (pods without GPUs, pods that do not allow it, every pod on a model
// that does not serve GPU requests) find every idle milli useless, so
// they reduce to one weight.
type fragModel struct {
	perModel []modelFrag
}

type modelFrag struct {
	// useless is the weight of the typical pods for which all idle GPU
	// milli is fragment on this model.
	useless float64
	pods    []fragPod
}

type fragPod struct {
	cpu         int64
	gpus, milli int
	w           float64
}

// newFragModel builds the model for the GPU models of a State: their
// names, and whether each serves GPU requests.
func newFragModel(models []string, serves []bool, typical []TypicalPod) *fragModel {
	fm := &fragModel{perModel: make([]modelFrag, len(models))}
	for k, name := range models {
		mf := &fm.perModel[k]
		for _, tp := range typical {
			if tp.GPUs == 0 || !serves[k] || (len(tp.Models) > 0 && !slices.Contains(tp.Models, name)) {
				mf.useless += tp.Weight
				continue
			}
			mf.pods = append(mf.pods, fragPod{cpu: int64(tp.CPU), gpus: tp.GPUs, milli: tp.Milli, w: tp.Weight})
		}
	}
	return fm
}

// frag is the fragmentation of a node of GPU model k (≥ 0) with cpu
// milli-CPU and the given GPU milli free, in milli-GPU: Σ_m w_m·F(m),
// where F(m) is all idle GPU milli when the typical pod m cannot fit and
// the milli on GPUs too small for it when it can. Memory plays no part,
// as in the paper. O(typical pods × GPUs).
func (fm *fragModel) frag(k int, cpu int64, gpus []int) float64 {
	idle := 0
	for _, g := range gpus {
		idle += g
	}
	if idle == 0 {
		return 0
	}
	mf := &fm.perModel[k]
	r := float64(idle)
	f := mf.useless * r
	for i := range mf.pods {
		m := &mf.pods[i]
		if cpu < m.cpu {
			f += m.w * r
			continue
		}
		fit, small := 0, 0
		for _, g := range gpus {
			if g >= m.milli {
				fit++
			} else {
				small += g
			}
		}
		if fit < m.gpus {
			f += m.w * r
		} else {
			f += m.w * float64(small)
		}
	}
	return f
}
