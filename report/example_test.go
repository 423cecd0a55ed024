package report_test

import (
	"fmt"

	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/report"
	"github.com/mtlora/mtlora/trainer"
)

// Runs that differ only by seed are summarised together: mean ± std of their final scores, per task too.
func ExampleSummarize() {
	var results []*experiment.Result
	for seed, score := range []float64{0.6, 0.8} {
		c := experiment.Defaults()
		c.Method, c.Seed = mtlcore.MTLLoRA, int64(seed+1)
		results = append(results, &experiment.Result{ID: fmt.Sprint(seed), Run: experiment.Run{Config: c, TrainableParams: 100},
			Fit: trainer.FitResult{Evals: []trainer.Eval{{Step: 10, Score: score, Tasks: []trainer.TaskMetrics{{Task: "spam", Score: score}}}}}})
	}
	rows, tasks := report.Summarize(results)
	for _, r := range rows {
		fmt.Printf("%s: %d seeds, %.2f ± %.2f; %s %.2f\n", r.Config, r.Seeds, r.Score[0], r.Score[1], tasks[0], r.TaskScores["spam"][0])
	}
	// Output:
	// mtl-lora r=8: 2 seeds, 0.70 ± 0.14; spam 0.70
}
