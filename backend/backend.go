// Package backend chooses the GoMLX compute backend for every mtlora program.
//
// The pure-Go backend (github.com/gomlx/compute/gobackend, SIMD-accelerated on amd64 when built with
// GOEXPERIMENT=simd) is compiled in always and is the default: it needs no setup.
//
// XLA (CPU or GPU through a PJRT plugin) is compiled into every build with cgo and chosen automatically
// when its plugin is installed (Auto; `mtlora fetch-assets -xla` installs the CPU one by package name).
// GOMLX_BACKEND overrides the choice: go, xla:cpu, xla:cuda, xla:/path/to/plugin.so.
//
// ONNX Runtime (github.com/gomlx/compute-onnx) likewise, with the build tag "onnx" and its shared library
// from `mtlora fetch-assets -onnxruntime`:
//
//	export ONNXRUNTIME_SHARED_LIBRARY_PATH=$(go run ./cmd/mtlora fetch-assets -onnxruntime | cut -d= -f2)
//	GOMLX_BACKEND=onnx:cpu go run -tags onnx ./cmd/mtlora bench
//
// Model code never chooses a backend: it receives one from New.
package backend

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
)

// EnvAllowSlow, when set to "1", lets New return the pure-Go backend even when the binary was built
// without GOEXPERIMENT=simd on amd64 (about 13× slower for training here).
const EnvAllowSlow = "MTLORA_ALLOW_SLOW"

// ErrSlowBuild is returned by New when the pure-Go backend would run without SIMD on amd64.
var ErrSlowBuild = fmt.Errorf("backend: built without GOEXPERIMENT=simd: the Go backend runs about 13× slower; " +
	"rebuild with `GOEXPERIMENT=simd GOTOOLCHAIN=go1.27.3 go build` (or set " + EnvAllowSlow + "=1 to run slowly anyway)")

// SIMD reports whether this binary was built with GOEXPERIMENT=simd (always true off amd64, where it does not apply).
func SIMD() bool { return simdBuild }

// Auto is the default backend setting (GOMLX_BACKEND unset or "auto"): XLA on a GPU when a CUDA PJRT plugin
// is installed and an NVIDIA GPU is present, else XLA on the CPU when its plugin is installed (`mtlora fetch-assets -xla`), else the
// pure-Go backend. XLA must be compiled in (builds with cgo).
const Auto = "auto"

var (
	xlaCompiled bool                             // set by xla.go
	xlaPlugins  = func() []string { return nil } // the plugins go-xla finds in its search paths
)

// XLACompiled reports whether XLA is compiled into this binary (builds with cgo).
func XLACompiled() bool { return xlaCompiled }

// Name returns the backend configuration New will use: $GOMLX_BACKEND if set (and not auto), otherwise
// what Auto picks on this machine.
func Name() string {
	cfg, _ := choose()
	return cfg
}

// Reason says in a sentence which backend New uses and why; every command prints it once.
func Reason() string {
	cfg, why := choose()
	return fmt.Sprintf("backend %s: %s", cfg, why)
}

// hasPlugin reports whether go-xla finds a plugin of that name (or a versioned one, cuda_v0.5) in its
// search paths (PJRT_PLUGIN_LIBRARY_PATH, ~/.local/lib/go-xla, /usr/local/lib/go-xla, the system's).
func hasPlugin(name string) bool {
	return slices.ContainsFunc(xlaPlugins(), func(p string) bool { return p == name || strings.HasPrefix(p, name+"_") })
}

// hasNvidiaDevice reports whether an NVIDIA GPU's device files exist (/dev/nvidia0, …), as go-xla's installer
// checks: a CUDA plugin without a GPU is not chosen.
var hasNvidiaDevice = func() bool {
	m, _ := filepath.Glob("/dev/nvidia[0-9]*")
	return len(m) > 0
}

// choose resolves the backend setting.
func choose() (cfg, why string) {
	if v, ok := os.LookupEnv(compute.ConfigEnvVar); ok && v != "" && v != Auto {
		return v, compute.ConfigEnvVar + " selects it"
	}
	if !xlaCompiled {
		return gobackend.BackendName, "the pure-Go backend (XLA is not compiled into this build: it needs cgo)"
	}
	if hasPlugin("cuda") && hasNvidiaDevice() {
		return "xla:cuda", "a CUDA PJRT plugin is installed and an NVIDIA GPU is present (" + compute.ConfigEnvVar + "=xla:cpu or go overrides)"
	}
	if path, err := XLACPU.Path(); err == nil {
		return "xla:" + path, "XLA on the CPU, its plugin installed by mtlora fetch-assets -xla (" + compute.ConfigEnvVar + "=go overrides)"
	}
	if hasPlugin("cpu") {
		return "xla:cpu", "XLA on the CPU, with the plugin go-xla finds (" + compute.ConfigEnvVar + "=go overrides)"
	}
	return gobackend.BackendName, "the pure-Go backend: no XLA plugin is installed (mtlora fetch-assets -xla installs the CPU one)"
}

// checks holds, per backend name, a check of its configuration run before creating it (onnx.go adds one).
var checks = map[string]func(cfg string) error{}

// wraps holds, per backend name, a wrapper applied to every backend of that name that create makes.
var wraps = map[string]func(compute.Backend) compute.Backend{}

var (
	shared    compute.Backend
	sharedErr error
	once      sync.Once
)

// New returns the process-wide backend selected by Name. The first call creates it; later calls return the
// same one (backends hold thread pools and device memory, so one per process is the norm).
//
// It fails, rather than run slowly, when the Go backend was built without GOEXPERIMENT=simd on amd64
// (see EnvAllowSlow), and when GOMLX_BACKEND names a backend that is not compiled in or not installed.
func New() (compute.Backend, error) {
	once.Do(func() { shared, sharedErr = create(Name()) })
	return shared, sharedErr
}

// MustNew is New for notebooks and examples: it panics on error.
func MustNew() compute.Backend {
	b, err := New()
	if err != nil {
		panic(err)
	}
	return b
}

func create(cfg string) (compute.Backend, error) {
	name, _, _ := strings.Cut(cfg, ":")
	if name == gobackend.BackendName && !simdBuild && os.Getenv(EnvAllowSlow) != "1" {
		return nil, ErrSlowBuild
	}
	available := compute.List()
	found := false
	for _, a := range available {
		found = found || a == name
	}
	if !found {
		hint := ""
		switch name {
		case "xla":
			hint = "; XLA is compiled in only in builds with cgo (a C compiler; not with -tags noxla) and needs its PJRT plugin (mtlora fetch-assets -xla)"
		case "onnx", "onnxruntime":
			hint = "; ONNX Runtime is compiled in only with `-tags onnx` and needs its shared library (mtlora fetch-assets -onnxruntime; see environment.md)"
		}
		return nil, fmt.Errorf("backend: %s=%q names backend %q, which is not compiled in (available: %s)%s",
			compute.ConfigEnvVar, cfg, name, strings.Join(available, ", "), hint)
	}
	if check := checks[name]; check != nil {
		if err := check(cfg); err != nil {
			return nil, err
		}
	}
	b, err := compute.NewWithConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("backend: creating %q: %w", cfg, err)
	}
	if wrap := wraps[name]; wrap != nil {
		b = wrap(b)
	}
	return b, nil
}
