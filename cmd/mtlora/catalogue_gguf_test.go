package main

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// ggufTensor is a float32 tensor for writeGGUF: dims fastest-varying first, as GGUF lists them.
type ggufTensor struct {
	name string
	dims []uint64
	typ  uint32 // 0 F32; another type's data is written as zero bytes of the right size for the test
}

// writeGGUF writes a small GGUF v3 file: string, uint32, float32 and string-array metadata, and tensors
// whose values are i·0.01.
func writeGGUF(t *testing.T, dir, name string, meta map[string]any, tensors []ggufTensor) string {
	t.Helper()
	var b []byte
	u32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	u64 := func(v uint64) { b = binary.LittleEndian.AppendUint64(b, v) }
	str := func(s string) { u64(uint64(len(s))); b = append(b, s...) }
	b = append(b, "GGUF"...)
	u32(3)
	u64(uint64(len(tensors)))
	u64(uint64(len(meta)))
	for k, v := range meta {
		str(k)
		switch x := v.(type) {
		case string:
			u32(8)
			str(x)
		case uint32:
			u32(4)
			u32(x)
		case float32:
			u32(6)
			u32(math.Float32bits(x))
		case []string:
			u32(9)
			u32(8)
			u64(uint64(len(x)))
			for _, s := range x {
				str(s)
			}
		case []int32:
			u32(9)
			u32(5)
			u64(uint64(len(x)))
			for _, v := range x {
				u32(uint32(v))
			}
		}
	}
	var data []byte
	for _, tn := range tensors {
		str(tn.name)
		u32(uint32(len(tn.dims)))
		n := uint64(1)
		for _, d := range tn.dims {
			u64(d)
			n *= d
		}
		u32(tn.typ)
		u64(uint64(len(data)))
		size := 4 * n
		if tn.typ == 12 { // Q4_K: 144 bytes per 256 values
			size = n / 256 * 144
		}
		for i := range size / 4 {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(float32(i)*0.01))
		}
		for len(data)%32 != 0 {
			data = append(data, 0)
		}
	}
	for len(b)%32 != 0 {
		b = append(b, 0)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, append(b, data...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tinyGGUF writes a one-block LLaMA decoder (vocabulary of byte-level tokens, width 8, 2 query heads and 1
// key-value head, context 16); edit changes its metadata and tensors before writing.
func tinyGGUF(t *testing.T, dir, name string, edit func(meta map[string]any, tensors []ggufTensor) []ggufTensor) string {
	var tokens []string
	types := []int32{}
	for _, s := range []string{"<|endoftext|>", "<|im_end|>", "a", "b", "c", " ", "Ġ", "Ġa"} {
		tokens = append(tokens, s)
		types = append(types, 1)
	}
	types[0], types[1] = 3, 3
	meta := map[string]any{"general.architecture": "llama", "llama.block_count": uint32(1), "llama.embedding_length": uint32(8),
		"llama.feed_forward_length": uint32(16), "llama.attention.head_count": uint32(2), "llama.attention.head_count_kv": uint32(1),
		"llama.context_length": uint32(16), "llama.rope.freq_base": float32(10000), "llama.attention.layer_norm_rms_epsilon": float32(1e-5),
		"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2", "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.token_type": types,
		"tokenizer.ggml.merges": []string{"Ġ a"}, "tokenizer.ggml.eos_token_id": uint32(1)}
	ts := []ggufTensor{{"token_embd.weight", []uint64{8, 8}, 0}, {"output_norm.weight", []uint64{8}, 0},
		{"blk.0.attn_norm.weight", []uint64{8}, 0}, {"blk.0.ffn_norm.weight", []uint64{8}, 0},
		{"blk.0.attn_q.weight", []uint64{8, 8}, 0}, {"blk.0.attn_k.weight", []uint64{8, 4}, 0}, {"blk.0.attn_v.weight", []uint64{8, 4}, 0},
		{"blk.0.attn_output.weight", []uint64{8, 8}, 0}, {"blk.0.ffn_gate.weight", []uint64{8, 16}, 0},
		{"blk.0.ffn_up.weight", []uint64{8, 16}, 0}, {"blk.0.ffn_down.weight", []uint64{16, 8}, 0}}
	if edit != nil {
		ts = edit(meta, ts)
	}
	return writeGGUF(t, dir, name, meta, ts)
}

// qwen2Copy copies the transformers-written tiny Qwen2 (pretrained/testdata/decoders/qwen2-tiny) into dir,
// letting edit change its config.json and tokenizer.json.
func qwen2Copy(t *testing.T, dir string, edit func(cfg, tok map[string]any)) string {
	t.Helper()
	src := "../../pretrained/testdata/decoders/qwen2-tiny"
	out := filepath.Join(dir, "qwen2")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	docs := map[string]map[string]any{}
	for _, f := range []string{"config.json", "tokenizer.json"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		docs[f] = m
	}
	edit(docs["config.json"], docs["tokenizer.json"])
	for f, m := range docs {
		data, _ := json.Marshal(m)
		if err := os.WriteFile(filepath.Join(out, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w, err := os.ReadFile(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "model.safetensors"), w, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}
