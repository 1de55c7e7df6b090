package podfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/api/validate/content"
	kjson "sigs.k8s.io/json"

	"github.com/rightsizer/rightsizer/internal/errtext"
	"github.com/rightsizer/rightsizer/internal/quantity"
	"github.com/rightsizer/rightsizer/kube/podspec"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// compactFile is rightsizer's own pod list.
type compactFile struct {
	Pods []compactPod `json:"pods"`
}

type compactPod struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Replicas, when given, expands the pod to name-0 … name-(n-1).
	Replicas *int `json:"replicas"`
	// Requests and Recommended map resource names to quantities, kept raw
	// so that errors can name the pod and the field.
	Requests     map[string]json.RawMessage `json:"requests"`
	GPU          *compactGPU                `json:"gpu"`
	Recommended  map[string]json.RawMessage `json:"recommended"`
	NodeSelector map[string]string          `json:"nodeSelector"`
	Tolerations  []compactToleration        `json:"tolerations"`
}

type compactGPU struct {
	Count  *int     `json:"count"`
	Milli  *int     `json:"milli"`
	Models []string `json:"models"`
}

type compactToleration struct {
	Key      string `json:"key"`
	Operator string `json:"operator"`
	Value    string `json:"value"`
	Effect   string `json:"effect"`
}

// compact reads a compact pod list.
func (b *builder) compact(where string, data []byte) error {
	var f compactFile
	strict, err := kjson.UnmarshalStrict(data, &f)
	if err != nil {
		return fmt.Errorf("%s: %s", where, friendlyJSONError(err))
	}
	if len(strict) > 0 {
		return strictErrors(where, strict)
	}
	for i := range f.Pods {
		cp := &f.Pods[i]
		at := fmt.Sprintf("%s: pods[%d]", where, i)
		name, err := podName(cp.Namespace, cp.Name)
		if err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		at += " (" + name + ")"
		t, err := cp.template(name)
		if err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		t.where = at
		if err := b.add(t); err != nil {
			return err
		}
	}
	return nil
}

// template checks the pod and makes its template.
func (cp *compactPod) template(name string) (*template, error) {
	t := &template{name: name, replicas: 1}
	if cp.Replicas != nil {
		t.replicas, t.indexed = *cp.Replicas, true
	}
	p := &t.current
	if err := readRequests(cp.Requests, p, "requests", true); err != nil {
		return nil, err
	}
	if err := cp.GPU.apply(&p.GPU); err != nil {
		return nil, err
	}
	var err error
	if p.NodeSelector, err = checkSelector(cp.NodeSelector); err != nil {
		return nil, err
	}
	for i, tol := range cp.Tolerations {
		ct := cluster.Toleration{Key: tol.Key, Operator: tol.Operator, Value: tol.Value, Effect: tol.Effect}
		if err := checkToleration(ct); err != nil {
			return nil, fmt.Errorf("tolerations[%d]: %w", i, err)
		}
		p.Tolerations = append(p.Tolerations, ct)
	}
	if cp.Recommended != nil {
		rec := *p
		if err := readRequests(cp.Recommended, &rec, "recommended", false); err != nil {
			return nil, err
		}
		t.recommend = &rec
	}
	return t, nil
}

// readRequests reads a mapping of resource names to quantities onto p:
// cpu, memory and, with gpu, whole GPUs (nvidia.com/gpu). field names the
// mapping in errors.
func readRequests(m map[string]json.RawMessage, p *cluster.Pod, field string, gpu bool) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		var err error
		switch {
		case k == "cpu":
			p.CPU, err = convert(v, CPUOf)
		case k == "memory":
			p.Memory, err = convert(v, MemoryOf)
		case gpu && k == string(podspec.ResourceGPU):
			p.GPU.Count, err = convert(v, gpusOf)
		case gpu:
			err = fmt.Errorf("unknown resource: want cpu, memory or %s", podspec.ResourceGPU)
		default:
			err = errors.New("unknown resource: want cpu or memory")
		}
		if err != nil {
			return fmt.Errorf("%s.%s: %w", field, k, err)
		}
	}
	return nil
}

// apply checks the gpu: field and sets it on a request that may hold
// whole GPUs from requests.nvidia.com/gpu.
func (g *compactGPU) apply(out *cluster.GPURequest) error {
	if g == nil {
		return nil
	}
	fromRequests := out.Count > 0
	switch {
	case g.Count != nil && g.Milli != nil:
		return fmt.Errorf("gpu: give count (whole GPUs) or milli (a share of one GPU), not both")
	case g.Count != nil && fromRequests:
		return fmt.Errorf("gpu.count: whole GPUs are already given as requests.%s", podspec.ResourceGPU)
	case g.Milli != nil && fromRequests:
		return fmt.Errorf("gpu.milli: whole GPUs are already given as requests.%s; a pod asks for whole GPUs or a share of one, not both", podspec.ResourceGPU)
	case g.Count != nil:
		if *g.Count < 0 || *g.Count > MaxPodGPUs {
			return fmt.Errorf("gpu.count %d: want 0..%d whole GPUs", *g.Count, MaxPodGPUs)
		}
		out.Count = *g.Count
	case g.Milli != nil:
		if *g.Milli < 1 || *g.Milli >= cluster.MilliGPU {
			return fmt.Errorf("gpu.milli %d: want a share of one GPU in 1..999 milli (use count for whole GPUs)", *g.Milli)
		}
		out.Milli = *g.Milli
	}
	if len(g.Models) > 0 {
		if !out.Any() {
			return fmt.Errorf("gpu.models: given for a pod that asks for no GPU")
		}
		for i, m := range g.Models {
			if err := checkName("model", m, 63); err != nil {
				return fmt.Errorf("gpu.models[%d]: %w", i, err)
			}
		}
		out.Models = g.Models
	}
	return nil
}

// rawQuantity parses a quantity given as a JSON string or number.
func rawQuantity(raw json.RawMessage) (resource.Quantity, error) {
	raw = bytes.TrimSpace(raw)
	s := string(raw)
	switch {
	case strings.HasPrefix(s, `"`):
		if err := json.Unmarshal(raw, &s); err != nil {
			return resource.Quantity{}, err
		}
	case strings.HasPrefix(s, "-"), s != "" && s[0] >= '0' && s[0] <= '9': // a JSON number
	default:
		return resource.Quantity{}, fmt.Errorf("%s is not a quantity: want e.g. 500m or 1Gi", errtext.Quote(s))
	}
	return parseQuantity(s)
}

// parseQuantity parses a quantity's text, refusing first what would take
// resource.ParseQuantity long.
func parseQuantity(s string) (resource.Quantity, error) {
	q, err := quantity.Parse(s)
	switch {
	case errors.Is(err, quantity.ErrTooLong):
		return q, fmt.Errorf("%s is not a quantity: %d bytes long, more than %d", errtext.Quote(s), len(s), quantity.MaxBytes)
	case errors.Is(err, quantity.ErrExponent):
		return q, fmt.Errorf("%s is out of range: its exponent is beyond ±%d", errtext.Quote(s), quantity.MaxExponent)
	case err != nil:
		return q, fmt.Errorf("%s is not a quantity: want e.g. 500m or 1Gi", errtext.Quote(s))
	}
	return q, nil
}

// convert parses a raw quantity and converts it with conv (CPUOf,
// MemoryOf, gpusOf).
func convert[T any](raw json.RawMessage, conv func(resource.Quantity) (T, error)) (T, error) {
	q, err := rawQuantity(raw)
	if err != nil {
		var zero T
		return zero, err
	}
	return conv(q)
}

// The conversions below bound a quantity by its approximate value first:
// comparing it exactly with a bound takes time linear in its exponent.

// CPUOf converts a CPU quantity to millicores, rounding up; a negative
// one, or one beyond MaxPodCPU, is an error quoting it.
func CPUOf(q resource.Quantity) (recommender.MilliCPU, error) {
	if q.Sign() < 0 {
		return 0, fmt.Errorf("%s is negative", errtext.Quote(q.String()))
	}
	if q.AsApproximateFloat64() > float64(MaxPodCPU)/1000 || q.MilliValue() > int64(MaxPodCPU) {
		return 0, fmt.Errorf("%s is more than %d cores", errtext.Quote(q.String()), MaxPodCPU/1000)
	}
	return recommender.MilliCPU(q.MilliValue()), nil
}

// MemoryOf converts a memory quantity to bytes, rounding up; a negative
// one, or one beyond MaxPodMemory, is an error quoting it.
func MemoryOf(q resource.Quantity) (recommender.Bytes, error) {
	if q.Sign() < 0 {
		return 0, fmt.Errorf("%s is negative", errtext.Quote(q.String()))
	}
	if q.AsApproximateFloat64() > float64(MaxPodMemory) || q.Value() > int64(MaxPodMemory) {
		return 0, fmt.Errorf("%s is more than 1Pi", errtext.Quote(q.String()))
	}
	return recommender.Bytes(q.Value()), nil
}

// gpusOf converts a whole-GPU quantity to a count.
func gpusOf(q resource.Quantity) (int, error) {
	if q.Sign() < 0 {
		return 0, fmt.Errorf("%s is negative", errtext.Quote(q.String()))
	}
	if q.AsApproximateFloat64() > MaxPodGPUs || q.Value() > MaxPodGPUs {
		return 0, fmt.Errorf("%s is more than %d GPUs", errtext.Quote(q.String()), MaxPodGPUs)
	}
	if q.MilliValue()%1000 != 0 {
		return 0, fmt.Errorf("%s is not a whole number of GPUs", errtext.Quote(q.String()))
	}
	return int(q.Value()), nil
}

// checkSelector checks node selector labels as Kubernetes does and
// returns the map, or nil when empty.
func checkSelector(sel map[string]string) (map[string]string, error) {
	for _, k := range slices.Sorted(maps.Keys(sel)) {
		if msgs := content.IsLabelKey(k); len(msgs) > 0 {
			return nil, fmt.Errorf("nodeSelector key %s: %s", errtext.Quote(k), msgs[0])
		}
		if msgs := content.IsLabelValue(sel[k]); len(msgs) > 0 {
			return nil, fmt.Errorf("nodeSelector[%s] value %s: %s", k, errtext.Quote(sel[k]), msgs[0])
		}
	}
	if len(sel) == 0 {
		return nil, nil
	}
	return sel, nil
}

// checkToleration checks a toleration as Kubernetes does, and that
// cluster.Toleration can evaluate it.
func checkToleration(t cluster.Toleration) error {
	if t.Key != "" {
		if msgs := content.IsLabelKey(t.Key); len(msgs) > 0 {
			return fmt.Errorf("key %s: %s", errtext.Quote(t.Key), msgs[0])
		}
	}
	switch t.Operator {
	case "", "Equal":
		if t.Key == "" {
			return fmt.Errorf("operator %s needs a key: only Exists may have none", errtext.Quote(t.Operator))
		}
		if msgs := content.IsLabelValue(t.Value); len(msgs) > 0 {
			return fmt.Errorf("value %s: %s", errtext.Quote(t.Value), msgs[0])
		}
	case "Exists":
		if t.Value != "" {
			return fmt.Errorf("operator Exists takes no value, got %s", errtext.Quote(t.Value))
		}
	default:
		return fmt.Errorf("operator %s: want Equal or Exists", errtext.Quote(t.Operator))
	}
	switch t.Effect {
	case "", "NoSchedule", "PreferNoSchedule", "NoExecute":
	default:
		return fmt.Errorf("effect %s: want NoSchedule, PreferNoSchedule or NoExecute", errtext.Quote(t.Effect))
	}
	return nil
}
