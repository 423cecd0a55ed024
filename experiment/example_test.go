package experiment_test

import (
	"fmt"
	"os"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/report"
)

// A small ablation built as a Go value: LoRA against MTL-LoRA at LoRA r=8's parameter budget on the
// synthetic task set, two seeds each, resumable in dir; then the mean score per configuration.
func ExamplePlan() {
	run := experiment.Defaults()
	run.Data, run.Targets, run.BudgetRank = experiment.Synthetic, mtlcore.TargetDense, 8
	run.Steps, run.BatchSize, run.LearningRate, run.Warmup = 150, 64, 0.01, 0
	plan := experiment.NewPlan("example", run)
	plan.Vary.Method = []mtlcore.Method{mtlcore.LoRA, mtlcore.MTLLoRA}
	plan.Vary.Seed = []int64{1, 2}
	runs, err := plan.Runs()
	if err != nil {
		panic(err)
	}
	dir, _ := os.MkdirTemp("", "plan")
	defer os.RemoveAll(dir)
	rep, err := experiment.RunSweep(experiment.Env{Backend: backend.MustNew()}, runs, dir, 1, nil)
	if err != nil {
		panic(err)
	}
	rows, _ := report.Summarize(rep.Runs)
	for _, r := range rows {
		fmt.Printf("%s: %d parameters, %d seeds, MTL-LoRA better: %v\n", r.Method, r.Params, r.Seeds, r.Method == "mtl-lora" && r.Score[0] > rows[0].Score[0])
	}
	// Output:
	// lora: 384 parameters, 2 seeds, MTL-LoRA better: false
	// mtl-lora: 348 parameters, 2 seeds, MTL-LoRA better: true
}

// One hyperparameter, one name: the flag, the config-file key, the plan's key and the results column.
func ExampleHyperparameters() {
	for _, h := range experiment.Hyperparameters() {
		if h.Name == "temperature" || h.Name == "budget_rank" {
			fmt.Printf("-%s: %s\n", h.Name, h.Help)
		}
	}
	// Output:
	// -temperature: MTL-LoRA's temperature τ of softmax(w_t/τ), > 0
	// -budget_rank: if > 0, rank is chosen to match LoRA's trainable parameters at this rank (matched budgets)
}
