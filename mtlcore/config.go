package mtlcore

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Sentinel errors. Every error returned by this package wraps one of them (test with errors.Is) and says
// which field, tensor or task it is about, what was expected and what was found.
var (
	// ErrInvalidConfig: a Config field is out of range or inconsistent.
	ErrInvalidConfig = errors.New("mtlcore: invalid adapter configuration")
	// ErrUnknownTask: a task id outside [0, NumTasks).
	ErrUnknownTask = errors.New("mtlcore: unknown task")
	// ErrUnknownTarget: a target layer name that this package does not define.
	ErrUnknownTarget = errors.New("mtlcore: unknown target")
	// ErrNotMergeable: the method's update depends on the input (HydraLoRA's token router).
	ErrNotMergeable = errors.New("mtlcore: method is not mergeable")
	// ErrCheckpoint: an adapter file is missing, corrupt, or its tensors do not match the configuration.
	ErrCheckpoint = errors.New("mtlcore: bad adapter checkpoint")
)

// LambdaForm is the form of MTL-LoRA's task transform Λ_t.
type LambdaForm int

const (
	// LambdaDiagonal: Λ_t = diag(λ_t), λ_t ∈ R^r starting at ones (the paper's text; the default).
	LambdaDiagonal LambdaForm = iota
	// LambdaFull: Λ_t ∈ R^{r×r} starting at the identity (the authors' training scripts).
	LambdaFull
	// LambdaNone: no task transform, Λ_t = I fixed (no parameters): the ablation of Λ, leaving the shared A
	// and each task's mixture of the shared up-projections.
	LambdaNone
)

func (f LambdaForm) String() string {
	switch f {
	case LambdaDiagonal:
		return "diagonal"
	case LambdaFull:
		return "full"
	case LambdaNone:
		return "none"
	}
	return fmt.Sprintf("LambdaForm(%d)", int(f))
}

func (f LambdaForm) MarshalText() ([]byte, error) {
	if f != LambdaDiagonal && f != LambdaFull && f != LambdaNone {
		return nil, fmt.Errorf("%w: field lambda: unknown form %d", ErrInvalidConfig, int(f))
	}
	return []byte(f.String()), nil
}

func (f *LambdaForm) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "diagonal", "diag":
		*f = LambdaDiagonal
	case "full":
		*f = LambdaFull
	case "none":
		*f = LambdaNone
	default:
		return fmt.Errorf("%w: field lambda: unknown form %q, expected diagonal, full or none", ErrInvalidConfig, b)
	}
	return nil
}

// MixInit is how MTL-LoRA's mixing logits w_t start.
type MixInit int

const (
	// MixRandom: w ~ U(−1/√n, 1/√n), Kaiming-uniform(a=√5) as in the authors' code (the default).
	MixRandom MixInit = iota
	// MixUniform: w = 1, a uniform mixture, as in AdapterHub's MTLLoRAConfig.
	MixUniform
)

func (m MixInit) String() string {
	switch m {
	case MixRandom:
		return "random"
	case MixUniform:
		return "uniform"
	}
	return fmt.Sprintf("MixInit(%d)", int(m))
}

func (m MixInit) MarshalText() ([]byte, error) {
	if m != MixRandom && m != MixUniform {
		return nil, fmt.Errorf("%w: field mix_init: unknown value %d", ErrInvalidConfig, int(m))
	}
	return []byte(m.String()), nil
}

func (m *MixInit) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "random":
		*m = MixRandom
	case "uniform":
		*m = MixUniform
	default:
		return fmt.Errorf("%w: field mix_init: unknown value %q, expected random or uniform", ErrInvalidConfig, b)
	}
	return nil
}

// Config configures one adapter method for every targeted layer of a model. It is saved as JSON next to
// every adapter checkpoint. Fields that do not apply to Method are ignored (and left at zero by
// DefaultConfig).
type Config struct {
	Method Method `json:"method" help:"adapter method: lora, mtl-lora, multilora, moelora, hydralora, dora, per-task-lora"`
	// Rank r of the low-rank update (MoELoRA: the total over its experts, each of rank r/n).
	Rank int `json:"rank" help:"rank r of the low-rank update (MoELoRA: the total over its n experts)"`
	// Alpha sets the scaling s = α/r (or α/√r with RSLoRA).
	Alpha float64 `json:"alpha" help:"LoRA scaling s = alpha/r (alpha/√r with rslora)"`
	// RSLoRA selects rank-stabilised scaling s = α/√r (Kalajdzievski 2023).
	RSLoRA bool `json:"rslora,omitempty" help:"rank-stabilised scaling s = alpha/√r"`
	// Dropout on the adapter's input x during training (not on the base path), by Dropout: a rate within 1%
	// of a multiple of 1/4096 is applied as that multiple (0.05 as 0.050049).
	Dropout float64 `json:"dropout" help:"dropout on the adapter's input, in [0, 1)"`
	// NumTasks T: task ids run over [0, T). Methods that ignore task ids still validate them.
	NumTasks int `json:"num_tasks" help:"-"`
	// Targets selects which linear layers of a model get the adapter.
	Targets Targets `json:"targets" help:"roles of the adapted linear layers: q, k, v, o, ffn_in (up), ffn_out (down), ffn_gate, dense (or attention, ffn, all)"`

	// N is the number of components: MTL-LoRA's pool of up-projections B_i, MultiLoRA's LoRA pairs,
	// MoELoRA's experts, HydraLoRA's B-heads. Unused by LoRA, DoRA and per-task LoRA.
	N int `json:"n,omitempty" help:"components: MTL-LoRA's up-projections B_i, MultiLoRA's pairs, MoELoRA's experts, HydraLoRA's heads"`
	// Temperature τ > 0 of MTL-LoRA's mixing softmax(w_t/τ).
	Temperature float64 `json:"temperature,omitempty" help:"MTL-LoRA's temperature τ of softmax(w_t/τ), > 0"`
	// Lambda is the form of MTL-LoRA's Λ_t.
	Lambda LambdaForm `json:"lambda" help:"form of MTL-LoRA's Λ_t: diagonal, full, or none (Λ_t = I, no task transform: the ablation)"`
	// MixInit is how MTL-LoRA's mixing logits start.
	MixInit MixInit `json:"mix_init" help:"MTL-LoRA's mixing logits at start: random (authors' code) or uniform (AdapterHub)"`
	// TaskEmbeddingDim is the size of MoELoRA's learned task embedding E[t].
	TaskEmbeddingDim int `json:"task_embedding_dim,omitempty" help:"size of MoELoRA's task embedding E[t]"`
}

// DefaultConfig returns the defaults for a method: the paper's shared ones — from the authors'
// commonsense-reasoning scripts, r=8, α=16, dropout 0.05, targets q,k,v,o — and the method's own (its
// file's register call): MTL-LoRA n=3, τ=0.1, diagonal Λ, the authors' random mixing start; n=3 components
// for MultiLoRA and HydraLoRA; MoELoRA r=9 (three experts of rank 3) and a task embedding of 64.
func DefaultConfig(m Method, numTasks int) Config {
	c := Config{Method: m, Rank: 8, Alpha: 16, Dropout: 0.05, NumTasks: numTasks,
		Targets: TargetQuery | TargetKey | TargetValue | TargetAttnOutput}
	if s := m.spec(); s != nil && s.defaults != nil {
		s.defaults(&c)
	}
	return c
}

// Scale returns s = α/r, or α/√r with RSLoRA.
func (c Config) Scale() float64 {
	if c.RSLoRA {
		return c.Alpha / math.Sqrt(float64(c.Rank))
	}
	return c.Alpha / float64(c.Rank)
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: field %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}

// Validate checks the configuration on its own; ValidateLayer checks it against a layer's dimensions.
// Both run before any graph is built.
func (c Config) Validate() error {
	spec := c.Method.spec()
	if spec == nil {
		return invalid("method", "unknown method %d", int(c.Method))
	}
	if c.Rank <= 0 {
		return invalid("rank", "must be ≥ 1, got %d", c.Rank)
	}
	if !(c.Alpha > 0) || math.IsInf(c.Alpha, 0) {
		return invalid("alpha", "must be a finite number > 0, got %v", c.Alpha)
	}
	if !(c.Dropout >= 0 && c.Dropout < 1) {
		return invalid("dropout", "must be in [0, 1), got %v", c.Dropout)
	}
	if c.NumTasks < 1 {
		return invalid("num_tasks", "must be ≥ 1 (zero tasks leaves nothing to adapt), got %d", c.NumTasks)
	}
	if err := c.Targets.Validate(); err != nil {
		return err
	}
	if c.Targets == 0 {
		return fmt.Errorf("%w: field targets: no target selected, nothing would be adapted", ErrUnknownTarget)
	}
	if spec.components && c.N < 1 {
		return invalid("n", "%s needs n ≥ 1 components, got %d", c.Method, c.N)
	}
	if spec.validate != nil {
		return spec.validate(c)
	}
	return nil
}

// ValidateLayer checks the configuration against a layer with dIn inputs and dOut outputs.
func (c Config) ValidateLayer(dIn, dOut int) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if dIn < 1 || dOut < 1 {
		return invalid("rank", "layer dimensions must be ≥ 1, got d_in=%d d_out=%d", dIn, dOut)
	}
	if c.Rank > min(dIn, dOut) {
		return invalid("rank", "rank %d is larger than the layer (d_in=%d, d_out=%d): at most %d",
			c.Rank, dIn, dOut, min(dIn, dOut))
	}
	return nil
}

// MarshalIndent is the JSON form saved next to adapter checkpoints.
func (c Config) MarshalIndent() ([]byte, error) { return json.MarshalIndent(c, "", "  ") }

// ParseConfig reads a JSON configuration strictly: unknown fields are an error, and the result is validated.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return c, c.Validate()
}
