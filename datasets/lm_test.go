package datasets

import (
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
)

// charTokenizer tokenizes one byte per token (id = byte value) for the layout tests.
type charTokenizer struct{}

func (charTokenizer) Encode(text string) []int32 {
	ids := make([]int32, len(text))
	for i := range len(text) {
		ids[i] = int32(text[i])
	}
	return ids
}

func TestPromptOf(t *testing.T) {
	set := &Set{Spec: Spec{Tasks: []TaskSpec{{Name: "nli", Labels: []string{"no", "yes"}, Pair: true},
		{Name: "qa", MultipleChoice: true}, {Name: "score", Regression: true}}}}
	p, err := set.PromptOf(Example{Task: 0, Text: "A cat sat.", Pair: "A cat is sitting.", Label: 1})
	if err != nil || p.Text != "A cat sat.\nA cat is sitting.\nAnswer:" || !slices.Equal(p.Candidates, []string{" no", " yes"}) || p.Answer != 1 {
		t.Errorf("pair classification: %+v, %v", p, err)
	}
	p, err = set.PromptOf(Example{Task: 1, Text: "Sky colour?", Choices: []string{"red", "blue"}, Label: 1})
	if err != nil || p.Text != "Sky colour?\nChoices: red | blue\nAnswer:" || !slices.Equal(p.Candidates, []string{" red", " blue"}) {
		t.Errorf("multiple choice: %+v, %v", p, err)
	}
	if _, err := set.PromptOf(Example{Task: 2, Text: "x"}); err == nil || !strings.Contains(err.Error(), `"score" is a regression task`) {
		t.Errorf("regression: %v", err)
	}
}

// Generated text names a candidate only exactly (white space, a trailing full stop and case aside).
func TestPromptMatch(t *testing.T) {
	p := Prompt{Candidates: []string{" spam", " ham", " Spam and ham"}}
	for text, want := range map[string]int{
		" spam": 0, "spam": 0, " Spam.": 0, " HAM\nmore": 1, " spam and ham": 2, " spam ham": -1, "": -1, " \n spam": -1,
		" hamster": -1, " ham!?": 1,
	} {
		if got := p.Match(text); got != want {
			t.Errorf("Match(%q) = %d, want %d", text, got, want)
		}
	}
	cased := Prompt{Candidates: []string{" Yes", " yes", " NO"}}
	for text, want := range map[string]int{" yes": 1, " Yes": 0, " YES": -1, " no": 2} {
		if got := cased.Match(text); got != want {
			t.Errorf("cased Match(%q) = %d, want %d", text, got, want)
		}
	}
}

// A row is the prompt (its start cut when too long), the answer and EOS, right-padded; answer positions are
// the positions whose logits predict each answer token, targets those tokens, weights 1 on them only.
func TestLMRowsLayout(t *testing.T) {
	p := Prompt{Text: "abcdefgh", Candidates: []string{" x", " yz"}, Answer: 1}
	const eos = 2
	toks, at, err := p.Encode(charTokenizer{}, eos, 1, 8, 4)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(charTokenizer{}.Encode("efgh yz"), eos); !slices.Equal(toks, want) || at != 4 {
		t.Fatalf("tokens %v (answer at %d), want %v (answer at 4): the prompt's start is cut", toks, at, want)
	}
	short, at2, _ := p.Encode(charTokenizer{}, eos, 0, 16, 4)
	b := LMRows([][]int32{toks, short}, []int{at, at2}, []int32{1, 0}, []float32{1, 0.5}, 0, 16, 4)
	ids := tensors.MustCopyFlatData[int32](b.Inputs[0])
	mask := tensors.MustCopyFlatData[int32](b.Inputs[1])
	pos := tensors.MustCopyFlatData[int32](b.Inputs[2])
	targets := tensors.MustCopyFlatData[int32](b.Labels[0])
	w := tensors.MustCopyFlatData[float32](b.Labels[1])
	if !slices.Equal(ids[:8], toks) || ids[8] != 0 || mask[7] != 1 || mask[8] != 0 {
		t.Errorf("row 0: ids %v mask %v", ids[:16], mask[:16])
	}
	if !slices.Equal(pos[:4], []int32{3, 4, 5, 6}) || !slices.Equal(targets[:4], []int32{' ', 'y', 'z', eos}) || !slices.Equal(w[:4], []float32{1, 1, 1, 1}) {
		t.Errorf("row 0 answers: positions %v targets %v weights %v", pos[:4], targets[:4], w[:4])
	}
	// row 1: " x" + EOS is 3 tokens: the fourth slot is padding with weight 0; the row weight scales the rest
	if !slices.Equal(w[4:], []float32{0.5, 0.5, 0.5, 0}) || targets[4+2] != eos {
		t.Errorf("row 1 answers: targets %v weights %v", targets[4:], w[4:])
	}
	if _, _, err := p.Encode(charTokenizer{}, eos, 1, 8, 3); err == nil || !strings.Contains(err.Error(), "more than the answer length 3") {
		t.Errorf("answer longer than its slots: %v", err)
	}
}
