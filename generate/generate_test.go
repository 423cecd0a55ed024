package generate

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/pretrained"
)

// smolLM2 loads SmolLM2 from the cache, or skips (fails with MTLORA_REQUIRE_MODELS=1).
func smolLM2(t *testing.T) (*pretrained.Decoder, *pretrained.BPETokenizer, *model.Store) {
	t.Helper()
	dir, err := pretrained.SmolLM2.Path()
	if err != nil {
		if os.Getenv("MTLORA_REQUIRE_MODELS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	d, err := pretrained.OpenDecoder(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := d.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	if _, err := d.LoadWeights(store, ""); err != nil {
		t.Fatal(err)
	}
	return d, tok, store
}

// Batched greedy generation with the KV cache — six prompts of different lengths, left-padded into one
// batch — gives transformers' 20 greedy tokens for each (scripts/reference/decoder_fixtures.py, one prompt at
// a time, no cache differences allowed: ids must be identical).
func TestGreedyMatchesTransformers(t *testing.T) {
	d, tok, store := smolLM2(t)
	data, err := os.ReadFile("../pretrained/testdata/smollm2/generate.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx []struct {
		Prompt    string  `json:"prompt"`
		IDs       []int32 `json:"ids"`
		Generated []int32 `json:"generated"`
		Text      string  `json:"text"`
	}
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatal(err)
	}
	m := &Model{Config: d.Config, Store: store, Backend: backend.MustNew(), EOS: -1, Pad: tok.Pad, Decode: tok.Decode}
	var prompts [][]int32
	for _, f := range fx {
		if got := tok.Encode(f.Prompt); !slices.Equal(got, f.IDs) {
			t.Fatalf("%q encodes as %v, transformers %v", f.Prompt, got, f.IDs)
		}
		prompts = append(prompts, f.IDs)
	}
	outs, err := m.Greedy(prompts, Options{MaxNew: 20})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range fx {
		if !slices.Equal(outs[i].IDs, f.Generated) || outs[i].Text != f.Text || outs[i].Reason != "length" {
			t.Errorf("%q:\n got  %v %q (%s)\n want %v %q", f.Prompt, outs[i].IDs, outs[i].Text, outs[i].Reason, f.Generated, f.Text)
		}
	}
	// Padding every prompt further (a fixed PromptLen, as evaluation uses for one compiled shape) changes nothing.
	longest := 0
	for _, p := range prompts {
		longest = max(longest, len(p))
	}
	padded, err := m.Greedy(prompts, Options{MaxNew: 20, PromptLen: longest + 7})
	if err != nil {
		t.Fatal(err)
	}
	for i := range fx {
		if !slices.Equal(padded[i].IDs, outs[i].IDs) {
			t.Errorf("%q with PromptLen %d: %v, without %v", fx[i].Prompt, longest+7, padded[i].IDs, outs[i].IDs)
		}
	}
	// Stop strings and EOS end a row early; the others go on.
	m.EOS = tok.EOS
	outs, err = m.Greedy(prompts[:2], Options{MaxNew: 20, Stop: []string{"\n\n"}})
	if err != nil {
		t.Fatal(err)
	}
	if outs[0].Reason != "stop" || outs[0].Text != " Paris." {
		t.Errorf("stop string: %q (%s), want \" Paris.\" (stop)", outs[0].Text, outs[0].Reason)
	}
}

func TestGreedyErrors(t *testing.T) {
	m := &Model{}
	for _, tc := range []struct {
		prompts [][]int32
		opts    Options
	}{{nil, Options{MaxNew: 1}}, {[][]int32{{1}}, Options{}}, {[][]int32{{}}, Options{MaxNew: 1}}, {[][]int32{{1}}, Options{MaxNew: 1, Stop: []string{"x"}}},
		{[][]int32{{1, 2, 3}}, Options{MaxNew: 1, PromptLen: 2}}} {
		if _, err := m.Greedy(tc.prompts, tc.opts); err == nil {
			t.Errorf("%v %+v: no error", tc.prompts, tc.opts)
		}
	}
}
