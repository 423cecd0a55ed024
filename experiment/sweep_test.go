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
	"github.com/mtlora/mtlora/trainer"
	"github.com/mtlora/mtlora/zoo"
)

const smallSweep = `{"name": "small", "benchmark": "synthetic", "methods": ["lora", "mtl-lora", "multilora"],
	"ranks": [4], "seeds": [1, 2], "steps": 30, "batch_size": 32, "learning_rate": 0.01, "eval_every": 10}`

func TestSweepSpecErrors(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{`{"name": "x", "benchmark": "synthetic", "methods": ["lora"], "ranks": [4], "seeds": [1], "steps": 1, "batch_size": 1, "learning_rate": 0.1, "colour": 3}`, `unknown field "colour"`},
		{`{"name": "x", "benchmark": "synthetic", "methods": [], "ranks": [4], "seeds": [1], "steps": 1, "batch_size": 1, "learning_rate": 0.1}`, "axis methods is empty"},
		{`{"name": "x", "benchmark": "synthetic", "methods": ["lora"], "ranks": [4], "seeds": [], "steps": 1, "batch_size": 1, "learning_rate": 0.1}`, "axis seeds is empty"},
		{`{"name": "x", "benchmark": "imagenet", "methods": ["lora"], "ranks": [4], "seeds": [1], "steps": 1, "batch_size": 1, "learning_rate": 0.1}`, "field benchmark"},
		{`{"name": "x", "benchmark": "synthetic", "methods": ["lorax"], "ranks": [4], "seeds": [1], "steps": 1, "batch_size": 1, "learning_rate": 0.1}`, "axis methods"},
		{`{"name": "x", "benchmark": "mtbench", "methods": ["lora"], "ranks": [4], "seeds": [1], "targets": ["q,zz"], "steps": 1, "batch_size": 1, "learning_rate": 0.1}`, "axis targets"},
	} {
		if _, err := ParseSweep([]byte(c.spec)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want it to mention %q", err, c.want)
		}
	}
}

// Matched budgets: every method's rank is chosen so its trainable parameters are as close as its rank
// granularity allows to LoRA's at the budget rank, on MiniLM's q, k, v, o layers.
func TestMatchedBudget(t *testing.T) {
	s, err := ParseSweep([]byte(`{"name": "m", "benchmark": "mtbench", "methods": ["lora", "mtl-lora", "multilora", "moelora", "hydralora", "dora", "per-task-lora"],
		"ranks": [8], "seeds": [1], "targets": ["q,k,v,o"], "matched_budget": true, "steps": 1, "batch_size": 1, "learning_rate": 0.1}`))
	if err != nil {
		t.Fatal(err)
	}
	minilm := zoo.BERTConfig{Vocab: 30522, Hidden: 384, Layers: 6, Heads: 12, Intermediate: 1536, MaxPositions: 512, TypeVocab: 2, LayerNormEps: 1e-12, Activation: "gelu"}
	runs, err := s.Expand(6, Layers(MTBench, minilm))
	if err != nil {
		t.Fatal(err)
	}
	budget := runs[0].TrainParams // LoRA r = 8
	layers := Layers(MTBench, minilm)
	for _, r := range runs {
		// No achievable rank of the method comes closer to the budget (ranks move in steps of 1, or of n for
		// MoELoRA's experts; per-task LoRA's smallest step, T·2·d·layers, is coarse).
		step := 1
		if r.Adapter.Method == mtlcore.MoELoRA {
			step = r.Adapter.N
		}
		diff := func(rank int) int {
			c := r.Adapter
			c.Rank = rank
			if rank < 1 || c.Validate() != nil {
				return math.MaxInt
			}
			d := count(c, layers(c.Targets)) - budget
			return max(d, -d)
		}
		if d := diff(r.Adapter.Rank); d > diff(r.Adapter.Rank-step) || d > diff(r.Adapter.Rank+step) {
			t.Errorf("%s: rank %d (%d params) is not the closest to LoRA's %d", r.Adapter.Method, r.Adapter.Rank, r.TrainParams, budget)
		}
		t.Logf("%-14s r=%-3d params %d (%+.0f%%)", r.Adapter.Method, r.Adapter.Rank, r.TrainParams, 100*float64(r.TrainParams-budget)/float64(budget))
	}
	if runs[0].Adapter.Method != mtlcore.LoRA || runs[0].Adapter.Rank != 8 {
		t.Errorf("the reference LoRA run is %v r=%d", runs[0].Adapter.Method, runs[0].Adapter.Rank)
	}
}

// smallRuns are the runs of smallSweep on the synthetic task set (4 tasks).
func smallRuns(t *testing.T) []Run {
	t.Helper()
	spec, err := ParseSweep([]byte(smallSweep))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := spec.Expand(4, Layers(Synthetic, zoo.BERTConfig{}))
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

// The sweep's report page holds every chart and table, with escaped labels.
func TestSweepPage(t *testing.T) {
	r := &Result{ID: "x", Run: Run{Adapter: mtlcore.DefaultConfig(mtlcore.LoRA, 2), Seed: 1}}
	r.Fit.Evals = append(r.Fit.Evals, trainerEval(10, "<b>task</b>", 0.5), trainerEval(20, "<b>task</b>", 0.7))
	page := SweepPage("t", "i", []*Result{r})
	if len(page.Charts) != 3 || len(page.Tables) != 2 || page.Tables[0].Header[4] != "<b>task</b>" {
		t.Errorf("page: %d charts, tables %+v", len(page.Charts), page.Tables)
	}
}

func trainerEval(step int, task string, score float64) trainer.Eval {
	return trainer.Eval{Step: step, Score: score, Tasks: []trainer.TaskMetrics{{Task: task, Score: score}}}
}

// A finished synthetic MTL-LoRA run can be analysed from its best weights: every chart of the analysis.
func TestAnalyzeSyntheticRun(t *testing.T) {
	spec, _ := ParseSweep([]byte(`{"name": "a", "benchmark": "synthetic", "methods": ["mtl-lora"], "ranks": [4], "seeds": [1],
		"steps": 40, "batch_size": 32, "learning_rate": 0.01}`))
	runs, err := spec.Expand(4, Layers(Synthetic, zoo.BERTConfig{}))
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
	spec, _ := ParseSweep([]byte(`{"name": "rec", "benchmark": "synthetic", "methods": ["lora"], "ranks": [4], "seeds": [1],
		"steps": 30, "batch_size": 32, "learning_rate": 0.01, "analyze_every": 10}`))
	runs, _ := spec.Expand(4, Layers(Synthetic, zoo.BERTConfig{}))
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
