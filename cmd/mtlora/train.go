package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/mtlora/mtlora/experiment"
)

// applyConfigFile sets flags from a JSON object whose keys are flag names (the file is equivalent to the
// flags); flags given on the command line win. Unknown keys are errors naming them.
func applyConfigFile(fs *flag.FlagSet, path string, explicit map[string]bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var kv map[string]any
	if err := json.Unmarshal(data, &kv); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "config" || fs.Lookup(k) == nil {
			return fmt.Errorf("config %s: unknown key %q (keys are the flags of %s)", path, k, fs.Name())
		}
		if explicit[k] {
			continue
		}
		v := kv[k]
		s := fmt.Sprint(v)
		if list, ok := v.([]any); ok {
			parts := make([]string, len(list))
			for i, x := range list {
				parts[i] = fmt.Sprint(x)
			}
			s = strings.Join(parts, ",")
		}
		if err := fs.Set(k, s); err != nil {
			return fmt.Errorf("config %s: key %q: %w", path, k, err)
		}
	}
	return nil
}

// parseWithConfig parses flags, then a -config file for the flags not given.
func parseWithConfig(fs *flag.FlagSet, config *string, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags only; see -h)", fs.Args())
	}
	if *config == "" {
		return nil
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	return applyConfigFile(fs, *config, explicit)
}

func runTrain(args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	config := fs.String("config", "", "a JSON `FILE` of flag values ({\"method\": \"mtl-lora\", \"rank\": 8, …}); flags given here win")
	bench := fs.String("benchmark", "mtbench", "mtbench (MiniLM on the real benchmark) or synthetic")
	method := fs.String("method", "mtl-lora", "adapter method: lora, mtl-lora, multilora, moelora, hydralora, dora, per-task-lora")
	rank := fs.Int("rank", 8, "adapter rank r (with -matched, the LoRA rank whose parameter count to match)")
	matched := fs.Bool("matched", false, "choose the rank so the method has as many trainable parameters as LoRA at -rank")
	n := fs.Int("n", 0, "up-projections (MTL-LoRA, MultiLoRA, HydraLoRA) or experts (MoELoRA); 0: the method's default")
	tau := fs.Float64("tau", 0, "MTL-LoRA temperature τ; 0: default")
	targets := fs.String("targets", "q,k,v,o", "layers with adapters (mtbench): q, k, v, o, ffn_in, ffn_out")
	tasks := fs.String("tasks", "", "comma-separated tasks to train on (default: all)")
	seed := fs.Int64("seed", 1, "seed of initialisation, dropout and sampling")
	steps := fs.Int("steps", 300, "training steps")
	batch := fs.Int("batch", 16, "examples per batch")
	seqLen := fs.Int("seq-len", 64, "tokens per example (mtbench)")
	lr := fs.Float64("lr", 2e-3, "peak learning rate (AdamW)")
	wd := fs.Float64("weight-decay", 0, "decoupled weight decay")
	warmup := fs.Int("warmup", 30, "warm-up steps")
	schedule := fs.String("schedule", "linear", "decay after warm-up: constant, linear, cosine")
	clip := fs.Float64("clip-norm", 1, "clip gradients to this global norm (0: off)")
	evalEvery := fs.Int("eval-every", 100, "evaluate every N steps (and at the end)")
	evalMax := fs.Int("eval-max", 200, "validation examples per task (0: all)")
	sampling := fs.String("sampling", "proportional", "task sampling: proportional, temperature, uniform, round-robin")
	samplingT := fs.Float64("sampling-temperature", 2, "T of temperature sampling")
	sharedHead := fs.Bool("shared-head", false, "one classification head for every task instead of one per task")
	taskWeights := fs.String("task-weights", "", "per-task loss weights, e.g. spam=2,afinn=0.5 (others 1)")
	dir := fs.String("dir", "", "run `DIR` (checkpoints, best weights, result.json); an interrupted run resumes (default runs/<id>)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mtlora train [flags]\n\nTrains one multi-task adapter run and prints its per-task validation metrics. Checkpoints are written\natomically into the run directory; running the same command again resumes an interrupted run and repeats\nnothing of a finished one.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseWithConfig(fs, config, args); err != nil {
		return err
	}
	spec := experiment.Sweep{Name: "train", Benchmark: *bench, Methods: []string{*method}, Ranks: []int{*rank}, MatchedBudget: *matched,
		Seeds: []int64{*seed}, Steps: *steps, BatchSize: *batch, SeqLen: *seqLen, LearningRate: *lr, WeightDecay: *wd, Warmup: *warmup,
		Schedule: *schedule, ClipNorm: *clip, EvalEvery: *evalEvery, EvalMax: *evalMax, Sampling: *sampling, SamplingT: *samplingT,
		SharedHead: *sharedHead}
	if *n > 0 {
		spec.N = []int{*n}
	}
	if *tau > 0 {
		spec.Temperatures = []float64{*tau}
	}
	if *bench == experiment.MTBench {
		spec.Targets = []string{*targets}
	}
	if *taskWeights != "" {
		spec.TaskWeights = map[string]float64{}
		for _, kv := range strings.Split(*taskWeights, ",") {
			name, val, ok := strings.Cut(kv, "=")
			w, err := strconv.ParseFloat(val, 64)
			if !ok || err != nil {
				return fmt.Errorf("-task-weights: %q is not task=weight", kv)
			}
			spec.TaskWeights[name] = w
		}
	}
	if *tasks != "" {
		spec.TaskSubsets = [][]string{strings.Split(*tasks, ",")}
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
	run := runs[0]
	if *dir == "" {
		*dir = filepath.Join("runs", run.ID())
	}
	if res, ok, err := experiment.ReadResult(*dir); err != nil {
		return err
	} else if ok {
		fmt.Fprintf(os.Stderr, "run %s finished before; its results:\n", res.ID)
		printEval(res)
		return nil
	}
	fmt.Fprintf(os.Stderr, "run %s: %s rank %d (%d trainable parameters) on %s → %s\n", run.ID(), run.Adapter.Method, run.Adapter.Rank, run.TrainParams, run.Benchmark, *dir)
	bar := newProgress("train", spec.Steps)
	env.OnStep = func(_ experiment.Run, step int, loss float64) { bar.update(step, loss) }
	res, err := experiment.Execute(env, run, *dir)
	bar.done()
	if err != nil {
		return err
	}
	printEval(res)
	return nil
}

// printEval prints a run's final and best evaluations.
func printEval(res *experiment.Result) {
	f := res.Final()
	fmt.Printf("%-12s %8s  %s\n", "task", "score", "metrics (final evaluation, step "+fmt.Sprint(f.Step)+")")
	for _, t := range f.Tasks {
		names := make([]string, 0, len(t.Metrics))
		for k := range t.Metrics {
			names = append(names, k)
		}
		sort.Strings(names)
		var parts []string
		for _, k := range names {
			parts = append(parts, fmt.Sprintf("%s %.4f", k, t.Metrics[k]))
		}
		fmt.Printf("%-12s %8.4f  %s\n", t.Task, t.Score, strings.Join(parts, ", "))
	}
	fmt.Printf("%-12s %8.4f\n", "mean", f.Score)
	if b := res.Fit.Best; b != nil {
		fmt.Printf("best evaluation: step %d, mean score %.4f (weights in %s)\n", b.Step, b.Score, "best/")
	}
}

func runEval(args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	dir := fs.String("run", "", "the run `DIR` of mtlora train (or a sweep's runs/<id>)")
	asJSON := fs.Bool("json", false, "print the whole result (configuration, every evaluation, versions) as JSON")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mtlora eval -run DIR [-json]\n\nPrints the per-task validation metrics of a finished run.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("-run is required")
	}
	res, ok, err := experiment.ReadResult(*dir)
	if err != nil {
		return err
	}
	if !ok {
		if _, err := os.Stat(*dir); err != nil {
			return fmt.Errorf("run directory %s does not exist", *dir)
		}
		return fmt.Errorf("%s has no result.json: the run has not finished (run mtlora train again to resume it)", *dir)
	}
	if *asJSON {
		data, _ := json.MarshalIndent(res, "", "  ")
		fmt.Println(string(data))
		return nil
	}
	printEval(res)
	return nil
}
