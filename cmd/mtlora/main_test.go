package main

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/trainer"
)

// The README's main job, at small size: MTL-LoRA fits conflicting synthetic tasks that LoRA cannot.
func TestDemoSmall(t *testing.T) {
	dir := t.TempDir()
	if err := runDemo([]string{"-data", "synthetic", "-steps", "150", "-methods", "lora,mtl-lora", "-dir", dir}); err != nil {
		t.Fatal(err)
	}
	results, err := experiment.CollectResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	score := map[string]float64{}
	for _, r := range results {
		score[r.Run.Config.Method.String()] = r.Final().Score // −MSE
	}
	if len(results) != 2 || !(-score["mtl-lora"] < 0.5*-score["lora"]) {
		t.Errorf("held-out MSE: LoRA %.4f, MTL-LoRA %.4f (%d runs): MTL-LoRA should be far below", -score["lora"], -score["mtl-lora"], len(results))
	}
	if _, err := os.Stat(filepath.Join(dir, "report.html")); err != nil {
		t.Error(err)
	}
}

func TestDemoRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-data", "synthetic", "-methods", "lora,nope"}, {"-data", "synthetic", "-tasks", "1"},
		{"-data", "synthetic", "-temperature", "0", "-methods", "mtl-lora"}, {"-data", "synthetic", "stray"},
		{"-data", "mtbench", "-methods", "lora,nope"}, {"-data", "mtbench", "-steps", "0"}, {"-data", "mtbench", "-tau", "1"},
		{"-data", "imagenet"}, {"-data"}, {"-data", "synthetic", "-seeds", "0"}} {
		if err := runDemo(args); err == nil {
			t.Errorf("demo %v: accepted", args)
		}
	}
}

func TestFetchModelFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-endpoint", "http://127.0.0.1:1"},                                               // hub flags without -hub
		{"-hub", "a/b", "all-MiniLM-L6-v2"},                                               // both sources
		{"-hub", "acme/absent", "-endpoint", "http://127.0.0.1:1", "-cache", t.TempDir()}, // unreachable hub
		{"no-such-model"},
	} {
		err := runFetchModel(args)
		if err == nil {
			t.Errorf("%q: no error", args)
			continue
		}
		t.Logf("%q: %v", args, err)
		if args[0] == "-hub" && len(args) > 3 && !strings.Contains(err.Error(), "acme/absent") {
			t.Errorf("%q: error does not name the repository: %v", args, err)
		}
	}
}

// A config file is equivalent to the flags: the same run (same id, same metrics) either way; flags given on
// the command line win over the file; unknown keys are refused by name.
func TestTrainConfigFileEqualsFlags(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "run.json")
	os.WriteFile(cfg, []byte(`{"data": "synthetic", "targets": "dense", "method": "mtl-lora", "rank": 4, "steps": 40, "batch_size": 32,
		"learning_rate": 0.01, "seed": 3}`), 0o644)
	if err := runTrain([]string{"-config", cfg, "-dir", filepath.Join(dir, "a")}); err != nil {
		t.Fatal(err)
	}
	if err := runTrain([]string{"-data", "synthetic", "-targets", "dense", "-method", "mtl-lora", "-rank", "4", "-steps", "40",
		"-batch_size", "32", "-learning_rate", "0.01", "-seed", "3", "-dir", filepath.Join(dir, "b")}); err != nil {
		t.Fatal(err)
	}
	a, _, err := experiment.ReadResult(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := experiment.ReadResult(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID || a.Final().Score != b.Final().Score {
		t.Errorf("config file: %s %v; flags: %s %v", a.ID, a.Final().Score, b.ID, b.Final().Score)
	}
	if err := runTrain([]string{"-config", cfg, "-seed", "4", "-dir", filepath.Join(dir, "c")}); err != nil {
		t.Fatal(err)
	}
	if c, _, _ := experiment.ReadResult(filepath.Join(dir, "c")); c == nil || c.Run.Config.Seed != 4 {
		t.Errorf("the -seed flag did not win over the file")
	}
	os.WriteFile(cfg, []byte(`{"data": "synthetic", "colour": "red"}`), 0o644)
	if err := runTrain([]string{"-config", cfg}); err == nil || !strings.Contains(err.Error(), `unknown key "colour"`) {
		t.Errorf("unknown key: %v", err)
	}
}

// Every command answers -h with its help and flag.ErrHelp, which main treats as success (exit 0), doing
// nothing else.
func TestEveryCommandHelp(t *testing.T) {
	for _, c := range commands {
		if err := c.run([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("mtlora %s -h: %v, want flag.ErrHelp", c.name, err)
		}
	}
}

// A sweep's report shows the majority answer of the runs' data and which tasks they learned beyond it; when
// that data is gone it says so and shows the rest.
func TestReportSweepWithMajorityAnswer(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "toy.csv")
	if err := os.WriteFile(csv, []byte("task,text,label,split\ntopic,one,a,train\ntopic,two,a,train\ntopic,three,b,train\ntopic,four,b,validation\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := experiment.Defaults()
	c.Data = csv
	res := experiment.Result{ID: "lora-r8-s1-x", Run: experiment.Run{Config: c}}
	res.Fit.Evals = []trainer.Eval{{Step: 1, Score: 1, Tasks: []trainer.TaskMetrics{{Task: "topic", Score: 1, Metrics: map[string]float64{"accuracy": 1, "macro_f1": 1}, Examples: 1}}}}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	sweep := filepath.Join(dir, "sweep")
	if err := os.MkdirAll(filepath.Join(sweep, "runs", res.ID), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sweep, "runs", res.ID, "result.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	page := func() string {
		if err := runReport([]string{sweep}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(sweep, "report.html"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if p := page(); !strings.Contains(p, "Tasks learned, validation split") || !strings.Contains(p, "majority answer") {
		t.Errorf("the sweep report lacks the majority answer or the tasks learned")
	}
	if err := os.Remove(csv); err != nil {
		t.Fatal(err)
	}
	if p := page(); !strings.Contains(p, "Majority answer and tasks learned: not shown") || strings.Contains(p, "Tasks learned, validation split") {
		t.Errorf("without its data the sweep report does not say why the majority answer is missing")
	}
}
