package pretrained

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/zoo"
)

// smolLM2 loads SmolLM2 once for the tests (dequantised weights in a store), or skips.
var smolLM2 = sync.OnceValues(func() (*Decoder, *model.Store) {
	dir, err := SmolLM2.Path()
	if err != nil {
		return nil, nil
	}
	d, err := OpenDecoder(dir)
	if err != nil {
		panic(err)
	}
	store := model.NewStore()
	if _, err := d.LoadWeights(store, ""); err != nil {
		panic(err)
	}
	return d, store
})

func loadSmolLM2(t *testing.T) (*Decoder, *model.Store) {
	t.Helper()
	d, store := smolLM2()
	if d == nil {
		if os.Getenv("MTLORA_REQUIRE_MODELS") == "1" {
			t.Fatal("SmolLM2 is not in the cache: mtlora fetch-model smollm2-135m")
		}
		t.Skip("SmolLM2 is not in the cache: mtlora fetch-model smollm2-135m")
	}
	return d, store
}

type logitFixture struct {
	Prompt    string  `json:"prompt"`
	IDs       []int32 `json:"ids"`
	Positions []struct {
		Fixed  []float64 `json:"fixed"`
		TopIDs []int     `json:"top_ids"`
		Top    []float64 `json:"top"`
	} `json:"positions"`
}

// compareLogits checks one row of logits [seq, vocab] (flat) against transformers' at the fixed ids and its
// top 8, and returns the largest difference relative to the position's largest logit.
func compareLogits(t *testing.T, name string, got []float32, vocab int, fixed []int, want logitFixture) float64 {
	worst := 0.0
	for p, pos := range want.Positions {
		row := got[p*vocab : (p+1)*vocab]
		scale := 0.0
		for _, v := range pos.Top {
			scale = math.Max(scale, math.Abs(v))
		}
		check := func(id int, w float64) {
			d := math.Abs(float64(row[id])-w) / math.Max(scale, 1)
			worst = math.Max(worst, d)
		}
		for i, id := range fixed {
			check(id, pos.Fixed[i])
		}
		for i, id := range pos.TopIDs {
			check(id, pos.Top[i])
		}
		if best := argmax(row); best != pos.TopIDs[0] && math.Abs(float64(row[best])-pos.Top[0]) > 1e-4*scale {
			t.Errorf("%s position %d: argmax %d, transformers %d", name, p, best, pos.TopIDs[0])
		}
	}
	return worst
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// decoderLogits runs the frozen decoder on a right-padded batch and returns logits [batch, seq, vocab].
func decoderLogits(d *Decoder, store *model.Store, ids [][]int32, seq int) []float32 {
	batch := len(ids)
	flat, mask := make([]int32, batch*seq), make([]int32, batch*seq)
	for b, row := range ids {
		for i, id := range row {
			flat[b*seq+i], mask[b*seq+i] = id, 1
		}
	}
	cfg := d.Config
	exec := model.MustNewExec(backend.MustNew(), store, func(scope *model.Scope, tokens, mask *Node) *Node {
		h := zoo.Llama(cfg, nil)(scope, zoo.LlamaInputs{Tokens: tokens, Mask: mask}, nil)
		return zoo.LlamaLogits(cfg, scope, h)
	})
	out := exec.MustCall1(tensors.FromFlatDataAndDimensions(flat, batch, seq), tensors.FromFlatDataAndDimensions(mask, batch, seq))
	return tensors.MustCopyFlatData[float32](out)
}

// SmolLM2 read from its GGUF gives transformers' logits (transformers reading the same GGUF,
// scripts/reference/decoder_fixtures.py) within 1e-4 of each position's largest logit, on 10 prompts one at
// a time and on 4 of them as a right-padded batch.
func TestDecoderLogitsMatchTransformers(t *testing.T) {
	d, store := loadSmolLM2(t)
	data, err := os.ReadFile("testdata/smollm2/logits.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Fixed   []int          `json:"fixed_ids"`
		Prompts []logitFixture `json:"prompts"`
		Padded  struct {
			Prompts []logitFixture `json:"prompts"`
		} `json:"padded_batch"`
	}
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatal(err)
	}
	vocab := d.Config.Vocab
	worst := 0.0
	// Each set in one right-padded batch: transformers ran the 10 prompts one at a time (no padding), and
	// the padded batch with its attention mask.
	for _, set := range []struct {
		name    string
		prompts []logitFixture
	}{{"", fx.Prompts}, {"padded ", fx.Padded.Prompts}} {
		var ids [][]int32
		seq := 0
		for _, p := range set.prompts {
			ids = append(ids, p.IDs)
			seq = max(seq, len(p.IDs))
		}
		got := decoderLogits(d, store, ids, seq)
		for b, p := range set.prompts {
			worst = math.Max(worst, compareLogits(t, set.name+p.Prompt, got[b*seq*vocab:(b+1)*seq*vocab], vocab, fx.Fixed, p))
		}
	}
	t.Logf("largest difference from transformers: %.2e of the position's largest logit", worst)
	if worst > 1e-4 {
		t.Errorf("logits differ from transformers' by %.2e (relative), more than 1e-4", worst)
	}
}

// A decoder exported as a Hugging Face directory (SaveWeights: model.safetensors, config.json,
// tokenizer.json) loads back as a decoder of its own: the same configuration, tokenizer ids and logits.
// (transformers loading such a directory is checked by scripts/reference/peft_check.py.)
func TestDecoderExportLoadsBack(t *testing.T) {
	d, store := loadSmolLM2(t)
	dir := t.TempDir()
	if err := d.SaveWeights(store, dir); err != nil {
		t.Fatal(err)
	}
	if !IsDecoder(dir) {
		t.Fatalf("%s is not recognised as a decoder", dir)
	}
	back, err := OpenDecoder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.Config != d.Config || back.Arch != "llama" || back.File != nil {
		t.Fatalf("config %+v (%s), want %+v", back.Config, back.Arch, d.Config)
	}
	tok, _ := d.Tokenizer()
	tokBack, err := back.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile("testdata/smollm2/tokens.json")
	var cases []struct {
		Text string `json:"text"`
	}
	json.Unmarshal(data, &cases)
	for _, c := range cases {
		if a, b := tok.Encode(c.Text), tokBack.Encode(c.Text); !slices.Equal(a, b) {
			t.Errorf("%q: GGUF tokenizer %v, exported tokenizer.json %v", c.Text, a, b)
		}
	}
	if tokBack.EOS != tok.EOS || tokBack.Pad != tok.Pad {
		t.Errorf("special ids: EOS %d pad %d, want %d %d", tokBack.EOS, tokBack.Pad, tok.EOS, tok.Pad)
	}
	storeBack := model.NewStore()
	if _, err := back.LoadWeights(storeBack, ""); err != nil {
		t.Fatal(err)
	}
	ids := [][]int32{tok.Encode("The capital of France is"), tok.Encode("def f(x):")}
	a, b := decoderLogits(d, store, ids, 6), decoderLogits(back, storeBack, ids, 6)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("logit %d: %v from the GGUF, %v from the exported directory", i, a[i], b[i])
		}
	}
}

// A Qwen2 checkpoint written by transformers (random weights, q/k/v biases, grouped-query attention, tied
// embeddings, transformers 5's rope_parameters; scripts/reference/qwen2_fixture.py) loads from its directory
// and gives transformers' logits and token ids.
func TestQwen2DirectoryMatchesTransformers(t *testing.T) {
	dir := "testdata/decoders/qwen2-tiny"
	d, err := OpenDecoder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Config.QKVBias || d.Config.KVHeads != 2 || !d.Config.Tied || d.Arch != "qwen2" {
		t.Fatalf("config %+v (%s)", d.Config, d.Arch)
	}
	tok, err := d.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	if _, err := d.LoadWeights(store, ""); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "expected_logits.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Prompt string      `json:"prompt"`
		IDs    []int32     `json:"ids"`
		Logits [][]float64 `json:"logits"`
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for _, c := range cases {
		if got := tok.Encode(c.Prompt); !slices.Equal(got, c.IDs) {
			t.Errorf("%q: ids %v, transformers %v", c.Prompt, got, c.IDs)
		}
		got := decoderLogits(d, store, [][]int32{c.IDs}, len(c.IDs))
		for p, row := range c.Logits {
			scale := 1.0
			for _, v := range row {
				scale = math.Max(scale, math.Abs(v))
			}
			for i, w := range row {
				worst = math.Max(worst, math.Abs(float64(got[p*d.Config.Vocab+i])-w)/scale)
			}
		}
	}
	t.Logf("largest difference from transformers: %.2e of the position's largest logit", worst)
	if worst > 1e-4 {
		t.Errorf("logits differ from transformers' by %.2e", worst)
	}
}
