package experiment

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/generate"
	"github.com/mtlora/mtlora/losses"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/pretrained"
	"github.com/mtlora/mtlora/trainer"
	"github.com/mtlora/mtlora/zoo"
)

// A decoder run fine-tunes a LLaMA-family decoder as a causal language model on every task at once: each
// example becomes its prompt followed by the right answer (datasets.PromptOf), the loss is on the answer
// tokens only (losses.AnswerTokens), each row's task id goes to the adapters. Evaluation picks each example's
// answer among its candidates — a classification task's labels, a multiple-choice task's choices — as the
// run's Scoring says (by log-likelihood, summed or per token, or by greedy generation), and the task metrics
// are the encoder's.

// loadedDecoder is a decoder with its weights in a store, and its tokenizer.
type loadedDecoder struct {
	*pretrained.Decoder
	Tokenizer *pretrained.BPETokenizer
	Store     *model.Store
	format    func(datasets.Prompt) (datasets.Prompt, error) // the run's prompt format (nil: plain)
	scorer    *backend.InferenceExec                         // candidate log-likelihoods, built on first use (one compilation for every evaluation)
	generator *generate.Model                                // greedy answers, built on first use (likewise)
}

// chatTemplate is the decoder's chat template when a run writes chat prompts (nil otherwise); a checkpoint
// without one is an error naming the field.
func chatTemplate(d *pretrained.Decoder, chat bool) (*pretrained.ChatTemplate, error) {
	if !chat {
		return nil, nil
	}
	tmpl, err := d.ChatTemplate()
	if err != nil {
		return nil, bad("chat", "%v", err)
	}
	return tmpl, nil
}

// loadDecoder loads a decoder's tokenizer and weights; with a chat template, prompts are written in it.
func loadDecoder(d *pretrained.Decoder, tmpl *pretrained.ChatTemplate) (*loadedDecoder, error) {
	tok, err := d.Tokenizer()
	if err != nil {
		return nil, err
	}
	m := &loadedDecoder{Decoder: d, Tokenizer: tok}
	if tmpl != nil {
		bos, eos := tok.Decode([]int32{tok.BOS}), tok.Decode([]int32{tok.EOS})
		m.format = func(p datasets.Prompt) (datasets.Prompt, error) { return chatPrompt(tmpl, p, bos, eos) }
	}
	m.Store = model.NewStore()
	if _, err := d.LoadWeights(m.Store, ""); err != nil {
		return nil, err
	}
	return m, nil
}

// chatPrompt writes a plain prompt as the user's turn of a chat template, ending with the opening of the
// assistant's turn (add_generation_prompt); the candidates lose their leading space, as they now start
// the assistant's turn.
func chatPrompt(tmpl *pretrained.ChatTemplate, p datasets.Prompt, bos, eos string) (datasets.Prompt, error) {
	text, err := tmpl.Render([]pretrained.ChatMessage{{Role: "user", Content: p.Text}}, true, bos, eos)
	if err != nil {
		return datasets.Prompt{}, err
	}
	out := datasets.Prompt{Text: text, Answer: p.Answer}
	for _, c := range p.Candidates {
		out.Candidates = append(out.Candidates, strings.TrimPrefix(c, " "))
	}
	return out, nil
}

// promptOf is example e of set as the decoder reads it: datasets.PromptOf in the run's format.
func (m *loadedDecoder) promptOf(set *datasets.Set, e datasets.Example) (datasets.Prompt, error) {
	p, err := set.PromptOf(e)
	if err != nil || m.format == nil {
		return p, err
	}
	return m.format(p)
}

// generatorOf is the decoder's greedy generator with adapters inj, built on first use: inj must be the same
// for every call on m (a run's), so its compiled graphs serve every evaluation.
func (m *loadedDecoder) generatorOf(b compute.Backend, inj *mtlcore.Injector) *generate.Model {
	if m.generator == nil {
		m.generator = &generate.Model{Config: m.Config, Injector: inj, Store: m.Store, Backend: b, EOS: m.Tokenizer.EOS, Pad: m.Tokenizer.Pad,
			Decode: m.Tokenizer.Decode}
	}
	return m.generator
}

// answerLen is the answer slots of a set's batches: its longest candidate in tokens, plus EOS.
func (m *loadedDecoder) answerLen(set *datasets.Set) (int, error) {
	n := 2
	seen := map[string]bool{}
	for _, e := range set.Examples {
		p, err := m.promptOf(set, e)
		if err != nil {
			return 0, err
		}
		for _, c := range p.Candidates {
			if !seen[c] {
				seen[c] = true
				n = max(n, len(m.Tokenizer.Encode(c))+1)
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
	tmpl, err := chatTemplate(d, c.Chat) // a checkpoint without one fails here, before the data are read
	if err != nil {
		return nil, err
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
	m, err := loadDecoder(d, tmpl)
	if err != nil {
		return nil, err
	}
	al, err := m.answerLen(set)
	if err != nil {
		return nil, err
	}
	if c.SeqLen <= al {
		return nil, bad("seq_len", "%d tokens leave no room for a prompt before answers of up to %d tokens", c.SeqLen, al)
	}
	fn := zoo.LlamaAnswers(m.Config, inj)
	data := &textData{b: &datasets.LMBatches{Set: set, Tokenizer: m.Tokenizer, EOS: m.Tokenizer.EOS, Pad: m.Tokenizer.Pad,
		Format: m.format, Split: datasets.Train, BatchSize: c.BatchSize, SeqLen: c.SeqLen, AnswerLen: al, Steps: c.Steps, Sampler: run.sampler(),
		TaskWeights: taskWeights(c)}}
	eval := func(int) ([]trainer.TaskMetrics, error) {
		return evaluateDecoder(env.Backend, m, fn, inj, set, datasets.Validation, c.SeqLen, al, c.EvalMax, c.Scoring)
	}
	return trainer.Fit(env.Backend, m.Store, fn, losses.AnswerTokens, data, eval, run.fitConfig(3), dir, env.onStep(run),
		traceHook(m.Store, c.Config, dir, traceEvery(c)))
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

// Scoring is how a decoder's evaluation picks an example's answer among its candidates — a classification
// task's labels, a multiple-choice task's choices.
type Scoring string

const (
	// ScoreLogLik picks the candidate whose tokens, EOS included, have the largest summed log-probability
	// after the prompt (not normalised by length: a longer answer pays for each of its tokens).
	ScoreLogLik Scoring = "loglik"
	// ScoreLogLikMean picks by the mean log-probability per answer token, EOS included (length-normalised).
	ScoreLogLikMean Scoring = "loglik-mean"
	// ScoreGenerate generates greedily (at most the longest candidate's tokens + 1, stopping at EOS or a
	// newline) and matches the text to a candidate (datasets.Prompt.Match); text naming none is no answer,
	// counted wrong, and the tasks also report the fraction answered.
	ScoreGenerate Scoring = "generate"
)

// Validate rejects a name that is not a scoring.
func (s Scoring) Validate() error {
	switch s {
	case ScoreLogLik, ScoreLogLikMean, ScoreGenerate:
		return nil
	}
	return fmt.Errorf("experiment: field scoring: %q is not loglik, loglik-mean or generate", string(s))
}

// UnmarshalText reads a scoring name, rejecting unknown ones.
func (s *Scoring) UnmarshalText(b []byte) error {
	v := Scoring(b)
	if err := v.Validate(); err != nil {
		return err
	}
	*s = v
	return nil
}

// evaluateDecoder picks every example's answer of the split (at most evalMax per task) by scoring and
// computes the task metrics.
func evaluateDecoder(b compute.Backend, m *loadedDecoder, fn func(*model.Scope, []*Node) *Node, inj *mtlcore.Injector, set *datasets.Set,
	split datasets.Split, seqLen, answerLen, evalMax int, scoring Scoring) ([]trainer.TaskMetrics, error) {
	sub := evalSubset(set, split, evalMax)
	return scoreTasks(set, scoring == ScoreGenerate, func(each func(e datasets.Example, row []float32)) error {
		return decoderRows(b, m, fn, inj, sub, seqLen, answerLen, scoring, each)
	})
}

// decoderRows calls each with every example of set and a row over its candidates whose largest entry is the
// answer scoring picks: the candidates' log-likelihoods (summed, or per token), or for generated answers 0
// at the candidate the text named and −∞ elsewhere (everywhere when it named none). fn and inj must be the
// model every call on m uses: its executables are kept.
func decoderRows(b compute.Backend, m *loadedDecoder, fn func(*model.Scope, []*Node) *Node, inj *mtlcore.Injector, set *datasets.Set,
	seqLen, answerLen int, scoring Scoring, each func(e datasets.Example, row []float32)) error {
	if err := scoring.Validate(); err != nil {
		return err
	}
	if scoring == ScoreGenerate {
		return generatedAnswers(b, m, inj, set, seqLen, answerLen, each)
	}
	return candidateLogLikelihoods(b, m, fn, set, seqLen, answerLen, scoring == ScoreLogLikMean, each)
}

// rowsPerBatch is how many (example, candidate) rows — or prompts, when generating — a decoder evaluates at
// once; the last batch is padded with rows of weight 0.
const rowsPerBatch = 32

// candidateLogLikelihoods calls each with every example of set and its candidates' log-likelihoods (the sum
// over the answer's tokens, or with perToken their mean), batching (example, candidate) rows. Each row is
// encoded as training encodes it (seqLen, answerLen); rows are scored in batches of similar rows — sorted by
// their answer's tokens, then their own — each batch padded only as far as its rows need (scoreShape): a
// causal model's log-likelihood of a row does not depend on the padding after it, so only the work shrinks
// (on the commonsense suite most answers are a few tokens of the 79 slots the longest needs). Each batch shape
// is compiled once and kept with the model.
func candidateLogLikelihoods(b compute.Backend, m *loadedDecoder, fn func(*model.Scope, []*Node) *Node, set *datasets.Set,
	seqLen, answerLen int, perToken bool, each func(e datasets.Example, row []float32)) error {
	if m.scorer == nil { // fn is the run's model: the same for every call on m
		m.scorer = backend.NewInferenceExec(b, m.Store, func(scope *model.Scope, in []*Node) []*Node {
			logits := fn(scope, in[:4])
			on := Sign(ConvertDType(in[5], logits.DType()))
			return []*Node{ReduceSum(Mul(losses.TokenLogProbs(logits, in[4]), on), -1), ReduceSum(on, -1)} // [rows] each
		})
	}
	type row struct {
		example, candidate int
		task               int32
		tokens             []int32
		answer             int // index of the first answer token in tokens
	}
	var rows []row
	scores := make([][]float32, len(set.Examples))
	for i, e := range set.Examples {
		p, err := m.promptOf(set, e)
		if err != nil {
			return err
		}
		scores[i] = make([]float32, len(p.Candidates))
		for c := range p.Candidates {
			toks, at, err := p.Encode(m.Tokenizer, m.Tokenizer.EOS, c, seqLen, answerLen)
			if err != nil {
				return err
			}
			rows = append(rows, row{i, c, e.Task, toks, at})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		ai, aj := len(rows[i].tokens)-rows[i].answer, len(rows[j].tokens)-rows[j].answer
		return ai < aj || ai == aj && len(rows[i].tokens) < len(rows[j].tokens)
	})
	for start := 0; start < len(rows); start += rowsPerBatch {
		batch := rows[start:min(start+rowsPerBatch, len(rows))]
		seqs, answers := make([][]int32, rowsPerBatch), make([]int, rowsPerBatch)
		tasks, weights := make([]int32, rowsPerBatch), make([]float32, rowsPerBatch)
		longest, longestAnswer := 0, 0
		for k := range rowsPerBatch {
			r := batch[min(k, len(batch)-1)] // padding rows repeat the last, weight 0
			seqs[k], answers[k], tasks[k] = r.tokens, r.answer, r.task
			if k < len(batch) {
				weights[k] = 1
				longest, longestAnswer = max(longest, len(r.tokens)), max(longestAnswer, len(r.tokens)-r.answer)
			}
		}
		sl, al := scoreShape(longest, longestAnswer, seqLen, answerLen)
		bt := datasets.LMRows(seqs, answers, tasks, weights, m.Tokenizer.Pad, sl, al)
		out, err := m.scorer.Call(bt.Inputs[0], bt.Inputs[1], bt.Inputs[2], bt.Inputs[3], bt.Labels[0], bt.Labels[1])
		if err != nil {
			return err
		}
		ll, n := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
		for k, r := range batch {
			scores[r.example][r.candidate] = ll[k]
			if perToken {
				scores[r.example][r.candidate] /= n[k]
			}
		}
	}
	for i, e := range set.Examples {
		each(e, scores[i])
	}
	return nil
}

// scoreShape is the padded shape of a batch of scored rows whose longest has tokens tokens and whose longest
// answer has answer tokens: the tokens rounded up to a multiple of 16 and the answer slots to a power of two
// (at least 2), at most seqLen and answerLen — few shapes, so few compilations.
func scoreShape(tokens, answer, seqLen, answerLen int) (int, int) {
	sl := min(seqLen, (tokens+15)/16*16)
	al := 2
	for al < answer {
		al *= 2
	}
	return sl, min(al, answerLen)
}

// generatedAnswers calls each with every example of set and the row of its generated answer: greedy
// generation after the prompt (cut to seqLen − answerLen tokens, as training cuts it), at most answerLen
// tokens (the longest candidate and EOS), stopping at EOS or a newline; the text matched to a candidate by
// datasets.Prompt.Match.
func generatedAnswers(b compute.Backend, m *loadedDecoder, inj *mtlcore.Injector, set *datasets.Set, seqLen, answerLen int,
	each func(e datasets.Example, row []float32)) error {
	gen := m.generatorOf(b, inj)
	promptLen := seqLen - answerLen
	size := min(rowsPerBatch, len(set.Examples)) // one shape for every batch of this set: the last one padded
	for start := 0; start < len(set.Examples); start += size {
		batch := set.Examples[start:min(start+size, len(set.Examples))]
		prompts, cands := make([][]int32, 0, size), make([]datasets.Prompt, len(batch))
		tasks := make([]int32, 0, size)
		for i, e := range batch {
			p, err := m.promptOf(set, e)
			if err != nil {
				return err
			}
			ids, err := p.EncodeText(m.Tokenizer, promptLen)
			if err != nil {
				return err
			}
			cands[i], prompts, tasks = p, append(prompts, ids), append(tasks, e.Task)
		}
		for len(prompts) < size { // padding rows: their generations are not read
			prompts, tasks = append(prompts, prompts[0]), append(tasks, tasks[0])
		}
		outs, err := gen.Greedy(prompts, generate.Options{MaxNew: answerLen, Stop: []string{"\n"}, TaskIDs: tasks, PromptLen: promptLen})
		if err != nil {
			return err
		}
		for i, e := range batch {
			row := make([]float32, len(cands[i].Candidates))
			for c := range row {
				row[c] = float32(math.Inf(-1))
			}
			if c := cands[i].Match(outs[i].Text); c >= 0 {
				row[c] = 0
			}
			each(e, row)
		}
	}
	return nil
}

// runSet loads the run's data, writes its spec into dir, keeps the run's tasks and checks every task has
// training and validation examples.
func runSet(run Run, dir string) (*datasets.Set, error) {
	src, set, err := runData(run)
	if err != nil {
		return nil, err
	}
	return set, writeSpec(filepath.Join(dir, SpecFile), src.Spec)
}

// runData reads the run's data: its tasks (Config.Tasks) of the source, each with training and validation
// examples, and test examples when the run's plan asks for a test evaluation.
func runData(run Run) (*Source, *datasets.Set, error) {
	c := run.Config
	src, err := OpenData(c.Data)
	if err != nil {
		return nil, nil, err
	}
	all, err := src.Load()
	if err != nil {
		return nil, nil, err
	}
	idx, err := subsetIndex(src.TaskNames(), c.Tasks)
	if err != nil {
		return nil, nil, err
	}
	set := restrict(all, idx)
	for t, n := range set.Counts() {
		if n[datasets.Train] == 0 || n[datasets.Validation] == 0 {
			return nil, nil, fmt.Errorf("%w: %s: task %q has %d training and %d validation examples: it needs both (add examples, or give a split column)",
				datasets.ErrData, c.Data, set.Spec.Tasks[t].Name, n[datasets.Train], n[datasets.Validation])
		}
		if run.Test && n[datasets.Test] == 0 {
			return nil, nil, fmt.Errorf("%w: %s: task %q has no test examples, and plan %q asks for a test evaluation (give a split column with test rows, or leave out \"test\")",
				datasets.ErrData, c.Data, set.Spec.Tasks[t].Name, run.Plan)
		}
	}
	return src, set, nil
}

// BaseModelEval scores the checkpoint a decoder run fine-tunes — the base model, no adapter — on split of the
// run's data (at most evalMax examples a task, 0: all) as the run scores its own answers: the same prompts,
// seq_len and scoring. A run's score less this is what fine-tuning added. An encoder has no such score: its
// answers come from heads that train with the adapters.
func BaseModelEval(env Env, run Run, split datasets.Split, evalMax int) ([]trainer.TaskMetrics, error) {
	m, set, al, err := baseModel(env, run)
	if err != nil {
		return nil, err
	}
	for t, n := range set.Counts() {
		if n[split] == 0 {
			return nil, fmt.Errorf("%w: %s: task %q has no %s examples to score", datasets.ErrData, run.Config.Data, set.Spec.Tasks[t].Name, split)
		}
	}
	return evaluateDecoder(env.Backend, m, zoo.LlamaAnswers(m.Config, nil), nil, set, split, run.Config.SeqLen, al, evalMax, run.Config.Scoring)
}

// baseModel is a decoder run's base model, its data and its answer slots, as runDecoder reads them.
func baseModel(env Env, run Run) (*loadedDecoder, *datasets.Set, int, error) {
	c := run.Config
	modelDir, err := pretrained.Resolve(c.Model, pretrained.HubOptions{}, env.log())
	if err != nil {
		return nil, nil, 0, err
	}
	if !pretrained.IsDecoder(modelDir) {
		return nil, nil, 0, fmt.Errorf("experiment: run %s: %s is an encoder: its answers come from heads trained with the adapters, so the base model has none to score", run.ID(), c.Model)
	}
	d, err := pretrained.OpenDecoder(modelDir)
	if err != nil {
		return nil, nil, 0, err
	}
	tmpl, err := chatTemplate(d, c.Chat)
	if err != nil {
		return nil, nil, 0, err
	}
	_, set, err := runData(run)
	if err != nil {
		return nil, nil, 0, err
	}
	m, err := loadDecoder(d, tmpl)
	if err != nil {
		return nil, nil, 0, err
	}
	al, err := m.answerLen(set)
	return m, set, al, err
}
