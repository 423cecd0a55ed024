package mtlcore

import (
	"fmt"
	"strings"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// Method selects the adapter variant. All variants share one low-rank core (see lowrank.go); they differ
// only in how the per-example rank-space transform and the mixing of up-projections are produced.
//
// Each method lives in one file, method_<name>.go, that declares its constant and registers a methodSpec:
// its graph, its host-side merge factors, its parameter count, its defaults and its validation. Adding a
// method is adding such a file (and its rows in the tests' tables); nothing else in the module switches on
// the method.
type Method int

// methodSpec is everything about one method.
type methodSpec struct {
	name string
	// usesTaskIDs: the output depends on the example's task. mergeable: ΔW_t depends on the task only
	// (never on x), so it folds into W0. components: the method uses Config.N.
	usesTaskIDs, mergeable, components bool
	// cannotUnmerge, when set, says why Unmerge cannot undo Merge from the merged weights.
	cannotUnmerge string
	// defaults sets the method's own defaults over the paper's shared ones (DefaultConfig); may be nil.
	defaults func(c *Config)
	// validate checks the method's own fields (the shared ones are checked already); may be nil.
	validate func(c Config) error
	// params is the trainable-parameter count for one layer with dIn inputs and dOut outputs.
	params func(c Config, dIn, dOut int) int
	// build creates the method's variables in scope and fills the low-rank core for input x.
	build func(scope *model.Scope, x, taskIDs *Node, c Config, dIn, dOut int) lowRank
	// rescale, when set, turns base output y = x·W0 and update delta into the layer's output before the bias
	// (DoRA's magnitude and direction); nil means y + delta.
	rescale func(scope *model.Scope, y, delta *Node, w0 *model.Variable, w0Init model.VariableInitializer, p lowRank) *Node
	// factors writes task t's update of one layer as an ordinary LoRA pair (nil for methods that are not
	// mergeable).
	factors func(lv layerVars, c Config, dIn, dOut, task int) (Factors, error)
}

var methods []*methodSpec // indexed by Method

// register adds a method; each method_*.go calls it from init with its own constant.
func register(m Method, spec methodSpec) {
	for int(m) >= len(methods) {
		methods = append(methods, nil)
	}
	if methods[m] != nil {
		panic(fmt.Sprintf("mtlcore: method %d registered twice (%s, %s)", int(m), methods[m].name, spec.name))
	}
	methods[m] = &spec
}

// spec returns the method's specification, or nil for a value that is not a method.
func (m Method) spec() *methodSpec {
	if m < 0 || int(m) >= len(methods) {
		return nil
	}
	return methods[m]
}

// Methods lists every method, in the order of their constants.
func Methods() []Method {
	var out []Method
	for i, s := range methods {
		if s != nil {
			out = append(out, Method(i))
		}
	}
	return out
}

func methodNames() []string {
	var names []string
	for _, m := range Methods() {
		names = append(names, m.String())
	}
	return names
}

// String returns the method's stable name ("mtl-lora", ...), used in JSON, file names and result tables.
func (m Method) String() string {
	if s := m.spec(); s != nil {
		return s.name
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// ParseMethod is the inverse of Method.String.
func ParseMethod(s string) (Method, error) {
	for _, m := range Methods() {
		if strings.EqualFold(s, m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w: field method: unknown method %q, expected one of %s",
		ErrInvalidConfig, s, strings.Join(methodNames(), ", "))
}

func (m Method) MarshalText() ([]byte, error) {
	if m.spec() == nil {
		return nil, fmt.Errorf("%w: field method: unknown method %d", ErrInvalidConfig, int(m))
	}
	return []byte(m.String()), nil
}

func (m *Method) UnmarshalText(b []byte) error {
	v, err := ParseMethod(string(b))
	*m = v
	return err
}

// UsesTaskIDs reports whether the method's output depends on the task id.
func (m Method) UsesTaskIDs() bool { return m.spec() != nil && m.spec().usesTaskIDs }

// Mergeable reports whether the method's update ΔW_t depends on the task only (never on x), so it can be
// folded into W0 for inference.
func (m Method) Mergeable() bool { return m.spec() != nil && m.spec().mergeable }
