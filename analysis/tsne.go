package analysis

import (
	"fmt"
	"math"
	"slices"
)

// TSNEOptions are the settings of TSNE; the zero value of a field means its default.
type TSNEOptions struct {
	Perplexity   float64 // effective number of neighbours (default 30, at most (n−1)/3)
	Iterations   int     // gradient steps (default 1000)
	Exaggeration float64 // early exaggeration of P for the first 250 steps (default 12)
	LearningRate float64 // default max(n/Exaggeration/4, 50), as scikit-learn's "auto"
}

// TSNE embeds the rows of x in two dimensions by exact t-SNE (van der Maaten and Hinton, 2008): Gaussian
// affinities in x at the given perplexity, Student-t affinities in the plane, gradient descent with
// momentum and per-coordinate gains on their Kullback–Leibler divergence. It starts from the PCA
// projection scaled to a standard deviation of 1e-4 (as scikit-learn's init="pca"), so it is
// deterministic: the same x gives the same picture. Exact t-SNE costs O(n²) per step: meant for a few
// thousand points at most. It returns the embedding and the final KL divergence.
func TSNE(x [][]float64, opt TSNEOptions) ([][2]float64, float64, error) {
	n := len(x)
	if n < 4 {
		return nil, 0, fmt.Errorf("analysis: t-SNE needs at least 4 points, got %d", n)
	}
	if opt.Perplexity == 0 {
		opt.Perplexity = 30
	}
	opt.Perplexity = math.Min(opt.Perplexity, float64(n-1)/3)
	if opt.Iterations == 0 {
		opt.Iterations = 1000
	}
	if opt.Exaggeration == 0 {
		opt.Exaggeration = 12
	}
	if opt.LearningRate == 0 {
		opt.LearningRate = math.Max(float64(n)/opt.Exaggeration/4, 50)
	}
	p := jointAffinities(squaredDistances(x), opt.Perplexity)

	y, _ := PCA2(x)
	var sd float64
	for _, r := range y {
		sd += r[0] * r[0] / float64(n)
	}
	sd = math.Sqrt(sd)
	for i := range y {
		for k := range 2 {
			if sd > 0 {
				y[i][k] *= 1e-4 / sd
			} else { // all points equal: spread them on a small circle
				y[i][k] = 1e-4 * math.Cos(float64(i)+float64(k)*math.Pi/2)
			}
		}
	}
	update := make([][2]float64, n)
	gains := make([][2]float64, n)
	for i := range gains {
		gains[i] = [2]float64{1, 1}
	}
	num := make([]float64, n*n)
	grad := make([][2]float64, n)
	var kl float64
	for it := range opt.Iterations {
		exag, momentum := 1.0, 0.8
		if it < 250 {
			exag, momentum = opt.Exaggeration, 0.5
		}
		var sum float64
		for i := range n {
			for j := i + 1; j < n; j++ {
				dx, dy := y[i][0]-y[j][0], y[i][1]-y[j][1]
				q := 1 / (1 + dx*dx + dy*dy)
				num[i*n+j], num[j*n+i] = q, q
				sum += 2 * q
			}
		}
		last := it == opt.Iterations-1
		for i := range n {
			grad[i] = [2]float64{}
			for j := range n {
				if i == j {
					continue
				}
				q := num[i*n+j] / sum
				pij := p[i*n+j]
				if last {
					kl += pij * math.Log(pij/math.Max(q, 1e-12))
				}
				m := 4 * (exag*pij - q) * num[i*n+j]
				grad[i][0] += m * (y[i][0] - y[j][0])
				grad[i][1] += m * (y[i][1] - y[j][1])
			}
		}
		for i := range n {
			for k := range 2 {
				if (grad[i][k] > 0) != (update[i][k] > 0) {
					gains[i][k] += 0.2
				} else {
					gains[i][k] = math.Max(gains[i][k]*0.8, 0.01)
				}
				update[i][k] = momentum*update[i][k] - opt.LearningRate*gains[i][k]*grad[i][k]
				y[i][k] += update[i][k]
			}
		}
	}
	return y, kl, nil
}

// squaredDistances is the n × n matrix of squared Euclidean distances between rows, row-major.
func squaredDistances(x [][]float64) []float64 {
	n := len(x)
	d := make([]float64, n*n)
	for i := range n {
		for j := i + 1; j < n; j++ {
			var s float64
			for k := range x[i] {
				s += (x[i][k] - x[j][k]) * (x[i][k] - x[j][k])
			}
			d[i*n+j], d[j*n+i] = s, s
		}
	}
	return d
}

// jointAffinities are t-SNE's symmetric P: for each point a Gaussian over the others whose precision is
// found by bisection so that its entropy is log(perplexity), then (P + Pᵀ)/2n.
func jointAffinities(d []float64, perplexity float64) []float64 {
	n := int(math.Sqrt(float64(len(d))))
	cond := make([]float64, n*n)
	target := math.Log(perplexity)
	row := make([]float64, n)
	for i := range n {
		beta, lo, hi := 1.0, 0.0, math.Inf(1)
		for range 100 {
			var sum, dot float64
			for j := range n {
				row[j] = 0
				if j != i {
					row[j] = math.Exp(-d[i*n+j] * beta)
					sum += row[j]
					dot += d[i*n+j] * row[j]
				}
			}
			if sum == 0 {
				sum = 1e-300
			}
			entropy := math.Log(sum) + beta*dot/sum
			for j := range n {
				row[j] /= sum
			}
			diff := entropy - target
			if math.Abs(diff) < 1e-5 {
				break
			}
			if diff > 0 { // too flat: sharpen
				lo = beta
				if math.IsInf(hi, 1) {
					beta *= 2
				} else {
					beta = (beta + hi) / 2
				}
			} else {
				hi = beta
				beta = (beta + lo) / 2
			}
		}
		copy(cond[i*n:(i+1)*n], row)
	}
	p := make([]float64, n*n)
	for i := range n {
		for j := range n {
			p[i*n+j] = math.Max((cond[i*n+j]+cond[j*n+i])/float64(2*n), 1e-12)
		}
		p[i*n+i] = 0
	}
	return p
}

// Trustworthiness measures how well an embedding y of the rows of x keeps their neighbourhoods (Venna and
// Kaski, 2001, as scikit-learn's sklearn.manifold.trustworthiness with the Euclidean metric): 1 when every
// point's k nearest neighbours in y are among its k nearest in x, lower as the embedding brings in points
// that were far. k must be below n/2.
func Trustworthiness(x [][]float64, y [][2]float64, k int) (float64, error) {
	n := len(x)
	if len(y) != n {
		return 0, fmt.Errorf("analysis: trustworthiness of %d points embedded as %d", n, len(y))
	}
	if k < 1 || k >= n/2 {
		return 0, fmt.Errorf("analysis: trustworthiness needs 1 ≤ k < n/2 = %d, got k = %d", n/2, k)
	}
	dx := squaredDistances(x)
	ys := make([][]float64, n)
	for i, r := range y {
		ys[i] = []float64{r[0], r[1]}
	}
	dy := squaredDistances(ys)
	order := func(d []float64, i int) []int { // the others by distance to i, ties by index
		idx := make([]int, 0, n-1)
		for j := range n {
			if j != i {
				idx = append(idx, j)
			}
		}
		slices.SortStableFunc(idx, func(a, b int) int {
			switch {
			case d[i*n+a] < d[i*n+b]:
				return -1
			case d[i*n+a] > d[i*n+b]:
				return 1
			}
			return 0
		})
		return idx
	}
	rank := make([]int, n)
	var penalty float64
	for i := range n {
		for r, j := range order(dx, i) {
			rank[j] = r + 1
		}
		for _, j := range order(dy, i)[:k] {
			penalty += math.Max(0, float64(rank[j]-k))
		}
	}
	return 1 - penalty*2/(float64(n)*float64(k)*(2*float64(n)-3*float64(k)-1)), nil
}
