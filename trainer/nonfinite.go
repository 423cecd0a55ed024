package trainer

import (
	"fmt"
	"strings"
	"sync"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
)

// nonFiniteMessage marks the logged node that counts, per task, the rows of a batch whose prediction or
// float label holds a NaN or ±Inf.
const nonFiniteMessage = "mtlora/trainer: non-finite rows by task"

// taskProbe finds which tasks a non-finite loss came from. The wrapped model function remembers each
// graph's task-id input; the wrapped loss adds a [numTasks] count of rows with a non-finite prediction or
// label, marked as a logged node, which the executor's logger hands back after every step. Nothing is
// added to the model's variables, so checkpoints are unchanged.
type taskProbe struct {
	input, numTasks int

	mu   sync.Mutex
	ids  map[*Graph]*Node
	last []float32 // counts of the last executed step
}

func newTaskProbe(input, numTasks int) *taskProbe {
	return &taskProbe{input: input, numTasks: numTasks, ids: map[*Graph]*Node{}}
}

func (p *taskProbe) model(fn func(*model.Scope, []*Node) *Node) func(*model.Scope, []*Node) *Node {
	return func(scope *model.Scope, inputs []*Node) *Node {
		if p.input >= 0 && p.input < len(inputs) {
			p.mu.Lock()
			p.ids[inputs[0].Graph()] = inputs[p.input]
			p.mu.Unlock()
		}
		return fn(scope, inputs)
	}
}

func (p *taskProbe) loss(fn train.LossFn) train.LossFn {
	return func(labels, preds []*Node) *Node {
		l := fn(labels, preds)
		if len(preds) == 0 {
			return l
		}
		g := preds[0].Graph()
		p.mu.Lock()
		ids := p.ids[g]
		p.mu.Unlock()
		if ids == nil || ids.Rank() != 1 {
			return l
		}
		batch := ids.Shape().Dimensions[0]
		bad := Zeros(g, shapes.Make(dtypes.Float32, batch))
		for _, x := range append(append([]*Node{}, preds...), labels...) {
			if !x.DType().IsFloat() || x.Rank() == 0 || x.Shape().Dimensions[0] != batch {
				continue
			}
			// x−x is 0 exactly when x is finite (NaN and ±Inf give NaN); IsFinite has no ONNX Runtime kernel.
			rowBad := ConvertDType(NotEqual(Sub(x, x), ZerosLike(x)), dtypes.Float32)
			if x.Rank() > 1 {
				rowBad = ReduceMax(Reshape(rowBad, batch, -1), 1)
			}
			bad = Max(bad, StopGradient(rowBad))
		}
		counts := ReduceSum(Mul(OneHot(ConvertDType(ids, dtypes.Int32), p.numTasks, dtypes.Float32), InsertAxes(bad, -1)), 0)
		counts.SetLogged(nonFiniteMessage)
		return l
	}
}

// logger receives the logged nodes of each execution and keeps the counts.
func (p *taskProbe) logger(_ *Graph, messages []string, values []*tensors.Tensor, _ []NodeId) {
	for i, m := range messages {
		if m == nonFiniteMessage {
			c := tensors.MustCopyFlatData[float32](values[i])
			p.mu.Lock()
			p.last = c
			p.mu.Unlock()
		}
	}
}

// describe names the tasks of the last step whose rows were non-finite.
func (p *taskProbe) describe(names []string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var parts []string
	for t, c := range p.last {
		if c > 0 {
			name := fmt.Sprintf("task %d", t)
			if t < len(names) {
				name = fmt.Sprintf("task %q", names[t])
			}
			parts = append(parts, fmt.Sprintf("%s (%d rows)", name, int(c)))
		}
	}
	if len(parts) == 0 {
		return "no row's prediction or label is non-finite: the loss computation itself overflowed (learning rate too high?)"
	}
	return "rows with a non-finite prediction or label: " + strings.Join(parts, ", ")
}
