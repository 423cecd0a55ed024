//go:build onnx

package backend

import (
	"fmt"
	"os"
	"strings"

	onnxbackend "github.com/gomlx/compute-onnx"
)

// EnvONNXLibrary is compute-onnx's variable naming the ONNX Runtime shared library to load.
const EnvONNXLibrary = "ONNXRUNTIME_SHARED_LIBRARY_PATH"

// With -tags onnx, ONNX Runtime is compiled in. It never downloads its shared library by itself (compute-onnx
// would fetch one from GitHub at first use): the library must be named, by EnvONNXLibrary or by a path in
// the backend configuration (GOMLX_BACKEND=onnx:/path/libonnxruntime.so.1); `mtlora fetch-assets
// -onnxruntime` installs the one from the npm package onnxruntime-node.
func init() {
	onnxbackend.EnableAutoInstall(false)
	check := func(cfg string) error {
		_, opts, _ := strings.Cut(cfg, ":")
		for _, o := range strings.Split(opts, ",") {
			if strings.Contains(o, "/") {
				return libraryExists(o, "the path in "+cfg)
			}
		}
		p := os.Getenv(EnvONNXLibrary)
		if p == "" {
			return fmt.Errorf("backend: %s selects ONNX Runtime, but %s is not set: run `mtlora fetch-assets -onnxruntime` and export the line it prints (this toolkit never downloads it by itself)", cfg, EnvONNXLibrary)
		}
		return libraryExists(p, EnvONNXLibrary)
	}
	checks["onnx"], checks["onnxruntime"] = check, check
	wraps["onnx"], wraps["onnxruntime"] = forONNXRuntime, forONNXRuntime
}

func libraryExists(path, from string) error {
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		return fmt.Errorf("backend: ONNX Runtime library %q (from %s) is not a file: run `mtlora fetch-assets -onnxruntime`", path, from)
	}
	return nil
}
