package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/pretrained"
)

// requireMiniLM skips (or with MTLORA_REQUIRE_MODELS=1 fails) a test that needs the fetched MiniLM.
func requireMiniLM(t *testing.T) {
	t.Helper()
	if _, err := pretrained.MiniLM.Path(); err != nil {
		if os.Getenv("MTLORA_REQUIRE_MODELS") == "1" {
			t.Fatal(err)
		}
		t.Skip("needs all-MiniLM-L6-v2 (mtlora fetch-model)")
	}
}

// tiny are training flags that make a real MiniLM run take seconds.
var tiny = []string{"-model", "minilm", "-steps", "2", "-warmup", "0", "-batch_size", "4", "-seq_len", "16", "-eval_max", "4", "-rank", "2"}

func trainTiny(t *testing.T, data, dir string, extra ...string) *experiment.Result {
	t.Helper()
	if err := runTrain(append(append([]string{"-data", data, "-dir", dir}, tiny...), extra...)); err != nil {
		t.Fatal(err)
	}
	res, ok, err := experiment.ReadResult(dir)
	if err != nil || !ok {
		t.Fatalf("no result in %s: %v", dir, err)
	}
	return res
}

func taskScores(res *experiment.Result) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, tm := range res.Final().Tasks {
		out[tm.Task] = tm.Metrics
	}
	return out
}

// The README's first user path: your own CSV with two tasks (classification and regression) → train with
// your data and a model by name → per-task metrics → eval on the test split → predict a file into Parquet
// → export PEFT adapters per task; and the inferred spec, saved with the run, trains the same run again.
func TestYourCSVTrainEvalPredictExport(t *testing.T) {
	requireMiniLM(t)
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("task,text,label\n")
	for i := range 40 {
		fmt.Fprintf(&csv, "sentiment,\"review %d: %s\",%s\n", i, []string{"great film", "awful film"}[i%2], []string{"pos", "neg"}[i%2])
		fmt.Fprintf(&csv, "stars,product %d is %s,%d.5\n", i, []string{"fine", "bad", "superb"}[i%3], i%5)
	}
	data := write(t, dir, "mine.csv", csv.String())
	run := filepath.Join(dir, "run")
	res := trainTiny(t, data, run)
	scores := taskScores(res)
	if _, ok := scores["sentiment"]["macro_f1"]; !ok {
		t.Errorf("sentiment metrics %v", scores["sentiment"])
	}
	if _, ok := scores["stars"]["pearson"]; !ok {
		t.Errorf("stars is not a regression task: %v", scores["stars"])
	}
	if err := runEval([]string{"-run", run, "-data", data, "-split", "test"}); err != nil {
		t.Fatal(err)
	}
	// an encoder's answers come from heads trained with its adapters: it has no base model to score
	for args, want := range map[string]string{"-base": "minilm is an encoder", "-base -data " + data: "leave out -data and -tasks", "-scoring loglik": "needs -data or -base"} {
		if err := runEval(append([]string{"-run", run}, strings.Fields(args)...)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("eval %s: %v, want an error saying %q", args, err, want)
		}
	}
	inputs := write(t, dir, "new.csv", "task,text\nsentiment,what a great film\nstars,product 9 is superb\nsentiment,awful\n")
	out := filepath.Join(dir, "predictions.parquet")
	if err := runPredict([]string{"-run", run, "-data", inputs, "-out", out}); err != nil {
		t.Fatal(err)
	}
	var rows []string
	err := datasets.Scan(out, datasets.ReadOptions{}, func(_ string, _ int64, rec arrow.RecordBatch) error {
		col := func(n string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(n)[0]) }
		for i := range int(rec.NumRows()) {
			probs := col("probabilities").(*array.List)
			lo, hi := probs.ValueOffsets(i)
			rows = append(rows, fmt.Sprintf("%d %s %s %d", col("row").(*array.Int64).Value(i), col("task").(*array.String).Value(i),
				col("prediction").ValueStr(i), hi-lo))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || !strings.HasPrefix(rows[1], "2 stars (null) 0") || (!strings.HasPrefix(rows[0], "1 sentiment pos 2") && !strings.HasPrefix(rows[0], "1 sentiment neg 2")) {
		t.Errorf("predictions %q: want one row per input, a label and 2 probabilities for sentiment, a value for stars", rows)
	}
	if err := runExport([]string{"-run", run, "-out", filepath.Join(dir, "export")}); err != nil {
		t.Fatal(err)
	}
	for _, task := range []string{"sentiment", "stars"} {
		cfg, err := os.ReadFile(filepath.Join(dir, "export", "peft", task, "adapter_config.json"))
		if err != nil || !strings.Contains(string(cfg), "all-MiniLM-L6-v2") {
			t.Errorf("PEFT adapter of %s: %v %s", task, err, cfg)
		}
	}
	// The saved spec is the inferred one: passing it gives the same tasks and kinds.
	spec, err := datasets.ReadSpec(filepath.Join(run, experiment.SpecFile))
	if err != nil || len(spec.Tasks) != 2 || !spec.Tasks[1].Regression || strings.Join(spec.Tasks[0].Labels, ",") != "neg,pos" {
		t.Errorf("saved spec %+v, %v", spec, err)
	}
}

// Pairs, multiple choice with different numbers of choices (3 and 4) and a plain classification task in
// one JSON Lines file train together; multiple-choice accuracy comes with its chance level.
func TestYourMixedKindsTrain(t *testing.T) {
	requireMiniLM(t)
	dir := t.TempDir()
	var jl strings.Builder
	for i := range 24 {
		line := func(v map[string]any) {
			b, _ := json.Marshal(v)
			jl.Write(b)
			jl.WriteByte('\n')
		}
		line(map[string]any{"task": "next", "text": fmt.Sprintf("first %d", i), "pair": fmt.Sprintf("second %d", i), "label": []string{"yes", "no"}[i%2]})
		line(map[string]any{"task": "colour", "text": fmt.Sprintf("which is a colour? (%d)", i), "choices": []string{"cup", "red", "lamp"}, "label": "1"})
		line(map[string]any{"task": "animal", "text": fmt.Sprintf("which is an animal? (%d)", i), "pair": "pick one", "choices": []string{"dog", "cup", "lamp", "door"}, "label": "0"})
		line(map[string]any{"task": "topic", "text": fmt.Sprintf("match %d", i), "label": []string{"sport", "politics", "art"}[i%3]})
	}
	data := write(t, dir, "mixed.jsonl", jl.String())
	src, err := experiment.OpenData(data)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ts := range src.Spec.Tasks {
		kinds = append(kinds, ts.Name+": "+ts.Kind())
	}
	want := "next: text-pair classification, colour: multiple choice, animal: multiple choice with a question, topic: classification"
	if strings.Join(kinds, ", ") != want {
		t.Errorf("inferred %s, want %s", strings.Join(kinds, ", "), want)
	}
	res := trainTiny(t, data, filepath.Join(dir, "run"), "-eval_max", "0")
	scores := taskScores(res)
	if c := scores["colour"]["chance"]; c < 0.333 || c > 0.334 {
		t.Errorf("colour: chance %v, want 1/3", c)
	}
	if c := scores["animal"]["chance"]; c != 0.25 {
		t.Errorf("animal: chance %v, want 1/4", c)
	}
	if _, ok := scores["next"]["macro_f1"]; !ok || len(scores) != 4 {
		t.Errorf("scores %v", scores)
	}
	inputs := write(t, dir, "ask.jsonl", `{"task": "colour", "text": "which is a colour?", "choices": ["blue", "cup"]}`+"\n")
	if err := runPredict([]string{"-run", filepath.Join(dir, "run"), "-data", inputs, "-out", filepath.Join(dir, "p.parquet")}); err != nil {
		t.Fatal(err)
	}
}

// Data in one file per task (a spec naming each task's file, CSV and JSON Lines) and in a hive-style folder
// (task=NAME/part-0.csv) train through the same command.
func TestYourFilesPerTaskAndHiveFolders(t *testing.T) {
	requireMiniLM(t)
	dir := t.TempDir()
	var a, b strings.Builder
	a.WriteString("text,label\n")
	for i := range 20 {
		fmt.Fprintf(&a, "alpha %d,%s\n", i, []string{"x", "y"}[i%2])
		fmt.Fprintf(&b, `{"text": "beta %d", "label": %d}`+"\n", i, i%3)
	}
	write(t, dir, "a.csv", a.String())
	write(t, dir, "b.jsonl", b.String())
	spec := write(t, dir, "spec.json", `{"name": "two-files", "tasks": [
		{"name": "alpha", "labels": ["x", "y"], "path": "a.csv"},
		{"name": "beta", "labels": ["0", "1", "2"], "path": "b.jsonl"}]}`)
	res := trainTiny(t, spec, filepath.Join(dir, "run-spec"))
	if s := taskScores(res); len(s) != 2 || s["beta"] == nil {
		t.Errorf("per-file tasks: %v", s)
	}
	hive := filepath.Join(dir, "hive")
	write(t, hive, filepath.Join("task=alpha", "part-0.csv"), a.String())
	write(t, hive, filepath.Join("task=gamma", "part-0.csv"), strings.ReplaceAll(a.String(), "alpha", "gamma"))
	res = trainTiny(t, hive, filepath.Join(dir, "run-hive"))
	if s := taskScores(res); len(s) != 2 || s["gamma"] == nil {
		t.Errorf("hive tasks: %v", s)
	}
}

// Your model: checkpoints other than MiniLM — written by transformers itself (pretrained/testdata/checkpoints:
// BERT with BERT-base's head size, BERT with three token types and gelu_new, DistilBERT) — train, predict and
// export through the same commands, by directory.
func TestYourCheckpointsTrain(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("..", "..", "pretrained", "testdata", "checkpoints", "*"))
	if len(dirs) < 3 {
		t.Fatalf("only %d reference checkpoints", len(dirs))
	}
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("task,text,label\n")
	for i := range 30 {
		fmt.Fprintf(&csv, "fox,the quick brown fox %d,%s\n", i, []string{"yes", "no"}[i%2])
		fmt.Fprintf(&csv, "dog,the lazy dog %d,%d.25\n", i, i%4)
	}
	data := write(t, dir, "data.csv", csv.String())
	for _, model := range dirs {
		name := filepath.Base(model)
		run := filepath.Join(dir, name)
		if err := runTrain([]string{"-data", data, "-model", model, "-dir", run, "-steps", "2", "-warmup", "0", "-batch_size", "4",
			"-seq_len", "16", "-eval_max", "4", "-rank", "2", "-targets", "q,v"}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := runPredict([]string{"-run", run, "-task", "fox", "the quick fox"}); err != nil {
			t.Fatalf("%s: predict: %v", name, err)
		}
		if err := runExport([]string{"-run", run, "-out", filepath.Join(run, "export")}); err != nil {
			t.Fatalf("%s: export: %v", name, err)
		}
		cfg, err := os.ReadFile(filepath.Join(run, "export", "peft", "fox", "adapter_config.json"))
		abs, _ := filepath.Abs(model)
		if err != nil || !strings.Contains(string(cfg), abs) {
			t.Errorf("%s: PEFT adapter does not name its base model %s: %v %s", name, abs, err, cfg)
		}
	}
}
