package report

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Comparison is a paired comparison of two configurations: the differences d_i = b_i − a_i of their scores
// on the same (seed, task) or the same seed, and whether their mean is beyond noise by two two-sided tests:
// the paired t-test (normal differences assumed) and the sign-flip permutation test (only symmetry under the
// null assumed: every assignment of signs to the |d_i| is equally likely, exact up to 2^22 assignments,
// else 2^20 seeded random ones).
type Comparison struct {
	A, B               string
	Pairs              int
	MeanDiff, StdDiff  float64 // of b − a
	T, PT              float64 // paired t statistic and its p-value
	PPermutation       float64
	Wins, Losses, Ties int // pairs where b > a, b < a, b = a
}

// String is a one-line account, e.g. "mtl-lora − lora: −0.0123 ± 0.0400 over 24 pairs (8 wins, 15 losses,
// 1 tie); paired t p = 0.15, sign-flip p = 0.16".
func (c Comparison) String() string {
	return fmt.Sprintf("%s − %s: %+.4f ± %.4f over %d pairs (%d wins, %d losses, %d ties); paired t p = %.3g, sign-flip p = %.3g",
		c.B, c.A, c.MeanDiff, c.StdDiff, c.Pairs, c.Wins, c.Losses, c.Ties, c.PT, c.PPermutation)
}

// Compare compares paired scores a[i], b[i].
func Compare(nameA, nameB string, a, b []float64) (Comparison, error) {
	c := Comparison{A: nameA, B: nameB, Pairs: len(a)}
	if len(a) != len(b) {
		return c, fmt.Errorf("report: %d scores of %s paired with %d of %s", len(a), nameA, len(b), nameB)
	}
	if len(a) < 2 {
		return c, fmt.Errorf("report: a paired comparison of %s and %s needs at least 2 pairs, got %d", nameA, nameB, len(a))
	}
	d := make([]float64, len(a))
	for i := range a {
		d[i] = b[i] - a[i]
		switch {
		case d[i] > 0:
			c.Wins++
		case d[i] < 0:
			c.Losses++
		default:
			c.Ties++
		}
	}
	ms := meanStd(d)
	c.MeanDiff, c.StdDiff = ms[0], ms[1]
	n := float64(len(d))
	switch {
	case c.StdDiff > 0:
		c.T = c.MeanDiff / (c.StdDiff / math.Sqrt(n))
		c.PT = studentTwoSided(c.T, n-1)
	case c.MeanDiff == 0:
		c.PT = 1
	default: // every difference the same, not 0
		c.T, c.PT = math.Copysign(math.Inf(1), c.MeanDiff), 0
	}
	c.PPermutation = signFlip(d)
	return c, nil
}

// signFlip is the two-sided p-value of the sign-flip test of mean(d) = 0: the fraction of sign assignments
// whose |Σ ±|d_i|| is at least the observed |Σ d_i|.
func signFlip(d []float64) float64 {
	obs := 0.0
	for _, x := range d {
		obs += x
	}
	obs = math.Abs(obs) * (1 - 1e-12) // sums equal up to rounding count as at least as extreme
	n := len(d)
	if n <= 22 { // every assignment, in Gray-code order: one sign changes per step
		signs := make([]float64, n)
		sum := 0.0
		for i, x := range d {
			signs[i] = 1
			sum += math.Abs(x)
		}
		count := 0
		total := 1 << n
		for k := range total {
			if k > 0 {
				i := 0
				for (k>>i)&1 == 0 {
					i++
				}
				signs[i] = -signs[i]
				sum += 2 * signs[i] * math.Abs(d[i])
			}
			if math.Abs(sum) >= obs {
				count++
			}
		}
		return float64(count) / float64(total)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const draws = 1 << 20
	count := 1 // the observed assignment counts (a valid Monte Carlo p-value is never 0)
	for range draws {
		sum := 0.0
		for _, x := range d {
			if rng.IntN(2) == 0 {
				sum += math.Abs(x)
			} else {
				sum -= math.Abs(x)
			}
		}
		if math.Abs(sum) >= obs {
			count++
		}
	}
	return float64(count) / float64(draws+1)
}

// studentTwoSided is P(|T| ≥ |t|) for Student's t with df degrees of freedom: I_{df/(df+t²)}(df/2, 1/2).
func studentTwoSided(t, df float64) float64 {
	return regIncBeta(df/2, 0.5, df/(df+t*t))
}

// regIncBeta is the regularised incomplete beta function I_x(a, b), by its continued fraction (modified
// Lentz), using the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges slowly.
func regIncBeta(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	if x > (a+1)/(a+b+2) {
		return 1 - regIncBeta(b, a, 1-x)
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab-la-lb+a*math.Log(x)+b*math.Log(1-x)) / a
	const tiny = 1e-300
	f, c, d := 1.0, 1.0, 0.0
	for i := 0; i <= 400; i++ {
		m := float64(i / 2)
		var num float64
		switch {
		case i == 0:
			num = 1
		case i%2 == 0:
			num = m * (b - m) * x / ((a + 2*m - 1) * (a + 2*m))
		default:
			num = -(a + m) * (a + b + m) * x / ((a + 2*m) * (a + 2*m + 1))
		}
		d = 1 + num*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		d = 1 / d
		c = 1 + num/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		cd := c * d
		f *= cd
		if math.Abs(1-cd) < 1e-15 {
			break
		}
	}
	return front * (f - 1)
}

// HolmAdjust is Holm's step-down adjustment of a family of p-values, one per comparison (the family-wise error
// rate held at the level they are read at): the i-th smallest of m becomes max over j ≤ i of min(1, (m − j + 1)
// · p_(j)), in the order given. NaN p-values (comparisons not tested) stay NaN and are not counted in m.
func HolmAdjust(p []float64) []float64 {
	out := make([]float64, len(p))
	var order []int
	for i, v := range p {
		out[i] = math.NaN()
		if !math.IsNaN(v) {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return p[order[a]] < p[order[b]] })
	m, running := len(order), 0.0
	for j, i := range order {
		running = max(running, min(1, float64(m-j)*p[i]))
		out[i] = running
	}
	return out
}
