package experiment

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/pretrained"
)

// requireSmolLM2 skips unless SmolLM2 is in the cache (fails with MTLORA_REQUIRE_MODELS=1).
func requireSmolLM2(t *testing.T) {
	t.Helper()
	if _, err := pretrained.SmolLM2.Path(); err != nil {
		if os.Getenv("MTLORA_REQUIRE_MODELS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// toyDecoderCSV writes a two-task classification CSV (sentiment, topic) for decoder runs.
func toyDecoderCSV(t *testing.T) string {
	var b strings.Builder
	b.WriteString("task,text,label\n")
	pos, neg := []string{"great", "lovely", "superb"}, []string{"awful", "boring", "dreadful"}
	for i := range 24 {
		if i%2 == 0 {
			fmt.Fprintf(&b, "sentiment,The film was %s.,positive\n", pos[i%3])
			fmt.Fprintf(&b, "topic,The striker scored goal %d.,sport\n", i)
		} else {
			fmt.Fprintf(&b, "sentiment,The film was %s.,negative\n", neg[i%3])
			fmt.Fprintf(&b, "topic,Parliament passed bill %d.,politics\n", i)
		}
	}
	p := filepath.Join(t.TempDir(), "toy.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// SmolLM2 fine-tunes through the same plan path as the encoders: MTL-LoRA on all seven projections, two
// tasks in each batch, the answer-token loss falling, candidates scored by log-likelihood at evaluation.
func TestDecoderRun(t *testing.T) {
	requireSmolLM2(t)
	data := toyDecoderCSV(t)
	plan, err := ParsePlan([]byte(fmt.Sprintf(`{"name": "dec", "run": {"data": %q, "model": "smollm2-135m", "method": "mtl-lora",
		"rank": 4, "targets": "all", "steps": 3, "batch_size": 4, "seq_len": 24, "learning_rate": 0.002, "eval_max": 4}}`, data)))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := plan.Runs()
	if err != nil {
		t.Fatal(err)
	}
	if runs[0].TrainableParams < 1e6 {
		t.Errorf("%d trainable parameters: the adapters of 30 blocks × 7 projections at rank 4 are over a million", runs[0].TrainableParams)
	}
	res, err := Execute(Env{Backend: backend.MustNew()}, runs[0], t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := res.Fit.Losses
	if len(l) != 3 || !(l[2] < l[0]) || math.IsNaN(l[2]) {
		t.Errorf("answer-token losses %v: expected 3 finite, falling", l)
	}
	if f := res.Final(); len(f.Tasks) != 2 || f.Tasks[0].Metrics["accuracy"] == 0 && f.Tasks[1].Metrics["accuracy"] == 0 {
		t.Errorf("final evaluation %+v", f)
	}
}

// A regression task cannot be answered by scoring candidates: an error naming it, before any training.
func TestDecoderRunRejectsRegression(t *testing.T) {
	requireSmolLM2(t)
	p := filepath.Join(t.TempDir(), "reg.csv")
	var b strings.Builder
	b.WriteString("task,text,label\n")
	for i := range 20 {
		fmt.Fprintf(&b, "score,text %d,%g\n", i, float64(i)/7)
		fmt.Fprintf(&b, "topic,text %d,%s\n", i, []string{"a", "b"}[i%2])
	}
	os.WriteFile(p, []byte(b.String()), 0o644)
	plan, err := ParsePlan([]byte(fmt.Sprintf(`{"name": "r", "run": {"data": %q, "model": "smollm2-135m", "steps": 1}}`, p)))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := plan.Runs()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Execute(Env{Backend: backend.MustNew()}, runs[0], t.TempDir())
	if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `"score" is a regression task`) {
		t.Errorf("error %v", err)
	}
}
