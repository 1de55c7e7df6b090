package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/rightsizer/rightsizer/api/pbconv"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/labels"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
	"github.com/rightsizer/rightsizer/recommender"
)

// testSnapshot has 25 workloads in 2 namespaces; savings repeat every 5,
// so that ties are broken by key.
func testSnapshot() *snapshot {
	s := &snapshot{}
	for i := range 25 {
		k := recommender.WorkloadKey{Namespace: []string{"a", "b"}[i%2], Kind: "Deployment", Name: fmt.Sprintf("w%02d", i)}
		e := &entry{key: k, labels: labels.Set{"even": fmt.Sprint(i%2 == 0)}, savings: float64(i % 5), risk: float64(i) / 100,
			wire: listWire(&rightsizerv1.WorkloadRecommendation{Workload: pbconv.WorkloadRef(k)})}
		s.byName = append(s.byName, e)
	}
	s.byName = sortedBy(rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_NAME, s.byName)
	s.bySavings = sortedBy(rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_SAVINGS, s.byName)
	s.byRisk = sortedBy(rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_RISK, s.byName)
	return s
}

// TestPagingVisitsEveryMatchOnce walks every order, filter and page size
// and checks that the pages together are exactly the matches, in order.
func TestPagingVisitsEveryMatchOnce(t *testing.T) {
	t.Parallel()
	s := testSnapshot()
	orders := []rightsizerv1.RecommendationOrder{
		rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_UNSPECIFIED,
		rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_SAVINGS,
		rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_RISK,
	}
	filters := []struct {
		name string
		req  *rightsizerv1.ListRecommendationsRequest
		want int
	}{
		{"none", &rightsizerv1.ListRecommendationsRequest{}, 25},
		{"namespace", &rightsizerv1.ListRecommendationsRequest{Namespace: "a"}, 13},
		{"selector", &rightsizerv1.ListRecommendationsRequest{LabelSelector: "even=false"}, 12},
		{"min savings", &rightsizerv1.ListRecommendationsRequest{MinMonthlySavingsUsd: 3}, 10},
		{"nothing", &rightsizerv1.ListRecommendationsRequest{Namespace: "zzz"}, 0},
	}
	for _, o := range orders {
		for _, f := range filters {
			for _, size := range []int32{1, 4, 5, 25, 1000} {
				t.Run(fmt.Sprintf("%v/%s/%d", o, f.name, size), func(t *testing.T) {
					var got []string
					token := ""
					for pages := 0; ; pages++ {
						require.Less(t, pages, 30, "paging does not end")
						req := proto.CloneOf(f.req)
						req.OrderBy, req.PageSize, req.PageToken = o, size, token
						q, err := parseListQuery(req)
						require.NoError(t, err)
						page, next, total := s.page(q)
						require.Equal(t, f.want, total)
						require.LessOrEqual(t, len(page), int(size))
						for _, e := range page {
							got = append(got, e.key.Name)
						}
						if next == "" {
							break
						}
						token = next
					}
					var want []string
					all := s.byName
					switch o {
					case rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_SAVINGS:
						all = s.bySavings
					case rightsizerv1.RecommendationOrder_RECOMMENDATION_ORDER_RISK:
						all = s.byRisk
					}
					q, _ := parseListQuery(f.req)
					for _, e := range all {
						if q.matchEntry(e) {
							want = append(want, e.key.Name)
						}
					}
					require.Equal(t, want, got)
				})
			}
		}
	}
}

func TestChangelog(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	l := newChangelog("ep", time.Minute, 3, func() time.Time { return now })
	change := func(name string) *recommender.Change {
		return &recommender.Change{Recommendation: recommender.Recommendation{ContainerKey: recommender.ContainerKey{
			WorkloadKey: recommender.WorkloadKey{Namespace: "n", Kind: "Deployment", Name: name}, Container: "c"}}}
	}
	require.Equal(t, "ep.0", l.head())
	for _, n := range []string{"a", "b", "c", "d"} { // the fourth drops the first
		l.append(change(n))
	}
	names := func(evs []logEvent) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e.key.Name)
		}
		return out
	}
	for _, tc := range []struct {
		token string
		want  []string
		err   error
	}{
		{"", nil, nil},
		{"ep.4", nil, nil},
		{"ep.1", []string{"b", "c", "d"}, nil},
		{"ep.3", []string{"d"}, nil},
		{"ep.0", nil, errResumeExpired}, // a was dropped
		{"other.1", nil, errResumeExpired},
		{"ep.5", nil, errInvalidToken},
		{"ep", nil, errInvalidToken},
		{"ep.-1", nil, errInvalidToken},
	} {
		t.Run(tc.token, func(t *testing.T) {
			seq, err := l.parse(tc.token)
			if err == nil {
				var evs []logEvent
				evs, _, err = l.since(seq)
				require.Equal(t, tc.want, names(evs))
			}
			require.ErrorIs(t, err, tc.err)
		})
	}
	t.Run("retention by age", func(t *testing.T) {
		now = now.Add(2 * time.Minute)
		l.append(change("e")) // everything before is older than a minute
		_, _, err := l.since(3)
		require.ErrorIs(t, err, errResumeExpired)
		evs, _, err := l.since(4)
		require.NoError(t, err)
		require.Equal(t, []string{"e"}, names(evs))
		require.Equal(t, rightsizerv1.RecommendationEventType_RECOMMENDATION_EVENT_TYPE_CHANGED, evs[0].resp.GetType())
		require.Equal(t, "ep.5", evs[0].resp.GetResumeToken())
	})
}
