package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/trainer"
)

// hyperparameterFlag is the flag of one hyperparameter: named as the hyperparameter, reading and writing
// its Config field.
type hyperparameterFlag struct {
	h   experiment.Hyperparameter
	cfg *experiment.Config
}

func (f hyperparameterFlag) String() string {
	if f.cfg == nil {
		return ""
	}
	return f.h.String(f.cfg)
}

func (f hyperparameterFlag) Set(s string) error { return f.h.Set(f.cfg, s) }

func (f hyperparameterFlag) IsBoolFlag() bool { return f.h.Field.Type.Kind() == reflect.Bool }

// configFlags registers one flag per hyperparameter (experiment.Hyperparameters) over cfg, and -config, a
// JSON file of the same names. Call parseConfig after fs.Parse.
func configFlags(fs *flag.FlagSet, cfg *experiment.Config) *string {
	config := fs.String("config", "", "a JSON `FILE` of hyperparameters ({\"method\": \"mtl-lora\", \"rank\": 8, …}, the flags' names); flags given here win")
	for _, h := range experiment.Hyperparameters() {
		fs.Var(hyperparameterFlag{h, cfg}, h.Name, h.Help)
	}
	return config
}

// parseConfig parses args into cfg: flags over the -config file over cfg's values; the result is validated.
func parseConfig(fs *flag.FlagSet, cfg *experiment.Config, config *string, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags only; see -h)", fs.Args())
	}
	if *config != "" {
		data, err := os.ReadFile(*config)
		if err != nil {
			return err
		}
		fromFile, err := experiment.ParseConfig(data)
		if err != nil {
			return fmt.Errorf("config %s: %w", *config, err)
		}
		var setErr error
		fs.Visit(func(f *flag.Flag) { // the command line wins
			if hf, ok := f.Value.(hyperparameterFlag); ok && setErr == nil {
				setErr = hf.h.Set(&fromFile, hf.String())
			}
		})
		if setErr != nil {
			return setErr
		}
		*cfg = fromFile
	}
	return cfg.Validate()
}

func runTrain(args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	cfg := experiment.Defaults()
	config := configFlags(fs, &cfg)
	dir := fs.String("dir", "", "run `DIR` (checkpoints, best weights, result.json); an interrupted run resumes (default runs/<id>)")
	test := fs.Bool("test", false, "once trained, evaluate the best weights on every example of the data's test split and report that (a finished run is tested when asked)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mtlora train [-data DATA] [-model MODEL] [flags]

Trains one multi-task adapter run and prints its per-task validation metrics (with -test, its test
metrics). DATA is mtbench, synthetic, a dataset spec (.json) or your own data file or folder (CSV, JSON
Lines, Parquet, Arrow; columns text, label and optionally task, pair, split), whose spec is inferred,
printed and saved for you to edit.
MODEL is minilm, a Hugging Face BERT-family checkpoint directory or hub:ORG/NAME. Checkpoints are
written atomically into the run directory; running the same command again resumes an interrupted run
and repeats nothing of a finished one.

Every hyperparameter has one name, here as a flag, in -config files, in plan files and in results tables.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseConfig(fs, &cfg, config, args); err != nil {
		return err
	}
	if err := describeData(cfg.Data); err != nil {
		return err
	}
	plan := experiment.NewPlan("train", cfg)
	plan.Test = *test
	runs, err := plan.Runs()
	if err != nil {
		return err
	}
	run := runs[0]
	if *dir == "" {
		*dir = filepath.Join("runs", run.ID())
	}
	if res, ok, err := experiment.ReadResult(*dir); err != nil {
		return err
	} else if ok && (res.Test != nil || !*test) {
		fmt.Fprintf(os.Stderr, "run %s finished before; its results:\n", res.ID)
		printEval(res)
		return nil
	}
	b, err := newBackend()
	if err != nil {
		return err
	}
	c := run.Config
	model := " with " + c.Model
	if c.Data == experiment.Synthetic {
		model = ""
	}
	fmt.Fprintf(os.Stderr, "run %s: %s rank %d (%d trainable parameters) on %s (%d tasks)%s → %s\n",
		run.ID(), c.Method, c.Rank, run.TrainableParams, c.Data, c.NumTasks, model, *dir)
	bar := newProgress("train", c.Steps)
	env := experiment.Env{Backend: b, Log: os.Stderr, OnStep: func(_ experiment.Run, step int, loss float64) { bar.update(step, loss) }}
	res, _, _, err := experiment.ExecuteOnce(env, run, *dir, true)
	bar.done()
	if err != nil {
		return err
	}
	printEval(res)
	if c.Data != experiment.Synthetic {
		fmt.Printf("the dataset spec of this run: %s\n", filepath.Join(*dir, experiment.SpecFile))
	}
	return nil
}

// describeData prints the tasks of data whose spec is inferred from a bare file, so the user sees what was
// guessed before training on it.
func describeData(data string) error {
	src, err := experiment.OpenData(data)
	if err != nil || !src.Inferred {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s: inferred %d task(s) (the spec is saved with the run; edit it and pass it as -data to change them):\n", data, len(src.Spec.Tasks))
	for _, t := range src.Spec.Tasks {
		kind := t.Kind()
		if len(t.Labels) > 0 {
			kind += fmt.Sprintf(", %d labels %q", len(t.Labels), t.Labels)
		}
		fmt.Fprintf(os.Stderr, "  %-16s %s\n", t.Name, kind)
	}
	return nil
}

// printEval prints a run's final and best evaluations.
func printEval(res *experiment.Result) {
	f := res.Final()
	what := "final evaluation, step " + fmt.Sprint(f.Step)
	if res.Test != nil {
		what = fmt.Sprintf("test split, %d examples, weights of step %d", examples(f), f.Step)
	}
	fmt.Printf("%-12s %8s  %s\n", "task", "score", "metrics ("+what+")")
	for _, t := range f.Tasks {
		fmt.Printf("%-12s %8.4f  %s\n", t.Task, t.Score, formatMetrics(t.Metrics))
	}
	fmt.Printf("%-12s %8.4f\n", "mean", f.Score)
	if b := res.Fit.Best; b != nil {
		fmt.Printf("best evaluation: step %d, mean score %.4f (weights in %s)\n", b.Step, b.Score, "best/")
	}
}

// examples is how many examples an evaluation scored, over its tasks.
func examples(e trainer.Eval) int {
	n := 0
	for _, t := range e.Tasks {
		n += t.Examples
	}
	return n
}

// formatMetrics lists metrics by name: "accuracy 0.9100, macro_f1 0.9000".
func formatMetrics(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %.4f", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func printJSON(v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	fmt.Println(string(data))
	return nil
}

func runEval(args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	dir := fs.String("run", "", "the run `DIR` of mtlora train (or a plan's runs/<id>)")
	data := fs.String("data", "", "evaluate the run's best weights on this data's -split instead of printing its recorded metrics: a dataset spec or data file whose tasks are the run's (by name)")
	split := fs.String("split", "test", "the split of -data to evaluate: train, validation or test")
	scoring := fs.String("scoring", "", "with -data, a decoder run's answers picked by loglik, loglik-mean or generate (default: the run's scoring)")
	evalMax := fs.Int("eval_max", 0, "with -data, at most this many examples per task, spread over the split (0: all)")
	var tasks []string
	fs.Func("tasks", "with -data, evaluate these of its tasks only, comma separated (default: every task of -data)", func(v string) error {
		tasks = strings.Split(v, ",")
		return nil
	})
	base := fs.Bool("base", false, "score the run's base model instead — the decoder it fine-tuned, without adapters — on -split of the run's own data (at most -eval_max a task), as the run scores answers or by -scoring: the run's score less this is what fine-tuning added")
	asJSON := fs.Bool("json", false, "print the whole result (configuration, every evaluation, versions) as JSON")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mtlora eval -run DIR [-data DATA [-tasks T,…] [-split S] [-scoring S] [-eval_max N]] [-json]\n       mtlora eval -run DIR -base [-split S] [-scoring S] [-eval_max N] [-json]\n\nPrints the per-task metrics a finished run reports (test when it was tested, else validation), or with -data evaluates its best weights on\nother data, or with -base scores the decoder it fine-tuned, not fine-tuned, on its own data.\n\nFlags:\n")
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
	if *base && (*data != "" || tasks != nil) {
		return fmt.Errorf("-base scores the base model on the run's own data and tasks: leave out -data and -tasks")
	}
	if *scoring != "" && *data == "" && !*base {
		return fmt.Errorf("-scoring re-evaluates: it needs -data or -base (the recorded metrics were computed with the run's scoring, %s)", res.Run.Config.Scoring)
	}
	if *data != "" || *base {
		var run *experiment.Run
		if *base {
			run = &res.Run
		}
		return evalOnData(*dir, *data, tasks, *split, *scoring, *evalMax, run, *asJSON)
	}
	if *asJSON {
		return printJSON(res)
	}
	printEval(res)
	return nil
}
