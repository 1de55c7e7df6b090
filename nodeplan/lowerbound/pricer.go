package lowerbound

import (
	"errors"
	"math"
)

// errNumerical reports a simplex that lost its way: a bounded LP that
// looked unbounded, or a basis that could not be restored.
var errNumerical = errors.New("lower bound LP: numerical failure")

// pricer solves one node type's pricing LP,
//
//	max Σ_j π[classes[j]]·a[j]  s.t.  Σ_j rows[r][j]·a[j] ≤ 1 for every row r, a ≥ 0,
//
// the load of one node worth most at the LP's class dual prices π, by a
// dense tableau simplex. The tableau does not depend on π, so it is kept
// between rounds and each round starts from the last optimal basis. Every
// class has a positive pod-slot row, so the LP is bounded. Not safe for
// concurrent use.
type pricer struct {
	nt      *nodeType
	m, n    int       // rows, classes; columns are n classes then m slacks
	tab     []float64 // m × (n+m), row-major: B⁻¹·[rows | I]
	rhs     []float64 // B⁻¹·b
	b       []float64 // the right-hand side: 1 per row, perturbed up by < 1e-7
	basis   []int     // per tableau row, its basic column
	inBasis []bool
	pivots  int // since the tableau was last rebuilt
	cost    []float64
	y       []float64
}

func newPricer(nt *nodeType) *pricer {
	m, n := len(nt.rows), len(nt.classes)
	p := &pricer{
		nt: nt, m: m, n: n,
		tab: make([]float64, m*(n+m)), rhs: make([]float64, m),
		basis: make([]int, m), inBasis: make([]bool, n+m),
		cost: make([]float64, n+m), y: make([]float64, m), b: make([]float64, m),
	}
	// Distinct right-hand sides keep the LP off degenerate vertices,
	// where the simplex could cycle; loads are scaled back in after.
	for i := range p.b {
		p.b[i] = 1 + 1e-7*float64(i+1)/float64(m)
	}
	p.slackBasis()
	return p
}

func (p *pricer) slackBasis() {
	w := p.n + p.m
	clear(p.inBasis)
	for i := range p.m {
		row := p.tab[i*w : (i+1)*w]
		copy(row, p.nt.rows[i])
		clear(row[p.n:])
		row[p.n+i] = 1
		p.rhs[i] = p.b[i]
		p.basis[i] = p.n + i
		p.inBasis[p.n+i] = true
	}
	p.pivots = 0
}

// rebuild recomputes the tableau from the original rows for the current
// basis, or falls back to the slack basis when it is singular.
func (p *pricer) rebuild() {
	m, w := p.m, p.n+p.m
	b := make([]float64, m*m)
	for i, col := range p.basis {
		for r := range m {
			if col < p.n {
				b[r*m+i] = p.nt.rows[r][col]
			} else if col-p.n == r {
				b[r*m+i] = 1
			}
		}
	}
	if !invert(b, m) {
		p.slackBasis()
		return
	}
	for i := range m {
		row := p.tab[i*w : (i+1)*w]
		clear(row)
		p.rhs[i] = 0
		for r := range m {
			f := b[i*m+r]
			if f == 0 {
				continue
			}
			for j := range p.n {
				row[j] += f * p.nt.rows[r][j]
			}
			row[p.n+r] += f
			p.rhs[i] += f * p.b[r]
		}
		if p.rhs[i] < 0 { // a basis that drifted infeasible: start over
			p.slackBasis()
			return
		}
	}
	p.pivots = 0
}

// solve maximises at prices pi (per class) and writes the optimal dual
// weights per row to w: w ≥ 0 with Σ_r w[r]·rows[r][j] ≥ π[classes[j]]
// for every class, up to rounding, so Σ_r w[r] is at least the best
// load's worth (the perturbed right-hand sides make it at most a relative
// 1e-7 more). O(rows × (classes + rows)) per pivot.
func (p *pricer) solve(pi []float64, w []float64) error {
	err := p.simplex(pi, w)
	if err != nil { // start over from the slack basis once
		p.slackBasis()
		err = p.simplex(pi, w)
	}
	return err
}

func (p *pricer) simplex(pi []float64, w []float64) error {
	m, n, width := p.m, p.n, p.n+p.m
	maxCost := 0.0
	for j, c := range p.nt.classes {
		p.cost[j] = pi[c]
		maxCost = max(maxCost, pi[c])
	}
	clear(w)
	if maxCost <= 0 {
		return nil
	}
	tol := 1e-11 * maxCost
	for iter := 0; ; iter++ {
		if p.pivots > 2*m+8 {
			p.rebuild()
		}
		for i, col := range p.basis {
			p.y[i] = p.cost[col]
		}
		bland := iter > 20*(m+1)
		q, best := -1, tol
		for j := range width {
			if p.inBasis[j] {
				continue
			}
			r := p.cost[j]
			for i := range m {
				r -= p.y[i] * p.tab[i*width+j]
			}
			if r > best {
				q, best = j, r
				if bland {
					break
				}
			}
		}
		if q < 0 {
			break
		}
		r, theta, piv := -1, math.Inf(1), 0.0
		for i := range m {
			d := p.tab[i*width+q]
			if d <= 1e-9 {
				continue
			}
			t := max(p.rhs[i], 0) / d
			switch {
			case t < theta*(1-1e-12):
				r, theta, piv = i, t, d
			case t > theta*(1+1e-12):
			case bland && p.basis[i] < p.basis[r], !bland && d > piv:
				r, theta, piv = i, t, d
			}
		}
		if r < 0 {
			return errNumerical
		}
		p.pivot(r, q)
		if iter > 50*(m+n+1) {
			return errNumerical
		}
	}
	for k := range m {
		s := 0.0
		for i := range m {
			s += p.y[i] * p.tab[i*width+n+k]
		}
		w[k] = max(s, 0)
	}
	return nil
}

func (p *pricer) pivot(r, q int) {
	width := p.n + p.m
	pr := p.tab[r*width : (r+1)*width]
	f := 1 / pr[q]
	for j := range pr {
		pr[j] *= f
	}
	p.rhs[r] *= f
	pr[q] = 1
	for i := range p.m {
		if i == r {
			continue
		}
		row := p.tab[i*width : (i+1)*width]
		d := row[q]
		if d == 0 {
			continue
		}
		for j, v := range pr {
			row[j] -= d * v
		}
		row[q] = 0
		p.rhs[i] -= d * p.rhs[r]
	}
	p.inBasis[p.basis[r]] = false
	p.basis[r] = q
	p.inBasis[q] = true
	p.pivots++
}

// invert replaces the n×n row-major matrix a with its inverse by
// Gauss–Jordan elimination with partial pivoting, O(n³); false when it is
// singular to working precision (a is then garbage).
func invert(a []float64, n int) bool {
	ok, _ := invertStop(a, n, nil)
	return ok
}

// invertStop is invert that asks stop, when not nil, every 32
// eliminations whether to give up, and then returns its error.
func invertStop(a []float64, n int, stop func() error) (bool, error) {
	swap := make([]int, n) // the row swapped with row k at step k
	for k := range n {
		if stop != nil && k%32 == 31 {
			if err := stop(); err != nil {
				return false, err
			}
		}
		piv, best := -1, 0.0
		for i := k; i < n; i++ {
			if v := math.Abs(a[i*n+k]); v > best {
				piv, best = i, v
			}
		}
		if best < 1e-13 {
			return false, nil
		}
		swap[k] = piv
		if piv != k {
			for j := range n {
				a[k*n+j], a[piv*n+j] = a[piv*n+j], a[k*n+j]
			}
		}
		f := 1 / a[k*n+k]
		a[k*n+k] = 1
		for j := range n {
			a[k*n+j] *= f
		}
		for i := range n {
			if i == k {
				continue
			}
			d := a[i*n+k]
			if d == 0 {
				continue
			}
			a[i*n+k] = 0
			for j := range n {
				a[i*n+j] -= d * a[k*n+j]
			}
		}
	}
	// Row swaps of A become column swaps of A⁻¹, undone in reverse.
	for k := n - 1; k >= 0; k-- {
		if p := swap[k]; p != k {
			for i := range n {
				a[i*n+k], a[i*n+p] = a[i*n+p], a[i*n+k]
			}
		}
	}
	return true, nil
}
