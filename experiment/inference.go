package experiment

import (
	"encoding/json"
	"fmt"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/gomlx/compute"
	"math"
	"path/filepath"
	"slices"
	"strings"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/pretrained"
	"github.com/mtlora/mtlora/trainer"
)

// Trained is a finished text run loaded for inference: its encoder with the run's best adapter and head weights.
type Trained struct {
	Result  *Result
	Model   *pretrained.Model
	Tasks   []datasets.TaskSpec // the run's tasks, in task-id order
	Classes int
	inj     *mtlcore.Injector
	fn      func(*model.Scope, []*Node) *Node
	exec    *model.Exec
	backend compute.Backend
}

// OpenRun loads the best weights of a finished text run (a directory of mtlora train or a plan's runs/<id>):
// its model by name, its tasks from the dataset spec it trained on (SpecFile in dir).
func OpenRun(env Env, dir string) (*Trained, error) {
	res, ok, err := ReadResult(dir)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("experiment: %s has no result.json: the run has not finished", dir)
	}
	c := res.Run.Config
	if c.Data == Synthetic {
		return nil, fmt.Errorf("experiment: run %s is on synthetic data; prediction and export need a text run", res.ID)
	}
	spec, err := datasets.ReadSpec(filepath.Join(dir, SpecFile))
	if err != nil {
		return nil, fmt.Errorf("experiment: run %s: %w", res.ID, err)
	}
	var names []string
	for _, t := range spec.Tasks {
		names = append(names, t.Name)
	}
	idx, err := subsetIndex(names, c.Tasks)
	if err != nil {
		return nil, err
	}
	m, err := openModel(env, c.Model)
	if err != nil {
		return nil, err
	}
	tr := &Trained{Result: res, Model: m}
	for _, i := range idx {
		tr.Tasks = append(tr.Tasks, spec.Tasks[i])
	}
	tr.Classes = numClasses(tr.Tasks)
	if tr.inj, err = mtlcore.NewInjector(c.Config); err != nil {
		return nil, err
	}
	if err := trainer.LoadWeights(filepath.Join(dir, "best"), m.Store); err != nil {
		return nil, err
	}
	tr.fn, tr.backend = textModel(c, m.Config, tr.inj, m.Pooling, len(tr.Tasks), tr.Classes), env.Backend
	if tr.exec, err = model.NewExec(env.Backend, m.Store, func(scope *model.Scope, in []*Node) *Node { return tr.fn(scope, in) }); err != nil {
		return nil, err
	}
	return tr, nil
}

// Prediction is a model output for one input: the label (classification) with its probability and every
// class's probability in the order of the task's labels, or the predicted value (regression).
type Prediction struct {
	Label         string
	Probability   float64
	Probabilities []float64
	Value         float64
}

// Predict runs the task's head on texts (and, for a pair task, pairs).
func (tr *Trained) Predict(task string, texts, pairs []string) ([]Prediction, error) {
	t := slices.IndexFunc(tr.Tasks, func(s datasets.TaskSpec) bool { return s.Name == task })
	if t < 0 {
		var names []string
		for _, s := range tr.Tasks {
			names = append(names, s.Name)
		}
		return nil, fmt.Errorf("experiment: unknown task %q (tasks of this run: %v)", task, names)
	}
	ts := tr.Tasks[t]
	if ts.Pair != (pairs != nil) {
		return nil, fmt.Errorf("experiment: task %q takes %s", task, map[bool]string{true: "text pairs", false: "single texts"}[ts.Pair])
	}
	seqLen := tr.Result.Run.Config.SeqLen
	batch, err := tr.Model.Tokenizer.EncodeBatch(texts, pairs, seqLen)
	if err != nil {
		return nil, err
	}
	ids, types, mask := batch.Tensors()
	taskIDs := make([]int32, len(texts))
	for i := range taskIDs {
		taskIDs[i] = int32(t)
	}
	out, err := tr.exec.Call(ids, types, mask, tensors.FromFlatDataAndDimensions(taskIDs, len(texts)))
	if err != nil {
		return nil, err
	}
	logits := tensors.MustCopyFlatData[float32](out[0])
	preds := make([]Prediction, len(texts))
	for i := range preds {
		row := logits[i*tr.Classes : (i+1)*tr.Classes]
		if ts.Regression {
			preds[i].Value = float64(row[0])
			continue
		}
		best, sum := 0, 0.0
		for c := range ts.Labels {
			if row[c] > row[best] {
				best = c
			}
		}
		for c := range ts.Labels {
			sum += math.Exp(float64(row[c] - row[best]))
		}
		probs := make([]float64, len(ts.Labels))
		for c := range probs {
			probs[c] = math.Exp(float64(row[c]-row[best])) / sum
		}
		preds[i] = Prediction{Label: ts.Labels[best], Probability: probs[best], Probabilities: probs}
	}
	return preds, nil
}

// Export writes, for every task of the run, a PEFT LoRA adapter (peft/<task>/, loadable onto the original
// Hugging Face model with its module names) and/or the merged encoder weights as a complete Hugging Face
// checkpoint (merged/<task>/). Task heads are not part of either: they are this toolkit's.
func (tr *Trained) Export(out string, peft, merged bool) error {
	cfg := tr.Result.Run.Config.Config
	for t, ts := range tr.Tasks {
		if peft {
			err := mtlcore.ExportPEFT(tr.Model.Store, cfg, t, filepath.Join(out, "peft", ts.Name), tr.baseModel(), tr.Model.ModulePath)
			if err != nil {
				return fmt.Errorf("experiment: export task %s: %w", ts.Name, err)
			}
		}
		if merged {
			m, err := mtlcore.Merge(tr.Model.Store, cfg, t)
			if err != nil {
				return fmt.Errorf("experiment: merge task %s: %w", ts.Name, err)
			}
			if err := tr.Model.SaveWeights(m, filepath.Join(out, "merged", ts.Name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// baseModel is the name PEFT adapters record as their base model: the Hub id where the run's model has
// one, else its checkpoint directory.
func (tr *Trained) baseModel() string {
	name := tr.Result.Run.Config.Model
	switch {
	case strings.EqualFold(name, MiniLM) || strings.EqualFold(name, pretrained.MiniLM.Name):
		return "sentence-transformers/all-MiniLM-L6-v2"
	case strings.HasPrefix(name, pretrained.HubPrefix):
		return strings.TrimPrefix(name, pretrained.HubPrefix)
	}
	if abs, err := filepath.Abs(tr.Model.Dir); err == nil {
		return abs
	}
	return tr.Model.Dir
}

// Evaluate scores the run's best weights on one split of other data (at most evalMax examples per task, 0:
// all): data names a dataset as Config.Data does; its tasks must be tasks of the run (by name) of the same
// kind, its labels in the run's vocabulary (matched by value, datasets.LabelKey). Metrics as in training.
func (tr *Trained) Evaluate(data string, split datasets.Split, evalMax int) ([]trainer.TaskMetrics, error) {
	src, err := OpenData(data)
	if err != nil {
		return nil, err
	}
	if src.Synthetic() {
		return nil, bad("data", "synthetic data cannot evaluate a text run")
	}
	set, err := src.Load()
	if err != nil {
		return nil, err
	}
	out := &datasets.Set{Spec: set.Spec}
	out.Spec.Tasks = tr.Tasks
	taskOf := make([]int32, len(set.Spec.Tasks))
	labelOf := make([][]int32, len(set.Spec.Tasks))
	for i, t := range set.Spec.Tasks {
		j := slices.IndexFunc(tr.Tasks, func(r datasets.TaskSpec) bool { return r.Name == t.Name })
		if j < 0 {
			return nil, bad("data", "%s: task %q is not a task of run %s (its tasks: %s)", data, t.Name, tr.Result.ID, strings.Join(taskNames(tr.Tasks), ", "))
		}
		r := tr.Tasks[j]
		if r.Regression != t.Regression || r.Pair != t.Pair {
			return nil, bad("data", "%s: task %q is %s here but %s in run %s", data, t.Name, taskKind(t), taskKind(r), tr.Result.ID)
		}
		taskOf[i] = int32(j)
		for _, l := range t.Labels {
			k := slices.IndexFunc(r.Labels, func(rl string) bool { return datasets.LabelKey(rl) == datasets.LabelKey(l) })
			if k < 0 {
				return nil, bad("data", "%s: task %q has label %q, which run %s never learned (its labels: %q)", data, t.Name, l, tr.Result.ID, r.Labels)
			}
			labelOf[i] = append(labelOf[i], int32(k))
		}
	}
	for _, e := range set.Examples {
		if !tr.Tasks[taskOf[e.Task]].Regression {
			e.Label = labelOf[e.Task][e.Label]
		}
		e.Task = taskOf[e.Task]
		out.Examples = append(out.Examples, e)
	}
	metrics, err := evaluateText(tr.backend, tr.Model.Store, tr.fn, tr.Model, out, split, tr.Classes, tr.Result.Run.Config.SeqLen, evalMax)
	if err != nil {
		return nil, err
	}
	// Tasks of the run that the data does not have are left out rather than reported as empty.
	var present []trainer.TaskMetrics
	for _, m := range metrics {
		if slices.ContainsFunc(set.Spec.Tasks, func(t datasets.TaskSpec) bool { return t.Name == m.Task }) {
			present = append(present, m)
		}
	}
	return present, nil
}

func taskNames(tasks []datasets.TaskSpec) []string {
	names := make([]string, len(tasks))
	for i, t := range tasks {
		names[i] = t.Name
	}
	return names
}

func taskKind(t datasets.TaskSpec) string {
	kind := "classification"
	if t.Regression {
		kind = "regression"
	}
	if t.Pair {
		kind = "text-pair " + kind
	}
	return kind
}

// PredictInputs predicts every input with its task's head, in batches of 32, in input order. An input of a
// task the run does not have, or with a second text for a single-text task, is an error naming its row.
func (tr *Trained) PredictInputs(inputs []datasets.Input) ([]Prediction, error) {
	out := make([]Prediction, len(inputs))
	byTask := map[string][]int{}
	var order []string
	for i, in := range inputs {
		t := slices.IndexFunc(tr.Tasks, func(s datasets.TaskSpec) bool { return s.Name == in.Task })
		if t < 0 {
			return nil, fmt.Errorf("%w: %s: row %d: task %q is not a task of run %s (its tasks: %s)", datasets.ErrData, in.File, in.Row,
				in.Task, tr.Result.ID, strings.Join(taskNames(tr.Tasks), ", "))
		}
		if !tr.Tasks[t].Pair && in.Pair != "" {
			return nil, fmt.Errorf("%w: %s: row %d: task %q takes single texts, the row has a pair", datasets.ErrData, in.File, in.Row, in.Task)
		}
		if byTask[in.Task] == nil {
			order = append(order, in.Task)
		}
		byTask[in.Task] = append(byTask[in.Task], i)
	}
	const chunk = 32
	for _, task := range order {
		idx := byTask[task]
		pair := tr.Tasks[slices.IndexFunc(tr.Tasks, func(s datasets.TaskSpec) bool { return s.Name == task })].Pair
		for lo := 0; lo < len(idx); lo += chunk {
			part := idx[lo:min(lo+chunk, len(idx))]
			texts := make([]string, len(part))
			var pairs []string
			if pair {
				pairs = make([]string, len(part))
			}
			for k, i := range part {
				texts[k] = inputs[i].Text
				if pair {
					pairs[k] = inputs[i].Pair
				}
			}
			preds, err := tr.Predict(task, texts, pairs)
			if err != nil {
				return nil, err
			}
			for k, i := range part {
				out[i] = preds[k]
			}
		}
	}
	return out, nil
}

// WritePredictions writes one Parquet row per input, atomically: row (1-based, in its file), task, text, pair
// (null for single texts), prediction (the label; null for regression), score (the label's probability, or
// the predicted value), probabilities (per class in the order of the task's labels; null for regression).
// The file's metadata key "mtlora.labels" holds each task's labels as JSON.
func (tr *Trained) WritePredictions(path string, inputs []datasets.Input, preds []Prediction) error {
	labels := map[string][]string{}
	regression := map[string]bool{}
	for _, t := range tr.Tasks {
		labels[t.Name], regression[t.Name] = t.Labels, t.Regression
	}
	meta, _ := json.Marshal(labels)
	md := arrow.NewMetadata([]string{"mtlora.labels", "mtlora.run"}, []string{string(meta), tr.Result.ID})
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "row", Type: arrow.PrimitiveTypes.Int64}, {Name: "task", Type: arrow.BinaryTypes.String},
		{Name: "text", Type: arrow.BinaryTypes.String}, {Name: "pair", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "prediction", Type: arrow.BinaryTypes.String, Nullable: true}, {Name: "score", Type: arrow.PrimitiveTypes.Float64},
		{Name: "probabilities", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64), Nullable: true},
	}, &md)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	defer b.Release()
	for i, in := range inputs {
		p := preds[i]
		b.Field(0).(*array.Int64Builder).Append(in.Row)
		b.Field(1).(*array.StringBuilder).Append(in.Task)
		b.Field(2).(*array.StringBuilder).Append(in.Text)
		if pair := tr.Tasks[slices.IndexFunc(tr.Tasks, func(s datasets.TaskSpec) bool { return s.Name == in.Task })].Pair; pair {
			b.Field(3).(*array.StringBuilder).Append(in.Pair)
		} else {
			b.Field(3).AppendNull()
		}
		lb := b.Field(6).(*array.ListBuilder)
		if regression[in.Task] {
			b.Field(4).AppendNull()
			b.Field(5).(*array.Float64Builder).Append(p.Value)
			lb.AppendNull()
			continue
		}
		b.Field(4).(*array.StringBuilder).Append(p.Label)
		b.Field(5).(*array.Float64Builder).Append(p.Probability)
		lb.Append(true)
		lb.ValueBuilder().(*array.Float64Builder).AppendValues(p.Probabilities, nil)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return writeParquet(path, schema, rec)
}
