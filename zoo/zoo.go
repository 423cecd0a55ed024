// Package zoo holds small models whose linear layers are tagged with mtlcore target roles, so any adapter
// configuration can be injected into them: a single adapted linear layer for the synthetic task set, and a
// tiny transformer encoder with per-task heads. Pretrained encoders arrive here later.
package zoo

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/mtlcore"
)

// LinearScope is the scope of the Linear model's one layer: its base weights live at
// /linear/dense/weights, its adapter under /linear/adapter.
const LinearScope = "linear"

// Linear is a single linear layer y = x·W0 (no bias) with the injector's adapter, tagged TargetDense:
//
//	x: [batch, dIn] float32; taskIDs: [batch] int32; returns [batch, dOut].
func Linear(inj *mtlcore.Injector, dOut int) func(scope *model.Scope, x, taskIDs *Node) *Node {
	return func(scope *model.Scope, x, taskIDs *Node) *Node {
		return inj.Dense(scope.In(LinearScope), mtlcore.TargetDense, x, taskIDs, dOut, false)
	}
}

// SetLinearBase stores W0 ([dIn, dOut] row-major) as the Linear model's frozen base weights; call it before
// the model is first built.
func SetLinearBase(store *model.Store, w0 []float32, dIn, dOut int) error {
	_, err := store.CreateVariable("/"+LinearScope+"/"+mtlcore.ScopeBase+"/weights",
		tensors.FromFlatDataAndDimensions(append([]float32(nil), w0...), dIn, dOut))
	return err
}

// TinyEncoderConfig sizes TinyEncoder.
type TinyEncoderConfig struct {
	Vocab, Hidden, Heads, FFN, Layers, Tasks, Classes int
}

// LinearLayers lists the linear layers of one encoder block with [dIn, dOut], for Injector.CheckLayers.
func (c TinyEncoderConfig) LinearLayers() map[string][2]int {
	return map[string][2]int{
		"query": {c.Hidden, c.Hidden}, "key": {c.Hidden, c.Hidden}, "value": {c.Hidden, c.Hidden},
		"output": {c.Hidden, c.Hidden}, "ffn_in": {c.Hidden, c.FFN}, "ffn_out": {c.FFN, c.Hidden},
	}
}

// TinyEncoder is a small transformer encoder: frozen token embeddings, cfg.Layers blocks of multi-head
// self-attention (q, k, v, o) and a GELU feed-forward (ffn_in, ffn_out) with residuals and parameter-free
// layer normalisation, mean pooling over unmasked tokens, then a per-task classification head:
//
//	tokens: [batch, seq] int32 (0 is padding); taskIDs: [batch] int32; returns logits [batch, Classes].
//
// Base weights are frozen when inj is not nil; the heads always train.
func TinyEncoder(cfg TinyEncoderConfig, inj *mtlcore.Injector) func(scope *model.Scope, tokens, taskIDs *Node) *Node {
	return func(scope *model.Scope, tokens, taskIDs *Node) *Node {
		batch, seq := tokens.Shape().Dimensions[0], tokens.Shape().Dimensions[1]
		embScope := scope.In("embeddings")
		h := layers.Embedding(embScope, tokens, dtypes.Float32, cfg.Vocab, cfg.Hidden) // [b, L, H]
		if inj != nil {
			embScope.GetVariable("embeddings").SetTrainable(false)
		}
		mask := ConvertDType(NotEqual(tokens, ZerosLike(tokens)), dtypes.Float32) // [b, L]
		dh := cfg.Hidden / cfg.Heads
		for l := 0; l < cfg.Layers; l++ {
			blk := scope.In("block_%d", l)
			att := blk.In("attention")
			split := func(x *Node) *Node { return Reshape(x, batch, seq, cfg.Heads, dh) }
			q := split(inj.Dense(att.In("query"), mtlcore.TargetQuery, h, taskIDs, cfg.Hidden, true))
			k := split(inj.Dense(att.In("key"), mtlcore.TargetKey, h, taskIDs, cfg.Hidden, true))
			v := split(inj.Dense(att.In("value"), mtlcore.TargetValue, h, taskIDs, cfg.Hidden, true))
			scores := MulScalar(Einsum("bqhd,bkhd->bhqk", q, k), 1/math.Sqrt(float64(dh))) // [b, heads, L, L]
			keyMask := Reshape(mask, batch, 1, 1, seq)
			scores = Add(scores, MulScalar(OneMinus(keyMask), -1e9))
			ctx := Reshape(Einsum("bhqk,bkhd->bqhd", Softmax(scores, -1), v), batch, seq, cfg.Hidden)
			h = normalize(Add(h, inj.Dense(att.In("output"), mtlcore.TargetAttnOutput, ctx, taskIDs, cfg.Hidden, true)))
			ff := activation.Gelu(inj.Dense(blk.In("ffn_in"), mtlcore.TargetFFNIn, h, taskIDs, cfg.FFN, true))
			h = normalize(Add(h, inj.Dense(blk.In("ffn_out"), mtlcore.TargetFFNOut, ff, taskIDs, cfg.Hidden, true)))
		}
		// Mean over unmasked tokens: [b, H].
		m := InsertAxes(mask, -1)
		pooled := Div(ReduceSum(Mul(h, m), 1), Max(ReduceSum(m, 1), OnesLike(ReduceSum(m, 1))))
		return TaskHeads(scope.In("heads"), pooled, taskIDs, cfg.Tasks, cfg.Classes)
	}
}

// TaskHeads is one linear head per task, selected by task id: x [batch, H] → [batch, classes]. Its weights
// [tasks, H, classes] and biases [tasks, classes] always train.
func TaskHeads(scope *model.Scope, x, taskIDs *Node, tasks, classes int) *Node {
	g := x.Graph()
	hidden := x.Shape().Dimensions[1]
	w := scope.VariableWithShape("weights", shapes.Make(x.DType(), tasks, hidden, classes)).NodeValue(g)
	b := scope.VariableWithShape("biases", shapes.Make(x.DType(), tasks, classes)).NodeValue(g)
	idx := InsertAxes(taskIDs, -1)
	return Add(Einsum("bh,bhc->bc", x, Gather(w, idx)), Gather(b, idx))
}

// normalize is layer normalisation over the last axis without learned parameters.
func normalize(x *Node) *Node {
	mean := ReduceAndKeep(x, ReduceMean, -1)
	c := Sub(x, mean)
	variance := ReduceAndKeep(Square(c), ReduceMean, -1)
	return Div(c, Sqrt(AddScalar(variance, 1e-5)))
}
