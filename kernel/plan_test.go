package kernel

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/mtlcore"
)

// Notebook 03's situation: a plan run in a notebook's results folder, then a changed plan of the same name
// (here another learning rate, as an edited cell makes it). The changed plan's table and results hold its
// own runs only — the old ones stay on disk and never enter them — and re-running it trains nothing.
func TestRunPlanTablesHoldOnlyThePlansRuns(t *testing.T) {
	t.Setenv("GONB_DIR", t.TempDir())
	ablation := func(lr float64) experiment.Plan {
		run := experiment.Defaults()
		run.Data, run.Targets, run.BudgetRank = experiment.Synthetic, mtlcore.TargetDense, 8
		run.Steps, run.BatchSize, run.LearningRate, run.EvalEvery = 5, 16, lr, 5
		plan := experiment.NewPlan("ablation", run)
		plan.Vary.Method = []mtlcore.Method{mtlcore.LoRA, mtlcore.MTLLoRA}
		plan.Vary.Seed = []int64{1, 2}
		return plan
	}
	ids := func(p experiment.Plan) []string {
		runs, err := p.Runs()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range runs {
			out = append(out, r.ID())
		}
		slices.Sort(out)
		return out
	}
	tableIDs := func(p experiment.Plan) []string {
		seen := map[string]bool{}
		err := datasets.Scan(filepath.Join(ResultsDir(p), experiment.ResultsFile), datasets.ReadOptions{}, func(_ string, _ int64, rec arrow.RecordBatch) error {
			col := rec.Column(rec.Schema().FieldIndices("run_id")[0])
			for i := range col.Len() {
				seen[col.ValueStr(i)] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for id := range seen {
			out = append(out, id)
		}
		slices.Sort(out)
		return out
	}
	old, changed := ablation(0.01), ablation(0.02)
	if _, err := RunPlan(old); err != nil {
		t.Fatal(err)
	}
	results, err := RunPlan(changed)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range results {
		got = append(got, r.ID)
	}
	slices.Sort(got)
	if want := ids(changed); !slices.Equal(got, want) || !slices.Equal(tableIDs(changed), want) {
		t.Errorf("the changed plan's results %v and table %v, want exactly its runs %v", got, tableIDs(changed), want)
	}
	entries, _ := os.ReadDir(filepath.Join(ResultsDir(changed), "runs"))
	if len(entries) != 8 {
		t.Errorf("%d run folders: the old plan's 4 runs should stay beside the new plan's 4", len(entries))
	}
	// mtlora report on the folder reads the same: the table's runs, the others counted and left out.
	table, others, err := experiment.TableResults(ResultsDir(changed))
	if err != nil {
		t.Fatal(err)
	}
	var tabled []string
	for _, r := range table {
		tabled = append(tabled, r.ID)
	}
	slices.Sort(tabled)
	if !slices.Equal(tabled, ids(changed)) || others != 4 {
		t.Errorf("TableResults: %v and %d others, want %v and 4", tabled, others, ids(changed))
	}
	// Unchanged inputs: nothing trains again (the finished runs' result files are not rewritten).
	stamp := func() map[string]int64 {
		m := map[string]int64{}
		for _, id := range ids(changed) {
			fi, err := os.Stat(filepath.Join(experiment.RunDir(ResultsDir(changed), id), "result.json"))
			if err != nil {
				t.Fatal(err)
			}
			m[id] = fi.ModTime().UnixNano()
		}
		return m
	}
	before := stamp()
	if _, err := RunPlan(changed); err != nil {
		t.Fatal(err)
	}
	for id, ts := range stamp() {
		if ts != before[id] {
			t.Errorf("run %s was trained again", id)
		}
	}
}

// Without runMissing, PlanResults trains nothing: it returns the plan's finished runs and names the others.
// Small keeps every method and two seeds, under its own name.
func TestPlanResultsReadsWhatIsFinished(t *testing.T) {
	run := experiment.Defaults()
	run.Data, run.Targets, run.BudgetRank = experiment.Synthetic, mtlcore.TargetDense, 8
	run.Steps, run.BatchSize, run.EvalEvery = 300, 64, 50
	full := experiment.NewPlan("paper", run)
	full.Vary.Method = []mtlcore.Method{mtlcore.LoRA, mtlcore.MTLLoRA}
	full.Vary.Seed = []int64{1, 2, 3}
	plan := full.Small()
	runs, err := plan.Runs()
	if err != nil {
		t.Fatal(err)
	}
	if plan.Name != "paper-small" || len(runs) != 4 || runs[0].Config.Steps != 4 || runs[3].Config.Method != mtlcore.MTLLoRA || runs[3].Config.Seed != 2 {
		t.Fatalf("small plan %s: %d runs, first %+v", plan.Name, len(runs), runs[0].Config)
	}
	dir := t.TempDir()
	if _, err := experiment.Execute(experiment.Env{Backend: backend.MustNew()}, runs[1], experiment.RunDir(dir, runs[1].ID())); err != nil {
		t.Fatal(err)
	}
	results, missing, err := PlanResults(plan, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].ID != runs[1].ID() || len(missing) != 3 || missing[0] != runs[0].ID() {
		t.Errorf("results %d, missing %v", len(results), missing)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "runs")); len(entries) != 1 {
		t.Errorf("%d run folders: PlanResults without runMissing trained something", len(entries))
	}
}
