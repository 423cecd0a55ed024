package experiment

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/datasets/benchmark"
	"github.com/mtlora/mtlora/datasets/commonsense"
	"github.com/mtlora/mtlora/datasets/synthetic"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/pretrained"
)

// Split fractions of data without a split column: a stable hash of each example (datasets.SplitOf).
const (
	ValidationFraction = 0.1
	TestFraction       = 0.1
)

// SpecFile is the dataset spec every text run writes into its folder: the exact spec it trained on, with
// absolute paths — for an inferred one, a file to edit and pass as data next time.
const SpecFile = "data.spec.json"

// Source is resolved data: the synthetic task set, or a text dataset's spec (its paths absolute).
type Source struct {
	Name     string        // as the configuration names it
	Spec     datasets.Spec // text data: the spec (for synthetic data, only task names)
	Inferred bool          // the spec was inferred from a bare data file (datasets.InferSpec)
}

// Synthetic reports whether the source is the synthetic task set.
func (s *Source) Synthetic() bool { return s.Name == Synthetic }

// TaskNames lists the tasks in task-id order.
func (s *Source) TaskNames() []string {
	names := make([]string, len(s.Spec.Tasks))
	for i, t := range s.Spec.Tasks {
		names[i] = t.Name
	}
	return names
}

// OpenData resolves a data name: mtbench (prepared by mtlora prepare-benchmark), synthetic, a dataset spec
// (a .json file; relative paths in it are relative to the spec's folder), or a data file or folder whose
// spec is inferred (datasets.InferSpec).
func OpenData(name string) (*Source, error) {
	src := &Source{Name: name}
	switch {
	case name == Synthetic:
		for t := range synthetic.DefaultConfig().Tasks {
			src.Spec.Tasks = append(src.Spec.Tasks, datasets.TaskSpec{Name: fmt.Sprintf("task%d", t)})
		}
		return src, nil
	case name == MTBench:
		dir, err := benchmark.Path()
		if err != nil {
			return nil, fmt.Errorf("%w: data %s: %w", ErrConfig, name, err)
		}
		if src.Spec, err = benchmark.Spec(dir); err != nil {
			return nil, err
		}
		src.Spec.Path = absolute(dir, src.Spec.Path)
		return src, nil
	case name == Commonsense:
		dir, err := commonsense.Path()
		if err != nil {
			return nil, fmt.Errorf("%w: data %s: %w", ErrConfig, name, err)
		}
		return OpenData(filepath.Join(dir, commonsense.SpecFile))
	case strings.EqualFold(filepath.Ext(name), ".json"):
		spec, err := datasets.ReadSpec(name)
		if err != nil {
			return nil, fmt.Errorf("%w: data %s: %w", ErrConfig, name, err)
		}
		dir := filepath.Dir(name)
		spec.Path = absolute(dir, spec.Path)
		for i := range spec.Tasks {
			spec.Tasks[i].Path = absolute(dir, spec.Tasks[i].Path)
		}
		if err := spec.Validate(); err != nil {
			return nil, fmt.Errorf("%w: data %s: %w", ErrConfig, name, err)
		}
		src.Spec = spec
		return src, nil
	}
	if _, err := os.Stat(name); err != nil {
		return nil, fmt.Errorf("%w: data %q is not mtbench, commonsense, synthetic, a dataset spec (.json) or an existing data file or folder: %w",
			ErrConfig, name, err)
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, err
	}
	spec, err := datasets.InferSpec(abs, datasets.ReadOptions{})
	if err != nil {
		return nil, err
	}
	src.Spec, src.Inferred = spec, true
	return src, nil
}

func absolute(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	if abs, err := filepath.Abs(filepath.Join(dir, path)); err == nil {
		return abs
	}
	return filepath.Join(dir, path)
}

// Load reads the examples of a text source's tasks (all of them, in the spec's task order).
func (s *Source) Load() (*datasets.Set, error) {
	if s.Synthetic() {
		return nil, fmt.Errorf("experiment: the synthetic task set is generated, not loaded")
	}
	return datasets.Load(s.Spec, datasets.ReadOptions{}, ValidationFraction, TestFraction)
}

// modelInfo is what a plan needs of a model before training: the shapes of its linear layers by role.
type modelInfo struct {
	name   string
	dir    string                       // checkpoint directory (text data)
	byRole map[mtlcore.Targets][][2]int // [dIn, dOut] of every linear layer with that role
	roles  string                       // the roles, for messages
}

func (m *modelInfo) layers(t mtlcore.Targets) [][2]int {
	var out [][2]int
	for role, ls := range m.byRole {
		if t.Has(role) {
			out = append(out, ls...)
		}
	}
	return out
}

// bertRoles maps zoo.BERTConfig.LinearLayers' names to their roles.
var bertRoles = map[string]mtlcore.Targets{"query": mtlcore.TargetQuery, "key": mtlcore.TargetKey, "value": mtlcore.TargetValue,
	"output": mtlcore.TargetAttnOutput, "ffn_in": mtlcore.TargetFFNIn, "ffn_out": mtlcore.TargetFFNOut}

// llamaRoles maps zoo.LlamaConfig.LinearLayers' names to their roles.
var llamaRoles = map[string]mtlcore.Targets{"q_proj": mtlcore.TargetQuery, "k_proj": mtlcore.TargetKey, "v_proj": mtlcore.TargetValue,
	"o_proj": mtlcore.TargetAttnOutput, "gate_proj": mtlcore.TargetFFNGate, "up_proj": mtlcore.TargetFFNIn, "down_proj": mtlcore.TargetFFNOut}

func openModelInfo(src *Source, name string) (*modelInfo, error) {
	m := &modelInfo{name: name, byRole: map[mtlcore.Targets][][2]int{}}
	if src.Synthetic() {
		sc := synthetic.DefaultConfig()
		m.name = "the synthetic model (one linear layer)"
		m.byRole[mtlcore.TargetDense] = [][2]int{{sc.DIn, sc.DOut}}
	} else {
		dir, err := pretrained.Resolve(name, pretrained.HubOptions{}, os.Stderr)
		if err != nil {
			return nil, fmt.Errorf("%w: field model: %w", ErrConfig, err)
		}
		m.dir = dir
		if pretrained.IsDecoder(dir) {
			d, err := pretrained.OpenDecoder(dir)
			if err != nil {
				return nil, fmt.Errorf("%w: field model: %w", ErrConfig, err)
			}
			for layer, dims := range d.Config.LinearLayers() {
				for range d.Config.Layers {
					m.byRole[llamaRoles[layer]] = append(m.byRole[llamaRoles[layer]], dims)
				}
			}
		} else {
			ck, err := pretrained.Open(dir)
			if err != nil {
				return nil, fmt.Errorf("%w: field model: %w", ErrConfig, err)
			}
			for layer, d := range ck.Config.LinearLayers() {
				for range ck.Config.Layers {
					m.byRole[bertRoles[layer]] = append(m.byRole[bertRoles[layer]], d)
				}
			}
		}
	}
	var roles []string
	for r := range m.byRole {
		roles = append(roles, r.String())
	}
	sort.Strings(roles)
	m.roles = strings.Join(roles, ", ")
	return m, nil
}
