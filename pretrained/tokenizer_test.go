package pretrained

import (
	"encoding/json"
	"math/rand/v2"
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

// Tokenizing word by word (the linear-time path) gives exactly the ids of tokenizing the whole text with
// go-huggingface, on random texts mixing scripts, accents, combining marks, CJK, emoji, punctuation,
// special-token literals and every kind of whitespace.
func TestWordByWordEqualsWholeText(t *testing.T) {
	tok, err := LoadTokenizer(requireMiniLM(t))
	if err != nil {
		t.Fatal(err)
	}
	if !tok.byWord {
		t.Fatal("MiniLM's tokenizer should take the word-by-word path")
	}
	pool := []string{"a", "Z", "é", "e\u0301", "ß", "İ", "ﬁ", "日", "本", "한", "ع", "я", "😀", "🇫🇷", ".", ",", "-", "'", "\"", "(", "$", "3",
		"42", " ", "  ", "\t", "\n", "\u00a0", "\u3000", "\u2009", "\u200b", "\u0000", "[CLS]", "[MASK]", "##", "can't", "e-mail", "ｆｕｌｌ"}
	rng := rand.New(rand.NewPCG(1, 2))
	whole := *tok
	whole.byWord = false
	for i := range 400 {
		var sb strings.Builder
		for range 1 + rng.IntN(40) {
			sb.WriteString(pool[rng.IntN(len(pool))])
		}
		s := sb.String()
		if got, want := tok.words(s, 0), whole.words(s, 0); !slices.Equal(got, want) {
			t.Fatalf("text %d %q: word by word %v, whole text %v", i, s, got, want)
		}
	}
}
