package nodeplan

import (
	"context"
	"math"
)

// Simplex tolerances and effort.
const (
	// lpRefactor is the pivots between two refactorizations of the basis.
	lpRefactor = 100
	// lpTol is the reduced cost and pivot tolerance.
	lpTol = 1e-9
)

// coverLP is the covering LP min c·x subject to A·x ≥ n, x ≥ 0, with A's
// columns sparse and non-negative, solved by the revised simplex method
// with a dense basis inverse, refactored every lpRefactor pivots:
// O(m²) per pivot for m rows. Surplus variable j (the column −e_j) is
// basis entry −1−j. The first m columns must each cover their own row
// alone (column j has one entry, in row j): they are the starting basis.
// Not safe for concurrent use.
type coverLP struct {
	m      int
	demand []float64
	cols   []column
	basis  []int     // per row: a column, or −1−j for surplus j
	binv   []float64 // m×m, row-major
	xb     []float64 // basic values
	y      []float64 // dual prices
	inB    []bool    // per structural column, whether it is basic
	pivots int
	// scratch
	u []float64
	b []float64 // m×2m for refactoring
}

func newCoverLP(demand []float64, initial []column) *coverLP {
	m := len(demand)
	lp := &coverLP{
		m: m, demand: demand, cols: initial,
		basis: make([]int, m), binv: make([]float64, m*m), xb: make([]float64, m), y: make([]float64, m),
		u: make([]float64, m),
	}
	// initial[j] covers class j alone: a diagonal, feasible basis.
	for j := range m {
		lp.basis[j] = j
		lp.setBasic(j)
		k := initial[j].cnt[0]
		lp.binv[j*m+j] = 1 / k
		lp.xb[j] = demand[j] / k
	}
	return lp
}

// column returns A's column q (or surplus) as B⁻¹a in lp.u.
func (lp *coverLP) ftran(q int) {
	m := lp.m
	clear(lp.u)
	if q < 0 {
		j := -1 - q
		for r := range m {
			lp.u[r] = -lp.binv[r*m+j]
		}
		return
	}
	c := &lp.cols[q]
	for r := range m {
		row := lp.binv[r*m : r*m+m]
		v := 0.0
		for k, j := range c.cls {
			v += row[j] * c.cnt[k]
		}
		lp.u[r] = v
	}
}

func (lp *coverLP) costOf(q int) float64 {
	if q < 0 {
		return 0
	}
	return lp.cols[q].cost
}

// duals sets lp.y = c_B·B⁻¹.
func (lp *coverLP) duals() {
	m := lp.m
	clear(lp.y)
	for r := range m {
		cb := lp.costOf(lp.basis[r])
		if cb == 0 {
			continue
		}
		row := lp.binv[r*m : r*m+m]
		for i, v := range row {
			lp.y[i] += cb * v
		}
	}
}

// reduced is column q's reduced cost at lp.y.
func (lp *coverLP) reduced(q int) float64 {
	if q < 0 {
		return lp.y[-1-q]
	}
	c := &lp.cols[q]
	d := c.cost
	for k, j := range c.cls {
		d -= lp.y[j] * c.cnt[k]
	}
	return d
}

// solve runs simplex pivots until no column or surplus prices out, or
// maxPivots. Dantzig's rule, Bland's after a run of degenerate pivots.
func (lp *coverLP) solve(ctx context.Context, maxPivots int) error {
	m := lp.m
	degenerate := 0
	for range maxPivots {
		if lp.pivots%lpRefactor == lpRefactor-1 {
			if err := ctx.Err(); err != nil {
				return err
			}
			lp.refactor()
		}
		lp.duals()
		bland := degenerate > 2*m
		enter, best := 0, -lpTol
		found := false
		consider := func(q int) bool {
			d := lp.reduced(q)
			if d < best || (bland && d < -lpTol) {
				enter, best, found = q, d, true
				return bland
			}
			return false
		}
		for j := range m {
			if lp.y[j] < -lpTol && consider(-1-j) {
				break
			}
		}
		if !found || !bland {
			for q := range lp.cols {
				if (q >= len(lp.inB) || !lp.inB[q]) && consider(q) {
					break
				}
			}
		}
		if !found {
			return nil
		}
		lp.ftran(enter)
		leave, ratio := lp.ratioTest()
		if leave < 0 {
			return nil // unbounded: cannot happen with costs ≥ 0
		}
		if ratio <= lpTol {
			degenerate++
		} else {
			degenerate = 0
		}
		lp.pivot(leave, enter)
	}
	return nil
}

// ratioTest picks the leaving row for the entering column in lp.u by
// Harris's two-pass test: the largest pivot among the rows whose ratio is
// within a small tolerance of the least. It returns the row and its
// ratio, or -1.
func (lp *coverLP) ratioTest() (int, float64) {
	umax := 0.0
	for _, v := range lp.u {
		umax = max(umax, v)
	}
	tol := max(1e-9, 1e-7*umax)
	limit := math.Inf(1)
	for r, v := range lp.u {
		if v > tol {
			limit = min(limit, (lp.xb[r]+1e-9)/v)
		}
	}
	leave, best := -1, 0.0
	for r, v := range lp.u {
		if v > tol && lp.xb[r]/v <= limit && v > best {
			leave, best = r, v
		}
	}
	if leave < 0 {
		return -1, 0
	}
	return leave, max(lp.xb[leave]/best, 0)
}

// pivot replaces basis row r with column q (lp.u holds B⁻¹a_q).
func (lp *coverLP) pivot(r, q int) {
	m := lp.m
	p := lp.u[r]
	prow := lp.binv[r*m : r*m+m]
	for i := range prow {
		prow[i] /= p
	}
	lp.xb[r] /= p
	for i := range m {
		f := lp.u[i]
		if i == r || f == 0 {
			continue
		}
		row := lp.binv[i*m : i*m+m]
		for k, v := range prow {
			row[k] -= f * v
		}
		lp.xb[i] -= f * lp.xb[r]
		if lp.xb[i] < 0 && lp.xb[i] > -1e-9 {
			lp.xb[i] = 0
		}
	}
	if old := lp.basis[r]; old >= 0 {
		lp.inB[old] = false
	}
	lp.basis[r] = q
	if q >= 0 {
		lp.setBasic(q)
	}
	lp.pivots++
}

// refactor recomputes B⁻¹ from the basis by Gauss–Jordan elimination with
// partial pivoting, and x_B = B⁻¹n. A singular basis (numerically) keeps
// the old inverse.
func (lp *coverLP) refactor() {
	m := lp.m
	w := 2 * m
	if lp.b == nil {
		lp.b = make([]float64, m*w)
	}
	a := lp.b
	clear(a)
	for r, q := range lp.basis {
		if q < 0 {
			a[(-1-q)*w+r] = -1
			continue
		}
		c := &lp.cols[q]
		for k, j := range c.cls {
			a[int(j)*w+r] = c.cnt[k]
		}
	}
	for i := range m {
		a[i*w+m+i] = 1
	}
	for col := range m {
		piv, pv := -1, 1e-12
		for r := col; r < m; r++ {
			if v := math.Abs(a[r*w+col]); v > pv {
				piv, pv = r, v
			}
		}
		if piv < 0 {
			lp.resetBasis()
			return
		}
		if piv != col {
			for k := range w {
				a[piv*w+k], a[col*w+k] = a[col*w+k], a[piv*w+k]
			}
		}
		d := a[col*w+col]
		for k := range w {
			a[col*w+k] /= d
		}
		for r := range m {
			if f := a[r*w+col]; r != col && f != 0 {
				for k := range w {
					a[r*w+k] -= f * a[col*w+k]
				}
			}
		}
	}
	for r := range m {
		copy(lp.binv[r*m:r*m+m], a[r*w+m:r*w+w])
	}
	for r := range m {
		v := 0.0
		for j := range m {
			v += lp.binv[r*m+j] * lp.demand[j]
		}
		lp.xb[r] = max(v, 0)
	}
}

// resetBasis falls back to the initial, diagonal basis of the first m
// columns, each of which covers its own class alone.
func (lp *coverLP) resetBasis() {
	m := lp.m
	clear(lp.binv)
	clear(lp.inB)
	for j := range m {
		lp.basis[j] = j
		lp.setBasic(j)
		k := lp.cols[j].cnt[0]
		lp.binv[j*m+j] = 1 / k
		lp.xb[j] = lp.demand[j] / k
	}
}

// setBasic marks column q basic.
func (lp *coverLP) setBasic(q int) {
	for len(lp.inB) <= q {
		lp.inB = append(lp.inB, false)
	}
	lp.inB[q] = true
}

// objective is c_B·x_B.
func (lp *coverLP) objective() float64 {
	v := 0.0
	for r, q := range lp.basis {
		v += lp.costOf(q) * lp.xb[r]
	}
	return v
}
