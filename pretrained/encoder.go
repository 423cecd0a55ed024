package pretrained

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/zoo"
)

// Model is a loaded checkpoint: its configuration, tokenizer and weights in a GoMLX store (at the root
// scope, where zoo.BERT is built by Embed and by trainers).
type Model struct {
	*Checkpoint
	Tokenizer *Tokenizer
	Store     *model.Store
	Report    LoadReport

	embed *model.Exec
}

// Load opens the checkpoint in dir and loads its tokenizer and weights.
func Load(dir string) (*Model, error) {
	c, err := Open(dir)
	if err != nil {
		return nil, err
	}
	tok, err := c.Tokenizer()
	if err != nil {
		return nil, err
	}
	store := model.NewStore()
	rep, err := c.LoadWeights(store, "")
	if err != nil {
		return nil, err
	}
	return &Model{Checkpoint: c, Tokenizer: tok, Store: store, Report: rep}, nil
}

// EncodeOutput is what the encoder computes for a batch.
type EncodeOutput struct {
	Hidden  []float32 // last hidden state, [n, seqLen, H] row-major (padding positions included)
	Pooled  []float32 // the checkpoint's pooling (Model.Pooling), [n, H]
	H       int
	Batch   Batch
	Pooling zoo.Pooling
}

// Encode runs the frozen encoder on a tokenized batch (inference: no dropout).
func (m *Model) Encode(b compute.Backend, batch Batch) (EncodeOutput, error) {
	if batch.SeqLen > m.Config.MaxPositions {
		return EncodeOutput{}, fmt.Errorf("pretrained: sequence length %d exceeds the model's %d positions", batch.SeqLen, m.Config.MaxPositions)
	}
	if m.embed == nil {
		enc := zoo.BERT(m.Config, nil)
		pooling := m.Pooling
		e, err := model.NewExec(b, m.Store, func(scope *model.Scope, ids, types, mask *Node) []*Node {
			h := enc(scope, zoo.BERTInputs{Tokens: ids, TypeIDs: types, Mask: mask}, nil)
			return []*Node{h, zoo.Pool(pooling, h, mask)}
		})
		if err != nil {
			return EncodeOutput{}, err
		}
		m.embed = e
	}
	ids, types, mask := batch.Tensors()
	out, err := m.embed.Call(ids, types, mask)
	if err != nil {
		return EncodeOutput{}, err
	}
	return EncodeOutput{Hidden: tensors.MustCopyFlatData[float32](out[0]), Pooled: tensors.MustCopyFlatData[float32](out[1]),
		H: m.Config.Hidden, Batch: batch, Pooling: m.Pooling}, nil
}

// Embed returns one sentence embedding per text: the checkpoint's pooling over its tokens (truncated at
// Model.MaxSeqLen), L2-normalised when normalize is set (as sentence-transformers' Normalize module does).
func (m *Model) Embed(b compute.Backend, texts []string, normalize bool) ([][]float32, error) {
	longest := 3
	for _, t := range texts {
		ids, _ := m.Tokenizer.Encode(t, m.MaxSeqLen)
		longest = max(longest, len(ids))
	}
	// Pad to a power of two so a few compiled shapes serve every batch.
	seqLen := 8
	for seqLen < longest {
		seqLen *= 2
	}
	seqLen = min(seqLen, m.MaxSeqLen)
	batch, err := m.Tokenizer.EncodeBatch(texts, nil, seqLen)
	if err != nil {
		return nil, err
	}
	out, err := m.Encode(b, batch)
	if err != nil {
		return nil, err
	}
	res := make([][]float32, len(texts))
	for i := range res {
		v := append([]float32(nil), out.Pooled[i*out.H:(i+1)*out.H]...)
		if normalize {
			var ss float64
			for _, x := range v {
				ss += float64(x) * float64(x)
			}
			if n := math.Sqrt(ss); n > 1e-12 {
				for j := range v {
					v[j] = float32(float64(v[j]) / n)
				}
			}
		}
		res[i] = v
	}
	return res, nil
}
