package pretrained

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mtlora/mtlora/internal/safetensors"
	"github.com/mtlora/mtlora/zoo"
)

// hfDecoderTypes are the config.json model types read as LLaMA-family decoders.
var hfDecoderTypes = []string{"llama", "mistral", "qwen2"}

// openHFDecoder reads a Hugging Face decoder directory's config.json and checks its weights' names and
// shapes (safetensors headers only) before any weight is read.
func openHFDecoder(dir string) (*Decoder, error) {
	cfgPath := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCheckpoint, cfgPath, err)
	}
	d := &Decoder{Path: dir, Special: map[string]int{}}
	d.Arch, _ = raw["model_type"].(string)
	if !slices.Contains(hfDecoderTypes, d.Arch) {
		return nil, fmt.Errorf("%w: %s: model_type %q is not a supported decoder (supported: %s)", ErrCheckpoint, cfgPath, d.Arch, strings.Join(hfDecoderTypes, ", "))
	}
	var errs []string
	num := func(key string, def float64) float64 {
		v, ok := raw[key]
		if !ok || v == nil {
			if def < 0 {
				errs = append(errs, key+" is missing")
			}
			return def
		}
		x, ok := v.(float64)
		if !ok {
			errs = append(errs, fmt.Sprintf("%s is %v, expected a number", key, v))
		}
		return x
	}
	count := func(key string, def int) int { return int(num(key, float64(def))) }
	c := zoo.LlamaConfig{Vocab: count("vocab_size", -1), Hidden: count("hidden_size", -1), Layers: count("num_hidden_layers", -1),
		Heads: count("num_attention_heads", -1), Intermediate: count("intermediate_size", -1), MaxPositions: count("max_position_embeddings", -1),
		RopeTheta: num("rope_theta", 10000), RMSNormEps: num("rms_norm_eps", 1e-6)}
	c.KVHeads = count("num_key_value_heads", c.Heads)
	if c.Heads > 0 {
		c.HeadDim = count("head_dim", c.Hidden/c.Heads)
	}
	c.Tied, _ = raw["tie_word_embeddings"].(bool)
	c.QKVBias = d.Arch == "qwen2" || raw["attention_bias"] == true
	if act, _ := raw["hidden_act"].(string); act != "" && act != "silu" {
		errs = append(errs, fmt.Sprintf("hidden_act %q (the LLaMA family uses silu)", act))
	}
	if rs, ok := raw["rope_scaling"]; ok && rs != nil {
		errs = append(errs, fmt.Sprintf("rope_scaling %v is not supported", rs))
	}
	if rp, ok := raw["rope_parameters"].(map[string]any); ok { // transformers 5 writes rope_theta here
		if th, ok := rp["rope_theta"].(float64); ok {
			c.RopeTheta = th
		}
		if ty, _ := rp["rope_type"].(string); ty != "" && ty != "default" {
			errs = append(errs, fmt.Sprintf("rope_parameters.rope_type %q is not supported (only default rotary embeddings)", ty))
		}
	}
	if raw["mlp_bias"] == true {
		errs = append(errs, "mlp_bias is not supported")
	}
	if sw, ok := raw["sliding_window"].(float64); ok && raw["use_sliding_window"] != false && int(sw) < c.MaxPositions && d.Arch == "mistral" {
		errs = append(errs, fmt.Sprintf("sliding_window %v below max_position_embeddings %d: sliding-window attention is not supported", sw, c.MaxPositions))
	}
	for key, name := range map[string]string{"bos_token_id": "bos", "eos_token_id": "eos", "pad_token_id": "pad"} {
		switch v := raw[key].(type) {
		case float64:
			d.Special[name] = int(v)
		case []any: // several end tokens: the first
			if len(v) > 0 {
				if f, ok := v[0].(float64); ok {
					d.Special[name] = int(f)
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %s: %s", ErrCheckpoint, cfgPath, strings.Join(errs, "; "))
	}
	d.Config = c
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCheckpoint, cfgPath, err)
	}
	return d, nil
}

// readHF reads the weights of a Hugging Face directory by their names, all or nothing: every tensor
// expected, none unexpected (a tied model's lm_head.weight is skipped), shapes as config.json implies.
func (d *Decoder) readHF(want map[string]decoderTensor) (map[string][]float32, error) {
	files, err := weightFiles(d.Path)
	if err != nil {
		return nil, err
	}
	byHF := map[string]decoderTensor{}
	for _, t := range want {
		byHF[t.hfName] = t
	}
	out := map[string][]float32{}
	for _, file := range files {
		path := filepath.Join(d.Path, file)
		ts, _, err := safetensors.Read(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
		}
		for _, name := range slices.Sorted(maps.Keys(ts)) {
			t := ts[name]
			target, ok := byHF[name]
			if !ok {
				if name == "lm_head.weight" && d.Config.Tied || strings.HasSuffix(name, ".rotary_emb.inv_freq") {
					continue
				}
				return nil, fmt.Errorf("%w: %s: unexpected tensor %q: not part of a %s decoder with %d layers", ErrCheckpoint, path, name, d.Arch, d.Config.Layers)
			}
			if !safetensors.IsFloat(t.DType) || !slices.Equal(t.Shape, target.shape) {
				return nil, fmt.Errorf("%w: %s: tensor %q is %s %v, expected floating-point %v from config.json", ErrCheckpoint, path, name, t.DType, t.Shape, target.shape)
			}
			out[name] = t.Data
		}
	}
	var missing []string
	for name := range byHF {
		if out[name] == nil {
			missing = append(missing, name)
		}
	}
	if err := missingTensors(d.Path, missing); err != nil {
		return nil, err
	}
	return out, nil
}
