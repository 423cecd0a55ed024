package mtlcore

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
)

// Injector puts one adapter configuration into every linear layer of a model whose role the configuration
// targets. Models call Injector.Dense for each linear layer, tagged with its role; the injector decides:
//
//   - a nil Injector: an ordinary trainable layer (full fine-tuning, or the base model when pretraining);
//   - a role the configuration does not target: the frozen base layer only;
//   - a targeted role: the frozen base layer plus the adapter (see Dense).
//
// Every base weight of an adapted model is frozen: only adapters and the layers a model adds itself (task
// heads) train.
type Injector struct {
	Config Config
	// Observe, if set, is called with the input x of every adapted layer as its graph is built (scope is the
	// layer's, the prefix of its variables' paths): how analyses read the inputs the adapters see.
	Observe func(scope *model.Scope, x *Node)
}

// NewInjector validates the configuration (before any graph is built) and returns an injector.
func NewInjector(cfg Config) (*Injector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Injector{Config: cfg}, nil
}

// Dense is the linear layer a model uses for the layer with the given role; see Injector.
//
//	x: [batch, ..., dIn]; taskIDs: [batch] int32; returns [batch, ..., dOut].
func (inj *Injector) Dense(scope *model.Scope, role Targets, x, taskIDs *Node, dOut int, useBias bool) *Node {
	switch {
	case inj == nil:
		return layers.Dense(scope, x, useBias, dOut)
	case inj.Config.Targets.Has(role):
		if inj.Observe != nil {
			inj.Observe(scope, x)
		}
		return Dense(scope, x, taskIDs, inj.Config, dOut, useBias)
	default:
		dIn := x.Shape().Dimensions[x.Rank()-1]
		wVar, _, bias := frozenBase(scope, x.Graph(), x.DType(), dIn, dOut, useBias)
		return baseProduct(x, wVar.NodeValue(x.Graph()), bias)
	}
}

// CheckLayers validates the configuration against every layer a model will adapt, given as
// name → [dIn, dOut], before any graph is built.
func (inj *Injector) CheckLayers(layers map[string][2]int) error {
	if inj == nil {
		return nil
	}
	for name, d := range layers {
		if err := inj.Config.ValidateLayer(d[0], d[1]); err != nil {
			return fmt.Errorf("%w (layer %s)", err, name)
		}
	}
	return nil
}

// CheckTaskIDs validates task ids on the host, before they reach a graph: inside a graph a Gather clamps an
// out-of-range id to a valid one without a word.
func CheckTaskIDs(ids []int32, numTasks int) error {
	for i, t := range ids {
		if t < 0 || int(t) >= numTasks {
			return fmt.Errorf("%w: example %d has task id %d, expected 0..%d", ErrUnknownTask, i, t, numTasks-1)
		}
	}
	return nil
}
