package api

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"runtime"
	"slices"
	"sort"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/labels"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
	"github.com/rightsizer/rightsizer/recommender"
)

// A snapshot is every workload's recommendation at one moment, encoded
// once and sorted in each order a list can ask for, so that a list costs a
// binary search and a page of copies rather than a recomputation of every
// container (BenchmarkList: a snapshot of 10,000 workloads takes about
// 130 ms; a page of 100 from it, well under a millisecond). The server
// takes one every Options.SnapshotInterval. A snapshot is immutable once
// published, and concurrent responses read it without locks.
type snapshot struct {
	byName, bySavings, byRisk []*entry
	// resume is the change stream's position just before the snapshot was
	// taken: a watch from it sees every change the snapshot may miss.
	resume string
}

// entry is one workload of a snapshot.
type entry struct {
	key     recommender.WorkloadKey
	labels  labels.Set
	savings float64 // USD per month
	risk    float64 // highest CPU risk of a container
	flags   recommender.Flags
	// wire is the workload's recommendation encoded as field 1 of
	// ListRecommendationsResponse (tag, length, message): a page is the
	// concatenation of its entries' wire, so a list response costs
	// copies, not a marshal of every workload.
	wire []byte
}

// takeSnapshot builds a snapshot from the engine's current state. It
// yields between batches of workloads: with GOMAXPROCS 2, a snapshot of
// 10,000 workloads would otherwise hold a P for tens of milliseconds and
// delay the very lists it serves (make bench-api: list p99).
func takeSnapshot(e Engine, resume string) *snapshot {
	ws := e.ListWorkloads(recommender.Filter{})
	s := &snapshot{resume: resume, byName: make([]*entry, 0, len(ws))}
	for i := range ws {
		w := &ws[i]
		msg := workloadRecommendation(w.Key, w.Labels, w.Recommendations)
		flags, _ := engineFlags(msg.GetFlags()) // the containers' union, as the message carries it
		s.byName = append(s.byName, &entry{key: w.Key, labels: w.Labels, savings: msg.GetMonthlySavingsUsd(),
			risk: msg.GetMaxRiskFraction(), flags: flags, wire: listWire(msg)})
		if i%snapshotYieldEvery == snapshotYieldEvery-1 {
			runtime.Gosched()
		}
	}
	s.bySavings = sortedBy(rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_SAVINGS, s.byName)
	s.byRisk = sortedBy(rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_RISK, s.byName)
	return s
}

// snapshotYieldEvery is how many workloads takeSnapshot encodes between
// yields (about a millisecond of work).
const snapshotYieldEvery = 100

// sortedBy returns a copy of es in order o.
func sortedBy(o rightsizerv1.RecommendationOrder, es []*entry) []*entry {
	out := slices.Clone(es)
	slices.SortFunc(out, func(a, b *entry) int { return compareEntries(o, a, b) })
	return out
}

func compareKeys(a, b recommender.WorkloadKey) int {
	return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
}

// value is the sort value of an entry in an order (0 for by-name).
func value(o rightsizerv1.RecommendationOrder, e *entry) float64 {
	switch o {
	case rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_SAVINGS:
		return e.savings
	case rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_RISK:
		return e.risk
	}
	return 0
}

// compareEntries orders by value, largest first, then by key.
func compareEntries(o rightsizerv1.RecommendationOrder, a, b *entry) int {
	return cmp.Or(cmp.Compare(value(o, b), value(o, a)), compareKeys(a.key, b.key))
}

// listQuery is a validated ListRecommendationsRequest.
type listQuery struct {
	keyFilter
	selector   labels.Selector // nil: everything
	minSavings float64         // -Inf: no minimum
	flags      recommender.Flags
	order      rightsizerv1.RecommendationOrder
	pageSize   int
	after      *pageToken
	digest     uint64 // of the filters and order, which a page token must match
}

// Page sizes.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// parseListQuery validates a request, reporting every problem at once as
// an *InvalidArgumentError.
func parseListQuery(r *rightsizerv1.ListRecommendationsRequest) (*listQuery, error) {
	var bad badRequest
	q := &listQuery{keyFilter: keyFilter{cluster: r.GetCluster(), namespace: r.GetNamespace(), kind: r.GetKind(), name: r.GetName()}, minSavings: math.Inf(-1), order: r.GetOrderBy()}
	if sel := r.GetLabelSelector(); sel != "" {
		s, err := labels.Parse(sel)
		if err != nil {
			bad.add("label_selector", err.Error())
		}
		q.selector = s
	}
	if m := r.GetMinMonthlySavingsUsd(); m != 0 {
		if math.IsNaN(m) || math.IsInf(m, 0) {
			bad.add("min_monthly_savings_usd", "not a finite number")
		}
		q.minSavings = m
	}
	f, ok := engineFlags(r.GetFlags())
	if !ok {
		bad.add("flags", "unknown flag value")
	}
	q.flags = f
	if _, ok := rightsizerv1.RecommendationOrder_name[int32(q.order)]; !ok {
		bad.add("order_by", "unknown order "+strconv.Itoa(int(q.order)))
	}
	if q.order == rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_UNSPECIFIED {
		q.order = rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_NAME
	}
	switch n := r.GetPageSize(); {
	case n == 0:
		q.pageSize = defaultPageSize
	case n < 0 || n > maxPageSize:
		bad.add("page_size", fmt.Sprintf("%d is not in [1, %d]", n, maxPageSize))
	default:
		q.pageSize = int(n)
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%q %q %q %q %q %v %d %d", q.cluster, q.namespace, q.kind, q.name, r.GetLabelSelector(), q.minSavings, q.flags, q.order)
	q.digest = h.Sum64()
	if t := r.GetPageToken(); t != "" {
		pt, err := decodePageToken(t)
		switch {
		case err != nil:
			bad.add("page_token", err.Error())
		case pt.Digest != q.digest:
			bad.add("page_token", "was issued for other filters or another order")
		default:
			q.after = pt
		}
	}
	return q, bad.err()
}

func (q *listQuery) filtered() bool {
	return q.cluster != "" || q.namespace != "" || q.kind != "" || q.name != "" || q.selector != nil ||
		!math.IsInf(q.minSavings, -1) || q.flags != 0
}

// keyFilter selects workloads by key; empty fields match everything.
type keyFilter struct{ cluster, namespace, kind, name string }

func (f *keyFilter) match(k *recommender.WorkloadKey) bool {
	return (f.cluster == "" || f.cluster == k.Cluster) && (f.namespace == "" || f.namespace == k.Namespace) &&
		(f.kind == "" || f.kind == k.Kind) && (f.name == "" || f.name == k.Name)
}

func (q *listQuery) matchEntry(e *entry) bool {
	return q.match(&e.key) && e.savings >= q.minSavings && e.flags.Has(q.flags) &&
		(q.selector == nil || q.selector.Matches(e.labels))
}

// page answers q from s: the page, the token of the next one and the
// number of matches. Without filters it costs a binary search and a page;
// with them, one pass over the snapshot.
func (s *snapshot) page(q *listQuery) (out []*entry, next string, total int) {
	all := s.byName
	switch q.order {
	case rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_SAVINGS:
		all = s.bySavings
	case rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_RISK:
		all = s.byRisk
	}
	start := 0
	if q.after != nil {
		pos := &entry{key: q.after.key(), savings: q.after.Value, risk: q.after.Value}
		start = sort.Search(len(all), func(i int) bool { return compareEntries(q.order, all[i], pos) > 0 })
	}
	if !q.filtered() {
		end := min(start+q.pageSize, len(all))
		out = all[start:end:end]
		if end < len(all) {
			next = encodePageToken(q, all[end-1])
		}
		return out, next, len(all)
	}
	var last *entry
	more := false
	for i, e := range all {
		if !q.matchEntry(e) {
			continue
		}
		total++
		switch {
		case i < start:
		case len(out) == q.pageSize:
			more = true
		default:
			out, last = append(out, e), e
		}
	}
	if more {
		next = encodePageToken(q, last)
	}
	return out, next, total
}

// pageToken is the position after the last workload of a page: keyset
// pagination, so that a page is stable when workloads come and go between
// calls (a workload whose savings or risk changed may move across pages).
type pageToken struct {
	Digest  uint64  `json:"d"`
	Cluster string  `json:"c,omitempty"`
	NS      string  `json:"ns"`
	Kind    string  `json:"k"`
	Name    string  `json:"n"`
	Value   float64 `json:"v,omitempty"`
}

func (t *pageToken) key() recommender.WorkloadKey {
	return recommender.WorkloadKey{Cluster: t.Cluster, Namespace: t.NS, Kind: t.Kind, Name: t.Name}
}

func encodePageToken(q *listQuery, e *entry) string {
	b, _ := json.Marshal(pageToken{Digest: q.digest, Cluster: e.key.Cluster, NS: e.key.Namespace, Kind: e.key.Kind, Name: e.key.Name, Value: value(q.order, e)})
	return base64.RawURLEncoding.EncodeToString(b)
}

// maxPageTokenLen bounds a token: four key parts of MaxKeyPartLen bytes,
// JSON-escaped, in base64, with room to spare.
const maxPageTokenLen = 8 << 10

func decodePageToken(s string) (*pageToken, error) {
	if len(s) > maxPageTokenLen {
		return nil, fmt.Errorf("longer than %d bytes", maxPageTokenLen)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("malformed: %w", err)
	}
	var t pageToken
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("malformed: %w", err)
	}
	return &t, nil
}

// listRecommendationsField is the field number of
// ListRecommendationsResponse.recommendations.
const listRecommendationsField = 1

// listWire encodes m as one element of that repeated field.
func listWire(m *rightsizerv1.WorkloadRecommendation) []byte {
	n := proto.Size(m)
	out := make([]byte, 0, protowire.SizeTag(listRecommendationsField)+protowire.SizeVarint(uint64(n))+n)
	out = protowire.AppendTag(out, listRecommendationsField, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(n))
	// The size was just computed: marshal into the same buffer, once.
	out, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(out, m)
	if err != nil { // a message built by this package always marshals
		panic(fmt.Sprintf("marshal %s: %v", m.GetWorkload(), err))
	}
	return out
}

// labels returns workload k's labels, or nil if the snapshot (which may
// be nil) lacks it.
func (s *snapshot) labels(k recommender.WorkloadKey) map[string]string {
	if s == nil {
		return nil
	}
	i := sort.Search(len(s.byName), func(i int) bool { return compareKeys(s.byName[i].key, k) >= 0 })
	if i < len(s.byName) && s.byName[i].key == k {
		return s.byName[i].labels
	}
	return nil
}
