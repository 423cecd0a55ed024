package mtlcore

import (
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
)

// MultiLoRA: n LoRA pairs, each up-projection scaled per output by a learned vector λ_i starting at zero
// (B_i Kaiming, not zero): h = W0·x + Σ_i diag(λ_i)·B_i·A_i·x. Ignores task ids.
const MultiLoRA Method = 2

func init() {
	register(MultiLoRA, methodSpec{
		name: "multilora", mergeable: true, components: true,
		defaults: func(c *Config) { c.N = 3 },
		params:   func(c Config, dIn, dOut int) int { return c.N*c.Rank*(dIn+dOut) + c.N*dOut }, // n·r·(dIn + dOut) + n·dOut
		build: func(scope *model.Scope, x, _ *Node, c Config, dIn, dOut int) lowRank {
			g, dt, r, n := x.Graph(), x.DType(), c.Rank, c.N
			a := variable(scope, g, VarA, kaimingUniform(scope, dIn), dt, n, dIn, r)
			b := variable(scope, g, VarB, kaimingUniform(scope, r), dt, n, r, dOut)
			lambda := variable(scope, g, VarScaling, initializer.Zero, dt, n, dOut)
			b = Mul(b, InsertAxes(lambda, 1)) // diag(λ_i)·B_i, in [r, dOut] layout
			p := lowRank{scale: c.Scale()}
			p.a, p.b = blocks(a, b)
			return p
		},
		factors: func(lv layerVars, c Config, dIn, dOut, _ int) (Factors, error) {
			r, n := c.Rank, c.N
			f := Factors{Scale: c.Scale()}
			a, err := lv.read(ScopeAdapter, VarA, n, dIn, r)
			if err != nil {
				return f, err
			}
			b, err := lv.read(ScopeAdapter, VarB, n, r, dOut)
			if err != nil {
				return f, err
			}
			lam, err := lv.read(ScopeAdapter, VarScaling, n, dOut)
			if err != nil {
				return f, err
			}
			f.A, f.B = stackedFactors(a, b, n, r, dIn, dOut, nil, func(i, k int) float64 { return lam[i*dOut+k] })
			return f, nil
		},
	})
}
