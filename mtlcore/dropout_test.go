package mtlcore

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/backend"
)

// Dropout zeroes about rate of the elements while training and scales the rest so the mean is kept; both
// halves (the two 12-bit fields of one draw) drop at the rate, independently of each other, the next call
// draws a new mask, and outside training it is the identity. A rate far from a multiple of 1/4096 takes the
// one-draw-per-element path and is applied as given. The size is odd on purpose.
func TestDropout(t *testing.T) {
	const n = 100001
	ones := tensors.FromFlatDataAndDimensions(make([]float32, n), n/11, 11, 1)
	tensors.MutableFlatData(ones, func(f []float32) {
		for i := range f {
			f[i] = 1
		}
	})
	// within 5 standard deviations of a binomial proportion p over m trials
	near := func(got, p float64, m int) bool { return math.Abs(got-p) <= 5*math.Sqrt(p*(1-p)/float64(m)) }
	for _, tc := range []struct{ rate, applied float64 }{{0.1, 410.0 / 4096}, {0.05, 205.0 / 4096}, {0.001, 0.001}} {
		for _, training := range []bool{true, false} {
			exec := model.MustNewExec(backend.MustNew(), model.NewStore(), func(scope *model.Scope, x *Node) *Node {
				scope.SetTraining(x.Graph(), training)
				return Dropout(scope, x, tc.rate)
			})
			first := tensors.MustCopyFlatData[float32](exec.MustCall1(ones))
			second := tensors.MustCopyFlatData[float32](exec.MustCall1(ones))
			if !training {
				for i, v := range first {
					if v != 1 {
						t.Fatalf("rate %v, not training: element %d is %g, want it unchanged", tc.rate, i, v)
					}
				}
				continue
			}
			const half = (n + 1) / 2
			var dropped [2]int
			var sum float64
			bothDropped, differ := 0, 0
			for i, v := range first {
				switch {
				case v == 0:
					dropped[i/half]++
					if i >= half && first[i-half] == 0 {
						bothDropped++
					}
				case math.Abs(float64(v)-1/(1-tc.applied)) > 1e-5:
					t.Fatalf("rate %v: element %d is %g, want 0 or %g", tc.rate, i, v, 1/(1-tc.applied))
				}
				sum += float64(v)
				if (v == 0) != (second[i] == 0) {
					differ++
				}
			}
			for k, d := range dropped {
				if frac := float64(d) / half; !near(frac, tc.applied, half) {
					t.Errorf("rate %v: half %d dropped %.5f, want %.5f", tc.rate, k, frac, tc.applied)
				}
			}
			if pair := float64(bothDropped) / (n - half); !near(pair, tc.applied*tc.applied, n-half) {
				t.Errorf("rate %v: elements decided by one draw both dropped %.5f of the time, want %.5f (independent)", tc.rate, pair, tc.applied*tc.applied)
			}
			if mean := sum / n; math.Abs(mean-1) > 5*math.Sqrt(tc.applied/(1-tc.applied)/n) {
				t.Errorf("rate %v: mean after dropout %.4f, want 1", tc.rate, mean)
			}
			if p := 2 * tc.applied * (1 - tc.applied); !near(float64(differ)/n, p, n) {
				t.Errorf("rate %v: the second call's mask differs in %d elements, want about %.0f (a fresh draw)", tc.rate, differ, p*n)
			}
		}
	}
}
