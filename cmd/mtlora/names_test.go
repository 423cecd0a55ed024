package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/trainer"
)

// Every hyperparameter has one name: the flag of mtlora train, the key of its -config file, the key of a
// plan's "run" and, where it can vary, of its "vary", the Go field of Config (and of Vary), and the column of
// the results table. Each is checked by use: the flag sets the field, the config key and plan key set it,
// the results column holds it.
func TestEveryHyperparameterHasOneName(t *testing.T) {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	cfg := experiment.Defaults()
	configFlags(fs, &cfg)
	hps := experiment.Hyperparameters()
	if len(hps) < 30 {
		t.Fatalf("only %d hyperparameters", len(hps))
	}
	// The results table's columns, from a table holding one run.
	res := &experiment.Result{ID: "x", Run: experiment.Run{Plan: "p", Config: experiment.Defaults()},
		Fit: trainer.FitResult{Evals: []trainer.Eval{{Step: 1, Score: 0.5, Tasks: []trainer.TaskMetrics{{Task: "a", Score: 0.5}}}}}}
	table := filepath.Join(t.TempDir(), "results.parquet")
	if err := experiment.WriteResults(table, []*experiment.Result{res}); err != nil {
		t.Fatal(err)
	}
	columns := map[string]bool{}
	if err := datasets.Scan(table, datasets.ReadOptions{}, func(_ string, _ int64, rec arrow.RecordBatch) error {
		for _, f := range rec.Schema().Fields() {
			columns[f.Name] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	vary := reflect.TypeFor[experiment.Vary]()
	varied := 0
	for _, h := range hps {
		// A value other than the default, as text.
		probe := experiment.Defaults()
		value := map[reflect.Kind]string{reflect.Int: "7", reflect.Int64: "7", reflect.Float64: "0.625", reflect.Bool: "true",
			reflect.String: "x", reflect.Slice: "a,b", reflect.Map: "a=2"}[h.Field.Type.Kind()]
		switch h.Name {
		case "method":
			value = "dora"
		case "targets":
			value = "q,v"
		case "schedule":
			value = "cosine"
		case "sampling":
			value = "uniform"
		case "lambda":
			value = "full"
		case "mix_init":
			value = "uniform"
		case "scoring":
			value = "generate"
		}
		if err := h.Set(&probe, value); err != nil {
			t.Errorf("%s: %v", h.Name, err)
			continue
		}
		want := h.String(&probe)
		// The flag.
		f := fs.Lookup(h.Name)
		if f == nil {
			t.Errorf("no flag -%s", h.Name)
			continue
		}
		c := experiment.Defaults()
		f2 := flag.NewFlagSet("t", flag.ContinueOnError)
		configFlags(f2, &c)
		if err := f2.Parse([]string{"-" + h.Name + "=" + value}); err != nil || h.String(&c) != want {
			t.Errorf("-%s %s set %q (%v)", h.Name, value, h.String(&c), err)
		}
		// The config file's and the plan's key: the JSON of the probe holds the value under the name, and reads back.
		data, _ := json.Marshal(probe)
		var keys map[string]json.RawMessage
		_ = json.Unmarshal(data, &keys)
		raw, ok := keys[h.Name]
		if !ok {
			t.Errorf("%s: no such key in the JSON of Config: %s", h.Name, data)
			continue
		}
		fromFile := experiment.Defaults()
		if err := json.Unmarshal([]byte(`{"`+h.Name+`": `+string(raw)+`}`), &fromFile); err != nil || h.String(&fromFile) != want {
			t.Errorf("config key %q: %q (%v)", h.Name, h.String(&fromFile), err)
		}
		plan, err := experiment.ParsePlan([]byte(`{"name": "p", "run": {"` + h.Name + `": ` + string(raw) + `}}`))
		if got := h.String(&plan.Run); got != want && (err == nil || !strings.Contains(err.Error(), h.Name)) {
			t.Errorf("plan run key %q: %q (%v)", h.Name, got, err)
		}
		// Vary: the field of the same Go name has the same key and holds the same type.
		if vf, ok := vary.FieldByName(h.Field.Name); ok {
			varied++
			tag, _, _ := strings.Cut(vf.Tag.Get("json"), ",")
			if tag != h.Name || vf.Type.Elem() != h.Field.Type {
				t.Errorf("Vary.%s: key %q of %s, Config's is %q of %s", vf.Name, tag, vf.Type.Elem(), h.Name, h.Field.Type)
			}
		}
		// The results table.
		if !columns[h.Name] {
			t.Errorf("the results table has no column %q", h.Name)
		}
	}
	// Every Vary field varies a hyperparameter.
	for i := range vary.NumField() {
		name := vary.Field(i).Name
		found := false
		for _, h := range hps {
			found = found || h.Field.Name == name
		}
		if !found {
			t.Errorf("Vary.%s varies no hyperparameter", name)
		}
	}
	if varied != vary.NumField() {
		t.Errorf("%d varied hyperparameters, Vary has %d fields", varied, vary.NumField())
	}
	// mtlora train has no other flags than the hyperparameters, -config and -dir.
	fs.VisitAll(func(f *flag.Flag) {
		if _, isHP := f.Value.(hyperparameterFlag); !isHP && f.Name != "config" {
			t.Errorf("flag -%s is not a hyperparameter", f.Name)
		}
	})
}

// The README's hyperparameter table lists every hyperparameter with its default and help, as the code has
// them (regenerate it with MTLORA_HYPERPARAMETERS_MD=FILE go test ./cmd/mtlora -run HyperparameterTable).
func TestReadmeHyperparameterTable(t *testing.T) {
	var b strings.Builder
	b.WriteString("| name | default | what it is |\n|---|---|---|\n")
	d := experiment.Defaults()
	for _, h := range experiment.Hyperparameters() {
		def := h.String(&d)
		if def == "" {
			def = "—"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", h.Name, def, strings.ReplaceAll(h.Help, "|", `\|`))
	}
	if out := os.Getenv("MTLORA_HYPERPARAMETERS_MD"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range strings.Split(strings.TrimSpace(b.String()), "\n")[2:] {
		if !strings.Contains(string(readme), row) {
			t.Errorf("README lacks the row %s", row)
		}
	}
}
