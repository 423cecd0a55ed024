package pretrained

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mtlora/mtlora/internal/atomicfile"
	st "github.com/mtlora/mtlora/internal/safetensors"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/internal/gguf"
	"github.com/mtlora/mtlora/zoo"
)

// Decoder is a LLaMA-family decoder checkpoint — a GGUF file, or a Hugging Face directory (config.json,
// safetensors weights, tokenizer.json) of a llama, mistral or qwen2 model: its architecture, its tokenizer,
// and its weights (dequantised to float32) when loaded.
type Decoder struct {
	Path   string // the GGUF file, or the checkpoint directory
	Arch   string // general.architecture (llama) or config.json's model_type (llama, mistral, qwen2)
	Config zoo.LlamaConfig
	File   *gguf.File // the GGUF; nil for a Hugging Face directory
	// Special token ids: "bos", "eos", "pad" (absent when the checkpoint names none).
	Special map[string]int
}

// decoderArchitectures are the GGUF architectures whose tensors and metadata the loader knows.
var decoderArchitectures = []string{"llama"}

// IsDecoder reports whether path is a decoder checkpoint this package reads: a .gguf file, or a directory
// holding one.
func IsDecoder(path string) bool {
	if strings.HasSuffix(strings.ToLower(path), ".gguf") {
		return true
	}
	matches, _ := filepath.Glob(filepath.Join(path, "*.gguf"))
	if len(matches) > 0 {
		return true
	}
	var cfg struct {
		ModelType string `json:"model_type"`
	}
	data, err := os.ReadFile(filepath.Join(path, "config.json"))
	return err == nil && json.Unmarshal(data, &cfg) == nil && slices.Contains(hfDecoderTypes, cfg.ModelType)
}

// OpenDecoder reads the metadata and tensor directory of a GGUF decoder (path: the .gguf file, or a
// directory holding exactly one) and checks that every tensor the architecture needs is there with the shape
// its metadata implies and a type that can be dequantised — before any weight is read.
func OpenDecoder(path string) (*Decoder, error) {
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "config.json")); err == nil {
			return openHFDecoder(path)
		}
		matches, _ := filepath.Glob(filepath.Join(path, "*.gguf"))
		if len(matches) != 1 {
			return nil, fmt.Errorf("%w: %s holds %d .gguf files, expected one", ErrCheckpoint, path, len(matches))
		}
		path = matches[0]
	}
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	d := &Decoder{Path: path, File: f, Special: map[string]int{}}
	d.Arch, _ = f.Meta["general.architecture"].(string)
	for key, name := range map[string]string{"tokenizer.ggml.bos_token_id": "bos", "tokenizer.ggml.eos_token_id": "eos",
		"tokenizer.ggml.padding_token_id": "pad"} {
		if v, ok := f.Meta[key].(uint64); ok && v < 1<<31 {
			d.Special[name] = int(v)
		}
	}
	if !slices.Contains(decoderArchitectures, d.Arch) {
		return nil, fmt.Errorf("%w: %s: architecture %q is not supported (supported: %s)", ErrCheckpoint, path, d.Arch, strings.Join(decoderArchitectures, ", "))
	}
	if d.Config, err = d.config(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCheckpoint, path, err)
	}
	if err := d.Config.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCheckpoint, path, err)
	}
	want := d.expectedTensors()
	for _, t := range f.Tensors {
		target, ok := want[t.Name]
		if !ok {
			if t.Name == "rope_freqs.weight" || strings.HasSuffix(t.Name, ".rope_freqs.weight") {
				return nil, fmt.Errorf("%w: %s: tensor %q: rotary frequency factors (LLaMA 3.1 rope scaling) are not supported", ErrCheckpoint, path, t.Name)
			}
			return nil, fmt.Errorf("%w: %s: unexpected tensor %q: not part of a %s decoder with %d blocks", ErrCheckpoint, path, t.Name, d.Arch, d.Config.Layers)
		}
		if !slices.Equal(t.Shape, target.shape) {
			return nil, fmt.Errorf("%w: %s: tensor %q has shape %v, expected %v from the metadata", ErrCheckpoint, path, t.Name, t.Shape, target.shape)
		}
		if t.Bytes == 0 {
			return nil, fmt.Errorf("%w: %s: tensor %q is %s, a quantisation this loader does not dequantise (supported: %s)",
				ErrCheckpoint, path, t.Name, t.Type, strings.Join(gguf.Supported(), ", "))
		}
	}
	var missing []string
	for name := range want {
		if _, ok := f.Tensor(name); !ok {
			missing = append(missing, name)
		}
	}
	if err := missingTensors(path, missing); err != nil {
		return nil, err
	}
	return d, nil
}

// config reads the architecture from the metadata (ggml's llama keys).
func (d *Decoder) config() (zoo.LlamaConfig, error) {
	a := d.Arch + "."
	var errs []string
	uint := func(key string, def int) int {
		v, ok := d.File.Meta[a+key]
		if !ok {
			if def < 0 {
				errs = append(errs, fmt.Sprintf("metadata %s%s is missing", a, key))
			}
			return def
		}
		u, ok := v.(uint64)
		if !ok || u > 1<<31 {
			errs = append(errs, fmt.Sprintf("metadata %s%s is %v, expected a count", a, key, v))
			return 0
		}
		return int(u)
	}
	float := func(key string, def float64) float64 {
		v, ok := d.File.Meta[a+key]
		if !ok {
			return def
		}
		x, ok := v.(float64)
		if !ok {
			errs = append(errs, fmt.Sprintf("metadata %s%s is %v, expected a number", a, key, v))
		}
		return x
	}
	c := zoo.LlamaConfig{
		Layers: uint("block_count", -1), Hidden: uint("embedding_length", -1), Intermediate: uint("feed_forward_length", -1),
		Heads: uint("attention.head_count", -1), MaxPositions: uint("context_length", -1),
		RopeTheta: float("rope.freq_base", 10000), RMSNormEps: float("attention.layer_norm_rms_epsilon", 1e-5),
	}
	c.KVHeads = uint("attention.head_count_kv", c.Heads)
	if c.Heads > 0 {
		c.HeadDim = uint("rope.dimension_count", c.Hidden/c.Heads)
	}
	tokens, _ := d.File.Meta["tokenizer.ggml.tokens"].([]string)
	c.Vocab = uint("vocab_size", len(tokens))
	if len(tokens) > 0 && c.Vocab != len(tokens) {
		errs = append(errs, fmt.Sprintf("%svocab_size %d but the tokenizer has %d tokens", a, c.Vocab, len(tokens)))
	}
	if c.HeadDim*c.Heads != c.Hidden && c.HeadDim > 0 {
		errs = append(errs, fmt.Sprintf("rope.dimension_count %d × head_count %d is not embedding_length %d: partial rotary embeddings are not supported", c.HeadDim, c.Heads, c.Hidden))
	}
	_, hasOutput := d.File.Tensor("output.weight")
	c.Tied = !hasOutput
	if len(errs) > 0 {
		return c, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return c, nil
}

// decoderTensor is where a GGUF tensor goes: its store path, its row-major shape in the file, whether it is
// a linear weight ([out, in] → GoMLX's [in, out]), and for q and k the head count whose rows GGUF
// interleaved for its rotary layout.
type decoderTensor struct {
	path      string
	shape     []int
	linear    bool
	ropeHeads int
	hfName    string // the Hugging Face tensor name
}

func (d *Decoder) expectedTensors() map[string]decoderTensor {
	c := d.Config
	H, F, q, kv := c.Hidden, c.Intermediate, c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	t := map[string]decoderTensor{
		"token_embd.weight":  {path: zoo.LlamaEmbed + "/embeddings", shape: []int{c.Vocab, H}, hfName: "model.embed_tokens.weight"},
		"output_norm.weight": {path: zoo.LlamaNorm + "/weight", shape: []int{H}, hfName: "model.norm.weight"},
	}
	if !c.Tied {
		t["output.weight"] = decoderTensor{path: zoo.LlamaOutput + "/dense/weights", shape: []int{c.Vocab, H}, linear: true, hfName: "lm_head.weight"}
	}
	for l := range c.Layers {
		s, b, hf := fmt.Sprintf(zoo.LlamaLayer, l), fmt.Sprintf("blk.%d.", l), fmt.Sprintf("model.layers.%d.", l)
		lin := func(name, scope, hfModule string, out, in, ropeHeads int) {
			t[b+name+".weight"] = decoderTensor{path: s + "/" + scope + "/dense/weights", shape: []int{out, in}, linear: true,
				ropeHeads: ropeHeads, hfName: hf + hfModule + ".weight"}
		}
		lin("attn_q", "attention/q_proj", "self_attn.q_proj", q, H, c.Heads)
		lin("attn_k", "attention/k_proj", "self_attn.k_proj", kv, H, c.KVHeads)
		lin("attn_v", "attention/v_proj", "self_attn.v_proj", kv, H, 0)
		lin("attn_output", "attention/o_proj", "self_attn.o_proj", H, q, 0)
		lin("ffn_gate", "mlp/gate_proj", "mlp.gate_proj", F, H, 0)
		lin("ffn_up", "mlp/up_proj", "mlp.up_proj", F, H, 0)
		lin("ffn_down", "mlp/down_proj", "mlp.down_proj", H, F, 0)
		if c.QKVBias {
			for _, x := range []struct {
				g, hf string
				n     int
			}{{"attn_q", "q_proj", q}, {"attn_k", "k_proj", kv}, {"attn_v", "v_proj", kv}} {
				rope := 0
				if x.g == "attn_q" {
					rope = c.Heads
				} else if x.g == "attn_k" {
					rope = c.KVHeads
				}
				t[b+x.g+".bias"] = decoderTensor{path: s + "/attention/" + x.hf + "/dense/biases", shape: []int{x.n}, ropeHeads: rope,
					hfName: hf + "self_attn." + x.hf + ".bias"}
			}
		}
		t[b+"attn_norm.weight"] = decoderTensor{path: s + "/input_norm/weight", shape: []int{H}, hfName: hf + "input_layernorm.weight"}
		t[b+"ffn_norm.weight"] = decoderTensor{path: s + "/post_attention_norm/weight", shape: []int{H}, hfName: hf + "post_attention_layernorm.weight"}
	}
	return t
}

// Tokenizer builds the GGUF's own tokenizer.
func (d *Decoder) Tokenizer() (*BPETokenizer, error) {
	if d.File != nil {
		return NewBPEFromGGUF(d.File)
	}
	t, err := NewBPEFromTokenizerJSON(filepath.Join(d.Path, "tokenizer.json"))
	if err != nil {
		return nil, err
	}
	for name, dst := range map[string]*int32{"bos": &t.BOS, "eos": &t.EOS, "pad": &t.Pad} {
		if id, ok := d.Special[name]; ok && id < t.VocabSize() {
			*dst = int32(id)
		}
	}
	if t.Pad < 0 {
		t.Pad = t.EOS
	}
	return t, nil
}

// LoadWeights dequantises every tensor into store under scope, all or nothing (the store must hold none of
// them). q and k rows are put back from GGUF's interleaved rotary layout into Hugging Face's (half-split),
// as transformers does when it reads a GGUF, so that adapters and exports name the same rows as the Hugging
// Face model; linear weights become [in, out].
func (d *Decoder) LoadWeights(store *model.Store, scope string) (LoadReport, error) {
	var rep LoadReport
	want := d.expectedTensors()
	var paths []string
	for _, target := range want {
		paths = append(paths, target.path)
	}
	prefix, err := freshPrefix(store, scope, paths)
	if err != nil {
		return rep, err
	}
	var hfValues map[string][]float32
	if d.File == nil {
		var err error
		if hfValues, err = d.readHF(want); err != nil {
			return rep, err
		}
	}
	values := map[string]*tensors.Tensor{}
	for name, target := range want {
		var v []float32
		if d.File == nil {
			v = hfValues[target.hfName] // already in Hugging Face's layout
		} else {
			tn, _ := d.File.Tensor(name)
			var err error
			if v, err = d.File.Read(tn); err != nil {
				return rep, fmt.Errorf("%w: %w", ErrCheckpoint, err)
			}
			if target.ropeHeads > 0 {
				shape := target.shape
				if len(shape) == 1 {
					shape = []int{shape[0], 1}
				}
				v = unpermuteRotary(v, shape, target.ropeHeads)
			}
		}
		t := tensors.FromFlatDataAndDimensions(v, target.shape...)
		if target.linear {
			t = transpose2D(t)
		}
		values[name] = t
	}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		t := values[name]
		if _, err := store.CreateVariable(prefix+want[name].path, t); err != nil {
			return rep, fmt.Errorf("%w: tensor %q → %s: %w", ErrCheckpoint, name, prefix+want[name].path, err)
		}
		rep.Loaded++
		rep.Params += int64(t.Shape().Size())
	}
	return rep, nil
}

// unpermuteRotary reorders the rows of a q or k weight [heads·dh, in] from GGUF's layout — llama.cpp's
// converter interleaves each head's two rotary halves, row 2i+j holding Hugging Face's row j·dh/2 + i — back
// to Hugging Face's.
func unpermuteRotary(v []float32, shape []int, heads int) []float32 {
	rows, cols := shape[0], shape[1]
	dh := rows / heads
	out := make([]float32, len(v))
	for h := range heads {
		for i := range dh / 2 {
			for j := range 2 {
				src, dst := h*dh+2*i+j, h*dh+j*dh/2+i
				copy(out[dst*cols:(dst+1)*cols], v[src*cols:(src+1)*cols])
			}
		}
	}
	return out
}

// ModulePath returns the Hugging Face module name of one of the decoder's linear layers (a store path such as
// /layer_0/attention/q_proj): model.layers.0.self_attn.q_proj, for PEFT adapters that load onto the
// Hugging Face model. Other paths keep mtlcore's default naming.
func (d *Decoder) ModulePath(layerPath string) string {
	return modulePath(d.savedTensors(), layerPath)
}

// savedTensors lists the decoder's tensors as SaveWeights writes them (transformers' names).
func (d *Decoder) savedTensors() []savedTensor {
	var items []savedTensor
	for _, t := range d.expectedTensors() {
		items = append(items, savedTensor{t.hfName, t.path, t.linear})
	}
	return items
}

// SaveWeights writes the decoder weights of store (built at the root scope) as a Hugging Face LLaMA
// checkpoint in dir: model.safetensors with transformers' tensor names and layouts (linear weights [out,
// in], q and k rows in its half-split rotary layout — the layout held here), config.json, and tokenizer.json
// built from the GGUF's tokenizer — a directory transformers loads with from_pretrained. Used to export
// per-task merged weights.
func (d *Decoder) SaveWeights(store *model.Store, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	out, err := storeTensors(store, d.savedTensors())
	if err != nil {
		return err
	}
	if err := st.Write(filepath.Join(dir, "model.safetensors"), out, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	files := map[string]any{"config.json": d.hfConfig()}
	tok, err := d.Tokenizer()
	if err != nil {
		return err
	}
	files["tokenizer.json"] = tokenizerJSON(tok, d.merges(tok))
	files["tokenizer_config.json"] = map[string]any{"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": d.Config.MaxPositions,
		"eos_token": d.tokenName(tok, "eos"), "bos_token": d.tokenName(tok, "bos"), "pad_token": d.tokenName(tok, "pad"), "add_bos_token": tok.AddBOS}
	for name, v := range files {
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.Write(filepath.Join(dir, name), append(data, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// hfConfig is the config.json of the decoder as transformers' LlamaConfig reads it.
func (d *Decoder) hfConfig() map[string]any {
	c := d.Config
	cfg := map[string]any{"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama", "hidden_act": "silu",
		"vocab_size": c.Vocab, "hidden_size": c.Hidden, "intermediate_size": c.Intermediate, "num_hidden_layers": c.Layers,
		"num_attention_heads": c.Heads, "num_key_value_heads": c.KVHeads, "head_dim": c.HeadDim, "max_position_embeddings": c.MaxPositions,
		"rms_norm_eps": c.RMSNormEps, "rope_theta": c.RopeTheta, "tie_word_embeddings": c.Tied, "attention_bias": c.QKVBias,
		"mlp_bias": false, "torch_dtype": "float32"}
	for name, id := range d.Special {
		cfg[name+"_token_id"] = id
	}
	return cfg
}

func (d *Decoder) tokenName(tok *BPETokenizer, name string) any {
	if id, ok := d.Special[name]; ok && id < tok.VocabSize() {
		return tok.Token(int32(id))
	}
	return nil
}

// merges returns the tokenizer's merges in rank order.
func (d *Decoder) merges(tok *BPETokenizer) []string {
	out := make([]string, len(tok.ranks))
	for m, r := range tok.ranks {
		out[r] = m
	}
	return slices.DeleteFunc(out, func(m string) bool { return m == "" }) // duplicates kept their first rank
}

// tokenizerJSON is a byte-level BPE tokenizer as a tokenizers (Hugging Face) tokenizer.json: the model, merges
// and special tokens BPETokenizer uses, GPT-2's ByteLevel pre-tokenizer and decoder.
func tokenizerJSON(tok *BPETokenizer, merges []string) map[string]any {
	vocab := make(map[string]int, len(tok.tokens))
	for i, t := range tok.tokens {
		if _, dup := vocab[t]; !dup {
			vocab[t] = i
		}
	}
	var added []map[string]any
	for _, s := range tok.special {
		added = append(added, map[string]any{"id": tok.vocab[s], "content": s, "single_word": false, "lstrip": false, "rstrip": false,
			"normalized": false, "special": true})
	}
	slices.SortFunc(added, func(a, b map[string]any) int { return int(a["id"].(int32) - b["id"].(int32)) })
	return map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil, "added_tokens": added, "normalizer": nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": nil,
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil, "end_of_word_suffix": nil,
			"fuse_unk": false, "byte_fallback": false, "ignore_merges": false, "vocab": vocab, "merges": merges},
	}
}
