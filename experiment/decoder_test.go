package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/mtlora/mtlora/zoo"

	"github.com/mtlora/mtlora/mtlcore"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/generate"
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
	env, dir := Env{Backend: backend.MustNew()}, t.TempDir()
	res, err := Execute(env, runs[0], dir)
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

	// The finished run predicts, evaluates and exports like an encoder run.
	tr, err := OpenRun(env, dir)
	if err != nil {
		t.Fatal(err)
	}
	preds, err := tr.Predict("sentiment", []string{"The film was superb.", "The film was awful."}, nil)
	if err != nil || len(preds) != 2 || (preds[0].Label != "positive" && preds[0].Label != "negative") || len(preds[0].Probabilities) != 2 {
		t.Fatalf("predictions %+v, %v", preds, err)
	}
	metrics, err := tr.Evaluate(data, 1, 4)
	if err != nil || len(metrics) != 2 {
		t.Fatalf("evaluate: %+v, %v", metrics, err)
	}
	checkScorings(t, tr, data)
	checkBaseModel(t, env, runs[0], tr, data)
	gen, err := tr.Generate([]datasets.Input{{Task: "sentiment", Text: "The film was superb."}, {Task: "topic", Text: "The striker scored goal 3."}}, 3)
	if err != nil || len(gen) != 2 || len(gen[0].IDs) == 0 && gen[0].Reason != "eos" {
		t.Errorf("generate: %+v, %v", gen, err)
	}
	out := t.TempDir()
	if err := tr.Export(out, true, true); err != nil {
		t.Fatal(err)
	}
	pc, factors, err := mtlcore.ReadPEFT(filepath.Join(out, "peft", "topic"))
	if err != nil {
		t.Fatal(err)
	}
	if pc.R != 4 || len(factors) != 7*30 || pc.BaseModelNameOrPath != "HuggingFaceTB/SmolLM2-135M-Instruct" {
		t.Errorf("PEFT export: r=%d, %d modules, base %q", pc.R, len(factors), pc.BaseModelNameOrPath)
	}
	for _, m := range []string{"model.layers.0.self_attn.q_proj", "model.layers.29.mlp.gate_proj", "model.layers.7.self_attn.o_proj"} {
		if _, ok := factors[m]; !ok {
			t.Errorf("PEFT modules are not named as in the Hugging Face model: no %s", m)
		}
	}
	for _, f := range []string{"model.safetensors", "config.json", "tokenizer.json"} {
		if _, err := os.Stat(filepath.Join(out, "merged", "sentiment", f)); err != nil {
			t.Errorf("merged export: %v", err)
		}
	}
	if peftDir := os.Getenv("MTLORA_PEFT_CHECK_DIR"); peftDir != "" {
		writePEFTCheck(t, tr, peftDir)
	}
}

// checkBaseModel checks BaseModelEval against the run's own evaluation with every up-projection B set to zero
// (MTL-LoRA then adds exactly nothing, so the run is its base model): the same metrics on every training
// example, by each scoring. The trained run's B is restored after.
func checkBaseModel(t *testing.T, env Env, run Run, tr *Trained, data string) {
	t.Helper()
	saved, scoring := map[string]*tensors.Tensor{}, tr.Scoring
	for v := range tr.store().IterVariables() {
		if path.Base(v.Path()) == mtlcore.VarB {
			saved[v.Path()] = v.MustValue()
			if err := v.SetValuePreservingOld(tensors.FromShape(v.Shape())); err != nil { // zeros; the trained value kept
				t.Fatal(err)
			}
		}
	}
	if len(saved) != 7*30 {
		t.Fatalf("%d up-projections zeroed, want one per adapted layer (7 × 30)", len(saved))
	}
	defer func() {
		tr.Scoring = scoring
		for p, value := range saved {
			if err := tr.store().GetVariable(p).SetValue(value); err != nil {
				t.Fatal(err)
			}
		}
	}()
	if _, err := pretrained.MiniLM.Path(); err == nil {
		enc := run
		enc.Config.Model = "minilm"
		if _, err := BaseModelEval(env, enc, datasets.Validation, 0); err == nil || !strings.Contains(err.Error(), "minilm is an encoder") {
			t.Errorf("the base model of an encoder run: %v", err)
		}
	}
	// every candidate's log-likelihood, not only the answers picked from them
	rows := func(m *loadedDecoder, fn func(*model.Scope, []*Node) *Node, inj *mtlcore.Injector, set *datasets.Set, al int) map[string][]float32 {
		out := map[string][]float32{}
		err := decoderRows(env.Backend, m, fn, inj, evalSubset(set, datasets.Train, 0), run.Config.SeqLen, al, ScoreLogLik, func(e datasets.Example, row []float32) {
			out[e.Text] = row
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	m, set, al, err := baseModel(env, run)
	if err != nil {
		t.Fatal(err)
	}
	fn, err := tr.model(0)
	if err != nil {
		t.Fatal(err)
	}
	trSet, _, err := tr.runSet(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	base, zeroed := rows(m, zoo.LlamaAnswers(m.Config, nil), nil, set, al), rows(tr.decoder, fn, tr.inj, trSet, al)
	if len(base) < 20 || len(base) != len(zeroed) {
		t.Fatalf("%d and %d training examples scored", len(base), len(zeroed))
	}
	for text, row := range base {
		for c := range row {
			if math.Abs(float64(row[c]-zeroed[text][c])) > 1e-4 {
				t.Fatalf("%q candidate %d: the base model's log-likelihood %v, the run's without its adapters' contribution %v", text, c, row[c], zeroed[text][c])
			}
		}
	}
	for _, s := range []Scoring{ScoreLogLik, ScoreLogLikMean, ScoreGenerate} {
		tr.Scoring, run.Config.Scoring = s, s
		want, err := tr.Evaluate(data, datasets.Train, 0) // the most examples
		if err != nil {
			t.Fatal(err)
		}
		got, err := BaseModelEval(env, run, datasets.Train, 0)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: the base model scored %+v, the run without its adapters' contribution %+v", s, got, want)
		}
	}
}

// checkScorings checks the three scorings on a finished run against computations of their own:
// loglik-mean is the summed log-likelihood divided by the answer's tokens and EOS; generated answers are
// those of greedy generation one prompt at a time, matched to the candidates; Evaluate by generation
// reports the fraction answered.
func checkScorings(t *testing.T, tr *Trained, data string) {
	src, err := OpenData(data)
	if err != nil {
		t.Fatal(err)
	}
	all, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	set := evalSubset(all, datasets.Validation, 3)
	tok, seqLen := tr.decoder.Tokenizer, tr.Result.Run.Config.SeqLen
	fn, err := tr.model(1)
	if err != nil {
		t.Fatal(err)
	}
	al, err := tr.decoder.answerLen(set)
	if err != nil {
		t.Fatal(err)
	}
	rows := func(s Scoring) [][]float32 {
		var out [][]float32
		if err := decoderRows(tr.backend, tr.decoder, fn, tr.inj, set, seqLen, al, s, func(_ datasets.Example, row []float32) {
			out = append(out, row)
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	sums, means, gens := rows(ScoreLogLik), rows(ScoreLogLikMean), rows(ScoreGenerate)
	// Scored in batches of similar rows padded only as far as they need: the same as each row alone at the
	// full shape (seqLen, answer slots), and some batch has a smaller shape than that.
	smaller := false
	for i, e := range set.Examples {
		p, err := tr.decoder.promptOf(set, e)
		if err != nil {
			t.Fatal(err)
		}
		for c := range p.Candidates {
			toks, at, err := p.Encode(tok, tok.EOS, c, seqLen, al)
			if err != nil {
				t.Fatal(err)
			}
			if sl, a := scoreShape(len(toks), len(toks)-at, seqLen, al); sl < seqLen || a < al {
				smaller = true
			}
			seqs, answers, tasks, weights := make([][]int32, rowsPerBatch), make([]int, rowsPerBatch), make([]int32, rowsPerBatch), make([]float32, rowsPerBatch)
			for k := range seqs {
				seqs[k], answers[k], tasks[k] = toks, at, e.Task
			}
			weights[0] = 1
			bt := datasets.LMRows(seqs, answers, tasks, weights, tok.Pad, seqLen, al)
			out, err := tr.decoder.scorer.Call(bt.Inputs[0], bt.Inputs[1], bt.Inputs[2], bt.Inputs[3], bt.Labels[0], bt.Labels[1])
			if err != nil {
				t.Fatal(err)
			}
			if want := tensors.MustCopyFlatData[float32](out[0])[0]; math.Abs(float64(sums[i][c]-want)) > 1e-4*math.Abs(float64(want)) {
				t.Errorf("example %d, candidate %d: log-likelihood %v in a batch of its kind, %v alone at the full shape", i, c, sums[i][c], want)
			}
		}
	}
	if !smaller {
		t.Errorf("no row scored in a smaller shape than (%d, %d): the comparison above tests nothing", seqLen, al)
	}
	g := &generate.Model{Config: tr.decoder.Config, Injector: tr.inj, Store: tr.store(), Backend: tr.backend, EOS: tok.EOS, Pad: tok.Pad, Decode: tok.Decode}
	for i, e := range set.Examples {
		p, err := tr.decoder.promptOf(set, e)
		if err != nil {
			t.Fatal(err)
		}
		for c, cand := range p.Candidates {
			n := float32(len(tok.Encode(cand)) + 1)
			if d := sums[i][c] - means[i][c]*n; d*d > 1e-8*sums[i][c]*sums[i][c] || !(sums[i][c] < 0) {
				t.Errorf("example %d, %q: summed log-likelihood %v, per token %v × %v tokens", i, cand, sums[i][c], means[i][c], n)
			}
		}
		ids, err := p.EncodeText(tok, seqLen-al)
		if err != nil {
			t.Fatal(err)
		}
		out, err := g.Greedy([][]int32{ids}, generate.Options{MaxNew: al, Stop: []string{"\n"}, TaskIDs: []int32{e.Task}, PromptLen: seqLen - al})
		if err != nil {
			t.Fatal(err)
		}
		want := p.Match(out[0].Text)
		for c, v := range gens[i] {
			if (c == want) != (v == 0) || (c != want && !math.IsInf(float64(v), -1)) {
				t.Errorf("example %d generated %q (candidate %d): row %v", i, out[0].Text, want, gens[i])
			}
		}
	}
	tr.Scoring = ScoreGenerate
	defer func() { tr.Scoring = tr.Result.Run.Config.Scoring }()
	metrics, err := tr.Evaluate(data, datasets.Validation, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metrics {
		if a, ok := m.Metrics["answered"]; !ok || a < 0 || a > 1 || m.Metrics["accuracy"] > a {
			t.Errorf("%s by generation: %v (answered must be in [0, 1] and at least the accuracy)", m.Task, m.Metrics)
		}
	}
}

// writePEFTCheck exports the run into dir with the adapted model's logits for task 1 (topic) on three
// prompts, for scripts/reference/peft_check.py to compare with PEFT on the Hugging Face model.
func writePEFTCheck(t *testing.T, tr *Trained, dir string) {
	if err := tr.Export(dir, true, true); err != nil {
		t.Fatal(err)
	}
	cfg := tr.decoder.Config
	exec := model.MustNewExec(tr.backend, tr.store(), func(scope *model.Scope, tokens, mask, tasks *Node) *Node {
		return zoo.LlamaLogits(cfg, scope, zoo.Llama(cfg, tr.inj)(scope, zoo.LlamaInputs{Tokens: tokens, Mask: mask}, tasks))
	})
	var out []map[string]any
	for _, p := range []string{"The striker scored goal 7.\nAnswer:", "Parliament passed bill 3.\nAnswer:", "Hello"} {
		ids := tr.decoder.Tokenizer.Encode(p)
		mask := make([]int32, len(ids))
		for i := range mask {
			mask[i] = 1
		}
		l := tensors.MustCopyFlatData[float32](exec.MustCall1(tensors.FromFlatDataAndDimensions(ids, 1, len(ids)),
			tensors.FromFlatDataAndDimensions(mask, 1, len(ids)), tensors.FromFlatDataAndDimensions([]int32{1}, 1)))
		out = append(out, map[string]any{"prompt": p, "ids": ids, "last": l[(len(ids)-1)*cfg.Vocab:]})
	}
	data, _ := json.Marshal(map[string]any{"task": "topic", "task_id": 1, "prompts": out})
	if err := os.WriteFile(filepath.Join(dir, "ours.json"), data, 0o644); err != nil {
		t.Fatal(err)
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

// With chat, a decoder reads each example as the user's turn of its chat template and answers in the
// assistant's turn: the training rows are the rendered prompt, the answer without its leading space and EOS.
// An encoder, or a decoder whose checkpoint has no chat template, with chat is an error naming the field.
func TestDecoderChatPrompts(t *testing.T) {
	requireSmolLM2(t)
	dir, err := pretrained.SmolLM2.Path()
	if err != nil {
		t.Fatal(err)
	}
	d, err := pretrained.OpenDecoder(dir)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := chatTemplate(d, true)
	if err != nil {
		t.Fatal(err)
	}
	m, err := loadDecoder(d, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	set := &datasets.Set{Spec: datasets.Spec{Tasks: []datasets.TaskSpec{{Name: "sentiment", Labels: []string{"negative", "positive"}}}},
		Examples: []datasets.Example{{Task: 0, Text: "A fine film.", Label: 1, Split: datasets.Train}}}
	p, err := m.promptOf(set, set.Examples[0])
	if err != nil {
		t.Fatal(err)
	}
	want := "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n" +
		"<|im_start|>user\nA fine film.\nAnswer:<|im_end|>\n<|im_start|>assistant\n"
	if p.Text != want || p.Candidates[1] != "positive" {
		t.Errorf("chat prompt %q, candidates %q", p.Text, p.Candidates)
	}
	b := &datasets.LMBatches{Set: set, Tokenizer: m.Tokenizer, Format: m.format, EOS: m.Tokenizer.EOS, Pad: m.Tokenizer.Pad,
		Split: datasets.Train, BatchSize: 1, SeqLen: 64, AnswerLen: 4}
	for bt, err := range b.Iter() {
		if err != nil {
			t.Fatal(err)
		}
		ids := tensors.MustCopyFlatData[int32](bt.Inputs[0])
		row := append(append(m.Tokenizer.Encode(want), m.Tokenizer.Encode("positive")...), m.Tokenizer.EOS)
		if !slices.Equal(ids[:len(row)], row) {
			t.Errorf("training row %v, want %v", ids[:len(row)], row)
		}
		break
	}

	// Without a chat template (the transformers-written Qwen2 fixture has none), and with an encoder.
	qd, err := pretrained.OpenDecoder("../pretrained/testdata/decoders/qwen2-tiny")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chatTemplate(qd, true); err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "field chat") ||
		!strings.Contains(err.Error(), "chat_template") {
		t.Errorf("a decoder without a chat template: %v", err)
	}
	data := toyDecoderCSV(t)
	plan, err := ParsePlan([]byte(fmt.Sprintf(`{"name": "c", "run": {"data": %q, "model": %q, "chat": true, "steps": 1}}`, data, "../pretrained/testdata/checkpoints/bert-head64")))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := plan.Runs()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Execute(Env{Backend: backend.MustNew()}, runs[0], t.TempDir()); err == nil || !strings.Contains(err.Error(), "field chat") {
		t.Errorf("an encoder with chat: %v", err)
	}
}
