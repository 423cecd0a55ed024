package pretrained_test

import (
	"fmt"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/pretrained"
)

// Any Hugging Face BERT-family checkpoint directory loads by name — here a small DistilBERT that transformers
// wrote itself (testdata) — with its own tokenizer; minilm and hub:ORG/NAME resolve the same way.
func ExampleResolve() {
	dir, err := pretrained.Resolve("testdata/checkpoints/distilbert", pretrained.HubOptions{}, nil)
	if err != nil {
		panic(err)
	}
	m, err := pretrained.Load(dir)
	if err != nil {
		panic(err)
	}
	ids, _ := m.Tokenizer.Encode("the quick brown fox", 16)
	out, err := m.Encode(backend.MustNew(), pretrained.Batch{N: 1, SeqLen: len(ids), IDs: ids, TypeIDs: make([]int32, len(ids)), Mask: []int32{1, 1, 1, 1, 1, 1}})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: %d layers, width %d; %d tokens → %d hidden values\n", m.ModelType, m.Config.Layers, m.Config.Hidden, len(ids), len(out.Hidden))
	_, err = pretrained.Resolve("no/such/dir", pretrained.HubOptions{}, nil)
	fmt.Println(err != nil)
	// Output:
	// distilbert: 2 layers, width 64; 6 tokens → 384 hidden values
	// true
}
