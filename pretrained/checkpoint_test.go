package pretrained

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mtlora/mtlora/internal/safetensors"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/backend"
)

// tinyConfig is a 2-layer BERT small enough to write in a test.
func tinyConfig() map[string]any {
	return map[string]any{
		"model_type": "bert", "architectures": []string{"BertModel"}, "vocab_size": 40, "hidden_size": 8,
		"num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 12, "max_position_embeddings": 16,
		"type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
	}
}

// tinyTensors returns the tensors of a BertModel checkpoint for cfg, with seeded random values, plus the
// pooler that BertModel saves and the encoder does not use.
func tinyTensors(cfg map[string]any) map[string]safetensors.Tensor {
	rng := rand.New(rand.NewPCG(3, 4))
	n := func(k string) int { return int(cfg[k].(int)) }
	H, F := n("hidden_size"), n("intermediate_size")
	out := map[string]safetensors.Tensor{}
	add := func(name string, shape ...int) {
		size := 1
		for _, d := range shape {
			size *= d
		}
		data := make([]float32, size)
		for i := range data {
			data[i] = float32(rng.NormFloat64() * 0.1)
		}
		out[name] = safetensors.Tensor{Shape: shape, Data: data}
	}
	add("embeddings.word_embeddings.weight", n("vocab_size"), H)
	add("embeddings.position_embeddings.weight", n("max_position_embeddings"), H)
	add("embeddings.token_type_embeddings.weight", n("type_vocab_size"), H)
	add("embeddings.LayerNorm.weight", H)
	add("embeddings.LayerNorm.bias", H)
	for l := range n("num_hidden_layers") {
		p := fmt.Sprintf("encoder.layer.%d.", l)
		for _, lin := range []struct {
			name    string
			in, out int
		}{{"attention.self.query", H, H}, {"attention.self.key", H, H}, {"attention.self.value", H, H},
			{"attention.output.dense", H, H}, {"intermediate.dense", H, F}, {"output.dense", F, H}} {
			add(p+lin.name+".weight", lin.out, lin.in)
			add(p+lin.name+".bias", lin.out)
		}
		for _, ln := range []string{"attention.output.LayerNorm", "output.LayerNorm"} {
			add(p+ln+".weight", H)
			add(p+ln+".bias", H)
		}
	}
	add("pooler.dense.weight", H, H)
	add("pooler.dense.bias", H)
	return out
}

// writeCheckpoint writes config.json and model.safetensors into a new directory.
func writeCheckpoint(t *testing.T, cfg map[string]any, ts map[string]safetensors.Tensor) string {
	t.Helper()
	dir := t.TempDir()
	data, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadTinyCheckpoint(t *testing.T) {
	ts := tinyTensors(tinyConfig())
	dir := writeCheckpoint(t, tinyConfig(), ts)
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	rep, err := c.LoadWeights(store, "encoder")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Loaded != len(ts)-2 || len(rep.Skipped) != 2 {
		t.Errorf("loaded %d, skipped %v; want %d loaded and the pooler's 2 skipped", rep.Loaded, rep.Skipped, len(ts)-2)
	}
	// torch's Linear [out, in] arrives as GoMLX's [in, out].
	src := ts["encoder.layer.1.intermediate.dense.weight"] // [12, 8]
	v := store.GetVariable("/encoder/layer_1/ffn_in/dense/weights")
	if v == nil {
		t.Fatal("ffn_in weights not loaded")
	}
	got := tensors.MustCopyFlatData[float32](v.MustValue())
	if dims := v.Shape().Dimensions; dims[0] != 8 || dims[1] != 12 {
		t.Fatalf("ffn_in weights shape %v, want [8 12]", dims)
	}
	for o := range 12 {
		for i := range 8 {
			if got[i*12+o] != src.Data[o*8+i] {
				t.Fatalf("weights[%d,%d] = %v, checkpoint [%d,%d] = %v", i, o, got[i*12+o], o, i, src.Data[o*8+i])
			}
		}
	}
	gain := store.GetVariable("/encoder/layer_0/attention/norm/layer_normalization/gain")
	if gain == nil {
		t.Fatal("attention LayerNorm gain not loaded")
	}
	// A checkpoint saved from a task model carries the "bert." prefix and legacy gamma/beta names.
	prefixed := map[string]safetensors.Tensor{}
	for k, v := range ts {
		k = strings.Replace(k, "LayerNorm.weight", "LayerNorm.gamma", 1)
		k = strings.Replace(k, "LayerNorm.bias", "LayerNorm.beta", 1)
		prefixed["bert."+k] = v
	}
	prefixed["classifier.weight"] = safetensors.Tensor{Shape: []int{2, 8}, Data: make([]float32, 16)}
	c2, err := Open(writeCheckpoint(t, tinyConfig(), prefixed))
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := c2.LoadWeights(model.NewStore(), ""); err != nil || rep.Loaded != len(ts)-2 {
		t.Fatalf("prefixed checkpoint: loaded %d, err %v", rep.Loaded, err)
	}
}

// Every broken checkpoint gives an ErrCheckpoint naming the tensor, field or file at fault, and the store
// is left untouched: nothing half-loads.
func TestBadCheckpoints(t *testing.T) {
	cases := []struct {
		name string
		pre  func(cfg map[string]any, ts map[string]safetensors.Tensor) // before writing
		post func(t *testing.T, dir string)                             // after writing
		want []string
	}{
		{"missing tensor", func(_ map[string]any, ts map[string]safetensors.Tensor) {
			delete(ts, "encoder.layer.1.attention.self.value.weight")
		}, nil, []string{"missing tensor", `"encoder.layer.1.attention.self.value.weight"`}},
		{"wrong shape", func(_ map[string]any, ts map[string]safetensors.Tensor) {
			ts["encoder.layer.0.output.dense.weight"] = safetensors.Tensor{Shape: []int{8, 11}, Data: make([]float32, 88)}
		}, nil, []string{`"encoder.layer.0.output.dense.weight"`, "shape [8 11]", "expected [8 12]"}},
		{"config disagrees with weights", func(cfg map[string]any, _ map[string]safetensors.Tensor) {
			cfg["intermediate_size"] = 16
		}, nil, []string{"intermediate.dense", "expected [16]", "config.json"}},
		{"unexpected tensor", func(_ map[string]any, ts map[string]safetensors.Tensor) {
			ts["encoder.layer.2.output.dense.weight"] = safetensors.Tensor{Shape: []int{8, 12}, Data: make([]float32, 96)}
		}, nil, []string{`unexpected tensor "encoder.layer.2.output.dense.weight"`, "2 layers"}},
		{"unknown architecture", func(cfg map[string]any, _ map[string]safetensors.Tensor) {
			cfg["model_type"] = "gpt2"
		}, nil, []string{"config.json", "model_type", `"gpt2"`}},
		{"unsupported activation", func(cfg map[string]any, _ map[string]safetensors.Tensor) {
			cfg["hidden_act"] = "swish"
		}, nil, []string{"hidden_act", `"swish"`}},
		{"heads do not divide hidden", func(cfg map[string]any, _ map[string]safetensors.Tensor) {
			cfg["num_attention_heads"] = 3
		}, nil, []string{"hidden_size 8", "num_attention_heads 3"}},
		{"truncated file", nil, func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			info, _ := os.Stat(p)
			if err := os.Truncate(p, info.Size()-100); err != nil {
				t.Fatal(err)
			}
		}, []string{"model.safetensors", "outside the", "truncated"}},
		{"corrupt header", nil, func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			data, _ := os.ReadFile(p)
			copy(data[8:], "{\x00\xff\"not json")
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"model.safetensors", "corrupt safetensors header"}},
		{"header length beyond file", nil, func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			data, _ := os.ReadFile(p)
			data[5] = 0x7f
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"model.safetensors", "corrupt safetensors header", "header length"}},
		{"empty file", nil, func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"model.safetensors", "truncated"}},
		{"pickle only", nil, func(t *testing.T, dir string) {
			if err := os.Rename(filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "pytorch_model.bin")); err != nil {
				t.Fatal(err)
			}
		}, []string{"pytorch_model.bin", "pickles", "safetensors"}},
		{"no config", nil, func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "config.json")); err != nil {
				t.Fatal(err)
			}
		}, []string{"config.json"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, ts := tinyConfig(), tinyTensors(tinyConfig())
			if c.pre != nil {
				c.pre(cfg, ts)
			}
			dir := writeCheckpoint(t, cfg, ts)
			if c.post != nil {
				c.post(t, dir)
			}
			store := model.NewStore()
			ck, err := Open(dir)
			if err == nil {
				_, err = ck.LoadWeights(store, "")
			}
			if err == nil {
				t.Fatal("loaded a broken checkpoint")
			}
			t.Log(err)
			if !errors.Is(err, ErrCheckpoint) {
				t.Errorf("error does not wrap ErrCheckpoint: %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if n := store.NumVariables(); n != 0 {
				t.Errorf("store holds %d variables after a failed load", n)
			}
		})
	}
	// Loading twice into one store is refused, not merged.
	dir := writeCheckpoint(t, tinyConfig(), tinyTensors(tinyConfig()))
	ck, _ := Open(dir)
	store := model.NewStore()
	if _, err := ck.LoadWeights(store, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := ck.LoadWeights(store, ""); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("second load into the same store: %v", err)
	}
}

// hubServer serves a checkpoint directory the way the Hugging Face Hub does: the repository info at
// /api/models/<id>/revision/<rev> (with LFS SHA-256 of large files) and files at /<id>/resolve/<commit>/<file>
// with ETag and commit headers. tamper, if set, names a file whose served bytes are altered.
func hubServer(t *testing.T, id, dir, tamper string) (*httptest.Server, *int) {
	t.Helper()
	const commit = "0123456789abcdef0123456789abcdef01234567"
	var fetches int
	type lfs struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	}
	type sibling struct {
		Name string `json:"rfilename"`
		Size int64  `json:"size"`
		LFS  *lfs   `json:"lfs,omitempty"`
	}
	var siblings []sibling
	content := map[string][]byte{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		s := sibling{Name: filepath.ToSlash(rel), Size: int64(len(data))}
		if strings.HasSuffix(rel, ".safetensors") {
			s.LFS = &lfs{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
		}
		if filepath.ToSlash(rel) == tamper {
			data = append([]byte(nil), data...)
			data[len(data)-1] ^= 0xff
		}
		content[s.Name] = data
		siblings = append(siblings, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/models/"+id+"/revision/", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "modelId": id, "sha": commit, "siblings": siblings})
	})
	mux.HandleFunc("/"+id+"/resolve/"+commit+"/", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/"+id+"/resolve/"+commit+"/")
		data, ok := content[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		sum := sha256.Sum256(data)
		w.Header().Set("X-Repo-Commit", commit)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		if r.Method == http.MethodGet {
			fetches++
			_, _ = w.Write(data)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &fetches
}

// The hub path, against a local server with the hub's layout: download into a cache, verify, open, load —
// the same weights as the directory; a second open is served from the cache without any request.
func TestDownloadFromHub(t *testing.T) {
	ts := tinyTensors(tinyConfig())
	dir := writeCheckpoint(t, tinyConfig(), ts)
	if err := os.WriteFile(filepath.Join(dir, "pytorch_model.bin"), []byte("pickle bytes never fetched"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, fetches := hubServer(t, "acme/tiny-bert", dir, "")
	cache := t.TempDir()
	ck, err := Download("acme/tiny-bert", HubOptions{Endpoint: srv.URL, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ck.Dir, cache) {
		t.Errorf("checkpoint at %s, outside the cache %s", ck.Dir, cache)
	}
	if _, err := os.Stat(filepath.Join(ck.Dir, "pytorch_model.bin")); err == nil {
		t.Errorf("the pickle was downloaded")
	}
	store := model.NewStore()
	if _, err := ck.LoadWeights(store, ""); err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float32](store.GetVariable("/embeddings/word/embeddings").MustValue())
	if want := ts["embeddings.word_embeddings.weight"].Data; got[17] != want[17] {
		t.Errorf("word embeddings differ from the served checkpoint")
	}
	n := *fetches
	if _, err := Download("acme/tiny-bert", HubOptions{Endpoint: srv.URL, CacheDir: cache}); err != nil {
		t.Fatal(err)
	}
	if *fetches != n {
		t.Errorf("second download fetched %d files again; the cache should serve them", *fetches-n)
	}

	// A corrupted transfer is caught by the hub's SHA-256, naming the file.
	bad, _ := hubServer(t, "acme/tiny-bert", dir, "model.safetensors")
	if _, err := Download("acme/tiny-bert", HubOptions{Endpoint: bad.URL, CacheDir: t.TempDir()}); err == nil ||
		!strings.Contains(err.Error(), "model.safetensors") || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("tampered download: %v", err)
	}
	// A repository with only a pickle is refused before anything is fetched.
	if err := os.Remove(filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	pk, pkFetches := hubServer(t, "acme/tiny-bert", dir, "")
	if _, err := Download("acme/tiny-bert", HubOptions{Endpoint: pk.URL, CacheDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "pickles") {
		t.Errorf("pickle-only repository: %v", err)
	}
	if *pkFetches != 0 {
		t.Errorf("fetched %d files from a pickle-only repository", *pkFetches)
	}
	// An unknown repository names itself.
	if _, err := Download("acme/nope", HubOptions{Endpoint: srv.URL, CacheDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "acme/nope") {
		t.Errorf("unknown repository: %v", err)
	}
}

// A DistilBERT checkpoint (its own config keys and tensor names, no token types) holding the same weights as
// a BERT checkpoint whose token-type embedding is zero computes the same hidden states.
func TestDistilBERTLayout(t *testing.T) {
	bertCfg := tinyConfig()
	ts := tinyTensors(bertCfg)
	tt := ts["embeddings.token_type_embeddings.weight"]
	clear(tt.Data)
	distilCfg := map[string]any{
		"model_type": "distilbert", "architectures": []string{"DistilBertModel"}, "vocab_size": 40, "dim": 8,
		"n_layers": 2, "n_heads": 2, "hidden_dim": 12, "max_position_embeddings": 16, "activation": "gelu",
	}
	rename := strings.NewReplacer("encoder.layer.", "transformer.layer.", "attention.self.query", "attention.q_lin",
		"attention.self.key", "attention.k_lin", "attention.self.value", "attention.v_lin",
		"attention.output.dense", "attention.out_lin", "attention.output.LayerNorm", "sa_layer_norm",
		"intermediate.dense", "ffn.lin1", "output.dense", "ffn.lin2", "output.LayerNorm", "output_layer_norm")
	distil := map[string]safetensors.Tensor{}
	for k, v := range ts {
		if k == "embeddings.token_type_embeddings.weight" || strings.HasPrefix(k, "pooler.") {
			continue
		}
		distil["distilbert."+rename.Replace(k)] = v
	}
	distil["vocab_projector.bias"] = safetensors.Tensor{Shape: []int{40}, Data: make([]float32, 40)}
	hidden := func(dir string) []float32 {
		m, err := Load(dirWithTokenizer(t, dir))
		if err != nil {
			t.Fatal(err)
		}
		batch := Batch{N: 2, SeqLen: 5, IDs: []int32{1, 7, 9, 2, 0, 1, 30, 2, 0, 0}, TypeIDs: make([]int32, 10), Mask: []int32{1, 1, 1, 1, 0, 1, 1, 1, 0, 0}}
		out, err := m.Encode(backend.MustNew(), batch)
		if err != nil {
			t.Fatal(err)
		}
		return out.Hidden
	}
	a, b := hidden(writeCheckpoint(t, bertCfg, ts)), hidden(writeCheckpoint(t, distilCfg, distil))
	for i := range a {
		if d := a[i] - b[i]; d > 1e-6 || d < -1e-6 {
			t.Fatalf("hidden[%d]: BERT %v, DistilBERT %v", i, a[i], b[i])
		}
	}
}

// dirWithTokenizer adds a minimal WordPiece tokenizer.json to a test checkpoint so Load accepts it.
func dirWithTokenizer(t *testing.T, dir string) string {
	t.Helper()
	vocab := map[string]int{"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "[UNK]": 3}
	for i := 4; i < 40; i++ {
		vocab[fmt.Sprintf("w%d", i)] = i
	}
	tok := map[string]any{
		"version": "1.0", "added_tokens": []any{}, "normalizer": map[string]any{"type": "BertNormalizer", "clean_text": true,
			"handle_chinese_chars": true, "strip_accents": nil, "lowercase": true},
		"pre_tokenizer": map[string]any{"type": "BertPreTokenizer"},
		"model":         map[string]any{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": vocab},
	}
	data, _ := json.Marshal(tok)
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// SaveWeights writes a checkpoint that loads back to the same weights, under the original tensor names;
// ModulePath gives the Hugging Face module of a layer (for PEFT exports).
func TestSaveWeightsRoundTrip(t *testing.T) {
	ts := tinyTensors(tinyConfig())
	ck, err := Open(writeCheckpoint(t, tinyConfig(), ts))
	if err != nil {
		t.Fatal(err)
	}
	store := model.NewStore()
	if _, err := ck.LoadWeights(store, ""); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := ck.SaveWeights(store, out); err != nil {
		t.Fatal(err)
	}
	ck2, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	store2 := model.NewStore()
	if _, err := ck2.LoadWeights(store2, ""); err != nil {
		t.Fatal(err)
	}
	for v := range store.IterVariables() {
		a := tensors.MustCopyFlatData[float32](v.MustValue())
		b := tensors.MustCopyFlatData[float32](store2.GetVariable(v.Path()).MustValue())
		if !slices.Equal(a, b) {
			t.Fatalf("%s differs after the round trip", v.Path())
		}
	}
	if got := ck.ModulePath("/layer_1/attention/query"); got != "encoder.layer.1.attention.self.query" {
		t.Errorf("module path %q", got)
	}
	if got := ck.ModulePath("/layer_0/ffn_out"); got != "encoder.layer.0.output.dense" {
		t.Errorf("module path %q", got)
	}
}
