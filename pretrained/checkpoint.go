package pretrained

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/mtlora/mtlora/internal/atomicfile"
	st "github.com/mtlora/mtlora/internal/safetensors"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/mtlora/mtlora/internal/safetensors"

	"github.com/mtlora/mtlora/zoo"
)

// ErrCheckpoint is wrapped by every error about a checkpoint's files: a missing or unreadable file, an
// unsupported architecture, a missing, unexpected or misshaped tensor, a corrupt safetensors file.
var ErrCheckpoint = errors.New("pretrained: bad checkpoint")

// Checkpoint is a Hugging Face BERT-family checkpoint directory: config.json, model.safetensors (or a
// sharded model.safetensors.index.json), tokenizer.json, and optionally sentence-transformers' pooling
// configuration (1_Pooling/config.json, sentence_bert_config.json).
type Checkpoint struct {
	Dir       string         // directory holding the files
	ModelType string         // "bert" (BERT, MiniLM, …) or "distilbert"
	Config    zoo.BERTConfig // architecture, from config.json
	Pooling   zoo.Pooling    // sentence pooling: 1_Pooling/config.json when present, else CLS (BERT's pooler input)
	MaxSeqLen int            // sentence_bert_config.json max_seq_length when present, else max_position_embeddings
}

// Open reads and validates the configuration of the checkpoint in dir. Weights are read by LoadWeights.
func Open(dir string) (*Checkpoint, error) {
	cfgPath := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	c := &Checkpoint{Dir: dir}
	if c.ModelType, c.Config, err = parseConfig(data); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCheckpoint, cfgPath, err)
	}
	c.MaxSeqLen = c.Config.MaxPositions
	c.Pooling = zoo.PoolCLS
	if data, err := os.ReadFile(filepath.Join(dir, "1_Pooling", "config.json")); err == nil {
		var p map[string]any
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCheckpoint, filepath.Join(dir, "1_Pooling", "config.json"), err)
		}
		switch {
		case p["pooling_mode_mean_tokens"] == true:
			c.Pooling = zoo.PoolMean
		case p["pooling_mode_cls_token"] == true:
			c.Pooling = zoo.PoolCLS
		default:
			return nil, fmt.Errorf("%w: %s: only mean-token and CLS pooling are supported, found %s",
				ErrCheckpoint, filepath.Join(dir, "1_Pooling", "config.json"), data)
		}
	}
	if data, err := os.ReadFile(filepath.Join(dir, "sentence_bert_config.json")); err == nil {
		var s struct {
			MaxSeqLength int `json:"max_seq_length"`
		}
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCheckpoint, filepath.Join(dir, "sentence_bert_config.json"), err)
		}
		if s.MaxSeqLength > 0 && s.MaxSeqLength < c.MaxSeqLen {
			c.MaxSeqLen = s.MaxSeqLength
		}
	}
	if _, err := c.weightFiles(); err != nil {
		return nil, err
	}
	return c, nil
}

// Tokenizer loads the checkpoint's tokenizer (tokenizer.json, or vocab.txt with tokenizer_config.json).
func (c *Checkpoint) Tokenizer() (*Tokenizer, error) {
	tok, err := LoadTokenizer(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	return tok, nil
}

// parseConfig reads a config.json of a BERT or DistilBERT checkpoint.
func parseConfig(data []byte) (string, zoo.BERTConfig, error) {
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return "", zoo.BERTConfig{}, err
	}
	modelType, _ := raw["model_type"].(string)
	num := func(key string, fallback float64) float64 {
		if v, ok := raw[key].(float64); ok {
			return v
		}
		return fallback
	}
	str := func(key, fallback string) string {
		if v, ok := raw[key].(string); ok {
			return v
		}
		return fallback
	}
	var cfg zoo.BERTConfig
	var act string
	switch modelType {
	case "bert":
		cfg = zoo.BERTConfig{
			Vocab: int(num("vocab_size", 0)), Hidden: int(num("hidden_size", 0)), Layers: int(num("num_hidden_layers", 0)),
			Heads: int(num("num_attention_heads", 0)), Intermediate: int(num("intermediate_size", 0)),
			MaxPositions: int(num("max_position_embeddings", 0)), TypeVocab: int(num("type_vocab_size", 2)),
			LayerNormEps:  num("layer_norm_eps", 1e-12),
			HiddenDropout: num("hidden_dropout_prob", 0.1), AttentionDropout: num("attention_probs_dropout_prob", 0.1),
		}
		act = str("hidden_act", "gelu")
		if pe := str("position_embedding_type", "absolute"); pe != "absolute" {
			return "", cfg, fmt.Errorf("field position_embedding_type: %q is not supported (expected absolute)", pe)
		}
	case "distilbert":
		cfg = zoo.BERTConfig{
			Vocab: int(num("vocab_size", 0)), Hidden: int(num("dim", 0)), Layers: int(num("n_layers", 0)),
			Heads: int(num("n_heads", 0)), Intermediate: int(num("hidden_dim", 0)),
			MaxPositions: int(num("max_position_embeddings", 0)), LayerNormEps: 1e-12, // fixed in DistilBERT's code
			HiddenDropout: num("dropout", 0.1), AttentionDropout: num("attention_dropout", 0.1),
		}
		act = str("activation", "gelu")
	default:
		return "", cfg, fmt.Errorf("field model_type: unknown architecture %q (architectures %v); supported: bert (BERT, MiniLM, …), distilbert",
			modelType, raw["architectures"])
	}
	switch act {
	case "gelu":
		cfg.Activation = "gelu"
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
		cfg.Activation = "gelu_approx" // the checkpoint's own activation is the tanh approximation
	case "relu":
		cfg.Activation = "relu"
	default:
		return "", cfg, fmt.Errorf("field hidden_act: %q is not supported (expected gelu, gelu_new or relu)", act)
	}
	return modelType, cfg, cfg.Validate()
}

// weightFiles lists the safetensors files of the checkpoint: the shards named by model.safetensors.index.json,
// or model.safetensors. PyTorch pickles (pytorch_model.bin) are refused: unpickling runs code.
func (c *Checkpoint) weightFiles() ([]string, error) { return weightFiles(c.Dir) }

// weightFiles lists a checkpoint directory's safetensors files: model.safetensors, or the shards its index
// names; a directory with only pickled weights is an error saying why they are not read.
func weightFiles(dir string) ([]string, error) {
	index := filepath.Join(dir, "model.safetensors.index.json")
	if _, err := os.Stat(index); err == nil {
		files, err := indexShards(index)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if filepath.IsAbs(f) || strings.Contains(f, "..") || !strings.HasSuffix(f, ".safetensors") {
				return nil, fmt.Errorf("%w: %s names shard %q: expected a .safetensors file inside the checkpoint", ErrCheckpoint, index, f)
			}
		}
		return files, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err == nil {
		return []string{"model.safetensors"}, nil
	}
	for _, pickle := range []string{"pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "model.ckpt.index"} {
		if _, err := os.Stat(filepath.Join(dir, pickle)); err == nil {
			return nil, fmt.Errorf("%w: %s has %s but no model.safetensors: only safetensors weights are loaded "+
				"(PyTorch .bin files are pickles, and unpickling runs code); convert the checkpoint to safetensors first",
				ErrCheckpoint, dir, pickle)
		}
	}
	return nil, fmt.Errorf("%w: %s has no model.safetensors", ErrCheckpoint, dir)
}

// tensorTarget is where one checkpoint tensor goes in the GoMLX store.
type tensorTarget struct {
	path      string // variable path relative to the model's scope
	shape     []int  // expected shape in the checkpoint
	transpose bool   // torch Linear [out, in] → [in, out]
}

// LoadReport says what LoadWeights read.
type LoadReport struct {
	Loaded  int      // tensors loaded into the store
	Params  int64    // their parameters
	Skipped []string // checkpoint tensors of heads the encoder does not use (pooler, masked-LM head), by name
}

// expectedTensors returns the expected checkpoint tensors (names without the "bert."/"distilbert." prefix) and
// where each goes, relative to the scope the encoder is built in.
func (c *Checkpoint) expectedTensors() map[string]tensorTarget {
	cfg := c.Config
	H, F := cfg.Hidden, cfg.Intermediate
	t := map[string]tensorTarget{}
	emb := func(name, to string, rows int) {
		t["embeddings."+name+".weight"] = tensorTarget{path: zoo.BERTEmbeddings + "/" + to + "/embeddings", shape: []int{rows, H}}
	}
	linear := func(name, scope string, in, out int) {
		t[name+".weight"] = tensorTarget{path: scope + "/dense/weights", shape: []int{out, in}, transpose: true}
		t[name+".bias"] = tensorTarget{path: scope + "/dense/biases", shape: []int{out}}
	}
	layerNorm := func(name, scope string) {
		t[name+".weight"] = tensorTarget{path: scope + "/layer_normalization/gain", shape: []int{H}}
		t[name+".bias"] = tensorTarget{path: scope + "/layer_normalization/offset", shape: []int{H}}
	}
	emb("word_embeddings", "word", cfg.Vocab)
	emb("position_embeddings", "position", cfg.MaxPositions)
	if cfg.TypeVocab > 0 {
		emb("token_type_embeddings", "token_type", cfg.TypeVocab)
	}
	layerNorm("embeddings.LayerNorm", zoo.BERTEmbeddings+"/norm")
	for l := range cfg.Layers {
		s := fmt.Sprintf(zoo.BERTLayer, l)
		if c.ModelType == "distilbert" {
			p := fmt.Sprintf("transformer.layer.%d.", l)
			linear(p+"attention.q_lin", s+"/attention/query", H, H)
			linear(p+"attention.k_lin", s+"/attention/key", H, H)
			linear(p+"attention.v_lin", s+"/attention/value", H, H)
			linear(p+"attention.out_lin", s+"/attention/output", H, H)
			layerNorm(p+"sa_layer_norm", s+"/attention/norm")
			linear(p+"ffn.lin1", s+"/ffn_in", H, F)
			linear(p+"ffn.lin2", s+"/ffn_out", F, H)
			layerNorm(p+"output_layer_norm", s+"/ffn_norm")
			continue
		}
		p := fmt.Sprintf("encoder.layer.%d.", l)
		linear(p+"attention.self.query", s+"/attention/query", H, H)
		linear(p+"attention.self.key", s+"/attention/key", H, H)
		linear(p+"attention.self.value", s+"/attention/value", H, H)
		linear(p+"attention.output.dense", s+"/attention/output", H, H)
		layerNorm(p+"attention.output.LayerNorm", s+"/attention/norm")
		linear(p+"intermediate.dense", s+"/ffn_in", H, F)
		linear(p+"output.dense", s+"/ffn_out", F, H)
		layerNorm(p+"output.LayerNorm", s+"/ffn_norm")
	}
	return t
}

// skippedTensor reports checkpoint tensors that belong to heads or buffers the encoder does not use.
func skippedTensor(name string) bool {
	for _, p := range []string{"pooler.", "cls.", "vocab_transform.", "vocab_layer_norm.", "vocab_projector.", "lm_head.",
		"classifier.", "pre_classifier.", "qa_outputs."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return name == "embeddings.position_ids"
}

// canonicalName strips the model prefix ("bert.", "distilbert.") and renames legacy LayerNorm gamma/beta.
func (c *Checkpoint) canonicalName(name string) string {
	name = strings.TrimPrefix(name, c.ModelType+".")
	if strings.Contains(name, "LayerNorm.") || strings.Contains(name, "layer_norm.") {
		if strings.HasSuffix(name, ".gamma") {
			name = strings.TrimSuffix(name, ".gamma") + ".weight"
		} else if strings.HasSuffix(name, ".beta") {
			name = strings.TrimSuffix(name, ".beta") + ".bias"
		}
	}
	return name
}

// LoadWeights reads every encoder tensor of the checkpoint into store under scope (the scope path the
// encoder is built in, "" or "/" for the root), all or nothing: every tensor is read and checked (name,
// dtype float32, shape from config.json, file integrity) before any variable is created, and the store
// must not already hold any of them. Linear weights are transposed from torch's [out, in] to GoMLX's [in, out].
func (c *Checkpoint) LoadWeights(store *model.Store, scope string) (LoadReport, error) {
	var rep LoadReport
	files, err := c.weightFiles()
	if err != nil {
		return rep, err
	}
	want := c.expectedTensors()
	got := map[string]*tensors.Tensor{}
	from := map[string]string{} // canonical name → file:original name
	for _, file := range files {
		path := filepath.Join(c.Dir, file)
		ts, _, err := safetensors.Read(path)
		if err != nil {
			return rep, fmt.Errorf("%w: %w", ErrCheckpoint, err)
		}
		for _, orig := range slices.Sorted(maps.Keys(ts)) {
			name := c.canonicalName(orig)
			if prev, dup := from[name]; dup {
				return rep, fmt.Errorf("%w: %s: tensor %q duplicates %s", ErrCheckpoint, path, orig, prev)
			}
			from[name] = file + ":" + orig
			target, ok := want[name]
			if !ok {
				if skippedTensor(name) {
					rep.Skipped = append(rep.Skipped, orig)
					continue
				}
				return rep, fmt.Errorf("%w: %s: unexpected tensor %q: not part of a %s encoder with %d layers",
					ErrCheckpoint, path, orig, c.ModelType, c.Config.Layers)
			}
			t := ts[orig]
			if !safetensors.IsFloat(t.DType) {
				return rep, fmt.Errorf("%w: %s: tensor %q has dtype %s, expected floating-point weights", ErrCheckpoint, path, orig, t.DType)
			}
			if !slices.Equal(t.Shape, target.shape) {
				return rep, fmt.Errorf("%w: %s: tensor %q has shape %v, expected %v from config.json",
					ErrCheckpoint, path, orig, t.Shape, target.shape)
			}
			got[name] = tensors.FromFlatDataAndDimensions(t.Data, t.Shape...)
		}
	}
	var missing, paths []string
	for name, target := range want {
		if got[name] == nil {
			missing = append(missing, name)
		}
		paths = append(paths, target.path)
	}
	if err := missingTensors(c.Dir, missing); err != nil {
		return rep, err
	}
	prefix, err := freshPrefix(store, scope, paths)
	if err != nil {
		return rep, err
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		target, t := want[name], got[name]
		if target.transpose {
			t = transpose2D(t)
		}
		if _, err := store.CreateVariable(prefix+target.path, t); err != nil {
			return rep, fmt.Errorf("%w: tensor %q → %s: %w", ErrCheckpoint, name, prefix+target.path, err)
		}
		rep.Loaded++
		rep.Params += int64(t.Shape().Size())
	}
	return rep, nil
}

// transpose2D turns a float32 [rows, cols] tensor into [cols, rows].
func transpose2D(t *tensors.Tensor) *tensors.Tensor {
	dims := t.Shape().Dimensions
	rows, cols := dims[0], dims[1]
	src := tensors.MustCopyFlatData[float32](t)
	dst := make([]float32, len(src))
	for i := range rows {
		for j := range cols {
			dst[j*rows+i] = src[i*cols+j]
		}
	}
	return tensors.FromFlatDataAndDimensions(dst, cols, rows)
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

// ModulePath returns the Hugging Face module name of one of the encoder's linear layers (a store path such
// as /layer_0/attention/query), for PEFT adapters that load onto the original model:
// encoder.layer.0.attention.self.query (DistilBERT: transformer.layer.0.attention.q_lin). Paths that are not
// an encoder linear layer keep mtlcore's default naming.
func (c *Checkpoint) ModulePath(layerPath string) string {
	return modulePath(c.savedTensors(), layerPath)
}

// savedTensors lists the checkpoint's tensors as SaveWeights writes them.
func (c *Checkpoint) savedTensors() []savedTensor {
	var items []savedTensor
	for name, t := range c.expectedTensors() {
		items = append(items, savedTensor{name, t.path, t.transpose})
	}
	return items
}

// modulePath is the checkpoint module of a linear layer's store path: its weight's name without ".weight";
// paths that are not a linear layer of the checkpoint keep mtlcore's default naming.
func modulePath(items []savedTensor, layerPath string) string {
	for _, it := range items {
		if it.transpose && "/"+strings.TrimSuffix(it.path, "/dense/weights") == layerPath {
			return strings.TrimSuffix(it.name, ".weight")
		}
	}
	return strings.ReplaceAll(strings.TrimPrefix(layerPath, "/"), "/", ".")
}

// SaveWeights writes the encoder weights of store (built at the root scope) as a Hugging Face checkpoint in
// dir: model.safetensors with the checkpoint's own tensor names and layouts (linear weights back to
// [out, in]), plus copies of config.json and the tokenizer and pooling files — a directory transformers and
// sentence-transformers load as they load the original. Used to export per-task merged weights.
func (c *Checkpoint) SaveWeights(store *model.Store, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	out, err := storeTensors(store, c.savedTensors())
	if err != nil {
		return err
	}
	if err := st.Write(filepath.Join(dir, "model.safetensors"), out, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	for _, f := range []string{"config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
		"modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json"} {
		data, err := os.ReadFile(filepath.Join(c.Dir, f))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			return err
		}
		if err := atomicfile.Write(filepath.Join(dir, f), data); err != nil {
			return err
		}
	}
	return nil
}

// savedTensor is a checkpoint tensor to write: its name in the file, its store path (from the root) and
// whether it is a linear weight stored [in, out] here and [out, in] in the file.
type savedTensor struct {
	name, path string
	transpose  bool
}

// storeTensors reads the tensors of a checkpoint to write from store.
func storeTensors(store *model.Store, items []savedTensor) (map[string]st.Tensor, error) {
	out := map[string]st.Tensor{}
	for _, it := range items {
		v := store.GetVariable("/" + it.path)
		if v == nil {
			return nil, fmt.Errorf("pretrained: save: the store has no %s (tensor %s)", it.path, it.name)
		}
		val, err := v.Value()
		if err != nil {
			return nil, err
		}
		if it.transpose {
			val = transpose2D(val)
		}
		out[it.name] = st.Tensor{Shape: val.Shape().Dimensions, Data: tensors.MustCopyFlatData[float32](val)}
	}
	return out, nil
}

// missingTensors is the error of a checkpoint that lacks tensors (nil when it lacks none): the first five by
// name and how many more.
func missingTensors(where string, missing []string) error {
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	more := ""
	if len(missing) > 5 {
		more = fmt.Sprintf(" and %d more", len(missing)-5)
		missing = missing[:5]
	}
	return fmt.Errorf("%w: %s: missing tensor %s%s", ErrCheckpoint, where, strings.Join(quoteAll(missing), ", "), more)
}

// freshPrefix returns the store path prefix of scope ("" or "/" for the root) and checks that the store
// holds none of the variables paths names under it: a checkpoint loads into a fresh store, all or nothing.
func freshPrefix(store *model.Store, scope string, paths []string) (string, error) {
	prefix := "/" + strings.Trim(scope, "/")
	if prefix != "/" {
		prefix += "/"
	}
	for _, p := range paths {
		if store.GetVariable(prefix+p) != nil {
			return "", fmt.Errorf("%w: the store already holds %s: load a checkpoint into a fresh store", ErrCheckpoint, prefix+p)
		}
	}
	return prefix, nil
}
