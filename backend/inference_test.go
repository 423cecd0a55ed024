package backend

import (
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// An inference executable follows its weights on every backend — the Go backend embeds them as constants,
// so a kept executable must be built again — and is kept while they stay.
func TestInferenceExecFollowsItsWeights(t *testing.T) {
	goBackend, err := create("go")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]compute.Backend{"go": goBackend, "chosen": MustNew()} {
		store := model.NewStore()
		w := store.RootScope().VariableWithValue("w", []float32{1, 2, 3})
		e := NewInferenceExec(b, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
			return graph.ReduceAllSum(graph.Mul(scope.GetVariable("w").ValueGraph(x.Graph()), x))
		})
		sum := func() float32 {
			out, err := e.Call([]float32{1, 1, 2})
			if err != nil {
				t.Fatal(err)
			}
			return tensors.ToScalar[float32](out[0])
		}
		if got := sum(); got != 9 {
			t.Fatalf("%s: %v, want 9", name, got)
		}
		kept := e.exec
		if got := sum(); got != 9 || e.exec != kept {
			t.Errorf("%s: unchanged weights: %v, executable kept %v", name, got, e.exec == kept)
		}
		if err := w.SetValue(tensors.FromValue([]float32{0, 0, 5})); err != nil {
			t.Fatal(err)
		}
		if got := sum(); got != 10 {
			t.Errorf("%s (prefers constants: %v): after SetValue %v, want 10", name, b.Capabilities().PreferConstantsForVariables, got)
		}
		if err := w.SetValuePreservingOld(tensors.FromShape(w.Shape())); err != nil {
			t.Fatal(err)
		}
		if got := sum(); got != 0 {
			t.Errorf("%s: after zeroing %v, want 0", name, got)
		}
	}
	if !goBackend.Capabilities().PreferConstantsForVariables {
		t.Log("the Go backend no longer embeds weights as constants: InferenceExec could be a plain model.Exec")
	}
}
