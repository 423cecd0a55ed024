// Package generate decodes with a LLaMA-family decoder (zoo.Llama), adapters included: batched greedy
// generation with a KV cache, stopping at the end-of-sequence token or at stop strings.
//
// A batch of prompts is left-padded to one length so every row's next token lands in the same cache slot;
// rotary positions count each row's real tokens, so padding changes nothing (the decoder's attention ignores
// padding keys). The prompt runs once (zoo.LlamaPrefill), then one token at a time (zoo.LlamaStep) over a
// cache of prompt + MaxNew slots: two compiled graphs per batch shape.
package generate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/zoo"
)

// ErrGenerate is wrapped by every error about a request: an empty or over-long prompt, a bad task id.
var ErrGenerate = errors.New("generate: bad request")

// Model is a decoder ready to generate: its architecture, adapters (nil: the base model), weights and
// tokens.
type Model struct {
	Config   zoo.LlamaConfig
	Injector *mtlcore.Injector // nil: no adapters
	Store    *model.Store
	Backend  compute.Backend
	EOS, Pad int32
	Decode   func([]int32) string // for stop strings; nil when none are used

	prefill, step *backend.InferenceExec // built on first use, again when the weights changed
}

// Options of one Greedy call.
type Options struct {
	MaxNew  int      // tokens to generate at most per prompt
	Stop    []string // generation of a row stops once its decoded text contains one (the text is cut before it)
	TaskIDs []int32  // per prompt, for task-conditioned adapters (nil: task 0)
	// PromptLen left-pads every prompt to this many tokens (0: to the batch's longest). Calls with the same
	// batch size, PromptLen and MaxNew share one compiled prefill and step, whatever their prompts' lengths.
	PromptLen int
}

// Output is one prompt's generation.
type Output struct {
	IDs    []int32 // generated tokens (EOS not included; the token that completed a stop string included)
	Text   string  // decoded IDs, cut before the first stop string (when Model.Decode is set)
	Reason string  // "eos", "stop" or "length"
}

func (m *Model) execs() {
	if m.prefill != nil {
		return
	}
	cfg, inj := m.Config, m.Injector
	// prefill: tokens, mask, task ids, a [cacheLen] shape carrier → logits of the last position, keys…, values…
	m.prefill = backend.NewInferenceExec(m.Backend, m.Store, func(scope *model.Scope, in []*Node) []*Node {
		tokens, mask, taskIDs, carrier := in[0], in[1], in[2], in[3]
		h, keys, values := zoo.LlamaPrefill(cfg, inj, carrier.Shape().Dimensions[0])(scope, zoo.LlamaInputs{Tokens: tokens, Mask: mask}, taskIDs)
		seq := h.Shape().Dimensions[1]
		last := Slice(h, AxisRange(), AxisRange(seq-1, seq), AxisRange()) // [batch, 1, H]
		return append(append([]*Node{zoo.LlamaLogits(cfg, scope, last)}, keys...), values...)
	})
	m.step = backend.NewInferenceExec(m.Backend, m.Store, func(scope *model.Scope, in []*Node) []*Node {
		tokens, positions, slot, keyMask, taskIDs := in[0], in[1], in[2], in[3], in[4]
		n := cfg.Layers
		h, keys, values := zoo.LlamaStep(cfg, inj)(scope, tokens, positions, slot, keyMask, taskIDs, in[5:5+n], in[5+n:5+2*n])
		return append(append([]*Node{zoo.LlamaLogits(cfg, scope, h)}, keys...), values...)
	})
}

// Greedy generates for each prompt the most likely continuation, up to opts.MaxNew tokens, stopping a row at
// EOS (not included) or a stop string (cut off). Prompts are token ids; the batch runs together.
func (m *Model) Greedy(prompts [][]int32, opts Options) ([]Output, error) {
	batch := len(prompts)
	if batch == 0 || opts.MaxNew <= 0 {
		return nil, fmt.Errorf("%w: %d prompts, MaxNew %d: need at least one prompt and one token", ErrGenerate, batch, opts.MaxNew)
	}
	if len(opts.Stop) > 0 && m.Decode == nil {
		return nil, fmt.Errorf("%w: stop strings need Model.Decode", ErrGenerate)
	}
	seq := 0
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("%w: prompt %d is empty", ErrGenerate, i)
		}
		seq = max(seq, len(p))
	}
	if opts.PromptLen > 0 {
		if seq > opts.PromptLen {
			return nil, fmt.Errorf("%w: a prompt of %d tokens is longer than PromptLen %d", ErrGenerate, seq, opts.PromptLen)
		}
		seq = opts.PromptLen
	}
	cacheLen := seq + opts.MaxNew
	if cacheLen > m.Config.MaxPositions {
		return nil, fmt.Errorf("%w: a prompt of %d tokens and %d new ones exceed the model's context of %d", ErrGenerate, seq, opts.MaxNew, m.Config.MaxPositions)
	}
	taskIDs := opts.TaskIDs
	if taskIDs == nil {
		taskIDs = make([]int32, batch)
	}
	if len(taskIDs) != batch {
		return nil, fmt.Errorf("%w: %d task ids for %d prompts", ErrGenerate, len(taskIDs), batch)
	}
	if m.Injector != nil {
		if err := mtlcore.CheckTaskIDs(taskIDs, m.Injector.Config.NumTasks); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrGenerate, err)
		}
	}
	m.execs()
	// Left padding: row b's prompt fills the last len(p) of seq slots.
	tokens, mask := make([]int32, batch*seq), make([]int32, batch*seq)
	keyMask := make([]int32, batch*cacheLen)
	positions := make([]int32, batch) // the next token's rotary position: the row's real tokens so far
	for b, p := range prompts {
		off := seq - len(p)
		for i := range seq {
			tokens[b*seq+i] = m.Pad
		}
		for i, id := range p {
			tokens[b*seq+off+i], mask[b*seq+off+i], keyMask[b*cacheLen+off+i] = id, 1, 1
		}
		positions[b] = int32(len(p))
	}
	outs, err := m.prefill.Call(tensors.FromFlatDataAndDimensions(tokens, batch, seq), tensors.FromFlatDataAndDimensions(mask, batch, seq),
		tensors.FromFlatDataAndDimensions(taskIDs, batch), tensors.FromShape(shapes.Make(dtypes.Int8, cacheLen)))
	if err != nil {
		return nil, err
	}
	results := make([]Output, batch)
	done := make([]bool, batch)
	cache := outs[1:]
	logits := outs[0]
	for i := 0; ; i++ {
		next := argmaxRows(logits, batch)
		for b := range batch {
			if done[b] {
				continue
			}
			if next[b] == m.EOS {
				done[b], results[b].Reason = true, "eos"
				continue
			}
			results[b].IDs = append(results[b].IDs, next[b])
			if len(opts.Stop) > 0 && cutAtStop(m.Decode(results[b].IDs), opts.Stop) >= 0 {
				done[b], results[b].Reason = true, "stop"
			}
			if !done[b] && len(results[b].IDs) == opts.MaxNew {
				done[b], results[b].Reason = true, "length"
			}
		}
		if allTrue(done) {
			break
		}
		slot := seq + i
		stepTokens := make([]int32, batch)
		for b := range batch {
			stepTokens[b] = next[b]
			if done[b] {
				stepTokens[b] = m.Pad
			}
			keyMask[b*cacheLen+slot] = 1
		}
		args := []any{tensors.FromFlatDataAndDimensions(stepTokens, batch, 1), tensors.FromFlatDataAndDimensions(positions, batch, 1),
			tensors.FromScalar(int32(slot)), tensors.FromFlatDataAndDimensions(keyMask, batch, cacheLen), tensors.FromFlatDataAndDimensions(taskIDs, batch)}
		for _, c := range cache {
			args = append(args, c)
		}
		outs, err := m.step.Call(args...)
		if err != nil {
			return nil, err
		}
		logits, cache = outs[0], outs[1:]
		for b := range batch {
			positions[b]++
		}
	}
	if m.Decode != nil {
		for b := range results {
			results[b].Text = m.Decode(results[b].IDs)
			if at := cutAtStop(results[b].Text, opts.Stop); at >= 0 {
				results[b].Text = results[b].Text[:at]
			}
		}
	}
	return results, nil
}

// cutAtStop is the byte offset of the first stop string in text, or -1.
func cutAtStop(text string, stop []string) int {
	at := -1
	for _, s := range stop {
		if i := strings.Index(text, s); i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	return at
}

func allTrue(v []bool) bool {
	for _, x := range v {
		if !x {
			return false
		}
	}
	return true
}

// argmaxRows returns each row's most likely token of logits [batch, 1, vocab] (the first on a tie).
func argmaxRows(logits *tensors.Tensor, batch int) []int32 {
	v := tensors.MustCopyFlatData[float32](logits)
	vocab := len(v) / batch
	out := make([]int32, batch)
	for b := range batch {
		row := v[b*vocab : (b+1)*vocab]
		best := 0
		for i, x := range row {
			if x > row[best] {
				best = i
			}
		}
		out[b] = int32(best)
	}
	return out
}
