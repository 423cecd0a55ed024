package experiment

import (
	"fmt"
	"path/filepath"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/losses"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/pretrained"
	"github.com/mtlora/mtlora/trainer"
	"github.com/mtlora/mtlora/zoo"
)

// A decoder run fine-tunes a LLaMA-family decoder as a causal language model on every task at once: each
// example becomes its prompt followed by the right answer (datasets.PromptOf), the loss is on the answer
// tokens only (losses.AnswerTokens), each row's task id goes to the adapters. Evaluation scores every
// candidate answer of an example — a classification task's labels, a multiple-choice task's choices — by its
// log-likelihood after the prompt: the sum of its tokens' log-probabilities, EOS included, not normalised by
// length; the most likely candidate is the prediction, and the task metrics are the encoder's.

// loadedDecoder is a decoder with its weights in a store, and its tokenizer.
type loadedDecoder struct {
	*pretrained.Decoder
	Tokenizer *pretrained.BPETokenizer
	Store     *model.Store
	scorer    *model.Exec // candidate log-likelihoods, built on first use (one compilation for every evaluation)
}

func loadDecoder(d *pretrained.Decoder) (*loadedDecoder, error) {
	tok, err := d.Tokenizer()
	if err != nil {
		return nil, err
	}
	store := model.NewStore()
	if _, err := d.LoadWeights(store, ""); err != nil {
		return nil, err
	}
	return &loadedDecoder{Decoder: d, Tokenizer: tok, Store: store}, nil
}

// answerLen is the answer slots of a set's batches: its longest candidate in tokens, plus EOS.
func answerLen(set *datasets.Set, tok datasets.TextTokenizer) (int, error) {
	n := 2
	seen := map[string]bool{}
	for _, e := range set.Examples {
		p, err := set.PromptOf(e)
		if err != nil {
			return 0, err
		}
		for _, c := range p.Candidates {
			if !seen[c] {
				seen[c] = true
				n = max(n, len(tok.Encode(c))+1)
			}
		}
	}
	return n, nil
}

// runDecoder fine-tunes the run's decoder on its text data as a causal language model.
func runDecoder(env Env, run Run, dir, modelDir string) (*trainer.FitResult, error) {
	c := run.Config
	// The configuration against the model first (its metadata only), then the data, then the weights.
	d, err := pretrained.OpenDecoder(modelDir)
	if err != nil {
		return nil, err
	}
	if c.SeqLen > d.Config.MaxPositions {
		return nil, bad("seq_len", "%d tokens exceed the model's context of %d (%s)", c.SeqLen, d.Config.MaxPositions, d.Path)
	}
	if c.SharedHead {
		return nil, bad("shared_head", "a decoder answers through its language-model head: shared_head applies to encoders")
	}
	inj, err := mtlcore.NewInjector(c.Config)
	if err != nil {
		return nil, err
	}
	if err := inj.CheckLayers(d.Config.LinearLayers()); err != nil {
		return nil, err
	}
	set, err := runSet(run, dir)
	if err != nil {
		return nil, err
	}
	for _, t := range set.Spec.Tasks {
		if t.Regression {
			return nil, bad("tasks", "task %q is a regression task: a decoder answers with text, so it fine-tunes on classification and multiple-choice tasks (leave %q out with tasks)", t.Name, t.Name)
		}
	}
	m, err := loadDecoder(d)
	if err != nil {
		return nil, err
	}
	al, err := answerLen(set, m.Tokenizer)
	if err != nil {
		return nil, err
	}
	if c.SeqLen <= al {
		return nil, bad("seq_len", "%d tokens leave no room for a prompt before answers of up to %d tokens", c.SeqLen, al)
	}
	fn := zoo.LlamaAnswers(m.Config, inj)
	data := &textData{b: &datasets.LMBatches{Set: set, Tokenizer: m.Tokenizer, EOS: m.Tokenizer.EOS, Pad: m.Tokenizer.Pad,
		Split: datasets.Train, BatchSize: c.BatchSize, SeqLen: c.SeqLen, AnswerLen: al, Steps: c.Steps, Sampler: run.sampler(),
		TaskWeights: taskWeights(c)}}
	eval := func(int) ([]trainer.TaskMetrics, error) {
		return evaluateDecoder(env.Backend, m, fn, set, datasets.Validation, c.SeqLen, al, c.EvalMax)
	}
	return trainer.Fit(env.Backend, m.Store, fn, losses.AnswerTokens, data, eval, run.fitConfig(3), dir, env.onStep(run))
}

// taskWeights are the run's per-task loss weights in task order (nil: all 1).
func taskWeights(c Config) []float64 {
	if len(c.TaskWeights) == 0 {
		return nil
	}
	var w []float64
	for _, t := range c.Tasks {
		v, ok := c.TaskWeights[t]
		if !ok {
			v = 1
		}
		w = append(w, v)
	}
	return w
}

// evaluateDecoder scores every candidate answer of the split's examples (at most evalMax per task) by its
// log-likelihood and computes the task metrics of the most likely candidates.
func evaluateDecoder(b compute.Backend, m *loadedDecoder, fn func(*model.Scope, []*Node) *Node, set *datasets.Set,
	split datasets.Split, seqLen, answerLen, evalMax int) ([]trainer.TaskMetrics, error) {
	sub := evalSubset(set, split, evalMax)
	return scoreTasks(set, func(each func(e datasets.Example, row []float32)) error {
		return candidateLogLikelihoods(b, m, fn, sub, seqLen, answerLen, each)
	})
}

// candidateLogLikelihoods calls each with every example of set and its candidates' log-likelihoods, batching
// (example, candidate) rows 32 at a time. fn must be the model every call on m uses: its executable is kept.
func candidateLogLikelihoods(b compute.Backend, m *loadedDecoder, fn func(*model.Scope, []*Node) *Node, set *datasets.Set,
	seqLen, answerLen int, each func(e datasets.Example, row []float32)) error {
	if m.scorer == nil { // fn is the run's model: the same for every call on m
		exec, err := model.NewExec(b, m.Store, func(scope *model.Scope, in []*Node) *Node {
			logits := fn(scope, in[:4])
			w := ConvertDType(in[5], logits.DType())
			return ReduceSum(Mul(losses.TokenLogProbs(logits, in[4]), Sign(w)), -1) // [rows]
		})
		if err != nil {
			return err
		}
		m.scorer = exec
	}
	exec := m.scorer
	const rowsPerBatch = 32
	type row struct{ example, candidate int }
	var rows []row
	var seqs [][]int32
	var answers []int
	var tasks []int32
	scores := make([][]float32, len(set.Examples))
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		weights := make([]float32, rowsPerBatch)
		for i := range rows {
			weights[i] = 1
		}
		for len(seqs) < rowsPerBatch { // padding rows, weight 0
			seqs, answers, tasks = append(seqs, seqs[0]), append(answers, answers[0]), append(tasks, tasks[0])
		}
		bt := datasets.LMRows(seqs, answers, tasks, weights, m.Tokenizer.Pad, seqLen, answerLen)
		out, err := exec.Call(bt.Inputs[0], bt.Inputs[1], bt.Inputs[2], bt.Inputs[3], bt.Labels[0], bt.Labels[1])
		if err != nil {
			return err
		}
		ll := tensors.MustCopyFlatData[float32](out[0])
		for i, r := range rows {
			scores[r.example][r.candidate] = ll[i]
		}
		rows, seqs, answers, tasks = rows[:0], seqs[:0], answers[:0], tasks[:0]
		return nil
	}
	for i, e := range set.Examples {
		p, err := set.PromptOf(e)
		if err != nil {
			return err
		}
		scores[i] = make([]float32, len(p.Candidates))
		for c := range p.Candidates {
			toks, at, err := p.Encode(m.Tokenizer, m.Tokenizer.EOS, c, seqLen, answerLen)
			if err != nil {
				return err
			}
			rows, seqs, answers, tasks = append(rows, row{i, c}), append(seqs, toks), append(answers, at), append(tasks, e.Task)
			if len(rows) == rowsPerBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	for i, e := range set.Examples {
		each(e, scores[i])
	}
	return nil
}

// runSet loads the run's data, writes its spec into dir, keeps the run's tasks and checks every task has
// training and validation examples.
func runSet(run Run, dir string) (*datasets.Set, error) {
	c := run.Config
	src, err := OpenData(c.Data)
	if err != nil {
		return nil, err
	}
	if err := writeSpec(filepath.Join(dir, SpecFile), src.Spec); err != nil {
		return nil, err
	}
	all, err := src.Load()
	if err != nil {
		return nil, err
	}
	idx, err := subsetIndex(src.TaskNames(), c.Tasks)
	if err != nil {
		return nil, err
	}
	set := restrict(all, idx)
	for t, n := range set.Counts() {
		if n[datasets.Train] == 0 || n[datasets.Validation] == 0 {
			return nil, fmt.Errorf("%w: %s: task %q has %d training and %d validation examples: it needs both (add examples, or give a split column)",
				datasets.ErrData, c.Data, set.Spec.Tasks[t].Name, n[datasets.Train], n[datasets.Validation])
		}
	}
	return set, nil
}
