// Package kernel is the one package that knows GoNB (github.com/janpfeifer/gonb v0.11.5): it installs GoNB
// and its tools at pinned versions, registers a Jupyter kernel of the project's own ("Go (mtlora)") whose
// environment carries what the project needs, and displays charts, tables, adapter summaries and live
// training dashboards inside notebook cells. Notebooks call it; nothing else in the module imports GoNB.
package kernel

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mtlora/mtlora/internal/cache"
)

// KernelName is the name of the kernelspec Install writes; notebooks name it in their metadata.
const KernelName = "mtlora"

// InstallOptions say where things go. Zero values pick the defaults.
type InstallOptions struct {
	Root      string    // the project's root (holds go.mod and tools/); default: found from the working directory
	BinDir    string    // where gonb, goimports and gopls are built; default $MTLORA_CACHE/gonb/bin (user cache)
	DataDir   string    // Jupyter data directory; default $JUPYTER_DATA_DIR, else ~/.local/share/jupyter
	RawErrors bool      // plain-text compile errors (for headless runs)
	Log       io.Writer // progress; default os.Stderr
}

// Toolchain is the environment every go command of the kernel runs with.
var Toolchain = map[string]string{"GOTOOLCHAIN": "go1.27.3", "GOEXPERIMENT": "simd"}

// ProjectRoot walks up from dir to the directory holding the project's go.mod.
func ProjectRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/mtlora/mtlora\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("kernel: no mtlora go.mod above %s: run from the project's checkout", dir)
		}
	}
}

func (o *InstallOptions) defaults() error {
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if o.Root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		if o.Root, err = ProjectRoot(wd); err != nil {
			return err
		}
	}
	if o.BinDir == "" {
		d, err := cache.Dir("gonb", "bin")
		if err != nil {
			return err
		}
		o.BinDir = d
	}
	if o.DataDir == "" {
		o.DataDir = os.Getenv("JUPYTER_DATA_DIR")
	}
	if o.DataDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return err
		}
		o.DataDir = filepath.Join(home, ".local", "share", "jupyter")
	}
	return nil
}

// Install builds GoNB, goimports and gopls at the versions pinned by the tools modules tools/gonb and
// tools/gopls (`go install pkg@version` cannot work here: the proxy refuses version lists) and writes the
// kernelspec DataDir/kernels/mtlora/kernel.json. It returns the kernelspec's directory.
func Install(opts InstallOptions) (string, error) {
	if err := opts.defaults(); err != nil {
		return "", err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("kernel: the go command is not on PATH: install Go ≥ 1.21 (GOTOOLCHAIN fetches 1.27.3)")
	}
	if err := os.MkdirAll(opts.BinDir, 0o755); err != nil {
		return "", err
	}
	for _, tool := range []string{"gonb", "gopls"} {
		if _, err := os.Stat(filepath.Join(opts.BinDir, tool)); err == nil {
			continue
		}
		fmt.Fprintf(opts.Log, "building the pinned %s tools (tools/%s) into %s …\n", tool, tool, opts.BinDir)
		cmd := exec.Command(goBin, "install", "tool")
		cmd.Dir = filepath.Join(opts.Root, "tools", tool)
		cmd.Env = append(os.Environ(), "GOBIN="+opts.BinDir, "GOTOOLCHAIN="+Toolchain["GOTOOLCHAIN"])
		cmd.Stdout, cmd.Stderr = opts.Log, opts.Log
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("kernel: building tools/%s: %w", tool, err)
		}
	}
	env := map[string]string{
		// goimports and gopls first; then the go command's own directory and the rest of PATH.
		"PATH": opts.BinDir + string(os.PathListSeparator) + filepath.Dir(goBin) + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
	for k, v := range Toolchain {
		env[k] = v
	}
	for _, k := range []string{"GOMLX_BACKEND", "MTLORA_CACHE", "GOPATH", "GOMODCACHE", "GOCACHE", "HOME"} {
		if v := os.Getenv(k); v != "" {
			env[k] = v
		}
	}
	spec := map[string]any{
		"argv": []string{filepath.Join(opts.BinDir, "gonb"), "--kernel", "{connection_file}", "-logtostderr=true",
			fmt.Sprintf("-raw_error=%v", opts.RawErrors)},
		"display_name": "Go (mtlora)", "language": "go", "interrupt_mode": "message", "env": env,
	}
	dir := filepath.Join(opts.DataDir, "kernels", KernelName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	data, _ := json.MarshalIndent(spec, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "kernel.json"), data, 0o644); err != nil {
		return "", err
	}
	return dir, nil
}
