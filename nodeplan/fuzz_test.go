package nodeplan_test

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rightsizer/rightsizer/nodeplan"
	"github.com/rightsizer/rightsizer/nodeplan/cluster"
	"github.com/rightsizer/rightsizer/recommender"
)

// fuzzInput decodes bytes into a small Input with any values, valid or
// not: prices may be NaN or negative, requests huge or negative, GPU
// requests of both kinds.
func fuzzInput(data []byte) nodeplan.Input {
	next := func() int64 {
		if len(data) < 2 {
			return 0
		}
		v := int64(int16(binary.LittleEndian.Uint16(data)))
		data = data[2:]
		return v
	}
	var in nodeplan.Input
	nt := int(uint8(next())) % 5
	for i := range nt {
		t := cluster.NodeType{
			Name:         string(rune('a' + i)),
			PricePerHour: float64(next()) / 100,
			Allocatable: cluster.Resources{
				CPU:    recommender.MilliCPU(next() * 100),
				Memory: recommender.Bytes(next()) * recommender.MiB * 64,
				Pods:   int(next() % 200),
			},
			GPUs:     int(next() % 70),
			GPUModel: []string{"", "T4", "A100"}[int(uint8(next()))%3],
			Labels:   map[string]string{"pool": []string{"a", "b"}[int(uint8(next()))%2]},
		}
		switch next() % 7 {
		case 1:
			t.PricePerHour = math.NaN()
		case 2:
			t.Taints = []cluster.Taint{{Key: "gpu", Value: "true", Effect: "NoSchedule"}}
		}
		in.Types = append(in.Types, t)
	}
	np := int(uint8(next())) % 12
	for range np {
		p := cluster.Pod{
			Name:   "p",
			CPU:    recommender.MilliCPU(next() * 10),
			Memory: recommender.Bytes(next()) * recommender.MiB * 16,
			GPU:    cluster.GPURequest{Count: int(next() % 9), Milli: int(next() % 1100)},
		}
		switch next() % 5 {
		case 1:
			p.GPU.Models = []string{"T4"}
		case 2:
			p.NodeSelector = map[string]string{"pool": "b"}
		case 3:
			p.Tolerations = []cluster.Toleration{{Key: "gpu", Operator: "Exists"}}
		}
		in.Pods = append(in.Pods, p)
	}
	in.Seed = uint64(next())
	in.MaxMoves = int(next() % 50)
	in.Budget = time.Minute
	return in
}

// FuzzPlan checks that Plan never panics on any input, and that every
// plan it returns replays onto fresh nodes.
func FuzzPlan(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{2, 0, 100, 0, 0x10, 0x27, 64, 0, 20, 0, 4, 0, 1, 0, 0, 0, 0, 0, 3, 0, 0xe8, 0x03, 8, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{4, 0, 50, 0, 0x20, 0x4e, 128, 0, 110, 0, 8, 0, 2, 0, 1, 0, 2, 0,
		0xff, 0xff, 0x10, 0x27, 64, 0, 20, 0, 1, 0, 0, 0, 1, 0, 0, 0,
		8, 0, 0xe8, 0x03, 8, 0, 1, 0, 0xf4, 0x01, 0, 0, 1, 0, 9, 0, 0, 0, 3, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzInput(data)
		res, err := nodeplan.Plan(t.Context(), in)
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		checkPlan(t, in, res)
	})
}
