package fgd

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/internal/realdata"
)

const publishedHeader = "workload,policy,arrived_pct,alloc_pct_mean,alloc_pct_sd,alloc_pct_min,alloc_pct_max,n_seeds,frag_ratio_pct_mean,frag_amount_pct_of_total_gpu_mean\n"

func TestReadPublished(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []PublishedPoint
		err  string
	}{
		{
			name: "two points",
			in: publishedHeader +
				"openb_pod_list_default,FGD,100,95.227,0.106,95.06,95.38,10,99.071,4.729\n" +
				"openb_pod_list_default,FGD,130,95.391,0.082,95.27,95.49,10,99.104,4.568\n",
			want: []PublishedPoint{
				{Workload: "openb_pod_list_default", Policy: "FGD", ArrivedPct: 100, Mean: 95.227, SD: 0.106, Min: 95.06, Max: 95.38, Seeds: 10, FragRatioPct: 99.071, FragAmountPct: 4.729},
				{Workload: "openb_pod_list_default", Policy: "FGD", ArrivedPct: 130, Mean: 95.391, SD: 0.082, Min: 95.27, Max: 95.49, Seeds: 10, FragRatioPct: 99.104, FragAmountPct: 4.568},
			},
		},
		{
			name: "columns in another order",
			in:   "policy,workload,n_seeds,arrived_pct,alloc_pct_mean,alloc_pct_sd,alloc_pct_min,alloc_pct_max,frag_ratio_pct_mean,frag_amount_pct_of_total_gpu_mean\nBestFit,w,10,0,0.2,0,0.1,0.3,14,14\n",
			want: []PublishedPoint{{Workload: "w", Policy: "BestFit", Seeds: 10, Mean: 0.2, Min: 0.1, Max: 0.3, FragRatioPct: 14, FragAmountPct: 14}},
		},
		{name: "empty", in: "", err: "empty input"},
		{name: "missing column", in: "workload,policy\n", err: `missing column "arrived_pct"`},
		{name: "unknown column", in: strings.TrimSuffix(publishedHeader, "\n") + ",seed\n", err: "unknown columns"},
		{name: "column twice", in: "workload,workload\n", err: `column "workload" twice`},
		{name: "NaN", in: publishedHeader + "w,FGD,100,NaN,0,0,0,10,0,0\n", err: "line 2, column alloc_pct_mean"},
		{name: "above 100", in: publishedHeader + "w,FGD,100,100.5,0,0,101,10,0,0\n", err: "column alloc_pct_mean"},
		{name: "arrived out of range", in: publishedHeader + "w,FGD,131,1,0,1,1,10,0,0\n", err: "column arrived_pct"},
		{name: "mean outside min and max", in: publishedHeader + "w,FGD,1,5,0,1,2,10,0,0\n", err: "not within min"},
		{name: "no policy", in: publishedHeader + "w,,1,1,0,1,1,10,0,0\n", err: "column policy: empty"},
		{name: "short row", in: publishedHeader + "w,FGD,1\n", err: "wrong number of fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadPublished(strings.NewReader(tt.in))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestRealPublished(t *testing.T) {
	t.Parallel()
	dir := realdata.Dir(t, "fgd-results")
	pts, err := LoadPublished(filepath.Join(dir, PublishedFile))
	require.NoError(t, err)
	require.Len(t, pts, 17*6*131)
	figs := publishedFigures(pts, "openb_pod_list_default")
	require.Len(t, figs, 6)
	want := map[string][2]float64{"FGD": {95.227, 95.391}, "BestFit": {92.862, 93.076}, "Random": {86.303, 87.470}}
	for _, f := range figs {
		if w, ok := want[f.Policy]; ok {
			require.InDelta(t, w[0], f.At100.Mean, 1e-9, f.Policy)
			require.InDelta(t, w[1], f.At130.Mean, 1e-9, f.Policy)
			require.Equal(t, 10, f.At100.N)
		}
	}
}

func FuzzReadPublished(f *testing.F) {
	f.Add([]byte(publishedHeader + "openb_pod_list_default,FGD,100,95.227,0.106,95.06,95.38,10,99.071,4.729\n"))
	f.Add([]byte(publishedHeader + "w,FGD,131,1e309,-0,0x1p-2,Inf,10,0,0\n"))
	f.Add([]byte("workload\n\"a"))
	f.Fuzz(func(t *testing.T, in []byte) {
		pts, err := ReadPublished(strings.NewReader(string(in)))
		if err != nil {
			require.Nil(t, pts)
			return
		}
		for _, p := range pts {
			require.True(t, p.Min <= p.Mean && p.Mean <= p.Max)
			require.True(t, p.ArrivedPct >= 0 && p.ArrivedPct <= MaxArrivedPct)
			require.NotEmpty(t, p.Policy)
		}
	})
}
