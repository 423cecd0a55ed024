package experiment

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/mtlora/mtlora/analysis"
	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/datasets/benchmark"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/pretrained"
)

// The real path end to end at a tiny size: a few MTL-LoRA steps of MiniLM on two mtbench tasks, then the
// finished run predicts and exports a PEFT adapter per task that reads back with the trained rank.
func TestMTBenchRunPredictExport(t *testing.T) {
	requireMTBench(t)
	plan, err := ParsePlan([]byte(`{"name": "tiny", "run": {"data": "mtbench", "method": "mtl-lora", "rank": 4,
		"targets": "q,v", "tasks": ["spam", "afinn"], "steps": 4, "batch_size": 8, "seq_len": 32, "learning_rate": 0.002, "eval_max": 16}}`))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := plan.Runs()
	if err != nil {
		t.Fatal(err)
	}
	env := Env{Backend: backend.MustNew()}
	dir := t.TempDir()
	res, err := Execute(env, runs[0], dir)
	if err != nil {
		t.Fatal(err)
	}
	if f := res.Final(); len(f.Tasks) != 2 || f.Tasks[0].Task != "spam" || f.Tasks[1].Metrics["pearson"] == 0 && f.Tasks[1].Metrics["spearman"] == 0 {
		t.Errorf("final evaluation %+v", f)
	}
	tr, err := OpenRun(env, dir)
	if err != nil {
		t.Fatal(err)
	}
	preds, err := tr.Predict("spam", []string{"Subject: cheap pills", "Subject: lunch?"}, nil)
	if err != nil || len(preds) != 2 || (preds[0].Label != "ham" && preds[0].Label != "spam") {
		t.Fatalf("predictions %+v, %v", preds, err)
	}
	if _, err := tr.Predict("opinion", []string{"x"}, nil); err == nil {
		t.Error("predicted a task the run was not trained on")
	}
	out := t.TempDir()
	if err := tr.Export(out, true, false); err != nil {
		t.Fatal(err)
	}
	pc, factors, err := mtlcore.ReadPEFT(filepath.Join(out, "peft", "afinn"))
	if err != nil {
		t.Fatal(err)
	}
	if pc.R != 4 || len(factors) != 12 { // q and v in 6 layers
		t.Errorf("PEFT export: r=%d, %d modules", pc.R, len(factors))
	}
	if _, ok := factors["encoder.layer.3.attention.self.value"]; !ok {
		t.Errorf("PEFT modules are not named as in the Hugging Face model: %v", keys(factors))
	}

	// What the adapters learned, per layer: Λ_t's diagonals are the stored λ (read here straight from the
	// store), each task's mixing weights a distribution; a chart per layer and one of all mixing weights.
	layers, err := tr.Layers()
	if err != nil || len(layers) != 12 {
		t.Fatalf("%d adapted layers (want q and v in 6 blocks), %v", len(layers), err)
	}
	for _, l := range layers {
		lam := tensors.MustCopyFlatData[float32](tr.store().GetVariable(l.Layer + "/adapter/lambda").MustValue()) // [T, r]
		for task, d := range l.LambdaDiagonal {
			for k, v := range d {
				if float32(v) != lam[task*4+k] {
					t.Fatalf("%s: λ_%d[%d] = %v, the store holds %v", l.Layer, task, k, v, lam[task*4+k])
				}
			}
		}
		for _, m := range l.Mixing {
			if sum := m[0] + m[1] + m[2]; math.Abs(sum-1) > 1e-9 {
				t.Errorf("%s: mixing weights %v sum to %v", l.Layer, m, sum)
			}
		}
	}
	if charts := InspectionCharts(tr.TaskNames(), layers); len(charts) != 13 {
		t.Errorf("%d inspection charts, want 12 Λ_t heatmaps and 1 of the mixing weights", len(charts))
	}
	// Training recorded Λ_t and the mixing weights along the way (10 times when evaluating only at the
	// end: here every step); the last record is the weights the run kept.
	trace, err := ReadTrace(dir)
	if err != nil || len(trace) != 4 || trace[3].Step != 4 || len(trace[3].Layers) != 12 {
		t.Fatalf("trace: %d records, %v", len(trace), err)
	}
	for i, l := range trace[3].Layers {
		if fmt.Sprint(l.LambdaDiagonal) != fmt.Sprint(layers[i].LambdaDiagonal) || fmt.Sprint(l.Mixing) != fmt.Sprint(layers[i].Mixing) {
			t.Errorf("%s: the last trace record differs from the run's weights", l.Layer)
		}
	}
	if charts := TraceCharts(tr.TaskNames(), trace); len(charts) != 2 {
		t.Errorf("%d charts over training, want 2", len(charts))
	}

	// Task separation on real inputs: per adapted layer, 6 validation examples of each task; each point is
	// Λ_t·A·x̄ of its own task, which is what the run's factors give for that x̄.
	seps, err := tr.Separation("mtbench", datasets.Validation, 6)
	if err != nil || len(seps) != 12 {
		t.Fatalf("%d layers separated, %v", len(seps), err)
	}
	for _, s := range seps {
		if len(s.Tasks) != 12 || s.Tasks[0] != 0 || s.Tasks[11] != 1 || len(s.TSNE) != 12 || s.Probe < 0 || s.Probe > 1 || s.Silhouette < -1 || s.Silhouette > 1 {
			t.Fatalf("%s: %+v", s.Layer, s)
		}
	}
	l := mtlcore.Layers(tr.store())[11]
	sub := evalSubset(runSetOf(t, tr), datasets.Validation, 6)
	for i := range sub.Examples {
		sub.Examples[i].Split = datasets.Test
	}
	inputs, err := tr.LayerInputs(sub)
	if err != nil {
		t.Fatal(err)
	}
	x := inputs[l.Path][11]                                                                                  // the last example, of task 1
	a := tensors.MustCopyFlatData[float32](tr.store().GetVariable(l.Path + "/adapter/lora_A").MustValue())   // [dIn, r]
	lam := tensors.MustCopyFlatData[float32](tr.store().GetVariable(l.Path + "/adapter/lambda").MustValue()) // [T, r]
	for k := range 4 {
		var z float64
		for j, v := range x {
			z += float64(a[j*4+k]) * v
		}
		z *= float64(lam[4+k])
		if got := seps[11].Features[11][k]; math.Abs(got-z) > 1e-5*math.Max(1, math.Abs(z)) {
			t.Errorf("%s: feature %d of the last example %v, λ_1·(A·x̄) %v", l.Path, k, got, z)
		}
	}
	charts, err := SeparationCharts(tr.TaskNames(), []string{"MTL-LoRA"}, [][]analysis.Separation{seps}, []string{"layer_5/attention/value"})
	if err != nil || len(charts) != 2 {
		t.Errorf("%d separation charts, want the per-layer scores and one t-SNE picture: %v", len(charts), err)
	}
	if _, err := SeparationCharts(tr.TaskNames(), []string{"MTL-LoRA"}, [][]analysis.Separation{seps}, []string{"layer_9/x"}); err == nil || !strings.Contains(err.Error(), `no adapted layer "layer_9/x"`) {
		t.Errorf("an unknown layer: %v", err)
	}
}

// requireMTBench skips (or with MTLORA_REQUIRE_MODELS=1 and MTLORA_REQUIRE_DATA=1 fails) a test that needs
// all-MiniLM-L6-v2 and mtbench.
func requireMTBench(t *testing.T) {
	t.Helper()
	_, err1 := pretrained.MiniLM.Path()
	_, err2 := benchmark.Path()
	if err1 != nil || err2 != nil {
		if os.Getenv("MTLORA_REQUIRE_MODELS") == "1" && os.Getenv("MTLORA_REQUIRE_DATA") == "1" {
			t.Fatal(err1, err2)
		}
		t.Skip("needs all-MiniLM-L6-v2 and mtbench (mtlora fetch-model; mtlora prepare-benchmark)")
	}
}

func runSetOf(t *testing.T, tr *Trained) *datasets.Set {
	set, _, err := tr.runSet("mtbench", tr.TaskNames())
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// With shared_head, one head serves every task: its weights are [1, H, classes].
func TestMTBenchSharedHead(t *testing.T) {
	requireMTBench(t)
	plan, err := ParsePlan([]byte(`{"name": "shared", "run": {"data": "mtbench", "method": "lora", "rank": 2, "targets": "q",
		"tasks": ["spam", "opinion"], "shared_head": true, "steps": 2, "batch_size": 4, "seq_len": 16, "learning_rate": 0.002, "eval_max": 8}}`))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := plan.Runs()
	if err != nil {
		t.Fatal(err)
	}
	env := Env{Backend: backend.MustNew()}
	dir := t.TempDir()
	if _, err := Execute(env, runs[0], dir); err != nil {
		t.Fatal(err)
	}
	tr, err := OpenRun(env, dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := tr.Model.Store.GetVariable("/heads/weights").Shape().Dimensions; d[0] != 1 {
		t.Errorf("shared head weights %v", d)
	}
}

// Rows of generated answers: a row without a finite entry is no answer — wrong, and left out of "answered".
func TestScoreTasksGenerated(t *testing.T) {
	inf := float32(math.Inf(-1))
	set := &datasets.Set{Spec: datasets.Spec{Tasks: []datasets.TaskSpec{{Name: "yn", Labels: []string{"no", "yes"}}, {Name: "mc", MultipleChoice: true}}}}
	rows := []struct {
		e   datasets.Example
		row []float32
	}{
		{datasets.Example{Task: 0, Label: 1}, []float32{inf, 0}},   // right
		{datasets.Example{Task: 0, Label: 0}, []float32{inf, inf}}, // no answer
		{datasets.Example{Task: 0, Label: 0}, []float32{0, inf}},   // right
		{datasets.Example{Task: 0, Label: 1}, []float32{0, inf}},   // wrong
		{datasets.Example{Task: 1, Label: 2}, []float32{inf, inf, 0}},
		{datasets.Example{Task: 1, Label: 0}, []float32{inf, inf, inf, inf}},
	}
	visit := func(each func(e datasets.Example, row []float32)) error {
		for _, r := range rows {
			each(r.e, r.row)
		}
		return nil
	}
	got, err := scoreTasks(set, true, visit)
	if err != nil {
		t.Fatal(err)
	}
	if m := got[0].Metrics; m["accuracy"] != 0.5 || m["answered"] != 0.75 {
		t.Errorf("yn: %v, want accuracy 0.5, answered 0.75", m)
	}
	if m := got[1].Metrics; m["accuracy"] != 0.5 || m["answered"] != 0.5 || math.Abs(m["chance"]-(1.0/3+1.0/4)/2) > 1e-12 {
		t.Errorf("mc: %v, want accuracy 0.5, answered 0.5", m)
	}
	if plain, _ := scoreTasks(set, false, visit); plain[0].Metrics["answered"] != 0 || len(plain[0].Metrics) != 3 {
		t.Errorf("answered reported for scores that are not generated: %v", plain[0].Metrics)
	}
}
