package backend

import (
	"github.com/gomlx/compute"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestDefaultIsGoBackend(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "")
	if got := Name(); got != "go" {
		t.Errorf("Name() = %q, want the embedded default \"go\"", got)
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
		t.Skip("XLA is compiled in (built with -tags xla)")
	}
	_, err := create("xla:cpu")
	if !strings.Contains(err.Error(), "-tags xla") || !strings.Contains(err.Error(), "environment.md") {
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
