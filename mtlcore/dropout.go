package mtlcore

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
)

const (
	// dropoutSteps is the resolution of a dropout decision taken from a 12-bit field: a rate within 1% of a
	// multiple of 1/4096 is applied as that multiple (0.1 as 410/4096 = 0.100098, 0.05 as 0.050049), and
	// the kept elements are scaled by the inverse of the kept fraction actually applied, so the
	// expectation stays exact.
	dropoutSteps = 4096
	// dropoutFields is how many 12-bit fields, hence decisions, one 64-bit random word gives.
	dropoutFields = 5
)

// SplitMix64's increment and output mixing constants (Steele, Lea and Flood, 2014).
const (
	splitMixGamma = 0x9e3779b97f4a7c15
	splitMixMul1  = 0xbf58476d1ce4e5b9
	splitMixMul2  = 0x94d049bb133111eb
)

// Dropout zeroes each element of x with probability rate while the scope is training (see
// layers.IsDropoutActive) and scales the kept ones so the expectation is unchanged; otherwise it returns x.
// Adapters (on their input) and the zoo encoders (hidden states, attention probabilities) all use it.
//
// Random bits are the cost of dropout (a MiniLM training step at batch 32 × 128 takes 57 million
// decisions). A draw of GoMLX's uniform generator gives 24 usable bits per float32 and costs, on ONNX
// Runtime, a chain of 64-bit integer passes plus four float passes; on the Go backend a single-threaded
// generator. So Dropout draws only a 53-bit key from the store's random stream and expands it with
// SplitMix64 in the graph: word i is SplitMix64's i-th output for that key (key + (i+1)·γ through its mixing
// function: nine parallel passes over the words), and each word decides five elements by its five low
// 12-bit fields, compared where they lie in the word (one And and one comparison each). For the 6.3 M
// attention probabilities of that step, mask and product (with the input's transfer and a sum) took 52–60
// ms on the Go backend and 23–29 ms on ONNX Runtime, where two 12-bit fields of one uniform float32 took
// 70–76 and 26–34 ms (`go test -bench Dropout ./mtlcore`, three alternating runs each). Rates that are not
// close to a multiple of 1/4096 (below 1/4096, for one) take one uniform draw per element and are applied
// as given.
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
	m := (n + dropoutFields - 1) / dropoutFields
	words := splitMix64(scope, g, m)
	var fields []*Node
	for f := 0; f*m < n; f++ {
		w := words
		if last := n - f*m; last < m { // the last field decides the remaining elements only
			w = Slice(words, AxisRange(0, last))
		}
		shift := uint(12 * f)
		fields = append(fields, GreaterOrEqual(BitwiseAnd(w, Const(g, uint64(dropoutSteps-1)<<shift)), Const(g, uint64(steps)<<shift)))
	}
	keep := Reshape(Concatenate(fields, 0), x.Shape().Dimensions...)
	// A conversion and a scaling: a Where of two scalars took 40–47 ms on the Go backend but 36–37 ms on
	// ONNX Runtime, against 63–64 and 24–28 ms (BenchmarkDropout, one run).
	scale := MulScalar(ConvertDType(keep, x.DType()), 1/(1-applied))
	return Mul(x, StopGradient(scale))
}

// splitMix64 returns n random uint64 words: the first n outputs of SplitMix64 seeded with a fresh 53-bit key
// from the scope's random stream.
func splitMix64(scope *model.Scope, g *Graph, n int) *Node {
	u := scope.RandomUniform(g, shapes.Make(dtypes.Float64))
	return splitMix64Words(ConvertDType(MulScalar(u, 1<<53), dtypes.Uint64), n)
}

// splitMix64Words returns the first n outputs of SplitMix64 seeded with key (a uint64 scalar): output i
// mixes key + (i+1)·γ.
func splitMix64Words(key *Node, n int) *Node {
	g := key.Graph()
	gamma := Const(g, uint64(splitMixGamma))
	w := Add(Mul(Iota(g, shapes.Make(dtypes.Uint64, n), 0), gamma), Add(key, gamma))
	mix := func(w *Node, shift uint64, mul uint64) *Node {
		w = BitwiseXor(w, BitwiseShiftRightLogical(w, Const(g, shift)))
		if mul == 0 {
			return w
		}
		return Mul(w, Const(g, mul))
	}
	return StopGradient(mix(mix(mix(w, 30, splitMixMul1), 27, splitMixMul2), 31, 0))
}
