// Package experiment runs multi-task fine-tuning experiments: a sweep specification (methods × ranks × n ×
// τ × targets × seeds × task subsets) expanded into runs, each run trained with trainer.Fit and evaluated
// per task, resumable at two levels (a finished run is never repeated; an interrupted run resumes from its
// checkpoint), and one results table (Parquet) that plots and notebooks read. Runs are independent jobs, so
// a sweep can also be handed to a scheduler as a job list.
package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/mtlcore"
)

// Benchmarks a sweep can run on.
const (
	Synthetic = "synthetic" // datasets/synthetic: one adapted linear layer, conflicting regression tasks
	MTBench   = "mtbench"   // datasets/benchmark with all-MiniLM-L6-v2
)

// Sweep specifies a set of runs: the cartesian product of its axes. Every axis needs at least one value;
// omitted optional axes take the method defaults.
type Sweep struct {
	Name          string     `json:"name"`
	Benchmark     string     `json:"benchmark"`                // synthetic or mtbench
	Methods       []string   `json:"methods"`                  // lora, mtl-lora, multilora, moelora, hydralora, dora, per-task-lora
	Ranks         []int      `json:"ranks"`                    // r, or with matched_budget the LoRA rank whose parameter count every method matches
	N             []int      `json:"n,omitempty"`              // up-projections (MTL-LoRA, MultiLoRA, HydraLoRA) / experts (MoELoRA)
	Temperatures  []float64  `json:"temperatures,omitempty"`   // MTL-LoRA τ
	Targets       []string   `json:"targets,omitempty"`        // e.g. "q,v", "q,k,v,o" (mtbench); synthetic adapts its one dense layer
	Seeds         []int64    `json:"seeds"`                    // one run per seed
	TaskSubsets   [][]string `json:"task_subsets,omitempty"`   // train on these tasks only (default: all)
	MatchedBudget bool       `json:"matched_budget,omitempty"` // choose each method's rank to match LoRA's parameter count

	Steps        int     `json:"steps"`
	BatchSize    int     `json:"batch_size"`
	SeqLen       int     `json:"seq_len,omitempty"` // mtbench token length (default 64)
	LearningRate float64 `json:"learning_rate"`
	WeightDecay  float64 `json:"weight_decay,omitempty"`
	Warmup       int     `json:"warmup,omitempty"`
	Schedule     string  `json:"schedule,omitempty"`
	ClipNorm     float64 `json:"clip_norm,omitempty"`
	EvalEvery    int     `json:"eval_every,omitempty"`
	EvalMax      int     `json:"eval_max,omitempty"` // mtbench: at most this many validation examples per task (0: all)
	Sampling     string  `json:"sampling,omitempty"` // proportional (default), temperature, uniform, round-robin
	SamplingT    float64 `json:"sampling_temperature,omitempty"`
	Conflict     float64 `json:"conflict,omitempty"` // synthetic: degree of conflict between tasks (default 1)

	TaskWeights map[string]float64 `json:"task_weights,omitempty"` // mtbench: per-task loss weights (default 1)
	SharedHead  bool               `json:"shared_head,omitempty"`  // mtbench: one classification head for every task instead of one per task

	AnalyzeEvery int `json:"analyze_every,omitempty"` // synthetic: record the tasks' gradient cosines every N steps (Env.Recorder)
}

// ParseSweep reads a JSON sweep specification, rejecting unknown keys and empty axes.
func ParseSweep(data []byte) (Sweep, error) {
	var s Sweep
	if err := exactKeys(data); err != nil {
		return s, err
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("experiment: sweep spec: %w", err)
	}
	if len(s.TaskWeights) == 0 {
		s.TaskWeights = nil // "task_weights": {} is no weights, as when it is left out
	}
	return s, s.Validate()
}

// exactKeys rejects a top-level key that matches a field only when case is ignored ("Ranks", "nAme"):
// encoding/json would take it silently, DisallowUnknownFields notwithstanding.
func exactKeys(data []byte) error {
	var keys map[string]json.RawMessage
	if json.Unmarshal(data, &keys) != nil {
		return nil // not an object: the decoder reports it
	}
	fields := reflect.TypeFor[Sweep]()
	for key := range keys {
		for i := range fields.NumField() {
			tag, _, _ := strings.Cut(fields.Field(i).Tag.Get("json"), ",")
			if tag != key && strings.EqualFold(tag, key) {
				return fmt.Errorf("experiment: sweep spec: unknown key %q (keys are lower case: %q)", key, tag)
			}
		}
	}
	return nil
}

// Validate names the first bad field.
func (s Sweep) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("experiment: sweep %q: "+format, append([]any{s.Name}, args...)...)
	}
	switch {
	case s.Name == "" || strings.ContainsAny(s.Name, "/\\ "):
		return bad("field name: must be a non-empty word")
	case s.Benchmark != Synthetic && s.Benchmark != MTBench:
		return bad("field benchmark: %q is not %s or %s", s.Benchmark, Synthetic, MTBench)
	case len(s.Methods) == 0:
		return bad("axis methods is empty")
	case len(s.Ranks) == 0:
		return bad("axis ranks is empty")
	case len(s.Seeds) == 0:
		return bad("axis seeds is empty")
	case s.Steps < 1:
		return bad("field steps: must be ≥ 1, got %d", s.Steps)
	case s.BatchSize < 1:
		return bad("field batch_size: must be ≥ 1, got %d", s.BatchSize)
	case !(s.LearningRate > 0):
		return bad("field learning_rate: must be > 0, got %v", s.LearningRate)
	}
	// An optional axis given as [] is an empty axis, not a missing one.
	for _, axis := range []struct {
		name  string
		empty bool
	}{
		{"n", s.N != nil && len(s.N) == 0}, {"temperatures", s.Temperatures != nil && len(s.Temperatures) == 0},
		{"targets", s.Targets != nil && len(s.Targets) == 0}, {"task_subsets", s.TaskSubsets != nil && len(s.TaskSubsets) == 0},
	} {
		if axis.empty {
			return bad("axis %s is empty: list at least one value, or leave the field out for the default", axis.name)
		}
	}
	for _, m := range s.Methods {
		if _, err := mtlcore.ParseMethod(m); err != nil {
			return bad("axis methods: %v", err)
		}
	}
	for _, t := range s.Targets {
		if _, err := mtlcore.ParseTargets(t); err != nil {
			return bad("axis targets: %v", err)
		}
	}
	if s.Sampling != "" {
		if _, err := datasets.ParseStrategy(s.Sampling); err != nil {
			return bad("field sampling: %v", err)
		}
	}
	if len(s.TaskWeights) > 0 && s.Benchmark != MTBench {
		return bad("field task_weights: only mtbench runs weight their tasks' losses")
	}
	for name, w := range s.TaskWeights {
		if !(w >= 0) {
			return bad("field task_weights: weight of %q must be ≥ 0, got %v", name, w)
		}
	}
	for _, sub := range s.TaskSubsets {
		if len(sub) == 0 {
			return bad("axis task_subsets holds an empty subset")
		}
	}
	return nil
}

// Run is one expanded run of a sweep: its full configuration.
type Run struct {
	Sweep       string         `json:"sweep"`
	Benchmark   string         `json:"benchmark"`
	Adapter     mtlcore.Config `json:"adapter"`
	BudgetRank  int            `json:"budget_rank,omitempty"` // with matched budgets: the LoRA rank matched
	Seed        int64          `json:"seed"`
	Tasks       []string       `json:"tasks,omitempty"`
	Spec        Sweep          `json:"spec"` // training fields (axes cleared)
	TrainParams int            `json:"trainable_params"`
}

// ID is a stable name for the run: readable fields and a hash of the whole configuration.
func (r Run) ID() string {
	data, _ := json.Marshal(r)
	h := sha256.Sum256(data)
	return fmt.Sprintf("%s-r%d-s%d-%s", r.Adapter.Method, r.Adapter.Rank, r.Seed, hex.EncodeToString(h[:4]))
}

// Expand lists the runs of the sweep in a fixed order. layers gives the model's adapted layers ([dIn, dOut]
// by role) for parameter counts and matched budgets.
func (s Sweep) Expand(numTasks int, layers func(targets mtlcore.Targets) [][2]int) ([]Run, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	ns := s.N
	if len(ns) == 0 {
		ns = []int{0}
	}
	taus := s.Temperatures
	if len(taus) == 0 {
		taus = []float64{0}
	}
	targets := s.Targets
	if len(targets) == 0 {
		targets = []string{""}
	}
	subsets := s.TaskSubsets
	if len(subsets) == 0 {
		subsets = [][]string{nil}
	}
	train := s
	train.Methods, train.Ranks, train.N, train.Temperatures, train.Targets, train.Seeds, train.TaskSubsets = nil, nil, nil, nil, nil, nil, nil
	var runs []Run
	seen := map[string]bool{}
	for _, sub := range subsets {
		tasks := numTasks
		if sub != nil {
			tasks = len(sub)
		}
		for _, tg := range targets {
			for _, m := range s.Methods {
				method, _ := mtlcore.ParseMethod(m)
				for _, rank := range s.Ranks {
					for _, n := range ns {
						for _, tau := range taus {
							for _, seed := range s.Seeds {
								cfg := mtlcore.DefaultConfig(method, tasks)
								if tg != "" {
									cfg.Targets, _ = mtlcore.ParseTargets(tg)
								} else if s.Benchmark == Synthetic {
									cfg.Targets = mtlcore.TargetDense
								}
								if n > 0 {
									cfg.N = n
								}
								if tau > 0 {
									cfg.Temperature = tau
								}
								run := Run{Sweep: s.Name, Benchmark: s.Benchmark, Seed: seed, Tasks: sub, Spec: train}
								ls := layers(cfg.Targets)
								if s.MatchedBudget {
									lora := mtlcore.DefaultConfig(mtlcore.LoRA, tasks)
									lora.Rank, lora.Targets = rank, cfg.Targets
									cfg.Rank = matchRank(cfg, count(lora, ls), ls)
									run.BudgetRank = rank
								} else {
									cfg.Rank = rank
								}
								if method == mtlcore.MoELoRA && cfg.Rank%cfg.N != 0 {
									cfg.Rank += cfg.N - cfg.Rank%cfg.N
								}
								if err := cfg.Validate(); err != nil {
									return nil, fmt.Errorf("experiment: sweep %q: %s at rank %d: %w", s.Name, m, cfg.Rank, err)
								}
								run.Adapter, run.TrainParams = cfg, count(cfg, ls)
								if id := run.ID(); !seen[id] {
									seen[id] = true
									runs = append(runs, run)
								}
							}
						}
					}
				}
			}
		}
	}
	return runs, nil
}

func count(cfg mtlcore.Config, layers [][2]int) int {
	n := 0
	for _, l := range layers {
		n += cfg.TrainableParams(l[0], l[1])
	}
	return n
}

// matchRank returns the rank whose parameter count under cfg is closest to budget (the smaller on a tie).
func matchRank(cfg mtlcore.Config, budget int, layers [][2]int) int {
	best, bestDiff := 1, -1
	step := 1
	if cfg.Method == mtlcore.MoELoRA {
		step = cfg.N
	}
	for r := step; r <= 512; r += step {
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

// subsetIndex maps the run's task names to indices of the benchmark's tasks (all when names is empty).
func subsetIndex(all []string, names []string) ([]int, error) {
	if len(names) == 0 {
		idx := make([]int, len(all))
		for i := range idx {
			idx[i] = i
		}
		return idx, nil
	}
	var idx []int
	for _, n := range names {
		i := slices.Index(all, n)
		if i < 0 {
			return nil, fmt.Errorf("experiment: unknown task %q (tasks: %s)", n, strings.Join(all, ", "))
		}
		idx = append(idx, i)
	}
	return idx, nil
}
