package nodeplan

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// TestCoverLPMatchesGonum solves seeded random covering LPs with the
// column generation's simplex and with gonum's, and compares the optima,
// before and after refactoring the basis.
func TestCoverLPMatchesGonum(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 40 {
		m := 3 + rng.IntN(10)
		ncols := m + 5 + rng.IntN(40)
		demand := make([]float64, m)
		for i := range demand {
			demand[i] = float64(1 + rng.IntN(50))
		}
		var cols []column
		for j := range m {
			cols = append(cols, column{cost: 1 + rng.Float64()*5, cls: []int32{int32(j)}, cnt: []float64{float64(1 + rng.IntN(4))}})
		}
		for len(cols) < ncols {
			var c column
			c.cost = 1 + rng.Float64()*10
			for j := range m {
				if rng.IntN(3) == 0 {
					c.cls = append(c.cls, int32(j))
					c.cnt = append(c.cnt, float64(1+rng.IntN(5)))
				}
			}
			if len(c.cls) > 0 {
				cols = append(cols, c)
			}
		}
		l := newCoverLP(demand, cols)
		require.NoError(t, l.solve(t.Context(), 100_000))
		got := l.objective()
		l.refactor()
		require.InDelta(t, got, l.objective(), 1e-9*got, "trial %d: refactoring moved the optimum", trial)

		// gonum: min c·x subject to A·x − s = n, x, s ≥ 0.
		nv := ncols + m
		a := mat.NewDense(m, nv, nil)
		c := make([]float64, nv)
		for q, col := range cols {
			c[q] = col.cost
			for k, j := range col.cls {
				a.Set(int(j), q, col.cnt[k])
			}
		}
		for j := range m {
			a.Set(j, ncols+j, -1)
		}
		want, _, err := lp.Simplex(c, a, demand, 1e-10, nil)
		require.NoError(t, err)
		require.InDelta(t, want, got, 1e-7*want, "trial %d", trial)
	}
}
