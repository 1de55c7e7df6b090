package lowerbound

import (
	"errors"
	"math"
)

// column is one variable of a simplex: its cost and its sparse entries.
type column struct {
	cost float64
	idx  []int
	val  []float64
}

// errStopped reports a simplex stopped by its interrupt check
// (simplex.stop) for a reason that is not an error of Compute's: the
// time limit.
var errStopped = errors.New("lower bound LP: time limit")

// simplex is a dense revised simplex for
//
//	min c·x  s.t.  A·x = b, x ≥ 0,
//
// that keeps its basis while columns and rows are added: a column
// enters nonbasic at 0 (the basis stays primal feasible; primal restores
// optimality), a row enters with its own slack basic (the basis stays dual
// feasible; dual restores feasibility). It keeps B⁻¹ dense, updated by
// row operations at each pivot (O(rows²)) and recomputed from the basis
// (O(rows³), cheaper when many basic columns are slacks) every
// refactorEvery pivots, on loss of accuracy, and before primal declares a
// basis optimal (dual does not: the cuts and pricing after it read its
// solution and duals as updated). Ratio tests are Harris's two-pass
// tests: among the steps within the tolerances of the shortest, the
// largest pivot element, so that the basis stays well conditioned. Not
// safe for concurrent use.
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
	norm    []float64 // per row i, ‖row i of B⁻¹‖²: dual steepest edge weights
	pivots  int       // since the last refactorisation
	// broken is set when the basis turned out singular: B⁻¹, the
	// solution and the duals no longer mean anything.
	broken bool
	// stop, when set, is asked every `every` pivots (checkEvery when 0)
	// and during a refactorisation whether to stop; its error ends primal
	// or dual.
	stop  func() error
	every int

	costTol float64 // reduced cost tolerance
	feasTol float64 // primal feasibility tolerance
	d       []float64
	alpha   []float64 // scratch: per column, ρ·A_j in dual
	rc      []float64 // scratch: per column, its reduced cost in dual
	bm      []float64 // scratch for refactor
	rowOf   []int     // scratch for refactor
}

const (
	// pivotTol is the smallest pivot element taken, absolute; Harris's
	// test prefers far larger ones.
	pivotTol = 1e-9
	// checkEvery is how many pivots pass between calls of stop.
	checkEvery = 8
)

// addColumn adds a nonbasic column and returns its index.
func (s *simplex) addColumn(c column) int {
	s.cols = append(s.cols, c)
	s.basicAt = append(s.basicAt, -1)
	return len(s.cols) - 1
}

// addRow adds the row Σ coef[k]·x[cols[k]] + slack = rhs, with a new slack
// column (cost 0) basic in it, and returns the slack's index; the row is
// the last, s.m−1. The slack's value is rhs minus the row at the current
// solution, negative when the row cuts it off. O(rows²). Before the first
// basis (setBasis) it only appends the row and its slack column.
func (s *simplex) addRow(cols []int, coef []float64, rhs float64) int {
	m := s.m
	r := m
	for k, j := range cols {
		s.cols[j].idx = append(s.cols[j].idx, r)
		s.cols[j].val = append(s.cols[j].val, coef[k])
	}
	slack := s.addColumn(column{idx: []int{r}, val: []float64{1}})
	if s.binv == nil {
		s.m++
		s.b = append(s.b, rhs)
		return slack
	}
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
	s.norm = append(s.norm, dot(last, last))
	s.m = n
	s.b = append(s.b, rhs)
	s.basis = append(s.basis, slack)
	s.basicAt[slack] = m
	s.xb = append(s.xb, value)
	s.pi = append(s.pi, 0)
	return slack
}

// setBasis makes basis (per row, its basic column) the basis and
// refactors: see refactor.
func (s *simplex) setBasis(basis []int) (bool, error) {
	s.basis = basis
	for j := range s.basicAt {
		s.basicAt[j] = -1
	}
	for i, j := range basis {
		s.basicAt[j] = i
	}
	return s.refactor()
}

// refactor recomputes B⁻¹, the basic solution and the duals from the
// basis. A singular basis sets broken and returns false. The error is
// stop's, which refactor asks every few dozen eliminations.
//
// Basic slack columns (a single ±1) are not eliminated: with S the rows
// they are basic in and N the other basic columns, over the other rows R,
// B⁻¹ is N_R⁻¹ on the rows of N and, on the slacks' rows, ±(e − N_S·N_R⁻¹):
// O(k³ + rows·k²) for k the basic columns that are not slacks.
func (s *simplex) refactor() (bool, error) {
	m := s.m
	// Logical columns: one entry of ±1.
	s.rowOf = growInts(s.rowOf, m) // per row: the basis position of its logical, or -1
	rowOf := s.rowOf
	for i := range rowOf {
		rowOf[i] = -1
	}
	var structural []int // basis positions of the other columns
	for i, j := range s.basis {
		col := &s.cols[j]
		if len(col.idx) == 1 && math.Abs(col.val[0]) == 1 && rowOf[col.idx[0]] < 0 {
			rowOf[col.idx[0]] = i
			continue
		}
		structural = append(structural, i)
	}
	k := len(structural)
	// The rows without a logical, in order: R.
	rest := make([]int, 0, k)
	at := make([]int, m) // per row in R, its position in rest
	for r := range m {
		if rowOf[r] < 0 {
			at[r] = len(rest)
			rest = append(rest, r)
		}
	}
	if len(rest) != k {
		s.broken = true
		return false, nil
	}
	// N_R, k×k.
	s.bm = growTo(s.bm, k*k)
	nr := s.bm
	clear(nr)
	for c, i := range structural {
		col := &s.cols[s.basis[i]]
		for e, r := range col.idx {
			if rowOf[r] < 0 {
				nr[at[r]*k+c] = col.val[e]
			}
		}
	}
	ok, err := invertStop(nr, k, s.stop)
	if err != nil {
		return false, err
	}
	if !ok {
		s.broken = true
		return false, nil
	}
	if s.stride < m {
		s.stride = max(2*s.stride, m, 16)
		s.binv = make([]float64, s.stride*s.stride)
	}
	// Rows of B⁻¹ for the structural columns: N_R⁻¹ spread over R.
	for c, i := range structural {
		row := s.binv[i*s.stride : i*s.stride+m]
		clear(row)
		src := nr[c*k : (c+1)*k]
		for e, r := range rest {
			row[r] = src[e]
		}
	}
	// Rows for the logicals: sign·(e_r − Σ_c N[r][c]·(row c of N_R⁻¹)).
	for r, i := range rowOf {
		if i < 0 {
			continue
		}
		col := &s.cols[s.basis[i]]
		sign := col.val[0]
		row := s.binv[i*s.stride : i*s.stride+m]
		clear(row)
		row[r] = sign
	}
	for _, i := range structural {
		col := &s.cols[s.basis[i]]
		src := s.binv[i*s.stride : i*s.stride+m]
		for e, r := range col.idx {
			li := rowOf[r]
			if li < 0 {
				continue
			}
			f := col.val[e] * s.cols[s.basis[li]].val[0]
			if f == 0 {
				continue
			}
			dst := s.binv[li*s.stride : li*s.stride+m]
			for _, q := range rest {
				dst[q] -= f * src[q]
			}
		}
	}
	s.xb = growTo(s.xb, m)
	s.norm = growTo(s.norm, m)
	for i := range m {
		row := s.row(i)
		s.xb[i] = dot(row, s.b[:m])
		s.norm[i] = dot(row, row)
	}
	s.duals()
	s.pivots = 0
	s.broken = false
	return true, nil
}

// refactorEvery is how many pivots pass between refactorisations: half
// as many as rows, at least 64, so that refactoring (O(rows³) at worst)
// costs about as much as the pivots between (O(rows²) each).
func (s *simplex) refactorEvery() int { return max(64, s.m/2) }

// row is row i of B⁻¹.
func (s *simplex) row(i int) []float64 { return s.binv[i*s.stride : i*s.stride+s.m] }

func growTo(x []float64, n int) []float64 {
	if cap(x) < n {
		return make([]float64, n)
	}
	return x[:n]
}

func growInts(x []int, n int) []int {
	if cap(x) < n {
		return make([]int, n)
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
	clear(s.d)
	col := &s.cols[q]
	for k, r := range col.idx {
		v := col.val[k]
		// Column r of B⁻¹, strided.
		for i, at := 0, r; i < m; i, at = i+1, at+s.stride {
			s.d[i] += s.binv[at] * v
		}
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
	s.norm[r] *= f * f
	for i := range m {
		if i == r || d[i] == 0 {
			continue
		}
		row := s.row(i)
		di := d[i]
		norm := 0.0
		for c, v := range pr {
			x := row[c] - di*v
			row[c] = x
			norm += x * x
		}
		s.norm[i] = norm
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

// interrupted asks stop every `every` (or checkEvery) iterations.
func (s *simplex) interrupted(iter int) error {
	every := s.every
	if every <= 0 {
		every = checkEvery
	}
	if s.stop == nil || iter%every != every-1 {
		return nil
	}
	return s.stop()
}

// maybeRefactor refactors after refactorEvery pivots; false when the
// basis is broken.
func (s *simplex) maybeRefactor() (bool, error) {
	if s.broken {
		return false, nil
	}
	if s.pivots < s.refactorEvery() {
		return true, nil
	}
	return s.refactor()
}

// primal pivots a primal feasible basis to optimality, at most maxIter
// pivots; false when it stopped short (stalled, broken or unbounded,
// which with the problem's non-negative costs is rounding). The error is
// stop's.
func (s *simplex) primal(maxIter int) (bool, error) {
	degenerate := 0
	for iter := 0; iter < maxIter; iter++ {
		if err := s.interrupted(iter); err != nil {
			return false, err
		}
		if ok, err := s.maybeRefactor(); !ok || err != nil {
			return false, err
		}
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
			// Confirm on a fresh factorisation.
			if ok, err := s.refactor(); !ok || err != nil {
				return false, err
			}
			continue
		}
		s.ftran(q)
		r := s.primalRatio(bland)
		if r < 0 {
			return false, nil
		}
		theta := max(s.xb[r], 0) / s.d[r]
		if theta == 0 {
			degenerate++
		} else {
			degenerate = 0
		}
		s.pivot(r, q, theta, best)
	}
	return false, nil
}

// primalRatio is Harris's ratio test on s.d: the leaving row, or -1 when
// no row bounds the step. Bland's rule takes the lowest basic column
// among the ties instead.
func (s *simplex) primalRatio(bland bool) int {
	limit := math.Inf(1)
	for i, di := range s.d[:s.m] {
		if di > pivotTol {
			limit = min(limit, (max(s.xb[i], 0)+s.feasTol)/di)
		}
	}
	if math.IsInf(limit, 1) {
		return -1
	}
	r, piv := -1, 0.0
	for i, di := range s.d[:s.m] {
		if di <= pivotTol || max(s.xb[i], 0)/di > limit {
			continue
		}
		switch {
		case r < 0:
			r, piv = i, di
		case bland:
			if s.basis[i] < s.basis[r] {
				r, piv = i, di
			}
		case di > piv:
			r, piv = i, di
		}
	}
	return r
}

// dual pivots a dual feasible basis to primal feasibility (and so
// optimality), at most maxIter pivots; false when it stopped short
// (broken, stalled, or no entering column, which means rounding). The
// error is stop's.
func (s *simplex) dual(maxIter int) (bool, error) {
	retried := false
	for iter := 0; iter < maxIter; iter++ {
		if err := s.interrupted(iter); err != nil {
			return false, err
		}
		if ok, err := s.maybeRefactor(); !ok || err != nil {
			return false, err
		}
		m := s.m
		// Dual steepest edge: the row whose infeasibility is largest
		// relative to the norm of its row of B⁻¹.
		r, worst := -1, 0.0
		for i, x := range s.xb[:m] {
			if x < -s.feasTol {
				if v := x * x / max(s.norm[i], 1e-12); v > worst {
					r, worst = i, v
				}
			}
		}
		if r < 0 {
			return true, nil
		}
		q, qrc, alphaQ := s.dualRatio(s.row(r))
		if q < 0 {
			if s.pivots > 0 && !retried {
				retried = true
				if ok, err := s.refactor(); !ok || err != nil {
					return false, err
				}
				continue
			}
			return false, nil // primal infeasible: cannot happen but for rounding
		}
		s.ftran(q)
		// The pivot element from the row and from the column must agree;
		// when they do not, B⁻¹ has drifted: refactor and try again.
		if math.Abs(s.d[r]-alphaQ) > 1e-7*(1+math.Abs(alphaQ)) || s.d[r] >= 0 {
			if s.pivots > 0 && !retried {
				retried = true
				if ok, err := s.refactor(); !ok || err != nil {
					return false, err
				}
				continue
			}
			return false, nil
		}
		retried = false
		theta := s.xb[r] / s.d[r]
		s.pivot(r, q, theta, max(qrc, 0))
	}
	return false, nil
}

// dualRatio is Harris's ratio test over the nonbasic columns for the
// pivot row rho (row r of B⁻¹, read only): the entering column, its
// reduced cost and its pivot element ρ·A_q, or -1 when no column can
// enter.
func (s *simplex) dualRatio(rho []float64) (int, float64, float64) {
	s.alpha = growTo(s.alpha, len(s.cols))
	s.rc = growTo(s.rc, len(s.cols))
	biggest := 0.0
	for j := range s.cols {
		if s.basicAt[j] >= 0 {
			s.alpha[j] = 0
			continue
		}
		col := &s.cols[j]
		a := 0.0
		for k, row := range col.idx {
			a += rho[row] * col.val[k]
		}
		s.alpha[j] = a
		biggest = max(biggest, -a)
	}
	tol := max(pivotTol, 1e-9*biggest)
	limit := math.Inf(1)
	for j, a := range s.alpha {
		if a >= -tol {
			continue
		}
		s.rc[j] = s.reducedCost(j)
		limit = min(limit, (max(s.rc[j], 0)+s.costTol)/-a)
	}
	if math.IsInf(limit, 1) {
		return -1, 0, 0
	}
	q, piv := -1, 0.0
	for j, a := range s.alpha {
		if a >= -tol || -a <= piv {
			continue
		}
		if max(s.rc[j], 0)/-a <= limit {
			q, piv = j, -a
		}
	}
	if q < 0 {
		return -1, 0, 0
	}
	return q, s.rc[q], -piv
}

func dot(a, b []float64) float64 {
	v := 0.0
	for i, x := range a {
		v += x * b[i]
	}
	return v
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
