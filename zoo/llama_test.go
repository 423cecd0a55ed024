package zoo_test

import (
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mtlora/mtlora/generate"

	"github.com/gomlx/compute/dtypes"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/losses"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/trainer"
	"github.com/mtlora/mtlora/zoo"
)

// tinyLlama is a small decoder with grouped-query attention (4 query heads, 2 key-value heads) for tests.
var tinyLlama = zoo.LlamaConfig{Vocab: 40, Hidden: 32, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 8, Intermediate: 48,
	MaxPositions: 64, RopeTheta: 1e4, RMSNormEps: 1e-5, Tied: true}

// tinyLlamaStore initialises the base decoder's weights (random, seeded) by running it once.
func tinyLlamaStore(t *testing.T) *model.Store {
	t.Helper()
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(3))
	ids, mask := toyTokens(2, 6)
	model.MustNewExec(backend.MustNew(), store, func(scope *model.Scope, tokens, mask *Node) *Node {
		return zoo.LlamaLogits(tinyLlama, scope, zoo.Llama(tinyLlama, nil)(scope, zoo.LlamaInputs{Tokens: tokens, Mask: mask}, nil))
	}).MustCall1(ids, mask)
	return store
}

func toyTokens(batch, seq int) (ids, mask *tensors.Tensor) {
	v, m := make([]int32, batch*seq), make([]int32, batch*seq)
	for i := range v {
		v[i], m[i] = int32(3+(i*7)%30), 1
	}
	m[len(m)-1], m[len(m)-2] = 0, 0 // right padding in the last row
	return tensors.FromFlatDataAndDimensions(v, batch, seq), tensors.FromFlatDataAndDimensions(m, batch, seq)
}

func llamaLogits(store *model.Store, inj *mtlcore.Injector, ids, mask, tasks *tensors.Tensor) []float32 {
	exec := model.MustNewExec(backend.MustNew(), store, func(scope *model.Scope, tokens, mask, taskIDs *Node) *Node {
		return zoo.LlamaLogits(tinyLlama, scope, zoo.Llama(tinyLlama, inj)(scope, zoo.LlamaInputs{Tokens: tokens, Mask: mask}, taskIDs))
	})
	return tensors.MustCopyFlatData[float32](exec.MustCall1(ids, mask, tasks))
}

// For every method, the adapted decoder starts equal to the base (B = 0); the KV-cache step path gives the
// full forward's logits, adapters and task ids included.
func TestLlamaAdaptersStartAtBase(t *testing.T) {
	ids, mask := toyTokens(2, 6)
	tasks := tensors.FromFlatDataAndDimensions([]int32{0, 1}, 2)
	for _, m := range mtlcore.Methods() {
		t.Run(m.String(), func(t *testing.T) {
			store := tinyLlamaStore(t)
			base := llamaLogits(store, nil, ids, mask, tasks)
			cfg := mtlcore.DefaultConfig(m, 2)
			cfg.Rank, cfg.Targets, cfg.Dropout = 6, mtlcore.TargetAll, 0
			inj, err := mtlcore.NewInjector(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := inj.CheckLayers(tinyLlama.LinearLayers()); err != nil {
				t.Fatal(err)
			}
			spread := 0.0
			for _, v := range base {
				spread = math.Max(spread, math.Abs(float64(v-base[0])))
			}
			if spread < 1e-3 {
				t.Fatalf("the base decoder's logits are all %v: the test would prove nothing", base[0])
			}
			adapted := llamaLogits(store, inj, ids, mask, tasks)
			for i := range base {
				if math.Abs(float64(base[i]-adapted[i])) > 1e-5 {
					t.Fatalf("logit %d: adapted %v, base %v", i, adapted[i], base[i])
				}
			}
		})
	}
}

// toyLM is a two-task answer-only dataset for the tiny decoder: the prompt is 5 random tokens, the answer is
// one token that depends on the task and the prompt's first token, then EOS (token 1).
type toyLM struct {
	rng   *rand.Rand
	batch int
}

func (d *toyLM) Name() string { return "toy-lm" }
func (d *toyLM) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		for {
			rows, answers := make([][]int32, d.batch), make([]int, d.batch)
			tasks, w := make([]int32, d.batch), make([]float32, d.batch)
			for r := range d.batch {
				task := int32(r % 2)
				p := make([]int32, 5)
				for j := range p {
					p[j] = int32(3 + d.rng.IntN(30))
				}
				ans := 3 + (p[0]+7*task)%30
				rows[r], answers[r], tasks[r], w[r] = append(p, ans, 1), 5, task, 1
			}
			if !yield(datasets.LMRows(rows, answers, tasks, w, 0, 8, 3), nil) {
				return
			}
		}
	}
}

// A short multi-task fine-tune lowers the answer-token loss for every method, and a training step changes
// adapter variables only.
func TestLlamaFineTuneLowersAnswerLoss(t *testing.T) {
	for _, m := range mtlcore.Methods() {
		t.Run(m.String(), func(t *testing.T) {
			store := tinyLlamaStore(t)
			before := map[string][]float32{}
			for v := range store.IterVariables() {
				if v.MustValue().DType() == dtypes.Float32 {
					before[v.Path()] = tensors.MustCopyFlatData[float32](v.MustValue())
				}
			}
			cfg := mtlcore.DefaultConfig(m, 2)
			cfg.Rank, cfg.Targets, cfg.Dropout = 6, mtlcore.TargetAll, 0
			inj, err := mtlcore.NewInjector(cfg)
			if err != nil {
				t.Fatal(err)
			}
			res, err := trainer.Run(backend.MustNew(), store, zoo.LlamaAnswers(tinyLlama, inj), losses.AnswerTokens,
				&toyLM{rng: rand.New(rand.NewPCG(1, 2)), batch: 16}, trainer.Options{Steps: 40, LearningRate: 1e-2, NumTasks: 2, TaskInput: 3}, nil)
			if err != nil {
				t.Fatal(err)
			}
			first, last := mean(res.Losses[:5]), mean(res.Losses[len(res.Losses)-5:])
			t.Logf("answer loss %.3f → %.3f", first, last)
			if !(last < first) {
				t.Errorf("answer-token loss did not fall: %.3f → %.3f", first, last)
			}
			for v := range store.IterVariables() {
				old, ok := before[v.Path()]
				if !ok {
					continue // an adapter variable
				}
				now := tensors.MustCopyFlatData[float32](v.MustValue())
				for i := range now {
					if now[i] != old[i] {
						t.Fatalf("pretrained variable %s changed", v.Path())
					}
				}
			}
		})
	}
}

// After training, LlamaAnswers equals the full forward at the answer positions, and greedy generation with
// the KV cache (zoo.LlamaPrefill + zoo.LlamaStep) equals greedy decoding by the full forward pass recomputed
// for every token, with trained MTL-LoRA adapters and a different task per row, on
// prompts of different lengths (left padding).
func TestLlamaCacheEqualsFullForward(t *testing.T) {
	store := tinyLlamaStore(t)
	cfg := mtlcore.DefaultConfig(mtlcore.MTLLoRA, 2)
	cfg.Rank, cfg.Targets, cfg.Dropout = 6, mtlcore.TargetAll, 0
	inj, _ := mtlcore.NewInjector(cfg)
	if _, err := trainer.Run(backend.MustNew(), store, zoo.LlamaAnswers(tinyLlama, inj), losses.AnswerTokens,
		&toyLM{rng: rand.New(rand.NewPCG(5, 6)), batch: 16}, trainer.Options{Steps: 20, LearningRate: 1e-2, NumTasks: 2, TaskInput: 3}, nil); err != nil {
		t.Fatal(err)
	}
	// LlamaAnswers (the last block at the answer positions only) gives the full forward's logits there.
	for bt := range (&toyLM{rng: rand.New(rand.NewPCG(7, 8)), batch: 4}).Iter() {
		ans := tensors.MustCopyFlatData[float32](model.MustNewExec(backend.MustNew(), store, func(scope *model.Scope, in []*Node) *Node {
			return zoo.LlamaAnswers(tinyLlama, inj)(scope, in)
		}).MustCall1(bt.Inputs[0], bt.Inputs[1], bt.Inputs[2], bt.Inputs[3]))
		full := llamaLogits(store, inj, bt.Inputs[0], bt.Inputs[1], bt.Inputs[3])
		pos, v, seq := tensors.MustCopyFlatData[int32](bt.Inputs[2]), tinyLlama.Vocab, bt.Inputs[0].Shape().Dimensions[1]
		for i, p := range pos { // row i/3, answer slot i%3
			r := i / 3
			for k := range v {
				if d := math.Abs(float64(ans[i*v+k] - full[(r*seq+int(p))*v+k])); d > 1e-5 {
					t.Fatalf("row %d, position %d, token %d: answers %v, full forward %v", r, p, k, ans[i*v+k], full[(r*seq+int(p))*v+k])
				}
			}
		}
		break
	}
	prompts := [][]int32{{5, 9, 13, 4}, {7, 3}, {20, 21, 22, 23, 24, 25}}
	tasks := []int32{0, 1, 1}
	m := &generate.Model{Config: tinyLlama, Injector: inj, Store: store, Backend: backend.MustNew(), EOS: -1, Pad: 0}
	outs, err := m.Greedy(prompts, generate.Options{MaxNew: 8, TaskIDs: tasks})
	if err != nil {
		t.Fatal(err)
	}
	for r, p := range prompts {
		seq := append([]int32{}, p...)
		for range 8 {
			ids := tensors.FromFlatDataAndDimensions(seq, 1, len(seq))
			ones := make([]int32, len(seq))
			for i := range ones {
				ones[i] = 1
			}
			l := llamaLogits(store, inj, ids, tensors.FromFlatDataAndDimensions(ones, 1, len(seq)), tensors.FromFlatDataAndDimensions([]int32{tasks[r]}, 1))
			last := l[(len(seq)-1)*tinyLlama.Vocab:]
			best := 0
			for i, v := range last {
				if v > last[best] {
					best = i
				}
			}
			seq = append(seq, int32(best))
		}
		if !slices.Equal(outs[r].IDs, seq[len(p):]) {
			t.Errorf("prompt %v (task %d): cached %v, full forward %v", p, tasks[r], outs[r].IDs, seq[len(p):])
		}
	}
}
