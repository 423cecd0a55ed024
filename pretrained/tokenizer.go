package pretrained

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/gomlx/go-huggingface/tokenizers/api"
	"github.com/gomlx/go-huggingface/tokenizers/hftokenizer"
	"github.com/gomlx/gomlx/core/tensors"
)

// Tokenizer encodes text for a BERT-family checkpoint from its tokenizer.json, through go-huggingface's
// pure-Go hftokenizer (normalisation, pre-tokenisation, WordPiece). Special tokens, sentence pairs and
// truncation are assembled here, as Hugging Face's TemplateProcessing and longest-first truncation do:
//
//	single: [CLS] a [SEP]           type ids 0…0
//	pair:   [CLS] a [SEP] b [SEP]   type ids 0…0 1…1
type Tokenizer struct {
	tok       *hftokenizer.Tokenizer
	cls, sep  int
	cleanText bool // the BertNormalizer's clean_text, applied here (see bertCleanText)
	byWord    bool // BertNormalizer + BertPreTokenizer: words can be tokenized one at a time (see words)
}

// LoadTokenizer reads dir/tokenizer.json or, when a checkpoint has none, builds the same WordPiece
// tokenizer from dir/vocab.txt and the options of dir/tokenizer_config.json (as transformers' BertTokenizer
// reads them: do_lower_case, strip_accents, tokenize_chinese_chars, the special tokens).
func LoadTokenizer(dir string) (*Tokenizer, error) {
	path := filepath.Join(dir, "tokenizer.json")
	content, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		path = filepath.Join(dir, "vocab.txt")
		content, err = tokenizerJSONFromVocab(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("pretrained: tokenizer: %w", err)
	}
	tok, err := hftokenizer.NewFromContent(&api.Config{}, content)
	if err != nil {
		return nil, fmt.Errorf("pretrained: tokenizer %s: %w", path, err)
	}
	if err := tok.With(api.EncodeOptions{AddSpecialTokens: false}); err != nil {
		return nil, fmt.Errorf("pretrained: tokenizer %s: %w", path, err)
	}
	var cfg struct {
		Normalizer *struct {
			Type      string `json:"type"`
			CleanText bool   `json:"clean_text"`
		} `json:"normalizer"`
		PreTokenizer *struct {
			Type string `json:"type"`
		} `json:"pre_tokenizer"`
	}
	if err := json.Unmarshal(content, &cfg); err != nil {
		return nil, fmt.Errorf("pretrained: tokenizer %s: %w", path, err)
	}
	t := &Tokenizer{tok: tok, cleanText: cfg.Normalizer != nil && cfg.Normalizer.Type == "BertNormalizer" && cfg.Normalizer.CleanText}
	t.byWord = t.cleanText && cfg.PreTokenizer != nil && cfg.PreTokenizer.Type == "BertPreTokenizer"
	for name, dst := range map[string]*int{"[CLS]": &t.cls, "[SEP]": &t.sep} {
		id, ok := tok.TokenToID(name)
		if !ok {
			return nil, fmt.Errorf("pretrained: tokenizer %s has no %s token: not a BERT-family tokenizer", path, name)
		}
		*dst = id
	}
	return t, nil
}

// tokenizerJSONFromVocab writes, in memory, the tokenizer.json that Hugging Face's converter makes from a
// BERT vocab.txt and tokenizer_config.json.
func tokenizerJSONFromVocab(dir string) ([]byte, error) {
	vocabPath := filepath.Join(dir, "vocab.txt")
	data, err := os.ReadFile(vocabPath)
	if err != nil {
		return nil, err
	}
	opts := struct {
		DoLowerCase          *bool   `json:"do_lower_case"`
		StripAccents         *bool   `json:"strip_accents"`
		TokenizeChineseChars *bool   `json:"tokenize_chinese_chars"`
		Unk                  *string `json:"unk_token"`
		Cls                  *string `json:"cls_token"`
		Sep                  *string `json:"sep_token"`
		Pad                  *string `json:"pad_token"`
		Mask                 *string `json:"mask_token"`
	}{}
	if cfg, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json")); err == nil {
		if err := json.Unmarshal(cfg, &opts); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "tokenizer_config.json"), err)
		}
	}
	or := func(v *bool, d bool) bool {
		if v == nil {
			return d
		}
		return *v
	}
	orStr := func(v *string, d string) string {
		if v == nil {
			return d
		}
		return *v
	}
	vocab := map[string]int{}
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		tok := strings.TrimSuffix(line, "\r")
		if _, dup := vocab[tok]; !dup {
			vocab[tok] = i
		}
	}
	unk := orStr(opts.Unk, "[UNK]")
	var added []map[string]any
	for _, tok := range []string{orStr(opts.Pad, "[PAD]"), unk, orStr(opts.Cls, "[CLS]"), orStr(opts.Sep, "[SEP]"), orStr(opts.Mask, "[MASK]")} {
		id, ok := vocab[tok]
		if !ok {
			return nil, fmt.Errorf("%s has no special token %s", vocabPath, tok)
		}
		added = append(added, map[string]any{"id": id, "content": tok, "special": true, "single_word": false,
			"lstrip": false, "rstrip": false, "normalized": false})
	}
	var stripAccents any // null: follow lowercase, as BertNormalizer does
	if opts.StripAccents != nil {
		stripAccents = *opts.StripAccents
	}
	return json.Marshal(map[string]any{
		"version": "1.0", "added_tokens": added,
		"normalizer": map[string]any{"type": "BertNormalizer", "clean_text": true, "strip_accents": stripAccents,
			"handle_chinese_chars": or(opts.TokenizeChineseChars, true), "lowercase": or(opts.DoLowerCase, true)},
		"pre_tokenizer": map[string]any{"type": "BertPreTokenizer"},
		"model": map[string]any{"type": "WordPiece", "unk_token": unk, "continuing_subword_prefix": "##",
			"max_input_chars_per_word": 100, "vocab": vocab},
	})
}

// Encode returns the ids and token type ids of one text with [CLS] and [SEP]; maxLen > 0 truncates the text
// so the whole fits in maxLen tokens.
func (t *Tokenizer) Encode(text string, maxLen int) (ids, typeIDs []int32) {
	a := t.words(text, maxLen-2)
	if maxLen > 0 && len(a)+2 > maxLen {
		a = a[:max(maxLen-2, 0)]
	}
	ids = append(append([]int32{int32(t.cls)}, toInt32(a)...), int32(t.sep))
	return ids, make([]int32, len(ids))
}

// EncodePair returns the ids and token type ids of a sentence pair; maxLen > 0 truncates longest-first,
// exactly as Hugging Face tokenizers do.
func (t *Tokenizer) EncodePair(first, second string, maxLen int) (ids, typeIDs []int32) {
	a, b := t.words(first, 0), t.words(second, 0) // longest-first needs both full lengths
	if maxLen > 0 && len(a)+len(b)+3 > maxLen {
		n1, n2 := longestFirst(len(a), len(b), max(maxLen-3, 0))
		a, b = a[:n1], b[:n2]
	}
	ids = append([]int32{int32(t.cls)}, toInt32(a)...)
	ids = append(ids, int32(t.sep))
	firstLen := len(ids)
	ids = append(append(ids, toInt32(b)...), int32(t.sep))
	typeIDs = make([]int32, len(ids))
	for i := firstLen; i < len(ids); i++ {
		typeIDs[i] = 1
	}
	return ids, typeIDs
}

// Batch is a tokenized batch padded to a fixed length so every batch has the same shape and a graph
// compiles once: row-major [N, SeqLen] token ids, token type ids and attention mask (1 token, 0 padding;
// padding id 0, as BERT's [PAD]).
type Batch struct {
	N, SeqLen          int
	IDs, TypeIDs, Mask []int32
}

// EncodeBatch tokenizes texts (and, when pairs is not nil, the sentence pairs texts[i], pairs[i]) truncated
// to seqLen tokens and padded to seqLen.
func (t *Tokenizer) EncodeBatch(texts, pairs []string, seqLen int) (Batch, error) {
	if seqLen < 3 {
		return Batch{}, fmt.Errorf("pretrained: sequence length must be ≥ 3 ([CLS] x [SEP]), got %d", seqLen)
	}
	if pairs != nil && len(pairs) != len(texts) {
		return Batch{}, fmt.Errorf("pretrained: %d texts but %d pair texts", len(texts), len(pairs))
	}
	b := Batch{N: len(texts), SeqLen: seqLen, IDs: make([]int32, len(texts)*seqLen),
		TypeIDs: make([]int32, len(texts)*seqLen), Mask: make([]int32, len(texts)*seqLen)}
	for i, text := range texts {
		var ids, types []int32
		if pairs != nil {
			ids, types = t.EncodePair(text, pairs[i], seqLen)
		} else {
			ids, types = t.Encode(text, seqLen)
		}
		copy(b.IDs[i*seqLen:], ids)
		copy(b.TypeIDs[i*seqLen:], types)
		for j := range ids {
			b.Mask[i*seqLen+j] = 1
		}
	}
	return b, nil
}

// Tensors returns the batch as three [N, SeqLen] int32 tensors: ids, type ids, mask.
func (b Batch) Tensors() (ids, typeIDs, mask *tensors.Tensor) {
	return tensors.FromFlatDataAndDimensions(b.IDs, b.N, b.SeqLen),
		tensors.FromFlatDataAndDimensions(b.TypeIDs, b.N, b.SeqLen),
		tensors.FromFlatDataAndDimensions(b.Mask, b.N, b.SeqLen)
}

// words returns the WordPiece ids of text without special tokens; limit > 0 allows stopping once that many
// ids are known.
//
// go-huggingface v0.4.12's BERT pre-tokenizer is quadratic in the length of the text (it rebuilds a string
// from a rune slice for every character), so a 1,000-character text took milliseconds. After clean_text every
// whitespace is a plain space, and BERT's normalizer (lower-casing, accent stripping, spacing around CJK) and
// pre-tokenizer work within whitespace-separated words: tokenizing word by word gives the same ids (the
// fixture tests check it) in linear time, and lets a truncated encoding stop early.
func (t *Tokenizer) words(text string, limit int) []int {
	if t.cleanText {
		text = bertCleanText(text)
	}
	if !t.byWord {
		return t.tok.Encode(text)
	}
	var ids []int
	for w := range strings.SplitSeq(text, " ") {
		if w == "" {
			continue
		}
		ids = append(ids, t.tok.Encode(w)...)
		if limit > 0 && len(ids) >= limit {
			break
		}
	}
	return ids
}

// bertCleanText is Hugging Face's BertNormalizer clean_text: drop NUL, U+FFFD and "other" characters
// (categories Cc, Cf, Co, Cs and unassigned; tab, newline and carriage return excepted), and turn every
// whitespace character into a space. go-huggingface v0.4.12 keeps NUL and format characters such as U+200B,
// which turns the word holding them into [UNK]; applying this first gives the reference ids (it is
// idempotent, so the library's own cleaning afterwards changes nothing).
func bertCleanText(text string) string {
	var sb strings.Builder
	for _, r := range text {
		switch {
		case r == 0 || r == 0xfffd:
		case r == '\t' || r == '\n' || r == '\r' || unicode.IsSpace(r):
			sb.WriteRune(' ')
		case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs) ||
			!unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.C):
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// longestFirst returns the lengths two sequences of lengths l1, l2 keep within budget tokens: the longer one
// is cut first; when both must be cut they split the budget, the odd token going to the longer.
func longestFirst(l1, l2, budget int) (n1, n2 int) {
	swap := l1 > l2
	if swap {
		l1, l2 = l2, l1
	}
	n1, n2 = l1, l2
	if n1 > budget {
		n2 = n1
	} else {
		n2 = max(n1, budget-n1)
	}
	if n1+n2 > budget {
		n1 = budget / 2
		n2 = n1 + budget%2
	}
	n1, n2 = min(n1, l1), min(n2, l2)
	if swap {
		n1, n2 = n2, n1
	}
	return n1, n2
}

func toInt32(v []int) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}
