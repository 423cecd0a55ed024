package analysis

import (
	"math"
	"math/rand/v2"
	"testing"
)

func close(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// Known answers for every measure.
func TestKnownAnswers(t *testing.T) {
	g := []float64{1, -2, 3}
	m := CosineMatrix([][]float64{g, g, {-1, 2, -3}, {2, 1, 0}})
	if !close(m[0][1], 1, 1e-12) || !close(m[0][2], -1, 1e-12) || !close(m[0][3], 0, 1e-12) {
		t.Errorf("identical 1, opposed −1, orthogonal 0: got %v", m[0])
	}

	rng := rand.New(rand.NewPCG(1, 2))
	blob := func(cx, cy float64, n int, label int) ([][]float64, []int) {
		var x [][]float64
		var l []int
		for range n {
			x = append(x, []float64{cx + 0.1*rng.NormFloat64(), cy + 0.1*rng.NormFloat64(), 0.01 * rng.NormFloat64()})
			l = append(l, label)
		}
		return x, l
	}
	x1, l1 := blob(0, 0, 40, 0)
	x2, l2 := blob(5, 5, 40, 1)
	sep, sepL := append(x1, x2...), append(l1, l2...)
	if s := Silhouette(sep, sepL); s < 0.9 {
		t.Errorf("well-separated clusters: silhouette %v", s)
	}
	if a := ProbeAccuracy(sep, sepL); a != 1 {
		t.Errorf("well-separated clusters: probe accuracy %v", a)
	}
	x3, l3 := blob(0, 0, 40, 1)
	mixed, mixedL := append(x1, x3...), append(l1, l3...)
	if s := Silhouette(mixed, mixedL); math.Abs(s) > 0.1 {
		t.Errorf("mixed clusters: silhouette %v, want about 0", s)
	}
	if a := ProbeAccuracy(mixed, mixedL); a > 0.75 {
		t.Errorf("mixed clusters: probe accuracy %v, want about 0.5", a)
	}

	proj, expl := PCA2(sep)
	if expl[0] < 0.95 || len(proj) != 80 {
		t.Errorf("PCA of two far clusters along a diagonal: first component explains %v", expl[0])
	}
	if !(proj[0][0]*proj[79][0] < 0) {
		t.Errorf("the clusters should fall on opposite sides of the first component")
	}

	id := [][]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	s, err := SummarizeLambda(id)
	if err != nil || s != (LambdaSummary{0, 1, 0, 0}) {
		t.Errorf("Λ = I: %+v %v, want the neutral summary {0 1 0 0}", s, err)
	}
	s, _ = SummarizeLambda([][]float64{{2, 0}, {0, 0}})
	if !close(s.DistanceFromIdentity, 1, 1e-12) || !close(s.MeanDiagonal, 1, 1e-12) || !close(s.DiagonalStd, 1, 1e-12) {
		t.Errorf("Λ = diag(2, 0): %+v", s)
	}
	if _, err := SummarizeLambda([][]float64{{1, 0}, {0}}); err == nil {
		t.Error("ragged Λ accepted")
	}

	if w := Softmax([]float64{0, 0, 0}, 0.5); !close(w[0], 1.0/3, 1e-12) {
		t.Errorf("equal logits: %v", w)
	}
	if w := Softmax([]float64{1, 0}, 0.01); !close(w[0], 1, 1e-9) {
		t.Errorf("low temperature: %v", w)
	}

	a := [][]float64{{1, 0}, {0, 1}, {0, 0}, {0, 0}}
	b := [][]float64{{0, 0}, {0, 0}, {1, 0}, {0, 1}}
	c := [][]float64{{2, 1}, {1, 3}, {0, 0}, {0, 0}} // same span as a
	for _, ang := range PrincipalAngles(a, c) {
		if !close(ang, 0, 1e-6) {
			t.Errorf("same subspace: angles %v", PrincipalAngles(a, c))
		}
	}
	for _, ang := range PrincipalAngles(a, b) {
		if !close(ang, math.Pi/2, 1e-6) {
			t.Errorf("orthogonal subspaces: angles %v", PrincipalAngles(a, b))
		}
	}
	half := [][]float64{{1}, {0}, {1}, {0}} // 45° from span(e1, e2)
	if ang := PrincipalAngles(a, half); !close(ang[0], math.Pi/4, 1e-6) {
		t.Errorf("45°: %v", ang)
	}
}
