package pretrained

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtlora/mtlora/internal/gguf"
)

// BPETokenizer is a byte-level BPE tokenizer (GPT-2's scheme, which LLaMA-3, Qwen2, SmolLM2 and most
// decoders use), built from a GGUF file's tokenizer.ggml.* metadata:
//
//  1. special tokens (GGUF token types control and user-defined) are matched first, leftmost and longest,
//     and become their ids whatever surrounds them;
//  2. the rest is split by the checkpoint's pre-tokenizer pattern — GPT-2's
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ (GPT-2, SmolLM2), LLaMA 3's or
//     Qwen2's (see splitLlama3) — implemented by hand (Go's regexp has no look-ahead); any other is an error;
//  3. each piece's UTF-8 bytes are mapped to printable characters (GPT-2's bytes_to_unicode) and merged by
//     BPE, lowest merge rank first, then looked up in the vocabulary.
//
// This is what transformers builds from the same GGUF (a ByteLevel pre-tokenizer with that pattern, no
// normaliser); the ids are checked against transformers' on texts with accents, CJK, emoji, code, runs of
// whitespace and special tokens (pretrained/testdata/smollm2/tokens.json).
type BPETokenizer struct {
	tokens  []string         // id → token (byte-level characters)
	vocab   map[string]int32 // token → id
	ranks   map[string]int   // "left right" → merge rank
	special []string         // special tokens' contents, longest first
	BOS     int32            // beginning of sequence (-1: none)
	EOS     int32            // end of sequence: generation stops here
	Pad     int32            // padding id
	AddBOS  bool             // Encode prepends BOS
	Split   string           // the pre-tokenizer pattern: "gpt2", "llama3" or "qwen2"
	cache   map[string][]int32
}

// PreTokenizers are the patterns this tokenizer splits by, by name: GGUF's tokenizer.ggml.pre values map
// onto them (gpt-2 and smollm: gpt2; llama-bpe and llama3: llama3; qwen2: qwen2), and so do tokenizer.json
// files (ByteLevel with its own regex: gpt2; a Split by LLaMA 3's or Qwen2's regex, then ByteLevel without).
var PreTokenizers = map[string]func(string) []string{
	"gpt2":   splitGPT2,
	"llama3": func(s string) []string { return splitLlama3(s, 3) },
	"qwen2":  func(s string) []string { return splitLlama3(s, 1) },
}

// The regexes of LLaMA 3's and Qwen2's tokenizer.json pre-tokenizers (a Split with behavior Isolated).
const (
	llama3Regex = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Regex  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// GGUF token types (llama.cpp's llama_token_type).
const (
	tokenControl     = 3
	tokenUserDefined = 4
)

// NewBPEFromGGUF builds the tokenizer of a GGUF file whose tokenizer.ggml.model is gpt2.
func NewBPEFromGGUF(f *gguf.File) (*BPETokenizer, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: tokenizer: %s", ErrCheckpoint, f.Path, fmt.Sprintf(format, args...))
	}
	if m, _ := f.Meta["tokenizer.ggml.model"].(string); m != "gpt2" {
		return nil, bad("tokenizer.ggml.model is %q; only gpt2 (byte-level BPE) is supported", f.Meta["tokenizer.ggml.model"])
	}
	tokens, ok := f.Meta["tokenizer.ggml.tokens"].([]string)
	if !ok || len(tokens) == 0 {
		return nil, bad("tokenizer.ggml.tokens is missing or not an array of strings")
	}
	merges, ok := f.Meta["tokenizer.ggml.merges"].([]string)
	if !ok {
		return nil, bad("tokenizer.ggml.merges is missing or not an array of strings")
	}
	t, err := newBPE(tokens, merges)
	if err != nil {
		return nil, bad("%v", err)
	}
	if types, ok := f.Meta["tokenizer.ggml.token_type"].([]int64); ok {
		if len(types) != len(tokens) {
			return nil, bad("%d token types for %d tokens", len(types), len(tokens))
		}
		for i, ty := range types {
			if ty == tokenControl || ty == tokenUserDefined {
				t.special = append(t.special, tokens[i])
			}
		}
	}
	t.sortSpecial()
	for key, dst := range map[string]*int32{"tokenizer.ggml.bos_token_id": &t.BOS, "tokenizer.ggml.eos_token_id": &t.EOS,
		"tokenizer.ggml.padding_token_id": &t.Pad} {
		if v, ok := f.Meta[key].(uint64); ok {
			if v >= uint64(len(tokens)) {
				return nil, bad("%s is %d, outside the %d-token vocabulary", key, v, len(tokens))
			}
			*dst = int32(v)
		}
	}
	if t.Pad < 0 {
		t.Pad = t.EOS
	}
	t.AddBOS, _ = f.Meta["tokenizer.ggml.add_bos_token"].(bool)
	pre, _ := f.Meta["tokenizer.ggml.pre"].(string)
	split, ok := map[string]string{"gpt-2": "gpt2", "smollm": "gpt2", "llama-bpe": "llama3", "llama3": "llama3", "qwen2": "qwen2"}[pre]
	if !ok {
		return nil, bad("tokenizer.ggml.pre is %q: supported pre-tokenizers are gpt-2, smollm, llama-bpe, llama3 and qwen2", pre)
	}
	t.Split = split
	return t, nil
}

// newBPE builds the vocabulary and merge ranks (merges as "left right").
func newBPE(tokens, merges []string) (*BPETokenizer, error) {
	t := &BPETokenizer{tokens: tokens, vocab: make(map[string]int32, len(tokens)), ranks: make(map[string]int, len(merges)),
		BOS: -1, EOS: -1, Pad: -1, Split: "gpt2", cache: map[string][]int32{}}
	for i, tok := range tokens {
		if _, dup := t.vocab[tok]; !dup {
			t.vocab[tok] = int32(i)
		}
	}
	for i, m := range merges {
		a, b, ok := strings.Cut(m, " ")
		if !ok || a == "" || b == "" {
			return nil, fmt.Errorf("merge %d is %q, expected two tokens separated by one space", i, m)
		}
		if _, dup := t.ranks[m]; !dup {
			t.ranks[m] = i
		}
	}
	return t, nil
}

// sortSpecial puts the special tokens longest first, so "<|im_start|>" wins over a shorter token it starts
// with.
func (t *BPETokenizer) sortSpecial() {
	slices.SortStableFunc(t.special, func(a, b string) int { return len(b) - len(a) })
}

// NewBPEFromTokenizerJSON builds a byte-level BPE tokenizer from a Hugging Face tokenizer.json whose model is
// BPE, with no normaliser, whose pre-tokenizer is ByteLevel with GPT-2's pattern (SmolLM2, GPT-2, this
// toolkit's own exports) or LLaMA 3's or Qwen2's Split then ByteLevel; other pre-tokenizers are an error
// naming them. Special tokens are the added tokens marked special.
func NewBPEFromTokenizerJSON(path string) (*BPETokenizer, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrCheckpoint, path, fmt.Sprintf(format, args...))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	var tj struct {
		Normalizer   json.RawMessage  `json:"normalizer"`
		PreTokenizer preTokenizerJSON `json:"pre_tokenizer"`
		Model        struct {
			Type   string            `json:"type"`
			Vocab  map[string]int    `json:"vocab"`
			Merges []json.RawMessage `json:"merges"`
		} `json:"model"`
		Added []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens"`
	}
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, bad("%v", err)
	}
	switch {
	case tj.Model.Type != "BPE":
		return nil, bad("model %q: only byte-level BPE is supported", tj.Model.Type)
	case len(tj.Normalizer) > 0 && string(tj.Normalizer) != "null":
		return nil, bad("a normalizer (%.60s) is not supported", tj.Normalizer)
	}
	split, err := tj.PreTokenizer.pattern()
	if err != nil {
		return nil, bad("%v", err)
	}
	n := 0
	for _, id := range tj.Model.Vocab {
		n = max(n, id+1)
	}
	for _, a := range tj.Added {
		n = max(n, a.ID+1)
	}
	tokens := make([]string, n)
	for tok, id := range tj.Model.Vocab {
		if id < 0 {
			return nil, bad("token %q has id %d", tok, id)
		}
		tokens[id] = tok
	}
	for _, a := range tj.Added {
		tokens[a.ID] = a.Content
	}
	var merges []string
	for i, raw := range tj.Model.Merges {
		var m string
		var pair []string
		switch {
		case json.Unmarshal(raw, &m) == nil:
		case json.Unmarshal(raw, &pair) == nil && len(pair) == 2:
			m = pair[0] + " " + pair[1]
		default:
			return nil, bad("merge %d is %s, expected \"a b\" or [\"a\", \"b\"]", i, raw)
		}
		merges = append(merges, m)
	}
	t, err := newBPE(tokens, merges)
	if err != nil {
		return nil, bad("%v", err)
	}
	t.Split = split
	for _, a := range tj.Added {
		if a.Special {
			t.special = append(t.special, a.Content)
		}
	}
	t.sortSpecial()
	return t, nil
}

// VocabSize is the number of tokens.
func (t *BPETokenizer) VocabSize() int { return len(t.tokens) }

// Token returns the token of an id as it appears in the vocabulary.
func (t *BPETokenizer) Token(id int32) string { return t.tokens[id] }

// Encode returns the ids of text (with BOS first when AddBOS).
func (t *BPETokenizer) Encode(text string) []int32 {
	var ids []int32
	if t.AddBOS && t.BOS >= 0 {
		ids = append(ids, t.BOS)
	}
	for len(text) > 0 {
		at, tok := t.nextSpecial(text)
		for _, piece := range PreTokenizers[t.Split](text[:at]) {
			ids = append(ids, t.bpe(piece)...)
		}
		if tok == "" {
			break
		}
		ids = append(ids, t.vocab[tok])
		text = text[at+len(tok):]
	}
	return ids
}

// nextSpecial finds the leftmost special token in text (the longest one there); at = len(text) when none.
func (t *BPETokenizer) nextSpecial(text string) (at int, tok string) {
	for i := 0; i < len(text); i++ {
		if text[i] != '<' && !t.anySpecialStartsWith(text[i]) {
			continue
		}
		for _, s := range t.special {
			if strings.HasPrefix(text[i:], s) {
				return i, s
			}
		}
	}
	return len(text), ""
}

func (t *BPETokenizer) anySpecialStartsWith(b byte) bool {
	for _, s := range t.special {
		if s[0] == b {
			return true
		}
	}
	return false
}

// bpe encodes one pre-token: its bytes as byte-level characters, merged by rank.
func (t *BPETokenizer) bpe(piece string) []int32 {
	if ids, ok := t.cache[piece]; ok {
		return ids
	}
	syms := make([]string, 0, len(piece))
	for i := 0; i < len(piece); i++ {
		syms = append(syms, byteChar[piece[i]])
	}
	for len(syms) > 1 {
		best, at := -1, -1
		for i := 0; i+1 < len(syms); i++ {
			if r, ok := t.ranks[syms[i]+" "+syms[i+1]]; ok && (best < 0 || r < best) {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		a, b := syms[at], syms[at+1]
		merged := syms[:0:0]
		for i := 0; i < len(syms); i++ {
			if i+1 < len(syms) && syms[i] == a && syms[i+1] == b {
				merged = append(merged, a+b)
				i++
				continue
			}
			merged = append(merged, syms[i])
		}
		syms = merged
	}
	ids := make([]int32, 0, len(syms))
	for _, s := range syms {
		id, ok := t.vocab[s]
		if !ok { // a byte-level vocabulary has every single byte; a merged symbol always has its token
			for _, r := range s {
				ids = append(ids, t.vocab[string(r)])
			}
			continue
		}
		ids = append(ids, id)
	}
	if len(t.cache) < 1<<16 {
		t.cache[piece] = ids
	}
	return ids
}

// Decode turns ids back into text: special tokens as their text, byte-level characters as their bytes,
// invalid UTF-8 (a sequence cut between tokens) as U+FFFD.
func (t *BPETokenizer) Decode(ids []int32) string {
	var b []byte
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.tokens) {
			continue
		}
		for _, r := range t.tokens[id] {
			if c, ok := charByte[r]; ok {
				b = append(b, c)
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// preTokenizerJSON is a tokenizer.json pre-tokenizer: ByteLevel (with GPT-2's regex when use_regex), Split
// by a regex, or a Sequence of them.
type preTokenizerJSON struct {
	Type     string                 `json:"type"`
	UseRegex *bool                  `json:"use_regex"`
	Prefix   bool                   `json:"add_prefix_space"`
	Pattern  struct{ Regex string } `json:"pattern"`
	Behavior string                 `json:"behavior"`
	Invert   bool                   `json:"invert"`
	Steps    []preTokenizerJSON     `json:"pretokenizers"`
}

// pattern names the split a pre-tokenizer makes: ByteLevel with its regex and no prefix space (gpt2), or a
// Sequence of a Split by LLaMA 3's or Qwen2's regex (Isolated, not inverted) and ByteLevel without its regex.
// Anything else is an error naming it.
func (p preTokenizerJSON) pattern() (string, error) {
	byteLevel := func(q preTokenizerJSON, regex bool) bool {
		return q.Type == "ByteLevel" && !q.Prefix && (q.UseRegex == nil || *q.UseRegex) == regex
	}
	if byteLevel(p, true) {
		return "gpt2", nil
	}
	if p.Type == "Sequence" && len(p.Steps) == 2 && p.Steps[0].Type == "Split" && p.Steps[0].Behavior == "Isolated" && !p.Steps[0].Invert &&
		byteLevel(p.Steps[1], false) {
		switch p.Steps[0].Pattern.Regex {
		case llama3Regex:
			return "llama3", nil
		case qwen2Regex:
			return "qwen2", nil
		}
		return "", fmt.Errorf("pre-tokenizer Split by %q: only LLaMA 3's and Qwen2's regexes are supported", p.Steps[0].Pattern.Regex)
	}
	return "", fmt.Errorf("pre-tokenizer %q (use_regex %v, add_prefix_space %v, %d steps): supported are ByteLevel with GPT-2's pattern, "+
		"and a Sequence of a Split by LLaMA 3's or Qwen2's regex and ByteLevel", p.Type, p.UseRegex, p.Prefix, len(p.Steps))
}

// byteChar and charByte are GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others
// (controls, space, DEL, Latin-1's non-printing range) are shifted to U+0100 onwards in byte order.
var (
	byteChar [256]string
	charByte = map[rune]byte{}
)

func init() {
	n := 0
	for b := range 256 {
		r := rune(b)
		if !(b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF) {
			r = rune(256 + n)
			n++
		}
		byteChar[b] = string(r)
		charByte[r] = byte(b)
	}
}

// class of a rune for GPT-2's pattern.
const (
	classLetter = iota
	classNumber
	classSpace
	classOther
)

func classOf(r rune) int {
	switch {
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r):
		return classSpace
	}
	return classOther
}

// contractions GPT-2's pattern takes first (case-sensitive, as the pattern is).
var contractions = []string{"s", "t", "re", "ve", "m", "ll", "d"}

// splitGPT2 splits text as GPT-2's pre-tokenizer pattern does (see BPETokenizer).
func splitGPT2(s string) []string {
	var out []string
	i := 0
next:
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == '\'' {
			for _, c := range contractions {
				if strings.HasPrefix(s[i+1:], c) {
					out = append(out, s[i:i+1+len(c)])
					i += 1 + len(c)
					continue next
				}
			}
		}
		start, j, class := i, i, classOf(r)
		if r == ' ' && i+n < len(s) { // " ?" before a letter, number or other run
			r2, _ := utf8.DecodeRuneInString(s[i+n:])
			if c := classOf(r2); c != classSpace {
				j, class = i+n, c
			}
		}
		if class != classSpace {
			k := j
			for k < len(s) {
				r, m := utf8.DecodeRuneInString(s[k:])
				if classOf(r) != class {
					break
				}
				k += m
			}
			out = append(out, s[start:k])
			i = k
			continue
		}
		// whitespace: \s+(?!\S) takes the run but leaves its last character when a non-space follows;
		// a single whitespace character before a non-space is \s+.
		k, last := i, 0
		for k < len(s) {
			r, m := utf8.DecodeRuneInString(s[k:])
			if classOf(r) != classSpace {
				break
			}
			k, last = k+m, m
		}
		if k < len(s) && k-last > i {
			k -= last
		}
		out = append(out, s[i:k])
		i = k
	}
	return out
}

// splitLlama3 splits text as LLaMA 3's pre-tokenizer pattern does (Qwen2's with digits 1):
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// the first alternative that matches at each position wins, as in the regex.
func splitLlama3(s string, digits int) []string {
	var out []string
	rune1 := func(i int) (rune, int) {
		if i >= len(s) {
			return -1, 0
		}
		return utf8.DecodeRuneInString(s[i:])
	}
	isNL := func(r rune) bool { return r == '\r' || r == '\n' }
	run := func(i int, class int) int { // end of the run of class from i
		for i < len(s) {
			r, m := rune1(i)
			if classOf(r) != class {
				break
			}
			i += m
		}
		return i
	}
next:
	for i := 0; i < len(s); {
		r, n := rune1(i)
		if r == '\'' { // contractions, any case
			for _, c := range contractions {
				if len(s) >= i+1+len(c) && strings.EqualFold(s[i+1:i+1+len(c)], c) {
					out = append(out, s[i:i+1+len(c)])
					i += 1 + len(c)
					continue next
				}
			}
		}
		class := classOf(r)
		r2, _ := rune1(i + n)
		switch {
		case class == classLetter: // \p{L}+
			k := run(i, classLetter)
			out, i = append(out, s[i:k]), k
			continue
		case !isNL(r) && class != classNumber && r2 >= 0 && classOf(r2) == classLetter: // [^\r\n\p{L}\p{N}]\p{L}+
			k := run(i+n, classLetter)
			out, i = append(out, s[i:k]), k
			continue
		case class == classNumber: // \p{N}{1,digits}
			k := i
			for d := 0; d < digits && k < len(s); d++ {
				r, m := rune1(k)
				if classOf(r) != classNumber {
					break
				}
				k += m
			}
			out, i = append(out, s[i:k]), k
			continue
		case class == classOther || r == ' ' && r2 >= 0 && classOf(r2) == classOther: // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
			k := i
			if r == ' ' {
				k += n
			}
			k = run(k, classOther)
			for k < len(s) {
				r, m := rune1(k)
				if !isNL(r) {
					break
				}
				k += m
			}
			out, i = append(out, s[i:k]), k
			continue
		}
		// whitespace from i to k
		k, last, lastNL := i, 0, -1
		for k < len(s) {
			r, m := rune1(k)
			if classOf(r) != classSpace {
				break
			}
			if isNL(r) {
				lastNL = k + m
			}
			k, last = k+m, m
		}
		switch {
		case lastNL > 0: // \s*[\r\n]+: through the run's last newline
			k = lastNL
		case k < len(s) && k-last > i: // \s+(?!\S): all but the last before a non-space
			k -= last
		} // else \s+ (the run up to the end, or one character before a non-space)
		out, i = append(out, s[i:k]), k
	}
	return out
}
