package backend

import (
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// InferenceExec is a model.Exec for an inference graph, kept across calls and built again when the values of
// its store's variables changed since its last call.
//
// On a backend that prefers constants for variables (the Go backend: its matrix products pre-pack constant
// weights), GoMLX compiles an inference graph with the weights' values of that moment embedded. An executable
// kept across training steps, a restored checkpoint or weights set by hand would go on computing with the old
// weights; InferenceExec notices (a variable holds another tensor than at its last call, or variables were
// added) and builds it again. On other backends the weights are parameters of every call and the executable
// is kept. A tensor changed in place (tensors.MutableFlatData on a variable's value) is not noticed: set a new
// value instead.
type InferenceExec struct {
	build     func() (*model.Exec, error)
	store     *model.Store
	constants bool // the backend embeds variables as constants
	exec      *model.Exec
	seen      []*tensors.Tensor // every variable's value at the last call, in the store's order
}

// NewInferenceExec is model.NewExec(b, store, fn) kept as InferenceExec describes. fn must build an inference
// graph: one that does not train.
func NewInferenceExec[F model.ExecGraphFn](b compute.Backend, store *model.Store, fn F) *InferenceExec {
	return &InferenceExec{
		build:     func() (*model.Exec, error) { return model.NewExec(b, store, fn) },
		store:     store,
		constants: b.Capabilities().PreferConstantsForVariables,
	}
}

// Call runs the graph on args (as model.Exec.Call), first building it again when the weights changed.
func (e *InferenceExec) Call(args ...any) ([]*tensors.Tensor, error) {
	if e.exec != nil && e.constants && !slices.Equal(e.seen, e.values()) {
		e.exec.Finalize()
		e.exec = nil
	}
	if e.exec == nil {
		exec, err := e.build()
		if err != nil {
			return nil, err
		}
		e.exec = exec
	}
	out, err := e.exec.Call(args...)
	if e.constants {
		e.seen = e.values() // after the call: the variables its compilation created are in it
	}
	return out, err
}

// values lists the tensor each variable of the store holds (nil for one without a value).
func (e *InferenceExec) values() []*tensors.Tensor {
	var out []*tensors.Tensor
	for v := range e.store.IterVariables() {
		var t *tensors.Tensor
		if v.HasValue() {
			t, _ = v.Value() // an error leaves nil: compared as "no value"
		}
		out = append(out, t)
	}
	return out
}
