package perf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A stand-in for torch_bench.py --serve (the protocol only; the real script needs torch): it answers
// "minilm lora train step" with 0.25 s and anything else with an error line.
const fakeServer = `echo "ready 9.9.9 $2"
while read -r name; do
  if [ "$name" = "minilm lora train step" ]; then echo 0.25; else echo "error: unknown case '$name'"; fi
done
`

func TestTorchServerProtocol(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "serve.sh")
	if err := os.WriteFile(script, []byte(fakeServer), 0o644); err != nil {
		t.Fatal(err)
	}
	// StartTorch runs PYTHON SCRIPT MODEL_DIR THREADS --serve: here sh serve.sh MODEL 3 --serve.
	tr, err := StartTorch("/bin/sh", script, "MODEL", "", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.Version != "9.9.9" || tr.Threads != 3 {
		t.Errorf("ready line read as version %q, %d threads", tr.Version, tr.Threads)
	}
	if s, err := tr.Run("minilm lora train step"); err != nil || s != 0.25 {
		t.Errorf("Run = %v, %v; want 0.25 s", s, err)
	}
	if _, err := tr.Run("minilm base backward"); err == nil || !strings.Contains(err.Error(), "minilm base backward") {
		t.Errorf("an unknown case: err = %v, want one naming it", err)
	}

	noop := func() (func() error, func(), error) { return func() error { return nil }, func() {}, nil }
	ours := []Case{{Name: "minilm lora train step", Group: "minilm", FLOPs: 1, Setup: noop}, {Name: "minilm mtl-lora merged forward", Group: "minilm", Setup: noop}}
	theirs := tr.Cases(ours)
	if len(theirs) != 1 || theirs[0].Name != "torch minilm lora train step" || theirs[0].Group != "minilm" {
		t.Fatalf("PyTorch cases %+v, want only its counterpart of the train step", theirs)
	}
	results, err := Measure(append(ours, theirs...), 2)
	if err != nil {
		t.Fatal(err)
	}
	// Measure timed the request (0.25 s is what the fake reports, not how long it took).
	kept, ref := LiveReference(results, tr)
	if len(kept) != 2 || ref.Seconds["minilm lora train step"] <= 0 || ref.Torch != "9.9.9" {
		t.Errorf("LiveReference kept %d results, reference %+v", len(kept), ref)
	}
}

// A server that exits before it is ready is an error naming the script.
func TestTorchServerThatDies(t *testing.T) {
	script := filepath.Join(t.TempDir(), "dies.sh")
	if err := os.WriteFile(script, []byte("exit 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := StartTorch("/bin/sh", script, "MODEL", "", 2); err == nil || !strings.Contains(err.Error(), script) {
		t.Errorf("err = %v, want one naming %s", err, script)
	}
}
