package mtlcore

import (
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// The injector adapts the roles its configuration targets, freezes the base of every other layer, and a nil
// injector leaves ordinary trainable layers.
func TestInjectorTargetsAndFreezes(t *testing.T) {
	b := testBackend(t)
	cfg := DefaultConfig(MTLLoRA, tTasks)
	cfg.Rank, cfg.Targets = 2, TargetQuery|TargetFFNOut
	inj, err := NewInjector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	x := randInput(rng, tBatch, tSeq, tDIn)
	build := func(inj *Injector) *model.Store {
		store := newStore(1)
		model.MustNewExec(b, store, func(scope *model.Scope, x, task *Node) []*Node {
			return []*Node{
				inj.Dense(scope.In("query"), TargetQuery, x, task, tDOut, true),
				inj.Dense(scope.In("value"), TargetValue, x, task, tDOut, true),
				inj.Dense(scope.In("ffn_out"), TargetFFNOut, x, task, tDOut, false),
			}
		}).MustCall(x, mixedTasks())
		return store
	}
	store := build(inj)
	var adapted []string
	for _, l := range Layers(store) {
		adapted = append(adapted, l.Path)
	}
	if len(adapted) != 2 || adapted[0] != "/ffn_out" || adapted[1] != "/query" {
		t.Errorf("adapted layers = %v, want /ffn_out and /query", adapted)
	}
	for v := range store.IterVariables() {
		isBase := v.Name() == "weights" || v.Name() == "biases"
		if isBase && v.Trainable {
			t.Errorf("base variable %s is trainable", v.Path())
		}
	}
	for v := range build(nil).IterVariables() {
		if (v.Name() == "weights" || v.Name() == "biases") && !v.Trainable {
			t.Errorf("nil injector froze %s", v.Path())
		}
	}
}
