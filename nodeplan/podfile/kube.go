package podfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"

	"github.com/rightsizer/rightsizer/internal/errtext"
	"github.com/rightsizer/rightsizer/kube/podspec"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// kubeHead is what every Kubernetes object starts with.
type kubeHead struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// kubeList is a v1 List or a typed list (PodList, DeploymentList, …).
type kubeList struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ListMeta   `json:"metadata"`
	Items      []json.RawMessage `json:"items"`
}

// apiVersions are the kinds read, with their API versions.
var apiVersions = map[string]string{
	"Pod":         "v1",
	"Deployment":  "apps/v1",
	"StatefulSet": "apps/v1",
	"ReplicaSet":  "apps/v1",
	"Job":         "batch/v1",
	"DaemonSet":   "apps/v1",
}

// kubeDocument reads a Kubernetes object or list.
func (b *builder) kubeDocument(where string, data []byte) error {
	var h kubeHead
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &h); err != nil {
		return fmt.Errorf("%s: %s", where, friendlyJSONError(err))
	}
	if strings.HasSuffix(h.Kind, "List") {
		return b.list(where, h, data)
	}
	return b.object(where, h, data)
}

func (b *builder) list(where string, h kubeHead, data []byte) error {
	itemKind := strings.TrimSuffix(h.Kind, "List")
	if itemKind == "" {
		if h.APIVersion != "v1" {
			return fmt.Errorf("%s: List of apiVersion %s: want v1", where, errtext.Quote(h.APIVersion))
		}
	} else {
		want, ok := apiVersions[itemKind]
		if !ok {
			return unknownKind(where, h)
		}
		if h.APIVersion != want {
			return fmt.Errorf("%s: %s of apiVersion %s: want %s", where, h.Kind, errtext.Quote(h.APIVersion), want)
		}
	}
	var l kubeList
	if err := decodeStrict(where, data, &l); err != nil {
		return err
	}
	for i, raw := range l.Items {
		at := fmt.Sprintf("%s: items[%d]", where, i)
		var ih kubeHead
		if err := kjson.UnmarshalCaseSensitivePreserveInts(raw, &ih); err != nil {
			return fmt.Errorf("%s: %s", at, friendlyJSONError(err))
		}
		if itemKind != "" {
			// Items of a typed list may leave out their type.
			if ih.Kind == "" {
				ih.Kind = itemKind
			}
			if ih.APIVersion == "" {
				ih.APIVersion = h.APIVersion
			}
		}
		if ih.Kind == "" {
			return fmt.Errorf("%s: no kind", at)
		}
		if strings.HasSuffix(ih.Kind, "List") {
			return fmt.Errorf("%s: a %s inside a %s", at, errtext.Quote(ih.Kind), h.Kind)
		}
		if err := b.object(at, ih, raw); err != nil {
			return err
		}
	}
	return nil
}

// object reads one Pod or workload.
func (b *builder) object(where string, h kubeHead, data []byte) error {
	want, ok := apiVersions[h.Kind]
	if !ok {
		return unknownKind(where, h)
	}
	if h.APIVersion != want {
		return fmt.Errorf("%s: %s of apiVersion %s: want %s", where, h.Kind, errtext.Quote(h.APIVersion), want)
	}
	var (
		meta     *metav1.ObjectMeta
		spec     *corev1.PodSpec
		replicas = 1
		indexed  = true
		skip     bool
		// daemonSet names the DaemonSet the pods are overhead of.
		daemonSet *metav1.ObjectMeta
	)
	switch h.Kind {
	case "Pod":
		var o corev1.Pod
		if err := decodeStrict(where, data, &o); err != nil {
			return err
		}
		meta, spec, indexed = &o.ObjectMeta, &o.Spec, false
		skip = o.Status.Phase == corev1.PodSucceeded || o.Status.Phase == corev1.PodFailed
		if ref := metav1.GetControllerOf(&o); ref != nil && ref.Kind == "DaemonSet" {
			daemonSet = &metav1.ObjectMeta{Namespace: o.Namespace, Name: ref.Name}
		}
	case "Deployment":
		var o appsv1.Deployment
		if err := decodeStrict(where, data, &o); err != nil {
			return err
		}
		meta, spec, replicas = &o.ObjectMeta, &o.Spec.Template.Spec, replicasOf(o.Spec.Replicas)
	case "StatefulSet":
		var o appsv1.StatefulSet
		if err := decodeStrict(where, data, &o); err != nil {
			return err
		}
		meta, spec, replicas = &o.ObjectMeta, &o.Spec.Template.Spec, replicasOf(o.Spec.Replicas)
	case "ReplicaSet":
		var o appsv1.ReplicaSet
		if err := decodeStrict(where, data, &o); err != nil {
			return err
		}
		meta, spec, replicas = &o.ObjectMeta, &o.Spec.Template.Spec, replicasOf(o.Spec.Replicas)
	case "Job":
		var o batchv1.Job
		if err := decodeStrict(where, data, &o); err != nil {
			return err
		}
		meta, spec = &o.ObjectMeta, &o.Spec.Template.Spec
		replicas, skip = jobPods(&o)
	case "DaemonSet":
		var o appsv1.DaemonSet
		if err := decodeStrict(where, data, &o); err != nil {
			return err
		}
		meta, spec, daemonSet = &o.ObjectMeta, &o.Spec.Template.Spec, &o.ObjectMeta
	}
	name, err := podName(meta.Namespace, meta.Name)
	if err != nil {
		return fmt.Errorf("%s: %s: metadata.%w", where, h.Kind, err)
	}
	where += " (" + h.Kind + " " + name + ")"
	if skip {
		b.file.Skipped += max(replicas, 0)
		return nil
	}
	pod, err := podOf(spec)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if daemonSet != nil {
		ds, err := podName(daemonSet.Namespace, daemonSet.Name)
		if err != nil {
			return fmt.Errorf("%s: DaemonSet %w", where, err)
		}
		return b.daemonSet(where, ds, pod)
	}
	return b.add(&template{where: where, name: name, replicas: replicas, indexed: indexed, current: pod})
}

func replicasOf(r *int32) int {
	if r == nil {
		return 1
	}
	return int(*r)
}

// jobPods is how many pods a Job runs at once (its parallelism, at most
// its completions; none while suspended), and whether it has finished.
func jobPods(j *batchv1.Job) (n int, finished bool) {
	n = replicasOf(j.Spec.Parallelism)
	if j.Spec.Completions != nil {
		n = min(n, int(*j.Spec.Completions))
	}
	if j.Spec.Suspend != nil && *j.Spec.Suspend {
		n = 0
	}
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			finished = true
		}
	}
	return n, finished
}

func unknownKind(where string, h kubeHead) error {
	hint := ""
	switch h.Kind {
	case "CronJob":
		hint = "; give the Jobs it makes instead"
	}
	return fmt.Errorf("%s: kind %s (apiVersion %s) holds no pods to plan: want Pod, Deployment, StatefulSet, ReplicaSet, Job, DaemonSet, a List of them, or a pod list (pods:)%s",
		where, errtext.Quote(h.Kind), errtext.Quote(h.APIVersion), hint)
}

// suspectQuantity finds text in a JSON document that may be a quantity
// parseQuantity refuses: resource.Quantity's own decoder would take long
// over it.
var suspectQuantity = regexp.MustCompile(`[0-9.]{65,}|[eE][-+]?[0-9]{4,}`)

// decodeStrict decodes a Kubernetes object, rejecting unknown and
// duplicate fields.
func decodeStrict(where string, data []byte, v any) error {
	if suspectQuantity.Match(data) {
		if path, err := findBadQuantity(data); err != nil {
			return fmt.Errorf("%s: %s: %w", where, path, err)
		}
	}
	strict, err := kjson.UnmarshalStrict(data, v)
	if err != nil {
		if path, qerr := findBadQuantity(data); qerr != nil {
			return fmt.Errorf("%s: %s: %w", where, path, qerr)
		}
		return fmt.Errorf("%s: %s", where, friendlyJSONError(err))
	}
	if len(strict) > 0 {
		return strictErrors(where, strict)
	}
	return nil
}

// quantityMaps are the fields of the kinds read that map resource names
// to quantities; quantityFields those that are one quantity
// (TestQuantityFieldsKnown keeps them complete).
var (
	quantityMaps   = []string{"requests", "limits", "overhead", "allocatedResources", "capacity"}
	quantityFields = []string{"perContainer", "perPod", "sizeLimit", "divisor", "quantity"}
)

// findBadQuantity finds the first quantity of a JSON document that
// parseQuantity refuses, and its field path, since the decoder's error
// does not say where it is. The error is nil when there is none.
func findBadQuantity(data []byte) (path string, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return "", nil
	}
	return walkQuantities(v, "")
}

func walkQuantities(v any, path string) (string, error) {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if m, isMap := v[k].(map[string]any); isMap && slices.Contains(quantityMaps, k) {
				for _, r := range slices.Sorted(maps.Keys(m)) {
					if err := checkQuantity(m[r]); err != nil {
						return join(k) + "." + r, err
					}
				}
			}
			if slices.Contains(quantityFields, k) {
				if err := checkQuantity(v[k]); err != nil {
					return join(k), err
				}
			}
			if p, err := walkQuantities(v[k], join(k)); err != nil {
				return p, err
			}
		}
	case []any:
		for i, e := range v {
			if p, err := walkQuantities(e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return p, err
			}
		}
	}
	return "", nil
}

// checkQuantity checks a JSON value that should be a quantity.
func checkQuantity(v any) error {
	switch v := v.(type) {
	case nil:
		return nil // resource.Quantity takes null as zero
	case string:
		_, err := parseQuantity(v)
		return err
	case json.Number:
		_, err := parseQuantity(v.String())
		return err
	}
	return fmt.Errorf("%s is not a quantity: want e.g. 500m or 1Gi", errtext.Quote(fmt.Sprint(v)))
}

// The resources a pod spec's requests are read for.
const (
	resCPU = iota
	resMemory
	resGPU
	nRes
)

var resourceNames = [nRes]corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, podspec.ResourceGPU}

// vec holds one amount of each resource: millicores, bytes, whole GPUs.
type vec [nRes]int64

// satCap is where sums saturate: far above any bound on one pod, far
// below overflow.
const satCap = 1 << 61

func (a vec) add(b vec) vec {
	for r := range a {
		a[r] = min(a[r]+b[r], satCap)
	}
	return a
}

func (a vec) max(b vec) vec {
	for r := range a {
		a[r] = max(a[r], b[r])
	}
	return a
}

// amount converts a quantity of resource r.
func amount(r int, q resource.Quantity) (int64, error) {
	switch r {
	case resCPU:
		v, err := CPUOf(q)
		return int64(v), err
	case resMemory:
		v, err := MemoryOf(q)
		return int64(v), err
	default:
		v, err := gpusOf(q)
		return int64(v), err
	}
}

// containerRequests are a container's requests, a limit standing in for
// a request not given (as the API server defaults them); has says which
// resources it requests.
func containerRequests(c *corev1.Container) (v vec, has [nRes]bool, err error) {
	for r, name := range resourceNames {
		q, ok := c.Resources.Requests[name]
		lim, hasLim := c.Resources.Limits[name]
		field := "requests"
		if !ok && hasLim {
			q, ok, field = lim, true, "limits"
		}
		if !ok {
			continue
		}
		if v[r], err = amount(r, q); err != nil {
			return v, has, fmt.Errorf("resources.%s.%s: %w", field, name, err)
		}
		if r == resGPU && hasLim && q.Cmp(lim) != 0 {
			return v, has, fmt.Errorf("resources: %s requests %s and limits %s differ; Kubernetes needs them equal", name, errtext.Quote(q.String()), errtext.Quote(lim.String()))
		}
		has[r] = true
	}
	return v, has, nil
}

// podOf makes a pod of a pod spec, with Kubernetes' effective requests:
// the app containers' requests and the sidecars' (init containers that
// restart always) summed, at least each init container's plus the
// sidecars started before it; pod-level CPU and memory requests instead
// where given; plus the pod overhead.
func podOf(spec *corev1.PodSpec) (cluster.Pod, error) {
	var sum vec
	var has [nRes]bool
	for i := range spec.Containers {
		c := &spec.Containers[i]
		v, h, err := containerRequests(c)
		if err != nil {
			return cluster.Pod{}, fmt.Errorf("container %s: %w", errtext.Quote(c.Name), err)
		}
		sum = sum.add(v)
		for r := range h {
			has[r] = has[r] || h[r]
		}
	}
	var sidecars, initMax vec
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		v, h, err := containerRequests(c)
		if err != nil {
			return cluster.Pod{}, fmt.Errorf("init container %s: %w", errtext.Quote(c.Name), err)
		}
		for r := range h {
			has[r] = has[r] || h[r]
		}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sum = sum.add(v)
			sidecars = sidecars.add(v)
			v = sidecars
		} else {
			v = v.add(sidecars)
		}
		initMax = initMax.max(v)
	}
	sum = sum.max(initMax)
	for _, r := range []int{resCPU, resMemory} {
		name := resourceNames[r]
		if res := spec.Resources; res != nil {
			field := "requests"
			q, ok := res.Requests[name]
			if lim, hasLim := res.Limits[name]; !ok && !has[r] && hasLim {
				// No container asks for it: the pod-level limit is
				// the request.
				q, ok, field = lim, true, "limits"
			}
			if ok {
				v, err := amount(r, q)
				if err != nil {
					return cluster.Pod{}, fmt.Errorf("resources.%s.%s: %w", field, name, err)
				}
				sum[r] = v
			}
		}
		if q, ok := spec.Overhead[name]; ok {
			v, err := amount(r, q)
			if err != nil {
				return cluster.Pod{}, fmt.Errorf("overhead.%s: %w", name, err)
			}
			sum[r] = min(sum[r]+v, satCap)
		}
	}
	switch {
	case sum[resCPU] > int64(MaxPodCPU):
		return cluster.Pod{}, fmt.Errorf("requests %v cpu in all, more than %d cores", recommender.MilliCPU(sum[resCPU]), MaxPodCPU/1000)
	case sum[resMemory] > int64(MaxPodMemory):
		return cluster.Pod{}, fmt.Errorf("requests %v memory in all, more than 1Pi", resource.NewQuantity(sum[resMemory], resource.BinarySI))
	case sum[resGPU] > MaxPodGPUs:
		return cluster.Pod{}, fmt.Errorf("requests %d GPUs in all, more than %d", sum[resGPU], MaxPodGPUs)
	}
	p := cluster.Pod{
		CPU:    recommender.MilliCPU(sum[resCPU]),
		Memory: recommender.Bytes(sum[resMemory]),
		GPU:    cluster.GPURequest{Count: int(sum[resGPU])},
	}
	var err error
	if p.NodeSelector, err = checkSelector(spec.NodeSelector); err != nil {
		return cluster.Pod{}, err
	}
	for i, t := range spec.Tolerations {
		ct := cluster.Toleration{Key: t.Key, Operator: string(t.Operator), Value: t.Value, Effect: string(t.Effect)}
		if err := checkToleration(ct); err != nil {
			return cluster.Pod{}, fmt.Errorf("tolerations[%d]: %w", i, err)
		}
		p.Tolerations = append(p.Tolerations, ct)
	}
	return p, nil
}
