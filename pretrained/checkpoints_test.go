package pretrained

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/zoo"
)

// Checkpoints that Hugging Face transformers created and saved itself (scripts/reference/checkpoint_fixtures.py,
// transformers 4.44.2): BERT with BERT-base's head size, BERT with three token types, gelu_new, ε = 1e-5,
// another vocabulary and position count, and DistilBERT. Each loads strictly, its tokenizer gives the
// reference ids, and its last hidden states match transformers' within 1e-5.
func TestCheckpointsWrittenByTransformers(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "checkpoints", "*"))
	if len(dirs) < 3 {
		t.Fatalf("only %d reference checkpoints", len(dirs))
	}
	b := backend.MustNew()
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var ref struct {
				Reference string `json:"reference"`
				ModelType string `json:"model_type"`
				Cases     []struct {
					Text    string  `json:"text"`
					Pair    *string `json:"pair"`
					IDs     []int32 `json:"ids"`
					TypeIDs []int32 `json:"type_ids"`
				} `json:"cases"`
			}
			data, err := os.ReadFile(filepath.Join(dir, "reference.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &ref); err != nil {
				t.Fatal(err)
			}
			want := readReferenceTensors(t, dir, "reference.safetensors")
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if m.ModelType != ref.ModelType {
				t.Errorf("model type %q, reference %q", m.ModelType, ref.ModelType)
			}
			var worst float64
			for i, c := range ref.Cases {
				var ids, types []int32
				if c.Pair != nil {
					ids, types = m.Tokenizer.EncodePair(c.Text, *c.Pair, m.Config.MaxPositions)
				} else {
					ids, types = m.Tokenizer.Encode(c.Text, m.Config.MaxPositions)
				}
				if !slices.Equal(ids, c.IDs) {
					t.Errorf("case %d: ids %v, transformers %v", i, ids, c.IDs)
					continue
				}
				if ref.ModelType == "bert" && !slices.Equal(types, c.TypeIDs) && !slices.Equal(scaled(types, 2), c.TypeIDs) {
					t.Errorf("case %d: type ids %v, transformers %v", i, types, c.TypeIDs)
				}
				n := len(ids)
				batch := Batch{N: 1, SeqLen: n, IDs: ids, TypeIDs: c.TypeIDs, Mask: ones(n)}
				out, err := m.Encode(b, batch)
				if err != nil {
					t.Fatal(err)
				}
				w := want[fmt.Sprintf("case%d.hidden", i)]
				if len(w) != len(out.Hidden) {
					t.Fatalf("case %d: %d hidden values, transformers %d", i, len(out.Hidden), len(w))
				}
				for j := range w {
					d := math.Abs(float64(out.Hidden[j] - w[j]))
					worst = max(worst, d)
					if !(d <= 1e-5) {
						t.Errorf("case %d: hidden[%d] = %v, transformers %v", i, j, out.Hidden[j], w[j])
						break
					}
				}
			}
			t.Logf("%s (%s, hidden %d, %d layers, %d heads, vocab %d, %d positions, %s, pooling %s): worst |Δ| %.2g against %s",
				filepath.Base(dir), m.ModelType, m.Config.Hidden, m.Config.Layers, m.Config.Heads, m.Config.Vocab, m.Config.MaxPositions,
				m.Config.Activation, m.Pooling, worst, ref.Reference)
		})
	}
	// The configurations differ where it matters.
	seen := map[string]bool{}
	for _, dir := range dirs {
		ck, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		seen[ck.ModelType] = true
		seen[ck.Config.Activation] = true
		seen[ck.Pooling.String()] = true
	}
	for _, k := range []string{"bert", "distilbert", "gelu", "gelu_approx", zoo.PoolCLS.String(), zoo.PoolMean.String()} {
		if !seen[k] {
			t.Errorf("no reference checkpoint with %s", k)
		}
	}
}

func ones(n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

func scaled(v []int32, k int32) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = x * k
	}
	return out
}
