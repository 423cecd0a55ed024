package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/trainer"
)

// openTrained loads a finished text run for inference on the configured backend.
func openTrained(dir string) (*experiment.Trained, error) {
	b, err := newBackend()
	if err != nil {
		return nil, err
	}
	return experiment.OpenRun(experiment.Env{Backend: b, Log: os.Stderr}, dir)
}

// evalOnData evaluates a run's best weights on a split of other data — or, with base (the run's, read from its
// result), the run's base model (not fine-tuned) on a split of the run's own data.
func evalOnData(dir, data string, tasks []string, split, scoring string, evalMax int, base *experiment.Run, asJSON bool) error {
	if evalMax < 0 {
		return fmt.Errorf("-eval_max must be ≥ 0 (0: all), got %d", evalMax)
	}
	sp, err := datasets.ParseSplit(split)
	if err != nil {
		return fmt.Errorf("-split: %w", err)
	}
	var metrics []trainer.TaskMetrics
	if base != nil {
		if metrics, data, err = evalBase(*base, sp, scoring, evalMax); err != nil {
			return err
		}
	} else {
		tr, err := openTrained(dir)
		if err != nil {
			return err
		}
		if scoring != "" {
			if err := tr.Scoring.UnmarshalText([]byte(scoring)); err != nil {
				return fmt.Errorf("-scoring: %w", err)
			}
		}
		if metrics, err = tr.EvaluateTasks(data, tasks, sp, evalMax); err != nil {
			return err
		}
	}
	if asJSON {
		return printJSON(metrics)
	}
	fmt.Printf("%-12s %8s  metrics (%s split of %s)\n", "task", "score", sp, data)
	for _, m := range metrics {
		fmt.Printf("%-12s %8.4f  %s\n", m.Task, m.Score, formatMetrics(m.Metrics))
	}
	return nil
}

// evalBase scores a decoder run's base model on a split of the run's data as the run scores its answers (or
// by scoring); it also returns what it says the data is.
func evalBase(run experiment.Run, split datasets.Split, scoring string, evalMax int) ([]trainer.TaskMetrics, string, error) {
	if scoring != "" {
		if err := run.Config.Scoring.UnmarshalText([]byte(scoring)); err != nil {
			return nil, "", fmt.Errorf("-scoring: %w", err)
		}
	}
	b, err := newBackend()
	if err != nil {
		return nil, "", err
	}
	metrics, err := experiment.BaseModelEval(experiment.Env{Backend: b, Log: os.Stderr}, run, split, evalMax)
	return metrics, fmt.Sprintf("%s by %s, not fine-tuned", run.Config.Data, run.Config.Model), err
}

func runPredict(args []string) error {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	dir := fs.String("run", "", "a finished text run `DIR` (mtlora train, or a plan's runs/<id>)")
	task := fs.String("task", "", "the task whose head answers (rows of -data with a task column name their own)")
	data := fs.String("data", "", "a data `FILE` (or folder) to predict: column text, optionally pair and task; writes -out")
	out := fs.String("out", "predictions.parquet", "with -data: the Parquet `FILE` written, one row per input row")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mtlora predict -run DIR -task TASK [TEXT ...]
       mtlora predict -run DIR -data FILE [-task TASK] [-out FILE.parquet]

Predicts with the best weights of a run: one line per text, from the arguments or, without any, from
standard input (one text per line; a pair task takes "first<TAB>second"). With -data, every row of FILE
(CSV, JSON Lines, Parquet, Arrow) is predicted by its task's head and -out gets one row per input row:
row, task, text, pair, prediction (the label), score (its probability, or the regression value) and
probabilities (per class, in the order of the task's labels, which the file's metadata lists).

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("-run is required")
	}
	if *data != "" {
		if fs.NArg() > 0 {
			return fmt.Errorf("-data and texts as arguments exclude each other")
		}
		inputs, err := datasets.ReadInputs(*data, datasets.ReadOptions{}, *task)
		if err != nil {
			return err
		}
		tr, err := openTrained(*dir)
		if err != nil {
			return err
		}
		preds, err := tr.PredictInputs(inputs)
		if err != nil {
			return err
		}
		if err := tr.WritePredictions(*out, inputs, preds); err != nil {
			return err
		}
		fmt.Printf("wrote %d predictions to %s\n", len(preds), *out)
		return nil
	}
	if *task == "" {
		return fmt.Errorf("-task is required (or -data with a task column)")
	}
	texts := fs.Args()
	if len(texts) == 0 {
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 1<<16), 1<<24)
		for sc.Scan() {
			texts = append(texts, sc.Text())
		}
		if err := sc.Err(); err != nil {
			return err
		}
	}
	if len(texts) == 0 {
		return fmt.Errorf("no texts to predict")
	}
	tr, err := openTrained(*dir)
	if err != nil {
		return err
	}
	var pairs []string
	for _, t := range tr.Tasks {
		if t.Name == *task && t.Pair {
			pairs = make([]string, len(texts))
			for i, s := range texts {
				a, b, ok := strings.Cut(s, "\t")
				if !ok {
					return fmt.Errorf("input %d: task %s takes pairs: first<TAB>second", i+1, *task)
				}
				texts[i], pairs[i] = a, b
			}
		}
	}
	preds, err := tr.Predict(*task, texts, pairs)
	if err != nil {
		return err
	}
	for i, p := range preds {
		if p.Label != "" {
			fmt.Printf("%s\t%.3f\t%s\n", p.Label, p.Probability, texts[i])
		} else {
			fmt.Printf("%.4f\t%s\n", p.Value, texts[i])
		}
	}
	return nil
}

func runExport(args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	dir := fs.String("run", "", "a finished text run `DIR`")
	out := fs.String("out", "", "output `DIR` (peft/<task>/ and merged/<task>/)")
	peft := fs.Bool("peft", true, "write a PEFT LoRA adapter per task (adapter_config.json, adapter_model.safetensors)")
	merged := fs.Bool("merged", false, "write each task's merged encoder as a complete Hugging Face checkpoint (about 90 MB per task)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mtlora export -run DIR -out DIR [-peft] [-merged]\n\nExports a run's best adapter per task: as a PEFT LoRA adapter for the original Hugging Face model\n(its module names, e.g. encoder.layer.N.attention.self.query), and/or merged into the encoder weights.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *out == "" {
		return fmt.Errorf("-run and -out are required")
	}
	tr, err := openTrained(*dir)
	if err != nil {
		return err
	}
	if err := tr.Export(*out, *peft, *merged); err != nil {
		return err
	}
	fmt.Println(*out)
	return nil
}
