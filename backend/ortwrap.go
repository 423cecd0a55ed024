package backend

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
)

// forONNXRuntime wraps the ONNX Runtime backend (compute-onnx) to change how two operations are lowered;
// both were found with ONNX Runtime's profiler on the MiniLM training step (issue 8):
//
//   - A Transpose whose permutation is the identity becomes an Identity. GoMLX's gradient of a matrix
//     product always transposes its result back to the operand's axis order, most often with the identity
//     permutation, and ONNX Runtime (1.30) executes those as full copies: 140 ms of a 2.4 s step.
//   - Random 32-bit values (what GoMLX's float32 uniform draws ask for) are cut from half as many 64-bit
//     words. compute-onnx runs its SplitMix64 generator as ten 64-bit integer passes per word and then keeps
//     the low 32 bits; taking both halves of each word halves that work (a 3.1 M-value uniform draw: 26 →
//     16 ms; the generator was 9.5% of the step before mtlcore.Dropout made its own bits). The stream stays
//     a function of the seed.
//
// Everything else passes through: the wrapped builder, functions and executables hand each call to the
// backend's own, unwrapping the sub-functions given to Call, Sort, While and If and the buffers given to
// Execute; buffers come back wrapped so that they name the wrapped backend (GoMLX's tensors refuse a buffer
// of another backend instance). The Go backend needs neither (it skips identity transposes itself and
// generates random bits natively) and is not wrapped.
func forONNXRuntime(b compute.Backend) compute.Backend {
	return &ortBackend{Backend: b}
}

type ortBackend struct{ compute.Backend }

func (b *ortBackend) Builder(name string) compute.Builder {
	return ortBuilder{b.Backend.Builder(name), b}
}

func (b *ortBackend) wrapBuffer(buf compute.Buffer) compute.Buffer {
	if buf == nil {
		return nil
	}
	return ortBuffer{buf, b}
}

func unwrapBuffer(buf compute.Buffer) compute.Buffer {
	if w, ok := buf.(ortBuffer); ok {
		return w.Buffer
	}
	return buf
}

func (b *ortBackend) BufferFromFlatData(deviceNum compute.DeviceNum, flat any, shape shapes.Shape) (compute.Buffer, error) {
	buf, err := b.Backend.BufferFromFlatData(deviceNum, flat, shape)
	return b.wrapBuffer(buf), err
}

func (b *ortBackend) NewSharedBuffer(deviceNum compute.DeviceNum, shape shapes.Shape) (compute.Buffer, any, error) {
	buf, flat, err := b.Backend.NewSharedBuffer(deviceNum, shape)
	return b.wrapBuffer(buf), flat, err
}

type ortBuffer struct {
	compute.Buffer
	backend *ortBackend
}

func (buf ortBuffer) Backend() compute.Backend { return buf.backend }

func (buf ortBuffer) CopyToDevice(deviceNum compute.DeviceNum) (compute.Buffer, error) {
	c, err := buf.Buffer.CopyToDevice(deviceNum)
	return buf.backend.wrapBuffer(c), err
}

type ortExecutable struct {
	compute.Executable
	backend *ortBackend
}

func (e ortExecutable) Execute(inputs []compute.Buffer, donate []bool, defaultDevice compute.DeviceNum) ([]compute.Buffer, error) {
	in := make([]compute.Buffer, len(inputs))
	for i, buf := range inputs {
		in[i] = unwrapBuffer(buf)
	}
	out, err := e.Executable.Execute(in, donate, defaultDevice)
	for i, buf := range out {
		out[i] = e.backend.wrapBuffer(buf)
	}
	return out, err
}

type ortBuilder struct {
	compute.Builder
	backend *ortBackend
}

func (b ortBuilder) Compile() (compute.Executable, error) {
	e, err := b.Builder.Compile()
	if err != nil {
		return nil, err
	}
	return ortExecutable{e, b.backend}, nil
}

func (b ortBuilder) Main() compute.Function { return b.wrapFunction(b.Builder.Main()) }

func (b ortBuilder) NewFunction(name string) (compute.Function, error) {
	f, err := b.Builder.NewFunction(name)
	return b.wrapFunction(f), err
}

type ortFunction struct {
	compute.Function
	builder ortBuilder
}

func (b ortBuilder) wrapFunction(f compute.Function) compute.Function {
	if f == nil {
		return nil
	}
	return ortFunction{f, b}
}

func unwrapFunction(f compute.Function) compute.Function {
	if w, ok := f.(ortFunction); ok {
		return w.Function
	}
	return f
}

func (f ortFunction) Transpose(x compute.Value, permutation ...int) (compute.Value, error) {
	for i, p := range permutation {
		if p != i {
			return f.Function.Transpose(x, permutation...)
		}
	}
	return f.Function.Identity(x)
}

func (f ortFunction) Builder() compute.Builder { return f.builder }

func (f ortFunction) Parent() compute.Function {
	return f.builder.wrapFunction(f.Function.Parent())
}

func (f ortFunction) Closure() (compute.Function, error) {
	c, err := f.Function.Closure()
	return f.builder.wrapFunction(c), err
}

func (f ortFunction) Call(fn compute.Function, inputs ...compute.Value) ([]compute.Value, error) {
	return f.Function.Call(unwrapFunction(fn), inputs...)
}

func (f ortFunction) Sort(comparator compute.Function, axis int, isStable bool, inputs ...compute.Value) ([]compute.Value, error) {
	return f.Function.Sort(unwrapFunction(comparator), axis, isStable, inputs...)
}

func (f ortFunction) While(cond, body compute.Function, initialState ...compute.Value) ([]compute.Value, error) {
	return f.Function.While(unwrapFunction(cond), unwrapFunction(body), initialState...)
}

func (f ortFunction) If(pred compute.Value, trueBranch, falseBranch compute.Function) ([]compute.Value, error) {
	return f.Function.If(pred, unwrapFunction(trueBranch), unwrapFunction(falseBranch))
}

// RNGBitGenerator asks the wrapped backend for ⌈n/2⌉ 64-bit words when n random uint32 are requested: value
// i < ⌈n/2⌉ is the low half of word i, value ⌈n/2⌉+i its high half (a trailing one dropped when n is odd).
// The state advances as the wrapped backend advances it for those words. Other dtypes pass through.
func (f ortFunction) RNGBitGenerator(state compute.Value, shape shapes.Shape) (compute.Value, compute.Value, error) {
	n := shape.Size()
	if shape.DType != dtypes.Uint32 || n < 2 {
		return f.Function.RNGBitGenerator(state, shape)
	}
	half := (n + 1) / 2
	newState, words, err := f.Function.RNGBitGenerator(state, shapes.Make(dtypes.Uint64, half))
	if err != nil {
		return nil, nil, err
	}
	thirtyTwo, err := f.Function.Constant([]uint64{32})
	if err != nil {
		return nil, nil, err
	}
	high, err := f.Function.ShiftRightLogical(words, thirtyTwo)
	if err != nil {
		return nil, nil, err
	}
	halves := make([]compute.Value, 2)
	for i, w := range []compute.Value{words, high} {
		if halves[i], err = f.Function.ConvertDType(w, dtypes.Uint32); err != nil {
			return nil, nil, err
		}
	}
	bits, err := f.Function.Concatenate(0, halves...)
	if err != nil {
		return nil, nil, err
	}
	if 2*half != n {
		if bits, err = f.Function.Slice(bits, []int{0}, []int{n}, []int{1}); err != nil {
			return nil, nil, err
		}
	}
	if bits, err = f.Function.Reshape(bits, shape.Dimensions...); err != nil {
		return nil, nil, err
	}
	return newState, bits, nil
}
