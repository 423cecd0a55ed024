package experiment

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/pretrained"
	"github.com/mtlora/mtlora/trainer"
)

// Trained is a finished mtbench run loaded for inference: MiniLM with the run's best adapter and head weights.
type Trained struct {
	Result  *Result
	Model   *pretrained.Model
	Tasks   []datasets.TaskSpec
	Classes int
	inj     *mtlcore.Injector
	exec    *model.Exec
}

// OpenRun loads the best weights of a finished mtbench run (a directory of mtlora train or a sweep's runs/<id>).
func OpenRun(env Env, dir string) (*Trained, error) {
	res, ok, err := ReadResult(dir)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("experiment: %s has no result.json: the run has not finished", dir)
	}
	if res.Run.Benchmark != MTBench {
		return nil, fmt.Errorf("experiment: run %s is on %s; prediction and export need a text run (mtbench)", res.ID, res.Run.Benchmark)
	}
	m, err := pretrained.Load(env.ModelDir)
	if err != nil {
		return nil, err
	}
	spec, err := ReadBenchmarkTasks(env.DataDir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range spec {
		names = append(names, t.Name)
	}
	idx, err := subsetIndex(names, res.Run.Tasks)
	if err != nil {
		return nil, err
	}
	tr := &Trained{Result: res, Model: m, Classes: 1}
	for _, i := range idx {
		tr.Tasks = append(tr.Tasks, spec[i])
		tr.Classes = max(tr.Classes, len(spec[i].Labels))
	}
	if tr.inj, err = mtlcore.NewInjector(res.Run.Adapter); err != nil {
		return nil, err
	}
	if err := trainer.LoadWeights(filepath.Join(dir, "best"), m.Store); err != nil {
		return nil, err
	}
	fn := textModel(res.Run, m.Config, tr.inj, m.Pooling, len(tr.Tasks), tr.Classes)
	if tr.exec, err = model.NewExec(env.Backend, m.Store, func(scope *model.Scope, in []*Node) *Node { return fn(scope, in) }); err != nil {
		return nil, err
	}
	return tr, nil
}

// Prediction is a model output for one input: the label (classification) with its probability, or the
// predicted value (regression).
type Prediction struct {
	Label       string
	Probability float64
	Value       float64
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
	seqLen := tr.Result.Run.Spec.SeqLen
	if seqLen == 0 {
		seqLen = 64
	}
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
		preds[i] = Prediction{Label: ts.Labels[best], Probability: 1 / sum}
	}
	return preds, nil
}

// Export writes, for every task of the run, a PEFT LoRA adapter (peft/<task>/, loadable onto the original
// Hugging Face model with its module names) and/or the merged encoder weights as a complete Hugging Face
// checkpoint (merged/<task>/). Task heads are not part of either: they are this toolkit's.
func (tr *Trained) Export(out string, peft, merged bool) error {
	cfg := tr.Result.Run.Adapter
	for t, ts := range tr.Tasks {
		if peft {
			err := mtlcore.ExportPEFT(tr.Model.Store, cfg, t, filepath.Join(out, "peft", ts.Name), "sentence-transformers/all-MiniLM-L6-v2", tr.Model.ModulePath)
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

// ReadBenchmarkTasks returns the task specs of a prepared benchmark directory.
func ReadBenchmarkTasks(dataDir string) ([]datasets.TaskSpec, error) {
	spec, err := datasets.ReadSpec(filepath.Join(dataDir, "spec.json"))
	if err != nil {
		return nil, err
	}
	return spec.Tasks, nil
}
