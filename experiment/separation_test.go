package experiment

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/pretrained"
)

// The inputs LayerInputs reads off the adapted layers are the ones transformers' BertModel feeds its
// linear layers (forward pre-hooks, scripts/reference/layer_inputs_fixture.py), averaged over tokens: with
// fresh LoRA adapters (B = 0) the adapted encoder is the pretrained one. Query, key and value share their
// input.
func TestLayerInputsMatchTransformers(t *testing.T) {
	dir, err := pretrained.MiniLM.Path()
	if err != nil {
		if os.Getenv("MTLORA_REQUIRE_MODELS") == "1" {
			t.Fatal(err)
		}
		t.Skip("needs all-MiniLM-L6-v2 (mtlora fetch-model)")
	}
	data, err := os.ReadFile("testdata/layer_inputs.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		SeqLen int `json:"seq_len"`
		Cases  []struct {
			Text       string               `json:"text"`
			MeanInputs map[string][]float64 `json:"mean_inputs"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatal(err)
	}
	m, err := pretrained.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := Defaults()
	c.Method, c.Targets, c.SeqLen, c.NumTasks = mtlcore.LoRA, mtlcore.TargetQuery|mtlcore.TargetKey|mtlcore.TargetValue|mtlcore.TargetAttnOutput, fx.SeqLen, 1
	inj, err := mtlcore.NewInjector(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	tasks := []datasets.TaskSpec{{Name: "t", Labels: []string{"a", "b"}}}
	tr := &Trained{Result: &Result{ID: "fresh", Run: Run{Config: c}}, Model: m, Tasks: tasks, inj: inj, backend: backend.MustNew()}
	set := &datasets.Set{Spec: datasets.Spec{Tasks: tasks}}
	for _, cs := range fx.Cases {
		set.Examples = append(set.Examples, datasets.Example{Text: cs.Text, Split: datasets.Test})
	}
	got, err := tr.LayerInputs(set)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 24 {
		t.Fatalf("%d layers observed, want 24 (q, k, v, o in 6 blocks): %v", len(got), keys(got))
	}
	for path, rows := range got {
		if len(rows) != len(fx.Cases) {
			t.Fatalf("%s: %d rows for %d examples", path, len(rows), len(fx.Cases))
		}
		if strings.HasSuffix(path, "/key") || strings.HasSuffix(path, "/value") {
			q := got[strings.TrimSuffix(strings.TrimSuffix(path, "/key"), "/value")+"/query"]
			for i := range rows {
				for j := range rows[i] {
					if rows[i][j] != q[i][j] {
						t.Fatalf("%s, example %d: input differs from the query's", path, i)
					}
				}
			}
		}
	}
	checked := 0
	var worst float64
	for i, cs := range fx.Cases {
		for name, want := range cs.MeanInputs {
			for path, rows := range got {
				if !strings.HasSuffix(path, "/"+name) {
					continue
				}
				checked++
				for j := range want {
					worst = math.Max(worst, math.Abs(rows[i][j]-want[j]))
				}
			}
		}
	}
	if checked != 12*len(fx.Cases) || worst > 2e-4 {
		t.Errorf("%d layer inputs checked (want %d), largest difference from transformers %.2g", checked, 12*len(fx.Cases), worst)
	}
	t.Logf("%d layer inputs within %.2g of transformers", checked, worst)
}
