package zoo

import (
	"math"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/nn"
)

// A backend's fused softmax and GELU run the forward pass as one kernel, but GoMLX differentiates them
// through their decomposed graphs: the backward pass recomputes the forward (max, shift, exponential and
// division; the error function) and then walks the decomposition's chain rule, a dozen and more
// elementwise passes per attention-probability or feed-forward tensor, on ONNX Runtime with materialised
// broadcasts. The gradients below are written out from the fused outputs instead (issue 8). On a backend
// without the fused op, or with GOMLX_FUSION=0, GoMLX's own functions are used unchanged.

// fusedWithGradient returns fused() — an elementwise-shaped function of x — whose gradient with respect to x
// is grad(y, v) for the output y and the output's adjoint v. ok is false when the backend has no fused op.
func fusedWithGradient(x *Node, fused func() *Node, grad func(y, v *Node) *Node) (y *Node, ok bool) {
	// InternalFusedOpCaller hands the fused node's adjoint to the "decomposed" node; here that node is an
	// identity of x whose custom gradient applies grad, so nothing else of a decomposition is built.
	surrogate := func() *Node {
		return IdentityWithCustomGradient(x, func(_, v *Node) *Node { return grad(y, v) })
	}
	y, ok = InternalFusedOpCaller(fused, surrogate, true)
	return y, ok
}

// softmax is Softmax(x) over the last axis, differentiated as dx = y ⊙ (v − Σ v ⊙ y).
func softmax(x *Node) *Node {
	axis := x.Rank() - 1
	y, ok := fusedWithGradient(x, func() *Node { return BackendFusedSoftmax(x, axis) }, func(y, v *Node) *Node {
		return Mul(y, Sub(v, ReduceAndKeep(Mul(v, y), ReduceSum, -1)))
	})
	if !ok {
		return Softmax(x, -1)
	}
	return y
}

// gelu is the exact (erf) GELU x·Φ(x), differentiated as dx = v · (Φ(x) + x·φ(x)) — unless the backend has
// a fused activation gradient of its own (the Go backend), which GoMLX then uses.
func gelu(x *Node) *Node {
	if be := x.Graph().Backend(); be == nil || be.Capabilities().Operations[compute.OpTypeFusedActivationVJP] {
		return activation.Gelu(x)
	}
	y, ok := fusedWithGradient(x, func() *Node {
		return BackendFusedActivation(x, activation.TypeGelu.ToBackend())
	}, func(_, v *Node) *Node {
		cdf := AddScalar(MulScalar(Erf(MulScalar(x, 1/math.Sqrt2)), 0.5), 0.5)
		xpdf := Mul(MulScalar(x, 1/math.Sqrt(2*math.Pi)), Exp(MulScalar(Mul(x, x), -0.5)))
		return Mul(v, Add(cdf, xpdf))
	})
	if !ok {
		return activation.Gelu(x)
	}
	return y
}

// layerNormFrozen normalises x over its last axis with constant gamma and beta (shaped to broadcast),
// differentiated with respect to x only.
func layerNormFrozen(x, gamma, beta *Node, eps float64) *Node {
	axes := []int{x.Rank() - 1}
	y, ok := fusedWithGradient(x, func() *Node { return BackendFusedLayerNorm(x, axes, eps, gamma, beta) }, func(_, v *Node) *Node {
		xc := Sub(x, ReduceAndKeep(x, ReduceMean, -1))
		rstd := Reciprocal(Sqrt(AddScalar(ReduceAndKeep(Square(xc), ReduceMean, -1), eps))) // ONNX Runtime has no Rsqrt
		xhat := Mul(xc, rstd)
		g := Mul(v, gamma)
		m1 := ReduceAndKeep(g, ReduceMean, -1)
		m2 := ReduceAndKeep(Mul(g, xhat), ReduceMean, -1)
		return Mul(Sub(Sub(g, m1), Mul(xhat, m2)), rstd)
	})
	if !ok {
		return nn.LayerNorm(x, axes, eps, gamma, beta, nil)
	}
	return y
}
