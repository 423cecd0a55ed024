package experiment

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/pretrained"
)

// multipleChoiceJSONL writes two multiple-choice tasks with train, validation and (withTest) test rows, and
// returns the file and each task's number of test rows.
func multipleChoiceJSONL(t *testing.T, withTest bool) (string, map[string]int) {
	var b strings.Builder
	tests := map[string]int{}
	splits := []string{"train", "train", "train", "validation"}
	if withTest {
		splits = append(splits, "test")
	}
	for i := range 30 {
		for _, task := range []string{"color", "size"} {
			split := splits[i%len(splits)]
			if split == "test" {
				tests[task]++
			}
			choices := []string{"red", "green", "blue"}
			if task == "size" {
				choices = []string{"big", "small"}
			}
			row, _ := json.Marshal(map[string]any{"task": task, "text": fmt.Sprintf("Example %d of %s.", i, task),
				"choices": choices, "label": i % len(choices), "split": split})
			b.Write(append(row, '\n'))
		}
	}
	p := filepath.Join(t.TempDir(), "mc.jsonl")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, tests
}

// A plan with "test" evaluates each run's best weights on every test example once it is trained; a run
// finished before its plan asked is tested, not retrained; the results table marks the test rows.
func TestPlanTestEvaluation(t *testing.T) {
	if _, err := pretrained.MiniLM.Path(); err != nil {
		if os.Getenv("MTLORA_REQUIRE_MODELS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	data, tests := multipleChoiceJSONL(t, true)
	plan, err := ParsePlan([]byte(fmt.Sprintf(`{"name": "t", "run": {"data": %q, "method": "lora", "rank": 2, "targets": "q",
		"steps": 2, "batch_size": 2, "seq_len": 16, "eval_max": 3}}`, data)))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := plan.Runs()
	if err != nil {
		t.Fatal(err)
	}
	env, dir := Env{Backend: backend.MustNew()}, t.TempDir()
	rep, err := RunSweep(env, runs, dir, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := rep.Runs[0]
	if before.Test != nil || before.FinalSplit() != datasets.Validation || before.Fit.Evals[0].Tasks[0].Examples != 3 {
		t.Fatalf("a plan without test: test %v, split %v, %d validation examples scored", before.Test, before.FinalSplit(), before.Fit.Evals[0].Tasks[0].Examples)
	}

	plan.Test = true
	if runs, err = plan.Runs(); err != nil {
		t.Fatal(err)
	}
	if runs[0].ID() != before.ID {
		t.Fatalf("asking for a test evaluation changed the run's id: %s, was %s", runs[0].ID(), before.ID)
	}
	rep, err = RunSweep(env, runs, dir, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := rep.Runs[0]
	if len(rep.Executed) != 0 || res.Seconds != before.Seconds || res.Test == nil || !res.Run.Test {
		t.Fatalf("the finished run: executed %v, seconds %v (was %v), test %v", rep.Executed, res.Seconds, before.Seconds, res.Test)
	}
	if res.Test.Step != res.Fit.Best.Step || res.FinalSplit() != datasets.Test || res.Final().Score != res.Test.Score {
		t.Errorf("test evaluation at step %d (best %d), final split %v", res.Test.Step, res.Fit.Best.Step, res.FinalSplit())
	}
	for _, m := range res.Test.Tasks {
		if m.Examples != tests[m.Task] {
			t.Errorf("task %s: %d test examples scored, the data has %d", m.Task, m.Examples, tests[m.Task])
		}
	}
	if onDisk, _, err := ReadResult(RunDir(dir, res.ID)); err != nil || onDisk.Test == nil || onDisk.Test.Score != res.Test.Score ||
		onDisk.Versions["backend"] != env.Backend.Name() {
		t.Errorf("result.json: %+v, %v", onDisk, err)
	}
	// The same numbers from the best weights by another path: Trained.EvaluateTasks on the test split.
	tr, err := OpenRun(env, RunDir(dir, res.ID))
	if err != nil {
		t.Fatal(err)
	}
	again, err := tr.EvaluateTasks(data, nil, datasets.Test, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range again {
		if m.Score != res.Test.Tasks[i].Score || m.Examples != res.Test.Tasks[i].Examples {
			t.Errorf("task %s: EvaluateTasks %v on %d, recorded %v on %d", m.Task, m.Score, m.Examples, res.Test.Tasks[i].Score, res.Test.Tasks[i].Examples)
		}
	}
	// Grouped by their number of candidates (color 3, size 2), examples score as when every example is
	// encoded with the most candidates of any task (K = 3 for all), as evaluation did before.
	set, _, err := tr.runSet(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	fn, err := tr.model(3)
	if err != nil {
		t.Fatal(err)
	}
	compare := func(when string) map[int][]float32 {
		grouped := map[int][]float32{}
		if err := tr.rows().each(set, datasets.Test, func(i int, _ datasets.Example, row []float32) { grouped[i] = slices.Clone(row) }); err != nil {
			t.Fatal(err)
		}
		exec, err := model.NewExec(env.Backend, tr.Model.Store, func(scope *model.Scope, in []*Node) *Node { return fn(scope, in) })
		if err != nil {
			t.Fatal(err)
		}
		defer exec.Finalize()
		var order []int
		for _, pool := range set.Select(datasets.Test) {
			order = append(order, pool...)
		}
		next := 0
		for batch, err := range (&datasets.Batches{Set: set, Tokenizer: tr.Model.Tokenizer, Split: datasets.Test, BatchSize: 32, SeqLen: 16, Choices: 3}).Iter() {
			if err != nil {
				t.Fatal(err)
			}
			out := exec.MustCall(batch.Inputs[0], batch.Inputs[1], batch.Inputs[2], batch.Inputs[3])[0]
			width, logits := out.Shape().Dimensions[1], tensors.MustCopyFlatData[float32](out)
			for row := 0; row < int(out.Shape().Dimensions[0]) && next < len(order); row++ {
				i := order[next]
				next++
				got := grouped[i]
				if len(got) != len(set.Examples[i].Choices) {
					t.Fatalf("%s: example %d: %d scores for %d candidates", when, i, len(got), len(set.Examples[i].Choices))
				}
				for c := range got {
					if d := math.Abs(float64(got[c] - logits[row*width+c])); d > 1e-5 {
						t.Errorf("%s: example %d candidate %d: grouped %v, all at K = 3 %v", when, i, c, got[c], logits[row*width+c])
					}
				}
			}
		}
		if next != len(grouped) || next != tests["color"]+tests["size"] {
			t.Errorf("%s: %d examples scored at K = 3, %d grouped, %d test examples", when, next, len(grouped), tests["color"]+tests["size"])
		}
		return grouped
	}
	trained := compare("trained")
	// Evaluation follows the weights: with every trained weight doubled, the graphs kept from above score as
	// a graph built afresh (the Go backend compiles an inference graph with the weights of that moment).
	for v := range tr.Model.Store.IterVariables() {
		if v.Trainable {
			w := tensors.MustCopyFlatData[float32](v.MustValue())
			for i := range w {
				w[i] *= 2
			}
			if err := v.SetValue(tensors.FromFlatDataAndDimensions(w, v.Shape().Dimensions...)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if after := compare("weights doubled"); reflect.DeepEqual(after, trained) {
		t.Errorf("doubling the trained weights changed no score")
	}
	// The results table: the test rows are the final ones.
	splits := map[string]int{}
	err = datasets.Scan(filepath.Join(dir, ResultsFile), datasets.ReadOptions{}, func(_ string, _ int64, rec arrow.RecordBatch) error {
		col := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }
		for i := range int(rec.NumRows()) {
			split := col("split").(*array.String).Value(i)
			if col("final").(*array.Boolean).Value(i) != (split == "test") {
				return fmt.Errorf("row %d: split %s, final %v", i, split, col("final").(*array.Boolean).Value(i))
			}
			splits[split]++
		}
		return nil
	})
	if err != nil || splits["test"] == 0 || splits["validation"] == 0 {
		t.Errorf("results table rows by split %v, %v", splits, err)
	}
}

// Asking for a test evaluation of data without test rows fails before training, naming the task; synthetic
// data has no test split.
func TestPlanTestNeedsTestRows(t *testing.T) {
	if _, err := pretrained.MiniLM.Path(); err != nil {
		t.Skip(err)
	}
	data, _ := multipleChoiceJSONL(t, false)
	plan, err := ParsePlan([]byte(fmt.Sprintf(`{"name": "t", "test": true, "run": {"data": %q, "method": "lora", "rank": 2, "targets": "q",
		"steps": 2, "batch_size": 2, "seq_len": 16}}`, data)))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := plan.Runs()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err = Execute(Env{Backend: backend.MustNew()}, runs[0], dir)
	if err == nil || !strings.Contains(err.Error(), `task "color" has no test examples`) || !strings.Contains(err.Error(), data) {
		t.Errorf("no test rows: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoints")); err == nil {
		t.Error("it trained before failing")
	}
	if _, err := ParsePlan([]byte(`{"name": "s", "test": true, "run": {"data": "synthetic"}}`)); err == nil || !strings.Contains(err.Error(), "synthetic data has no test split") {
		t.Errorf("synthetic with test: %v", err)
	}
}
