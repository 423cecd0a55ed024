package zoo

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/backend"
)

// The heads-major form with an additive mask (used while training with attention dropout) computes what
// the fused, boolean-masked form computes, and both ignore padding keys entirely.
func TestSelfAttentionLayoutsAgreeAndIgnorePadding(t *testing.T) {
	const batch, seq, hidden, heads = 2, 5, 8, 2
	rng := rand.New(rand.NewPCG(7, 8))
	rnd := func() *tensors.Tensor {
		v := make([]float32, batch*seq*hidden)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(v, batch, seq, hidden)
	}
	q, k, v := rnd(), rnd(), rnd()
	mask := tensors.FromFlatDataAndDimensions([]int32{1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, batch, seq)
	run := func(headsMajor bool, v *tensors.Tensor) []float32 {
		exec := model.MustNewExec(backend.MustNew(), model.NewStore(), func(scope *model.Scope, q, k, v, mask *Node) *Node {
			return selfAttention(q, k, v, mask, heads, scope, 0, headsMajor)
		})
		return tensors.MustCopyFlatData[float32](exec.MustCall1(q, k, v, mask))
	}
	fused, headsMajor := run(false, v), run(true, v)
	for i := range fused {
		if d := math.Abs(float64(fused[i] - headsMajor[i])); d > 1e-5 {
			t.Fatalf("element %d: BSHD %g vs heads-major %g", i, fused[i], headsMajor[i])
		}
	}
	// Changing the values of the two padding keys of example 1 changes nothing.
	v2, err := v.Clone()
	if err != nil {
		t.Fatal(err)
	}
	tensors.MutableFlatData(v2, func(f []float32) {
		for i := (seq + 3) * hidden; i < 2*seq*hidden; i++ {
			f[i] += 100
		}
	})
	for _, hm := range []bool{false, true} {
		a, b := run(hm, v), run(hm, v2)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("heads-major=%v: padding keys changed output element %d: %g → %g", hm, i, a[i], b[i])
			}
		}
	}
}
