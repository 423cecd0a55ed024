// Package analysis measures what multi-task adapters do: how the tasks' gradients on shared adapter
// parameters agree or conflict, how well the tasks separate in the low-rank space, what the learned task
// transforms Λ_t and mixing weights softmax(w_t/τ) look like, and how similar the per-task updates ΔW_t are.
// The functions here are plain numerics on host slices with documented neutral values; collecting their
// inputs from a model lives beside them (collect.go).
package analysis

import (
	"fmt"
	"math"
	"sort"
)

// Cosine returns the cosine similarity of two vectors (0 when either is zero).
func Cosine(a, b []float64) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += a[i] * b[i]
		aa += a[i] * a[i]
		bb += b[i] * b[i]
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

// CosineMatrix returns the pairwise cosine similarities of vectors (e.g. per-task gradients on the shared
// adapter parameters): 1 on the diagonal, −1 for exactly opposed gradients — the usual measure of gradient
// conflict.
func CosineMatrix(vectors [][]float64) [][]float64 {
	n := len(vectors)
	m := make([][]float64, n)
	for i := range m {
		m[i] = make([]float64, n)
		for j := range m[i] {
			m[i][j] = Cosine(vectors[i], vectors[j])
		}
	}
	return m
}

// PCA2 projects rows of x (n × d) on their first two principal components (centered); it also returns the
// fraction of variance each explains.
func PCA2(x [][]float64) (proj [][2]float64, explained [2]float64) {
	n := len(x)
	if n == 0 {
		return nil, explained
	}
	d := len(x[0])
	mean := make([]float64, d)
	for _, r := range x {
		for j, v := range r {
			mean[j] += v / float64(n)
		}
	}
	cov := make([][]float64, d)
	for i := range cov {
		cov[i] = make([]float64, d)
	}
	for _, r := range x {
		for i := range d {
			for j := range d {
				cov[i][j] += (r[i] - mean[i]) * (r[j] - mean[j]) / float64(n)
			}
		}
	}
	vals, vecs := symmetricEigen(cov)
	var total float64
	for _, v := range vals {
		total += max(v, 0)
	}
	proj = make([][2]float64, n)
	for k := 0; k < 2 && k < d; k++ {
		if total > 0 {
			explained[k] = max(vals[k], 0) / total
		}
		for i, r := range x {
			var s float64
			for j := range d {
				s += (r[j] - mean[j]) * vecs[j][k]
			}
			proj[i][k] = s
		}
	}
	return proj, explained
}

// symmetricEigen returns the eigenvalues (descending) and eigenvectors (columns) of a symmetric matrix, by
// Jacobi rotations.
func symmetricEigen(a [][]float64) ([]float64, [][]float64) {
	n := len(a)
	m := make([][]float64, n)
	v := make([][]float64, n)
	for i := range n {
		m[i] = append([]float64(nil), a[i]...)
		v[i] = make([]float64, n)
		v[i][i] = 1
	}
	for sweep := 0; sweep < 100; sweep++ {
		var off float64
		for i := range n {
			for j := i + 1; j < n; j++ {
				off += m[i][j] * m[i][j]
			}
		}
		if off < 1e-22 {
			break
		}
		for p := 0; p < n; p++ {
			for q := p + 1; q < n; q++ {
				if math.Abs(m[p][q]) < 1e-300 {
					continue
				}
				theta := (m[q][q] - m[p][p]) / (2 * m[p][q])
				t := 1 / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				if theta < 0 {
					t = -t
				}
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := range n {
					mkp, mkq := m[k][p], m[k][q]
					m[k][p], m[k][q] = c*mkp-s*mkq, s*mkp+c*mkq
				}
				for k := range n {
					mpk, mqk := m[p][k], m[q][k]
					m[p][k], m[q][k] = c*mpk-s*mqk, s*mpk+c*mqk
				}
				for k := range n {
					vkp, vkq := v[k][p], v[k][q]
					v[k][p], v[k][q] = c*vkp-s*vkq, s*vkp+c*vkq
				}
			}
		}
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return m[idx[a]][idx[a]] > m[idx[b]][idx[b]] })
	vals := make([]float64, n)
	vecs := make([][]float64, n)
	for i := range vecs {
		vecs[i] = make([]float64, n)
	}
	for k, i := range idx {
		vals[k] = m[i][i]
		for r := range n {
			vecs[r][k] = v[r][i]
		}
	}
	return vals, vecs
}

// Silhouette returns the mean silhouette coefficient of points x with cluster labels: near 1 for compact,
// well-separated clusters, near 0 for overlapping ones, negative for points closer to another cluster.
func Silhouette(x [][]float64, labels []int) float64 {
	n := len(x)
	if n < 2 {
		return 0
	}
	dist := func(a, b []float64) float64 {
		var s float64
		for i := range a {
			s += (a[i] - b[i]) * (a[i] - b[i])
		}
		return math.Sqrt(s)
	}
	var total float64
	for i := range n {
		sum := map[int]float64{}
		cnt := map[int]int{}
		for j := range n {
			if i == j {
				continue
			}
			sum[labels[j]] += dist(x[i], x[j])
			cnt[labels[j]]++
		}
		if cnt[labels[i]] == 0 {
			continue // a singleton cluster scores 0
		}
		a := sum[labels[i]] / float64(cnt[labels[i]])
		b := math.Inf(1)
		for l, s := range sum {
			if l != labels[i] {
				b = math.Min(b, s/float64(cnt[l]))
			}
		}
		if math.IsInf(b, 1) {
			continue
		}
		total += (b - a) / math.Max(a, b)
	}
	return total / float64(n)
}

// ProbeAccuracy is the accuracy of a nearest-centroid probe predicting labels from x, fitted on every
// other example of each label (its 1st, 3rd, …) and tested on the rest: 1 when the classes separate, about
// 1/classes when they do not.
func ProbeAccuracy(x [][]float64, labels []int) float64 {
	seen := map[int]int{}
	train := make([]bool, len(x))
	for i, l := range labels {
		train[i] = seen[l]%2 == 0
		seen[l]++
	}
	sums := map[int][]float64{}
	cnt := map[int]int{}
	for i := range x {
		if !train[i] {
			continue
		}
		if sums[labels[i]] == nil {
			sums[labels[i]] = make([]float64, len(x[i]))
		}
		for j, v := range x[i] {
			sums[labels[i]][j] += v
		}
		cnt[labels[i]]++
	}
	correct, tested := 0, 0
	for i := range x {
		if train[i] {
			continue
		}
		best, bestD := -1, math.Inf(1)
		for l, s := range sums {
			var d float64
			for j, v := range x[i] {
				c := s[j] / float64(cnt[l])
				d += (v - c) * (v - c)
			}
			if d < bestD || (d == bestD && l < best) {
				best, bestD = l, d
			}
		}
		if best == labels[i] {
			correct++
		}
		tested++
	}
	if tested == 0 {
		return math.NaN()
	}
	return float64(correct) / float64(tested)
}

// LambdaSummary describes one task's transform Λ_t (r × r; a diagonal Λ as its diagonal matrix): its
// distance from the identity ‖Λ − I‖_F / √r and the spread of its diagonal. Λ = I (MTL-LoRA's
// initialisation, and plain LoRA) is the neutral value: distance 0, mean diagonal 1, spread 0.
type LambdaSummary struct {
	DistanceFromIdentity float64 `json:"distance_from_identity"`
	MeanDiagonal         float64 `json:"mean_diagonal"`
	DiagonalStd          float64 `json:"diagonal_std"`
	OffDiagonalNorm      float64 `json:"off_diagonal_norm"` // ‖Λ − diag(Λ)‖_F / √r
}

// SummarizeLambda summarises Λ given as rows of an r × r matrix.
func SummarizeLambda(lambda [][]float64) (LambdaSummary, error) {
	r := len(lambda)
	var s LambdaSummary
	if r == 0 {
		return s, fmt.Errorf("analysis: empty Λ")
	}
	var dist, off, mean float64
	for i := range r {
		if len(lambda[i]) != r {
			return s, fmt.Errorf("analysis: Λ row %d has %d entries, expected %d", i, len(lambda[i]), r)
		}
		for j := range r {
			d := lambda[i][j]
			if i == j {
				d -= 1
				mean += lambda[i][j] / float64(r)
			} else {
				off += lambda[i][j] * lambda[i][j]
			}
			dist += d * d
		}
	}
	var v float64
	for i := range r {
		v += (lambda[i][i] - mean) * (lambda[i][i] - mean) / float64(r)
	}
	sq := math.Sqrt(float64(r))
	return LambdaSummary{DistanceFromIdentity: math.Sqrt(dist) / sq, MeanDiagonal: mean, DiagonalStd: math.Sqrt(v), OffDiagonalNorm: math.Sqrt(off) / sq}, nil
}

// Softmax returns softmax(w/τ): MTL-LoRA's mixing weights of a task over its n up-projections.
func Softmax(w []float64, tau float64) []float64 {
	out := make([]float64, len(w))
	mx := math.Inf(-1)
	for _, v := range w {
		mx = math.Max(mx, v/tau)
	}
	var s float64
	for i, v := range w {
		out[i] = math.Exp(v/tau - mx)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

// PrincipalAngles returns the principal angles (radians, ascending) between the column spaces of two
// d × k matrices given as rows (e.g. the top-k left singular vectors of two tasks' updates ΔW_s, ΔW_t):
// all 0 for the same subspace, all π/2 for orthogonal ones.
func PrincipalAngles(a, b [][]float64) []float64 {
	qa, qb := orthonormalize(a), orthonormalize(b)
	k := len(qa[0])
	l := len(qb[0])
	// M = Qaᵀ Qb (k × l); its singular values are the cosines of the principal angles.
	m := make([][]float64, k)
	for i := range k {
		m[i] = make([]float64, l)
		for j := range l {
			for r := range qa {
				m[i][j] += qa[r][i] * qb[r][j]
			}
		}
	}
	mtm := make([][]float64, l)
	for i := range l {
		mtm[i] = make([]float64, l)
		for j := range l {
			for r := range k {
				mtm[i][j] += m[r][i] * m[r][j]
			}
		}
	}
	vals, _ := symmetricEigen(mtm)
	n := min(k, l)
	angles := make([]float64, n)
	for i := range n {
		c := math.Sqrt(math.Max(0, math.Min(1, vals[i])))
		angles[i] = math.Acos(c)
	}
	sort.Float64s(angles)
	return angles
}

// orthonormalize returns an orthonormal basis (Gram–Schmidt, columns) of the columns of a (rows × cols),
// dropping dependent columns.
func orthonormalize(a [][]float64) [][]float64 {
	rows, cols := len(a), len(a[0])
	var basis [][]float64 // each a column vector
	for c := range cols {
		v := make([]float64, rows)
		for r := range rows {
			v[r] = a[r][c]
		}
		for _, q := range basis {
			var dot float64
			for r := range rows {
				dot += v[r] * q[r]
			}
			for r := range rows {
				v[r] -= dot * q[r]
			}
		}
		var norm float64
		for _, x := range v {
			norm += x * x
		}
		if norm = math.Sqrt(norm); norm < 1e-10 {
			continue
		}
		for r := range v {
			v[r] /= norm
		}
		basis = append(basis, v)
	}
	out := make([][]float64, rows)
	for r := range rows {
		out[r] = make([]float64, len(basis))
		for c, q := range basis {
			out[r][c] = q[r]
		}
	}
	return out
}
