package pretrained

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Token ids of all-MiniLM-L6-v2 match the reference (Hugging Face tokenizers, run by
// scripts/reference/tokenizer_fixtures.py) on varied inputs: accents, CJK, emoji, control characters, an
// empty string, long texts truncated at the model's 512-token limit, and sentence pairs.
func TestMiniLMTokenizerMatchesReference(t *testing.T) {
	dir := requireMiniLM(t)
	tok, err := LoadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/minilm_tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	type enc struct {
		IDs     []int32 `json:"ids"`
		TypeIDs []int32 `json:"type_ids"`
	}
	var fixtures struct {
		Cases []struct {
			Text   string  `json:"text"`
			Pair   *string `json:"pair"`
			Full   enc     `json:"full"`
			Max512 enc     `json:"max512"`
		}
	}
	if err := json.Unmarshal(data, &fixtures); err != nil {
		t.Fatal(err)
	}
	if len(fixtures.Cases) < 20 {
		t.Fatalf("only %d fixture cases", len(fixtures.Cases))
	}
	for i, c := range fixtures.Cases {
		for _, want := range []struct {
			name   string
			maxLen int
			enc    enc
		}{{"full", 0, c.Full}, {"max512", 512, c.Max512}} {
			var ids, types []int32
			if c.Pair != nil {
				ids, types = tok.EncodePair(c.Text, *c.Pair, want.maxLen)
			} else {
				ids, types = tok.Encode(c.Text, want.maxLen)
			}
			if !slices.Equal(ids, want.enc.IDs) || !slices.Equal(types, want.enc.TypeIDs) {
				t.Errorf("case %d %s (%.40q): ids differ from the reference\n got %v\nwant %v", i, want.name, c.Text, head(ids), head(want.enc.IDs))
			}
		}
	}
}

func head(v []int32) []int32 {
	if len(v) > 24 {
		return v[:24]
	}
	return v
}

// A checkpoint with only vocab.txt and tokenizer_config.json (no tokenizer.json) tokenizes exactly as the
// reference does: the tokenizer is built from them as Hugging Face's converter builds tokenizer.json.
func TestVocabTxtTokenizerMatchesReference(t *testing.T) {
	src := requireMiniLM(t)
	dir := t.TempDir()
	for _, f := range []string{"vocab.txt", "tokenizer_config.json"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := LoadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/minilm_tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixtures struct {
		Cases []struct {
			Text   string  `json:"text"`
			Pair   *string `json:"pair"`
			Max512 struct {
				IDs []int32 `json:"ids"`
			} `json:"max512"`
		}
	}
	if err := json.Unmarshal(data, &fixtures); err != nil {
		t.Fatal(err)
	}
	for i, c := range fixtures.Cases {
		var ids []int32
		if c.Pair != nil {
			ids, _ = tok.EncodePair(c.Text, *c.Pair, 512)
		} else {
			ids, _ = tok.Encode(c.Text, 512)
		}
		if !slices.Equal(ids, c.Max512.IDs) {
			t.Errorf("case %d (%.40q): ids from vocab.txt differ from the reference\n got %v\nwant %v", i, c.Text, head(ids), head(c.Max512.IDs))
		}
	}
	// Without either file the error names what is missing.
	if _, err := LoadTokenizer(t.TempDir()); err == nil || !strings.Contains(err.Error(), "vocab.txt") {
		t.Errorf("empty directory: %v", err)
	}
}
