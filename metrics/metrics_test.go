package metrics

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// Known answers: perfect predictions, constant predictions, a hand-computed binary case (scikit-learn gives
// F1 macro 0.5833…, MCC 0.1667 for it), and correlations of linear, monotone and reversed data.
func TestMetricsKnownAnswers(t *testing.T) {
	truth := []int32{0, 1, 2, 2, 1, 0}
	if a, f, m := Classification(truth, truth, 3); !near(a, 1) || !near(f, 1) || !near(m, 1) {
		t.Errorf("perfect: %v %v %v", a, f, m)
	}
	if a, f, m := Classification([]int32{0, 0, 1, 1}, []int32{0, 0, 0, 0}, 2); !near(a, 0.5) || !near(f, (2.0/3)/2) || m != 0 {
		t.Errorf("constant prediction: %v %v %v", a, f, m)
	}
	// truth 1 1 1 0 0 0, pred 1 1 0 1 0 0: tp=2 fp=1 fn=1 tn=2 → F1(1)=F1(0)=2/3, MCC=(4-1)/sqrt(3·3·3·3)=1/3.
	if a, f, m := Classification([]int32{1, 1, 1, 0, 0, 0}, []int32{1, 1, 0, 1, 0, 0}, 2); !near(a, 4.0/6) || !near(f, 2.0/3) || !near(m, 1.0/3) {
		t.Errorf("binary: %v %v %v", a, f, m)
	}
	// No answer (−1, a generated text that named no class): scikit-learn 1.9.1's accuracy_score, f1_score(labels=[0, 1,
	// 2], average="macro") and matthews_corrcoef, which count −1 as one more label, give 0.5, 0.5556, 0.36401260415463205.
	if a, f, m := Classification([]int32{0, 0, 1, 1, 2, 2, 2, 0}, []int32{0, -1, 1, 2, -1, 2, 2, 1}, 3); !near(a, 0.5) || !near(f, 5.0/9) || math.Abs(m-0.36401260415463205) > 1e-12 {
		t.Errorf("with no answers: %v %v %v", a, f, m)
	}
	if a, f, m := Classification([]int32{1, 1, 0, 0}, []int32{-1, -1, -1, -1}, 2); a != 0 || f != 0 || m != 0 {
		t.Errorf("never answered: %v %v %v", a, f, m)
	}
	x := []float64{1, 2, 3, 4, 5}
	if p := Pearson(x, []float64{2, 4, 6, 8, 10}); !near(p, 1) {
		t.Errorf("pearson linear %v", p)
	}
	if s := Spearman(x, []float64{1, 8, 27, 64, 125}); !near(s, 1) {
		t.Errorf("spearman monotone %v", s)
	}
	if s := Spearman(x, []float64{5, 4, 3, 2, 1}); !near(s, -1) {
		t.Errorf("spearman reversed %v", s)
	}
	if r := ranks([]float64{10, 20, 20, 30}); r[1] != 2.5 || r[2] != 2.5 || r[3] != 4 {
		t.Errorf("tied ranks %v", r)
	}
}
