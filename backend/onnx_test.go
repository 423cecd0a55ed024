//go:build onnx

package backend

import (
	"path/filepath"
	"strings"
	"testing"
)

// Without a library named, the onnx backend is refused with the install step — it never downloads one.
func TestONNXNeedsANamedLibrary(t *testing.T) {
	t.Setenv(EnvONNXLibrary, "")
	if _, err := create("onnx:cpu"); err == nil || !strings.Contains(err.Error(), EnvONNXLibrary) {
		t.Errorf("no library: err = %v, want one naming %s", err, EnvONNXLibrary)
	}
	missing := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	t.Setenv(EnvONNXLibrary, missing)
	if _, err := create("onnx:cpu"); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing library: err = %v, want one naming %s", err, missing)
	}
	if _, err := create("onnx:" + missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing library in the configuration: err = %v", err)
	}
}

// An ONNX Runtime backend comes wrapped, so identity transposes do not run as copies.
func TestONNXBackendDropsIdentityTransposes(t *testing.T) {
	if name := strings.Split(Name(), ":")[0]; name != "onnx" && name != "onnxruntime" {
		t.Skipf("backend %q: run with GOMLX_BACKEND=onnx:cpu", Name())
	}
	if _, ok := MustNew().(*ortBackend); !ok {
		t.Errorf("the ONNX Runtime backend is %T, want it wrapped by forONNXRuntime", MustNew())
	}
}
