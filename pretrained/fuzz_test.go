package pretrained

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzTokenizer is a small WordPiece tokenizer built from a vocab.txt written here, so the fuzz target
// needs no fetched checkpoint.
func fuzzTokenizer(f *testing.F) *Tokenizer {
	dir := f.TempDir()
	vocab := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "cat", "sat", "on", "mat", "##s", "##ing",
		"run", ",", ".", "!", "?", "é", "日", "本", "##e", "##t", "t", "e"}
	if err := os.WriteFile(filepath.Join(dir, "vocab.txt"), []byte(strings.Join(vocab, "\n")+"\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	tok, err := LoadTokenizer(dir)
	if err != nil {
		f.Fatal(err)
	}
	return tok
}

// FuzzTokenizer: any text (and any pair) encodes without a panic into at most maxLen ids, all in the
// vocabulary, framed by [CLS] … [SEP], with one type id per token (0 for the first segment, 1 for the
// second). Invalid UTF-8 is tokenized too, never a panic.
func FuzzTokenizer(f *testing.F) {
	tok := fuzzTokenizer(f)
	for _, s := range []string{"the cat sat on the mat.", "", " \t\n", "日本 runs!", "é\u0301\u200b\x00\xff", strings.Repeat("cats ", 300)} {
		f.Add(s, "a mat", uint8(16))
	}
	f.Fuzz(func(t *testing.T, text, second string, n uint8) {
		maxLen := int(n)%64 + 2
		check := func(ids, types []int32, pair bool) {
			if len(ids) > maxLen || len(ids) != len(types) {
				t.Fatalf("%q/%q max %d: %d ids, %d type ids", text, second, maxLen, len(ids), len(types))
			}
			if len(ids) < 2 || ids[0] != int32(tok.cls) || ids[len(ids)-1] != int32(tok.sep) {
				t.Fatalf("%q max %d: ids %v not framed by [CLS] … [SEP]", text, maxLen, ids)
			}
			for i, id := range ids {
				if id < 0 || int(id) >= 25 {
					t.Fatalf("%q: id %d at %d outside the vocabulary", text, id, i)
				}
				if types[i] != 0 && (!pair || types[i] != 1) {
					t.Fatalf("%q: type id %d at %d", text, types[i], i)
				}
			}
		}
		ids, types := tok.Encode(text, maxLen)
		check(ids, types, false)
		if maxLen >= 3 {
			ids, types = tok.EncodePair(text, second, maxLen)
			check(ids, types, true)
		}
	})
}
