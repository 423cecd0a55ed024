package mtlcore

import (
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// DoRA: weight-decomposed LoRA, h = m ⊙ (W0 + sBA)x / ‖W0 + sBA‖_c with the norm detached (Liu et al. 2024).
// Ignores task ids.
const DoRA Method = 5

func init() {
	register(DoRA, methodSpec{
		name: "dora", mergeable: true,
		cannotUnmerge: "DoRA's merge rescales W0 by a norm of W0 itself, so it cannot be undone from the merged weights",
		params:        func(c Config, dIn, dOut int) int { return c.Rank*(dIn+dOut) + dOut }, // r·(dIn + dOut) + dOut
		build:         buildPair,
		rescale:       doraOutput,
		factors: func(lv layerVars, c Config, dIn, dOut, task int) (Factors, error) {
			f, err := pairFactors(lv, c, dIn, dOut, task)
			if err != nil {
				return f, err
			}
			f.Magnitude, err = lv.read(ScopeAdapter, VarMagnitude, dOut)
			return f, err
		},
	})
}

// doraDetachNorm is the DoRA paper's choice; the finite-difference test turns it off to check the rest of
// the gradient exactly.
var doraDetachNorm = true

// doraOutput rescales base and update per output column: y' = (m/‖W0 + ΔW‖_c) ⊙ (x·W0 + Δ), with the
// norm detached from the gradient as in the DoRA paper. m starts at ‖W0‖_c — of the loaded W0 when there is
// one, else of the same random draw that initialises W0 — so the layer starts exactly at the base.
func doraOutput(scope *model.Scope, y, delta *Node, w0Var *model.Variable, w0Init model.VariableInitializer, p lowRank) *Node {
	g := y.Graph()
	w0 := w0Var.NodeValue(g)
	dIn, dOut := w0.Shape().Dimensions[0], w0.Shape().Dimensions[1]
	colNorm := func(w *Node) *Node { return Sqrt(ReduceSum(Square(w), 0)) } // [dOut]
	magInit := func(ig *Graph, s shapes.Shape) *Node {
		if w0Var.HasValue() {
			return colNorm(w0Var.NodeValue(ig))
		}
		return colNorm(w0Init(ig, shapes.Make(s.DType, dIn, dOut)))
	}
	m := variable(scope, g, VarMagnitude, magInit, y.DType(), dOut)
	deltaW := MulScalar(MatMul(p.a, Reshape(p.b, p.b.Shape().Dimensions[1], dOut)), p.scale) // [dIn, dOut]
	norm := colNorm(Add(w0, deltaW))
	if doraDetachNorm {
		norm = StopGradient(norm)
	}
	return Mul(Add(y, delta), ExpandLeftToRank(Div(m, norm), y.Rank()))
}
