package zoo

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/mtlora/mtlora/backend"
)

// softmax, gelu and the frozen layer normalisation give the values and the gradients of their textbook formulas (written out here, with no
// fused op involved), on whichever backend the tests run; the hand-written gradient is really in use where
// the backend has the fused forward op.
func TestHandWrittenGradients(t *testing.T) {
	be := backend.MustNew()
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 2 * 3 * 5 * 7
	x, w := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], w[i] = float32(rng.NormFloat64()*3), float32(rng.NormFloat64())
	}
	xt, wt := tensors.FromFlatDataAndDimensions(x, 2, 3, 5, 7), tensors.FromFlatDataAndDimensions(w, 2, 3, 5, 7)
	reference := map[string]func(x *Node) *Node{
		"softmax": func(x *Node) *Node {
			e := Exp(Sub(x, StopGradient(ReduceAndKeep(x, ReduceMax, -1))))
			return Div(e, ReduceAndKeep(e, ReduceSum, -1))
		},
		"gelu": func(x *Node) *Node {
			return Mul(x, MulScalar(AddScalar(Erf(MulScalar(x, 1/math.Sqrt2)), 1), 0.5))
		},
	}
	// a gain and an offset over the last axis (7), shaped to broadcast
	affine := func(g *Graph) (gamma, beta *Node) {
		return Const(g, [][][][]float32{{{{0.5, 1, 1.5, 2, -1, 0.25, 3}}}}), Const(g, [][][][]float32{{{{0.1, -0.2, 0.3, 0, 1, -1, 0.5}}}})
	}
	reference["layernorm"] = func(x *Node) *Node {
		gamma, beta := affine(x.Graph())
		xc := Sub(x, ReduceAndKeep(x, ReduceMean, -1))
		return Add(Mul(Div(xc, Sqrt(AddScalar(ReduceAndKeep(Square(xc), ReduceMean, -1), 1e-5))), gamma), beta)
	}
	ours := map[string]func(x *Node) *Node{"softmax": softmax, "gelu": gelu, "layernorm": func(x *Node) *Node {
		gamma, beta := affine(x.Graph())
		return layerNormFrozen(x, gamma, beta, 1e-5)
	}}
	for name, fn := range ours {
		eval := func(f func(*Node) *Node) (value, grad []float32) {
			outs := MustExecOnceN(be, func(x, w *Node) []*Node {
				y := f(x)
				return []*Node{y, Gradient(ReduceAllSum(Mul(y, w)), x)[0]}
			}, xt, wt)
			return tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[1])
		}
		gotY, gotG := eval(fn)
		wantY, wantG := eval(reference[name])
		for i := range gotY {
			if math.Abs(float64(gotY[i]-wantY[i])) > 1e-5 || math.Abs(float64(gotG[i]-wantG[i])) > 1e-4*(1+math.Abs(float64(wantG[i]))) {
				t.Fatalf("%s at %d (x = %g): value %g, gradient %g; the formula gives %g, %g", name, i, x[i], gotY[i], gotG[i], wantY[i], wantG[i])
			}
		}
	}
	if be.Capabilities().Operations[compute.OpTypeFusedSoftmax] {
		used := false
		MustExecOnce(be, func(x *Node) *Node {
			_, used = fusedWithGradient(x, func() *Node { return BackendFusedSoftmax(x, 3) }, func(y, v *Node) *Node { return v })
			return x
		}, xt)
		if !used {
			t.Errorf("the backend has a fused softmax, but the hand-written gradient was not taken")
		}
	}
}

// CLS pooling's gradient reaches the first token only (a Slice, whose gradient is a Pad: an ONNX Runtime
// probe with an older GoMLX lacked it).
func TestCLSPoolingGradient(t *testing.T) {
	be := backend.MustNew()
	hidden := tensors.FromShape(shapes.Make(dtypes.Float32, 2, 3, 4))
	mask := tensors.FromFlatDataAndDimensions([]int32{1, 1, 0, 1, 0, 0}, 2, 3)
	grad := MustExecOnce(be, func(h, m *Node) *Node {
		w := OnePlus(IotaFull(h.Graph(), shapes.Make(dtypes.Float32, 2, 4)))
		return Gradient(ReduceAllSum(Mul(Pool(PoolCLS, h, m), w)), h)[0]
	}, hidden, mask)
	got := tensors.MustCopyFlatData[float32](grad)
	for i, v := range got {
		b, tok, j := i/12, i/4%3, i%4
		want := float32(0)
		if tok == 0 {
			want = float32(b*4 + j + 1)
		}
		if v != want {
			t.Fatalf("gradient at [%d,%d,%d] = %g, want %g", b, tok, j, v, want)
		}
	}
}
