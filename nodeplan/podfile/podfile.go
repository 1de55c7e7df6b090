// Package podfile reads the pod lists a node plan is made for, in YAML or
// JSON, detected by content:
//
//   - rightsizer's compact list: a top-level "pods:" list of pods with their
//     requests, GPUs, recommended (right-sized) requests, node selector and
//     tolerations, each expanded by its replicas;
//   - Kubernetes objects, as `kubectl get -o yaml|json` writes them or as
//     plain multi-document YAML: Pods, v1 Lists and typed lists (PodList,
//     DeploymentList, …), Deployments, StatefulSets, ReplicaSets and Jobs
//     (their pod template times their replicas), and DaemonSets, which
//     with the pods they own are per-node overhead, not pods to plan.
//
// The compact list:
//
//	pods:
//	  - name: web                 # required
//	    namespace: shop           # optional
//	    replicas: 3               # optional: shop/web-0 … shop/web-2; absent: one pod, shop/web
//	    requests: {cpu: 500m, memory: 1Gi}        # nvidia.com/gpu: 2 asks for whole GPUs
//	    gpu: {milli: 500, models: [A10G-24GB]}    # or {count: 1}; optional
//	    recommended: {cpu: 200m, memory: 600Mi}   # optional: the right-sized requests
//	    nodeSelector: {pool: general}
//	    tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
//
// Workloads' pods are named namespace/name-0, namespace/name-1, …; Pods
// keep their names.
//
// A pod's requests are what the scheduler charges a node for it: the
// containers' requests summed, at least each init container's (with the
// sidecars started before it), plus the pod overhead; pod-level requests
// replace the containers' CPU and memory; a container's limit stands in for
// a request it does not give, as the API server defaults it. Whole GPUs
// are the nvidia.com/gpu resource.
//
// Decoding is strict: unknown or duplicate fields, kinds other than those
// above, malformed, negative, fractional GPU or out-of-range quantities
// (beyond MaxPodCPU, MaxPodMemory, MaxPodGPUs; over 64 bytes or with a
// decimal exponent beyond ±1000), invalid node selectors and tolerations,
// and names that are too long or hold spaces or control characters are
// errors that name the document, the pod and the field. Input is bounded
// by MaxInputBytes and MaxPods. Every pod returned passes
// cluster.Pod.Validate.
//
// Read is safe for concurrent use; a File is the caller's.
package podfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	yamlv3 "go.yaml.in/yaml/v3"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/rightsizer/rightsizer/internal/errtext"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// Limits on the input.
const (
	// MaxInputBytes is the largest input Read accepts: 64 MiB.
	MaxInputBytes = 64 << 20
	// MaxPods is the most pods Read produces after expanding replicas.
	MaxPods = 1_000_000
	// MaxNameBytes bounds a pod or workload name, MaxNamespaceBytes its
	// namespace (Kubernetes' limits for object names and namespaces).
	MaxNameBytes      = 253
	MaxNamespaceBytes = 63
	// MaxPodCPU, MaxPodMemory and MaxPodGPUs bound one pod's requests: a
	// million cores, 1 PiB and 1024 whole GPUs.
	MaxPodCPU    recommender.MilliCPU = 1_000_000_000
	MaxPodMemory recommender.Bytes    = 1 << 50
	MaxPodGPUs                        = 1024
	// maxTotalMemory bounds the memory of all pods together, so that sums
	// over them cannot overflow.
	maxTotalMemory = math.MaxInt64 / 4
)

// File is a pod list as read. The replicas of one workload, and a pod's
// Current and Recommended entries, share their NodeSelector map and their
// Tolerations and GPU.Models slices: treat them as read-only (the slices
// are clipped, so an append copies).
type File struct {
	// Current are the pods with the requests they make now, in input
	// order, replicas expanded.
	Current []cluster.Pod
	// Recommended are the same pods in the same order and with the same
	// names, with the recommended requests where the input gives them and
	// the current ones otherwise.
	Recommended []cluster.Pod
	// HasRecommended reports whether any pod gave recommended requests.
	HasRecommended bool
	// Skipped counts the pods left out because they have finished: pods
	// in phase Succeeded or Failed and the pods of finished Jobs.
	Skipped int
	// DaemonSets are the DaemonSets met, as objects or as the pods they
	// own (which are left out of Current), one entry per DaemonSet named
	// namespace/name with the largest requests of its pods. They run on
	// every node they select: per-node overhead (DaemonSetOverhead), not
	// pods to plan.
	DaemonSets []cluster.Pod
}

// DaemonSetOverhead is what the DaemonSets take on every node: their CPU
// and memory summed and a pod slot each, as if each ran on every node
// whatever its node selector (an upper bound). O(len(f.DaemonSets)).
func (f *File) DaemonSetOverhead() cluster.Resources {
	var r cluster.Resources
	for i := range f.DaemonSets {
		r = r.Add(f.DaemonSets[i].Resources())
	}
	return r
}

// limits are Read's bounds; tests lower them.
type limits struct {
	inputBytes int64
	pods       int
}

var defaultLimits = limits{inputBytes: MaxInputBytes, pods: MaxPods}

// Read reads a pod list in any of the package's formats from r, reading
// at most MaxInputBytes. It takes time and memory linear in the input and
// in the pods produced.
func Read(r io.Reader) (*File, error) {
	return read(r, defaultLimits)
}

func read(r io.Reader, lim limits) (*File, error) {
	data, err := io.ReadAll(io.LimitReader(r, lim.inputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading pod list: %w", err)
	}
	if int64(len(data)) > lim.inputBytes {
		return nil, fmt.Errorf("pod list is larger than %d bytes", lim.inputBytes)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
	docs, err := split(data)
	if err != nil {
		return nil, err
	}
	b := &builder{lim: lim, names: make(map[string]struct{}), daemonSets: make(map[string]int)}
	for _, d := range docs {
		if err := b.document(d); err != nil {
			return nil, err
		}
	}
	if len(docs) == 0 {
		return nil, errors.New("pod list is empty: want a pod list (pods:) or Kubernetes objects")
	}
	return &b.file, nil
}

// doc is one document of the input, converted to JSON.
type doc struct {
	// where names the document in errors: "document 2 (line 14)".
	where string
	json  []byte
}

// split cuts the input into documents: one or more JSON values when it
// starts with '{' or '[', YAML documents separated by "---" otherwise.
// Input that starts like JSON but is not is read as YAML (flow style,
// "{pods: [...]}"); when it is not YAML either, both errors are returned.
func split(data []byte) ([]doc, error) {
	trimmed := bytes.TrimLeftFunc(data, unicode.IsSpace)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		docs, err := splitJSON(data)
		if err == nil {
			return docs, nil
		}
		ydocs, yerr := splitYAML(data)
		if yerr == nil {
			return ydocs, nil
		}
		return nil, fmt.Errorf("%w; read as YAML, %w", err, yerr)
	}
	return splitYAML(data)
}

func splitJSON(data []byte) ([]doc, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var docs []doc
	var prevEnd int64
	for n := 1; ; n++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		// The value starts after the last one read and any space.
		start := int64(len(data) - len(bytes.TrimLeftFunc(data[prevEnd:], unicode.IsSpace)))
		prevEnd = dec.InputOffset()
		where := fmt.Sprintf("JSON document %d", n)
		if n == 1 {
			where = "JSON"
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%s: syntax error: the input ends inside the value that starts at %s", where, position(data, start+1))
			}
			if ok, _ := kjson.SyntaxErrorOffset(err); ok {
				// Decode the value alone again: the stream's offset does
				// not count from a place this can know.
				var v json.RawMessage
				again := json.NewDecoder(bytes.NewReader(data[start:])).Decode(&v)
				if ok, off := kjson.SyntaxErrorOffset(again); ok {
					return nil, fmt.Errorf("%s: syntax error at %s: %w", where, position(data, start+off), again)
				}
				return nil, fmt.Errorf("%s: syntax error in the value that starts at %s: %w", where, position(data, start+1), err)
			}
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if n > 1 || dec.More() {
			where = fmt.Sprintf("JSON document %d (%s)", n, position(data, start+1))
		}
		docs = append(docs, doc{where: where, json: raw})
	}
}

// position is "line L, column C" of the byte at 1-based offset off.
func position(data []byte, off int64) string {
	off = min(max(off, 1), int64(len(data))+1)
	before := data[:off-1]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := off - int64(bytes.LastIndexByte(before, '\n')) - 1
	return fmt.Sprintf("line %d, column %d", line, col)
}

// yamlSeparator is a line that starts a YAML document ("---") or ends one
// ("...").
var yamlSeparator = regexp.MustCompile(`^(---|\.\.\.)(\s|$)`)

// yamlLine finds the line numbers in yaml's messages.
var yamlLine = regexp.MustCompile(`\bline (\d+)\b`)

func splitYAML(data []byte) ([]doc, error) {
	var docs []doc
	var cur []byte
	curStart := 1 // the line cur starts at
	nonEmpty := 0
	flush := func() error {
		where := fmt.Sprintf("document %d (line %d)", nonEmpty+1, curStart)
		j, err := yaml.YAMLToJSONStrict(cur)
		if err != nil {
			// Line numbers in yaml's messages count from the
			// document's start; make them the input's.
			msg := yamlLine.ReplaceAllStringFunc(err.Error(), func(m string) string {
				l, _ := strconv.Atoi(yamlLine.FindStringSubmatch(m)[1])
				return "line " + strconv.Itoa(l+curStart-1)
			})
			return fmt.Errorf("%s: %s", where, strings.ReplaceAll(msg, "\n", " "))
		}
		if bytes.Equal(j, []byte("null")) {
			return nil
		}
		if err := trailing(cur, curStart); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		nonEmpty++
		docs = append(docs, doc{where: where, json: j})
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Bytes()
		if m := yamlSeparator.Find(text); m != nil {
			if line > 1 {
				if err := flush(); err != nil {
					return nil, err
				}
			}
			cur = nil
			curStart = line
			if string(m[:3]) == "---" {
				// Keep what follows "---" on its line, in its column.
				text = append([]byte("   "), text[3:]...)
			} else {
				text = nil
			}
		}
		cur = append(cur, text...)
		cur = append(cur, '\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading YAML: %w", err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return docs, nil
}

// trailing rejects content after a document's top-level node, which the
// YAML decoder behind sigs.k8s.io/yaml ignores when the node is in flow
// style ("{a: 1} {b: 2}"), tagged, anchored or quoted. Block-style
// documents, where any content belongs to the node, skip the check.
func trailing(text []byte, firstLine int) error {
	for line := range bytes.Lines(text) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if line[0] == '-' || line[0] == '?' || unicode.IsLetter(rune(line[0])) || unicode.IsDigit(rune(line[0])) {
			return nil
		}
		break
	}
	dec := yamlv3.NewDecoder(bytes.NewReader(text))
	var node yamlv3.Node
	if err := dec.Decode(&node); err != nil {
		return nil // the first decoder accepted it; nothing to add
	}
	if err := dec.Decode(&node); !errors.Is(err, io.EOF) {
		return fmt.Errorf("content after the document's %s that starts at line %d: want one value per document (separate documents with ---)",
			yamlKind(node.Content), node.Line+firstLine-1)
	}
	return nil
}

// yamlKind names a top-level node's kind for errors.
func yamlKind(content []*yamlv3.Node) string {
	if len(content) == 0 {
		return "value"
	}
	switch content[0].Kind {
	case yamlv3.MappingNode:
		return "mapping"
	case yamlv3.SequenceNode:
		return "list"
	}
	return "value"
}

// builder collects the pods of all documents.
type builder struct {
	lim   limits
	file  File
	names map[string]struct{}
	// daemonSets indexes file.DaemonSets by name.
	daemonSets map[string]int
	// memory sums the Current and Recommended pods' memory.
	memory [2]int64
}

// document reads one document: a compact list or a Kubernetes object.
func (b *builder) document(d doc) error {
	var top map[string]json.RawMessage
	if err := kjson.UnmarshalCaseSensitivePreserveInts(d.json, &top); err != nil || top == nil {
		return fmt.Errorf("%s: want a mapping (a pod list with pods:, or a Kubernetes object with kind:), not %s", d.where, jsonKind(d.json))
	}
	if _, ok := top["kind"]; ok {
		return b.kubeDocument(d.where, d.json)
	}
	if _, ok := top["pods"]; ok {
		return b.compact(d.where, d.json)
	}
	return fmt.Errorf("%s: neither a pod list (no pods:) nor a Kubernetes object (no kind:)", d.where)
}

// jsonKind names the kind of a JSON value for errors.
func jsonKind(data []byte) string {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return "nothing"
	}
	switch data[0] {
	case '{':
		return "a mapping"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// template is one pod spec to add with its replicas.
type template struct {
	where     string // names the source in errors
	name      string // namespace/name, or name
	replicas  int
	indexed   bool // name the replicas name-0, name-1, …
	current   cluster.Pod
	recommend *cluster.Pod // nil: as current
}

// add appends the template's replicas to the file.
func (b *builder) add(t *template) error {
	if t.replicas < 0 {
		return fmt.Errorf("%s: replicas %d is negative", t.where, t.replicas)
	}
	if t.replicas > b.lim.pods-len(b.file.Current) {
		return fmt.Errorf("%s: %d replicas make more than %d pods in all", t.where, t.replicas, b.lim.pods)
	}
	cur := t.current
	cur.Name = t.name
	clip(&cur)
	rec := cur
	if t.recommend != nil {
		rec = *t.recommend
		rec.Name = t.name
		clip(&rec)
		b.file.HasRecommended = true
	}
	for _, p := range []*cluster.Pod{&cur, &rec} {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("%s: %w", t.where, err)
		}
	}
	for i, p := range []*cluster.Pod{&cur, &rec} {
		if int64(p.Memory) > (maxTotalMemory-b.memory[i])/int64(max(t.replicas, 1)) {
			return fmt.Errorf("%s: the pods ask for more than %v of memory in all", t.where, recommender.Bytes(maxTotalMemory))
		}
		b.memory[i] += int64(p.Memory) * int64(t.replicas)
	}
	for i := range t.replicas {
		name := t.name
		if t.indexed {
			name += "-" + strconv.Itoa(i)
		}
		if _, dup := b.names[name]; dup {
			return fmt.Errorf("%s: pod name %q appears twice", t.where, name)
		}
		b.names[name] = struct{}{}
		cur.Name, rec.Name = name, name
		b.file.Current = append(b.file.Current, cur)
		b.file.Recommended = append(b.file.Recommended, rec)
	}
	return nil
}

// daemonSet records a DaemonSet's pod, keeping the largest requests of
// each resource over its pods.
func (b *builder) daemonSet(where, name string, p cluster.Pod) error {
	p.Name = name
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	i, ok := b.daemonSets[name]
	if !ok {
		if len(b.daemonSets) >= b.lim.pods {
			return fmt.Errorf("%s: more than %d DaemonSets", where, b.lim.pods)
		}
		clip(&p)
		b.daemonSets[name] = len(b.file.DaemonSets)
		b.file.DaemonSets = append(b.file.DaemonSets, p)
		return nil
	}
	d := &b.file.DaemonSets[i]
	d.CPU, d.Memory, d.GPU.Count = max(d.CPU, p.CPU), max(d.Memory, p.Memory), max(d.GPU.Count, p.GPU.Count)
	return nil
}

// clip makes appends to the pod's shared slices copy.
func clip(p *cluster.Pod) {
	p.Tolerations = p.Tolerations[:len(p.Tolerations):len(p.Tolerations)]
	p.GPU.Models = p.GPU.Models[:len(p.GPU.Models):len(p.GPU.Models)]
}

// podName joins a namespace and a name, both checked.
func podName(namespace, name string) (string, error) {
	if err := checkName("name", name, MaxNameBytes); err != nil {
		return "", err
	}
	if namespace == "" {
		return name, nil
	}
	if err := checkName("namespace", namespace, MaxNamespaceBytes); err != nil {
		return "", err
	}
	return namespace + "/" + name, nil
}

// checkName rejects names that are empty, too long, not UTF-8 or hold
// spaces, control characters or '/'.
func checkName(what, s string, maxBytes int) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is missing", what)
	case len(s) > maxBytes:
		return fmt.Errorf("%s %s is %d bytes long, more than %d", what, errtext.Quote(s), len(s), maxBytes)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s %s is not valid UTF-8", what, errtext.Quote(s))
	}
	for _, r := range s {
		if !unicode.IsGraphic(r) || unicode.IsSpace(r) || r == '/' {
			return fmt.Errorf("%s %s holds %q: want no spaces, control characters or '/'", what, errtext.Quote(s), r)
		}
	}
	return nil
}

// jsonTypeError matches encoding/json's type errors, which name Go types.
var jsonTypeError = regexp.MustCompile(`^json: cannot unmarshal (.+?) into Go (?:struct field [^ ]*?\.([^ .][^ ]*)|value) of type (.+)$`)

// friendlyJSONError rewrites a decoding error in terms of the input.
func friendlyJSONError(err error) string {
	msg := err.Error()
	m := jsonTypeError.FindStringSubmatch(msg)
	if m == nil {
		return strings.TrimPrefix(msg, "json: ")
	}
	field, got, want := m[2], m[1], goTypeName(m[3])
	if got == "bool" && want == "a string" {
		want += " (quote it: YAML reads yes, no, on, off, y and n unquoted as booleans)"
	}
	if field == "" {
		return fmt.Sprintf("got a JSON %s, want %s", got, want)
	}
	return fmt.Sprintf("field %s: got a JSON %s, want %s", field, got, want)
}

// goTypeName describes a Go type as the input must spell it.
func goTypeName(t string) string {
	t = strings.TrimLeft(t, "*")
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	}
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		t = t[i+1:]
	}
	return "a " + t + " value"
}

// strictErrors joins the unknown and duplicate fields decoding found.
func strictErrors(where string, errs []error) error {
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	const most = 5
	if len(msgs) > most {
		msgs = append(msgs[:most], fmt.Sprintf("and %d more", len(msgs)-most))
	}
	return fmt.Errorf("%s: %s", where, strings.Join(msgs, "; "))
}
