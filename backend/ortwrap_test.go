package backend

import (
	"fmt"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
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
	f := ortFunction{Function: rec}
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
func TestWrappedBackendComputesTheSame(t *testing.T) {
	plain := MustNew()
	wrapped := forONNXRuntime(plain)
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

// rngBits runs the backend's RNGBitGenerator once from state and returns the new state and the values.
func rngBits(t *testing.T, b compute.Backend, state []uint64, shape shapes.Shape) (newState []uint64, values any) {
	t.Helper()
	builder := b.Builder("rng")
	f := builder.Main()
	s, err := f.Constant(state, len(state))
	if err != nil {
		t.Fatal(err)
	}
	ns, v, err := f.RNGBitGenerator(s, shape)
	if err != nil {
		t.Fatalf("RNGBitGenerator(%s): %v", shape, err)
	}
	if err := f.Return([]compute.Value{ns, v}, nil); err != nil {
		t.Fatal(err)
	}
	exec, err := builder.Compile()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Execute(nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := out[1].Shape(); err != nil || !got.Equal(shape) {
		t.Fatalf("RNGBitGenerator(%s) returned shape %s (%v)", shape, got, err)
	}
	newState = make([]uint64, len(state))
	if err := out[0].ToFlatData(newState); err != nil {
		t.Fatal(err)
	}
	switch shape.DType {
	case dtypes.Uint32:
		values = make([]uint32, shape.Size())
	case dtypes.Uint64:
		values = make([]uint64, shape.Size())
	}
	if err := out[1].ToFlatData(values); err != nil {
		t.Fatal(err)
	}
	return newState, values
}

// Random uint32 values from the wrapped backend are the low halves, then the high halves, of the 64-bit
// words the plain backend generates from the same state, and the state advances as it does for those words;
// uint64 requests are the plain backend's own. Odd, multi-axis and tiny shapes included.
func TestRNGBitsAreHalvesOfWords(t *testing.T) {
	plain := MustNew()
	if w, ok := plain.(*ortBackend); ok {
		plain = w.Backend
	}
	wrapped := forONNXRuntime(plain)
	state := []uint64{0x9e3779b97f4a7c15, 12345, 0}
	for _, dims := range [][]int{{2}, {3, 5}, {4096}, {7, 1, 3}} {
		n := shapes.Make(dtypes.Uint32, dims...).Size()
		half := (n + 1) / 2
		wantState, wordsAny := rngBits(t, plain, state, shapes.Make(dtypes.Uint64, half))
		gotState, bitsAny := rngBits(t, wrapped, state, shapes.Make(dtypes.Uint32, dims...))
		words, bits := wordsAny.([]uint64), bitsAny.([]uint32)
		for i, v := range bits {
			want := uint32(words[i%half] >> (32 * (i / half)))
			if v != want {
				t.Fatalf("shape %v: value %d = %#x, want %#x (from word %d = %#x)", dims, i, v, want, i%half, words[i%half])
			}
		}
		if fmt.Sprint(gotState) != fmt.Sprint(wantState) {
			t.Errorf("shape %v: new state %v, want %v", dims, gotState, wantState)
		}
		if fmt.Sprint(gotState) == fmt.Sprint(state) {
			t.Errorf("shape %v: the state did not advance", dims)
		}
	}
	// A 64-bit request passes through unchanged.
	_, want := rngBits(t, plain, state, shapes.Make(dtypes.Uint64, 5))
	_, got := rngBits(t, wrapped, state, shapes.Make(dtypes.Uint64, 5))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("uint64 values %v, want the plain backend's %v", got, want)
	}
}

// The split values are fit for use as random bits: over 2^16 values every bit position is set about half the
// time, and a value agrees with the one cut from the other half of its word in about half its bits.
func TestRNGBitsAreBalanced(t *testing.T) {
	const n = 1 << 16
	_, bitsAny := rngBits(t, forONNXRuntime(MustNew()), []uint64{42, 0, 0}, shapes.Make(dtypes.Uint32, n))
	bits := bitsAny.([]uint32)
	var ones [32]int
	agree := 0
	for i, v := range bits {
		for b := range 32 {
			ones[b] += int(v >> b & 1)
		}
		if i < n/2 {
			agree += 32 - popcount(v^bits[i+n/2])
		}
	}
	// Binomial(n, ½): standard deviation 128 for one bit position; 6σ bounds.
	for b, c := range ones {
		if c < n/2-768 || c > n/2+768 {
			t.Errorf("bit %d set in %d of %d values, want about %d", b, c, n, n/2)
		}
	}
	if total := 32 * n / 2; agree < total/2-6*362 || agree > total/2+6*362 {
		t.Errorf("low and high halves of words agree in %d of %d bits, want about half", agree, total)
	}
}

func popcount(v uint32) int {
	c := 0
	for ; v != 0; v &= v - 1 {
		c++
	}
	return c
}
