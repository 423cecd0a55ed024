package losses

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// TokenLogProbs returns log p(target) under logits [B, A, V] for targets [B, A] int32: [B, A].
func TokenLogProbs(logits, targets *Node) *Node {
	g := logits.Graph()
	b, a := targets.Shape().Dimensions[0], targets.Shape().Dimensions[1]
	logp := LogSoftmax(logits, -1)
	rows := Iota(g, shapes.Make(dtypes.Int32, b, a), 0)
	cols := Iota(g, shapes.Make(dtypes.Int32, b, a), 1)
	return Gather(logp, Stack([]*Node{rows, cols, ConvertDType(targets, dtypes.Int32)}, -1))
}

// AnswerTokens is the causal-LM loss of datasets.LMBatches: the weighted mean negative log-likelihood of the
// answer tokens. preds[0] is the answer logits [B, A, V] (zoo.LlamaAnswers); labels are the answer tokens
// [B, A] int32 and their weights [B, A] (0 for padding slots and rows). Every answer token counts the same:
// a task with longer answers weighs more per example.
func AnswerTokens(labels, preds []*Node) *Node {
	w := ConvertDType(labels[1], preds[0].DType())
	nll := Neg(TokenLogProbs(preds[0], labels[0]))
	total := ReduceAllSum(w)
	return Div(ReduceAllSum(Mul(nll, w)), Max(total, OnesLike(total)))
}
