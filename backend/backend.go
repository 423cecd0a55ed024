// Package backend chooses the GoMLX compute backend for every mtlora program.
//
// The pure-Go backend (github.com/gomlx/compute/gobackend, SIMD-accelerated on amd64 when built with
// GOEXPERIMENT=simd) is compiled in always and is the default: it needs no setup.
//
// XLA (CPU or GPU through a PJRT plugin) is compiled in only with the build tag "xla" and used when the
// environment variable GOMLX_BACKEND selects it, e.g.
//
//	GOMLX_BACKEND=xla:cpu go run -tags xla ./cmd/mtlora demo
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

// Name returns the backend configuration New will use: $GOMLX_BACKEND if set, otherwise "go".
func Name() string {
	if cfg, ok := os.LookupEnv(compute.ConfigEnvVar); ok && cfg != "" {
		return cfg
	}
	return gobackend.BackendName
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
// (see EnvAllowSlow), and when GOMLX_BACKEND names a backend that is not compiled in (XLA needs -tags xla
// and its PJRT plugin installed).
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
			hint = "; XLA is compiled in only with `-tags xla` and needs its PJRT plugin installed (see environment.md)"
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
