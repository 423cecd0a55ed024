package mtlcore

import (
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
)

// LoRA: h = W0·x + s·B·A·x (Hu et al. 2021). Ignores task ids.
const LoRA Method = 0

func init() {
	register(LoRA, methodSpec{
		name: "lora", mergeable: true,
		params:  func(c Config, dIn, dOut int) int { return c.Rank * (dIn + dOut) }, // r·(dIn + dOut)
		build:   buildPair,
		factors: pairFactors,
	})
}

// buildPair is one down-projection A [dIn, r] (Kaiming-uniform) and one up-projection B [r, dOut] (zeros):
// LoRA's, and DoRA's direction.
func buildPair(scope *model.Scope, x, _ *Node, c Config, dIn, dOut int) lowRank {
	g, dt := x.Graph(), x.DType()
	return lowRank{scale: c.Scale(),
		a: variable(scope, g, VarA, kaimingUniform(scope, dIn), dt, dIn, c.Rank),
		b: InsertAxes(variable(scope, g, VarB, initializer.Zero, dt, c.Rank, dOut), 0)}
}

// pairFactors reads buildPair's A and B as one LoRA pair (the same for every task).
func pairFactors(lv layerVars, c Config, dIn, dOut, _ int) (Factors, error) {
	f := Factors{Scale: c.Scale()}
	a, err := lv.read(ScopeAdapter, VarA, dIn, c.Rank)
	if err != nil {
		return f, err
	}
	b, err := lv.read(ScopeAdapter, VarB, c.Rank, dOut)
	if err != nil {
		return f, err
	}
	f.A, f.B = stackedFactors(a, b, 1, c.Rank, dIn, dOut, nil, nil)
	return f, nil
}
