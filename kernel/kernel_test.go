package kernel

import (
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtlora/mtlora/plots"
)

// requireNotebooks skips unless Jupyter and the mtlora kernel are installed (CI sets MTLORA_REQUIRE_NOTEBOOKS=1).
func requireNotebooks(t *testing.T) string {
	t.Helper()
	root, err := ProjectRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/python3", "-c", "import nbclient, nbconvert")
	if err := cmd.Run(); err != nil || os.Getenv("JUPYTER_DATA_DIR") == "" {
		if os.Getenv("MTLORA_REQUIRE_NOTEBOOKS") == "1" {
			t.Fatalf("nbclient/nbconvert or JUPYTER_DATA_DIR missing: %v", err)
		}
		t.Skip("needs Jupyter (nbclient, nbconvert) and the mtlora kernel: mtlora notebook -install-only")
	}
	return root
}

// A deliberately broken notebook fails the notebook runner (a compile error in a cell).
func TestBrokenNotebookFailsRunner(t *testing.T) {
	root := requireNotebooks(t)
	dir := t.TempDir()
	nb := map[string]any{"nbformat": 4, "nbformat_minor": 5,
		"metadata": map[string]any{"kernelspec": map[string]any{"name": KernelName, "display_name": "Go (mtlora)", "language": "go"}},
		"cells": []any{map[string]any{"cell_type": "code", "id": "broken", "metadata": map[string]any{}, "outputs": []any{}, "execution_count": nil,
			"source": "%%\nvar x int = \"not an int\"\n_ = x"}}}
	data, _ := json.Marshal(nb)
	path := filepath.Join(dir, "broken.ipynb")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/python3", filepath.Join(root, "scripts", "run_notebooks.py"), filepath.Join(dir, "out"), path)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the runner accepted a broken notebook:\n%s", out)
	}
	if !strings.Contains(string(out), "broken.ipynb: FAILED") {
		t.Errorf("the runner did not name the failing notebook:\n%s", out[max(0, len(out)-2000):])
	}
}

// An executed notebook rendered to HTML draws its charts offline in a real browser: headless Chromium's
// screenshot of 02-interference is far from blank. MTLORA_NOTEBOOK_HTML names the runner's output directory.
func TestRenderedNotebookDrawsCharts(t *testing.T) {
	dir := os.Getenv("MTLORA_NOTEBOOK_HTML")
	if dir == "" {
		if os.Getenv("MTLORA_REQUIRE_NOTEBOOKS") == "1" {
			t.Fatal("MTLORA_NOTEBOOK_HTML is not set")
		}
		t.Skip("set MTLORA_NOTEBOOK_HTML to the output of scripts/run_notebooks.py")
	}
	page := filepath.Join(dir, "02-interference.html")
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(html), "<iframe") < 2 || strings.Contains(string(html), "cdn.") && strings.Contains(string(html), "echarts.min.js\"") {
		t.Errorf("the rendered notebook should hold self-contained chart iframes")
	}
	shot := filepath.Join(t.TempDir(), "nb.png")
	if err := plots.Screenshot(page, shot, 1000, 3000); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// Chart colours: the heatmaps' red and blue cells (not the page's grey code cells).
	b := img.Bounds()
	coloured := 0
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if (r > 0x9000 && g < 0x5000 && bl < 0x5000) || (bl > 0x9000 && r < 0xA000 && bl > r+0x1800) {
				coloured++
			}
		}
	}
	t.Logf("%d strongly coloured pixels (of %d sampled)", coloured, (b.Dx()/2)*(b.Dy()/2))
	if coloured < 2000 {
		t.Errorf("no drawn charts in the rendered notebook (%d coloured pixels)", coloured)
	}
}

// In a live Jupyter server (not only headless), a notebook's first cell joins the project module and the
// next imports its packages: the server is started on notebooks/, a session is opened on the tutorial, and
// scripts/live_notebook_check.py executes cells over the kernel's websocket.
func TestLiveServerImportsProject(t *testing.T) {
	root := requireNotebooks(t)
	jupyter, err := exec.LookPath("jupyter")
	if err != nil {
		t.Skip("no jupyter command")
	}
	const port, token = "8911", "mtlora-test"
	args := []string{"notebook", "--no-browser", "--port=" + port, "--NotebookApp.token=" + token, "--notebook-dir=" + filepath.Join(root, "notebooks")}
	if os.Geteuid() == 0 {
		args = append(args, "--allow-root")
	}
	server := exec.Command(jupyter, args...)
	server.Dir = filepath.Join(root, "notebooks")
	logPath := filepath.Join(t.TempDir(), "server.log")
	logFile, _ := os.Create(logPath)
	server.Stdout, server.Stderr = logFile, logFile
	server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its kernels die with it
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-server.Process.Pid, syscall.SIGTERM); _ = server.Wait() }()
	var out []byte
	for attempt := range 30 { // wait for the server to listen
		check := exec.Command("/usr/bin/python3", filepath.Join(root, "scripts", "live_notebook_check.py"), "http://localhost:"+port, token)
		out, err = check.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Connection refused") || attempt == 29 {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("live check failed: %v\n%s\nserver log:\n%s", err, out, log[max(0, len(log)-1500):])
	}
	if !strings.Contains(string(out), "live: go1.27.3") {
		t.Errorf("unexpected output:\n%s", out)
	}
}
