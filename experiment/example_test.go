package experiment_test

import (
	"fmt"
	"os"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/zoo"
)

// A small ablation on the synthetic task set: LoRA against MTL-LoRA at LoRA r=8's parameter budget, two
// seeds each, resumable in dir; then the mean score per configuration.
func ExampleRunSweep() {
	spec, err := experiment.ParseSweep([]byte(`{"name": "example", "benchmark": "synthetic",
		"methods": ["lora", "mtl-lora"], "ranks": [8], "matched_budget": true, "seeds": [1, 2],
		"steps": 150, "batch_size": 64, "learning_rate": 0.01}`))
	if err != nil {
		panic(err)
	}
	runs, err := spec.Expand(4, experiment.Layers(spec.Benchmark, zoo.BERTConfig{}))
	if err != nil {
		panic(err)
	}
	dir, _ := os.MkdirTemp("", "sweep")
	defer os.RemoveAll(dir)
	rep, err := experiment.RunSweep(experiment.Env{Backend: backend.MustNew()}, runs, dir, 1, nil)
	if err != nil {
		panic(err)
	}
	rows, _ := experiment.Summarize(rep.Runs)
	for _, r := range rows {
		fmt.Printf("%s: %d parameters, %d seeds, MTL-LoRA better: %v\n", r.Method, r.Params, r.Seeds, r.Method == "mtl-lora" && r.Score[0] > rows[0].Score[0])
	}
	// Output:
	// lora: 384 parameters, 2 seeds, MTL-LoRA better: false
	// mtl-lora: 348 parameters, 2 seeds, MTL-LoRA better: true
}
