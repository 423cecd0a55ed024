// Package losses holds the training losses of multi-task batches, as GoMLX loss functions.
package losses

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// MultiTask is the weighted mean over a batch of each row's task loss: cross-entropy over the task's own
// classes (logits of classes the task does not have are masked) for classification rows — for a
// multiple-choice row, over its own number of choices — and squared error of the first output for regression
// rows. preds[0] is [B, C] logits; labels are datasets.Batches': class, value, weight and the row's number of
// classes (0 for regression), each [B, 1]. Rows of weight 0 (padding) count for nothing.
func MultiTask(labels, preds []*Node) *Node {
	logits := preds[0]
	g := logits.Graph()
	c := logits.Shape().Dimensions[1]
	cls, value := Reshape(labels[0], -1), Reshape(labels[1], -1)
	weight, nclass := Reshape(labels[2], -1), labels[3]
	isReg := ConvertDType(Equal(Reshape(nclass, -1), ZerosLike(Reshape(nclass, -1))), logits.DType())
	valid := LessThan(Iota(g, shapes.Make(dtypes.Int32, 1, c), 1), nclass) // [B, C]
	masked := Where(valid, logits, BroadcastToShape(Scalar(g, logits.DType(), -1e9), logits.Shape()))
	trueLogit := ReduceSum(Mul(OneHot(cls, c, logits.DType()), masked), -1)
	mx := StopGradient(ReduceAndKeep(masked, ReduceMax, -1))
	lse := Add(Reshape(mx, -1), Log(ReduceSum(Exp(Sub(masked, mx)), -1)))
	rowCE := Sub(lse, trueLogit)
	rowSE := Square(Sub(Reshape(Slice(logits, AxisRange(), AxisElem(0)), -1), value))
	row := Add(Mul(OneMinus(isReg), rowCE), Mul(isReg, rowSE))
	total := ReduceAllSum(weight)
	return Div(ReduceAllSum(Mul(row, weight)), Max(total, OnesLike(total)))
}
