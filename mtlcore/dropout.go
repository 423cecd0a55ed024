package mtlcore

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
)

// dropoutSteps is the resolution of a two-per-draw dropout decision: a rate within 1% of a multiple of
// 1/4096 is applied as that multiple (0.1 as 410/4096 = 0.100098, 0.05 as 0.050049), and the kept elements
// are scaled by the inverse of the kept fraction actually applied, so the expectation stays exact.
const dropoutSteps = 4096

// Dropout zeroes each element of x with probability rate while the scope is training (see
// layers.IsDropoutActive) and scales the kept ones so the expectation is unchanged; otherwise it returns x.
// Adapters (on their input) and the zoo encoders (hidden states, attention probabilities) all use it.
//
// Random bits are the cost of dropout on both backends (a MiniLM training step at batch 32 × 128 draws 58
// million decisions; on ONNX Runtime the generator runs a chain of 64-bit integer operations per requested
// value), so one uniform float32 from the store's random stream — 24 random bits — decides two elements:
// its first 12 bits one, its next 12 bits the other. Rates that are not close to a multiple of 1/4096 (below
// 1/4096, for one) take one draw per element and are applied as given.
func Dropout(scope *model.Scope, x *Node, rate float64) *Node {
	g := x.Graph()
	if rate <= 0 || !layers.IsDropoutActive(scope, g) {
		return x
	}
	steps := math.Round(rate * dropoutSteps)
	if steps < 1 || steps >= dropoutSteps || math.Abs(steps/dropoutSteps-rate) > rate/100 {
		keep := GreaterOrEqual(scope.RandomUniform(g, x.Shape()), Scalar(g, x.DType(), rate))
		return Mul(x, StopGradient(MulScalar(ConvertDType(keep, x.DType()), 1/(1-rate))))
	}
	applied := steps / dropoutSteps
	n := x.Shape().Size()
	half := (n + 1) / 2
	u := scope.RandomUniform(g, shapes.Make(dtypes.Float32, half))
	// u·4096 is exact; its integer part is the first 12 bits and its fraction holds the next 12.
	hi := MulScalar(u, dropoutSteps)
	lo := Sub(hi, Floor(hi))
	scaled := func(keep *Node) *Node { return MulScalar(ConvertDType(keep, x.DType()), 1/(1-applied)) }
	scale := Concatenate([]*Node{
		scaled(GreaterOrEqual(hi, Scalar(g, dtypes.Float32, steps))),
		scaled(GreaterOrEqual(lo, Scalar(g, dtypes.Float32, applied))),
	}, 0)
	if 2*half != n {
		scale = Slice(scale, AxisRange(0, n))
	}
	return Mul(x, StopGradient(Reshape(scale, x.Shape().Dimensions...)))
}
