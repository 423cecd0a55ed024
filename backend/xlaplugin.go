package backend

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/mtlora/mtlora/internal/cache"
	"github.com/mtlora/mtlora/internal/pypi"
)

// XLACPU is the XLA CPU PJRT plugin the toolkit installs by name: libpjrt_cpu.so, an unmodified XLA CPU build
// (it exports GetPjrtApi) shipped in the PyPI wheel fastatomstruct-xla-cpu 2026.6.23 (Apache-2.0,
// linux/amd64, 63 MB; the library is 274 MB). It is installed as pjrt_c_api_cpu_plugin.so, the name go-xla
// looks for, in $MTLORA_CACHE/xla/<version>/, and checked against the SHA-256 pinned here.
var XLACPU = xlaPlugin{
	Package: pypi.Package{Name: "fastatomstruct-xla-cpu", Version: "2026.6.23", Size: "63 MB"},
	Member:  "fastatomstruct_xla_cpu/libpjrt_cpu.so",
	SHA256:  "0a0fe56ca17be9efc7b942e89e534e5e0ad4a0f1e369b66d27b62184509015b9",
	File:    "pjrt_c_api_cpu_plugin.so",
	License: "Apache-2.0",
}

type xlaPlugin struct {
	Package pypi.Package
	Member  string // the library's path inside the wheel
	SHA256  string // of the library (hex)
	File    string // the name go-xla expects
	License string
}

// Dir is where the plugin is (or would be) installed.
func (p xlaPlugin) Dir() (string, error) { return cache.Dir("xla", p.Package.Version) }

// Path returns the installed plugin's path, or an error saying how to install it.
func (p xlaPlugin) Path() (string, error) {
	dir, err := p.Dir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, p.File)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("backend: the XLA CPU plugin is not installed (%s): run `mtlora fetch-assets -xla`", path)
	}
	return path, nil
}

// Fetch installs the plugin unless it is there and returns its path: from wheel when not empty (a file
// downloaded by hand), else downloaded by name with pip. The library must match RECORD and the pinned SHA-256.
func (p xlaPlugin) Fetch(wheel string, log io.Writer) (string, error) {
	if path, err := p.Path(); err == nil {
		return path, nil
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return "", fmt.Errorf("backend: %s ships the XLA CPU plugin for linux/amd64 only, not %s/%s: install a PJRT plugin "+
			"for this platform and set PJRT_PLUGIN_LIBRARY_PATH (environment.md)", p.Package, runtime.GOOS, runtime.GOARCH)
	}
	dir, err := p.Dir()
	if err != nil {
		return "", err
	}
	if wheel == "" {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return "", err
		}
		dl, err := os.MkdirTemp(filepath.Dir(dir), ".download-*")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(dl)
		if wheel, err = p.Package.Download(dl, log); err != nil {
			return "", err
		}
	}
	member := filepath.Base(p.Member)
	if _, err := pypi.Extract(wheel, filepath.Dir(p.Member), dir, map[string]string{member: p.SHA256}, map[string]string{member: p.File}); err != nil {
		return "", err
	}
	return filepath.Join(dir, p.File), nil
}
