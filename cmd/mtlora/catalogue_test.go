package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtlora/mtlora/internal/safetensors"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/datasets"
	"github.com/mtlora/mtlora/experiment"
	"github.com/mtlora/mtlora/mtlcore"
	"github.com/mtlora/mtlora/pretrained"
	"github.com/mtlora/mtlora/trainer"
	"github.com/mtlora/mtlora/zoo"
)

// badInput is one entry of the bad-input catalogue: what a user gets wrong, the public entry point that
// receives it, and what the error must say (a sentinel it wraps and/or substrings: the file, row, column,
// field or tensor, what was expected and what was found).
type badInput struct {
	name string
	run  func(t *testing.T, dir string) error
	is   error
	want []string
}

// TestBadInputCatalogue is the toolkit's bad-input catalogue, listed in the README ("Bad input"): every
// case must fail with its specific error — no panic escapes (a panic fails the test), nothing falls back
// silently (a nil error fails it) — and every case name must appear in the README's table.
func TestBadInputCatalogue(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cases := catalogue()
	if len(cases) < 30 {
		t.Fatalf("the catalogue has %d cases; issue 9 asks for at least 30", len(cases))
	}
	if out := os.Getenv("MTLORA_CATALOGUE_MD"); out != "" { // regenerate the README's table
		var b strings.Builder
		for _, c := range cases {
			var exp []string
			if c.is != nil {
				exp = append(exp, "`"+c.is.Error()+"`")
			}
			for _, w := range c.want {
				exp = append(exp, "“"+strings.ReplaceAll(w, "|", `\|`)+"”")
			}
			fmt.Fprintf(&b, "| %s | %s |\n", c.name, strings.Join(exp, ", "))
		}
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(string(readme), "| "+c.name+" |") {
				t.Errorf("README's bad-input table has no row %q", c.name)
			}
			err := c.run(t, t.TempDir())
			if err == nil {
				t.Fatal("accepted: expected an error")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error does not wrap %v: %v", c.is, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q: %v", w, err)
				}
			}
		})
	}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadText loads a data file under a two-task spec (sentiment: neg/pos; topic: politics/sport).
func loadText(path string) error {
	spec := datasets.Spec{Name: "catalogue", Path: path, Tasks: []datasets.TaskSpec{
		{Name: "sentiment", Labels: []string{"neg", "pos"}}, {Name: "topic", Labels: []string{"politics", "sport"}}}}
	_, err := datasets.Load(spec, datasets.ReadOptions{}, 0.2, 0.2)
	return err
}

const goodCSV = "task,text,label\nsentiment,fine,pos\ntopic,match,sport\n"

// savedAdapters trains nothing: it builds a small MTL-LoRA linear model, saves its adapters into dir and
// returns the configuration and a fresh store of the same model, ready for LoadAdapters.
func savedAdapters(t *testing.T, dir string) (mtlcore.Config, *model.Store) {
	t.Helper()
	cfg := mtlcore.DefaultConfig(mtlcore.MTLLoRA, 2)
	cfg.Rank, cfg.Targets = 2, mtlcore.TargetDense
	inj, err := mtlcore.NewInjector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	build := func() *model.Store {
		store := model.NewStore()
		x := tensors.FromFlatDataAndDimensions(make([]float32, 2*4), 2, 4)
		ids := tensors.FromFlatDataAndDimensions([]int32{0, 1}, 2)
		model.MustNewExec(backend.MustNew(), store, zoo.Linear(inj, 3)).MustCall(x, ids)
		return store
	}
	if err := mtlcore.SaveAdapters(build(), cfg, dir); err != nil {
		t.Fatal(err)
	}
	return cfg, build()
}

// rewriteSafetensors rewrites a float32 safetensors file after edit has changed its tensors.
func rewriteSafetensors(t *testing.T, path string, edit func(map[string]safetensors.Tensor)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(data[:8])
	var header map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	ts, meta := map[string]safetensors.Tensor{}, map[string]string{}
	for name, raw := range header {
		if name == "__metadata__" {
			json.Unmarshal(raw, &meta)
			continue
		}
		var e struct {
			Shape   []int    `json:"shape"`
			Offsets [2]int64 `json:"data_offsets"`
		}
		json.Unmarshal(raw, &e)
		body := data[8+n+uint64(e.Offsets[0]) : 8+n+uint64(e.Offsets[1])]
		v := make([]float32, len(body)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
		}
		ts[name] = safetensors.Tensor{Shape: e.Shape, Data: v}
	}
	edit(ts)
	if err := safetensors.Write(path, ts, meta); err != nil {
		t.Fatal(err)
	}
}

// anyKey returns some tensor name containing sub.
func anyKey(ts map[string]safetensors.Tensor, sub string) string {
	for k := range ts {
		if strings.Contains(k, sub) {
			return k
		}
	}
	return ""
}

func catalogue() []badInput {
	adapterFile := func(dir string) string { return filepath.Join(dir, mtlcore.AdapterWeightsFile) }
	loadAdapters := func(t *testing.T, dir string, edit func(dir string)) error {
		cfg, store := savedAdapters(t, dir)
		edit(dir)
		return mtlcore.LoadAdapters(store, cfg, dir)
	}
	plan := func(spec string) func(*testing.T, string) error {
		return func(*testing.T, string) error { _, err := experiment.ParsePlan([]byte(spec)); return err }
	}
	const planOK = `"name":"s","run":{"data":"synthetic","targets":"dense","rank":4,"steps":2,"batch_size":8,"learning_rate":0.01}`
	train := func(args ...string) func(*testing.T, string) error {
		return func(t *testing.T, d string) error {
			return runTrain(append([]string{"-data", "synthetic", "-targets", "dense", "-steps", "1", "-dir", d}, args...))
		}
	}
	return []badInput{
		// Data files: datasets.Load (what `experiment` and every notebook read through).
		{"empty CSV file", func(t *testing.T, d string) error { return loadText(write(t, d, "empty.csv", "")) },
			datasets.ErrData, []string{"empty.csv", "empty file"}},
		{"CSV with an unclosed quote", func(t *testing.T, d string) error {
			return loadText(write(t, d, "quote.csv", "task,text,label\ntopic,\"unclosed,sport\n"))
		}, datasets.ErrData, []string{"quote.csv", "row 1"}},
		{"CSV row with too many fields", func(t *testing.T, d string) error {
			return loadText(write(t, d, "wide.csv", goodCSV+"topic,a,sport,extra\n"))
		}, datasets.ErrData, []string{"wide.csv"}},
		{"empty JSONL file", func(t *testing.T, d string) error { return loadText(write(t, d, "empty.jsonl", "\n")) },
			datasets.ErrData, []string{"empty.jsonl", "empty file"}},
		{"JSONL line that is not JSON", func(t *testing.T, d string) error {
			return loadText(write(t, d, "bad.jsonl", `{"task":"topic","text":"a","label":"sport"}`+"\n{oops\n"))
		}, datasets.ErrData, []string{"bad.jsonl", "line 2", "not a JSON object"}},
		{"JSONL value whose type changes", func(t *testing.T, d string) error {
			return loadText(write(t, d, "mixed.jsonl", `{"task":"topic","text":"a","label":"sport"}`+"\n"+`{"task":"topic","text":3,"label":"sport"}`+"\n"))
		}, datasets.ErrData, []string{"mixed.jsonl", "line 2", `"text"`, "expected a string"}},
		{"empty Parquet file", func(t *testing.T, d string) error { return loadText(write(t, d, "empty.parquet", "")) },
			datasets.ErrData, []string{"empty.parquet"}},
		{"Parquet file that is not Parquet", func(t *testing.T, d string) error {
			return loadText(write(t, d, "fake.parquet", "PAR1 this is text, not a footer PAR1"))
		}, datasets.ErrData, []string{"fake.parquet"}},
		{"empty Arrow IPC file", func(t *testing.T, d string) error { return loadText(write(t, d, "empty.arrow", "")) },
			datasets.ErrData, []string{"empty.arrow"}},
		{"Arrow IPC stream that is not Arrow", func(t *testing.T, d string) error {
			return loadText(write(t, d, "fake.arrows", strings.Repeat("\xff\xff\xff\xff garbage ", 8)))
		}, datasets.ErrData, []string{"fake.arrows"}},
		{"missing label column", func(t *testing.T, d string) error {
			return loadText(write(t, d, "nolabel.csv", "task,text\nsentiment,hi\n"))
		}, datasets.ErrData, []string{"nolabel.csv", `missing column "label"`}},
		{"mistyped text column", func(t *testing.T, d string) error {
			return loadText(write(t, d, "num.jsonl", `{"task":"topic","text":12,"label":"sport"}`+"\n"))
		}, datasets.ErrData, []string{"num.jsonl", `"text"`, "expected a string"}},
		{"unknown task", func(t *testing.T, d string) error {
			return loadText(write(t, d, "task.csv", goodCSV+"weather,b,sun\n"))
		}, datasets.ErrData, []string{"task.csv", "row 3", `unknown task "weather"`}},
		{"label outside the task's vocabulary", func(t *testing.T, d string) error {
			return loadText(write(t, d, "label.csv", goodCSV+"topic,b,science\n"))
		}, datasets.ErrData, []string{"label.csv", "row 3", `label "science"`, `task "topic"`}},
		{"task with no examples", func(t *testing.T, d string) error {
			return loadText(write(t, d, "onetask.csv", "task,text,label\ntopic,a,sport\n"))
		}, datasets.ErrData, []string{`task "sentiment" has no examples`}},
		{"data path that does not exist", func(t *testing.T, d string) error { return loadText(filepath.Join(d, "absent.parquet")) },
			nil, []string{"absent.parquet"}},

		// Data integrity (issue 17): damaged files and values a format could change are errors, never fewer
		// rows or other values. The corruption sweep (datasets/integrity_test.go) covers thousands more.
		{"Parquet file cut short, its footer kept", func(t *testing.T, d string) error {
			rec := catalogueRecord(20000, plainText)
			defer rec.Release()
			return loadText(writeBytes(t, d, "cut.parquet", cutKeepingFooter(parquetBytes(t, rec, 5000), 0.6)))
		}, datasets.ErrData, []string{"cut.parquet", "row group", "column chunk", "outside the file"}},
		{"Arrow IPC stream without its end-of-stream marker", func(t *testing.T, d string) error {
			rec := catalogueRecord(30, plainText)
			defer rec.Release()
			data := streamBytes(t, rec, 10)
			return loadText(writeBytes(t, d, "cut.arrows", data[:len(data)-8]))
		}, datasets.ErrData, []string{"cut.arrows", "after 3 record batches", "without its end-of-stream marker"}},
		{"bytes after an Arrow IPC stream's end", func(t *testing.T, d string) error {
			rec := catalogueRecord(30, plainText)
			defer rec.Release()
			data := streamBytes(t, rec, 10)
			return loadText(writeBytes(t, d, "tail.arrows", append(data, data[:64]...)))
		}, datasets.ErrData, []string{"tail.arrows", "64 bytes follow the end-of-stream marker"}},
		{"CSV text field left empty (NULL)", func(t *testing.T, d string) error {
			return loadText(write(t, d, "null.csv", goodCSV+"topic,,sport\n"))
		}, datasets.ErrData, []string{"null.csv", "row 3", `column "text" is null`}},
		{"CSV text that is the empty string", func(t *testing.T, d string) error {
			return loadText(write(t, d, "blank.csv", goodCSV+"topic,\"\",sport\n"))
		}, datasets.ErrData, []string{"blank.csv", "row 3", `column "text" is the empty text`, "allow_empty_text"}},
		{"CSV quote inside an unquoted field", func(t *testing.T, d string) error {
			return loadText(write(t, d, "bare.csv", goodCSV+"topic,say \"hi\",sport\n"))
		}, datasets.ErrData, []string{"bare.csv", "row 3", "line 4", `column "text"`, "double quote inside an unquoted field"}},
		{"CSV text that is not UTF-8", func(t *testing.T, d string) error {
			return loadText(write(t, d, "latin1.csv", goodCSV+"topic,caf\xe9,sport\n"))
		}, datasets.ErrData, []string{"latin1.csv", "row 3", `column "text"`, "not valid UTF-8"}},
		{"Parquet text that is not UTF-8", func(t *testing.T, d string) error {
			rec := catalogueRecord(6, func(i int) string { return map[bool]string{true: "caf\xe9", false: "ok"}[i == 4] })
			defer rec.Release()
			return loadText(writeBytes(t, d, "latin1.parquet", parquetBytes(t, rec, 100)))
		}, datasets.ErrData, []string{"latin1.parquet", "row 5", `column "text"`, "not valid UTF-8"}},
		{"JSON Lines text that is not UTF-8", func(t *testing.T, d string) error {
			return loadText(write(t, d, "latin1.jsonl", `{"task":"topic","text":"a","label":"sport"}`+"\n"+`{"task":"topic","text":"caf`+"\xe9"+`","label":"sport"}`+"\n"))
		}, datasets.ErrData, []string{"latin1.jsonl", "line 2", `key "text"`, "not valid UTF-8"}},
		{"JSON Lines text with half a surrogate pair", func(t *testing.T, d string) error {
			return loadText(write(t, d, "surrogate.jsonl", `{"task":"topic","text":"a\ud800b","label":"sport"}`+"\n"))
		}, datasets.ErrData, []string{"surrogate.jsonl", "line 1", `key "text"`, "half a UTF-16 surrogate pair"}},
		{"JSON Lines key given twice", func(t *testing.T, d string) error {
			return loadText(write(t, d, "twice.jsonl", `{"task":"topic","text":"a","text":"b","label":"sport"}`+"\n"))
		}, datasets.ErrData, []string{"twice.jsonl", "line 1", `key "text" appears twice`}},
		{"folder without data files", func(t *testing.T, d string) error {
			write(t, d, "data/notes.txt", "not data")
			write(t, d, "data/part-0", "no extension")
			return loadText(filepath.Join(d, "data"))
		}, datasets.ErrData, []string{"holds no data files", "skipped", "notes.txt", "part-0", "files without an extension are read when the format is given"}},

		// Decoder checkpoints (GGUF) and prompts (issue 18).
		{"GGUF of an unsupported architecture", func(t *testing.T, d string) error {
			_, err := pretrained.OpenDecoder(tinyGGUF(t, d, "gpt2.gguf", func(m map[string]any, ts []ggufTensor) []ggufTensor {
				m["general.architecture"] = "gpt2"
				return ts
			}))
			return err
		}, pretrained.ErrCheckpoint, []string{"gpt2.gguf", `architecture "gpt2" is not supported`, "llama"}},
		{"GGUF with an unsupported quantisation", func(t *testing.T, d string) error {
			_, err := pretrained.OpenDecoder(tinyGGUF(t, d, "kquant.gguf", func(m map[string]any, ts []ggufTensor) []ggufTensor {
				m["llama.feed_forward_length"] = uint32(256)
				for i := range ts {
					switch ts[i].name {
					case "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight":
						ts[i].dims = []uint64{8, 256}
					case "blk.0.ffn_down.weight":
						ts[i].dims = []uint64{256, 8}
						ts[i].typ = 12
					}
				}
				return ts
			}))
			return err
		}, pretrained.ErrCheckpoint, []string{"kquant.gguf", `"blk.0.ffn_down.weight" is Q4_K`, "supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0"}},
		{"truncated GGUF", func(t *testing.T, d string) error {
			p := tinyGGUF(t, d, "cut.gguf", nil)
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)-100], 0o644)
			_, err := pretrained.OpenDecoder(p)
			return err
		}, pretrained.ErrCheckpoint, []string{"cut.gguf", "blk.0.ffn_down.weight", "the file is cut short"}},
		{"GGUF weights that do not fit its metadata", func(t *testing.T, d string) error {
			_, err := pretrained.OpenDecoder(tinyGGUF(t, d, "misfit.gguf", func(m map[string]any, ts []ggufTensor) []ggufTensor {
				m["llama.attention.head_count_kv"] = uint32(2)
				return ts
			}))
			return err
		}, pretrained.ErrCheckpoint, []string{"misfit.gguf", `"blk.0.attn_k.weight" has shape [4 8], expected [8 8]`}},
		{"Hugging Face decoder with rope scaling", func(t *testing.T, d string) error {
			dir := qwen2Copy(t, d, func(cfg map[string]any, _ map[string]any) {
				cfg["rope_scaling"] = map[string]any{"rope_type": "linear", "factor": 2.0}
			})
			_, err := pretrained.OpenDecoder(dir)
			return err
		}, pretrained.ErrCheckpoint, []string{"config.json", "rope_scaling", "is not supported"}},
		{"Hugging Face decoder whose tokenizer splits by another pattern", func(t *testing.T, d string) error {
			dir := qwen2Copy(t, d, func(_ map[string]any, tok map[string]any) {
				tok["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
					map[string]any{"type": "Split", "pattern": map[string]any{"Regex": `[^\r\n\p{L}\p{N}]?[\p{Lu}]*[\p{Ll}]+`}, "behavior": "Isolated", "invert": false},
					map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}}}
			})
			dec, err := pretrained.OpenDecoder(dir)
			if err != nil {
				return err
			}
			_, err = dec.Tokenizer()
			return err
		}, pretrained.ErrCheckpoint, []string{"tokenizer.json", "pre-tokenizer Split by", "only LLaMA 3's and Qwen2's regexes are supported"}},
		{"GGUF whose tokenizer splits by another pattern", func(t *testing.T, d string) error {
			dec, err := pretrained.OpenDecoder(tinyGGUF(t, d, "pre.gguf", func(m map[string]any, ts []ggufTensor) []ggufTensor {
				m["tokenizer.ggml.pre"] = "deepseek-llm"
				return ts
			}))
			if err != nil {
				return err
			}
			_, err = dec.Tokenizer()
			return err
		}, pretrained.ErrCheckpoint, []string{"pre.gguf", `tokenizer.ggml.pre is "deepseek-llm"`, "gpt-2, smollm, llama-bpe, llama3 and qwen2"}},
		{"chat prompts with a decoder that has no chat template", func(t *testing.T, d string) error {
			model := tinyGGUF(t, d, "tiny.gguf", nil)
			return runTrain([]string{"-data", write(t, d, "two.csv", goodCSV+goodCSV[len("task,text,label\n"):]+"sentiment,bad,neg\ntopic,vote,politics\n"),
				"-model", model, "-rank", "2", "-seq_len", "12", "-steps", "1", "-chat", "-dir", filepath.Join(d, "run")})
		}, experiment.ErrConfig, []string{"field chat", "tiny.gguf", "has no tokenizer.chat_template"}},
		{"chat template outside the supported Jinja subset", func(t *testing.T, d string) error {
			dir := qwen2Copy(t, d, func(map[string]any, map[string]any) {})
			os.WriteFile(filepath.Join(dir, "chat_template.jinja"), []byte("{% macro turn(m) %}{{ m.content }}{% endmacro %}"), 0o644)
			dec, err := pretrained.OpenDecoder(dir)
			if err != nil {
				return err
			}
			_, err = dec.ChatTemplate()
			return err
		}, pretrained.ErrChatTemplate, []string{"{% macro %}", "outside the supported subset"}},
		{"prompt longer than the decoder's context", func(t *testing.T, d string) error {
			model := tinyGGUF(t, d, "tiny.gguf", nil)
			return runTrain([]string{"-data", write(t, d, "two.csv", goodCSV+goodCSV[len("task,text,label\n"):]+"sentiment,bad,neg\ntopic,vote,politics\n"),
				"-model", model, "-rank", "2", "-seq_len", "32", "-steps", "1", "-dir", filepath.Join(d, "run")})
		}, nil, []string{"seq_len", "32 tokens exceed the model's context of 16"}},

		// Text and models.
		{"text longer than the model", func(t *testing.T, d string) error {
			tok, err := pretrained.LoadTokenizer(tinyVocab(t, d))
			if err != nil {
				return err
			}
			_, err = tok.EncodeBatch([]string{strings.Repeat("a ", 1000)}, nil, 1024)
			if err != nil {
				return err
			}
			return runTrain([]string{"-data", "mtbench", "-seq_len", "1024", "-steps", "1", "-dir", d})
		}, nil, []string{"seq_len", "1024", "max_position_embeddings 512"}},
		{"model directory that does not exist", func(t *testing.T, d string) error {
			_, err := pretrained.Open(filepath.Join(d, "no-model"))
			return err
		}, nil, []string{"no-model"}},
		{"pickle-only checkpoint", func(t *testing.T, d string) error {
			write(t, d, "config.json", `{"model_type":"bert","hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,"vocab_size":10,"max_position_embeddings":16}`)
			write(t, d, "pytorch_model.bin", "PK\x03\x04 pickle")
			ck, err := pretrained.Open(d)
			if err != nil {
				return err
			}
			_, err = ck.LoadWeights(model.NewStore(), "")
			return err
		}, pretrained.ErrCheckpoint, []string{"pytorch_model.bin", "safetensors"}},

		// Adapter configurations.
		{"adapter rank 0", func(t *testing.T, d string) error {
			c := mtlcore.DefaultConfig(mtlcore.MTLLoRA, 2)
			c.Rank = 0
			return c.Validate()
		}, nil, []string{"rank"}},
		{"unknown adapter method", train("-method", "super-lora"), nil, []string{`"super-lora"`}},
		{"MTL-LoRA temperature 0 or below", func(t *testing.T, d string) error {
			c := mtlcore.DefaultConfig(mtlcore.MTLLoRA, 2)
			c.Temperature = -1
			return c.Validate()
		}, nil, []string{"temperature"}},
		{"MoELoRA rank not divisible by its experts", func(t *testing.T, d string) error {
			c := mtlcore.DefaultConfig(mtlcore.MoELoRA, 2)
			c.Rank, c.N = 7, 2
			return c.Validate()
		}, nil, []string{"7"}},
		{"unknown target layer", func(t *testing.T, d string) error {
			return runTrain([]string{"-data", "mtbench", "-targets", "q,attention_out", "-steps", "1", "-dir", d})
		}, nil, []string{"attention_out"}},
		{"train config file with an unknown key", func(t *testing.T, d string) error {
			return runTrain([]string{"-config", write(t, d, "run.json", `{"method":"lora","rnak":8}`), "-dir", d})
		}, nil, []string{"run.json", "rnak"}},

		// Adapter checkpoints: mtlcore.LoadAdapters (what eval, predict, export and notebooks load).
		{"adapter checkpoint missing a tensor", func(t *testing.T, d string) error {
			return loadAdapters(t, d, func(d string) {
				rewriteSafetensors(t, adapterFile(d), func(ts map[string]safetensors.Tensor) { delete(ts, anyKey(ts, "lambda")) })
			})
		}, mtlcore.ErrCheckpoint, []string{"lambda", "missing"}},
		{"adapter checkpoint with an extra tensor", func(t *testing.T, d string) error {
			return loadAdapters(t, d, func(d string) {
				rewriteSafetensors(t, adapterFile(d), func(ts map[string]safetensors.Tensor) {
					ts["linear/adapter/stray"] = safetensors.Tensor{Shape: []int{1}, Data: []float32{1}}
				})
			})
		}, mtlcore.ErrCheckpoint, []string{"stray"}},
		{"adapter checkpoint with a misshaped tensor", func(t *testing.T, d string) error {
			return loadAdapters(t, d, func(d string) {
				rewriteSafetensors(t, adapterFile(d), func(ts map[string]safetensors.Tensor) {
					k := anyKey(ts, "lora_A")
					ts[k] = safetensors.Tensor{Shape: []int{5, 5}, Data: make([]float32, 25)}
				})
			})
		}, mtlcore.ErrCheckpoint, []string{"lora_A", "[5 5]"}},
		{"adapter checkpoint with a corrupt header", func(t *testing.T, d string) error {
			return loadAdapters(t, d, func(d string) {
				data, _ := os.ReadFile(adapterFile(d))
				copy(data[8:], "{{{{")
				os.WriteFile(adapterFile(d), data, 0o644)
			})
		}, mtlcore.ErrCheckpoint, []string{mtlcore.AdapterWeightsFile}},
		{"adapter checkpoint from a different method", func(t *testing.T, d string) error {
			_, store := savedAdapters(t, d)
			lora := mtlcore.DefaultConfig(mtlcore.LoRA, 2)
			lora.Rank, lora.Targets = 2, mtlcore.TargetDense
			return mtlcore.LoadAdapters(store, lora, d)
		}, mtlcore.ErrCheckpoint, []string{"mtl-lora", "lora"}},
		{"training checkpoint with a corrupt state file", func(t *testing.T, d string) error {
			args := []string{"-data", "synthetic", "-targets", "dense", "-steps", "4", "-dir", d}
			if err := runTrain(args); err != nil {
				t.Fatal(err)
			}
			latest, err := os.ReadFile(filepath.Join(d, "checkpoints", "LATEST"))
			if err != nil {
				t.Fatal(err)
			}
			os.Remove(filepath.Join(d, "result.json")) // as if killed after its last checkpoint
			write(t, d, filepath.Join("checkpoints", strings.TrimSpace(string(latest)), "state.json"), "{not json")
			return runTrain(args)
		}, trainer.ErrCheckpoint, []string{"state.json"}},

		// Hyperparameter values that are not allowed: an error naming the field, never "the default".
		{"hyperparameter n = 0", train("-n", "0"), nil, []string{"field n", "got 0"}},
		{"negative rank", train("-rank", "-2"), nil, []string{"field rank", "-2"}},
		{"temperature 0", train("-temperature", "0"), nil, []string{"field temperature", "divides by zero"}},
		{"temperature so small that w/τ overflows float32", train("-temperature", "1e-40"), nil, []string{"field temperature", "overflow float32"}},
		{"learning rate NaN", train("-learning_rate", "NaN"), nil, []string{"field learning_rate", "not a finite number"}},
		{"negative warm-up", train("-warmup", "-1"), nil, []string{"field warmup", "-1"}},
		{"negative budget rank", train("-budget_rank", "-8"), nil, []string{"field budget_rank", "-8"}},
		{"unknown schedule", train("-schedule", "exponential"), nil, []string{"field schedule", "exponential"}},
		{"dropout 1", train("-dropout", "1"), nil, []string{"field dropout", "[0, 1)"}},
		{"targets that select no layer of the model", train("-targets", "q,v"), nil, []string{"field targets", "selects no linear layer", "dense"}},
		{"a task the data does not have", train("-tasks", "task0,weather"), nil, []string{"field tasks", `"weather"`, "task0"}},
		{"data that is neither a name nor a file", train("-data", "my-dat.csv"), nil, []string{"my-dat.csv", "no such file"}},
		{"model that is neither a name nor a directory", func(t *testing.T, d string) error {
			data := write(t, d, "two.csv", goodCSV+"sentiment,bad,neg\ntopic,vote,politics\n")
			return runTrain([]string{"-data", data, "-model", filepath.Join(d, "my-bert"), "-steps", "1", "-dir", d})
		}, pretrained.ErrCheckpoint, []string{"my-bert", "hub:ORG/NAME"}},
		{"bare data file whose task has one label", func(t *testing.T, d string) error {
			return runTrain([]string{"-data", write(t, d, "one.csv", "text,label\na,yes\nb,yes\n"), "-steps", "1", "-dir", d})
		}, datasets.ErrData, []string{"one.csv", `task "one" has one label only`}},

		{"task with no validation examples", func(t *testing.T, d string) error {
			data := write(t, d, "few.csv", "task,text,label,split\nsentiment,a,pos,train\nsentiment,b,neg,train\n")
			return runTrain([]string{"-data", data, "-steps", "1", "-dir", d})
		}, datasets.ErrData, []string{"few.csv", `task "sentiment"`, "0 validation examples"}},
		{"multiple-choice label that is not a choice", func(t *testing.T, d string) error {
			return runTrain([]string{"-data", write(t, d, "mc.jsonl", `{"text": "q", "choices": ["a", "b"], "label": "2"}`+"\n"), "-steps", "1", "-dir", d})
		}, datasets.ErrData, []string{"mc.jsonl", "row 1", `label "2"`, "0 to 1"}},

		// Plans: experiment.ParsePlan (mtlora sweep -spec).
		{"plan with an unknown key", plan(`{` + planOK + `,"vary":{"method":["lora"],"learning_rat":[1]}}`), nil, []string{"learning_rat"}},
		{"plan with an empty axis", plan(`{` + planOK + `,"vary":{"method":[]}}`), nil, []string{"vary.method is empty"}},
		{"plan with a key in the wrong case", plan(`{` + planOK + `,"vary":{"Seed":[2]}}`), nil, []string{`unknown key "Seed"`}},
		{"plan naming an unknown method", plan(`{` + planOK + `,"vary":{"method":["lora","lora++"]}}`), nil, []string{"lora++"}},
		{"plan varying a value that is not allowed", plan(`{` + planOK + `,"vary":{"temperature":[0.1,-1]}}`), nil, []string{"field temperature", "-1"}},
		{"plan file that does not exist", func(t *testing.T, d string) error {
			return runSweep([]string{"-spec", filepath.Join(d, "nope.json")})
		}, nil, []string{"nope.json"}},

		// Training and output paths.
		{"training with 0 steps", func(t *testing.T, d string) error {
			return trainer.FitConfig{Steps: 0, LearningRate: 1, NumTasks: 1}.Validate()
		}, nil, []string{"steps"}},
		{"run directory that does not exist", func(t *testing.T, d string) error {
			return runEval([]string{"-run", filepath.Join(d, "missing-run")})
		}, nil, []string{"missing-run", "does not exist"}},
		{"output directory that cannot be written", func(t *testing.T, d string) error {
			blocker := write(t, d, "blocker", "a file where a directory should be")
			return runTrain([]string{"-data", "synthetic", "-targets", "dense", "-steps", "1", "-dir", filepath.Join(blocker, "run")})
		}, nil, []string{"run directory", "blocker", "not a directory"}},
		{"report of a path that holds no run", func(t *testing.T, d string) error {
			return runReport([]string{filepath.Join(d, "not-a-run")})
		}, nil, []string{"not-a-run"}},
	}
}

// tinyVocab writes a WordPiece vocabulary into dir and returns dir.
func tinyVocab(t *testing.T, dir string) string {
	write(t, dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n")
	return dir
}
