package zoo_test

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mtlora/mtlora/zoo"
)

// The linear layers of a BERT-family encoder, by role, with their [d_in, d_out]: what an adapter's targets
// select (all-MiniLM-L6-v2's shapes).
func ExampleBERTConfig_LinearLayers() {
	cfg := zoo.BERTConfig{Vocab: 30522, Hidden: 384, Layers: 6, Heads: 12, Intermediate: 1536, MaxPositions: 512, TypeVocab: 2,
		LayerNormEps: 1e-12, Activation: "gelu"}
	layers := cfg.LinearLayers()
	var names []string
	for name := range layers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Printf("%s %v\n", n, layers[n])
	}
	fmt.Println(strings.Repeat("-", 3), cfg.Validate() == nil)
	// Output:
	// ffn_in [384 1536]
	// ffn_out [1536 384]
	// key [384 384]
	// output [384 384]
	// query [384 384]
	// value [384 384]
	// --- true
}
