package lowerbound

import (
	"context"
	"math"
)

// column is one variable of a simplex: its cost and its sparse entries.
type column struct {
	cost float64
	idx  []int
	val  []float64
}

// simplex is a dense revised simplex for
//
//	min c·x  s.t.  A·x = b, x ≥ 0,
//
// that keeps its basis while columns and rows are added: a column
// enters nonbasic at 0 (the basis stays primal feasible; primal restores
// optimality), a row enters with its own slack basic (the basis stays dual
// feasible; dual restores feasibility). It keeps B⁻¹ dense: O(rows²) per
// pivot, O(rows³) per refactorisation. Not safe for concurrent use.
type simplex struct {
	m       int
	b       []float64
	cols    []column
	basis   []int     // per row, its basic column
	basicAt []int     // per column, its row, or -1
	binv    []float64 // B⁻¹, row i at binv[i*stride:][:m]
	stride  int       // row stride of binv, ≥ m; grows by doubling
	xb      []float64
	pi      []float64
	pivots  int // since the last refactorisation

	costTol float64 // reduced cost tolerance
	feasTol float64 // primal feasibility tolerance
	d       []float64
	rho     []float64
	bm      []float64 // scratch for refactor
}

const pivotTol = 1e-9

// addColumn adds a nonbasic column and returns its index.
func (s *simplex) addColumn(c column) int {
	s.cols = append(s.cols, c)
	s.basicAt = append(s.basicAt, -1)
	return len(s.cols) - 1
}

// addRow adds the row Σ coef[k]·x[cols[k]] + slack = rhs, with a new slack
// column (cost 0) basic in it, and returns the slack's index. The slack's
// value is rhs minus the row at the current solution, negative when the
// row cuts it off. O(rows²).
func (s *simplex) addRow(cols []int, coef []float64, rhs float64) int {
	m := s.m
	r := m
	for k, j := range cols {
		s.cols[j].idx = append(s.cols[j].idx, r)
		s.cols[j].val = append(s.cols[j].val, coef[k])
	}
	slack := s.addColumn(column{idx: []int{r}, val: []float64{1}})
	// B' = [[B, 0], [a, 1]] with a the row's entries on the basic columns,
	// so B'⁻¹ = [[B⁻¹, 0], [-a·B⁻¹, 1]].
	n := m + 1
	if n > s.stride {
		stride := max(2*s.stride, n, 16)
		binv := make([]float64, stride*stride)
		for i := range m {
			copy(binv[i*stride:i*stride+m], s.row(i))
		}
		s.binv, s.stride = binv, stride
	}
	for i := range m {
		s.binv[i*s.stride+m] = 0
	}
	last := s.binv[m*s.stride : m*s.stride+n]
	clear(last)
	value := rhs
	for k, j := range cols {
		i := s.basicAt[j]
		if i < 0 {
			continue
		}
		a := coef[k]
		value -= a * s.xb[i]
		for c, v := range s.row(i) {
			last[c] -= a * v
		}
	}
	last[m] = 1
	s.m = n
	s.b = append(s.b, rhs)
	s.basis = append(s.basis, slack)
	s.basicAt[slack] = m
	s.xb = append(s.xb, value)
	s.pi = append(s.pi, 0)
	return slack
}

// refactor recomputes B⁻¹, the basic solution and the duals from the
// basis; false when the basis is singular (then nothing changes).
func (s *simplex) refactor() bool {
	m := s.m
	s.bm = growTo(s.bm, m*m)
	bm := s.bm
	clear(bm)
	for i, j := range s.basis {
		col := &s.cols[j]
		for k, r := range col.idx {
			bm[r*m+i] = col.val[k]
		}
	}
	if !invert(bm, m) {
		return false
	}
	if s.stride < m {
		s.stride = max(2*s.stride, m, 16)
		s.binv = make([]float64, s.stride*s.stride)
	}
	for i := range m {
		copy(s.binv[i*s.stride:i*s.stride+m], bm[i*m:(i+1)*m])
	}
	s.xb = growTo(s.xb, m)
	for i := range m {
		v := 0.0
		for c, x := range s.row(i) {
			v += x * s.b[c]
		}
		s.xb[i] = v
	}
	s.duals()
	s.pivots = 0
	return true
}

// row is row i of B⁻¹.
func (s *simplex) row(i int) []float64 { return s.binv[i*s.stride : i*s.stride+s.m] }

func growTo(x []float64, n int) []float64 {
	if cap(x) < n {
		return make([]float64, n)
	}
	return x[:n]
}

// duals sets pi = c_B·B⁻¹.
func (s *simplex) duals() {
	m := s.m
	s.pi = growTo(s.pi, m)
	clear(s.pi)
	for i, j := range s.basis {
		cb := s.cols[j].cost
		if cb == 0 {
			continue
		}
		for c, v := range s.row(i) {
			s.pi[c] += cb * v
		}
	}
}

// reducedCost is c_j − π·A_j.
func (s *simplex) reducedCost(j int) float64 {
	col := &s.cols[j]
	rc := col.cost
	for k, r := range col.idx {
		rc -= s.pi[r] * col.val[k]
	}
	return rc
}

// ftran sets s.d = B⁻¹·A_q.
func (s *simplex) ftran(q int) {
	m := s.m
	s.d = growTo(s.d, m)
	col := &s.cols[q]
	for i := range m {
		row := s.row(i)
		v := 0.0
		for k, r := range col.idx {
			v += row[r] * col.val[k]
		}
		s.d[i] = v
	}
}

// pivot makes column q basic in row r, with s.d = B⁻¹·A_q, the step theta
// for the entering variable and rc its reduced cost.
func (s *simplex) pivot(r, q int, theta, rc float64) {
	m := s.m
	d := s.d
	pr := s.row(r)
	f := 1 / d[r]
	for c := range pr {
		pr[c] *= f
	}
	for i := range m {
		if i == r || d[i] == 0 {
			continue
		}
		row := s.row(i)
		di := d[i]
		for c, v := range pr {
			row[c] -= di * v
		}
		s.xb[i] -= di * theta
	}
	s.xb[r] = theta
	// The entering column's reduced cost drops to 0.
	for c, v := range pr {
		s.pi[c] += rc * v
	}
	s.basicAt[s.basis[r]] = -1
	s.basis[r] = q
	s.basicAt[q] = r
	s.pivots++
}

func (s *simplex) maybeRefactor() {
	if s.pivots >= 64 {
		s.refactor()
	}
}

// primal pivots a primal feasible basis to optimality, at most maxIter
// pivots; false when it stopped short (stalled or unbounded, which with
// the problem's non-negative costs is rounding).
func (s *simplex) primal(ctx context.Context, maxIter int) (bool, error) {
	degenerate := 0
	for iter := 0; iter < maxIter; iter++ {
		if iter%128 == 127 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		s.maybeRefactor()
		bland := degenerate > s.m
		q, best := -1, -s.costTol
		for j := range s.cols {
			if s.basicAt[j] >= 0 {
				continue
			}
			rc := s.reducedCost(j)
			if rc < best && rc < -1e-9*math.Abs(s.cols[j].cost) {
				q, best = j, rc
				if bland {
					break
				}
			}
		}
		if q < 0 {
			if s.pivots == 0 {
				return true, nil
			}
			s.refactor() // confirm on a fresh factorisation
			s.pivots = 0
			continue
		}
		s.ftran(q)
		r, theta, piv := -1, math.Inf(1), 0.0
		for i, di := range s.d[:s.m] {
			if di <= pivotTol {
				continue
			}
			t := max(s.xb[i], 0) / di
			switch {
			case t < theta*(1-1e-12):
				r, theta, piv = i, t, di
			case t > theta*(1+1e-12):
			case bland && s.basis[i] < s.basis[r], !bland && di > piv:
				r, theta, piv = i, t, di
			}
		}
		if r < 0 {
			return false, nil
		}
		if theta == 0 {
			degenerate++
		} else {
			degenerate = 0
		}
		s.pivot(r, q, theta, best)
	}
	return false, nil
}

// dual pivots a dual feasible basis to primal feasibility (and so
// optimality), at most maxIter pivots; false when it stopped short.
func (s *simplex) dual(ctx context.Context, maxIter int) (bool, error) {
	for iter := 0; iter < maxIter; iter++ {
		if iter%128 == 127 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		s.maybeRefactor()
		m := s.m
		r, worst := -1, -s.feasTol
		for i, x := range s.xb[:m] {
			if x < worst {
				r, worst = i, x
			}
		}
		if r < 0 {
			return true, nil
		}
		s.rho = growTo(s.rho, m)
		copy(s.rho, s.row(r))
		q, ratio, piv, qrc := -1, math.Inf(1), 0.0, 0.0
		for j := range s.cols {
			if s.basicAt[j] >= 0 {
				continue
			}
			col := &s.cols[j]
			alpha := 0.0
			for k, row := range col.idx {
				alpha += s.rho[row] * col.val[k]
			}
			if alpha >= -pivotTol {
				continue
			}
			rc := s.reducedCost(j)
			t := max(rc, 0) / -alpha
			switch {
			case t < ratio*(1-1e-12):
				q, ratio, piv, qrc = j, t, -alpha, rc
			case t > ratio*(1+1e-12):
			case -alpha > piv:
				q, ratio, piv, qrc = j, t, -alpha, rc
			}
		}
		if q < 0 {
			return false, nil // primal infeasible: cannot happen but for rounding
		}
		s.ftran(q)
		theta := s.xb[r] / s.d[r]
		s.pivot(r, q, theta, qrc)
	}
	return false, nil
}

// objective is c_B·x_B.
func (s *simplex) objective() float64 {
	v := 0.0
	for i, j := range s.basis {
		v += s.cols[j].cost * s.xb[i]
	}
	return v
}

// value is column j's value in the basic solution.
func (s *simplex) value(j int) float64 {
	if i := s.basicAt[j]; i >= 0 {
		return max(s.xb[i], 0)
	}
	return 0
}
