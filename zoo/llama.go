package zoo

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"

	"github.com/mtlora/mtlora/mtlcore"
)

// LlamaConfig is the architecture of a LLaMA-family decoder (LLaMA 2/3, SmolLM2, Mistral, Qwen2): RMSNorm
// before attention and feed-forward, rotary position embeddings, grouped-query causal attention, a SwiGLU
// feed-forward, and an output projection that is the token embedding (tied) or its own matrix.
type LlamaConfig struct {
	Vocab        int     // vocabulary size
	Hidden       int     // model width H
	Layers       int     // decoder blocks
	Heads        int     // query heads
	KVHeads      int     // key-value heads (grouped-query attention: Heads is a multiple)
	HeadDim      int     // width of a head (H / Heads for LLaMA)
	Intermediate int     // feed-forward width
	MaxPositions int     // context length the model was trained for
	RopeTheta    float64 // rotary base (1e4 LLaMA 2, 5e5 LLaMA 3, 1e5 SmolLM2)
	RMSNormEps   float64 // RMSNorm epsilon
	Tied         bool    // the output projection is the token embedding
	QKVBias      bool    // q, k and v projections have biases (Qwen2)
}

// Validate reports the first field that cannot describe a decoder.
func (c LlamaConfig) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"vocab_size", c.Vocab}, {"hidden_size", c.Hidden}, {"num_hidden_layers", c.Layers}, {"num_attention_heads", c.Heads},
		{"num_key_value_heads", c.KVHeads}, {"head_dim", c.HeadDim}, {"intermediate_size", c.Intermediate},
		{"max_position_embeddings", c.MaxPositions}} {
		if f.v <= 0 {
			return fmt.Errorf("llama config: %s must be positive, got %d", f.name, f.v)
		}
	}
	if c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("llama config: num_attention_heads %d is not a multiple of num_key_value_heads %d", c.Heads, c.KVHeads)
	}
	if c.HeadDim%2 != 0 {
		return fmt.Errorf("llama config: head_dim %d must be even (rotary embeddings rotate pairs)", c.HeadDim)
	}
	if !(c.RopeTheta > 0) || !(c.RMSNormEps > 0) {
		return fmt.Errorf("llama config: rope_theta (%g) and rms_norm_eps (%g) must be positive", c.RopeTheta, c.RMSNormEps)
	}
	return nil
}

// LinearLayers lists the linear layers of one decoder block with [dIn, dOut], for Injector.CheckLayers.
func (c LlamaConfig) LinearLayers() map[string][2]int {
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	return map[string][2]int{
		"q_proj": {c.Hidden, q}, "k_proj": {c.Hidden, kv}, "v_proj": {c.Hidden, kv}, "o_proj": {q, c.Hidden},
		"gate_proj": {c.Hidden, c.Intermediate}, "up_proj": {c.Hidden, c.Intermediate}, "down_proj": {c.Intermediate, c.Hidden},
	}
}

// Scopes of the decoder's variables, relative to the scope it is built in; package pretrained maps a
// checkpoint's tensors onto them. Linear layers keep mtlcore's layout (<layer>/dense/weights [in, out],
// <layer>/adapter/...), norms hold "weight" [H].
const (
	LlamaEmbed  = "embed_tokens" // embed_tokens/embeddings [vocab, H]
	LlamaLayer  = "layer_%d"     // attention/{q_proj,k_proj,v_proj,o_proj}, mlp/{gate_proj,up_proj,down_proj}, input_norm, post_attention_norm
	LlamaNorm   = "norm"         // final RMSNorm
	LlamaOutput = "lm_head"      // untied output projection lm_head/dense/weights [H, vocab]
)

// LlamaInputs are a batch's token ids and attention mask, [batch, seq] int32 (mask 1 for tokens, 0 for
// padding, which may be on either side). Positions [batch, seq] int32 are each token's position; nil counts
// real tokens from 0 (the mask's running sum − 1), so left-padded rows get the positions of unpadded ones.
type LlamaInputs struct {
	Tokens, Mask, Positions *Node
}

// Llama builds the decoder and returns the final hidden state [batch, seq, H] (after the last RMSNorm).
// Every projection — q, k, v, o, gate, up, down — goes through the injector with its role (q, k, v, o,
// ffn_gate, ffn_in, ffn_out), so any mtlcore adapter applies to any of them; taskIDs [batch] int32 selects
// each example's task. With an injector every pretrained weight is frozen (a nil injector trains them all).
//
// Attention is causal and ignores padding keys: query t sees keys s ≤ t whose mask is 1.
func Llama(cfg LlamaConfig, inj *mtlcore.Injector) func(scope *model.Scope, in LlamaInputs, taskIDs *Node) *Node {
	return func(scope *model.Scope, in LlamaInputs, taskIDs *Node) *Node {
		h, _, _ := LlamaPrefill(cfg, inj, 0)(scope, in, taskIDs)
		return h
	}
}

// LlamaPrefill is Llama that also returns each block's rotated keys and values, [batch, kvHeads, cacheLen,
// dh] per block with the sequence's in slots 0 … seq−1 and zeros after: the KV cache LlamaStep continues
// from. cacheLen 0 returns no cache (Llama itself).
func LlamaPrefill(cfg LlamaConfig, inj *mtlcore.Injector, cacheLen int) func(scope *model.Scope, in LlamaInputs, taskIDs *Node) (h *Node, keys, values []*Node) {
	return func(scope *model.Scope, in LlamaInputs, taskIDs *Node) (*Node, []*Node, []*Node) {
		if err := cfg.Validate(); err != nil {
			panic(err)
		}
		seq := in.Tokens.Shape().Dimensions[1]
		if seq > cfg.MaxPositions || cacheLen > cfg.MaxPositions {
			panic(fmt.Errorf("llama: sequence length %d (cache %d) exceeds the context length %d", seq, cacheLen, cfg.MaxPositions))
		}
		if cacheLen > 0 && cacheLen < seq {
			panic(fmt.Errorf("llama: a cache of %d positions cannot hold the %d of the prompt", cacheLen, seq))
		}
		positions := in.Positions
		if positions == nil {
			positions = realPositions(in.Mask)
		}
		cos, sin := rotary(positions, cfg.HeadDim, cfg.RopeTheta) // [batch, 1, seq, dh]
		bias := causalBias(in.Mask)                               // [batch, 1, seq, seq]
		var keys, values []*Node
		h := llamaEmbed(scope, in.Tokens, cfg, inj != nil) // [batch, seq, H]
		for l := range cfg.Layers {
			h = llamaBlock(scope.In("%s", fmt.Sprintf(LlamaLayer, l)), cfg, inj, h, taskIDs, cos, sin, nil, func(qh, kh, vh *Node) *Node {
				if cacheLen > 0 {
					pad := func(x *Node) *Node {
						return Pad(x, ScalarZero(x.Graph(), x.DType()), PadAxis{}, PadAxis{}, PadAxis{End: cacheLen - seq}, PadAxis{})
					}
					keys, values = append(keys, pad(kh)), append(values, pad(vh))
				}
				return attend(qh, kh, vh, bias, cfg)
			})
		}
		return rmsNorm(scope.In(LlamaNorm), h, cfg.RMSNormEps, inj != nil), keys, values
	}
}

// LlamaStep runs the decoder on one new token per row with the KV cache of the tokens before it: tokens and
// positions [batch, 1] int32 (the token's rotary position), slot a scalar int32 (the cache slot the token's
// key and value are written to), keyMask [batch, cacheLen] int32 (1 for the slots a row may attend to, the
// new slot included), and per block the keys and values [batch, kvHeads, cacheLen, dh]. It returns the
// token's final hidden state [batch, 1, H] and the caches with the new slot written. Built in the scope of
// Llama, it uses the same variables: its output equals Llama's at that position.
func LlamaStep(cfg LlamaConfig, inj *mtlcore.Injector) func(scope *model.Scope, tokens, positions, slot, keyMask, taskIDs *Node, keys, values []*Node) (h *Node, newKeys, newValues []*Node) {
	return func(scope *model.Scope, tokens, positions, slot, keyMask, taskIDs *Node, keys, values []*Node) (*Node, []*Node, []*Node) {
		if err := cfg.Validate(); err != nil {
			panic(err)
		}
		batch, cacheLen := keyMask.Shape().Dimensions[0], keyMask.Shape().Dimensions[1]
		cos, sin := rotary(positions, cfg.HeadDim, cfg.RopeTheta) // [batch, 1, 1, dh]
		zero := ZerosLike(ConvertDType(keyMask, dtypes.Float32))
		bias := Reshape(Where(NotEqual(keyMask, ZerosLike(keyMask)), zero, AddScalar(zero, -1e30)), batch, 1, 1, cacheLen)
		var newKeys, newValues []*Node
		h := llamaEmbed(scope, tokens, cfg, inj != nil) // [batch, 1, H]
		for l := range cfg.Layers {
			h = llamaBlock(scope.In("%s", fmt.Sprintf(LlamaLayer, l)), cfg, inj, h, taskIDs, cos, sin, nil, func(qh, kh, vh *Node) *Node {
				z := ScalarZero(slot.Graph(), slot.DType())
				at := []*Node{z, z, slot, z}
				k, v := DynamicUpdateSlice(keys[l], kh, at), DynamicUpdateSlice(values[l], vh, at)
				newKeys, newValues = append(newKeys, k), append(newValues, v)
				return attend(qh, k, v, bias, cfg)
			})
		}
		return rmsNorm(scope.In(LlamaNorm), h, cfg.RMSNormEps, inj != nil), newKeys, newValues
	}
}

// llamaEmbed looks up tokens [batch, seq] in the token embedding: [batch, seq, H] (GoMLX's embedding reads a
// trailing axis of 1 as the index axis, so a single-token step is reshaped back).
func llamaEmbed(scope *model.Scope, tokens *Node, cfg LlamaConfig, frozen bool) *Node {
	dims := tokens.Shape().Dimensions
	return Reshape(embedding(scope.In(LlamaEmbed), tokens, cfg.Vocab, cfg.Hidden, frozen), dims[0], dims[1], cfg.Hidden)
}

// llamaBlock is one decoder block on h [batch, seq, H]: pre-norm attention and SwiGLU feed-forward, each
// added to the residual. attention receives the rotated queries [batch, heads, seq, dh] and the rotated keys
// and values [batch, kvHeads, seq, dh] and returns the context [batch, seq, heads·dh].
//
// rows, when not nil, are [batch, A, 2] (row, position) pairs: only those positions' queries are computed —
// keys and values still come from every position — and the block returns [batch, A, H] for them alone (the
// last block of a model whose outputs are needed at a few positions).
func llamaBlock(blk *model.Scope, cfg LlamaConfig, inj *mtlcore.Injector, h, taskIDs, cos, sin, rows *Node, attention func(qh, kh, vh *Node) *Node) *Node {
	dh := cfg.HeadDim
	headsMajor := func(x *Node, heads int) *Node { // [batch, heads, seq, dh]
		d := x.Shape().Dimensions
		return TransposeAllAxes(Reshape(x, d[0], d[1], heads, dh), 0, 2, 1, 3)
	}
	x := rmsNorm(blk.In("input_norm"), h, cfg.RMSNormEps, inj != nil)
	xq, qcos, qsin := x, cos, sin
	if rows != nil {
		xq, h, qcos, qsin = Gather(x, rows), Gather(h, rows), gatherPositions(cos, rows), gatherPositions(sin, rows)
	}
	att := blk.In("attention")
	q := inj.Dense(att.In("q_proj"), mtlcore.TargetQuery, xq, taskIDs, cfg.Heads*dh, cfg.QKVBias)
	k := inj.Dense(att.In("k_proj"), mtlcore.TargetKey, x, taskIDs, cfg.KVHeads*dh, cfg.QKVBias)
	v := inj.Dense(att.In("v_proj"), mtlcore.TargetValue, x, taskIDs, cfg.KVHeads*dh, cfg.QKVBias)
	ctx := attention(applyRotary(headsMajor(q, cfg.Heads), qcos, qsin), applyRotary(headsMajor(k, cfg.KVHeads), cos, sin), headsMajor(v, cfg.KVHeads))
	h = Add(h, inj.Dense(att.In("o_proj"), mtlcore.TargetAttnOutput, ctx, taskIDs, cfg.Hidden, false))

	x = rmsNorm(blk.In("post_attention_norm"), h, cfg.RMSNormEps, inj != nil)
	mlp := blk.In("mlp")
	gate := inj.Dense(mlp.In("gate_proj"), mtlcore.TargetFFNGate, x, taskIDs, cfg.Intermediate, false)
	up := inj.Dense(mlp.In("up_proj"), mtlcore.TargetFFNIn, x, taskIDs, cfg.Intermediate, false)
	return Add(h, inj.Dense(mlp.In("down_proj"), mtlcore.TargetFFNOut, Mul(activation.Swish(gate), up), taskIDs, cfg.Hidden, false))
}

// LlamaLogits projects hidden states [..., H] to vocabulary logits [..., vocab]: by the token embedding
// (tied) or lm_head, frozen. Build it in the same scope as Llama.
func LlamaLogits(cfg LlamaConfig, scope *model.Scope, h *Node) *Node {
	g := h.Graph()
	lead := h.Shape().Dimensions[:h.Rank()-1]
	flat := Reshape(h, -1, cfg.Hidden) // [n, H]
	restore := func(x *Node) *Node { return Reshape(x, append(slices.Clone(lead), cfg.Vocab)...) }
	if cfg.Tied {
		e := scope.Shared(LlamaEmbed).VariableWithShape("embeddings", shapes.Make(dtypes.Float32, cfg.Vocab, cfg.Hidden))
		e.SetTrainable(false)
		return restore(Einsum("nd,vd->nv", flat, e.NodeValue(g)))
	}
	w := scope.In(LlamaOutput).In("dense").VariableWithShape("weights", shapes.Make(dtypes.Float32, cfg.Hidden, cfg.Vocab))
	w.SetTrainable(false)
	return restore(Einsum("nd,dv->nv", flat, w.NodeValue(g)))
}

// realPositions counts each row's real tokens: position = (running sum of the mask) − 1, clamped at 0.
func realPositions(mask *Node) *Node {
	pos := AddScalar(CumSum(mask, 1), -1)
	return Max(pos, ZerosLike(pos))
}

// rotary returns cos and sin [batch, 1, seq, dh] of each position's angles, laid out as Hugging Face's
// LLaMA does (rotate_half): angle i and i + dh/2 are both position·θ^(−2i/dh).
func rotary(positions *Node, dh int, theta float64) (cos, sin *Node) {
	g := positions.Graph()
	inv := make([]float32, dh)
	for i := range dh / 2 {
		f := float32(1 / math.Pow(theta, float64(2*i)/float64(dh)))
		inv[i], inv[i+dh/2] = f, f
	}
	p := ConvertDType(positions, dtypes.Float32)                       // [batch, seq]
	angles := Mul(InsertAxes(p, -1), Reshape(Const(g, inv), 1, 1, dh)) // [batch, seq, dh]
	angles = InsertAxes(angles, 1)                                     // [batch, 1, seq, dh]
	return Cos(angles), Sin(angles)
}

// applyRotary rotates x [batch, heads, seq, dh]: x·cos + rotate_half(x)·sin, rotate_half(x) = (−x₂, x₁).
func applyRotary(x, cos, sin *Node) *Node {
	dh := x.Shape().Dimensions[3]
	x1, x2 := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, dh/2)), Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(dh/2, dh))
	return Add(Mul(x, cos), Mul(Concatenate([]*Node{Neg(x2), x1}, 3), sin))
}

// causalBias is the additive attention mask [batch, 1, seq, seq]: 0 where query t may see key s (s ≤ t and
// key s is a token), −1e30 elsewhere (exp underflows to exactly 0). A query that sees nothing (a padding
// query before every token) attends uniformly; its output is never used.
func causalBias(mask *Node) *Node {
	g := mask.Graph()
	batch, seq := mask.Shape().Dimensions[0], mask.Shape().Dimensions[1]
	q := Iota(g, shapes.Make(dtypes.Int32, seq, seq), 0)
	k := Iota(g, shapes.Make(dtypes.Int32, seq, seq), 1)
	causal := Reshape(GreaterOrEqual(q, k), 1, 1, seq, seq)
	keys := Reshape(NotEqual(mask, ZerosLike(mask)), batch, 1, 1, seq)
	see := LogicalAnd(BroadcastToDims(causal, batch, 1, seq, seq), BroadcastToDims(keys, batch, 1, seq, seq))
	zero := ZerosLike(ConvertDType(see, dtypes.Float32))
	return Where(see, zero, AddScalar(zero, -1e30))
}

// attend is grouped-query attention of queries qh [batch, heads, seq, dh] over keys and values
// [batch, kvHeads, keys, dh] with an additive bias [batch, 1, seq or 1, keys]; key-value head j serves query
// heads j·g … j·g+g−1 (g = heads / kvHeads), as Hugging Face's repeat_kv does. Returns [batch, seq, heads·dh].
func attend(qh, kh, vh, bias *Node, cfg LlamaConfig) *Node {
	batch, seq, nk := qh.Shape().Dimensions[0], qh.Shape().Dimensions[2], kh.Shape().Dimensions[2]
	dh, g := cfg.HeadDim, cfg.Heads/cfg.KVHeads
	qg := Reshape(MulScalar(qh, 1/math.Sqrt(float64(dh))), batch, cfg.KVHeads, g, seq, dh)
	scores := Einsum("bjgqd,bjkd->bjgqk", qg, kh)                     // [batch, kv, g, seq, keys]
	scores = Add(Reshape(scores, batch, cfg.Heads, seq, nk), bias)    // [batch, heads, seq, keys]
	probs := Reshape(softmax(scores), batch, cfg.KVHeads, g, seq, nk) // softmax with its written gradient
	ctx := Reshape(Einsum("bjgqk,bjkd->bjgqd", probs, vh), batch, cfg.Heads, seq, dh)
	return Reshape(TransposeAllAxes(ctx, 0, 2, 1, 3), batch, seq, cfg.Heads*dh)
}

// rmsNorm is x / √(mean(x²) + ε) · weight over the last axis; the weight [H] (a checkpoint's
// input_layernorm / post_attention_layernorm / norm) is frozen under adapters.
func rmsNorm(scope *model.Scope, x *Node, eps float64, frozen bool) *Node {
	d := x.Shape().Dimensions[x.Rank()-1]
	w := scope.WithInitializer(initializer.One).VariableWithShape("weight", shapes.Make(x.DType(), d))
	if frozen {
		w.SetTrainable(false)
	}
	ms := ReduceAndKeep(Square(x), ReduceMean, -1)
	return Mul(Div(x, Sqrt(AddScalar(ms, eps))), ExpandLeftToRank(w.NodeValue(x.Graph()), x.Rank())) // GoMLX has no gradient of Rsqrt
}

// LlamaAnswers is the decoder for causal-LM fine-tuning and answer scoring: inputs are datasets.LMBatches'
// token ids and mask [batch, seq], answer positions [batch, A] and task ids [batch]; it returns the logits at
// the answer positions [batch, A, vocab] — the vocabulary projection only where a loss or a score needs it.
//
// Only those positions go through the last block's queries, attention output and feed-forward (their keys
// and values come from every position): the same logits as LlamaLogits over Llama's output at those
// positions, for about one block's work less.
func LlamaAnswers(cfg LlamaConfig, inj *mtlcore.Injector) func(scope *model.Scope, inputs []*Node) *Node {
	return func(scope *model.Scope, inputs []*Node) *Node {
		if err := cfg.Validate(); err != nil {
			panic(err)
		}
		tokens, mask, pos, taskIDs := inputs[0], inputs[1], inputs[2], inputs[3]
		if seq := tokens.Shape().Dimensions[1]; seq > cfg.MaxPositions {
			panic(fmt.Errorf("llama: sequence length %d exceeds the context length %d", seq, cfg.MaxPositions))
		}
		batch, a := pos.Shape().Dimensions[0], pos.Shape().Dimensions[1]
		rows := Stack([]*Node{Iota(tokens.Graph(), shapes.Make(dtypes.Int32, batch, a), 0), ConvertDType(pos, dtypes.Int32)}, -1) // [batch, A, 2]
		cos, sin := rotary(realPositions(mask), cfg.HeadDim, cfg.RopeTheta)
		bias := causalBias(mask) // [batch, 1, seq, seq]
		h := llamaEmbed(scope, tokens, cfg, inj != nil)
		for l := range cfg.Layers {
			var at *Node
			b := bias
			if l == cfg.Layers-1 {
				at, b = rows, gatherPositions(bias, rows) // [batch, 1, A, seq]
			}
			h = llamaBlock(scope.In("%s", fmt.Sprintf(LlamaLayer, l)), cfg, inj, h, taskIDs, cos, sin, at, func(qh, kh, vh *Node) *Node {
				return attend(qh, kh, vh, b, cfg)
			})
		}
		return LlamaLogits(cfg, scope, rmsNorm(scope.In(LlamaNorm), h, cfg.RMSNormEps, inj != nil)) // [batch, A, vocab]
	}
}

// gatherPositions picks the rows' positions out of x [batch, 1, seq, d]: [batch, 1, A, d].
func gatherPositions(x, rows *Node) *Node {
	d := x.Shape().Dimensions
	a := rows.Shape().Dimensions[1]
	return Reshape(Gather(Reshape(x, d[0], d[2], d[3]), rows), d[0], 1, a, d[3])
}
