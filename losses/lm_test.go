package losses

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/mtlora/mtlora/backend"
)

// AnswerTokens is the weighted mean of −log softmax(logits)[target], checked against a hand computation;
// padding slots (weight 0) count for nothing.
func TestAnswerTokens(t *testing.T) {
	logits := []float32{1, 2, 3, 0, 0, 0, -1, 5, 2, 4, 4, 4} // [2 rows, 2 slots, 3 vocab]
	targets := []int32{2, 0, 1, 2}
	weights := []float32{1, 0.5, 1, 0}
	var num, den float64
	for i := range 4 {
		row := logits[3*i : 3*i+3]
		lse := 0.0
		for _, v := range row {
			lse += math.Exp(float64(v))
		}
		nll := math.Log(lse) - float64(row[targets[i]])
		num += nll * float64(weights[i])
		den += float64(weights[i])
	}
	got := MustExecOnce(backend.MustNew(), func(l, tg, w *Node) *Node { return AnswerTokens([]*Node{tg, w}, []*Node{l}) },
		tensors.FromFlatDataAndDimensions(logits, 2, 2, 3), tensors.FromFlatDataAndDimensions(targets, 2, 2),
		tensors.FromFlatDataAndDimensions(weights, 2, 2))
	if v := float64(tensors.ToScalar[float32](got)); math.Abs(v-num/den) > 1e-5 {
		t.Errorf("AnswerTokens = %v, hand computation %v", v, num/den)
	}
}
