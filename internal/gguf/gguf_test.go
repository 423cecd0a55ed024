package gguf

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A file written by gguf-py (scripts/reference/gguf_fixtures.py): every value type of the metadata reads
// back as written, and every tensor type dequantises to gguf-py's own values.
func TestReadsGGUFPyFile(t *testing.T) {
	f, err := Open("testdata/types.gguf")
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{
		"test.u8": uint64(200), "test.i8": int64(-100), "test.u16": uint64(60000), "test.i16": int64(-30000),
		"test.u32": uint64(4000000000), "test.i32": int64(-2000000000), "test.f32": float64(float32(0.1)),
		"test.bool": true, "test.string": "naïve café — 日本語", "test.u64": uint64(1<<63 + 5), "test.i64": int64(-(1 << 62)),
		"test.f64": 1e-300, "general.architecture": "llama",
	} {
		if got := f.Meta[key]; got != want {
			t.Errorf("%s: %#v, want %#v", key, got, want)
		}
	}
	if got, ok := f.Meta["test.strings"].([]string); !ok || strings.Join(got, "|") != "a||Ġb" {
		t.Errorf("test.strings: %#v", f.Meta["test.strings"])
	}
	if got, ok := f.Meta["test.ints"].([]int64); !ok || len(got) != 3 || got[1] != -2 {
		t.Errorf("test.ints: %#v", f.Meta["test.ints"])
	}
	data, err := os.ReadFile("testdata/types.json")
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Tensors map[string]struct {
			Type   string    `json:"type"`
			Shape  []int     `json:"shape"`
			Values []float64 `json:"values"`
		} `json:"tensors"`
	}
	if err := json.Unmarshal(data, &exp); err != nil {
		t.Fatal(err)
	}
	if len(exp.Tensors) != len(Supported()) {
		t.Fatalf("%d fixture tensors for %d supported types", len(exp.Tensors), len(Supported()))
	}
	for name, want := range exp.Tensors {
		tn, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("no tensor %s", name)
		}
		if tn.Type.String() != want.Type || len(tn.Shape) != 2 || tn.Shape[0] != want.Shape[0] || tn.Shape[1] != want.Shape[1] {
			t.Errorf("%s: %s %v, gguf-py wrote %s %v", name, tn.Type, tn.Shape, want.Type, want.Shape)
		}
		got, err := f.Read(tn)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want.Values {
			if g := float64(got[i]); g != w && math.Abs(g-w) > 1e-6*math.Abs(w) {
				t.Errorf("%s value %d: %v, gguf-py %v", name, i, g, w)
				break
			}
		}
	}
}

// Damage to the header is an error naming the file — never a panic, a huge allocation or a tensor read
// past the end: the file cut at every offset of its header and at points of its data, and every header
// word set to a huge length.
func TestDamagedFiles(t *testing.T) {
	good, err := os.ReadFile("testdata/types.gguf")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open("testdata/types.gguf")
	if err != nil {
		t.Fatal(err)
	}
	header := int(f.Tensors[0].Offset) // the data section starts at the first tensor
	dir := t.TempDir()
	try := func(what string, data []byte) {
		p := filepath.Join(dir, "x.gguf")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		g, err := Open(p)
		if err == nil {
			for _, tn := range g.Tensors {
				if _, rerr := g.Read(tn); rerr != nil {
					err = rerr
					break
				}
			}
		}
		if err != nil && (!errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), p)) {
			t.Errorf("%s: %v", what, err)
		}
		if err == nil && len(data) < len(good) {
			t.Errorf("%s: no error for a file cut short", what)
		}
	}
	for n := 0; n < len(good); n++ {
		if n < header || n%97 == 0 {
			try("cut", good[:n])
		}
	}
	for i := 0; i+8 <= header; i++ {
		bad := bytes.Clone(good)
		binary.LittleEndian.PutUint64(bad[i:], 1<<62)
		try("huge word", bad)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"not gguf", []byte("PK\x03\x04 a zip file, not gguf at all"), `not the magic "GGUF"`},
		{"version 9", append([]byte("GGUF"), 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), "version 9"},
		{"empty", nil, "runs past the end"},
	} {
		p := filepath.Join(dir, "f.gguf")
		os.WriteFile(p, tc.data, 0o644)
		if _, err := Open(p); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// An unsupported quantisation names itself and the types that are supported.
	f, err := Open("testdata/types.gguf")
	if err != nil {
		t.Fatal(err)
	}
	tn := f.Tensors[0]
	tn.Type = 12
	if _, err := f.Read(tn); err == nil || !strings.Contains(err.Error(), "Q4_K") || !strings.Contains(err.Error(), "Q8_0") {
		t.Errorf("unsupported type: %v", err)
	}
}

// SmolLM2's GGUF (MTLORA_LLM_FIXTURES: the folder where scripts/reference/gguf_fixtures.py wrote
// smollm2_tensors.json; MTLORA_SMOLLM2: the GGUF) dequantises to gguf-py's values: its Q8_0 token embedding,
// Q4_1 projections and float32 norms.
func TestSmolLM2Tensors(t *testing.T) {
	fix, gg := os.Getenv("MTLORA_LLM_FIXTURES"), os.Getenv("MTLORA_SMOLLM2")
	data, err := os.ReadFile(filepath.Join(fix, "smollm2_tensors.json"))
	if fix == "" || gg == "" || err != nil {
		if os.Getenv("MTLORA_REQUIRE_MODELS") == "1" {
			t.Fatalf("MTLORA_LLM_FIXTURES=%q MTLORA_SMOLLM2=%q: %v", fix, gg, err)
		}
		t.Skip("set MTLORA_LLM_FIXTURES and MTLORA_SMOLLM2 (see scripts/reference/gguf_fixtures.py)")
	}
	var exp map[string]struct {
		Type  string    `json:"type"`
		Shape []int     `json:"shape"`
		Sum   float64   `json:"sum"`
		First []float64 `json:"first"`
	}
	if err := json.Unmarshal(data, &exp); err != nil {
		t.Fatal(err)
	}
	f, err := Open(gg)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 272 || f.Meta["llama.block_count"] != uint64(30) {
		t.Errorf("%d tensors, %v blocks", len(f.Tensors), f.Meta["llama.block_count"])
	}
	for name, want := range exp {
		tn, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("no tensor %s", name)
		}
		v, err := f.Read(tn)
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for _, x := range v {
			sum += float64(x)
		}
		if tn.Type.String() != want.Type || math.Abs(sum-want.Sum) > 1e-6*math.Max(1, math.Abs(want.Sum)) {
			t.Errorf("%s: %s sum %v; gguf-py %s sum %v", name, tn.Type, sum, want.Type, want.Sum)
		}
		for i, w := range want.First {
			if float64(v[i]) != w {
				t.Errorf("%s value %d: %v, gguf-py %v", name, i, v[i], w)
			}
		}
	}
}
