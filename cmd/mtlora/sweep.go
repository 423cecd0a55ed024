package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mtlora/mtlora/report"

	"github.com/mtlora/mtlora/experiment"
)

func runSweep(args []string) error {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	specPath := fs.String("spec", "", "the plan `FILE` (JSON: {\"name\": …, \"run\": {hyperparameters}, \"vary\": {hyperparameter: [values]}}; see experiment.Plan)")
	dir := fs.String("dir", "", "sweep `DIR`: runs/<id>/ (checkpoints, result.json) and results.parquet (default sweeps/<name>)")
	parallel := fs.Int("parallel", 1, "runs executed at a time")
	jobs := fs.Bool("jobs", false, "print the expanded runs as a job list (one `mtlora sweep -only ID` command per line) and exit")
	only := fs.String("only", "", "execute only the run with this `ID` (a scheduler's array job), then exit")
	merge := fs.Bool("merge", false, "rebuild results.parquet from every finished run under -dir (after array jobs) and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mtlora sweep -spec FILE [-dir DIR] [-parallel N] [-jobs | -only ID | -merge]

Expands a plan — one run's hyperparameters ("run", over the defaults) and lists of values to vary
("vary": method, rank, budget_rank, n, temperature, targets, tasks, model, seed, …, each named as the
hyperparameter) — into every combination of runs and executes them one after another (or -parallel at a
time). With "test": true, each run's best weights are then evaluated on every example of the test split,
and that is what the run reports (a finished run is tested, not retrained). A run that finished is never
repeated; a run that was interrupted resumes from its last checkpoint, so a killed
sweep continues where it stopped. The results table DIR/results.parquet has one row per run, evaluation,
task and metric, with each run's configuration and versions.

On a cluster: -jobs prints one command per run; run line i as array task i (Slurm: sbatch --array=1-N with
sed -n "${SLURM_ARRAY_TASK_ID}p" jobs.txt | sh; Kubernetes: an indexed Job reading line
$JOB_COMPLETION_INDEX+1), each writing its own runs/<id>/ on shared storage; then -merge.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *specPath == "" {
		return fmt.Errorf("-spec is required")
	}
	plan, err := experiment.ReadPlan(*specPath)
	if err != nil {
		return err
	}
	if *dir == "" {
		*dir = filepath.Join("sweeps", plan.Name)
	}
	if *merge {
		results, err := experiment.CollectResults(*dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "merged %d finished runs\n", len(results))
		return experiment.WriteResults(filepath.Join(*dir, experiment.ResultsFile), results)
	}
	runs, err := plan.Runs()
	if err != nil {
		return err
	}
	b, err := newBackend()
	if err != nil {
		return err
	}
	env := experiment.Env{Backend: b, Log: os.Stderr}
	if *jobs {
		abs, _ := filepath.Abs(*specPath)
		absDir, _ := filepath.Abs(*dir)
		for _, r := range runs {
			fmt.Printf("mtlora sweep -spec %s -dir %s -only %s\n", abs, absDir, r.ID())
		}
		return nil
	}
	if *only != "" {
		for _, r := range runs {
			if r.ID() == *only {
				_, _, _, err := experiment.ExecuteOnce(env, r, experiment.RunDir(*dir, r.ID()), true)
				return err
			}
		}
		return fmt.Errorf("no run %q in plan %q (-jobs lists them)", *only, plan.Name)
	}
	fmt.Fprintf(os.Stderr, "plan %s: %d runs → %s\n", plan.Name, len(runs), *dir)
	rep, err := runWithProgress("sweep", env, runs, *dir, *parallel)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d runs executed, %d finished before; results table %s\n", len(rep.Executed), len(rep.Skipped),
		filepath.Join(*dir, experiment.ResultsFile))
	printSweepSummary(rep.Runs)
	return nil
}

// printSweepSummary prints the final mean score of each configuration, mean ± std over seeds, best first.
func printSweepSummary(results []*experiment.Result) {
	rows, tasks := report.Summarize(results)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Score[0] > rows[j].Score[0] })
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-22s %9s %19s", "configuration", "params", "mean score")
	for _, t := range tasks {
		fmt.Fprintf(&sb, " %12s", t)
	}
	sb.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "%-22s %9d %19s", r.Config, r.Params, report.MeanStd(r.Score, r.Seeds))
		for _, t := range tasks {
			fmt.Fprintf(&sb, " %12.4f", r.TaskScores[t][0])
		}
		sb.WriteString("\n")
	}
	fmt.Print(sb.String())
	seeds := 0
	if len(rows) > 0 {
		seeds = rows[0].Seeds
	}
	fmt.Printf("(score: macro-F1 for classification, Pearson for regression, −MSE on synthetic data; mean ± std over %d seed(s))\n", seeds)
}

// runWithProgress runs a sweep with one progress bar (ETA) over every run's steps; runs that finished before
// count as done.
func runWithProgress(name string, env experiment.Env, runs []experiment.Run, dir string, parallel int) (*experiment.SweepReport, error) {
	total := 0
	for _, r := range runs {
		total += r.Config.Steps
	}
	bar := newProgress(name, total)
	env.OnStep = experiment.TotalProgress(runs, func(done, _ int, loss float64) { bar.update(done, loss) })
	rep, err := experiment.RunSweep(env, runs, dir, parallel, func(r *experiment.Result, _ bool) {
		last := 0.0
		if n := len(r.Fit.Losses); n > 0 {
			last = r.Fit.Losses[n-1]
		}
		env.OnStep(r.Run, r.Run.Config.Steps, last)
	})
	bar.done()
	return rep, err
}
