package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/mtlcore"
)

// Plan is what to run: one Config, and optionally hyperparameters to vary. Its runs are every combination of
// the values in Vary applied to Run, in a fixed order (Vary's fields outermost first, seed innermost). A plan
// without Vary is one run. Commands, the demo, sweeps and notebook cells all build a Plan and call Runs.
type Plan struct {
	Name string `json:"name"`          // names the plan's folder and its rows in results tables
	Run  Config `json:"run"`           // every run's configuration, before Vary
	Vary Vary   `json:"vary,omitzero"` // values to vary (none: one run)
	// Test asks every run, once trained, for the evaluation a paper reports: its best weights (chosen on the
	// validation split) on every example of the data's test split (Result.Test). It changes no training, so
	// it is not part of a run's configuration or id: a finished run of a plan that asks gets it when the plan
	// is run again.
	Test bool `json:"test,omitempty"`
}

// Vary lists values of hyperparameters to vary. Each field has the name, JSON key and element type of the
// Config field it varies; an empty (nil) field is not varied.
type Vary struct {
	Model        []string             `json:"model,omitempty"`
	Tasks        [][]string           `json:"tasks,omitempty"`
	Targets      []mtlcore.Targets    `json:"targets,omitempty"`
	Method       []mtlcore.Method     `json:"method,omitempty"`
	Rank         []int                `json:"rank,omitempty"`
	BudgetRank   []int                `json:"budget_rank,omitempty"`
	Alpha        []float64            `json:"alpha,omitempty"`
	Dropout      []float64            `json:"dropout,omitempty"`
	N            []int                `json:"n,omitempty"`
	Temperature  []float64            `json:"temperature,omitempty"`
	Lambda       []mtlcore.LambdaForm `json:"lambda,omitempty"`
	MixInit      []mtlcore.MixInit    `json:"mix_init,omitempty"`
	Steps        []int                `json:"steps,omitempty"`
	LearningRate []float64            `json:"learning_rate,omitempty"`
	Sampling     []datasets.Strategy  `json:"sampling,omitempty"`
	Scoring      []Scoring            `json:"scoring,omitempty"`
	Seed         []int64              `json:"seed,omitempty"`
}

// NewPlan is a plan of one run with the given configuration.
func NewPlan(name string, run Config) Plan { return Plan{Name: name, Run: run} }

// ParsePlan reads a JSON plan: {"name": …, "run": {…}, "vary": {…}}. "run" holds hyperparameters over the
// defaults, "vary" lists of values by the same names. Unknown keys, keys in the wrong case and axes given as
// [] are errors naming them; the plan is validated.
func ParsePlan(data []byte) (Plan, error) {
	p := Plan{Run: Defaults()}
	if err := decodeStrict(data, &p); err != nil {
		return p, fmt.Errorf("experiment: plan: %w", err)
	}
	p.Run.normalize()
	// An axis given as [] decodes to an empty, non-nil slice: say so rather than run without it.
	v := reflect.ValueOf(p.Vary)
	for i := range v.NumField() {
		if f := v.Field(i); !f.IsNil() && f.Len() == 0 {
			tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			return p, fmt.Errorf("%w: plan %q: vary.%s is empty: list at least one value, or leave it out", ErrConfig, p.Name, tag)
		}
	}
	return p, p.Validate()
}

// Validate checks the plan's name and every configuration it expands to (not yet against data and model).
func (p Plan) Validate() error {
	if p.Name == "" || strings.ContainsAny(p.Name, "/\\ \t\n") || p.Name == "." || p.Name == ".." {
		return fmt.Errorf("%w: plan name %q: must be a non-empty word (it names a folder)", ErrConfig, p.Name)
	}
	if p.Test && p.Run.Data == Synthetic {
		return fmt.Errorf("%w: plan %q: test: synthetic data has no test split", ErrConfig, p.Name)
	}
	for _, c := range p.configs() {
		if err := c.Validate(); err != nil {
			return fmt.Errorf("plan %q: %w", p.Name, err)
		}
	}
	return nil
}

// ReadPlan reads a plan file (ParsePlan), naming the file in its errors.
func ReadPlan(path string) (Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Plan{}, err
	}
	p, err := ParsePlan(data)
	if err != nil {
		return p, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Small is the plan at smoke-test size, for CI and a first look: the same runs (every value of every axis
// but the seed, which keeps its first two) at 4 steps of 4 examples, evaluated every 2 steps on at most 6
// examples per task, without warm-up and without the test evaluation (every test example: not a smoke
// test's size), under the name NAME-small so its results never mix with full-size ones.
func (p Plan) Small() Plan {
	p.Name += "-small"
	p.Test = false
	p.Run = p.Run.clone()
	p.Run.Steps, p.Run.BatchSize, p.Run.EvalEvery, p.Run.EvalMax, p.Run.Warmup = 4, 4, 2, 6, 0
	if p.Run.Devices > 1 {
		p.Run.BatchSize = 4 * p.Run.Devices
	}
	if len(p.Vary.Seed) > 2 {
		p.Vary.Seed = slices.Clone(p.Vary.Seed[:2])
	}
	p.Vary.Steps = nil
	return p
}

// configs expands Vary over Run.
func (p Plan) configs() []Config {
	out := []Config{p.Run}
	v := reflect.ValueOf(p.Vary)
	for i := range v.NumField() {
		values := v.Field(i)
		if values.Len() == 0 {
			continue
		}
		name := v.Type().Field(i).Name
		var next []Config
		for _, c := range out {
			for j := range values.Len() {
				c := c.clone()
				reflect.ValueOf(&c).Elem().FieldByName(name).Set(values.Index(j))
				next = append(next, c)
			}
		}
		out = next
	}
	return out
}

// clone copies the configuration, its lists and maps included.
func (c Config) clone() Config {
	c.Tasks = slices.Clone(c.Tasks)
	if c.TaskWeights != nil {
		m := make(map[string]float64, len(c.TaskWeights))
		for k, w := range c.TaskWeights {
			m[k] = w
		}
		c.TaskWeights = m
	}
	return c
}

// Run is one resolved run of a plan: its configuration with what the data and the model decide filled in —
// the task names (all of the data's when Tasks was empty), num_tasks, and with budget_rank the chosen rank —
// and its trainable-parameter count.
type Run struct {
	Plan            string `json:"plan"`
	Config          Config `json:"config"`
	TrainableParams int    `json:"trainable_params"`
	Test            bool   `json:"test,omitempty"` // evaluate the best weights on the test split (Plan.Test)
}

// ID names the run: readable fields and a hash of its resolved configuration. Two plans that resolve to the
// same configuration share the run.
func (r Run) ID() string {
	data, _ := json.Marshal(r.Config)
	h := sha256.Sum256(data)
	return fmt.Sprintf("%s-r%d-s%d-%s", r.Config.Method, r.Config.Rank, r.Config.Seed, hex.EncodeToString(h[:4]))
}

// Runs resolves the plan: every configuration it expands to, checked against its data (task names and kinds)
// and its model (the layers the targets select, rank ≤ their size), with budget_rank turned into a rank.
// Runs that resolve to the same configuration are listed once.
func (p Plan) Runs() ([]Run, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var runs []Run
	seen := map[string]bool{}
	sources := map[string]*Source{}
	models := map[string]*modelInfo{}
	for _, c := range p.configs() {
		src := sources[c.Data]
		if src == nil {
			var err error
			if src, err = OpenData(c.Data); err != nil {
				return nil, fmt.Errorf("plan %q: %w", p.Name, err)
			}
			sources[c.Data] = src
		}
		key := c.Model
		if src.Synthetic() {
			key = Synthetic
		}
		m := models[key]
		if m == nil {
			var err error
			if m, err = openModelInfo(src, c.Model); err != nil {
				return nil, fmt.Errorf("plan %q: %w", p.Name, err)
			}
			models[key] = m
		}
		run, err := resolve(p.Name, c, src, m)
		if err != nil {
			return nil, fmt.Errorf("plan %q: %w", p.Name, err)
		}
		run.Test = p.Test
		if id := run.ID(); !seen[id] {
			seen[id] = true
			runs = append(runs, run)
		}
	}
	return runs, nil
}

func resolve(plan string, c Config, src *Source, m *modelInfo) (Run, error) {
	names := src.TaskNames()
	for _, t := range c.Tasks {
		if !slices.Contains(names, t) {
			return Run{}, bad("tasks", "%q is not a task of %s (tasks: %s)", t, c.Data, strings.Join(names, ", "))
		}
	}
	if len(c.Tasks) == 0 {
		c.Tasks = names
	}
	for name := range c.TaskWeights {
		if !slices.Contains(c.Tasks, name) {
			return Run{}, bad("task_weights", "names %q, which is not a task of this run (tasks: %s)", name, strings.Join(c.Tasks, ", "))
		}
	}
	if len(c.TaskWeights) > 0 && src.Synthetic() {
		return Run{}, bad("task_weights", "synthetic data has no per-task loss weights")
	}
	c.NumTasks = len(c.Tasks)
	layers := m.layers(c.Targets)
	if len(layers) == 0 {
		return Run{}, bad("targets", "%s selects no linear layer of %s (its layers' roles: %s)", c.Targets, m.name, m.roles)
	}
	if c.BudgetRank > 0 {
		lora := c.Config
		lora.Method, lora.Rank = mtlcore.LoRA, c.BudgetRank
		c.Rank = matchRank(c.Config, count(lora, layers), layers)
	}
	for _, l := range layers {
		if err := c.Config.ValidateLayer(l[0], l[1]); err != nil {
			return Run{}, fmt.Errorf("%w: %s: %w", ErrConfig, m.name, err)
		}
	}
	return Run{Plan: plan, Config: c, TrainableParams: count(c.Config, layers)}, nil
}

func count(cfg mtlcore.Config, layers [][2]int) int {
	n := 0
	for _, l := range layers {
		n += cfg.TrainableParams(l[0], l[1])
	}
	return n
}

// maxRank is the largest rank a matched budget considers.
const maxRank = 512

// matchRank returns the valid rank whose parameter count under cfg is closest to budget (the smaller on a tie).
func matchRank(cfg mtlcore.Config, budget int, layers [][2]int) int {
	best, bestDiff := 1, -1
	for r := 1; r <= maxRank; r++ {
		cfg.Rank = r
		if cfg.Validate() != nil {
			continue
		}
		d := count(cfg, layers) - budget
		if d < 0 {
			d = -d
		}
		if bestDiff < 0 || d < bestDiff {
			best, bestDiff = r, d
		}
	}
	return best
}
