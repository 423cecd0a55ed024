package trainer_test

import (
	"errors"
	"iter"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/trainer"
	"github.com/mtlora/mtlora/zoo"
)

type badTasks struct{}

func (badTasks) Name() string { return "bad-tasks" }
func (badTasks) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		x := tensors.FromFlatDataAndDimensions(make([]float32, 2*4), 2, 4)
		ids := tensors.FromFlatDataAndDimensions([]int32{1, 7}, 2)
		y := tensors.FromFlatDataAndDimensions(make([]float32, 2*4), 2, 4)
		yield(train.Batch{Inputs: []*tensors.Tensor{x, ids}, Labels: []*tensors.Tensor{y}}, nil)
	}
}

// A task id outside [0, T) is caught on the host, naming the example and the id, before any graph runs.
func TestTaskIDsValidatedOnHost(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg := mtlcore.DefaultConfig(mtlcore.MTLLoRA, 4)
	cfg.Targets, cfg.Rank = mtlcore.TargetDense, 2
	inj, _ := mtlcore.NewInjector(cfg)
	_, err = trainer.Run(b, model.NewStore(), zoo.Linear(inj, 4), loss.MeanSquaredError, badTasks{},
		trainer.Options{Steps: 1, LearningRate: 1e-3, NumTasks: 4, TaskInput: 1}, nil)
	if !errors.Is(err, mtlcore.ErrUnknownTask) || !strings.Contains(err.Error(), "example 1 has task id 7") {
		t.Errorf("got %v, want ErrUnknownTask naming example 1 and id 7", err)
	}
}
