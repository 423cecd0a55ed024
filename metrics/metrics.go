// Package metrics scores predictions against the truth, as the evaluation of every run reports them:
// accuracy, macro-F1 and Matthews' correlation for classification, Pearson and Spearman correlation for
// regression.
package metrics

import (
	"math"
	"sort"
)

// Classification returns accuracy, macro-averaged F1 (over the classes that occur in truth or predictions)
// and Matthews' correlation coefficient (multi-class, Gorodkin's R_K; 0 when undefined) of predictions
// against truth, class indices in [0, classes). A prediction of −1 is no answer (a decoder's generated text
// that names no class): wrong, a false negative of its true class and a false positive of none; Matthews'
// correlation counts it as one more predicted class that never occurs in truth.
func Classification(truth, pred []int32, classes int) (accuracy, macroF1, mcc float64) {
	n := len(truth)
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	conf := make([][]float64, classes) // conf[true][pred]
	for i := range conf {
		conf[i] = make([]float64, classes)
	}
	correct, none := 0, 0.0
	unanswered := make([]float64, classes) // per true class
	for i := range truth {
		if pred[i] < 0 {
			none++
			unanswered[truth[i]]++
			continue
		}
		conf[truth[i]][pred[i]]++
		if truth[i] == pred[i] {
			correct++
		}
	}
	accuracy = float64(correct) / float64(n)
	var f1Sum float64
	present := 0
	tk, pk := make([]float64, classes), make([]float64, classes)
	for c := range classes {
		var tp, fp, fn float64
		tp = conf[c][c]
		for o := range classes {
			if o != c {
				fp += conf[o][c]
				fn += conf[c][o]
			}
			tk[c] += conf[c][o]
			pk[c] += conf[o][c]
		}
		fn += unanswered[c]
		tk[c] += unanswered[c]
		if tp+fp+fn == 0 {
			continue
		}
		present++
		f1Sum += 2 * tp / (2*tp + fp + fn)
	}
	macroF1 = f1Sum / float64(present)
	// MCC = (c·s − Σ p_k t_k) / sqrt((s² − Σ p_k²)(s² − Σ t_k²)).
	s := float64(n)
	c := float64(correct)
	pp := none * none // the no-answer column
	var pt, tt float64
	for k := range classes {
		pt += pk[k] * tk[k]
		pp += pk[k] * pk[k]
		tt += tk[k] * tk[k]
	}
	den := math.Sqrt((s*s - pp) * (s*s - tt))
	if den == 0 {
		return accuracy, macroF1, 0
	}
	return accuracy, macroF1, (c*s - pt) / den
}

// Pearson returns the Pearson correlation of x and y (NaN when either is constant).
func Pearson(x, y []float64) float64 {
	n := float64(len(x))
	var mx, my float64
	for i := range x {
		mx += x[i] / n
		my += y[i] / n
	}
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	return sxy / math.Sqrt(sxx*syy)
}

// Spearman returns Spearman's rank correlation (Pearson on ranks, ties sharing their mean rank).
func Spearman(x, y []float64) float64 { return Pearson(ranks(x), ranks(y)) }

func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	r := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		for k := i; k <= j; k++ {
			r[idx[k]] = float64(i+j)/2 + 1
		}
		i = j + 1
	}
	return r
}
