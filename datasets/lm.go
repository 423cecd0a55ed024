package datasets

import (
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
)

// TextTokenizer tokenizes text for a decoder (pretrained.BPETokenizer is one): no special tokens added.
type TextTokenizer interface {
	Encode(text string) []int32
}

// Prompt is an example as a decoder reads it: the prompt text, the candidate answers (each the exact text
// that continues the prompt) and the index of the right one.
type Prompt struct {
	Text       string
	Candidates []string
	Answer     int
}

// PromptOf writes an example as a prompt for a decoder:
//
//	{text}
//	{pair}                          pair tasks (the question of a multiple-choice task)
//	Choices: {c0} | {c1} | …        multiple-choice tasks
//	Answer:
//
// and its candidates: " " + each label of a classification task, " " + each choice of a multiple-choice
// task. Regression tasks have no candidates: they are an error here (an encoder's regression head fits them).
func (set *Set) PromptOf(e Example) (Prompt, error) {
	ts := set.Spec.Tasks[e.Task]
	var b strings.Builder
	b.WriteString(e.Text)
	if ts.Pair && e.Pair != "" {
		b.WriteString("\n" + e.Pair)
	}
	var cands []string
	switch {
	case ts.Regression:
		return Prompt{}, fmt.Errorf("datasets: task %q is a regression task: a decoder answers with text (classification or multiple choice)", ts.Name)
	case ts.MultipleChoice:
		b.WriteString("\nChoices: " + strings.Join(e.Choices, " | "))
		cands = e.Choices
	default:
		cands = ts.Labels
	}
	b.WriteString("\nAnswer:")
	p := Prompt{Text: b.String(), Answer: int(e.Label)}
	for _, c := range cands {
		p.Candidates = append(p.Candidates, " "+c)
	}
	return p, nil
}

// Match extracts the answer from generated text: the candidate it names, or −1. The text (cut at the
// first newline: a prompt's answer is one line) and each candidate are compared with surrounding white space
// and trailing . , ; : ! ? removed — exactly first, then ignoring case if that leaves one candidate.
// Anything else — extra words, two candidates differing only in case, nothing — names no candidate.
func (p Prompt) Match(text string) int {
	norm := func(s string) string {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[:i]
		}
		return strings.TrimRight(strings.TrimSpace(s), ".,;:!?")
	}
	got := norm(text)
	if got == "" {
		return -1
	}
	folded, n := -1, 0
	for i, c := range p.Candidates {
		c = norm(c)
		if c == got {
			return i
		}
		if strings.EqualFold(c, got) {
			folded, n = i, n+1
		}
	}
	if n != 1 {
		return -1
	}
	return folded
}

// LMBatches turns a split of a Set into fixed-shape batches for causal-LM multi-task fine-tuning (a
// train.Dataset): each row is an example's prompt followed by its right answer and EOS, right-padded to
// SeqLen, the loss on the answer tokens only. Each batch has
//
//	Inputs: token ids, attention mask [B, SeqLen] int32; answer positions [B, AnswerLen] int32 (position t
//	        whose logits predict answer token j: the prompt's last position + j); task ids [B] int32
//	Labels: answer tokens [B, AnswerLen] int32; their weights [B, AnswerLen] float32 (1 — or the task's
//	        weight — for real answer tokens, 0 for padding slots and padding rows)
//
// A prompt too long for SeqLen loses its beginning (the answer always fits: AnswerLen ≥ its tokens + EOS,
// else an error). Training (Steps > 0) draws Steps batches by the Sampler, as Batches does; evaluation
// yields every example once, the last batch padded with weight-0 rows.
type LMBatches struct {
	Set       *Set
	Tokenizer TextTokenizer
	// Format, when set, rewrites each example's prompt (PromptOf's) before it is tokenized: a chat
	// template, say.
	Format    func(Prompt) (Prompt, error)
	EOS, Pad  int32
	Split     Split
	BatchSize int
	SeqLen    int
	AnswerLen int

	TaskWeights []float64
	Steps       int
	Sampler     SamplerConfig

	sampler *Sampler
	pools   [][]int
	cache   map[int]lmRow
}

// lmRow is one encoded sequence: its tokens and where the answer starts.
type lmRow struct {
	tokens []int32
	answer int // index of the first answer token in tokens
}

// Name implements train.Dataset.
func (b *LMBatches) Name() string { return fmt.Sprintf("%s/%s (causal LM)", b.Set.Spec.Name, b.Split) }

func (b *LMBatches) init() error {
	if b.pools != nil {
		return nil
	}
	switch {
	case b.BatchSize < 1:
		return fmt.Errorf("datasets: batch size must be ≥ 1, got %d", b.BatchSize)
	case b.AnswerLen < 2 || b.SeqLen < b.AnswerLen+1:
		return fmt.Errorf("datasets: causal LM: answer length %d must be ≥ 2 and below the sequence length %d", b.AnswerLen, b.SeqLen)
	case b.TaskWeights != nil && len(b.TaskWeights) != len(b.Set.Spec.Tasks):
		return fmt.Errorf("datasets: %d task weights for %d tasks", len(b.TaskWeights), len(b.Set.Spec.Tasks))
	}
	b.pools = b.Set.Select(b.Split)
	b.cache = map[int]lmRow{}
	if b.Steps > 0 {
		s, err := NewSampler(b.pools, b.Sampler)
		if err != nil {
			return fmt.Errorf("datasets: %s: %w", b.Name(), err)
		}
		b.sampler = s
	}
	return nil
}

// Encode tokenizes the prompt followed by candidate c and EOS, the prompt's start cut to fit seqLen; it
// returns the tokens and the index of the first answer token. An answer longer than answerLen − 1 tokens is
// an error naming it.
func (p Prompt) Encode(tok TextTokenizer, eos int32, c, seqLen, answerLen int) ([]int32, int, error) {
	ans := append(tok.Encode(p.Candidates[c]), eos)
	if len(ans) > answerLen {
		return nil, 0, fmt.Errorf("datasets: the answer %q is %d tokens with EOS, more than the answer length %d", p.Candidates[c], len(ans), answerLen)
	}
	prompt, err := p.EncodeText(tok, seqLen-len(ans))
	if err != nil {
		return nil, 0, err
	}
	return append(prompt, ans...), len(prompt), nil
}

// EncodeText tokenizes the prompt alone, its start cut to at most keep tokens: what generation continues
// (Encode cuts it the same way before an answer).
func (p Prompt) EncodeText(tok TextTokenizer, keep int) ([]int32, error) {
	prompt := tok.Encode(p.Text)
	if len(prompt) > keep {
		prompt = prompt[len(prompt)-keep:]
	}
	if len(prompt) == 0 {
		return nil, fmt.Errorf("datasets: no room for the prompt: %d tokens left for it", keep)
	}
	return slices.Clone(prompt), nil
}

func (b *LMBatches) encode(i int) (lmRow, error) {
	if r, ok := b.cache[i]; ok {
		return r, nil
	}
	e := b.Set.Examples[i]
	p, err := b.Set.PromptOf(e)
	if err == nil && b.Format != nil {
		p, err = b.Format(p)
	}
	if err != nil {
		return lmRow{}, err
	}
	toks, at, err := p.Encode(b.Tokenizer, b.EOS, p.Answer, b.SeqLen, b.AnswerLen)
	if err != nil {
		return lmRow{}, fmt.Errorf("%w (task %q)", err, b.Set.Spec.Tasks[e.Task].Name)
	}
	r := lmRow{toks, at}
	b.cache[i] = r
	return r, nil
}

// LMRows assembles encoded rows into the batch layout of LMBatches (weights[r] scales row r; 0 for padding
// rows). It is also how candidate answers are scored: one row per (example, candidate).
func LMRows(rows [][]int32, answers []int, tasks []int32, weights []float32, pad int32, seqLen, answerLen int) train.Batch {
	n := len(rows)
	ids, mask := make([]int32, n*seqLen), make([]int32, n*seqLen)
	pos, targets := make([]int32, n*answerLen), make([]int32, n*answerLen)
	w := make([]float32, n*answerLen)
	for r, toks := range rows {
		for j := range seqLen {
			ids[r*seqLen+j] = pad
		}
		copy(ids[r*seqLen:], toks)
		for j := range toks {
			mask[r*seqLen+j] = 1
		}
		for j := 0; answers[r]+j < len(toks); j++ {
			pos[r*answerLen+j] = int32(answers[r] + j - 1)
			targets[r*answerLen+j] = toks[answers[r]+j]
			w[r*answerLen+j] = weights[r]
		}
	}
	return train.Batch{
		Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(ids, n, seqLen), tensors.FromFlatDataAndDimensions(mask, n, seqLen),
			tensors.FromFlatDataAndDimensions(pos, n, answerLen), tensors.FromFlatDataAndDimensions(tasks, n)},
		Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(targets, n, answerLen), tensors.FromFlatDataAndDimensions(w, n, answerLen)},
	}
}

func (b *LMBatches) batch(idx []int, real int) (train.Batch, error) {
	rows, answers := make([][]int32, len(idx)), make([]int, len(idx))
	tasks, weights := make([]int32, len(idx)), make([]float32, len(idx))
	for r, i := range idx {
		row, err := b.encode(i)
		if err != nil {
			return train.Batch{}, err
		}
		rows[r], answers[r] = row.tokens, row.answer
		e := b.Set.Examples[i]
		tasks[r] = e.Task
		if r < real {
			weights[r] = 1
			if b.TaskWeights != nil {
				weights[r] = float32(b.TaskWeights[e.Task])
			}
		}
	}
	return LMRows(rows, answers, tasks, weights, b.Pad, b.SeqLen, b.AnswerLen), nil
}

// Iter implements train.Dataset.
func (b *LMBatches) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		if err := b.init(); err != nil {
			yield(train.Batch{}, err)
			return
		}
		batchIndices(b.pools, b.sampler, b.Steps, b.BatchSize, func(idx []int, real int) bool {
			bt, err := b.batch(idx, real)
			if err != nil {
				yield(train.Batch{}, err)
				return false
			}
			return yield(bt, nil)
		})
	}
}
