package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/losses"

	"github.com/mtlora/mtlora/internal/atomicfile"
	"github.com/mtlora/mtlora/metrics"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"

	"github.com/mtlora/mtlora/analysis"
	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/datasets/synthetic"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/pretrained"
	"github.com/mtlora/mtlora/trainer"
	"github.com/mtlora/mtlora/zoo"
)

// Result is what a finished run leaves in runs/<id>/result.json.
type Result struct {
	ID  string            `json:"id"`
	Run Run               `json:"run"`
	Fit trainer.FitResult `json:"fit"`
	// Seconds is the run's wall-clock time to train: this attempt's, loading included, plus the training
	// time of earlier attempts when it resumed (Fit.Resumed).
	Seconds float64 `json:"seconds"`
	// Test is the run's best weights (Fit.Best's step) evaluated on every example of the data's test split,
	// when its plan asked (Plan.Test); TestSeconds is how long that took.
	Test        *trainer.Eval     `json:"test,omitempty"`
	TestSeconds float64           `json:"test_seconds,omitempty"`
	Versions    map[string]string `json:"versions"`
}

// Final returns the evaluation the run reports: its test evaluation when it has one, else its last
// validation evaluation (FinalSplit says which).
func (r Result) Final() trainer.Eval {
	if r.Test != nil {
		return *r.Test
	}
	if len(r.Fit.Evals) == 0 {
		return trainer.Eval{}
	}
	return r.Fit.Evals[len(r.Fit.Evals)-1]
}

// FinalSplit is the split of Final's evaluation.
func (r Result) FinalSplit() datasets.Split {
	if r.Test != nil {
		return datasets.Test
	}
	return datasets.Validation
}

// Env is what runs need from the machine.
type Env struct {
	Backend compute.Backend
	Log     io.Writer // fetching and data messages (nil: none)
	// OnStep, if set, is called after every training step of every run (progress bars).
	OnStep func(run Run, step int, loss float64)
	// Recorder, if set, receives the cosine matrix of the tasks' gradients on the shared adapter parameters
	// every Config.AnalyzeEvery steps of a synthetic run (gradient conflict over training).
	Recorder func(run Run, step int, gradientCosine [][]float64)
}

func (env Env) log() io.Writer {
	if env.Log == nil {
		return io.Discard
	}
	return env.Log
}

// Execute trains and evaluates one run, checkpointing into dir (so an interrupted run resumes), and writes
// dir/result.json atomically when it finishes.
func Execute(env Env, run Run, dir string) (*Result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil { // fail before training, not after it
		return nil, fmt.Errorf("run %s: cannot create its directory: %w", run.ID(), err)
	}
	start := time.Now()
	var fit *trainer.FitResult
	var err error
	if run.Config.Data == Synthetic {
		fit, err = runSynthetic(env, run, dir)
	} else {
		fit, err = runText(env, run, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", run.ID(), err)
	}
	res := &Result{ID: run.ID(), Run: run, Fit: *fit, Seconds: fit.Resumed + time.Since(start).Seconds(), Versions: versions(env.Backend)}
	if err := writeResult(dir, res); err != nil {
		return nil, err
	}
	if run.Test {
		return testRun(env, run, dir)
	}
	return res, nil
}

func writeResult(dir string, res *Result) error {
	data, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "result.json"), data)
}

// testRun evaluates the best weights of the finished run in dir on every example of its data's test split
// and adds the evaluation to dir/result.json (Result.Test), with run's Test flag: a run finished before its
// plan asked for a test evaluation is tested as a run of that plan.
func testRun(env Env, run Run, dir string) (*Result, error) {
	start := time.Now()
	tr, err := OpenRun(env, dir)
	if err != nil {
		return nil, err
	}
	c := tr.Result.Run.Config
	metrics, err := tr.EvaluateTasks(c.Data, c.Tasks, datasets.Test, 0)
	if err != nil {
		return nil, fmt.Errorf("run %s: test evaluation: %w", run.ID(), err)
	}
	for _, m := range metrics {
		if m.Examples == 0 {
			return nil, fmt.Errorf("run %s: test evaluation: %w: %s has no test example of task %q", run.ID(), datasets.ErrData, c.Data, m.Task)
		}
	}
	step := tr.Result.Fit.Step
	if b := tr.Result.Fit.Best; b != nil {
		step = b.Step
	}
	e := trainer.NewEval(step, metrics)
	res := tr.Result
	res.Run.Test, res.Test, res.TestSeconds = true, &e, time.Since(start).Seconds()
	if err := writeResult(dir, res); err != nil {
		return nil, err
	}
	return res, nil
}

// ReadResult reads dir/result.json; ok is false when the run has not finished.
func ReadResult(dir string) (*Result, bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("experiment: run directory %s: %w", dir, err)
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, false, fmt.Errorf("experiment: %s: %w", filepath.Join(dir, "result.json"), err)
	}
	return &r, true, nil
}

func (run Run) fitConfig(taskInput int) trainer.FitConfig {
	c := run.Config
	return trainer.FitConfig{Steps: c.Steps, LearningRate: c.LearningRate, WeightDecay: c.WeightDecay, Warmup: c.Warmup,
		Schedule: c.Schedule, ClipNorm: c.ClipNorm, EvalEvery: c.EvalEvery, Patience: c.Patience,
		CheckpointEvery: max(1, c.Steps/20), Seed: c.Seed, NumTasks: len(c.Tasks), TaskInput: taskInput, TaskNames: c.Tasks,
		Devices: c.Devices}
}

func (run Run) sampler() datasets.SamplerConfig {
	return datasets.SamplerConfig{Strategy: run.Config.Sampling, Temperature: run.Config.SamplingTemperature, Seed: uint64(run.Config.Seed)}
}

func runSynthetic(env Env, run Run, dir string) (*trainer.FitResult, error) {
	sc := synthetic.DefaultConfig()
	sc.Conflict = run.Config.Conflict
	ts, err := synthetic.New(sc)
	if err != nil {
		return nil, err
	}
	if run.Config.NumTasks != ts.Tasks {
		return nil, fmt.Errorf("%w: field tasks: synthetic runs use all %d tasks, the run has %d", ErrConfig, ts.Tasks, run.Config.NumTasks)
	}
	inj, err := mtlcore.NewInjector(run.Config.Config)
	if err != nil {
		return nil, err
	}
	store := model.NewStore()
	if err := zoo.SetLinearBase(store, ts.W0, ts.DIn, ts.DOut); err != nil {
		return nil, err
	}
	linear := zoo.Linear(inj, ts.DOut)
	stream, err := ts.Draw(256, 1).Stream(run.Config.BatchSize, run.sampler())
	if err != nil {
		return nil, err
	}
	held := ts.Draw(128, 2)
	eval := func(int) ([]trainer.TaskMetrics, error) {
		mse, err := held.TaskMSE(env.Backend, store, linear)
		if err != nil {
			return nil, err
		}
		var out []trainer.TaskMetrics
		for task, m := range mse {
			out = append(out, trainer.TaskMetrics{Task: run.Config.Tasks[task], Metrics: map[string]float64{"mse": m}, Score: -m})
		}
		return out, nil
	}
	fn := func(scope *model.Scope, in []*Node) *Node { return linear(scope, in[0], in[1]) }
	var hooks []trainer.Hook
	if env.Recorder != nil && run.Config.AnalyzeEvery > 0 {
		batches := held.TaskBatches()
		hooks = append(hooks, trainer.Hook{Every: run.Config.AnalyzeEvery, Fn: func(step int) error {
			grads, err := analysis.TaskGradients(env.Backend, store, fn, loss.MeanSquaredError, batches, analysis.SharedVariables(store))
			if err != nil {
				return err
			}
			env.Recorder(run, step, analysis.CosineMatrix(grads))
			return nil
		}})
	}
	return trainer.Fit(env.Backend, store, fn, loss.MeanSquaredError, stream, eval, run.fitConfig(1), dir, env.onStep(run), hooks...)
}

func (env Env) onStep(run Run) func(int, float64) {
	if env.OnStep == nil {
		return nil
	}
	return func(step int, l float64) { env.OnStep(run, step, l) }
}

// textData adapts a training stream of batches (datasets.Batches, datasets.LMBatches) to trainer.Data.
type textData struct {
	b    train.Dataset
	next func() (train.Batch, error, bool)
}

func (d *textData) Next() (train.Batch, error) {
	if d.next == nil {
		d.next, _ = iter.Pull2(d.b.Iter())
	}
	b, err, ok := d.next()
	if !ok {
		return train.Batch{}, fmt.Errorf("experiment: training batches ran out")
	}
	return b, err
}

func (d *textData) Skip(n int) error {
	for range n {
		if _, err := d.Next(); err != nil {
			return err
		}
	}
	return nil
}

// runText fine-tunes the run's pretrained model on its text data: an encoder with one head per task (or one
// shared head), or a decoder as a causal language model (runDecoder).
func runText(env Env, run Run, dir string) (*trainer.FitResult, error) {
	c := run.Config
	modelDir, err := pretrained.Resolve(c.Model, pretrained.HubOptions{}, env.log())
	if err != nil {
		return nil, err
	}
	if pretrained.IsDecoder(modelDir) {
		return runDecoder(env, run, dir, modelDir)
	}
	if c.Chat {
		return nil, bad("chat", "%s is an encoder: a chat template writes a decoder's prompts", c.Model)
	}
	m, err := pretrained.Load(modelDir)
	if err != nil {
		return nil, err
	}
	set, err := runSet(run, dir)
	if err != nil {
		return nil, err
	}
	choices := set.MaxChoices()
	if c.SeqLen > m.Config.MaxPositions {
		return nil, bad("seq_len", "%d tokens exceed the model's max_position_embeddings %d (%s)", c.SeqLen, m.Config.MaxPositions, m.Dir)
	}
	inj, err := mtlcore.NewInjector(c.Config)
	if err != nil {
		return nil, err
	}
	if err := inj.CheckLayers(m.Config.LinearLayers()); err != nil {
		return nil, err
	}
	fn, err := textModel(c, m, inj, set.Spec.Tasks, choices)
	if err != nil {
		return nil, err
	}
	weights := taskWeights(c)
	data := &textData{b: &datasets.Batches{Set: set, Tokenizer: m.Tokenizer, Split: datasets.Train, BatchSize: c.BatchSize,
		SeqLen: c.SeqLen, Steps: c.Steps, Sampler: run.sampler(), TaskWeights: weights, Choices: choices}}
	rows := &encoderRows{backend: env.Backend, store: m.Store, tok: m.Tokenizer, seqLen: c.SeqLen,
		model: func(k int) (func(*model.Scope, []*Node) *Node, error) { return textModel(c, m, inj, set.Spec.Tasks, k) }}
	eval := func(int) ([]trainer.TaskMetrics, error) {
		return evaluateText(rows, set, datasets.Validation, c.EvalMax)
	}
	return trainer.Fit(env.Backend, m.Store, fn, losses.MultiTask, data, eval, run.fitConfig(3), dir, env.onStep(run),
		traceHook(m.Store, c.Config, dir, traceEvery(c)))
}

// numClasses is the width of the classification heads: the most classes of any task (at least 1).
func numClasses(tasks []datasets.TaskSpec) int {
	classes := 1
	for _, t := range tasks {
		classes = max(classes, len(t.Labels))
	}
	return classes
}

// writeSpec writes a dataset spec as indented JSON, atomically.
func writeSpec(path string, spec datasets.Spec) error {
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(data, '\n'))
}

// subsetIndex maps task names to their indices in all.
func subsetIndex(all []string, names []string) ([]int, error) {
	var idx []int
	for _, n := range names {
		i := slices.Index(all, n)
		if i < 0 {
			return nil, bad("tasks", "unknown task %q (tasks: %s)", n, strings.Join(all, ", "))
		}
		idx = append(idx, i)
	}
	return idx, nil
}

// textModel is the run's model for its tasks: the encoder with per-task heads (or one shared head), and with
// multiple-choice tasks a scorer per task over K = choices candidates per example (zoo.BERTChoiceModel).
func textModel(c Config, m *pretrained.Model, inj *mtlcore.Injector, tasks []datasets.TaskSpec, choices int) (func(*model.Scope, []*Node) *Node, error) {
	h := zoo.Heads{Tasks: len(tasks), Classes: numClasses(tasks), Choices: choices, Shared: c.SharedHead}
	for _, t := range tasks {
		h.MultipleChoice = append(h.MultipleChoice, t.MultipleChoice)
	}
	if c.SharedHead && slices.Contains(h.MultipleChoice, true) {
		return nil, bad("shared_head", "multiple-choice tasks score their candidates with a scorer of their own: a shared head is for classification tasks only")
	}
	return zoo.TaskModel(m.Config, inj, m.Pooling, h), nil
}

// restrict keeps the tasks idx of a set, renumbered.
func restrict(set *datasets.Set, idx []int) *datasets.Set {
	if len(idx) == len(set.Spec.Tasks) && slices.IsSorted(idx) {
		return set
	}
	out := &datasets.Set{Spec: set.Spec}
	out.Spec.Tasks = nil
	remap := map[int32]int32{}
	for i, t := range idx {
		out.Spec.Tasks = append(out.Spec.Tasks, set.Spec.Tasks[t])
		remap[int32(t)] = int32(i)
	}
	for _, e := range set.Examples {
		if n, ok := remap[e.Task]; ok {
			e.Task = n
			out.Examples = append(out.Examples, e)
		}
	}
	return out
}

// versions are the Go and GoMLX versions a result was produced with, and its backend's name (XLA, the Go
// backend: their numbers differ in the last bits).
func versions(b compute.Backend) map[string]string {
	v := map[string]string{"go": runtime.Version(), "goarch": runtime.GOARCH, "backend": b.Name()}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			switch d.Path {
			case "github.com/gomlx/gomlx", "github.com/gomlx/compute", "github.com/apache/arrow-go/v18":
				v[d.Path] = d.Version
			}
		}
	}
	return v
}

// evaluateText runs the model over a split (at most evalMax examples per task) and computes per-task
// metrics: accuracy, macro-F1 and MCC for classification (score: macro-F1), Pearson and Spearman for
// regression (score: Pearson), accuracy and its chance level (the mean of 1/K over the examples) for multiple
// choice (score: accuracy). A metric that is undefined — the correlation of a constant prediction — is left
// out and the score counts as 0 (chance).
func evaluateText(rows *encoderRows, set *datasets.Set, split datasets.Split, evalMax int) ([]trainer.TaskMetrics, error) {
	sub := evalSubset(set, split, evalMax)
	return scoreTasks(set, false, func(each func(e datasets.Example, row []float32)) error {
		return rows.each(sub, split, func(_ int, e datasets.Example, row []float32) { each(e, row) })
	})
}

// evalSubset keeps at most evalMax examples per task of a split (0: all), spread evenly over it (its examples
// come grouped by document, so the first ones would all be from a few documents).
func evalSubset(set *datasets.Set, split datasets.Split, evalMax int) *datasets.Set {
	sub := &datasets.Set{Spec: set.Spec}
	for _, pool := range set.Select(split) {
		for _, j := range spread(len(pool), evalMax) {
			sub.Examples = append(sub.Examples, set.Examples[pool[j]])
		}
	}
	return sub
}

// spread is which of a task's n examples evalSubset keeps: at most evalMax (0: all), evenly spaced.
func spread(n, evalMax int) []int {
	k := n
	if evalMax > 0 {
		k = min(k, evalMax)
	}
	out := make([]int, k)
	for j := range k {
		out[j] = j * n / k
	}
	return out
}

// scoreTasks computes per-task metrics from each evaluated example's row — its task's class logits, its
// candidates' scores (the highest is the prediction) or, for regression, the predicted value — that visit
// hands to each: accuracy, macro-F1 and MCC for classification (score: macro-F1), Pearson and Spearman for
// regression (score: Pearson), accuracy and its chance level (the mean of 1/K) for multiple choice (score:
// accuracy). A metric that is undefined — the correlation of a constant prediction — is left out and the
// score counts as 0 (chance). A row without a finite entry is no answer (argmax −1): wrong; with generated
// answers every classification and multiple-choice task also reports "answered", the fraction of its
// examples whose text named a candidate.
func scoreTasks(set *datasets.Set, generated bool, visit func(each func(e datasets.Example, row []float32)) error) ([]trainer.TaskMetrics, error) {
	type acc struct {
		truth, pred []int32
		y, yhat     []float64
		chance      float64 // Σ 1/K
		answered    int
	}
	per := make([]acc, len(set.Spec.Tasks))
	err := visit(func(e datasets.Example, row []float32) {
		t, a := set.Spec.Tasks[e.Task], &per[e.Task]
		if t.Regression {
			a.y, a.yhat = append(a.y, float64(e.Value)), append(a.yhat, float64(row[0]))
			return
		}
		if t.MultipleChoice {
			a.chance += 1 / float64(len(row))
		}
		p := argmax(row)
		if p >= 0 {
			a.answered++
		}
		a.truth, a.pred = append(a.truth, e.Label), append(a.pred, int32(p))
	})
	if err != nil {
		return nil, err
	}
	var res []trainer.TaskMetrics
	for i, t := range set.Spec.Tasks {
		a := per[i]
		tm := trainer.TaskMetrics{Task: t.Name, Metrics: map[string]float64{}, Examples: len(a.truth) + len(a.y)}
		switch {
		case t.Regression:
			tm.Metrics["pearson"], tm.Metrics["spearman"] = metrics.Pearson(a.y, a.yhat), metrics.Spearman(a.y, a.yhat)
			tm.Score = tm.Metrics["pearson"]
		case t.MultipleChoice:
			correct := 0
			for j := range a.truth {
				if a.truth[j] == a.pred[j] {
					correct++
				}
			}
			tm.Metrics["accuracy"] = float64(correct) / float64(len(a.truth))
			tm.Metrics["chance"] = a.chance / float64(len(a.truth))
			tm.Score = tm.Metrics["accuracy"]
		default:
			tm.Metrics["accuracy"], tm.Metrics["macro_f1"], tm.Metrics["mcc"] = metrics.Classification(a.truth, a.pred, len(t.Labels))
			tm.Score = tm.Metrics["macro_f1"]
		}
		if generated && !t.Regression {
			tm.Metrics["answered"] = float64(a.answered) / float64(len(a.truth))
		}
		for name, v := range tm.Metrics {
			if math.IsNaN(v) { // undefined (a constant prediction has no correlation): left out, not stored as NaN
				delete(tm.Metrics, name)
			}
		}
		if math.IsNaN(tm.Score) {
			tm.Score = 0 // a constant prediction has no correlation: score it as chance
		}
		res = append(res, tm)
	}
	return res, nil
}

// MajorityEval scores the majority answer (datasets.Set's MajorityPicks) on split as a run's evaluation is
// scored (scoreTasks): the same metrics and score per task — for a classification task its macro-F1 beside its
// accuracy — on the same examples (at most evalMax a task, as a run's validation evaluation with eval_max;
// 0: every example). Regression tasks, which have no majority answer, and tasks without examples in split are
// left out.
func MajorityEval(set *datasets.Set, split datasets.Split, evalMax int) ([]trainer.TaskMetrics, error) {
	picks, sel := set.MajorityPicks(split), set.Select(split)
	all, err := scoreTasks(set, false, func(each func(datasets.Example, []float32)) error {
		for t := range picks {
			for _, j := range spread(len(picks[t]), evalMax) {
				e, pick := set.Examples[sel[t][j]], picks[t][j]
				width := len(e.Choices)
				if !set.Spec.Tasks[t].MultipleChoice {
					width = len(set.Spec.Tasks[t].Labels)
				}
				row := make([]float32, width)
				row[pick] = 1
				each(e, row)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []trainer.TaskMetrics
	for t, tm := range all {
		if len(picks[t]) > 0 {
			out = append(out, tm)
		}
	}
	return out, nil
}

// encoderRows runs an encoder run's model over the examples of a split, in batches of 32, and hands each
// example's logits to a visitor. Multiple-choice data is run in groups of tasks by their most candidates K
// (datasets.Batches.Choices; at least 2, as zoo.TaskModel's): an example is encoded once per slot of its
// group's K, not of the most of any task, so a two-choice task does not also encode two empty slots of a
// four-choice one. Each sequence is encoded on its own, so an example's scores do not depend on its group.
// The graph of each K is compiled on first use and kept for the next evaluation.
type encoderRows struct {
	backend compute.Backend
	store   *model.Store
	model   func(choices int) (func(*model.Scope, []*Node) *Node, error) // the model for K sequences per example
	tok     datasets.Encoder
	seqLen  int
	execs   map[int]*backend.InferenceExec
}

// each calls visit with every example of split of set — its index in set.Examples, the example and its
// logits cut to its own width: its task's classes, its number of choices, or 1 (regression) — task by task
// within each group of tasks, in dataset order.
func (r *encoderRows) each(set *datasets.Set, split datasets.Split, visit func(i int, e datasets.Example, logits []float32)) error {
	pools := set.Select(split)
	multipleChoice := set.MaxChoices() > 0
	var groups []int                 // K of each group, increasing
	taskK := make([]int, len(pools)) // each task's K
	for t, pool := range pools {
		k := 0 // no multiple-choice task: one sequence per example (Batches.Choices 0)
		if multipleChoice {
			k = 2
			for _, i := range pool {
				k = max(k, len(set.Examples[i].Choices))
			}
		}
		taskK[t] = k
		if !slices.Contains(groups, k) {
			groups = append(groups, k)
		}
	}
	slices.Sort(groups)
	if r.execs == nil {
		r.execs = map[int]*backend.InferenceExec{}
	}
	for _, k := range groups {
		group := &datasets.Set{Spec: set.Spec}
		var order []int // indices into set.Examples, in the order Batches yields them
		for t, pool := range pools {
			if taskK[t] == k {
				order = append(order, pool...)
			}
		}
		for _, i := range order {
			group.Examples = append(group.Examples, set.Examples[i])
		}
		exec := r.execs[k]
		if exec == nil {
			fn, err := r.model(k)
			if err != nil {
				return err
			}
			exec = backend.NewInferenceExec(r.backend, r.store, func(scope *model.Scope, in []*Node) *Node { return fn(scope, in) })
			r.execs[k] = exec
		}
		batches := &datasets.Batches{Set: group, Tokenizer: r.tok, Split: split, BatchSize: 32, SeqLen: r.seqLen, Choices: k}
		next := 0
		for batch, err := range batches.Iter() {
			if err != nil {
				return err
			}
			out, err := exec.Call(batch.Inputs[0], batch.Inputs[1], batch.Inputs[2], batch.Inputs[3])
			if err != nil {
				return err
			}
			width := out[0].Shape().Dimensions[1]
			logits := tensors.MustCopyFlatData[float32](out[0])
			nclass := tensors.MustCopyFlatData[int32](batch.Labels[3])
			for row := range nclass {
				if next >= len(order) {
					break // padding rows of the last batch
				}
				n := max(1, int(nclass[row]))
				i := order[next]
				next++
				visit(i, set.Examples[i], logits[row*width:row*width+n])
			}
		}
	}
	return nil
}

// argmax is the index of row's largest entry (the first of ties), or −1 — no answer — when every entry is
// −∞ or NaN (a decoder's generated text that named no candidate).
func argmax(row []float32) int {
	best := -1
	for c, x := range row {
		if x > float32(math.Inf(-1)) && (best < 0 || x > row[best]) {
			best = c
		}
	}
	return best
}
