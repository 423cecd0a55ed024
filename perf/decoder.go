package perf

import (
	"fmt"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/generate"
	"github.com/mtlora/mtlora/losses"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/pretrained"
	"github.com/mtlora/mtlora/zoo"
)

// The decoder cases: SmolLM2-135M (the GGUF, dequantised to float32) at batch DecoderBatch × DecoderSeqLen,
// adapters of rank Rank on all seven projections of every block (q, k, v, o, gate, up, down).
const (
	DecoderBatch     = 8
	DecoderSeqLen    = 128
	DecoderAnswerLen = 4  // the training loss is on the last DecoderAnswerLen tokens of each row
	DecoderPrompt    = 64 // generation: prompt tokens per row
	DecoderNew       = 32 // generation: greedy tokens per row, with the KV cache

	CaseDecoderForward = "smollm2 base forward"
	CaseDecoderLoRA    = "smollm2 lora train step"
	CaseDecoderMTL     = "smollm2 mtl-lora train step"
	CaseDecoderGen     = "smollm2 mtl-lora generate"
)

// LlamaFLOPs counts a decoder forward's floating-point operations as BERTFLOPs does an encoder's: the
// linear products of every block, the two attention products (causal masking not discounted) and the
// vocabulary projection of logitRows rows.
func LlamaFLOPs(cfg zoo.LlamaConfig, batch, seq, logitRows int) float64 {
	tokens := float64(batch * seq)
	q, kv := float64(cfg.Heads*cfg.HeadDim), float64(cfg.KVHeads*cfg.HeadDim)
	h, f := float64(cfg.Hidden), float64(cfg.Intermediate)
	linear := 2 * tokens * (h*q + 2*h*kv + q*h + 3*h*f)
	att := 4 * float64(batch*seq*seq) * q
	return float64(cfg.Layers)*(linear+att) + 2*float64(logitRows)*h*float64(cfg.Vocab)
}

// DecoderCases are the decoder group: the base forward (logits at every position, as transformers computes
// them), a LoRA and an MTL-LoRA training step (AdamW; loss on the answer tokens, whose logits alone are
// computed), and MTL-LoRA greedy generation with the KV cache (rows: generated tokens, so rows/s is tokens/s).
func DecoderCases(be compute.Backend, path string) ([]Case, error) {
	d, err := pretrained.OpenDecoder(path)
	if err != nil {
		return nil, err
	}
	cfg := d.Config
	load := func() (*model.Store, error) {
		store := model.NewStore()
		store.SetParam(model.ParamInitialSeed, int64(1))
		_, err := d.LoadWeights(store, "")
		return store, err
	}
	injector := func(m mtlcore.Method) (*mtlcore.Injector, error) {
		c := mtlcore.DefaultConfig(m, Tasks)
		c.Rank, c.Targets, c.Dropout = Rank, mtlcore.TargetAll, 0
		return mtlcore.NewInjector(c)
	}
	// The same token ids as torch_bench.py's decoder cases: (7·i + 13·r) mod 30000 + 100 for row r, position i.
	ids := make([][]int32, DecoderBatch)
	tasks, weights := make([]int32, DecoderBatch), make([]float32, DecoderBatch)
	for r := range ids {
		ids[r] = make([]int32, DecoderSeqLen)
		for i := range ids[r] {
			ids[r][i] = int32((7*i+13*r)%30000 + 100)
		}
		tasks[r], weights[r] = int32(r%Tasks), 1
	}
	answers := make([]int, DecoderBatch)
	for r := range answers {
		answers[r] = DecoderSeqLen - DecoderAnswerLen
	}
	batch := datasets.LMRows(ids, answers, tasks, weights, 0, DecoderSeqLen, DecoderAnswerLen)
	fwd := LlamaFLOPs(cfg, DecoderBatch, DecoderSeqLen, DecoderBatch*DecoderSeqLen)
	cases := []Case{{Name: CaseDecoderForward, Group: "decoder", FLOPs: fwd, Rows: DecoderBatch,
		Setup: func() (func() error, func(), error) {
			store, err := load()
			if err != nil {
				return nil, nil, err
			}
			exec, err := model.NewExec(be, store, func(scope *model.Scope, tokens, mask *Node) *Node {
				return zoo.LlamaLogits(cfg, scope, zoo.Llama(cfg, nil)(scope, zoo.LlamaInputs{Tokens: tokens, Mask: mask}, nil))
			})
			if err != nil {
				return nil, nil, err
			}
			return func() error { return finalize(exec.Call(batch.Inputs[0], batch.Inputs[1])) }, exec.Finalize, nil
		}}}
	// A step counted as twice the forward that PyTorch computes (every block at every position, logits at the
	// answers); zoo.LlamaAnswers skips most of the last block, so its GFLOP/s are of this count, not of its work.
	stepFLOPs := 2 * LlamaFLOPs(cfg, DecoderBatch, DecoderSeqLen, DecoderBatch*DecoderAnswerLen)
	for _, c := range []struct {
		name string
		m    mtlcore.Method
	}{{CaseDecoderLoRA, mtlcore.LoRA}, {CaseDecoderMTL, mtlcore.MTLLoRA}} {
		inj, err := injector(c.m)
		if err != nil {
			return nil, err
		}
		cases = append(cases, Case{Name: c.name, Group: "decoder", FLOPs: stepFLOPs, Rows: DecoderBatch,
			Setup: func() (func() error, func(), error) {
				store, err := load()
				if err != nil {
					return nil, nil, err
				}
				tr := train.NewTrainer(be, store, zoo.LlamaAnswers(cfg, inj), losses.AnswerTokens,
					optimizer.Adam().LearningRate(1e-4).WeightDecay(0.01).Done(), nil, nil)
				return func() error {
					b, err := batch.Clone()
					if err != nil {
						return err
					}
					_, err = tr.TrainStep(b)
					return err
				}, func() {}, nil
			}})
	}
	mtl, err := injector(mtlcore.MTLLoRA)
	if err != nil {
		return nil, err
	}
	prompts := make([][]int32, DecoderBatch)
	for r := range prompts {
		prompts[r] = ids[r][:DecoderPrompt]
	}
	cases = append(cases, Case{Name: CaseDecoderGen, Group: "decoder", Rows: DecoderBatch * DecoderNew,
		Setup: func() (func() error, func(), error) {
			store, err := load()
			if err != nil {
				return nil, nil, err
			}
			// the adapters' variables, initialised as training would start them
			init, err := model.NewExec(be, store, func(scope *model.Scope, tokens, mask, tasks *Node) *Node {
				return zoo.Llama(cfg, mtl)(scope, zoo.LlamaInputs{Tokens: tokens, Mask: mask}, tasks)
			})
			if err != nil {
				return nil, nil, err
			}
			one := [][]int32{prompts[0][:4]}
			if err := finalize(init.Call(tensors.FromFlatDataAndDimensions(one[0], 1, 4), tensors.FromFlatDataAndDimensions([]int32{1, 1, 1, 1}, 1, 4),
				tensors.FromFlatDataAndDimensions([]int32{0}, 1))); err != nil {
				return nil, nil, err
			}
			g := &generate.Model{Config: cfg, Injector: mtl, Store: store, Backend: be, EOS: -1}
			return func() error {
				out, err := g.Greedy(prompts, generate.Options{MaxNew: DecoderNew, TaskIDs: tasks})
				if err == nil && len(out[0].IDs) != DecoderNew {
					err = fmt.Errorf("perf: generated %d tokens, expected %d", len(out[0].IDs), DecoderNew)
				}
				return err
			}, func() {}, nil
		}})
	return cases, nil
}
