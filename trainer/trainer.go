// Package trainer runs multi-task training on GoMLX's training loop. This first version is the minimum
// the demo and the adapter tests need: AdamW steps over a dataset with the loss curve recorded. Evaluation,
// schedules, checkpoints and sweeps grow here.
package trainer

import (
	"fmt"
	"iter"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/mtlora/mtlora/mtlcore"
)

// Options of a training run.
type Options struct {
	Steps        int     `json:"steps"`
	LearningRate float64 `json:"learning_rate"`
	WeightDecay  float64 `json:"weight_decay"`
	// NumTasks and TaskInput name the batch input holding task ids ([batch] int32) so every batch is checked
	// on the host before it reaches a graph, where a gather would clamp a bad id silently. NumTasks 0 turns
	// the check off (single-task models).
	NumTasks  int `json:"num_tasks,omitempty"`
	TaskInput int `json:"task_input,omitempty"`
}

// Result of a run: the batch loss at every step.
type Result struct {
	Losses []float64
}

// ErrNonFinite is returned when the loss becomes NaN or ±Inf.
var ErrNonFinite = fmt.Errorf("trainer: loss is not finite")

// Run trains the trainable variables of store (adapters and heads; frozen base weights never change) for
// opts.Steps steps of AdamW on batches from ds (cycled as needed). modelFn and lossFn follow GoMLX's
// train.NewTrainer conventions. onStep, if not nil, is called after every step with its loss.
func Run[F train.ModelFnCompatible](b compute.Backend, store *model.Store, modelFn F, lossFn train.LossFn,
	ds train.Dataset, opts Options, onStep func(step int, loss float64)) (Result, error) {
	if opts.Steps < 1 {
		return Result{}, fmt.Errorf("trainer: field steps: must be ≥ 1, got %d", opts.Steps)
	}
	if !(opts.LearningRate > 0) {
		return Result{}, fmt.Errorf("trainer: field learning_rate: must be > 0, got %v", opts.LearningRate)
	}
	if opts.NumTasks > 0 {
		ds = checkedTasks{ds, opts.TaskInput, opts.NumTasks}
	}
	opt := optimizer.Adam().LearningRate(opts.LearningRate).WeightDecay(opts.WeightDecay).Done()
	tr := train.NewTrainer(b, store, modelFn, lossFn, opt, nil, nil)
	loop := train.NewLoop(tr)
	var res Result
	var stepErr error
	loop.OnStep("mtlora-loss", 0, func(l *train.Loop, metrics []*tensors.Tensor) error {
		loss := toFloat(metrics[0])
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			stepErr = fmt.Errorf("%w at step %d: %v", ErrNonFinite, len(res.Losses), loss)
			return stepErr
		}
		res.Losses = append(res.Losses, loss)
		if onStep != nil {
			onStep(len(res.Losses), loss)
		}
		return nil
	})
	for len(res.Losses) < opts.Steps {
		before := len(res.Losses)
		_, err := loop.RunSteps(ds, opts.Steps-len(res.Losses))
		if stepErr != nil {
			return res, stepErr
		}
		if err != nil && len(res.Losses) == before {
			return res, fmt.Errorf("trainer: %w", err)
		}
	}
	return res, nil
}

// checkedTasks validates the task ids of every batch of a dataset on the host.
type checkedTasks struct {
	train.Dataset
	input, numTasks int
}

func (c checkedTasks) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		n := 0
		for b, err := range c.Dataset.Iter() {
			if err == nil {
				err = c.check(b, n)
			}
			if !yield(b, err) || err != nil {
				return
			}
			n++
		}
	}
}

func (c checkedTasks) name() string {
	if c.Dataset == nil {
		return "training data"
	}
	return c.Dataset.Name()
}

func (c checkedTasks) check(b train.Batch, n int) error {
	if c.input >= len(b.Inputs) {
		return fmt.Errorf("trainer: dataset %s batch %d has %d inputs, task ids expected at input %d", c.name(), n, len(b.Inputs), c.input)
	}
	t := b.Inputs[c.input]
	if t.DType() != dtypes.Int32 || t.Rank() != 1 {
		return fmt.Errorf("trainer: dataset %s batch %d input %d: task ids must be [batch] int32, got %s", c.name(), n, c.input, t.Shape())
	}
	if err := mtlcore.CheckTaskIDs(tensors.MustCopyFlatData[int32](t), c.numTasks); err != nil {
		return fmt.Errorf("trainer: dataset %s batch %d: %w", c.name(), n, err)
	}
	return nil
}

func toFloat(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return math.NaN()
}
