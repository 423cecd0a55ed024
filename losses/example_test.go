package losses_test

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/losses"
)

// One batch mixing a 3-class row, a 2-choice multiple-choice row (the third logit is not one of its choices
// and is masked), a regression row and a padding row (weight 0): the loss is the mean of the three real rows'
// losses, each computed here by hand.
func ExampleMultiTask() {
	logits := []float32{2, 0, -1, 0.5, 1.5, 9, 0.3, 7, 7, 1, 1, 1}
	class := []int32{0, 1, 0, 0}
	value := []float32{0, 0, 1.3, 0}
	weight := []float32{1, 1, 1, 0}
	nclass := []int32{3, 2, 0, 3}
	loss, err := ExecOnce(backend.MustNew(), func(l, c, v, w, n *Node) *Node { return losses.MultiTask([]*Node{c, v, w, n}, []*Node{l}) },
		tensors.FromFlatDataAndDimensions(logits, 4, 3), tensors.FromFlatDataAndDimensions(class, 4, 1),
		tensors.FromFlatDataAndDimensions(value, 4, 1), tensors.FromFlatDataAndDimensions(weight, 4, 1),
		tensors.FromFlatDataAndDimensions(nclass, 4, 1))
	if err != nil {
		panic(err)
	}
	ce := func(z []float64, k int) float64 {
		s := 0.0
		for _, x := range z {
			s += math.Exp(x)
		}
		return math.Log(s) - z[k]
	}
	byHand := (ce([]float64{2, 0, -1}, 0) + ce([]float64{0.5, 1.5}, 1) + (0.3-1.3)*(0.3-1.3)) / 3
	fmt.Printf("graph %.5f, by hand %.5f\n", tensors.MustCopyFlatData[float32](loss)[0], byHand)
	// Output:
	// graph 0.49437, by hand 0.49437
}
