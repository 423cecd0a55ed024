package mtlcore

import (
	"math"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
)

// MTLLoRA: shared A, per-task Λ_t, a pool of n up-projections mixed by softmax(w_t/τ) (Yang et al. 2024):
//
//	z = A·x,  z_t = Λ_t·z,  B̃_t = Σ_i softmax(w_t/τ)[i]·B_i,  h = W0·x + s·B̃_t·z_t
const MTLLoRA Method = 1

func init() {
	register(MTLLoRA, methodSpec{
		name: "mtl-lora", usesTaskIDs: true, mergeable: true, components: true,
		defaults: func(c *Config) { c.N, c.Temperature = 3, 0.1 }, // the authors' commonsense-reasoning scripts
		validate: func(c Config) error {
			if !(c.Temperature > 0) || math.IsInf(c.Temperature, 0) {
				return invalid("temperature", "τ must be a finite number > 0 (τ = 0 divides by zero), got %v", c.Temperature)
			}
			// The graph computes w/τ in float32. At initialisation |w| ≤ 1 (the authors' draw is within 1/√n,
			// the uniform start is 1), so below 1/MaxFloat32 w/τ overflows before the first step: NaN mixing.
			if c.Temperature < 1/math.MaxFloat32 {
				return invalid("temperature", "τ = %v makes w/τ overflow float32 (|w| starts up to 1): τ must be ≥ %.3g",
					c.Temperature, 1/math.MaxFloat32)
			}
			if c.Lambda != LambdaDiagonal && c.Lambda != LambdaFull && c.Lambda != LambdaNone {
				return invalid("lambda", "unknown form %d", int(c.Lambda))
			}
			if c.MixInit != MixRandom && c.MixInit != MixUniform {
				return invalid("mix_init", "unknown value %d", int(c.MixInit))
			}
			return nil
		},
		// r·dIn + n·r·dOut + T·r (diagonal Λ), T·r² (full Λ) or 0 (no Λ) + T·n
		params: func(c Config, dIn, dOut int) int {
			r, n, T := c.Rank, c.N, c.NumTasks
			lambda := T * r
			switch c.Lambda {
			case LambdaFull:
				lambda = T * r * r
			case LambdaNone:
				lambda = 0
			}
			return r*dIn + n*r*dOut + lambda + T*n
		},
		build:   buildMTLLoRA,
		factors: mtlLoRAFactors,
	})
}

func buildMTLLoRA(scope *model.Scope, x, taskIDs *Node, c Config, dIn, dOut int) lowRank {
	g, dt := x.Graph(), x.DType()
	r, n, T := c.Rank, c.N, c.NumTasks
	p := lowRank{scale: c.Scale()}
	p.a = variable(scope, g, VarA, kaimingUniform(scope, dIn), dt, dIn, r)
	p.b = variable(scope, g, VarB, initializer.Zero, dt, n, r, dOut)
	switch c.Lambda {
	case LambdaFull:
		eye := func(g *Graph, s shapes.Shape) *Node {
			return BroadcastToDims(InsertAxes(DiagonalWithValue(ScalarOne(g, s.DType), r), 0), T, r, r)
		}
		p.full = taskRows(variable(scope, g, VarLambda, eye, dt, T, r, r), taskIDs)
	case LambdaDiagonal:
		p.diag = taskRows(variable(scope, g, VarLambda, initializer.One, dt, T, r), taskIDs)
	} // LambdaNone: z_t = z
	mixInit := kaimingUniform(scope, n)
	if c.MixInit == MixUniform {
		mixInit = initializer.One
	}
	w := taskRows(variable(scope, g, VarMixLogits, mixInit, dt, T, n), taskIDs) // [batch, n]
	p.mix = Softmax(DivScalar(w, c.Temperature), -1)
	return p
}

// mtlLoRAFactors: A'_t = Λ_t·A, B'_t = B̃_t (fact 4 of MTL-LoRA.md).
func mtlLoRAFactors(lv layerVars, c Config, dIn, dOut, task int) (Factors, error) {
	r, n, T := c.Rank, c.N, c.NumTasks
	f := Factors{Scale: c.Scale()}
	a, err := lv.read(ScopeAdapter, VarA, dIn, r)
	if err != nil {
		return f, err
	}
	b, err := lv.read(ScopeAdapter, VarB, n, r, dOut)
	if err != nil {
		return f, err
	}
	w, err := lv.read(ScopeAdapter, VarMixLogits, T, n)
	if err != nil {
		return f, err
	}
	pi := softmax(w[task*n:(task+1)*n], c.Temperature)
	lambda := newMatrix(r, r) // Λ_t
	switch c.Lambda {
	case LambdaNone:
		for j := 0; j < r; j++ {
			lambda.set(j, j, 1)
		}
	case LambdaFull:
		l, err := lv.read(ScopeAdapter, VarLambda, T, r, r)
		if err != nil {
			return f, err
		}
		copy(lambda.Data, l[task*r*r:(task+1)*r*r])
	default:
		l, err := lv.read(ScopeAdapter, VarLambda, T, r)
		if err != nil {
			return f, err
		}
		for j := 0; j < r; j++ {
			lambda.set(j, j, l[task*r+j])
		}
	}
	aT := Matrix{dIn, r, a}.t() // Aᵀ [r, dIn]
	f.A = lambda.mul(aT)        // A'_t = Λ_t·Aᵀ
	f.B = newMatrix(dOut, r)    // B'_t = B̃_tᵀ = Σ_i π_t[i]·B_iᵀ
	for i := 0; i < n; i++ {
		for j := 0; j < r; j++ {
			for k := 0; k < dOut; k++ {
				f.B.add(k, j, pi[i]*b[(i*r+j)*dOut+k])
			}
		}
	}
	return f, nil
}
