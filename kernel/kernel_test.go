package kernel

import (
	"encoding/json"
	"fmt"
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

// Every executed notebook rendered to HTML, opened in headless Chromium, draws each of its charts whole —
// what echarts drew is as high as the chart's container and no frame or scrolling box cuts it — carries
// echarts once, and shows no error text; the notebooks with charts show them, in colour.
// MTLORA_NOTEBOOK_HTML names the runner's output directory.
func TestRenderedNotebooksShowChartsWhole(t *testing.T) {
	dir := os.Getenv("MTLORA_NOTEBOOK_HTML")
	if dir == "" {
		if os.Getenv("MTLORA_REQUIRE_NOTEBOOKS") == "1" {
			t.Fatal("MTLORA_NOTEBOOK_HTML is not set")
		}
		t.Skip("set MTLORA_NOTEBOOK_HTML to the output of scripts/run_notebooks.py")
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "*.html"))
	if len(pages) < 6 {
		t.Fatalf("%d rendered notebooks in %s, expected every notebook", len(pages), dir)
	}
	withCharts := map[string]int{"01-tutorial": 15, "02-interference": 10, "03-ablation-sweep": 3, "04-paper-figures": 50} // at least (02: the synthetic analyses; MiniLM adds 25)
	for _, page := range pages {
		name := strings.TrimSuffix(filepath.Base(page), ".html")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(page)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(data), "window.define = undefined"); n > 1 {
				t.Errorf("echarts is in the page %d times: load it once", n)
			}
			if nb, err := os.Stat(strings.TrimSuffix(page, ".html") + ".ipynb"); err == nil && nb.Size() > 2<<20 {
				t.Errorf("the executed notebook weighs %.1f MB", float64(nb.Size())/(1<<20))
			}
			m, err := plots.Measure(page, 1200)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Charts) < withCharts[name] {
				t.Errorf("%d charts drawn, expected at least %d", len(m.Charts), withCharts[name])
			}
			for i, c := range m.Charts {
				if c.Container < 100 || c.Drawn != c.Container || c.Visible != c.Container {
					t.Errorf("chart %d not whole: container %.0f px, drawn %.0f px, visible %.0f px", i, c.Container, c.Drawn, c.Visible)
				}
			}
			for _, bad := range []string{"panic:", "goroutine ", "Traceback (most recent call last)", "ReferenceError", "This chart needs echarts"} {
				if i := strings.Index(m.Text, bad); i >= 0 {
					t.Errorf("error text in the page: …%s…", m.Text[max(0, i-200):min(len(m.Text), i+200)])
				}
			}
			if withCharts[name] == 0 {
				return
			}
			shot := filepath.Join(t.TempDir(), "nb.png")
			if err := plots.Screenshot(page, shot, 1200, 0); err != nil {
				t.Fatal(err)
			}
			if coloured := colouredPixels(t, shot); coloured < 2000 {
				t.Errorf("no drawn charts in the screenshot (%d strongly coloured pixels)", coloured)
			}
		})
	}
}

// colouredPixels counts strongly coloured pixels of a PNG, every other row and column: the charts' task
// colours and heatmap cells, not the page's greys.
func colouredPixels(t *testing.T, path string) int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
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
	return coloured
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

// The committed notebooks are byte for byte what Jupyter would save (nbformat's own writer), and carry the
// language_info the kernel reports when it starts (checked against the executed copies when
// MTLORA_NOTEBOOK_HTML holds them): opening one changes nothing, so it opens without unsaved changes.
func TestNotebooksAreAsJupyterSavesThem(t *testing.T) {
	root := requireNotebooks(t)
	script := `import glob, json, sys, nbformat
for p in sorted(glob.glob(sys.argv[1] + "/notebooks/*.ipynb")):
    raw = open(p, encoding="utf-8").read()
    if nbformat.writes(nbformat.read(p, as_version=4)) + "\n" != raw:
        print("not as nbformat writes it:", p)
print("checked")`
	out, err := exec.Command("/usr/bin/python3", "-c", script, root).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "checked" {
		t.Errorf("%s%v", out, err)
	}
	dir := os.Getenv("MTLORA_NOTEBOOK_HTML")
	if dir == "" {
		return
	}
	executed, _ := filepath.Glob(filepath.Join(dir, "*.ipynb"))
	for _, e := range executed {
		var ran, committed struct {
			Metadata struct {
				LanguageInfo map[string]string `json:"language_info"`
			} `json:"metadata"`
		}
		data, _ := os.ReadFile(e)
		json.Unmarshal(data, &ran)
		data, err := os.ReadFile(filepath.Join(root, "notebooks", filepath.Base(e)))
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(data, &committed)
		if fmt.Sprint(ran.Metadata.LanguageInfo) != fmt.Sprint(committed.Metadata.LanguageInfo) {
			t.Errorf("%s: language_info %v, the kernel reports %v", filepath.Base(e), committed.Metadata.LanguageInfo, ran.Metadata.LanguageInfo)
		}
	}
}
