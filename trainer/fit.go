package trainer

import (
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/distributed"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/dtensor"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// Data feeds Fit a deterministic stream of training batches; Skip(n) moves past n batches without
// building them, so a resumed run sees exactly the batches it would have seen.
type Data interface {
	Next() (train.Batch, error)
	Skip(n int) error
}

// TaskMetrics are one task's evaluation metrics; Score is the one that ranks runs (higher is better).
// Examples is how many examples they were computed on (0: not recorded — evaluations written before it was).
type TaskMetrics struct {
	Task     string             `json:"task"`
	Metrics  map[string]float64 `json:"metrics"`
	Score    float64            `json:"score"`
	Examples int                `json:"examples,omitempty"`
}

// Eval is one evaluation: per-task metrics and their mean score.
type Eval struct {
	Step  int           `json:"step"`
	Tasks []TaskMetrics `json:"tasks"`
	Score float64       `json:"score"` // mean of the tasks' scores
}

// NewEval is the evaluation at step of tasks: their metrics and the mean of their scores.
func NewEval(step int, tasks []TaskMetrics) Eval {
	e := Eval{Step: step, Tasks: tasks}
	for _, t := range tasks {
		e.Score += t.Score / float64(len(tasks))
	}
	return e
}

// Evaluator evaluates the model held in the store at a step.
type Evaluator func(step int) ([]TaskMetrics, error)

// Hook runs Fn after every Every-th training step (e.g. an analysis recorded during training). Hooks see the
// store between steps; they must not change it.
type Hook struct {
	Every int
	Fn    func(step int) error
}

// FitConfig configures Fit.
type FitConfig struct {
	Steps           int      `json:"steps"`
	LearningRate    float64  `json:"learning_rate"`
	WeightDecay     float64  `json:"weight_decay"`               // decoupled (AdamW)
	Warmup          int      `json:"warmup,omitempty"`           // steps of linear warm-up from 0
	Schedule        Schedule `json:"schedule,omitempty"`         // after warm-up: constant (default, also ""), linear or cosine decay to 0
	ClipNorm        float64  `json:"clip_norm,omitempty"`        // clip gradients to this global L2 norm (0: off)
	EvalEvery       int      `json:"eval_every,omitempty"`       // evaluate every N steps and at the end (0: only at the end)
	Patience        int      `json:"patience,omitempty"`         // stop after this many evaluations without a better score (0: never)
	CheckpointEvery int      `json:"checkpoint_every,omitempty"` // checkpoint every N steps and at the end (needs a directory)
	Seed            int64    `json:"seed"`
	NumTasks        int      `json:"num_tasks"`
	TaskInput       int      `json:"task_input"`           // which batch input holds the task ids
	TaskNames       []string `json:"task_names,omitempty"` // for messages (a non-finite loss names its tasks)
	// Devices > 1 trains data-parallel over the backend's first Devices devices: every batch is split along its
	// first axis (batch_size must divide evenly) and XLA's automatic sharding runs the one logical step
	// across them. 0 or 1: one device.
	Devices int `json:"devices,omitempty"`
}

// Schedule is the learning-rate decay after warm-up.
type Schedule string

const (
	Constant Schedule = "constant" // no decay ("" means the same)
	Linear   Schedule = "linear"   // linear decay to 0 at the last step
	Cosine   Schedule = "cosine"   // half-cosine decay to 0 at the last step
)

// Validate rejects a name that is not a schedule.
func (s Schedule) Validate() error {
	switch s {
	case "", Constant, Linear, Cosine:
		return nil
	}
	return fmt.Errorf("trainer: field schedule: %q is not constant, linear or cosine", string(s))
}

// UnmarshalText reads a schedule name, rejecting unknown ones.
func (s *Schedule) UnmarshalText(b []byte) error {
	v := Schedule(b)
	if err := v.Validate(); err != nil {
		return err
	}
	*s = v
	return nil
}

// decays reports whether the schedule decays after warm-up.
func (s Schedule) decays() bool { return s == Linear || s == Cosine }

// Validate names the first bad field.
func (c FitConfig) Validate() error {
	switch {
	case c.Steps < 1:
		return fmt.Errorf("trainer: field steps: must be ≥ 1, got %d", c.Steps)
	case !(c.LearningRate > 0):
		return fmt.Errorf("trainer: field learning_rate: must be > 0, got %v", c.LearningRate)
	case c.WeightDecay < 0 || c.ClipNorm < 0 || c.Warmup < 0 || c.EvalEvery < 0 || c.Patience < 0 || c.CheckpointEvery < 0:
		return fmt.Errorf("trainer: weight_decay, clip_norm, warmup, eval_every, patience and checkpoint_every must be ≥ 0")
	case c.Schedule.Validate() != nil:
		return c.Schedule.Validate()
	case c.NumTasks < 1:
		return fmt.Errorf("trainer: field num_tasks: must be ≥ 1, got %d", c.NumTasks)
	case c.Devices < 0:
		return fmt.Errorf("trainer: field devices: must be ≥ 0, got %d", c.Devices)
	}
	return nil
}

// FitResult is what a run produced; with a directory it is also the checkpointed state.
type FitResult struct {
	Step     int       `json:"step"`      // steps done
	Losses   []float64 `json:"losses"`    // training loss of every step
	Evals    []Eval    `json:"evals"`     // every evaluation
	Best     *Eval     `json:"best"`      // the best evaluation (its weights are in dir/best)
	BadEvals int       `json:"bad_evals"` // evaluations since the best
	Stopped  string    `json:"stopped"`   // why the run ended: "steps" or "early stopping"
	// Seconds is the wall-clock time spent in Fit — steps, evaluations, compilation — summed over every
	// attempt of a resumed run (an interrupted attempt counts up to its last checkpoint).
	Seconds float64 `json:"seconds"`
	// Resumed is the part of Seconds spent by earlier attempts, when this one resumed a checkpoint (not saved).
	Resumed float64 `json:"-"`
}

// Fit trains the trainable variables of store with AdamW (warm-up, decay schedule, global-norm clipping)
// on data, evaluates every EvalEvery steps, stops early after Patience evaluations without improvement,
// and, when dir is not "", checkpoints into dir/checkpoints every CheckpointEvery steps and keeps the
// best evaluation's weights in dir/best. A run started on a dir with a checkpoint resumes from it and ends
// exactly as an uninterrupted run would: model, optimizer and random state are restored and the data stream
// is skipped forward. Weights loaded before the run that the model keeps frozen (pretrained ones) are not
// saved: reload them, then call Fit again on the same dir.
func Fit(b compute.Backend, store *model.Store, modelFn func(*model.Scope, []*Node) *Node, lossFn train.LossFn,
	data Data, eval Evaluator, cfg FitConfig, dir string, onStep func(step int, loss float64), hooks ...Hook) (*FitResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Variables that exist before the first step and end up frozen (loaded pretrained weights) are not saved:
	// their trainability is only known once the model graph is built, so it is read at save time.
	existing := map[string]bool{}
	for v := range store.IterVariables() {
		existing[v.Path()] = true
	}
	frozen := func(v *model.Variable) bool { return existing[v.Path()] && !v.Trainable }
	store.SetParam(model.ParamInitialSeed, cfg.Seed)
	res := &FitResult{}
	ckDir, bestDir := "", ""
	savedAt := 0 // step of the last checkpoint in ckDir
	if dir != "" {
		ckDir, bestDir = filepath.Join(dir, "checkpoints"), filepath.Join(dir, "best")
		found, err := loadCheckpoint(ckDir, store, res)
		if err != nil {
			return nil, err
		}
		if found {
			savedAt, res.Resumed = res.Step, res.Seconds
			if err := data.Skip(res.Step); err != nil {
				return nil, err
			}
		}
	}
	if res.Stopped != "" {
		return res, nil // finished before
	}
	start := time.Now()
	defer func() { res.Seconds = res.Resumed + time.Since(start).Seconds() }()
	probe := newTaskProbe(cfg.TaskInput, cfg.NumTasks)
	tr := train.NewTrainer(b, store, probe.model(modelFn), probe.loss(lossFn), &adamW{cfg: cfg, inner: optimizer.Adam().LearningRate(cfg.LearningRate).
		WeightDecay(cfg.WeightDecay).Done()}, nil, nil)
	tr.OnExecCreation(func(e *model.Exec, _ train.GraphType) { e.SetNodeLogger(probe.logger) })
	check := checkedTasks{input: cfg.TaskInput, numTasks: cfg.NumTasks}
	step, err := trainStep(b, tr, cfg.Devices)
	if err != nil {
		return nil, err
	}
	evaluate := func() (bool, error) {
		if eval == nil {
			return false, nil
		}
		tasks, err := eval(res.Step)
		if err != nil {
			return false, fmt.Errorf("trainer: evaluation at step %d: %w", res.Step, err)
		}
		e := NewEval(res.Step, tasks)
		res.Evals = append(res.Evals, e)
		if res.Best == nil || e.Score > res.Best.Score {
			res.Best, res.BadEvals = &e, 0
			if bestDir != "" {
				if err := saveCheckpoint(bestDir, res.Step, store, frozen, e); err != nil {
					return false, err
				}
			}
			return false, nil
		}
		res.BadEvals++
		return cfg.Patience > 0 && res.BadEvals >= cfg.Patience, nil
	}
	for res.Step < cfg.Steps {
		batch, err := data.Next()
		if err != nil {
			return res, fmt.Errorf("trainer: batch of step %d: %w", res.Step+1, err)
		}
		if err := check.check(batch, res.Step); err != nil {
			return res, err
		}
		metrics, err := step(batch)
		if err != nil {
			return res, fmt.Errorf("trainer: step %d: %w", res.Step+1, err)
		}
		loss := toFloat(metrics[0])
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			kept := "no checkpoint was written yet"
			if savedAt > 0 {
				kept = fmt.Sprintf("the checkpoint of step %d in %s is kept", savedAt, ckDir)
			}
			return res, fmt.Errorf("%w at step %d: %v; %s (%s)", ErrNonFinite, res.Step+1, loss, probe.describe(cfg.TaskNames), kept)
		}
		res.Step++
		res.Losses = append(res.Losses, loss)
		if onStep != nil {
			onStep(res.Step, loss)
		}
		for _, h := range hooks {
			if h.Every > 0 && res.Step%h.Every == 0 {
				if err := h.Fn(res.Step); err != nil {
					return res, fmt.Errorf("trainer: hook at step %d: %w", res.Step, err)
				}
			}
		}
		stop := false
		if res.Step == cfg.Steps || (cfg.EvalEvery > 0 && res.Step%cfg.EvalEvery == 0) {
			if stop, err = evaluate(); err != nil {
				return res, err
			}
		}
		if stop {
			res.Stopped = "early stopping"
		} else if res.Step == cfg.Steps {
			res.Stopped = "steps"
		}
		if ckDir != "" && (res.Stopped != "" || (cfg.CheckpointEvery > 0 && res.Step%cfg.CheckpointEvery == 0)) {
			res.Seconds = res.Resumed + time.Since(start).Seconds()
			if err := saveCheckpoint(ckDir, res.Step, store, frozen, res); err != nil {
				return res, err
			}
			savedAt = res.Step
		}
		if stop {
			break
		}
	}
	return res, nil
}

// adamW is GoMLX's Adam with decoupled weight decay, plus a learning-rate schedule and global-norm gradient
// clipping computed in the graph from the global step, so they survive a checkpoint and resume exactly.
type adamW struct {
	cfg   FitConfig
	inner optimizer.Interface
}

func (o *adamW) UpdateGraph(scope *model.Scope, g *Graph, loss *Node) {
	grads := scope.BuildTrainableVariablesGradientsGraph(loss)
	if o.cfg.ClipNorm > 0 {
		var sq *Node
		for _, gr := range grads {
			s := ReduceAllSum(Square(ConvertDType(gr, dtypes.Float32)))
			if sq == nil {
				sq = s
			} else {
				sq = Add(sq, s)
			}
		}
		norm := Sqrt(sq)
		factor := Min(OnesLike(norm), DivScalar(Inverse(Max(norm, Scalar(g, dtypes.Float32, 1e-12))), 1/o.cfg.ClipNorm))
		for i := range grads {
			grads[i] = Mul(grads[i], ConvertDType(factor, grads[i].DType()))
		}
	}
	// Learning rate at this step (the global step before this update's increment).
	step := ConvertDType(optimizer.GetGlobalStepVar(scope).NodeValue(g), dtypes.Float32)
	lr := Scalar(g, dtypes.Float32, o.cfg.LearningRate)
	one := Scalar(g, dtypes.Float32, 1)
	if w := float64(o.cfg.Warmup); w > 0 {
		lr = Mul(lr, Min(one, DivScalar(AddScalar(step, 1), w)))
	}
	if rest := float64(o.cfg.Steps - o.cfg.Warmup); rest > 0 && o.cfg.Schedule.decays() {
		progress := ClipScalar(DivScalar(Sub(step, Scalar(g, dtypes.Float32, float64(o.cfg.Warmup))), rest), 0, 1)
		switch o.cfg.Schedule {
		case Linear:
			lr = Mul(lr, OneMinus(progress))
		case Cosine:
			lr = Mul(lr, MulScalar(AddScalar(Cos(MulScalar(progress, math.Pi)), 1), 0.5))
		}
	}
	lossDType := loss.DType()
	lrVar := optimizer.LearningRateVar(scope, lossDType, o.cfg.LearningRate)
	lrVar.SetValueGraph(ConvertDType(lr, lossDType))
	o.inner.(interface {
		UpdateGraphWithGradients(*model.Scope, []*Node, dtypes.DType)
	}).UpdateGraphWithGradients(scope, grads, lossDType)
}

func (o *adamW) Clear(scope *model.Scope) error { return o.inner.Clear(scope) }

// LearningRateAt is the schedule Fit applies, on the host (for plots and tests).
func (c FitConfig) LearningRateAt(step int) float64 {
	lr := c.LearningRate
	if c.Warmup > 0 {
		lr *= math.Min(1, float64(step+1)/float64(c.Warmup))
	}
	if rest := float64(c.Steps - c.Warmup); rest > 0 && c.Schedule.decays() {
		p := math.Min(1, math.Max(0, float64(step-c.Warmup)/rest))
		switch c.Schedule {
		case Linear:
			lr *= 1 - p
		case Cosine:
			lr *= (math.Cos(p*math.Pi) + 1) / 2
		}
	}
	return lr
}

// trainStep returns the training step: the trainer's own on one device, or data-parallel over devices: the
// batch's tensors split along their first axis over a one-axis mesh, XLA's automatic sharding partitioning the
// one logical step (GoMLX's Trainer.DistributedTrainStep), so its result is the one-device step's up to float
// rounding.
func trainStep(b compute.Backend, tr *train.Trainer, devices int) (func(train.Batch) ([]*tensors.Tensor, error), error) {
	if devices <= 1 {
		return tr.TrainStep, nil
	}
	if n := b.NumDevices(); n < devices {
		return nil, fmt.Errorf("trainer: field devices: %d devices asked for, the backend %s has %d", devices, b.Name(), n)
	}
	mesh, err := distributed.NewDeviceMesh([]int{devices}, []string{"data"})
	if err != nil {
		return nil, err
	}
	spec, err := distributed.NewShardingSpec(mesh, distributed.AxisSpec{"data"})
	if err != nil {
		return nil, err
	}
	assignment := make([]compute.DeviceNum, devices)
	for i := range assignment {
		assignment[i] = compute.DeviceNum(i)
	}
	shard := func(ts []*tensors.Tensor) ([]*dtensor.Tensor, error) {
		out := make([]*dtensor.Tensor, len(ts))
		for i, t := range ts {
			if d := t.Shape().Dimensions; len(d) == 0 || d[0]%devices != 0 {
				return nil, fmt.Errorf("trainer: field devices: a batch tensor of shape %s does not split over %d devices: batch_size must be a multiple of devices", t.Shape(), devices)
			}
			var err error
			if out[i], err = dtensor.ShardTensor(spec, t); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return func(batch train.Batch) ([]*tensors.Tensor, error) {
		inputs, err := shard(batch.Inputs)
		if err != nil {
			return nil, err
		}
		labels, err := shard(batch.Labels)
		if err != nil {
			return nil, err
		}
		return tr.DistributedTrainStep(distributed.AutoSharding, assignment, train.DistributedBatch{Inputs: inputs, Labels: labels})
	}, nil
}
