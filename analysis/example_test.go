package analysis_test

import (
	"fmt"

	"github.com/mtlora/mtlora/analysis"
)

// MTL-LoRA's mixing weights softmax(w_t/τ): a lower temperature sharpens the same logits towards one
// up-projection; cosine similarity says how two tasks' updates agree.
func ExampleSoftmax() {
	w := []float64{0.3, -0.1, 0.2}
	for _, tau := range []float64{1, 0.1} {
		fmt.Printf("τ=%.1f: %.3f\n", tau, analysis.Softmax(w, tau))
	}
	fmt.Printf("cosine of opposite updates: %+.1f\n", analysis.Cosine([]float64{1, 2}, []float64{-1, -2}))
	// Output:
	// τ=1.0: [0.388 0.260 0.351]
	// τ=0.1: [0.721 0.013 0.265]
	// cosine of opposite updates: -1.0
}
