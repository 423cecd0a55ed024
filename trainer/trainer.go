// Package trainer runs multi-task training on GoMLX's training loop. This first version is the minimum
// the demo and the adapter tests need: AdamW steps over a dataset with the loss curve recorded. Evaluation,
// schedules, checkpoints and sweeps grow here.
package trainer

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// Options of a training run.
type Options struct {
	Steps        int     `json:"steps"`
	LearningRate float64 `json:"learning_rate"`
	WeightDecay  float64 `json:"weight_decay"`
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

func toFloat(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return math.NaN()
}
