package apiload

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	rightsizerv1 "github.com/rightsizer/rightsizer/proto/rightsizer/v1"
)

func TestFrameCodec(t *testing.T) {
	t.Parallel()
	f, err := NewFleet(fleetConfig(2000, 1000, 1), fleetNow)
	require.NoError(t, err)
	c := newFrameCodec()
	require.Equal(t, "proto", c.Name())

	for _, declare := range []bool{true, false} {
		fr := f.Next(f.Encoding(1, 1000), declare)
		out, err := c.Marshal(fr)
		require.NoError(t, err)
		want := make([]byte, fr.size())
		fr.stamp(want)
		require.Equal(t, want, out.Materialize())
		out.Free()
	}

	// Anything else is marshalled as protobuf, both ways.
	req := f.Probe("x", 2, fleetNow, 7)
	out, err := c.Marshal(req)
	require.NoError(t, err)
	var back rightsizerv1.IngestUsageRequest
	require.NoError(t, c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(out.Materialize())}, &back))
	out.Free()
	require.True(t, proto.Equal(req, &back))
	require.False(t, math.IsNaN(back.Samples[0].GetCpuCores()))
}

func TestPageScan(t *testing.T) {
	t.Parallel()
	page := func(n int, total int32) []byte {
		resp := &rightsizerv1.ListRecommendationsResponse{TotalSize: total, NextPageToken: "next", ResumeToken: "r"}
		for i := range n {
			resp.Recommendations = append(resp.Recommendations, &rightsizerv1.WorkloadRecommendation{
				Workload: &rightsizerv1.WorkloadRef{Namespace: Namespace, Kind: Kind, Name: WorkloadName(i)},
				Labels:   map[string]string{"team": "t01"},
				Containers: []*rightsizerv1.ContainerRecommendation{{
					Container: Container, Cpu: &rightsizerv1.CpuRecommendation{RequestMillicores: 100},
				}},
				MonthlySavingsUsd: 1.5,
			})
		}
		b, err := proto.Marshal(resp)
		require.NoError(t, err)
		return b
	}
	for _, tc := range []struct {
		name  string
		b     []byte
		want  pageScan
		fails bool
	}{
		{"page of 100", page(100, 10_000), pageScan{recommendations: 100, totalSize: 10_000}, false},
		{"empty", page(0, 0), pageScan{}, false},
		{"truncated", page(3, 7)[:40], pageScan{}, true},
		{"bad tag", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, pageScan{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var p pageScan
			err := newFrameCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(tc.b)}, &p)
			if tc.fails {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			tc.want.bytes = len(tc.b)
			require.Equal(t, tc.want, p)
		})
	}
}
