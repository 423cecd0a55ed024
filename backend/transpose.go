package backend

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
)

// withoutIdentityTransposes wraps a backend so that a Transpose whose permutation is the identity becomes an
// Identity. GoMLX's gradient of a matrix product always transposes its result back to the operand's axis
// order, most often with the identity permutation, and ONNX Runtime (1.30) executes those as full copies:
// 140 ms of a 2.4 s MiniLM training step (issue 8). The Go backend skips them itself and is not wrapped.
//
// Everything else passes through: the wrapped builder, functions and executables hand each call to the
// backend's own, unwrapping the sub-functions given to Call, Sort, While and If and the buffers given to
// Execute; buffers come back wrapped so that they name the wrapped backend (GoMLX's tensors refuse a buffer
// of another backend instance).
func withoutIdentityTransposes(b compute.Backend) compute.Backend {
	return &identityBackend{Backend: b}
}

type identityBackend struct{ compute.Backend }

func (b *identityBackend) Builder(name string) compute.Builder {
	return identityBuilder{b.Backend.Builder(name), b}
}

func (b *identityBackend) wrapBuffer(buf compute.Buffer) compute.Buffer {
	if buf == nil {
		return nil
	}
	return identityBuffer{buf, b}
}

func unwrapBuffer(buf compute.Buffer) compute.Buffer {
	if w, ok := buf.(identityBuffer); ok {
		return w.Buffer
	}
	return buf
}

func (b *identityBackend) BufferFromFlatData(deviceNum compute.DeviceNum, flat any, shape shapes.Shape) (compute.Buffer, error) {
	buf, err := b.Backend.BufferFromFlatData(deviceNum, flat, shape)
	return b.wrapBuffer(buf), err
}

func (b *identityBackend) NewSharedBuffer(deviceNum compute.DeviceNum, shape shapes.Shape) (compute.Buffer, any, error) {
	buf, flat, err := b.Backend.NewSharedBuffer(deviceNum, shape)
	return b.wrapBuffer(buf), flat, err
}

type identityBuffer struct {
	compute.Buffer
	backend *identityBackend
}

func (buf identityBuffer) Backend() compute.Backend { return buf.backend }

func (buf identityBuffer) CopyToDevice(deviceNum compute.DeviceNum) (compute.Buffer, error) {
	c, err := buf.Buffer.CopyToDevice(deviceNum)
	return buf.backend.wrapBuffer(c), err
}

type identityExecutable struct {
	compute.Executable
	backend *identityBackend
}

func (e identityExecutable) Execute(inputs []compute.Buffer, donate []bool, defaultDevice compute.DeviceNum) ([]compute.Buffer, error) {
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

type identityBuilder struct {
	compute.Builder
	backend *identityBackend
}

func (b identityBuilder) Compile() (compute.Executable, error) {
	e, err := b.Builder.Compile()
	if err != nil {
		return nil, err
	}
	return identityExecutable{e, b.backend}, nil
}

func (b identityBuilder) Main() compute.Function { return b.wrapFunction(b.Builder.Main()) }

func (b identityBuilder) NewFunction(name string) (compute.Function, error) {
	f, err := b.Builder.NewFunction(name)
	return b.wrapFunction(f), err
}

type identityFunction struct {
	compute.Function
	builder identityBuilder
}

func (b identityBuilder) wrapFunction(f compute.Function) compute.Function {
	if f == nil {
		return nil
	}
	return identityFunction{f, b}
}

func unwrapFunction(f compute.Function) compute.Function {
	if w, ok := f.(identityFunction); ok {
		return w.Function
	}
	return f
}

func (f identityFunction) Transpose(x compute.Value, permutation ...int) (compute.Value, error) {
	for i, p := range permutation {
		if p != i {
			return f.Function.Transpose(x, permutation...)
		}
	}
	return f.Function.Identity(x)
}

func (f identityFunction) Builder() compute.Builder { return f.builder }

func (f identityFunction) Parent() compute.Function {
	return f.builder.wrapFunction(f.Function.Parent())
}

func (f identityFunction) Closure() (compute.Function, error) {
	c, err := f.Function.Closure()
	return f.builder.wrapFunction(c), err
}

func (f identityFunction) Call(fn compute.Function, inputs ...compute.Value) ([]compute.Value, error) {
	return f.Function.Call(unwrapFunction(fn), inputs...)
}

func (f identityFunction) Sort(comparator compute.Function, axis int, isStable bool, inputs ...compute.Value) ([]compute.Value, error) {
	return f.Function.Sort(unwrapFunction(comparator), axis, isStable, inputs...)
}

func (f identityFunction) While(cond, body compute.Function, initialState ...compute.Value) ([]compute.Value, error) {
	return f.Function.While(unwrapFunction(cond), unwrapFunction(body), initialState...)
}

func (f identityFunction) If(pred compute.Value, trueBranch, falseBranch compute.Function) ([]compute.Value, error) {
	return f.Function.If(pred, unwrapFunction(trueBranch), unwrapFunction(falseBranch))
}
