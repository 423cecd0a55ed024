package backend

import (
	"os"
	"path/filepath"
	"runtime"

	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
)

// Auto: the XLA CPU plugin when it is installed in the cache, else the pure-Go backend, saying why each time;
// GOMLX_BACKEND overrides; without XLA compiled in, the Go backend.
func TestAutoChoosesWhatIsInstalled(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "")
	t.Setenv("MTLORA_CACHE", t.TempDir())
	if !xlaCompiled {
		if Name() != "go" || !strings.Contains(Reason(), "cgo") {
			t.Errorf("without XLA: %s", Reason())
		}
		return
	}
	if hasPlugin("cpu") || hasPlugin("cuda") {
		t.Skipf("go-xla finds plugins outside the cache (%v): auto would pick them", xlaPlugins())
	}
	if Name() != "go" || !strings.Contains(Reason(), "fetch-assets -xla") {
		t.Errorf("nothing installed: %s", Reason())
	}
	dir, err := XLACPU.Dir()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	plugin := filepath.Join(dir, XLACPU.File)
	if err := os.WriteFile(plugin, []byte("a plugin"), 0o644); err != nil {
		t.Fatal(err)
	}
	if Name() != "xla:"+plugin || !strings.Contains(Reason(), "XLA on the CPU") {
		t.Errorf("plugin installed: %s", Reason())
	}
	t.Setenv("GOMLX_BACKEND", "go")
	if Name() != "go" || !strings.Contains(Reason(), "GOMLX_BACKEND") {
		t.Errorf("override: %s", Reason())
	}
	t.Setenv("GOMLX_BACKEND", "auto")
	if Name() != "xla:"+plugin {
		t.Errorf("GOMLX_BACKEND=auto: %s", Reason())
	}
}

// The project's test command builds with GOEXPERIMENT=simd; this fails loudly when it was dropped.
func TestBuiltWithSIMD(t *testing.T) {
	if runtime.GOARCH == "amd64" && !SIMD() {
		t.Fatalf("tests were built without GOEXPERIMENT=simd: %v", ErrSlowBuild)
	}
}

func TestXLANotCompiledInIsAClearError(t *testing.T) {
	if slices.Contains(compute.List(), "xla") {
		t.Skip("XLA is compiled in (a build with cgo)")
	}
	_, err := create("xla:cpu")
	if err == nil || !strings.Contains(err.Error(), "cgo") || !strings.Contains(err.Error(), "fetch-assets -xla") {
		t.Errorf("error does not tell how to enable XLA: %v", err)
	}
}

func TestONNXNotCompiledInIsAClearError(t *testing.T) {
	if slices.Contains(compute.List(), "onnx") {
		t.Skip("ONNX Runtime is compiled in (built with -tags onnx)")
	}
	_, err := create("onnx:cpu")
	if err == nil || !strings.Contains(err.Error(), "-tags onnx") || !strings.Contains(err.Error(), "fetch-assets -onnxruntime") {
		t.Errorf("error does not tell how to enable ONNX Runtime: %v", err)
	}
}

// A CUDA plugin is chosen only with an NVIDIA GPU present; without one, auto goes on to the CPU.
func TestAutoPicksTheGPUOnlyWhenThereIsOne(t *testing.T) {
	if !xlaCompiled {
		t.Skip("XLA is not compiled in")
	}
	t.Setenv("GOMLX_BACKEND", "")
	t.Setenv("MTLORA_CACHE", t.TempDir())
	plugins, gpu := xlaPlugins, hasNvidiaDevice
	defer func() { xlaPlugins, hasNvidiaDevice = plugins, gpu }()
	xlaPlugins = func() []string { return []string{"cuda_v0.5", "cpu"} }
	hasNvidiaDevice = func() bool { return true }
	if Name() != "xla:cuda" {
		t.Errorf("plugin and GPU: %s", Reason())
	}
	hasNvidiaDevice = func() bool { return false }
	if Name() != "xla:cpu" {
		t.Errorf("plugin without a GPU: %s", Reason())
	}
}
