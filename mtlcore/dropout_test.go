package mtlcore

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/backend"
)

// Dropout zeroes about rate of the elements while training and scales the rest so the mean is kept; each of
// the five parts of x (decided by one 12-bit field of every random word) drops at the rate, independently of
// the part decided by the word's first field and of the neighbouring word, the next call draws a new mask,
// and outside training it is the identity. A rate far from a multiple of 1/4096 takes the
// one-draw-per-element path and is applied as given. The size is not a multiple of five on purpose.
func TestDropout(t *testing.T) {
	const n = 100001
	ones := tensors.FromFlatDataAndDimensions(make([]float32, n), n/11, 11, 1)
	tensors.MutableFlatData(ones, func(f []float32) {
		for i := range f {
			f[i] = 1
		}
	})
	// within 5 standard deviations of a binomial proportion p over m trials, plus 3 counts: for rare events
	// (rate 0.001 squared over 20,000 elements expects 0.02 of them) the normal bound is below one count, and
	// a single coincidence — 2% likely per part — would fail the test; 4 or more have odds of about 1e-8
	near := func(got, p float64, m int) bool {
		return math.Abs(got-p)*float64(m) <= 5*math.Sqrt(p*(1-p)*float64(m))+3
	}
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
			const words = (n + dropoutFields - 1) / dropoutFields // element i is decided by field i/words of word i%words
			var dropped, withFirst [dropoutFields]int
			var sum float64
			nextDropped, differ := 0, 0
			for i, v := range first {
				switch {
				case v == 0:
					dropped[i/words]++
					if i >= words && first[i%words] == 0 {
						withFirst[i/words]++
					}
					if i%words != words-1 && i+1 < n && first[i+1] == 0 {
						nextDropped++
					}
				case math.Abs(float64(v)-1/(1-tc.applied)) > 1e-5:
					t.Fatalf("rate %v: element %d is %g, want 0 or %g", tc.rate, i, v, 1/(1-tc.applied))
				}
				sum += float64(v)
				if (v == 0) != (second[i] == 0) {
					differ++
				}
			}
			for f := range dropoutFields {
				size := min(words, n-f*words)
				if frac := float64(dropped[f]) / float64(size); !near(frac, tc.applied, size) {
					t.Errorf("rate %v: part %d dropped %.5f, want %.5f", tc.rate, f, frac, tc.applied)
				}
				if f == 0 {
					continue
				}
				if pair := float64(withFirst[f]) / float64(size); !near(pair, tc.applied*tc.applied, size) {
					t.Errorf("rate %v: elements decided by fields 0 and %d of one word both dropped %.5f of the time, want %.5f (independent)", tc.rate, f, pair, tc.applied*tc.applied)
				}
			}
			if pair := float64(nextDropped) / (n - dropoutFields); !near(pair, tc.applied*tc.applied, n) {
				t.Errorf("rate %v: elements decided by the same field of neighbouring words both dropped %.5f of the time, want %.5f", tc.rate, pair, tc.applied*tc.applied)
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

// Sizes below five words' worth and not a multiple of the word count are covered exactly.
func TestDropoutSmallSizes(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 6, 7, 11} {
		exec := model.MustNewExec(backend.MustNew(), model.NewStore(), func(scope *model.Scope, x *Node) *Node {
			scope.SetTraining(x.Graph(), true)
			return Dropout(scope, x, 0.5)
		})
		x := tensors.FromShape(shapes.Make(dtypes.Float32, n))
		tensors.MutableFlatData(x, func(f []float32) {
			for i := range f {
				f[i] = 1
			}
		})
		for i, v := range tensors.MustCopyFlatData[float32](exec.MustCall1(x)) {
			if v != 0 && v != 2 {
				t.Fatalf("size %d: element %d is %g, want 0 or 2", n, i, v)
			}
		}
	}
}

// splitMix64Words computes SplitMix64's outputs: the graph's words equal a plain Go SplitMix64 seeded alike.
func TestSplitMix64Words(t *testing.T) {
	const key = 0x0123456789abcdef
	got := tensors.MustCopyFlatData[uint64](MustExecOnce(backend.MustNew(), func(k *Node) *Node {
		return splitMix64Words(k, 7)
	}, uint64(key)))
	state := uint64(key)
	for i, w := range got {
		state += splitMixGamma
		z := state
		z = (z ^ z>>30) * splitMixMul1
		z = (z ^ z>>27) * splitMixMul2
		z ^= z >> 31
		if w != z {
			t.Fatalf("word %d = %#x, want SplitMix64's %#x", i, w, z)
		}
	}
}

// BenchmarkDropout times the mask and product of one training step's attention-probability dropout in
// all-MiniLM-L6-v2 at batch 32 × 128 (6.3 M elements, rate 0.1) on the backend every command uses.
func BenchmarkDropout(b *testing.B) {
	x := tensors.FromShape(shapes.Make(dtypes.Float32, 32, 12, 128, 128))
	exec := model.MustNewExec(backend.MustNew(), model.NewStore(), func(scope *model.Scope, x *Node) *Node {
		scope.SetTraining(x.Graph(), true)
		return ReduceAllSum(Dropout(scope, x, 0.1))
	})
	exec.MustCall1(x)
	b.ResetTimer()
	for range b.N {
		exec.MustCall1(x)
	}
}
