package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtlora/mtlora/experiment"
)

// The README's main job, at small size: MTL-LoRA fits conflicting synthetic tasks that LoRA cannot.
func TestDemoSmall(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo.json")
	if err := runDemo([]string{"-benchmark", "synthetic", "-steps", "80", "-methods", "lora,mtl-lora", "-json", out}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res struct{ Rows []demoRow }
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 3 || res.Rows[1].Method != "lora" || res.Rows[2].Method != "mtl-lora" {
		t.Fatalf("rows = %+v", res.Rows)
	}
	base, lora, mtl := res.Rows[0].MeanMSE, res.Rows[1].MeanMSE, res.Rows[2].MeanMSE
	if !(mtl < 0.5*lora && mtl < 0.5*base) {
		t.Errorf("held-out MSE: base %.4f, LoRA %.4f, MTL-LoRA %.4f: MTL-LoRA should be far below both", base, lora, mtl)
	}
}

func TestDemoRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-benchmark", "synthetic", "-methods", "lora,nope"}, {"-benchmark", "synthetic", "-tasks", "1"},
		{"-benchmark", "synthetic", "-tau", "0", "-methods", "mtl-lora"}, {"-benchmark", "synthetic", "stray"},
		{"-benchmark", "mtbench", "-methods", "lora,nope"}, {"-benchmark", "mtbench", "-steps", "0"}, {"-benchmark", "mtbench", "-tau", "1"},
		{"-benchmark", "imagenet"}, {"-benchmark"}} {
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
	os.WriteFile(cfg, []byte(`{"benchmark": "synthetic", "method": "mtl-lora", "rank": 4, "steps": 40, "batch": 32, "lr": 0.01, "seed": 3}`), 0o644)
	if err := runTrain([]string{"-config", cfg, "-dir", filepath.Join(dir, "a")}); err != nil {
		t.Fatal(err)
	}
	if err := runTrain([]string{"-benchmark", "synthetic", "-method", "mtl-lora", "-rank", "4", "-steps", "40", "-batch", "32", "-lr", "0.01",
		"-seed", "3", "-dir", filepath.Join(dir, "b")}); err != nil {
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
	os.WriteFile(cfg, []byte(`{"benchmark": "synthetic", "colour": "red"}`), 0o644)
	if err := runTrain([]string{"-config", cfg}); err == nil || !strings.Contains(err.Error(), `unknown key "colour"`) {
		t.Errorf("unknown key: %v", err)
	}
}
