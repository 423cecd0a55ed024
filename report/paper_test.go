package report

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/pretrained"
	"github.com/mtlora/mtlora/trainer"
)

func fakeRun(m mtlcore.Method, lambda mtlcore.LambdaForm, seed int64, scores ...float64) *experiment.Result {
	c := experiment.Defaults()
	c.Method, c.Lambda, c.Seed = m, lambda, seed
	r := &experiment.Result{ID: "x", Run: experiment.Run{Config: c, TrainableParams: 100}}
	e := trainer.Eval{Step: 10}
	for i, s := range scores {
		e.Tasks = append(e.Tasks, trainer.TaskMetrics{Task: []string{"a", "b"}[i], Score: s, Metrics: map[string]float64{"accuracy": s, "chance": 0.25 * float64(i+1)}, Examples: 100})
		e.Score += s / float64(len(scores))
	}
	r.Fit.Evals = []trainer.Eval{e}
	return r
}

// Runs that differ only by seed make one row; a hyperparameter that differs between rows names them; the
// chance row closes a multiple-choice table; comparisons pair runs by seed.
func TestMainTableAndComparisons(t *testing.T) {
	var results []*experiment.Result
	for s := int64(1); s <= 3; s++ {
		results = append(results,
			fakeRun(mtlcore.LoRA, mtlcore.LambdaDiagonal, s, 0.5+0.01*float64(s), 0.6),
			fakeRun(mtlcore.MTLLoRA, mtlcore.LambdaDiagonal, s, 0.55+0.01*float64(s), 0.62+0.001*float64(s)),
			fakeRun(mtlcore.MTLLoRA, mtlcore.LambdaFull, s, 0.4, 0.7))
	}
	tab := MainTable("main", results, Baseline{Name: "majority", Scores: map[string]float64{"a": 0.5, "b": 0.7}}, Baseline{Name: "partial", Scores: map[string]float64{"a": 1}},
		Baseline{Name: "none", Scores: map[string]float64{"c": 1}})
	if len(tab.Rows) != 6 || tab.Rows[4][0] != "majority" || tab.Rows[4][3] != "0.6000" || tab.Rows[1][0] != "mtl-lora r=8 lambda=diagonal" || tab.Rows[2][0] != "mtl-lora r=8 lambda=full" || tab.Rows[3][0] != "chance" {
		t.Fatalf("rows %q", tab.Rows)
	}
	// a baseline of some tasks: "—" for the others and no average; one of none of them: no row
	if want := "partial|||—|1.0000|—"; strings.Join(tab.Rows[5], "|") != want {
		t.Errorf("partial baseline %q, want %q", tab.Rows[5], want)
	}
	if tab.Rows[0][2] != "3" || tab.Rows[0][4] != "0.5200 ± 0.0100" || tab.Rows[3][3] != "0.3750" || tab.Rows[3][5] != "0.5000" {
		t.Errorf("rows %q", tab.Rows)
	}
	if _, _, err := CompareTo(results, "mtl-lora"); err == nil || !strings.Contains(err.Error(), "name one") {
		t.Errorf("an ambiguous reference: %v", err)
	}
	perTask, perSeed, err := CompareTo(results, "lora")
	if err != nil {
		t.Fatal(err)
	}
	c := perTask[0]
	if c.A != "lora r=8 lambda=diagonal" || c.B != "mtl-lora r=8 lambda=diagonal" || c.Pairs != 6 || c.Wins != 6 {
		t.Errorf("per task %+v", c)
	}
	// differences: task a 0.05 for every seed, task b 0.02 + 0.001·seed
	want := (3*0.05 + 3*0.02 + 0.006) / 6
	if math.Abs(c.MeanDiff-want) > 1e-12 || perSeed[0].Pairs != 3 || perSeed[1].Wins != 0 {
		t.Errorf("mean difference %v, want %v; per seed %+v", c.MeanDiff, want, perSeed)
	}
	if tab := ComparisonTable("vs LoRA", perTask, perSeed); len(tab.Rows) != 2 || !strings.HasPrefix(tab.Rows[0][2], "+0.0") ||
		tab.Rows[0][4] != fmt.Sprintf("%.3g (%.3g)", perTask[0].PT, HolmAdjust([]float64{perTask[0].PT, perTask[1].PT})[0]) {
		t.Errorf("comparison table %q", tab.Rows)
	}
	one, oneSeed, err := CompareTo(results[:3], "lora") // one seed: the per-seed comparison is untested
	if err != nil || oneSeed[0].Pairs != 1 || !math.IsNaN(oneSeed[0].PT) || math.Abs(oneSeed[0].MeanDiff-0.0355) > 1e-12 || one[0].Pairs != 2 {
		t.Errorf("one seed: %+v, %+v, %v", one, oneSeed, err)
	}
	if tab := ComparisonTable("", one, oneSeed); tab.Rows[0][7] != "—" || tab.Rows[0][6] != "+0.0355 (1 seed)" || tab.Rows[0][2] != "+0.0355 ± 0.0205 (2 pairs)" {
		t.Errorf("one seed's p-value shown as %q", tab.Rows[0][7])
	}
	if charts := TaskCurves(results); len(charts) != 2 {
		t.Errorf("%d learning-curve charts, want one per task", len(charts))
	}
	page, err := MainTablePage("main", "", results, "lora")
	if err != nil || len(page.Charts) != 3 || len(page.Tables) != 3 || !strings.HasPrefix(page.Tables[1].Title, "Tasks learned") {
		t.Errorf("main-table page: %d charts, %d tables, %v", len(page.Charts), len(page.Tables), err)
	}
	// the average-score chart draws chance and each baseline with every task's score at MainTable's averages
	page, err = MainTablePage("main", "", results, "", Baseline{Name: "majority", Scores: map[string]float64{"a": 0.5, "b": 0.7}},
		Baseline{Name: "partial", Scores: map[string]float64{"a": 1}})
	if err != nil {
		t.Fatal(err)
	}
	body, err := page.Body()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"name":"chance","yAxis":0.375`, `"name":"majority","yAxis":0.6`, "dashed: chance, majority"} {
		if !strings.Contains(body, want) {
			t.Errorf("the average-score chart lacks %s", want)
		}
	}
	if strings.Contains(body, `"name":"partial"`) {
		t.Error("a baseline of some tasks drawn as an average")
	}
	results[0].Fit.Evals[0].Tasks[0].Examples = 0 // a run evaluated before examples were counted: said, not hidden
	if page, err := MainTablePage("main", "", results, ""); err != nil || len(page.Tables) != 1 || !strings.Contains(strings.Join(page.Notes, " "), "Tasks learned: not shown") {
		t.Errorf("main-table page without example counts: %d tables, notes %q, %v", len(page.Tables), page.Notes, err)
	}
	if _, err := MainTablePage("main", "", results, "dora"); err == nil {
		t.Error("a reference that is not among the results")
	}
	results[0].Fit.Evals[0].Tasks[0].Examples = 100
	if page, err := AblationPage("Λ", "", results, ""); err != nil || len(page.Charts) != 1 || len(page.Tables) != 2 || len(page.Tables[0].Rows) != 4 {
		t.Errorf("ablation page: %d charts, tables %+v, %v", len(page.Charts), page.Tables, err)
	}
	// the reference by some words of its name; with one seed a note says what the comparison cannot tell
	page, err = AblationPage("Λ", "", results[:3], "lambda=full", Baseline{Name: "majority", Scores: map[string]float64{"a": 0.5}, Levels: map[string]float64{"a": 0.5}})
	if err != nil || len(page.Tables) != 3 || page.Tables[2].Rows[0][1] != "mtl-lora r=8 lambda=full" || !strings.HasPrefix(page.Tables[2].Title, "Paired comparison with mtl-lora r=8 lambda=full (") || page.Tables[0].Rows[4][0] != "majority" ||
		!strings.Contains(strings.Join(page.Notes, " "), "One seed") {
		t.Errorf("ablation page with a reference: tables %+v, notes %q, %v", page.Tables, page.Notes, err)
	}
	if _, err := AblationPage("Λ", "", results, "lambda=none"); err == nil {
		t.Error("an ablation reference that names no configuration")
	}
}

func TestBinomialAboveMatchesSciPy(t *testing.T) {
	data, err := os.ReadFile("testdata/binomial.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []struct {
			K, N   int
			P      float64
			PValue float64 `json:"p_value"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) < 100 {
		t.Fatalf("%d cases", len(doc.Cases))
	}
	for _, c := range doc.Cases {
		got := BinomialAbove(c.K, c.N, c.P)
		if c.PValue < 1e-300 && got < 1e-300 {
			continue // both underflow
		}
		if math.Abs(got-c.PValue) > 1e-10*c.PValue {
			t.Errorf("P(X ≥ %d | n = %d, p = %.4g) = %.15g, SciPy %.15g", c.K, c.N, c.P, got, c.PValue)
		}
	}
}

// A task is learned in a run when its accuracy on the examples scored beats the level by the binomial test:
// 60 of 100 beats 0.5 (p = 0.028) but not 0.55 (p = 0.17); a baseline without the task shows "—".
func TestLearnedTable(t *testing.T) {
	var results []*experiment.Result
	for s := int64(1); s <= 2; s++ {
		results = append(results, fakeRun(mtlcore.LoRA, mtlcore.LambdaDiagonal, s, 0.6, 0.5))
	}
	results[1].Fit.Evals[0].Tasks[0].Metrics["accuracy"] = 0.55
	tab, err := LearnedTable("learned", results, 0.05, Baseline{Name: "majority", Scores: map[string]float64{"a": 0.9}, Levels: map[string]float64{"a": 0.55}})
	if err != nil {
		t.Fatal(err)
	}
	// task a: chance 0.25, both runs beyond it; neither beyond 0.55 (60 of 100 against 0.55: p = 0.17).
	// task b: chance 0.5, 50 of 100 is not beyond it; no majority score for b.
	if want := []string{"lora r=8", "2", "2/2 · 0/2", "0/2 · —"}; strings.Join(tab.Rows[0], "|") != strings.Join(want, "|") {
		t.Errorf("row %q, want %q", tab.Rows[0], want)
	}
	if !strings.Contains(tab.Title, "validation split") || !strings.Contains(tab.Title, "chance · majority") || strings.Contains(tab.Title, "Pearson") {
		t.Errorf("title %q", tab.Title)
	}
	results[0].Test = &results[0].Fit.Evals[0]
	results[1].Fit.Evals[0].Tasks[1].Examples = 0
	if _, err := LearnedTable("learned", results, 0.05); err == nil || !strings.Contains(err.Error(), "example count") {
		t.Errorf("an evaluation without its example count: %v", err)
	}
	if tab := MainTable("main", results); !strings.HasSuffix(tab.Title, "test split (1 run) and validation split (1 run not tested)") {
		t.Errorf("main table title %q", tab.Title)
	}
}

// The majority answer of a set on a split, by task name, scored as runs are: a classification task by its
// macro-F1 (level: its accuracy), a multiple-choice one by its accuracy; a regression task has none.
func TestMajorityBaseline(t *testing.T) {
	set := &datasets.Set{Spec: datasets.Spec{Tasks: []datasets.TaskSpec{{Name: "c", Labels: []string{"x", "y"}}, {Name: "r", Regression: true},
		{Name: "m", MultipleChoice: true}}}}
	for i, split := range []datasets.Split{datasets.Train, datasets.Train, datasets.Train, datasets.Test, datasets.Test} {
		set.Examples = append(set.Examples, datasets.Example{Task: 0, Label: int32(i % 2), Split: split}, datasets.Example{Task: 1, Split: split},
			datasets.Example{Task: 2, Choices: []string{"no", "yes"}, Label: int32(i % 2), Split: split})
	}
	// c: train labels x, y, x → x; test labels y, x → accuracy 0.5, macro-F1 (2/3 + 0)/2 (scikit-learn's
	// f1_score(["y", "x"], ["x", "x"], average="macro")); m: "no" right most often → 0.5
	b, err := MajorityBaseline(set, datasets.Test, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "majority answer" || len(b.Scores) != 2 || math.Abs(b.Scores["c"]-1.0/3) > 1e-12 || b.Levels["c"] != 0.5 || b.Scores["m"] != 0.5 || b.Levels["m"] != 0.5 {
		t.Errorf("%+v", b)
	}
}

// CorrelationAbove is SciPy's one-sided pearsonr p-value (scripts/reference/correlation_fixtures.py).
func TestCorrelationAboveMatchesSciPy(t *testing.T) {
	data, err := os.ReadFile("testdata/correlation.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []struct {
			R      float64 `json:"r"`
			N      int     `json:"n"`
			PValue float64 `json:"p_value"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) < 50 {
		t.Fatalf("%d cases", len(doc.Cases))
	}
	for _, c := range doc.Cases {
		if got := CorrelationAbove(c.R, c.N); math.Abs(got-c.PValue) > 1e-9*max(c.PValue, 1e-12) && math.Abs(got-c.PValue) > 1e-300 {
			t.Errorf("P(R ≥ %.6g | n = %d) = %.15g, SciPy %.15g", c.R, c.N, got, c.PValue)
		}
	}
}

// A regression task is learned when its Pearson r is beyond 0 (no baseline level); a classification task has
// no chance level, only its baselines'.
func TestLearnedTableRegressionAndClassification(t *testing.T) {
	run := func(seed int64, r float64, acc float64) *experiment.Result {
		res := fakeRun(mtlcore.LoRA, mtlcore.LambdaDiagonal, seed)
		res.Fit.Evals[0].Tasks = []trainer.TaskMetrics{
			{Task: "reg", Score: r, Metrics: map[string]float64{"pearson": r}, Examples: 50},
			{Task: "cls", Score: acc, Metrics: map[string]float64{"accuracy": acc, "macro_f1": acc}, Examples: 200}}
		if math.IsNaN(r) {
			res.Fit.Evals[0].Tasks[0].Metrics = map[string]float64{} // a constant prediction: no correlation
		}
		return res
	}
	// r = 0.3 over 50 pairs: p = 0.017; r = 0.2: p = 0.082; 130 of 200 beyond 0.55 (p = 0.0026), 115 not (p = 0.26)
	results := []*experiment.Result{run(1, 0.3, 0.65), run(2, 0.2, 0.575), run(3, math.NaN(), 0.65)}
	tab, err := LearnedTable("learned", results, 0.05, Baseline{Name: "majority", Scores: map[string]float64{"cls": 0.4}, Levels: map[string]float64{"cls": 0.55}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "lora r=8|3|1/3 · —|— · 2/3"; strings.Join(tab.Rows[0], "|") != want {
		t.Errorf("row %q, want %q", tab.Rows[0], want)
	}
	if !strings.Contains(tab.Title, "binomial") || !strings.Contains(tab.Title, "Pearson r > 0") {
		t.Errorf("title %q: both tests were used", tab.Title)
	}
}

// HolmAdjust is statsmodels' multipletests(p, method="holm") (scripts/reference/holm_fixtures.py); a NaN
// (untested) stays NaN and does not count in the family.
func TestHolmAdjustMatchesStatsmodels(t *testing.T) {
	data, err := os.ReadFile("testdata/holm.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []struct{ P, Holm []float64 } `json:"cases"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) < 20 {
		t.Fatalf("%d cases", len(doc.Cases))
	}
	for _, c := range doc.Cases {
		got := HolmAdjust(c.P)
		for i := range got {
			if math.Abs(got[i]-c.Holm[i]) > 1e-12 {
				t.Errorf("HolmAdjust(%v) = %v, statsmodels %v", c.P, got, c.Holm)
				break
			}
		}
	}
	if got := HolmAdjust([]float64{0.02, math.NaN(), 0.04}); got[0] != 0.04 || !math.IsNaN(got[1]) || got[2] != 0.04 {
		t.Errorf("with an untested comparison: %v, want [0.04 NaN 0.04]", got)
	}
}

// MajorityOf opens the data the runs name (a CSV here: 4 train rows "a a a b", 3 validation rows "b a b", 2 test
// rows "b a") and scores the majority answer on the examples they report: every test example, or the validation
// examples their eval_max keeps; runs on different data, splits or subsets have no one baseline.
func TestMajorityOf(t *testing.T) {
	csv := filepath.Join(t.TempDir(), "toy.csv")
	rows := "task,text,label,split\ntopic,one,a,train\ntopic,two,a,train\ntopic,three,a,train\ntopic,four,b,train\ntopic,five,b,test\ntopic,six,a,test\n" +
		"topic,seven,b,validation\ntopic,eight,a,validation\ntopic,nine,b,validation\n"
	if err := os.WriteFile(csv, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(id, data string, tested bool) *experiment.Result {
		r := fakeRun(mtlcore.LoRA, mtlcore.LambdaDiagonal, 1, 0.5)
		r.ID, r.Run.Config.Data = id, data
		r.Fit.Evals[0].Tasks[0].Task = "topic"
		if tested {
			r.Test = &r.Fit.Evals[0]
		}
		return r
	}
	b, err := MajorityOf([]*experiment.Result{run("x", csv, true), run("y", csv, true)})
	if err != nil {
		t.Fatal(err)
	}
	// test labels b, a against "a" every time: accuracy 0.5, macro-F1 (2/3 + 0)/2
	if b.Levels["topic"] != 0.5 || math.Abs(b.Scores["topic"]-1.0/3) > 1e-12 {
		t.Errorf("%+v", b)
	}
	// validation, every example (b a b): accuracy 1/3; eval_max 2 keeps the examples a run's evaluation does, the
	// first and second (b a): accuracy 0.5
	for evalMax, want := range map[int]float64{0: 1.0 / 3, 2: 0.5, 5: 1.0 / 3} {
		v := run("v", csv, false)
		v.Run.Config.EvalMax = evalMax
		if b, err := MajorityOf([]*experiment.Result{v}); err != nil || math.Abs(b.Levels["topic"]-want) > 1e-12 {
			t.Errorf("validation, eval_max %d: %+v, %v; want accuracy %g", evalMax, b, err, want)
		}
	}
	capped := run("c", csv, false)
	capped.Run.Config.EvalMax = 2
	for _, bad := range [][]*experiment.Result{{run("x", csv, true), run("y", csv, false)}, {run("x", csv, true), run("y", "mtbench", true)},
		{run("x", experiment.Synthetic, false)}, {}, {run("v", csv, false), capped}} {
		if _, err := MajorityOf(bad); err == nil {
			t.Errorf("runs %v: no error", bad)
		}
	}
	page := SweepPage("t", "", []*experiment.Result{run("x", csv, true)}, b)
	if len(page.Tables) != 3 || !strings.HasPrefix(page.Tables[1].Title, "Tasks learned") || page.Tables[0].Rows[len(page.Tables[0].Rows)-1][0] != "majority answer" {
		t.Errorf("sweep page with a baseline: tables %+v", page.Tables)
	}
}

// BaseModelOf scores the decoder the runs fine-tune, without adapters, on the examples they report (here the
// validation examples their eval_max keeps), named after the model; runs that differ in what the base model's
// score depends on, and encoder runs, have none.
func TestBaseModelOf(t *testing.T) {
	csv := filepath.Join(t.TempDir(), "toy.csv")
	rows := "task,text,label,split\n"
	for i, w := range []string{"great", "awful", "lovely", "boring", "superb", "dreadful"} {
		label := []string{"positive", "negative"}[i%2]
		rows += fmt.Sprintf("sentiment,The film was %s.,%s,train\nsentiment,The play was %s.,%s,validation\n", w, label, w, label)
	}
	if err := os.WriteFile(csv, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(model string, seqLen int) *experiment.Result {
		r := fakeRun(mtlcore.LoRA, mtlcore.LambdaDiagonal, 1, 0.5)
		r.Run.Config.Data, r.Run.Config.Model, r.Run.Config.SeqLen, r.Run.Config.EvalMax = csv, model, seqLen, 4
		r.Run.Config.Targets, r.Run.Config.Tasks = mtlcore.TargetAll, []string{"sentiment"}
		return r
	}
	env := experiment.Env{Backend: backend.MustNew()}
	if _, err := BaseModelOf(env, []*experiment.Result{run("smollm2-135m", 32), run("smollm2-135m", 48)}); err == nil || !strings.Contains(err.Error(), "seq_len 32") {
		t.Errorf("runs with different prompts: %v", err)
	}
	if _, err := pretrained.MiniLM.Path(); err == nil {
		if _, err := BaseModelOf(env, []*experiment.Result{run("minilm", 32)}); err == nil || !strings.Contains(err.Error(), "encoder") {
			t.Errorf("an encoder run: %v", err)
		}
	}
	if _, err := pretrained.SmolLM2.Path(); err != nil {
		if os.Getenv("MTLORA_REQUIRE_MODELS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	tested := run("smollm2-135m", 32)
	tested.Test = &tested.Fit.Evals[0] // the toy data has no test rows
	if _, err := BaseModelOf(env, []*experiment.Result{tested}); err == nil || !strings.Contains(err.Error(), `task "sentiment" has no test examples`) {
		t.Errorf("a split without examples: %v", err)
	}
	b, err := BaseModelOf(env, []*experiment.Result{run("smollm2-135m", 32), run("smollm2-135m", 32)})
	if err != nil {
		t.Fatal(err)
	}
	// eval_max 4 of 6 validation examples: its accuracy is a multiple of 1/4, and its macro-F1 the score
	if acc, ok := b.Levels["sentiment"]; b.Name != "smollm2-135m, not fine-tuned" || !ok || acc*4 != math.Round(acc*4) || b.Scores["sentiment"] > 1 {
		t.Errorf("base model %+v", b)
	}
}
