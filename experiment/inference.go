package experiment

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/gomlx/compute"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/analysis"
	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/generate"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/pretrained"
	"github.com/mtlora/mtlora/trainer"
	"github.com/mtlora/mtlora/zoo"
)

// Trained is a finished text run loaded for inference: its encoder with the run's best adapter and head weights.
type Trained struct {
	Result *Result
	Model  *pretrained.Model   // the encoder of an encoder run (nil for a decoder run)
	Tasks  []datasets.TaskSpec // the run's tasks, in task-id order
	// Scoring is how a decoder run's Evaluate and Predict pick answers: the run's own, unless changed.
	Scoring     Scoring
	inj         *mtlcore.Injector
	backend     compute.Backend
	decoder     *loadedDecoder // the decoder of a decoder run
	encoderRows *encoderRows   // the encoder's compiled graphs (rows)
}

// store holds the run's weights.
func (tr *Trained) store() *model.Store {
	if tr.decoder != nil {
		return tr.decoder.Store
	}
	return tr.Model.Store
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
	tr := &Trained{Result: res, Scoring: c.Scoring}
	if tr.Scoring == "" { // a run recorded before scoring was a hyperparameter: it was evaluated by loglik
		tr.Scoring = ScoreLogLik
	}
	modelDir, err := pretrained.Resolve(c.Model, pretrained.HubOptions{}, env.log())
	if err != nil {
		return nil, err
	}
	if pretrained.IsDecoder(modelDir) {
		d, err := pretrained.OpenDecoder(modelDir)
		if err != nil {
			return nil, err
		}
		tmpl, err := chatTemplate(d, c.Chat)
		if err != nil {
			return nil, err
		}
		if tr.decoder, err = loadDecoder(d, tmpl); err != nil {
			return nil, err
		}
	} else if tr.Model, err = pretrained.Load(modelDir); err != nil {
		return nil, err
	}
	for _, i := range idx {
		tr.Tasks = append(tr.Tasks, spec.Tasks[i])
	}
	if tr.inj, err = mtlcore.NewInjector(c.Config); err != nil {
		return nil, err
	}
	if err := trainer.LoadWeights(filepath.Join(dir, "best"), tr.store()); err != nil {
		return nil, err
	}
	tr.backend = env.Backend
	if _, err := tr.model(1); err != nil { // shared_head with multiple choice, say: fail here, not at the first call
		return nil, err
	}
	return tr, nil
}

// Prediction is a model output for one input: the label (classification) with its probability and every
// class's probability in the order of the task's labels, or the predicted value (regression). A decoder's
// candidates have probabilities from their log-likelihoods (softmax over the candidates); with generated
// answers (scoring generate) the named candidate has probability 1, and text that named none leaves the
// prediction empty (Probabilities nil).
type Prediction struct {
	Label         string
	Probability   float64
	Probabilities []float64
	Value         float64
}

// model is the run's model for batches of K sequences per example.
func (tr *Trained) model(choices int) (func(*model.Scope, []*Node) *Node, error) {
	if tr.decoder != nil {
		return zoo.LlamaAnswers(tr.decoder.Config, tr.inj), nil
	}
	return textModel(tr.Result.Run.Config, tr.Model, tr.inj, tr.Tasks, choices)
}

// rows runs an encoder run's model over examples (encoderRows), its compiled graphs kept for the next call.
func (tr *Trained) rows() *encoderRows {
	if tr.encoderRows == nil {
		tr.encoderRows = &encoderRows{backend: tr.backend, store: tr.Model.Store, model: tr.model, tok: tr.Model.Tokenizer, seqLen: tr.Result.Run.Config.SeqLen}
	}
	return tr.encoderRows
}

// Predict runs the task's head on texts (and, for a pair task, pairs). Multiple-choice tasks take their
// candidates through PredictInputs.
func (tr *Trained) Predict(task string, texts, pairs []string) ([]Prediction, error) {
	inputs := make([]datasets.Input, len(texts))
	for i, t := range texts {
		inputs[i] = datasets.Input{File: "input", Row: int64(i + 1), Task: task, Text: t}
		if pairs != nil {
			inputs[i].Pair = pairs[i]
		}
	}
	if t := slices.IndexFunc(tr.Tasks, func(s datasets.TaskSpec) bool { return s.Name == task }); t >= 0 && tr.Tasks[t].Pair != (pairs != nil) {
		return nil, fmt.Errorf("experiment: task %q takes %s", task, map[bool]string{true: "text pairs", false: "single texts"}[tr.Tasks[t].Pair])
	}
	return tr.PredictInputs(inputs)
}

// Export writes, for every task of the run, a PEFT LoRA adapter (peft/<task>/, loadable onto the original
// Hugging Face model with its module names) and/or the merged encoder weights as a complete Hugging Face
// checkpoint (merged/<task>/). Task heads are not part of either: they are this toolkit's.
func (tr *Trained) Export(out string, peft, merged bool) error {
	cfg := tr.Result.Run.Config.Config
	var modulePath mtlcore.ModulePath
	var save func(*model.Store, string) error
	if tr.decoder != nil {
		modulePath, save = tr.decoder.ModulePath, tr.decoder.SaveWeights
	} else {
		modulePath, save = tr.Model.ModulePath, tr.Model.SaveWeights
	}
	for t, ts := range tr.Tasks {
		if peft {
			err := mtlcore.ExportPEFT(tr.store(), cfg, t, filepath.Join(out, "peft", ts.Name), tr.baseModel(), modulePath)
			if err != nil {
				return fmt.Errorf("experiment: export task %s: %w", ts.Name, err)
			}
		}
		if merged {
			m, err := mtlcore.Merge(tr.store(), cfg, t)
			if err != nil {
				return fmt.Errorf("experiment: merge task %s: %w", ts.Name, err)
			}
			if err := save(m, filepath.Join(out, "merged", ts.Name)); err != nil {
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
	case strings.EqualFold(name, pretrained.SmolLM2.Alias) || strings.EqualFold(name, pretrained.SmolLM2.Name):
		return "HuggingFaceTB/SmolLM2-135M-Instruct"
	case strings.HasPrefix(name, pretrained.HubPrefix):
		return strings.TrimPrefix(name, pretrained.HubPrefix)
	}
	dir := ""
	if tr.decoder != nil {
		dir = tr.decoder.Path
	} else {
		dir = tr.Model.Dir
	}
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// Evaluate scores the run's best weights on one split of other data (at most evalMax examples per task, 0:
// all): data names a dataset as Config.Data does; its tasks must be tasks of the run (by name) of the same
// kind, its labels in the run's vocabulary (matched by value, datasets.LabelKey). Metrics as in training.
func (tr *Trained) Evaluate(data string, split datasets.Split, evalMax int) ([]trainer.TaskMetrics, error) {
	return tr.EvaluateTasks(data, nil, split, evalMax)
}

// EvaluateTasks is Evaluate on the named tasks of data only (nil: all of them), as Config.Tasks chooses a
// run's tasks: a run trained on some tasks of a benchmark is evaluated on those.
func (tr *Trained) EvaluateTasks(data string, tasks []string, split datasets.Split, evalMax int) ([]trainer.TaskMetrics, error) {
	out, set, err := tr.runSet(data, tasks)
	if err != nil {
		return nil, err
	}
	var metrics []trainer.TaskMetrics
	if tr.decoder != nil {
		fn, err := tr.model(0) // a decoder scores candidates as rows of their own: no K
		if err != nil {
			return nil, err
		}
		al, err := tr.decoder.answerLen(out)
		if err != nil {
			return nil, err
		}
		metrics, err = evaluateDecoder(tr.backend, tr.decoder, fn, tr.inj, out, split, tr.Result.Run.Config.SeqLen, al, evalMax, tr.Scoring)
		if err != nil {
			return nil, err
		}
	} else if metrics, err = evaluateText(tr.rows(), out, split, evalMax); err != nil {
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

// runSet reads data (the named tasks of it; nil: all) in the run's terms: its tasks renumbered as the run's
// task ids, labels as the run's label ids. set is the data as read.
func (tr *Trained) runSet(data string, tasks []string) (out, set *datasets.Set, err error) {
	src, err := OpenData(data)
	if err != nil {
		return nil, nil, err
	}
	if src.Synthetic() {
		return nil, nil, bad("data", "synthetic data cannot evaluate a text run")
	}
	if set, err = src.Load(); err != nil {
		return nil, nil, err
	}
	if tasks != nil {
		idx, err := subsetIndex(src.TaskNames(), tasks)
		if err != nil {
			return nil, nil, err
		}
		set = restrict(set, idx)
	}
	out = &datasets.Set{Spec: set.Spec}
	out.Spec.Tasks = tr.Tasks
	taskOf := make([]int32, len(set.Spec.Tasks))
	labelOf := make([][]int32, len(set.Spec.Tasks))
	for i, t := range set.Spec.Tasks {
		j := slices.IndexFunc(tr.Tasks, func(r datasets.TaskSpec) bool { return r.Name == t.Name })
		if j < 0 {
			return nil, nil, bad("data", "%s: task %q is not a task of run %s (its tasks: %s)", data, t.Name, tr.Result.ID, strings.Join(taskNames(tr.Tasks), ", "))
		}
		r := tr.Tasks[j]
		if r.Kind() != t.Kind() {
			return nil, nil, bad("data", "%s: task %q is %s here but %s in run %s", data, t.Name, t.Kind(), r.Kind(), tr.Result.ID)
		}
		taskOf[i] = int32(j)
		for _, l := range t.Labels {
			k := slices.IndexFunc(r.Labels, func(rl string) bool { return datasets.LabelKey(rl) == datasets.LabelKey(l) })
			if k < 0 {
				return nil, nil, bad("data", "%s: task %q has label %q, which run %s never learned (its labels: %q)", data, t.Name, l, tr.Result.ID, r.Labels)
			}
			labelOf[i] = append(labelOf[i], int32(k))
		}
	}
	for _, e := range set.Examples {
		if r := tr.Tasks[taskOf[e.Task]]; !r.Regression && !r.MultipleChoice {
			e.Label = labelOf[e.Task][e.Label]
		}
		e.Task = taskOf[e.Task]
		out.Examples = append(out.Examples, e)
	}
	return out, set, nil
}

func taskNames(tasks []datasets.TaskSpec) []string {
	names := make([]string, len(tasks))
	for i, t := range tasks {
		names[i] = t.Name
	}
	return names
}

// PredictInputs predicts every input with its task's head, in input order. An input of a task the run does
// not have, with a second text for a single-text task, or a multiple-choice input with fewer than 2 choices
// is an error naming its row.
func (tr *Trained) PredictInputs(inputs []datasets.Input) ([]Prediction, error) {
	set, err := tr.inputSet(inputs)
	if err != nil {
		return nil, err
	}
	out := make([]Prediction, len(inputs))
	visit := func(each func(i int, e datasets.Example, row []float32)) error {
		return tr.rows().each(set, datasets.Test, each)
	}
	if tr.decoder != nil {
		fn, err := tr.model(0) // a decoder scores candidates as rows of their own: no K
		if err != nil {
			return nil, err
		}
		al, err := tr.decoder.answerLen(set)
		if err != nil {
			return nil, err
		}
		visit = func(each func(i int, e datasets.Example, row []float32)) error {
			i := 0
			return decoderRows(tr.backend, tr.decoder, fn, tr.inj, set, tr.Result.Run.Config.SeqLen, al, tr.Scoring, func(e datasets.Example, row []float32) {
				each(i, e, row)
				i++
			})
		}
	}
	err = visit(func(i int, e datasets.Example, row []float32) {
		ts := tr.Tasks[e.Task]
		if ts.Regression {
			out[i].Value = float64(row[0])
			return
		}
		best := argmax(row)
		if best < 0 { // a generated answer that named no candidate
			return
		}
		probs, sum := make([]float64, len(row)), 0.0
		for c := range row {
			probs[c] = math.Exp(float64(row[c] - row[best]))
			sum += probs[c]
		}
		for c := range probs {
			probs[c] /= sum
		}
		label := fmt.Sprint(best)
		if !ts.MultipleChoice {
			label = ts.Labels[best]
		}
		out[i] = Prediction{Label: label, Probability: probs[best], Probabilities: probs}
	})
	return out, err
}

// Generate continues each input's prompt (as training wrote it: datasets.PromptOf, in the run's format) with a decoder run's
// adapters for its task, greedily, up to maxNew tokens, stopping at EOS or a newline; the inputs are
// checked as PredictInputs checks them.
func (tr *Trained) Generate(inputs []datasets.Input, maxNew int) ([]generate.Output, error) {
	if tr.decoder == nil {
		return nil, fmt.Errorf("experiment: run %s fine-tuned an encoder: only decoder runs generate text", tr.Result.ID)
	}
	set, err := tr.inputSet(inputs)
	if err != nil {
		return nil, err
	}
	m := tr.decoder
	keep := tr.Result.Run.Config.SeqLen - maxNew
	var prompts [][]int32
	var tasks []int32
	for _, e := range set.Examples {
		p, err := m.promptOf(set, e)
		if err != nil {
			return nil, err
		}
		ids, err := p.EncodeText(m.Tokenizer, keep)
		if err != nil {
			return nil, err
		}
		prompts, tasks = append(prompts, ids), append(tasks, e.Task)
	}
	return m.generatorOf(tr.backend, tr.inj).Greedy(prompts, generate.Options{MaxNew: maxNew, Stop: []string{"\n"}, TaskIDs: tasks})
}

// inputSet checks inputs against the run's tasks and makes them a set of test examples, in input order.
func (tr *Trained) inputSet(inputs []datasets.Input) (*datasets.Set, error) {
	set := &datasets.Set{Spec: datasets.Spec{Name: "predict", Tasks: tr.Tasks}}
	for _, in := range inputs {
		t := slices.IndexFunc(tr.Tasks, func(s datasets.TaskSpec) bool { return s.Name == in.Task })
		if t < 0 {
			return nil, fmt.Errorf("%w: %s: row %d: task %q is not a task of run %s (its tasks: %s)", datasets.ErrData, in.File, in.Row,
				in.Task, tr.Result.ID, strings.Join(taskNames(tr.Tasks), ", "))
		}
		ts := tr.Tasks[t]
		if !ts.Pair && in.Pair != "" {
			return nil, fmt.Errorf("%w: %s: row %d: task %q takes single texts, the row has a pair", datasets.ErrData, in.File, in.Row, in.Task)
		}
		if ts.MultipleChoice != (in.Choices != nil) || (ts.MultipleChoice && len(in.Choices) < 2) {
			return nil, fmt.Errorf("%w: %s: row %d: task %q is %s, the row has %d choices", datasets.ErrData, in.File, in.Row, in.Task, ts.Kind(), len(in.Choices))
		}
		set.Examples = append(set.Examples, datasets.Example{Task: int32(t), Text: in.Text, Pair: in.Pair, Choices: in.Choices, Split: datasets.Test})
	}
	return set, nil
}

// WritePredictions writes one Parquet row per input, atomically: row (1-based, in its file), task, text, pair
// (null for single texts), prediction (the label; null for regression), score (the label's probability, or
// the predicted value), probabilities (per class in the order of the task's labels; null for regression).
// A generated answer that named no candidate has a null prediction and probabilities, and score 0.
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
		if p.Probabilities == nil { // no answer
			b.Field(4).AppendNull()
			b.Field(5).(*array.Float64Builder).Append(0)
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

// TaskNames are the run's tasks in task-id order.
func (tr *Trained) TaskNames() []string { return taskNames(tr.Tasks) }

// Layers reads what the run's adapters learned in every adapted layer (analysis.AnalyzeLayers: Λ_t and its
// diagonal, mixing weights softmax(w_t/τ), how the tasks' updates relate), without inputs.
func (tr *Trained) Layers() ([]analysis.LayerReport, error) {
	c := tr.Result.Run.Config.Config
	c.NumTasks = len(tr.Tasks)
	return analysis.AnalyzeLayers(tr.store(), c, nil)
}
