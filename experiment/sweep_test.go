package experiment

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/mtlcore"
)

// smallPlan: three methods × two seeds on the synthetic task set.
const smallPlan = `{"name": "small", "run": {"data": "synthetic", "targets": "dense", "rank": 4, "steps": 30, "batch_size": 32,
	"learning_rate": 0.01, "warmup": 0, "eval_every": 10}, "vary": {"method": ["lora", "mtl-lora", "multilora"], "seed": [1, 2]}}`

func TestPlanErrors(t *testing.T) {
	for _, c := range []struct{ plan, want string }{
		{`{"name": "x", "run": {"data": "synthetic", "colour": 3}}`, `unknown key "colour"`},
		{`{"name": "x", "run": {"data": "synthetic"}, "vary": {"method": []}}`, "vary.method is empty"},
		{`{"name": "x", "run": {"data": "synthetic"}, "vary": {"seed": []}}`, "vary.seed is empty"},
		{`{"name": "x", "run": {"data": "synthetic"}, "vary": {"method": ["lorax"]}}`, `unknown method "lorax"`},
		{`{"name": "x", "run": {"data": "synthetic"}, "vary": {"targets": ["q,zz"]}}`, `"zz" is not a target`},
		{`{"name": "x", "run": {"data": "synthetic"}, "vary": {"temperature": [0.1, 0]}}`, "field temperature"},
		{`{"name": "x", "run": {"Steps": 3}}`, `unknown key "Steps"`},
		{`{"name": "x", "Run": {}}`, `unknown key "Run"`},
		{`{"name": "a b", "run": {}}`, "plan name"},
		{`{"name": "x", "run": {"n": 0}}`, "field n"},
		{`{"name": "x", "run": {"steps": 0}}`, "field steps"},
		{`{"name": "x", "run": {"schedule": "exponential"}}`, "field schedule"},
		{`{"name": "x", "run": {"sampling": "random"}}`, "unknown sampling strategy"},
	} {
		if _, err := ParsePlan([]byte(c.plan)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", c.plan, err, c.want)
		}
	}
	// Against the data and the model: targets that select no layer, a task the data lacks.
	for _, c := range []struct{ plan, want string }{
		{`{"name": "x", "run": {"data": "synthetic"}}`, "selects no linear layer"},
		{`{"name": "x", "run": {"data": "synthetic", "targets": "dense", "tasks": ["task9"]}}`, `"task9" is not a task of synthetic`},
		{`{"name": "x", "run": {"data": "synthetic", "targets": "dense", "rank": 40}}`, "rank 40 is larger than the layer"},
		{`{"name": "x", "run": {"data": "no-such-file.csv"}}`, "no-such-file.csv"},
	} {
		p, err := ParsePlan([]byte(c.plan))
		if err != nil {
			t.Fatalf("%s: %v", c.plan, err)
		}
		if _, err := p.Runs(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", c.plan, err, c.want)
		}
	}
}

// A plan expands Vary in declaration order, seed innermost, and writes each value into the Config field of
// the same name.
func TestPlanExpansion(t *testing.T) {
	p, err := ParsePlan([]byte(`{"name": "x", "run": {"data": "synthetic", "targets": "dense"},
		"vary": {"method": ["lora", "mtl-lora"], "temperature": [0.1, 1], "seed": [1, 2]}}`))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := p.Runs()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, fmt.Sprintf("%s/%v/%d", r.Config.Method, r.Config.Temperature, r.Config.Seed))
	}
	want := "lora/0.1/1 lora/0.1/2 lora/1/1 lora/1/2 mtl-lora/0.1/1 mtl-lora/0.1/2 mtl-lora/1/1 mtl-lora/1/2"
	if strings.Join(got, " ") != want {
		t.Errorf("runs %v, want %s", got, want)
	}
	if r := runs[0].Config; r.NumTasks != 4 || strings.Join(r.Tasks, ",") != "task0,task1,task2,task3" {
		t.Errorf("resolved tasks: %d %v", r.NumTasks, r.Tasks)
	}
	seen := map[string]bool{}
	for _, r := range runs {
		if seen[r.ID()] {
			t.Errorf("two runs share id %s", r.ID())
		}
		seen[r.ID()] = true
	}
}

// miniLMShapes writes a checkpoint directory holding only all-MiniLM-L6-v2's config.json: enough for a plan
// to resolve parameter counts (weights are read only when a run trains), and a two-rows-per-task CSV.
func miniLMShapes(t *testing.T) (model, data string) {
	t.Helper()
	dir := t.TempDir()
	cfg := `{"model_type": "bert", "architectures": ["BertModel"], "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6,
		"num_attention_heads": 12, "intermediate_size": 1536, "max_position_embeddings": 512, "type_vocab_size": 2,
		"layer_norm_eps": 1e-12, "hidden_act": "gelu"}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// An empty safetensors file (no tensors): pretrained.Open wants one to be there.
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), append([]byte{2, 0, 0, 0, 0, 0, 0, 0}, "{}"...), 0o644); err != nil {
		t.Fatal(err)
	}
	data = filepath.Join(t.TempDir(), "d.csv")
	var rows strings.Builder
	rows.WriteString("task,text,label\n")
	for task := range 6 {
		fmt.Fprintf(&rows, "t%d,a,yes\nt%d,b,no\n", task, task)
	}
	if err := os.WriteFile(data, []byte(rows.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, data
}

// Matched budgets: every method's rank is chosen so its trainable parameters are as close as its rank
// granularity allows to LoRA's at the budget rank, on MiniLM's q, k, v, o layers with six tasks.
func TestMatchedBudget(t *testing.T) {
	model, data := miniLMShapes(t)
	p := NewPlan("m", Defaults())
	p.Run.Data, p.Run.Model, p.Run.BudgetRank = data, model, 8
	p.Vary.Method = mtlcore.Methods()
	runs, err := p.Runs()
	if err != nil {
		t.Fatal(err)
	}
	budget := runs[0].TrainableParams // LoRA r = 8
	if runs[0].Config.Method != mtlcore.LoRA || runs[0].Config.Rank != 8 || budget != 147456 {
		t.Fatalf("the reference LoRA run is %v r=%d with %d parameters", runs[0].Config.Method, runs[0].Config.Rank, budget)
	}
	layers := [][2]int{}
	for range 24 { // q, k, v, o in 6 layers, 384 → 384
		layers = append(layers, [2]int{384, 384})
	}
	for _, r := range runs {
		// No valid rank of the method comes closer to the budget (per-task LoRA's smallest step is coarse).
		diff := func(rank int) int {
			c := r.Config.Config
			c.Rank = rank
			if rank < 1 || c.Validate() != nil {
				return math.MaxInt
			}
			d := count(c, layers) - budget
			return max(d, -d)
		}
		for rank := 1; rank <= 64; rank++ {
			if diff(rank) < diff(r.Config.Rank) {
				t.Errorf("%s: rank %d (%d params) is not the closest to LoRA's %d: rank %d is", r.Config.Method, r.Config.Rank, r.TrainableParams, budget, rank)
			}
		}
		if r.Config.BudgetRank != 8 || r.TrainableParams != count(r.Config.Config, layers) {
			t.Errorf("%s: budget_rank %d, %d params", r.Config.Method, r.Config.BudgetRank, r.TrainableParams)
		}
		t.Logf("%-14s r=%-3d params %d (%+.0f%%)", r.Config.Method, r.Config.Rank, r.TrainableParams, 100*float64(r.TrainableParams-budget)/float64(budget))
	}
}

// smallRuns are the runs of smallPlan on the synthetic task set (4 tasks).
func smallRuns(t *testing.T) []Run {
	t.Helper()
	p, err := ParsePlan([]byte(smallPlan))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := p.Runs()
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// A sweep killed (SIGKILL) after two runs finished, then restarted, runs only the missing runs; the results
// table then holds every run, and the same seed gave the same score in both halves of the experiment.
func TestSweepKilledAndRestarted(t *testing.T) {
	runs := smallRuns(t)
	if len(runs) != 6 {
		t.Fatalf("%d runs, want 3 methods × 2 seeds", len(runs))
	}
	env := Env{Backend: backend.MustNew()}
	if dir := os.Getenv("MTLORA_SWEEP_CHILD_DIR"); dir != "" {
		_, err := RunSweep(env, runs, dir, 1, func(r *Result, executed bool) { fmt.Printf("done %s executed=%v\n", r.ID, executed) })
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestSweepKilledAndRestarted$")
	cmd.Env = append(os.Environ(), "MTLORA_SWEEP_CHILD_DIR="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "done ") {
			if done++; done == 2 {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
	}
	_ = cmd.Wait()
	rep, err := RunSweep(env, runs, dir, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Skipped) < 2 || len(rep.Skipped)+len(rep.Executed) != 6 {
		t.Fatalf("skipped %d, executed %d: want the 2 (or more) finished runs skipped and only the rest run", len(rep.Skipped), len(rep.Executed))
	}
	t.Logf("restart skipped %d finished runs and ran %d", len(rep.Skipped), len(rep.Executed))
	// The results table: every run's final mean score.
	final := map[string]float64{}
	err = datasets.Scan(filepath.Join(dir, ResultsFile), datasets.ReadOptions{}, func(_ string, _ int64, rec arrow.RecordBatch) error {
		col := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }
		for i := range int(rec.NumRows()) {
			if col("final").(*array.Boolean).Value(i) && col("task").(*array.String).Value(i) == "mean" {
				final[col("run_id").(*array.String).Value(i)] = col("value").(*array.Float64).Value(i)
			}
		}
		return nil
	})
	if err != nil || len(final) != 6 {
		t.Fatalf("results table: %d runs' final scores, err %v", len(final), err)
	}
	// Determinism across processes: rerunning one finished run from scratch gives its score again.
	again, err := Execute(env, runs[0], t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Final().Score; got != final[runs[0].ID()] {
		t.Errorf("run %s: score %v on a rerun, %v in the sweep", runs[0].ID(), got, final[runs[0].ID()])
	}
}

// A finished synthetic MTL-LoRA run can be analysed from its best weights: every chart of the analysis.
func TestAnalyzeSyntheticRun(t *testing.T) {
	p, _ := ParsePlan([]byte(`{"name": "a", "run": {"data": "synthetic", "targets": "dense", "method": "mtl-lora", "rank": 4,
		"steps": 40, "batch_size": 32, "learning_rate": 0.01}}`))
	runs, err := p.Runs()
	if err != nil {
		t.Fatal(err)
	}
	env := Env{Backend: backend.MustNew()}
	dir := t.TempDir()
	if _, err := Execute(env, runs[0], dir); err != nil {
		t.Fatal(err)
	}
	a, err := AnalyzeSynthetic(env, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.GradientCosine) != 4 || len(a.Layer.Lambda) != 4 || len(a.Layer.Mixing) != 4 || len(a.Charts()) != 6 {
		t.Errorf("analysis: %d×? gradient cosines, %d Λ, %d mixing, %d charts", len(a.GradientCosine), len(a.Layer.Lambda), len(a.Layer.Mixing), len(a.Charts()))
	}
}

// Gradient conflict recorded during training at a chosen interval, without changing the training.
func TestRecordGradientConflictDuringTraining(t *testing.T) {
	p, _ := ParsePlan([]byte(`{"name": "rec", "run": {"data": "synthetic", "targets": "dense", "method": "lora", "rank": 4,
		"steps": 30, "batch_size": 32, "learning_rate": 0.01, "analyze_every": 10}}`))
	runs, _ := p.Runs()
	var steps []int
	var last [][]float64
	env := Env{Backend: backend.MustNew(), Recorder: func(_ Run, step int, c [][]float64) { steps, last = append(steps, step), c }}
	with, err := Execute(env, runs[0], t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	without, err := Execute(Env{Backend: env.Backend}, runs[0], t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(steps) != "[10 20 30]" || len(last) != 4 || last[0][0] < 0.999 {
		t.Errorf("recorded at steps %v, last matrix %v", steps, last)
	}
	if fmt.Sprint(with.Fit.Losses) != fmt.Sprint(without.Fit.Losses) {
		t.Errorf("recording changed the training")
	}
}

// Two runners on one sweep directory at the same time — this process and a child — execute every run
// exactly once between them (per-run lock files), and each leaves the complete results table.
func TestTwoSweepRunnersShareADirectory(t *testing.T) {
	runs := smallRuns(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestSweepKilledAndRestarted$")
	cmd.Env = append(os.Environ(), "MTLORA_SWEEP_CHILD_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "done ") { // the child has started its sweep
		t.Fatalf("child: %q", sc.Text())
	}
	child := map[string]bool{}
	record := func(line string) {
		if id, ok := strings.CutSuffix(strings.TrimPrefix(line, "done "), " executed=true"); ok {
			child[id] = true
		}
	}
	record(sc.Text())
	rep, err := RunSweep(Env{Backend: backend.MustNew()}, runs, dir, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		record(sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child runner: %v", err)
	}
	for _, id := range rep.Executed {
		if child[id] {
			t.Errorf("run %s was executed by both runners", id)
		}
	}
	if len(rep.Executed)+len(child) != len(runs) {
		t.Errorf("this runner executed %d, the child %d: want %d runs executed once in all", len(rep.Executed), len(child), len(runs))
	}
	for i, r := range rep.Runs {
		if r == nil {
			t.Errorf("run %d (%s) missing from this runner's results", i, runs[i].ID())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ResultsFile)); err != nil {
		t.Error(err)
	}
	t.Logf("this runner executed %d runs, the child %d", len(rep.Executed), len(child))
}

// Every committed plan (sweeps/*.json) resolves against its data and model, and the ablation plans on the
// commonsense suite share table 1's runs where they say so: the variant at the paper's values (diagonal Λ, n =
// 3, τ = 0.1) is commonsense-main's MTL-LoRA run of the same seed, id for id, so it is trained once.
func TestCommittedPlans(t *testing.T) {
	paths, err := filepath.Glob("../sweeps/*.json")
	if err != nil || len(paths) < 8 {
		t.Fatalf("committed plans: %v, %v", paths, err)
	}
	ids := map[string][]string{} // plan name → run ids
	for _, p := range paths {
		plan, err := ReadPlan(p)
		if err != nil {
			t.Fatal(err)
		}
		runs, err := plan.Runs()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, r := range runs {
			ids[plan.Name] = append(ids[plan.Name], r.ID())
		}
	}
	main := map[string]bool{}
	for _, id := range ids["commonsense-main"] {
		main[id] = true
	}
	for _, plan := range []string{"commonsense-lambda", "commonsense-n", "commonsense-tau"} {
		shared := 0
		for _, id := range ids[plan] {
			if main[id] {
				shared++
			}
		}
		if shared != 1 {
			t.Errorf("%s shares %d runs with commonsense-main, want 1 (MTL-LoRA at the paper's values, seed 1): %v", plan, shared, ids[plan])
		}
	}
}
