package mtlcore

import (
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// lowRank is the one low-rank core every method is built on. With x one token's input and t its example's
// task, it computes
//
//	Δh = s · Σ_i π[i] · ((A·x) transformed by M) · B_i
//
// where M is an optional per-example rank-space transform (a diagonal scale or a full matrix: MTL-LoRA's
// Λ_t, MoELoRA's expert gate, per-task LoRA's task selector) and π optional mixing weights over n
// up-projections, per example (MTL-LoRA's softmax(w_t/τ)) or per token (HydraLoRA's router).
// Methods differ only in how they fill these fields; none repeats the arithmetic.
type lowRank struct {
	a     *Node   // [dIn, R]: the down-projection (several blocks concatenated along R where a method has them).
	diag  *Node   // [batch, R] per-example scale of z, or nil.
	full  *Node   // [batch, R, R] per-example matrix M, z ← M·z; or nil.
	mix   *Node   // [batch, n] per example, or [batch, L, n] per token (L = tokens per example); nil when n = 1.
	b     *Node   // [n, R, dOut]: the pool of up-projections.
	scale float64 // s = α/r (or α/√r).
}

// apply computes Δh for x of shape [batch, ..., dIn]; the result has shape [batch, ..., dOut].
func (p lowRank) apply(x *Node) *Node {
	dims := x.Shape().Dimensions
	if len(dims) < 2 {
		exceptions.Panicf("mtlcore: adapter input must be [batch, ..., d_in], got shape %s", x.Shape())
	}
	batch, dIn := dims[0], dims[len(dims)-1]
	tokens := x.Shape().Size() / (batch * dIn)
	n, dOut := p.b.Shape().Dimensions[0], p.b.Shape().Dimensions[2]

	// Products whose weight is shared by every token run on [b·L, ·] rows: their weight gradients then contract
	// one axis, which ONNX Runtime runs as a MatMul (over [b, L] it was an Einsum, 2 ms each, 24 a MiniLM step).
	rows := batch * tokens
	r := p.a.Shape().Dimensions[1]
	z := Einsum("nd,dr->nr", Reshape(x, rows, dIn), p.a) // [b·L, R]
	perExample := func() *Node { return Reshape(z, batch, tokens, r) }
	if p.diag != nil {
		z = Mul(perExample(), InsertAxes(p.diag, 1)) // [b, L, R] ⊙ [b, 1, R]
	}
	if p.full != nil {
		z = Einsum("blk,bjk->blj", perExample(), p.full) // z_j = Σ_k M[j,k]·z_k
	}

	var out *Node // [b·L, dOut] or [b, L, dOut]
	switch {
	case p.mix == nil:
		if n != 1 {
			exceptions.Panicf("mtlcore: %d up-projections need mixing weights", n)
		}
		out = Einsum("nr,ro->no", Reshape(z, rows, r), Reshape(p.b, p.b.Shape().Dimensions[1], dOut))
	case p.mix.Rank() == 2: // per example: B̃ = Σ_i π[i]·B_i, then one batched product.
		bMixed := Einsum("bn,nro->bro", p.mix, p.b) // [b, R, dOut]
		out = Einsum("blr,bro->blo", perExample(), bMixed)
	default: // per token: Σ_i π[l,i]·(z·B_i) as one product over the stacked pool.
		mix := Reshape(p.mix, batch, tokens, n)
		u := Mul(InsertAxes(mix, -1), InsertAxes(perExample(), 2)) // [b, L, n, R]
		out = Einsum("nk,ko->no", Reshape(u, rows, n*r), Reshape(p.b, n*r, dOut))
	}
	out = MulScalar(out, p.scale)
	outDims := append(append([]int{}, dims[:len(dims)-1]...), dOut)
	return Reshape(out, outDims...)
}
