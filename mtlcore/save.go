package mtlcore

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/mtlora/mtlora/internal/atomicfile"
	"github.com/mtlora/mtlora/internal/safetensors"
)

// Files of an adapter directory written by SaveAdapters.
const (
	AdapterConfigFile  = "mtlora_config.json"
	AdapterWeightsFile = "mtlora_adapters.safetensors"
)

// trainable lists the store's trainable float variables — the adapters and whatever the model adds on top
// of the frozen base (task heads) — sorted by path. Frozen base weights are never among them.
func trainable(store *model.Store) []*model.Variable {
	var out []*model.Variable
	for v := range store.IterVariables() {
		if v.Trainable && v.DType().IsFloat() {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b *model.Variable) int { return strings.Compare(a.Path(), b.Path()) })
	return out
}

// SaveAdapters writes the trainable variables of store (adapters and task heads; never the frozen base
// weights) to dir/mtlora_adapters.safetensors, keyed by variable path, and cfg to dir/mtlora_config.json.
// Both files are written atomically.
func SaveAdapters(store *model.Store, cfg Config, dir string) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	vars := trainable(store)
	if len(vars) == 0 {
		return fmt.Errorf("mtlcore: save %s: the store has no trainable variables; build the model (run it once) first", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mtlcore: save: %w", err)
	}
	ts := map[string]safetensors.Tensor{}
	for _, v := range vars {
		val, err := v.Value()
		if err != nil {
			return fmt.Errorf("mtlcore: save: reading %s: %w", v.Path(), err)
		}
		f, err := toFloat64(val)
		if err != nil {
			return fmt.Errorf("mtlcore: save %s: %w", v.Path(), err)
		}
		d := make([]float32, len(f))
		for i, x := range f {
			d[i] = float32(x)
		}
		ts[keyOf(v.Path())] = safetensors.Tensor{Shape: slices.Clone(v.Shape().Dimensions), Data: d}
	}
	js, err := cfg.MarshalIndent()
	if err != nil {
		return err
	}
	if err := safetensors.Write(filepath.Join(dir, AdapterWeightsFile), ts, map[string]string{"method": cfg.Method.String()}); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, AdapterConfigFile), append(js, '\n'))
}

// LoadAdapterConfig reads dir/mtlora_config.json strictly.
func LoadAdapterConfig(dir string) (Config, error) {
	path := filepath.Join(dir, AdapterConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		if perr := rejectPickle(dir); perr != nil {
			return Config{}, perr
		}
		return Config{}, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// LoadAdapters loads what SaveAdapters wrote into a store whose model has been built with cfg (run once, so
// its variables exist). Loading is strict: a checkpoint of another method or configuration, a missing,
// unexpected or misshaped tensor is an ErrCheckpoint naming it, and then nothing is changed in the store.
func LoadAdapters(store *model.Store, cfg Config, dir string) error {
	saved, err := LoadAdapterConfig(dir)
	if err != nil {
		return err
	}
	if saved.Method != cfg.Method {
		return fmt.Errorf("%w: %s holds a %s adapter, the model was built for %s", ErrCheckpoint, dir, saved.Method, cfg.Method)
	}
	a, _ := json.Marshal(saved)
	b, _ := json.Marshal(cfg)
	if string(a) != string(b) {
		return fmt.Errorf("%w: %s was saved with configuration %s, the model was built with %s", ErrCheckpoint, dir, a, b)
	}
	path := filepath.Join(dir, AdapterWeightsFile)
	file, _, err := readAdapterFile(path)
	if err != nil {
		return err
	}
	vars := trainable(store)
	if len(vars) == 0 {
		return fmt.Errorf("mtlcore: load %s: the store has no trainable variables; build the model (run it once) first", dir)
	}
	var problems []string
	values := make([]*tensors.Tensor, len(vars))
	for i, v := range vars {
		t, ok := file[keyOf(v.Path())]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("tensor %s is missing", keyOf(v.Path())))
		case !slices.Equal(t.Shape, v.Shape().Dimensions):
			problems = append(problems, fmt.Sprintf("tensor %s has shape %v, the model expects %v", keyOf(v.Path()), t.Shape, v.Shape().Dimensions))
		default:
			if v.DType() == dtypes.Float64 {
				f := make([]float64, len(t.Data))
				for j, x := range t.Data {
					f[j] = float64(x)
				}
				values[i] = tensors.FromFlatDataAndDimensions(f, t.Shape...)
			} else {
				values[i] = tensors.FromFlatDataAndDimensions(t.Data, t.Shape...)
			}
		}
		delete(file, keyOf(v.Path()))
	}
	for name := range file {
		problems = append(problems, fmt.Sprintf("tensor %s is unexpected (no such trainable variable in the model)", name))
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%w: %s: %s", ErrCheckpoint, path, strings.Join(problems, "; "))
	}
	for i, v := range vars {
		if err := v.SetValue(values[i]); err != nil {
			return fmt.Errorf("mtlcore: load %s: %w", v.Path(), err)
		}
	}
	return nil
}

// PEFTConfig is the subset of PEFT's LoraConfig (adapter_config.json) that ExportPEFT writes.
type PEFTConfig struct {
	PeftType            string   `json:"peft_type"`
	TaskType            *string  `json:"task_type"`
	BaseModelNameOrPath string   `json:"base_model_name_or_path"`
	R                   int      `json:"r"`
	LoraAlpha           float64  `json:"lora_alpha"`
	LoraDropout         float64  `json:"lora_dropout"`
	TargetModules       []string `json:"target_modules"`
	Bias                string   `json:"bias"`
	FanInFanOut         bool     `json:"fan_in_fan_out"`
	UseRSLoRA           bool     `json:"use_rslora"`
	UseDoRA             bool     `json:"use_dora"`
	InitLoraWeights     bool     `json:"init_lora_weights"`
	InferenceMode       bool     `json:"inference_mode"`
	ModulesToSave       []string `json:"modules_to_save"`
}

// ModulePath maps a layer's scope path ("/block_0/attention/query") to the module path PEFT keys use for the
// base model ("encoder.layer.0.attention.self.query"). DefaultModulePath replaces "/" with ".".
type ModulePath func(layerPath string) string

// DefaultModulePath drops the leading "/" and joins the scopes with ".".
func DefaultModulePath(layerPath string) string {
	return strings.ReplaceAll(strings.TrimPrefix(layerPath, "/"), "/", ".")
}

// ExportPEFT writes task t's adapter as a standard PEFT LoRA adapter directory: adapter_config.json and
// adapter_model.safetensors with tensors base_model.model.<module>.lora_A.weight [R, dIn] and .lora_B.weight
// [dOut, R] (DoRA adds .lora_magnitude_vector [dOut]). Every mergeable method exports: MTL-LoRA as
// A'_t = Λ_t·A, B'_t = B̃_t at rank r; MultiLoRA as its stacked pairs at rank n·r. lora_alpha is chosen so
// PEFT's scaling lora_alpha/r equals this adapter's s. baseModel fills base_model_name_or_path.
func ExportPEFT(store *model.Store, cfg Config, task int, dir, baseModel string, modulePath ModulePath) error {
	if modulePath == nil {
		modulePath = DefaultModulePath
	}
	layers := Layers(store)
	if len(layers) == 0 {
		return fmt.Errorf("mtlcore: export: the store has no adapted layers; build the model (run it once) first")
	}
	ts := map[string]safetensors.Tensor{}
	var modules []string
	rank, scale, useDoRA := 0, 0.0, false
	for _, l := range layers {
		f, err := TaskFactors(store, cfg, l, task)
		if err != nil {
			return fmt.Errorf("mtlcore: export layer %s: %w", l.Path, err)
		}
		rank, scale = f.A.Rows, f.Scale
		mod := modulePath(l.Path)
		modules = append(modules, mod)
		prefix := "base_model.model." + mod
		ts[prefix+".lora_A.weight"] = safetensors.Tensor{Shape: []int{f.A.Rows, f.A.Cols}, Data: toF32(f.A.Data)}
		ts[prefix+".lora_B.weight"] = safetensors.Tensor{Shape: []int{f.B.Rows, f.B.Cols}, Data: toF32(f.B.Data)}
		if f.Magnitude != nil {
			useDoRA = true
			ts[prefix+".lora_magnitude_vector"] = safetensors.Tensor{Shape: []int{len(f.Magnitude)}, Data: toF32(f.Magnitude)}
		}
	}
	pc := PEFTConfig{
		PeftType: "LORA", BaseModelNameOrPath: baseModel, R: rank, LoraAlpha: scale * float64(rank),
		LoraDropout: cfg.Dropout, TargetModules: modules, Bias: "none", UseDoRA: useDoRA,
		InitLoraWeights: true, InferenceMode: true,
	}
	js, err := json.MarshalIndent(pc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mtlcore: export: %w", err)
	}
	meta := map[string]string{"format": "pt", "mtlora_method": cfg.Method.String(), "mtlora_task": fmt.Sprint(task)}
	if err := safetensors.Write(filepath.Join(dir, "adapter_model.safetensors"), ts, meta); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "adapter_config.json"), append(js, '\n'))
}

// ReadPEFT reads a PEFT LoRA adapter directory (safetensors only) into per-module factors, for checking an
// export or applying a PEFT adapter: module → Factors with Scale = lora_alpha/r (or /√r with use_rslora).
func ReadPEFT(dir string) (PEFTConfig, map[string]Factors, error) {
	var pc PEFTConfig
	data, err := os.ReadFile(filepath.Join(dir, "adapter_config.json"))
	if err != nil {
		return pc, nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	if err := json.Unmarshal(data, &pc); err != nil {
		return pc, nil, fmt.Errorf("%w: %s/adapter_config.json: %v", ErrCheckpoint, dir, err)
	}
	if pc.R < 1 {
		return pc, nil, fmt.Errorf("%w: %s/adapter_config.json: r = %d, expected ≥ 1", ErrCheckpoint, dir, pc.R)
	}
	wpath := filepath.Join(dir, "adapter_model.safetensors")
	if _, err := os.Stat(wpath); errors.Is(err, os.ErrNotExist) {
		if perr := rejectPickle(dir); perr != nil {
			return pc, nil, perr
		}
	}
	ts, _, err := readAdapterFile(wpath)
	if err != nil {
		return pc, nil, err
	}
	scale := pc.LoraAlpha / float64(pc.R)
	if pc.UseRSLoRA {
		scale = pc.LoraAlpha / math.Sqrt(float64(pc.R))
	}
	out := map[string]Factors{}
	for _, mod := range pc.TargetModules {
		prefix := "base_model.model." + mod
		a, okA := ts[prefix+".lora_A.weight"]
		b, okB := ts[prefix+".lora_B.weight"]
		if !okA || !okB {
			return pc, nil, fmt.Errorf("%w: %s: module %s lacks lora_A or lora_B", ErrCheckpoint, wpath, mod)
		}
		if len(a.Shape) != 2 || len(b.Shape) != 2 || a.Shape[0] != pc.R || b.Shape[1] != pc.R {
			return pc, nil, fmt.Errorf("%w: %s: module %s has lora_A %v and lora_B %v, expected [r=%d, in] and [out, r=%d]",
				ErrCheckpoint, wpath, mod, a.Shape, b.Shape, pc.R, pc.R)
		}
		f := Factors{A: Matrix{a.Shape[0], a.Shape[1], toF64(a.Data)}, B: Matrix{b.Shape[0], b.Shape[1], toF64(b.Data)}, Scale: scale}
		if m, ok := ts[prefix+".lora_magnitude_vector"]; ok {
			f.Magnitude = toF64(m.Data)
		}
		out[mod] = f
	}
	return pc, out, nil
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func toF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
