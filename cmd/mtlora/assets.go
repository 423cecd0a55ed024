package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/mtlora/mtlora/backend"
	"github.com/mtlora/mtlora/internal/cache"
	"github.com/mtlora/mtlora/internal/npm"

	"github.com/mtlora/mtlora/plots"
)

// onnxRuntime is the npm package whose Linux shared library the optional ONNX Runtime backend loads
// (build tag onnx; environment.md). It is fetched only when asked for, never at run time.
var onnxRuntime = npm.Package{
	Name: "onnxruntime-node", Version: "1.30.0",
	Integrity: "sha512-twhs1C2C/BFkz1yc5OY0KIU2GUq6DURO7hD4bx5Q2Qy3nAMJwRXW8xU3NVczE29VA9lolLOYepoD8fjTGOfIqw==",
}

func runFetchAssets(args []string) error {
	fs := flag.NewFlagSet("fetch-assets", flag.ContinueOnError)
	tarball := fs.String("tarball", "", "use this `FILE` (the npm tarball of the package fetched) instead of running npm pack")
	ort := fs.Bool("onnxruntime", false, "fetch ONNX Runtime's shared library ("+onnxRuntime.String()+", MIT) for the optional onnx backend instead of echarts")
	xlaCPU := fs.Bool("xla", false, "install the XLA CPU plugin ("+backend.XLACPU.Package.String()+", "+backend.XLACPU.License+") instead of echarts; -tarball is then the wheel")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mtlora fetch-assets [-tarball FILE]
       mtlora fetch-assets -xla [-tarball WHEEL]
       mtlora fetch-assets -onnxruntime [-tarball FILE]

Fetches echarts.min.js from the npm package echarts@%s (SHA-512 checked) into the cache, so charts
render offline; prints its path.

With -xla it installs the XLA CPU PJRT plugin from the PyPI package %s (SHA-256 pinned) as
pjrt_c_api_cpu_plugin.so in the cache, where the backend finds it: from then on every command runs on XLA
(GOMLX_BACKEND=go selects the pure-Go backend). Prints the plugin's path.

With -onnxruntime it fetches libonnxruntime.so.1 from the npm package %s instead (SHA-512
checked; linux/amd64 and linux/arm64) for the optional ONNX Runtime backend, and prints the line that
selects it:  export ONNXRUNTIME_SHARED_LIBRARY_PATH=…  (build with -tags onnx; see environment.md).

Flags:
`, plots.ECharts.Version, backend.XLACPU.Package, onnxRuntime)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *xlaCPU {
		p, err := backend.XLACPU.Fetch(*tarball, os.Stderr)
		if err != nil {
			return err
		}
		fmt.Println(p)
		return nil
	}
	if *ort {
		p, err := fetchONNXRuntime(*tarball)
		if err != nil {
			return err
		}
		fmt.Printf("export ONNXRUNTIME_SHARED_LIBRARY_PATH=%s\n", p)
		return nil
	}
	p, err := plots.FetchECharts(*tarball, os.Stderr)
	if err != nil {
		return err
	}
	fmt.Println(p)
	return nil
}

// fetchONNXRuntime extracts the package's libonnxruntime.so.1 for this machine into
// $MTLORA_CACHE/onnxruntime/<version>/ and returns its path; the 110 MB tarball is not kept.
func fetchONNXRuntime(tarball string) (string, error) {
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	if runtime.GOOS != "linux" || arch == "" {
		return "", fmt.Errorf("%s ships libonnxruntime.so for linux/amd64 and linux/arm64 only, not %s/%s", onnxRuntime, runtime.GOOS, runtime.GOARCH)
	}
	dst, err := cache.Dir("onnxruntime", onnxRuntime.Version, "libonnxruntime.so.1")
	if err != nil {
		return "", err
	}
	return onnxRuntime.ExtractFile(dst, "package/bin/napi-v6/linux/"+arch+"/libonnxruntime.so.1", tarball, os.Stderr)
}
