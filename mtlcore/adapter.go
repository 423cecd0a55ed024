package mtlcore

import (
	"math"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Scope and variable names. They are checkpoint keys: stable and documented.
//
// A layer at scope path P keeps its frozen base weights exactly where GoMLX's layers.Dense keeps them, so
// pretrained checkpoints load unchanged, and its adapter beside them:
//
//	P/dense/weights    [dIn, dOut]  W0 (frozen)
//	P/dense/biases     [dOut]       bias (frozen)
//	P/adapter/...      the method's tensors, below
//
// Layouts are GoMLX's [in, out] (x·A, z·B); PEFT export transposes to [r, in] and [out, r].
const (
	ScopeBase    = "dense"
	ScopeAdapter = "adapter"

	VarA             = "lora_A"         // LoRA, DoRA, MTL-LoRA, HydraLoRA: [dIn, r]; MultiLoRA, MoELoRA, per-task: [k, dIn, r_k]
	VarB             = "lora_B"         // LoRA, DoRA: [r, dOut]; pools and blocks: [k, r_k, dOut]
	VarLambda        = "lambda"         // MTL-LoRA Λ: [T, r] (diagonal) or [T, r, r] (full)
	VarMixLogits     = "mix_logits"     // MTL-LoRA w: [T, n]
	VarScaling       = "lora_scaling"   // MultiLoRA λ_i: [n, dOut]
	VarTaskEmbedding = "task_embedding" // MoELoRA E: [T, e]
	VarGate          = "gate"           // MoELoRA W_g: [e, n]
	VarRouter        = "router"         // HydraLoRA W_r: [dIn, n]
	VarMagnitude     = "magnitude"      // DoRA m: [dOut]
)

// Dense is a linear layer y = x·W0 + b with the adapter of cfg added:
//
//	x:       [batch, ..., dIn] float
//	taskIDs: [batch] int32, the task of each example (nil only for methods that ignore it)
//	returns: [batch, ..., dOut]
//
// W0 and b are frozen. One compiled graph serves batches that mix tasks: per-task tensors are selected with
// Gather on taskIDs, so shapes never depend on the tasks present. Task ids are not checked inside the graph
// (a gather clamps them silently): validate them on the host with CheckTaskIDs.
//
// Like all graph-building functions it panics on bad input; call cfg.ValidateLayer before building.
func Dense(scope *model.Scope, x, taskIDs *Node, cfg Config, dOut int, useBias bool) *Node {
	dIn := x.Shape().Dimensions[x.Rank()-1]
	if err := cfg.ValidateLayer(dIn, dOut); err != nil {
		exceptions.Panicf("%v (layer %s)", err, scope.Scope())
	}
	if cfg.Method.UsesTaskIDs() && taskIDs == nil {
		exceptions.Panicf("mtlcore: %s at %s needs task ids, got nil", cfg.Method, scope.Scope())
	}
	w0Var, w0Init, bias := frozenBase(scope, x.Graph(), x.DType(), dIn, dOut, useBias)
	w0 := w0Var.NodeValue(x.Graph())

	ad := scope.In(ScopeAdapter)
	xa := Dropout(ad, x, cfg.Dropout) // dropout on the adapter path only
	spec := cfg.Method.spec()
	parts := spec.build(ad, xa, taskIDs, cfg, dIn, dOut)
	delta := parts.apply(xa)
	if spec.rescale == nil {
		return Add(baseProduct(x, w0, bias), delta)
	}
	y := spec.rescale(ad, baseProduct(x, w0, nil), delta, w0Var, w0Init, parts) // the bias comes after
	if bias != nil {
		y = Add(y, ExpandLeftToRank(bias, y.Rank()))
	}
	return y
}

// frozenBase creates (or reuses) W0 and b under scope/dense with GoMLX's names and marks them frozen.
// It returns W0's initializer so DoRA can size its magnitude from the same draw.
func frozenBase(scope *model.Scope, g *Graph, dtype dtypes.DType, dIn, dOut int, useBias bool) (w0 *model.Variable, w0Init model.VariableInitializer, bias *Node) {
	base := scope.In(ScopeBase)
	w0Init = memoInitializer(base.Initializer())
	wVar := base.WithInitializer(w0Init).VariableWithShape("weights", shapes.Make(dtype, dIn, dOut))
	wVar.SetTrainable(false)
	if useBias {
		bVar := base.VariableWithShape("biases", shapes.Make(dtype, dOut))
		bVar.SetTrainable(false)
		bias = bVar.NodeValue(g)
	}
	return wVar, w0Init, bias
}

// baseProduct is x·W0 (+ bias) over x's last axis. A plain product, not nn.Dense: the Go backend's fused
// Dense VJP always computes the weight gradient too, a wasted [dIn, dOut] product per frozen layer and step.
// It is computed on x flattened to [rows, dIn], which lets ONNX Runtime fuse the product and the bias into
// one Gemm (a separate broadcast Add of a [32, 128, 1536] activation took 11 ms there).
func baseProduct(x, w0, bias *Node) *Node {
	dims := x.Shape().Dimensions
	dIn, dOut := dims[len(dims)-1], w0.Shape().Dimensions[1]
	y := MatMul(Reshape(x, x.Shape().Size()/dIn, dIn), w0)
	if bias != nil {
		y = Add(y, InsertAxes(bias, 0))
	}
	return Reshape(y, append(slices.Clone(dims[:len(dims)-1]), dOut)...)
}

// memoInitializer returns the same node for every call within one graph, so two variables initialised in
// the same pass (W0 and DoRA's magnitude) see the same random draw.
func memoInitializer(init model.VariableInitializer) model.VariableInitializer {
	done := map[*Graph]*Node{}
	return func(g *Graph, shape shapes.Shape) *Node {
		if n, ok := done[g]; ok {
			return n
		}
		n := init(g, shape)
		done[g] = n
		return n
	}
}

// kaimingUniform is PyTorch's nn.Linear default, Kaiming-uniform with a=√5: U(−1/√fanIn, 1/√fanIn).
func kaimingUniform(scope *model.Scope, fanIn int) model.VariableInitializer {
	b := 1 / math.Sqrt(float64(fanIn))
	return initializer.RandomUniformFn(scope, -b, b)
}

// variable creates or reuses a trainable adapter variable with its initializer.
func variable(scope *model.Scope, g *Graph, name string, init model.VariableInitializer, dtype dtypes.DType, dims ...int) *Node {
	return scope.WithInitializer(init).VariableWithShape(name, shapes.Make(dtype, dims...)).NodeValue(g)
}

// taskRows gathers row t of table [T, ...] for each example: [batch, ...].
func taskRows(table, taskIDs *Node) *Node {
	return Gather(table, InsertAxes(ConvertDType(taskIDs, dtypes.Int32), -1))
}

// blocks reshapes k stacked down-projections [k, dIn, r] into one [dIn, k·r], and k up-projections
// [k, r, dOut] into a pool of one [1, k·r, dOut].
func blocks(a, b *Node) (aCat, bCat *Node) {
	k, dIn, r := a.Shape().Dimensions[0], a.Shape().Dimensions[1], a.Shape().Dimensions[2]
	dOut := b.Shape().Dimensions[2]
	aCat = Reshape(TransposeAllAxes(a, 1, 0, 2), dIn, k*r)
	bCat = Reshape(b, 1, k*r, dOut)
	return
}

// repeatBlocks turns per-block weights [batch, k] into a per-rank scale [batch, k·r].
func repeatBlocks(w *Node, r int) *Node {
	batch, k := w.Shape().Dimensions[0], w.Shape().Dimensions[1]
	return Reshape(BroadcastToDims(InsertAxes(w, -1), batch, k, r), batch, k*r)
}
