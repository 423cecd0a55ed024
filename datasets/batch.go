package datasets

import (
	"fmt"
	"iter"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
)

// Encoder tokenizes text for a model; pretrained.Tokenizer is one. maxLen truncates (pairs longest-first)
// so the result, special tokens included, fits.
type Encoder interface {
	Encode(text string, maxLen int) (ids, typeIDs []int32)
	EncodePair(first, second string, maxLen int) (ids, typeIDs []int32)
}

// Batches turns a split of a Set into fixed-shape tokenized batches for GoMLX's training loop (it is a
// train.Dataset). Each batch has
//
//	Inputs: token ids, token type ids, attention mask [B·K, L] int32, task ids [B] int32
//	Labels: class labels [B, 1] int32 (the right choice's index for multiple choice, 0 for regression rows),
//	        regression targets [B, 1] float32 (0 for other rows), row weights [B, 1] float32 (1; 0 marks
//	        padding rows of the last evaluation batch), the row's number of classes [B, 1] int32 (its number
//	        of choices for multiple choice, 0 for regression)
//
// K is Choices (1 when it is 0): with multiple-choice tasks every example has K encoded sequences, rows
// e·K … e·K+K−1 — candidate k is (context, [question] candidate k) — and a sequence of only the special tokens
// in slots past its own choices; other examples fill slot 0. L is SeqLen, or with Buckets the smallest bucket
// that holds the batch's longest sequence, so a graph is compiled once per bucket. Texts are tokenized once
// and cached.
type Batches struct {
	Set       *Set
	Tokenizer Encoder
	Split     Split
	BatchSize int
	SeqLen    int   // maximum length, special tokens included; longer examples are truncated
	Buckets   []int // optional increasing lengths ≤ SeqLen to pad to instead of SeqLen
	Choices   int   // K: sequences per example, ≥ Set.MaxChoices() (0: 1, no multiple-choice tasks)

	// TaskWeights, if set (one per task), scale each training row's weight: per-task loss weights.
	TaskWeights []float64

	// Training (Steps > 0): Iter yields Steps batches drawn by a Sampler; successive Iter calls continue the
	// same stream (so they walk on through the task epochs). Evaluation (Steps == 0): Iter yields every
	// example of the split once, task by task in dataset order, the last batch padded with weight-0 rows.
	Steps   int
	Sampler SamplerConfig

	sampler *Sampler
	pools   [][]int
	cache   map[[2]int][2][]int32
}

// slots is K.
func (b *Batches) slots() int { return max(1, b.Choices) }

// Name implements train.Dataset.
func (b *Batches) Name() string {
	return fmt.Sprintf("%s/%s", b.Set.Spec.Name, b.Split)
}

func (b *Batches) init() error {
	if b.pools != nil {
		return nil
	}
	if b.BatchSize < 1 {
		return fmt.Errorf("datasets: batch size must be ≥ 1, got %d", b.BatchSize)
	}
	if b.SeqLen < 3 {
		return fmt.Errorf("datasets: sequence length must be ≥ 3, got %d", b.SeqLen)
	}
	last := 0
	for _, l := range b.Buckets {
		if l <= last || l > b.SeqLen {
			return fmt.Errorf("datasets: buckets %v must increase and not exceed the sequence length %d", b.Buckets, b.SeqLen)
		}
		last = l
	}
	if b.TaskWeights != nil && len(b.TaskWeights) != len(b.Set.Spec.Tasks) {
		return fmt.Errorf("datasets: %d task weights for %d tasks", len(b.TaskWeights), len(b.Set.Spec.Tasks))
	}
	for t, w := range b.TaskWeights {
		if !(w >= 0) {
			return fmt.Errorf("datasets: weight of task %q must be ≥ 0, got %v", b.Set.Spec.Tasks[t].Name, w)
		}
	}
	if k := b.Set.MaxChoices(); k > b.slots() {
		return fmt.Errorf("datasets: %s has examples with %d choices: Batches.Choices must be at least that, is %d", b.Name(), k, b.Choices)
	}
	b.pools = b.Set.Select(b.Split)
	b.cache = map[[2]int][2][]int32{}
	if b.Steps > 0 {
		s, err := NewSampler(b.pools, b.Sampler)
		if err != nil {
			return fmt.Errorf("datasets: %s: %w", b.Name(), err)
		}
		b.sampler = s
	}
	return nil
}

// CurrentSampler returns the training sampler (nil before the first Iter or for evaluation).
func (b *Batches) CurrentSampler() *Sampler { return b.sampler }

// encode tokenizes slot k of example i.
func (b *Batches) encode(i, k int) (ids, types []int32) {
	if c, ok := b.cache[[2]int{i, k}]; ok {
		return c[0], c[1]
	}
	e := b.Set.Examples[i]
	ts := b.Set.Spec.Tasks[e.Task]
	switch {
	case ts.MultipleChoice && k < len(e.Choices):
		second := e.Choices[k]
		if ts.Pair {
			second = e.Pair + " " + second
		}
		ids, types = b.Tokenizer.EncodePair(e.Text, second, b.SeqLen)
	case ts.MultipleChoice || k > 0: // an empty slot: special tokens only (a row with no token would pool to 0/0)
		ids, types = b.Tokenizer.Encode("", b.SeqLen)
	case ts.Pair:
		ids, types = b.Tokenizer.EncodePair(e.Text, e.Pair, b.SeqLen)
	default:
		ids, types = b.Tokenizer.Encode(e.Text, b.SeqLen)
	}
	b.cache[[2]int{i, k}] = [2][]int32{ids, types}
	return ids, types
}

// batch assembles the examples (indices into Set.Examples); rows past real are weight-0 padding.
func (b *Batches) batch(idx []int, real int) train.Batch {
	n, K := len(idx), b.slots()
	longest := 0
	for _, i := range idx {
		for k := range K {
			ids, _ := b.encode(i, k)
			longest = max(longest, len(ids))
		}
	}
	L := b.SeqLen
	for _, l := range b.Buckets {
		if l >= longest {
			L = l
			break
		}
	}
	ids, types, mask := make([]int32, n*K*L), make([]int32, n*K*L), make([]int32, n*K*L)
	tasks, labels, nclass := make([]int32, n), make([]int32, n), make([]int32, n)
	values, weights := make([]float32, n), make([]float32, n)
	for r, i := range idx {
		for k := range K {
			tok, typ := b.encode(i, k)
			at := (r*K + k) * L
			copy(ids[at:], tok)
			copy(types[at:], typ)
			for j := range tok {
				mask[at+j] = 1
			}
		}
		e := b.Set.Examples[i]
		tasks[r], labels[r], values[r] = e.Task, e.Label, e.Value
		switch ts := b.Set.Spec.Tasks[e.Task]; {
		case ts.MultipleChoice:
			nclass[r] = int32(len(e.Choices))
		case !ts.Regression:
			nclass[r] = int32(len(ts.Labels))
		}
		if r < real {
			weights[r] = 1
			if b.TaskWeights != nil {
				weights[r] = float32(b.TaskWeights[e.Task])
			}
		}
	}
	return train.Batch{
		Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(ids, n*K, L), tensors.FromFlatDataAndDimensions(types, n*K, L),
			tensors.FromFlatDataAndDimensions(mask, n*K, L), tensors.FromFlatDataAndDimensions(tasks, n)},
		Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(labels, n, 1), tensors.FromFlatDataAndDimensions(values, n, 1),
			tensors.FromFlatDataAndDimensions(weights, n, 1), tensors.FromFlatDataAndDimensions(nclass, n, 1)},
	}
}

// Iter implements train.Dataset.
func (b *Batches) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		if err := b.init(); err != nil {
			yield(train.Batch{}, err)
			return
		}
		batchIndices(b.pools, b.sampler, b.Steps, b.BatchSize, func(idx []int, real int) bool { return yield(b.batch(idx, real), nil) })
	}
}

// batchIndices calls emit with the example indices of each batch and how many rows are real: with steps > 0,
// steps batches drawn by the sampler; else every example of the pools once, pool by pool, the last batch
// padded by repeating its last index. It stops when emit returns false.
func batchIndices(pools [][]int, sampler *Sampler, steps, size int, emit func(idx []int, real int) bool) {
	idx := make([]int, size)
	if steps > 0 {
		for range steps {
			for r := range idx {
				_, idx[r] = sampler.Next()
			}
			if !emit(idx, len(idx)) {
				return
			}
		}
		return
	}
	var all []int
	for _, p := range pools {
		all = append(all, p...)
	}
	for start := 0; start < len(all); start += size {
		real := copy(idx, all[start:min(start+size, len(all))])
		for r := real; r < len(idx); r++ {
			idx[r] = idx[real-1]
		}
		if !emit(idx, real) {
			return
		}
	}
}
