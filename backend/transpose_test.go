package backend

import (
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// recordingFunction notes which of Transpose and Identity the wrapper calls.
type recordingFunction struct {
	compute.Function
	calls []string
}

func (r *recordingFunction) Transpose(x compute.Value, permutation ...int) (compute.Value, error) {
	r.calls = append(r.calls, "Transpose")
	return x, nil
}

func (r *recordingFunction) Identity(x compute.Value) (compute.Value, error) {
	r.calls = append(r.calls, "Identity")
	return x, nil
}

// An identity permutation becomes an Identity; any other stays a Transpose.
func TestIdentityTransposeDispatch(t *testing.T) {
	rec := &recordingFunction{}
	f := identityFunction{Function: rec}
	for _, perm := range [][]int{{0, 1, 2}, {0, 2, 1}, {0}, {1, 0}} {
		if _, err := f.Transpose(nil, perm...); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"Identity", "Transpose", "Identity", "Transpose"}
	for i := range want {
		if i >= len(rec.calls) || rec.calls[i] != want[i] {
			t.Fatalf("calls %v, want %v", rec.calls, want)
		}
	}
}

// On a real backend the wrapped one computes what the plain one computes: transposes (identity or not),
// the gradient of a batched matrix product (whose transposes back are mostly identities) and a While loop
// (closures handed back unwrapped, where the backend has them); an output can be fed to the next call.
func TestWithoutIdentityTransposesComputesTheSame(t *testing.T) {
	plain := MustNew()
	wrapped := withoutIdentityTransposes(plain)
	x := func() *tensors.Tensor { // one per backend: a tensor stays with the backend instance it met first
		return tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 2, 2, 3)
	}
	fn := func(x *Node) []*Node {
		g := x.Graph()
		w := MulScalar(Iota(g, shapes.Make(x.DType(), 2, 3, 4), 2), 0.5)
		y := Einsum("bij,bjk->bik", x, w)
		grad := Gradient(ReduceAllSum(Mul(y, y)), x)[0]
		outs := []*Node{TransposeAllAxes(x, 0, 1, 2), TransposeAllAxes(x, 2, 0, 1), y, grad}
		if !plain.Capabilities().Functions { // ONNX Runtime has no closures
			return outs
		}
		cond := NewClosure(g, func(g *Graph) []*Node {
			return []*Node{LessThan(Parameter(g, "i", shapes.Scalar[int32]()), Const(g, int32(3)))}
		})
		body := NewClosure(g, func(g *Graph) []*Node {
			return []*Node{AddScalar(Parameter(g, "i", shapes.Scalar[int32]()), 1)}
		})
		loops := While(cond, body, Const(g, int32(0)))[0]
		return append(outs, loops)
	}
	want := MustExecOnceN(plain, fn, x())
	got := MustExecOnceN(wrapped, fn, x())
	for i := range want {
		if !got[i].Shape().Equal(want[i].Shape()) || got[i].String() != want[i].String() {
			t.Errorf("output %d: wrapped backend gave %s, plain %s", i, got[i], want[i])
		}
	}
	// An output stays usable as the next input (buffers name the wrapped backend).
	double := func(y *Node) *Node { return MulScalar(y, 2) }
	if a, b := MustExecOnce(wrapped, double, got[2]), MustExecOnce(plain, double, want[2]); a.String() != b.String() {
		t.Errorf("an output fed back: wrapped backend gave %s, plain %s", a, b)
	}
}
