package pretrained

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mtlora/mtlora/internal/gguf"
)

// smolLM2GGUF opens SmolLM2's GGUF from the cache (`mtlora fetch-model smollm2-135m`), or skips unless
// MTLORA_REQUIRE_MODELS=1.
func smolLM2GGUF(t *testing.T) *gguf.File {
	t.Helper()
	dir, err := SmolLM2.Path()
	if err != nil {
		if os.Getenv("MTLORA_REQUIRE_MODELS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	f, err := gguf.Open(dir + "/" + SmolLM2GGUF)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The GGUF's own tokenizer gives transformers' ids (scripts/reference/decoder_fixtures.py) on accents, CJK,
// emoji with joiners and skin tones, code, runs of spaces and newlines, CRLF, contractions, digits, no-break
// and ideographic spaces, special tokens inside text, an empty text, NUL and zero-width space; and decoding
// the ids gives the text back.
func TestBPETokenizerMatchesTransformers(t *testing.T) {
	tok, err := NewBPEFromGGUF(smolLM2GGUF(t))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/smollm2/tokens.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Text string  `json:"text"`
		IDs  []int32 `json:"ids"`
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 20 {
		t.Fatalf("%d cases", len(cases))
	}
	for _, c := range cases {
		got := tok.Encode(c.Text)
		if !slices.Equal(got, c.IDs) && !(len(got) == 0 && len(c.IDs) == 0) {
			t.Errorf("%q:\n got  %v\n want %v", c.Text, got, c.IDs)
			continue
		}
		if back := tok.Decode(got); back != c.Text {
			t.Errorf("%q decodes back as %q", c.Text, back)
		}
	}
	if tok.AddBOS || tok.EOS != 2 || tok.Pad != 2 || tok.VocabSize() != 49152 {
		t.Errorf("add BOS %v, EOS %d, pad %d, vocabulary %d", tok.AddBOS, tok.EOS, tok.Pad, tok.VocabSize())
	}
}

// GPT-2's pre-tokenizer pattern, on its corner cases.
func TestSplitGPT2(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"  spaces   x", []string{" ", " spaces", "  ", " x"}},
		{"don't", []string{"don", "'t"}},
		{"''s", []string{"''", "s"}},
		{"a\n\nb", []string{"a", "\n", "\n", "b"}},
		{"x  ", []string{"x", "  "}},
		{" 123 ?!", []string{" 123", " ?!"}},
		{"日本語 text", []string{"日本語", " text"}},
	} {
		if got := splitGPT2(c.in); !slices.Equal(got, c.want) {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
}

// LLaMA 3's and Qwen2's pre-tokenizer patterns split 32 texts each exactly as Hugging Face tokenizers 0.23.3
// does (scripts/reference/pretokenize_fixtures.py).
func TestSplitLlama3MatchesTokenizers(t *testing.T) {
	data, err := os.ReadFile("testdata/pretokenize/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Cases []struct {
			Pattern string   `json:"pattern"`
			Text    string   `json:"text"`
			Pieces  []string `json:"pieces"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatal(err)
	}
	for _, c := range fx.Cases {
		digits := map[string]int{"llama3": 3, "qwen2": 1}[c.Pattern]
		if got := splitLlama3(c.Text, digits); !slices.Equal(got, c.Pieces) {
			t.Errorf("%s %q:\n got  %q\n want %q", c.Pattern, c.Text, got, c.Pieces)
		}
	}
}

// A tokenizer.json whose pre-tokenizer is LLaMA 3's (or Qwen2's) Split then ByteLevel splits by that
// pattern: its ids are those of the pieces encoded one by one.
func TestTokenizerJSONWithLlama3Split(t *testing.T) {
	data, err := os.ReadFile("testdata/decoders/qwen2-tiny/tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	var tj map[string]any
	if err := json.Unmarshal(data, &tj); err != nil {
		t.Fatal(err)
	}
	for name, regex := range map[string]string{"llama3": llama3Regex, "qwen2": qwen2Regex} {
		tj["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": regex}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}}}
		out, _ := json.Marshal(tj)
		path := t.TempDir() + "/tokenizer.json"
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		tok, err := NewBPEFromTokenizerJSON(path)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Split != name {
			t.Errorf("split %q, want %q", tok.Split, name)
		}
		text := "In 2024 I'LL pay 1234567 — naïve\r\n\r\n  ok"
		var want []int32
		for _, piece := range splitLlama3(text, map[string]int{"llama3": 3, "qwen2": 1}[name]) {
			want = append(want, tok.Encode(piece)...)
		}
		if got := tok.Encode(text); !slices.Equal(got, want) {
			t.Errorf("%s: %v, the pieces one by one %v", name, got, want)
		}
		if gpt2 := splitGPT2(text); slices.Equal(gpt2, splitLlama3(text, 3)) {
			t.Errorf("the text does not tell the patterns apart")
		}
	}
}

// Every pre-tokenizer splits any text into non-empty pieces that concatenate back to it.
func FuzzPreTokenizers(f *testing.F) {
	for _, s := range []string{"", "I'LL pay 1234567 — naïve\r\n\r\n  ok", " \t\n x", "e\u0301\u0301 '", "\xff\xfe 'S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, split := range PreTokenizers {
			pieces := split(s)
			if strings.Join(pieces, "") != s || slices.Contains(pieces, "") {
				t.Fatalf("%s split %q into %q", name, s, pieces)
			}
		}
	})
}
