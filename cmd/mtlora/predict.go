package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets/benchmark"
	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/pretrained"
)

// inferenceEnv is the environment of a finished mtbench run.
func inferenceEnv() (experiment.Env, error) {
	b, err := backend.New()
	if err != nil {
		return experiment.Env{}, err
	}
	env := experiment.Env{Backend: b}
	if env.ModelDir, err = pretrained.MiniLM.Path(); err != nil {
		return env, err
	}
	if env.DataDir, err = benchmark.Path(); err != nil {
		return env, err
	}
	return env, nil
}

func runPredict(args []string) error {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	dir := fs.String("run", "", "a finished mtbench run `DIR` (mtlora train, or a sweep's runs/<id>)")
	task := fs.String("task", "", "the task whose head answers (e.g. spam, sotu-party, afinn)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mtlora predict -run DIR -task TASK [TEXT ...]

Predicts with the best weights of a run: one line per text, from the arguments or, without any, from
standard input (one text per line; a pair task takes "first<TAB>second").

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *task == "" {
		return fmt.Errorf("-run and -task are required")
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
	env, err := inferenceEnv()
	if err != nil {
		return err
	}
	tr, err := experiment.OpenRun(env, *dir)
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
	dir := fs.String("run", "", "a finished mtbench run `DIR`")
	out := fs.String("out", "", "output `DIR` (peft/<task>/ and merged/<task>/)")
	peft := fs.Bool("peft", true, "write a PEFT LoRA adapter per task (adapter_config.json, adapter_model.safetensors)")
	merged := fs.Bool("merged", false, "write each task's merged encoder as a complete Hugging Face checkpoint (about 90 MB per task)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mtlora export -run DIR -out DIR [-peft] [-merged]\n\nExports a run's best adapter per task: as a PEFT LoRA adapter for the original Hugging Face model\n(module names encoder.layer.N.attention.self.query, …), and/or merged into the encoder weights.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *out == "" {
		return fmt.Errorf("-run and -out are required")
	}
	env, err := inferenceEnv()
	if err != nil {
		return err
	}
	tr, err := experiment.OpenRun(env, *dir)
	if err != nil {
		return err
	}
	if err := tr.Export(*out, *peft, *merged); err != nil {
		return err
	}
	fmt.Println(*out)
	return nil
}
