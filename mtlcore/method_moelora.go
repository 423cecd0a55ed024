package mtlcore

import (
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
)

// MoELoRA (task-routed): n experts of rank r/n gated per task by ω_t = softmax(W_g·E[t]) from a learned task
// embedding: h = W0·x + s·Σ_k ω_t[k]·B_k·A_k·x.
const MoELoRA Method = 3

func init() {
	register(MoELoRA, methodSpec{
		name: "moelora", usesTaskIDs: true, mergeable: true, components: true,
		defaults: func(c *Config) { c.N, c.Rank, c.TaskEmbeddingDim = 3, 9, 64 }, // three experts of rank 3
		validate: func(c Config) error {
			if c.Rank%c.N != 0 {
				return invalid("rank", "MoELoRA splits rank %d over n=%d experts: it must be a multiple of n", c.Rank, c.N)
			}
			if c.TaskEmbeddingDim < 1 {
				return invalid("task_embedding_dim", "must be ≥ 1, got %d", c.TaskEmbeddingDim)
			}
			return nil
		},
		// r·(dIn + dOut) + T·e + e·n (n experts of rank r/n)
		params: func(c Config, dIn, dOut int) int {
			return c.Rank*(dIn+dOut) + c.NumTasks*c.TaskEmbeddingDim + c.TaskEmbeddingDim*c.N
		},
		build: func(scope *model.Scope, x, taskIDs *Node, c Config, dIn, dOut int) lowRank {
			g, dt, n, T, e := x.Graph(), x.DType(), c.N, c.NumTasks, c.TaskEmbeddingDim
			re := c.Rank / n
			a := variable(scope, g, VarA, kaimingUniform(scope, dIn), dt, n, dIn, re)
			b := variable(scope, g, VarB, initializer.Zero, dt, n, re, dOut)
			p := lowRank{scale: c.Scale()}
			p.a, p.b = blocks(a, b)
			emb := taskRows(variable(scope, g, VarTaskEmbedding, initializer.RandomNormalFn(scope, 1), dt, T, e), taskIDs)
			gate := Softmax(MatMul(emb, variable(scope, g, VarGate, kaimingUniform(scope, e), dt, e, n)), -1) // [batch, n]
			p.diag = repeatBlocks(gate, re)
			return p
		},
		factors: func(lv layerVars, c Config, dIn, dOut, task int) (Factors, error) {
			n, T, e := c.N, c.NumTasks, c.TaskEmbeddingDim
			re := c.Rank / n
			f := Factors{Scale: c.Scale()}
			a, err := lv.read(ScopeAdapter, VarA, n, dIn, re)
			if err != nil {
				return f, err
			}
			b, err := lv.read(ScopeAdapter, VarB, n, re, dOut)
			if err != nil {
				return f, err
			}
			emb, err := lv.read(ScopeAdapter, VarTaskEmbedding, T, e)
			if err != nil {
				return f, err
			}
			gate, err := lv.read(ScopeAdapter, VarGate, e, n)
			if err != nil {
				return f, err
			}
			logits := make([]float64, n)
			for k := 0; k < n; k++ {
				for j := 0; j < e; j++ {
					logits[k] += emb[task*e+j] * gate[j*n+k]
				}
			}
			omega := softmax(logits, 1)
			f.A, f.B = stackedFactors(a, b, n, re, dIn, dOut, func(i int) float64 { return omega[i] }, nil)
			return f, nil
		},
	})
}
