package mtlcore

import (
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
)

// PerTaskLoRA: T independent LoRA adapters, one per task (an upper bound on separation, at T× the
// parameters).
const PerTaskLoRA Method = 6

func init() {
	register(PerTaskLoRA, methodSpec{
		name: "per-task-lora", usesTaskIDs: true, mergeable: true,
		params: func(c Config, dIn, dOut int) int { return c.NumTasks * c.Rank * (dIn + dOut) }, // T·r·(dIn + dOut)
		build: func(scope *model.Scope, x, taskIDs *Node, c Config, dIn, dOut int) lowRank {
			g, dt, r, T := x.Graph(), x.DType(), c.Rank, c.NumTasks
			a := variable(scope, g, VarA, kaimingUniform(scope, dIn), dt, T, dIn, r)
			b := variable(scope, g, VarB, initializer.Zero, dt, T, r, dOut)
			p := lowRank{scale: c.Scale()}
			p.a, p.b = blocks(a, b)
			p.diag = repeatBlocks(OneHot(ConvertDType(taskIDs, dtypes.Int32), T, dt), r)
			return p
		},
		factors: func(lv layerVars, c Config, dIn, dOut, task int) (Factors, error) {
			r, T := c.Rank, c.NumTasks
			f := Factors{Scale: c.Scale()}
			a, err := lv.read(ScopeAdapter, VarA, T, dIn, r)
			if err != nil {
				return f, err
			}
			b, err := lv.read(ScopeAdapter, VarB, T, r, dOut)
			if err != nil {
				return f, err
			}
			f.A, f.B = stackedFactors(a[task*dIn*r:(task+1)*dIn*r], b[task*r*dOut:(task+1)*r*dOut], 1, r, dIn, dOut, nil, nil)
			return f, nil
		},
	})
}
