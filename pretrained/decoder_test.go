package pretrained

import (
	"encoding/json"
	"math"
	"os"
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
