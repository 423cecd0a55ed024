package mtlcore

import (
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/nn"
)

// HydraLoRA: shared A, n up-projections mixed per token by a router softmax(W_r·x) (Tian et al. 2024).
// Ignores task ids; not mergeable (the update depends on x).
const HydraLoRA Method = 4

func init() {
	register(HydraLoRA, methodSpec{
		name: "hydralora", components: true,
		defaults: func(c *Config) { c.N = 3 },
		params:   func(c Config, dIn, dOut int) int { return c.Rank*dIn + c.N*c.Rank*dOut + dIn*c.N }, // r·dIn + n·r·dOut + dIn·n
		build: func(scope *model.Scope, x, _ *Node, c Config, dIn, dOut int) lowRank {
			g, dt := x.Graph(), x.DType()
			p := lowRank{scale: c.Scale()}
			p.a = variable(scope, g, VarA, kaimingUniform(scope, dIn), dt, dIn, c.Rank)
			p.b = variable(scope, g, VarB, initializer.Zero, dt, c.N, c.Rank, dOut)
			router := variable(scope, g, VarRouter, kaimingUniform(scope, dIn), dt, dIn, c.N)
			p.mix = Softmax(nn.Dense(x, router, nil, compute.DenseLayoutInputOutputs), -1) // per token [batch, ..., n]
			return p
		},
	})
}
