package pretrained

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	st "github.com/mtlora/mtlora/internal/safetensors"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/zoo"
)

type encoderFixture struct {
	Reference string `json:"reference"`
	MaxLen    int    `json:"max_len"`
	Cases     []struct {
		Text    string  `json:"text"`
		Pair    *string `json:"pair"`
		IDs     []int32 `json:"ids"`
		TypeIDs []int32 `json:"type_ids"`
		Rows    int     `json:"rows"`
	} `json:"cases"`
	tensors map[string][]float32
}

// readEncoderFixture reads testdata/minilm_encoder.{json,safetensors}, written by
// scripts/reference/encoder_fixtures.py with transformers and sentence-transformers.
func readEncoderFixture(t *testing.T) *encoderFixture {
	t.Helper()
	data, err := os.ReadFile("testdata/minilm_encoder.json")
	if err != nil {
		t.Fatal(err)
	}
	var f encoderFixture
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	f.tensors = readReferenceTensors(t, "testdata", "minilm_encoder.safetensors")
	return &f
}

// readReferenceTensors reads every tensor of a reference safetensors file as float32 values.
func readReferenceTensors(t *testing.T, dir, file string) map[string][]float32 {
	t.Helper()
	ts, _, err := st.Read(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for name, v := range ts {
		out[name] = v.Data
	}
	return out
}

// all-MiniLM-L6-v2 in Go (go-huggingface tokenizer + zoo.BERT + weights loaded by LoadWeights) matches
// transformers and sentence-transformers on 25 inputs — accents, CJK, emoji, control characters, an empty
// string, sentence pairs, texts truncated at 512 tokens: ids identical; hidden states, CLS and mean pooling
// and the sentence embedding within 1e-4. Inputs are run as padded batches (short ones padded to 32 tokens),
// so padding must not change any token's state.
func TestMiniLMMatchesReference(t *testing.T) {
	dir := requireMiniLM(t)
	fix := readEncoderFixture(t)
	if len(fix.Cases) < 20 {
		t.Fatalf("only %d fixture cases", len(fix.Cases))
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Pooling != zoo.PoolMean || m.Config.Activation != "gelu" || m.Config.LayerNormEps != 1e-12 {
		t.Fatalf("config: pooling %s, activation %s, eps %g", m.Pooling, m.Config.Activation, m.Config.LayerNormEps)
	}
	b := backend.MustNew()
	const tol = 1e-4
	var worst float64
	check := func(what string, got, want []float32) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, reference has %d", what, len(got), len(want))
		}
		for i := range got {
			d := math.Abs(float64(got[i]) - float64(want[i]))
			worst = max(worst, d)
			if !(d <= tol) {
				t.Errorf("%s[%d] = %.6f, reference %.6f (|Δ| = %.2g > %g)", what, i, got[i], want[i], d, tol)
				return
			}
		}
	}
	// Two buckets: short inputs padded to 32, long ones at the 512-token limit.
	for _, seqLen := range []int{32, fix.MaxLen} {
		var idx []int
		var texts, pairs []string
		hasPairs := false
		for i, c := range fix.Cases {
			if (len(c.IDs) <= 32) != (seqLen == 32) {
				continue
			}
			idx = append(idx, i)
			texts = append(texts, c.Text)
			pairs = append(pairs, "")
			if c.Pair != nil {
				pairs[len(pairs)-1], hasPairs = *c.Pair, true
			}
		}
		// Single texts and pairs go in separate batches (a batch is all pairs or all singles).
		for _, pairBatch := range []bool{false, true} {
			var bi []int
			var bt, bp []string
			for k, i := range idx {
				if (fix.Cases[i].Pair != nil) == pairBatch {
					bi, bt, bp = append(bi, i), append(bt, texts[k]), append(bp, pairs[k])
				}
			}
			if len(bi) == 0 || (pairBatch && !hasPairs) {
				continue
			}
			if !pairBatch {
				bp = nil
			}
			batch, err := m.Tokenizer.EncodeBatch(bt, bp, seqLen)
			if err != nil {
				t.Fatal(err)
			}
			out, err := m.Encode(b, batch)
			if err != nil {
				t.Fatal(err)
			}
			H := out.H
			for k, i := range bi {
				c := fix.Cases[i]
				name := fmt.Sprintf("case %d (%.30q)", i, c.Text)
				n := len(c.IDs)
				if !slices.Equal(batch.IDs[k*seqLen:k*seqLen+n], c.IDs) || !slices.Equal(batch.TypeIDs[k*seqLen:k*seqLen+n], c.TypeIDs) {
					t.Errorf("%s: ids differ from transformers'", name)
					continue
				}
				if n < seqLen && batch.Mask[k*seqLen+n] != 0 {
					t.Errorf("%s: more tokens than transformers'", name)
					continue
				}
				hidden := out.Hidden[k*seqLen*H : (k*seqLen+n)*H]
				check(name+" hidden", hidden[:c.Rows*H], fix.tensors[fmt.Sprintf("case%d.hidden", i)])
				check(name+" last token", hidden[(n-1)*H:], fix.tensors[fmt.Sprintf("case%d.last", i)])
				check(name+" cls", hidden[:H], fix.tensors[fmt.Sprintf("case%d.cls", i)])
				check(name+" mean pooling", out.Pooled[k*H:(k+1)*H], fix.tensors[fmt.Sprintf("case%d.mean", i)])
			}
		}
	}
	// Sentence embeddings of single texts, as sentence-transformers computes them (normalised mean).
	var texts []string
	var want []string
	for i, c := range fix.Cases {
		if c.Pair == nil && len(c.IDs) <= m.MaxSeqLen {
			texts, want = append(texts, c.Text), append(want, fmt.Sprintf("case%d.embedding", i))
		}
	}
	emb, err := m.Embed(b, texts, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		check(fmt.Sprintf("embedding %.30q", texts[i]), emb[i], fix.tensors[want[i]])
	}
	t.Logf("largest |Δ| against %s: %.2g", fix.Reference, worst)
}
