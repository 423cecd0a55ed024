package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets/benchmark"
	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/plots"
	"github.com/mtlora/mtlora/pretrained"
)

// runDemo is the README's main job. It picks the benchmark (-benchmark auto: the real multi-task benchmark
// with all-MiniLM-L6-v2 when both are prepared, else the synthetic task set, saying why) and hands the
// remaining flags to that demo.
func runDemo(args []string) error {
	choice, rest := "auto", []string{}
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-benchmark" || a == "--benchmark":
			if i+1 == len(args) {
				return fmt.Errorf("-benchmark needs a value: auto, mtbench or synthetic")
			}
			choice = args[i+1]
			i++
		case strings.HasPrefix(a, "-benchmark=") || strings.HasPrefix(a, "--benchmark="):
			choice = a[strings.Index(a, "=")+1:]
		default:
			rest = append(rest, a)
		}
	}
	switch choice {
	case "synthetic":
		return runDemoSynthetic(rest)
	case "mtbench":
		return runDemoMTBench(rest)
	case "auto":
		_, modelErr := pretrained.MiniLM.Path()
		_, dataErr := benchmark.Path()
		if modelErr == nil && dataErr == nil {
			return runDemoMTBench(rest)
		}
		for _, a := range rest {
			if a == "-h" || a == "-help" || a == "--help" {
				return runDemoMTBench(rest)
			}
		}
		fmt.Println("The real multi-task benchmark is not ready, so this demo falls back to the synthetic task set:")
		for _, err := range []error{modelErr, dataErr} {
			if err != nil {
				fmt.Printf("  - %v\n", err)
			}
		}
		fmt.Println()
		return runDemoSynthetic(rest)
	}
	return fmt.Errorf("-benchmark %q: expected auto, mtbench or synthetic", choice)
}

func runDemoMTBench(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	methods := fs.String("methods", "lora,mtl-lora", "comma-separated adapter methods to compare")
	rank := fs.Int("rank", 8, "LoRA rank whose trainable-parameter count every method matches (matched budgets)")
	seeds := fs.Int("seeds", 1, "seeds per method (mean ± std when > 1)")
	steps := fs.Int("steps", 150, "training steps per run")
	batch := fs.Int("batch", 16, "examples per batch, tasks mixed (proportional sampling)")
	seqLen := fs.Int("seq-len", 64, "tokens per example (longer texts are truncated)")
	lr := fs.Float64("lr", 2e-3, "peak AdamW learning rate (linear warm-up over the first 10% of steps, then linear decay)")
	evalMax := fs.Int("eval-max", 200, "validation examples per task in the final evaluation (0: all)")
	targets := fs.String("targets", "q,k,v,o", "layers that get adapters: q, k, v, o, ffn_in, ffn_out")
	dir := fs.String("dir", "mtlora-demo", "output `DIR`: run checkpoints (an interrupted demo resumes), results.parquet and report.html")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mtlora demo [-benchmark auto|mtbench|synthetic] [flags]

Fine-tunes all-MiniLM-L6-v2 on mtbench, the real six-task benchmark (spam, sotu-party, sotu-period,
sotu-next, afinn, opinion), with MTL-LoRA and LoRA at matched trainable-parameter budgets, and prints each
method's validation score per task; writes DIR/results.parquet and DIR/report.html. With the defaults it
takes about 10 minutes on 2 cores; ask for more with -steps, -seeds, -methods. It needs the model and the
benchmark: go run ./cmd/mtlora fetch-model; go run ./cmd/mtlora prepare-benchmark (with -benchmark auto and
either missing, the synthetic demo runs instead: mtlora demo -benchmark synthetic -h).

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags only; see -h)", fs.Args())
	}
	spec := experiment.Sweep{Name: "demo", Benchmark: experiment.MTBench, Methods: strings.Split(*methods, ","), Ranks: []int{*rank},
		MatchedBudget: true, Targets: []string{*targets}, Steps: *steps, BatchSize: *batch, SeqLen: *seqLen, LearningRate: *lr,
		Warmup: *steps / 10, Schedule: "linear", EvalMax: *evalMax}
	for s := 1; s <= *seeds; s++ {
		spec.Seeds = append(spec.Seeds, int64(s))
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	env, modelCfg, numTasks, err := sweepEnv(spec)
	if err != nil {
		return err
	}
	runs, err := spec.Expand(numTasks, experiment.Layers(spec.Benchmark, modelCfg))
	if err != nil {
		return err
	}
	fmt.Printf("mtbench (6 tasks) with all-MiniLM-L6-v2, adapters on %s at LoRA r=%d's parameter budget; %d steps × batch %d × %d tokens per run; backend %s\n",
		*targets, *rank, *steps, *batch, *seqLen, backend.Name())
	for _, r := range runs {
		fmt.Printf("  %-10s rank %-3d %7d trainable parameters, seed %d\n", r.Adapter.Method, r.Adapter.Rank, r.TrainParams, r.Seed)
	}
	rep, err := runWithProgress("demo", env, runs, *dir, 1, spec.Steps)
	if err != nil {
		return err
	}
	fmt.Println()
	printSweepSummary(rep.Runs)
	cmd := "go run ./cmd/mtlora demo " + strings.Join(args, " ")
	intro := fmt.Sprintf("all-MiniLM-L6-v2, adapters on %s at matched budgets (LoRA r=%d), %d steps × batch %d × %d tokens, %d seed(s). Reproduce: %s",
		*targets, *rank, *steps, *batch, *seqLen, *seeds, cmd)
	html, err := experiment.SweepPage("mtlora demo: MTL-LoRA vs LoRA on mtbench", intro, rep.Runs).HTML()
	if errors.Is(err, plots.ErrNoECharts) {
		fmt.Println("charts omitted from the report (echarts.min.js is not fetched: go run ./cmd/mtlora fetch-assets); tables only")
		html, err = experiment.ReportHTML("mtlora demo: MTL-LoRA vs LoRA on mtbench", intro, cmd, rep.Runs)
	}
	if err != nil {
		return err
	}
	report := filepath.Join(*dir, "report.html")
	if err := mtlcore.WriteFileAtomic(report, html); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s and %s\n", filepath.Join(*dir, experiment.ResultsFile), report)
	return nil
}
