package zoo

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/layers/attention"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"

	"github.com/mtlora/mtlora/mtlcore"
)

// BERTConfig is the architecture of a BERT-family encoder (BERT, MiniLM, DistilBERT), as read from a
// checkpoint's config.json by package pretrained.
type BERTConfig struct {
	Vocab        int     // vocabulary size
	Hidden       int     // hidden size H
	Layers       int     // number of encoder blocks
	Heads        int     // attention heads; H must be a multiple
	Intermediate int     // feed-forward size
	MaxPositions int     // learned absolute positions
	TypeVocab    int     // token-type (segment) vocabulary; 0 for DistilBERT, which has none
	LayerNormEps float64 // 1e-12 for BERT-family checkpoints

	// Activation of the feed-forward: "gelu" (exact, erf-based: what BERT checkpoints were trained with),
	// "gelu_approx" (tanh approximation: faster, differs by up to ~1e-3 from the checkpoint's outputs) or "relu".
	Activation string

	// Dropout rates applied only while training (by mtlcore.Dropout): after embeddings, attention output and
	// feed-forward (hidden) and on the attention probabilities. Loaded from config.json; set to 0 to disable.
	HiddenDropout, AttentionDropout float64
}

// Validate reports the first field that cannot describe an encoder.
func (c BERTConfig) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"vocab_size", c.Vocab}, {"hidden_size", c.Hidden}, {"num_hidden_layers", c.Layers},
		{"num_attention_heads", c.Heads}, {"intermediate_size", c.Intermediate}, {"max_position_embeddings", c.MaxPositions}} {
		if f.v <= 0 {
			return fmt.Errorf("bert config: %s must be positive, got %d", f.name, f.v)
		}
	}
	if c.Hidden%c.Heads != 0 {
		return fmt.Errorf("bert config: hidden_size %d is not a multiple of num_attention_heads %d", c.Hidden, c.Heads)
	}
	if c.TypeVocab < 0 {
		return fmt.Errorf("bert config: type_vocab_size must be ≥ 0, got %d", c.TypeVocab)
	}
	if !(c.LayerNormEps > 0) {
		return fmt.Errorf("bert config: layer_norm_eps must be positive, got %g", c.LayerNormEps)
	}
	switch c.Activation {
	case "gelu", "gelu_approx", "relu":
	default:
		return fmt.Errorf("bert config: hidden_act %q is not supported (expected gelu, gelu_approx or relu)", c.Activation)
	}
	if c.HiddenDropout < 0 || c.HiddenDropout >= 1 || c.AttentionDropout < 0 || c.AttentionDropout >= 1 {
		return fmt.Errorf("bert config: dropout rates must be in [0, 1), got hidden %g, attention %g", c.HiddenDropout, c.AttentionDropout)
	}
	return nil
}

// LinearLayers lists the linear layers of one encoder block with [dIn, dOut], for Injector.CheckLayers.
func (c BERTConfig) LinearLayers() map[string][2]int {
	return map[string][2]int{
		"query": {c.Hidden, c.Hidden}, "key": {c.Hidden, c.Hidden}, "value": {c.Hidden, c.Hidden},
		"output": {c.Hidden, c.Hidden}, "ffn_in": {c.Hidden, c.Intermediate}, "ffn_out": {c.Intermediate, c.Hidden},
	}
}

// Scopes of the BERT encoder's variables, relative to the scope the model is built in. Package pretrained
// maps a checkpoint's tensor names onto them; each linear layer keeps mtlcore's layout (<layer>/dense/weights
// [in, out], <layer>/dense/biases, <layer>/adapter/...), each layer normalisation GoMLX's
// (<norm>/layer_normalization/gain|offset).
const (
	BERTEmbeddings = "embeddings" // word|position|token_type/embeddings, norm
	BERTLayer      = "layer_%d"   // attention/{query,key,value,output}, attention/norm, ffn_in, ffn_out, ffn_norm
	BERTHeads      = "heads"      // TaskHeads weights and biases
)

// BERTInputs are the tokenized inputs of a batch, all [batch, seq] int32: token ids, token-type (segment) ids
// (nil means all 0) and the attention mask (1 for tokens, 0 for padding).
type BERTInputs struct {
	Tokens, TypeIDs, Mask *Node
}

// BERT builds the encoder and returns its last hidden state [batch, seq, H]. Every linear layer goes through
// the injector with its role (q, k, v, o, ffn_in, ffn_out), so any mtlcore adapter can be put into any of
// them; taskIDs [batch] int32 selects each example's task (nil for task-agnostic methods).
//
// With an injector every pretrained weight is frozen (embeddings and layer normalisations too); with a nil
// injector the whole encoder trains (full fine-tuning).
func BERT(cfg BERTConfig, inj *mtlcore.Injector) func(scope *model.Scope, in BERTInputs, taskIDs *Node) *Node {
	return func(scope *model.Scope, in BERTInputs, taskIDs *Node) *Node {
		if err := cfg.Validate(); err != nil {
			panic(err)
		}
		frozen := inj != nil
		g := in.Tokens.Graph()
		batch, seq := in.Tokens.Shape().Dimensions[0], in.Tokens.Shape().Dimensions[1]
		if seq > cfg.MaxPositions {
			panic(fmt.Errorf("bert: sequence length %d exceeds max_position_embeddings %d", seq, cfg.MaxPositions))
		}

		// Embeddings: word + position + token type, then layer normalisation.
		emb := scope.In(BERTEmbeddings)
		h := embedding(emb.In("word"), in.Tokens, cfg.Vocab, cfg.Hidden, frozen)
		positions := Iota(g, shapes.Make(dtypes.Int32, batch, seq), 1)
		h = Add(h, embedding(emb.In("position"), positions, cfg.MaxPositions, cfg.Hidden, frozen))
		if cfg.TypeVocab > 0 {
			types := in.TypeIDs
			if types == nil {
				types = ZerosLike(in.Tokens)
			}
			h = Add(h, embedding(emb.In("token_type"), types, cfg.TypeVocab, cfg.Hidden, frozen))
		}
		h = layerNorm(emb.In("norm"), h, cfg.LayerNormEps, frozen)
		h = mtlcore.Dropout(scope, h, cfg.HiddenDropout)

		for l := range cfg.Layers {
			blk := scope.In("%s", fmt.Sprintf(BERTLayer, l))
			att := blk.In("attention")
			q := inj.Dense(att.In("query"), mtlcore.TargetQuery, h, taskIDs, cfg.Hidden, true)
			k := inj.Dense(att.In("key"), mtlcore.TargetKey, h, taskIDs, cfg.Hidden, true)
			v := inj.Dense(att.In("value"), mtlcore.TargetValue, h, taskIDs, cfg.Hidden, true)
			ctx := selfAttention(q, k, v, in.Mask, cfg.Heads, att, cfg.AttentionDropout, false)
			o := inj.Dense(att.In("output"), mtlcore.TargetAttnOutput, ctx, taskIDs, cfg.Hidden, true)
			h = layerNorm(att.In("norm"), Add(h, mtlcore.Dropout(blk, o, cfg.HiddenDropout)), cfg.LayerNormEps, frozen)

			ff := inj.Dense(blk.In("ffn_in"), mtlcore.TargetFFNIn, h, taskIDs, cfg.Intermediate, true)
			switch cfg.Activation {
			case "gelu":
				ff = gelu(ff)
			case "gelu_approx":
				ff = activation.GeluApproximate(ff)
			case "relu":
				ff = activation.Relu(ff)
			}
			ff = inj.Dense(blk.In("ffn_out"), mtlcore.TargetFFNOut, ff, taskIDs, cfg.Hidden, true)
			h = layerNorm(blk.In("ffn_norm"), Add(h, mtlcore.Dropout(blk, ff, cfg.HiddenDropout)), cfg.LayerNormEps, frozen)
		}
		return h
	}
}

// Pooling turns the token states of a sentence into one vector.
type Pooling int

const (
	PoolMean Pooling = iota // mean over unmasked tokens (sentence-transformers' default; all-MiniLM-L6-v2's)
	PoolCLS                 // the state of the first ([CLS]) token
)

func (p Pooling) String() string {
	switch p {
	case PoolMean:
		return "mean"
	case PoolCLS:
		return "cls"
	}
	return fmt.Sprintf("Pooling(%d)", int(p))
}

// ParsePooling reads "mean" or "cls".
func ParsePooling(s string) (Pooling, error) {
	switch s {
	case "mean":
		return PoolMean, nil
	case "cls":
		return PoolCLS, nil
	}
	return 0, fmt.Errorf("unknown pooling %q (expected mean or cls)", s)
}

// Pool pools hidden [batch, seq, H] under mask [batch, seq] (1 token, 0 padding) into [batch, H].
func Pool(p Pooling, hidden, mask *Node) *Node {
	switch p {
	case PoolCLS:
		return Squeeze(Slice(hidden, AxisRange(), AxisElem(0), AxisRange()), 1)
	case PoolMean:
		m := InsertAxes(ConvertDType(NotEqual(mask, ZerosLike(mask)), hidden.DType()), -1) // [b, L, 1]
		count := ReduceSum(m, 1)                                                           // [b, 1]
		// sentence-transformers clamps the count at 1e-9; a row with no token pools to zeros either way.
		return Div(ReduceSum(Mul(hidden, m), 1), Max(count, Scalar(hidden.Graph(), hidden.DType(), 1e-9)))
	}
	panic(fmt.Errorf("unknown pooling %d", int(p)))
}

// BERTTaskModel is the encoder, pooling and one head per task (TaskHeads, always trainable), in the form
// GoMLX's trainer takes: inputs are token ids, type ids, attention mask ([batch, seq] int32) and task ids
// ([batch] int32); returns [batch, classes] for each example's own task (classes = 1 for regression).
func BERTTaskModel(cfg BERTConfig, inj *mtlcore.Injector, pooling Pooling, tasks, classes int) func(scope *model.Scope, inputs []*Node) *Node {
	encoder := BERT(cfg, inj)
	return func(scope *model.Scope, inputs []*Node) *Node {
		if len(inputs) != 4 {
			panic(fmt.Errorf("bert task model: expected 4 inputs (ids, type ids, mask, task ids), got %d", len(inputs)))
		}
		in, taskIDs := BERTInputs{Tokens: inputs[0], TypeIDs: inputs[1], Mask: inputs[2]}, inputs[3]
		pooled := Pool(pooling, encoder(scope, in, taskIDs), in.Mask)
		pooled = mtlcore.Dropout(scope, pooled, cfg.HiddenDropout)
		return TaskHeads(scope.In(BERTHeads), pooled, taskIDs, tasks, classes)
	}
}

// BERTSharedHeadModel is BERTTaskModel with one head shared by every task (the adapters still see each
// example's task): inputs and output as BERTTaskModel's.
func BERTSharedHeadModel(cfg BERTConfig, inj *mtlcore.Injector, pooling Pooling, classes int) func(scope *model.Scope, inputs []*Node) *Node {
	encoder := BERT(cfg, inj)
	return func(scope *model.Scope, inputs []*Node) *Node {
		if len(inputs) != 4 {
			panic(fmt.Errorf("bert shared-head model: expected 4 inputs (ids, type ids, mask, task ids), got %d", len(inputs)))
		}
		in, taskIDs := BERTInputs{Tokens: inputs[0], TypeIDs: inputs[1], Mask: inputs[2]}, inputs[3]
		pooled := Pool(pooling, encoder(scope, in, taskIDs), in.Mask)
		pooled = mtlcore.Dropout(scope, pooled, cfg.HiddenDropout)
		return TaskHeads(scope.In(BERTHeads), pooled, ZerosLike(taskIDs), 1, classes)
	}
}

// embedding looks ids up in scope's table [vocab, dim], frozen when asked (layers.Embedding creates the
// variable trainable, and keeps a loaded one as it is).
func embedding(scope *model.Scope, ids *Node, vocab, dim int, frozen bool) *Node {
	out := layers.Embedding(scope, ids, dtypes.Float32, vocab, dim)
	if frozen {
		scope.GetVariable("embeddings").SetTrainable(false)
	}
	return out
}

// layerNorm is layer normalisation over the last axis with the checkpoint's epsilon, its gain and offset
// kept where GoMLX's norm.LayerNorm keeps them. Trainable, it is norm.LayerNorm; frozen (the usual case
// under adapters), its gain and offset are constants of the step and its gradient with respect to x is
// written out (see gradients.go): dx = (g − mean(g) − x̂·mean(g·x̂)) / σ with g = v·γ.
func layerNorm(scope *model.Scope, x *Node, eps float64, frozen bool) *Node {
	if !frozen {
		return norm.LayerNorm(scope, x, -1).Epsilon(eps).Done()
	}
	g, d := x.Graph(), x.Shape().Dimensions[x.Rank()-1]
	ln := scope.In("layer_normalization")
	gainVar := ln.WithInitializer(initializer.One).VariableWithShape("gain", shapes.Make(x.DType(), d))
	offsetVar := ln.WithInitializer(initializer.Zero).VariableWithShape("offset", shapes.Make(x.DType(), d))
	gainVar.SetTrainable(false)
	offsetVar.SetTrainable(false)
	gamma, beta := ExpandLeftToRank(gainVar.NodeValue(g), x.Rank()), ExpandLeftToRank(offsetVar.NodeValue(g), x.Rank())
	return layerNormFrozen(x, gamma, beta, eps)
}

// selfAttention is multi-head scaled dot-product attention of q, k, v [batch, seq, hidden] with padding
// keys masked out (mask [batch, seq], 0 = padding).
//
// Inference (no attention dropout) runs GoMLX's fused attention in the [batch, seq, heads, dh] layout with
// the boolean mask. While training with attention dropout it is written out here, heads-major
// [batch, heads, seq, dh] with an additive mask (−1e30 on padding keys: exp underflows to exactly 0, as with
// the boolean mask), softmax with its hand-written gradient and mtlcore.Dropout: the score and context
// products are plain batched matrix products, and an Add and a Mul broadcast faster than the Where of a
// boolean mask or of GoMLX's dropout, on the Go and the ONNX Runtime backends (issue 8). headsMajor forces
// that form (tests compare both).
func selfAttention(q, k, v, mask *Node, heads int, scope *model.Scope, dropoutRate float64, headsMajor bool) *Node {
	dims := q.Shape().Dimensions
	batch, seq, hidden := dims[0], dims[1], dims[2]
	dh := hidden / heads
	split := func(x *Node) *Node { return Reshape(x, batch, seq, heads, dh) }
	if !headsMajor && !(dropoutRate > 0 && layers.IsDropoutActive(scope, q.Graph())) {
		keyMask := Reshape(NotEqual(mask, ZerosLike(mask)), batch, 1, 1, seq) // [batch, q_seq, heads, kv_seq]
		ctx, _ := attention.Core(split(q), split(k), split(v), attention.LayoutBSHD, attention.CoreOptions{
			AttentionMask: keyMask, Scope: scope,
		})
		return Reshape(ctx, batch, seq, hidden)
	}
	hm := func(x *Node) *Node { return TransposeAllAxes(split(x), 0, 2, 1, 3) }
	// The key mask is broadcast over queries here, once per layer ([batch, 1, seq, seq]), so the Add below
	// broadcasts over heads only (ONNX Runtime's Add against [batch, 1, 1, seq] took 10 ms a layer), and
	// 1/√dh scales q rather than the 4× larger scores.
	bias := BroadcastToDims(Reshape(MulScalar(ConvertDType(Equal(mask, ZerosLike(mask)), q.DType()), -1e30), batch, 1, 1, seq), batch, 1, seq, seq)
	scores := Add(Einsum("bhqd,bhkd->bhqk", hm(MulScalar(q, 1/math.Sqrt(float64(dh)))), hm(k)), bias)
	probs := mtlcore.Dropout(scope, softmax(scores), dropoutRate)
	ctx := Einsum("bhqk,bhkd->bhqd", probs, hm(v))
	return Reshape(TransposeAllAxes(ctx, 0, 2, 1, 3), batch, seq, hidden)
}

// BERTChoiceHeads is the scope of BERTChoiceModel's multiple-choice scorers.
const BERTChoiceHeads = "choice_heads"

// BERTChoiceModel is BERTTaskModel for data with multiple-choice tasks (multipleChoice[t] marks them). Inputs
// are token ids, type ids and attention mask [batch·K, seq] int32 — K = choices sequences per example, rows
// e·K … e·K+K−1, as datasets.Batches writes them — and task ids [batch] int32. It returns [batch, max(classes,
// K)]: for an example of a multiple-choice task, each candidate's score (a per-task linear scorer on the
// candidate's pooled encoding; softmax over them is the prediction), for other tasks their head's class
// logits from slot 0. Columns past a row's own number of choices or classes are meaningless: mask them.
func BERTChoiceModel(cfg BERTConfig, inj *mtlcore.Injector, pooling Pooling, tasks, classes, choices int, multipleChoice []bool) func(scope *model.Scope, inputs []*Node) *Node {
	if len(multipleChoice) != tasks || choices < 1 {
		panic(fmt.Errorf("bert choice model: %d multiple-choice flags for %d tasks, %d choices", len(multipleChoice), tasks, choices))
	}
	encoder := BERT(cfg, inj)
	return func(scope *model.Scope, inputs []*Node) *Node {
		if len(inputs) != 4 {
			panic(fmt.Errorf("bert choice model: expected 4 inputs (ids, type ids, mask, task ids), got %d", len(inputs)))
		}
		in, taskIDs := BERTInputs{Tokens: inputs[0], TypeIDs: inputs[1], Mask: inputs[2]}, inputs[3]
		g := taskIDs.Graph()
		batch, K := taskIDs.Shape().Dimensions[0], choices
		if rows := in.Tokens.Shape().Dimensions[0]; rows != batch*K {
			panic(fmt.Errorf("bert choice model: %d sequences for %d examples × %d choices", rows, batch, K))
		}
		seqTasks := Reshape(BroadcastToDims(InsertAxes(taskIDs, -1), batch, K), batch*K) // each sequence's task
		pooled := Pool(pooling, encoder(scope, in, seqTasks), in.Mask)                   // [b·K, H]
		pooled = mtlcore.Dropout(scope, pooled, cfg.HiddenDropout)
		hidden := pooled.Shape().Dimensions[1]
		perSlot := Reshape(pooled, batch, K, hidden)                                                                         // [b, K, H]
		cls := TaskHeads(scope.In(BERTHeads), Squeeze(Slice(perSlot, AxisRange(), AxisElem(0)), 1), taskIDs, tasks, classes) // [b, C]
		sc := scope.In(BERTChoiceHeads)
		w := sc.VariableWithShape("weights", shapes.Make(pooled.DType(), tasks, hidden)).NodeValue(g)
		bias := sc.VariableWithShape("biases", shapes.Make(pooled.DType(), tasks)).NodeValue(g)
		idx := InsertAxes(taskIDs, -1)
		scores := Add(Einsum("bkh,bh->bk", perSlot, Gather(w, idx)), InsertAxes(Gather(bias, idx), -1)) // [b, K]
		width := max(classes, K)
		widen := func(x *Node) *Node {
			if n := x.Shape().Dimensions[1]; n < width {
				return Concatenate([]*Node{x, Zeros(g, shapes.Make(x.DType(), batch, width-n))}, 1)
			}
			return x
		}
		flags := make([]int32, tasks)
		for t, mc := range multipleChoice {
			if mc {
				flags[t] = 1
			}
		}
		isMC := NotEqual(Gather(Const(g, flags), idx), ScalarZero(g, dtypes.Int32)) // [b, 1]
		return Where(BroadcastToDims(isMC, batch, width), widen(scores), widen(cls))
	}
}

// Heads describes the heads of a multi-task text model.
type Heads struct {
	Tasks   int // number of tasks
	Classes int // outputs of the classification heads: the most classes of any task (1 for regression)
	// MultipleChoice marks the multiple-choice tasks (nil: none); Choices is then K, the sequences per
	// example of their batches.
	MultipleChoice []bool
	Choices        int
	Shared         bool // one classification head for every task (not with multiple-choice tasks)
}

// TaskModel assembles a multi-task text model from its heads: BERTTaskModel, BERTSharedHeadModel or, with
// multiple-choice tasks, BERTChoiceModel. Inputs and outputs are theirs.
func TaskModel(cfg BERTConfig, inj *mtlcore.Injector, pooling Pooling, h Heads) func(scope *model.Scope, inputs []*Node) *Node {
	if slices.Contains(h.MultipleChoice, true) {
		if h.Shared {
			panic(fmt.Errorf("zoo: a shared head is for classification tasks only, not with multiple-choice tasks"))
		}
		return BERTChoiceModel(cfg, inj, pooling, h.Tasks, h.Classes, max(2, h.Choices), h.MultipleChoice)
	}
	if h.Shared {
		return BERTSharedHeadModel(cfg, inj, pooling, h.Classes)
	}
	return BERTTaskModel(cfg, inj, pooling, h.Tasks, h.Classes)
}
