package plots

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-echarts/go-echarts/v2/render"
)

func requireECharts(t *testing.T) {
	t.Helper()
	if _, err := EChartsJS(); err != nil {
		if os.Getenv("MTLORA_REQUIRE_DATA") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

const evil = `<script>alert(1)</script>`

// allCharts is one chart of every kind, with a task named like a script tag.
func allCharts() []render.Renderer {
	tasks := []string{"spam", evil, "afinn"}
	return []render.Renderer{
		Lines("Loss per task", "read: "+evil, "step", "loss", []int{0, 10, 20}, []Series{{Name: tasks[0], Y: []float64{1, 0.5, 0.3}, Std: []float64{0.1, 0.05, 0.02}}, {Name: tasks[1], Y: []float64{1.2, 0.9, 0.8}}, {Name: tasks[2], Y: []float64{0.9, 0.4, 0.2}}}),
		Heatmap("Gradient cosine", "between tasks", tasks, tasks, [][]float64{{1, -0.5, 0.2}, {-0.5, 1, 0}, {0.2, 0, 1}}, -1, 1),
		Ablation("Mean score", "score", []MeanStd{{"lora", 0.62, 0.01}, {evil, 0.64, 0.02}}, Level{"chance", 0.5}, Level{evil, 0.55}),
		Scatter("Features", "PCA", "PC", tasks, [][2]float64{{0, 0}, {1, 1}, {2, 0}, {0.5, 2}}, []int{0, 1, 2, 1}),
		Bars("Mixing weights", "per task", "weight", []string{"B1", "B2"}, []Series{{Name: tasks[0], Y: []float64{0.7, 0.3}}, {Name: tasks[1], Y: []float64{0.2, 0.8}}}),
	}
}

// Labels from data are escaped: a task named <script>alert(1)</script> appears nowhere as markup.
func TestLabelsEscaped(t *testing.T) {
	requireECharts(t)
	page, err := Page{Title: "Report " + evil, Intro: "tasks: " + evil, Charts: allCharts(), Notes: []string{evil}}.HTML()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(page, []byte(evil)) {
		i := bytes.Index(page, []byte(evil))
		t.Fatalf("unescaped label in the page: …%s…", page[max(0, i-80):i+len(evil)])
	}
	if !bytes.Contains(page, []byte(`\u003cscript\u003ealert(1)\u003c/script\u003e`)) && !bytes.Contains(page, []byte("&lt;script&gt;")) {
		t.Errorf("the label is missing altogether")
	}
}

// A real browser draws every chart type: headless Chromium renders the page, and the screenshot is far
// from blank (many non-white pixels, several colours).
func TestChromiumRendersCharts(t *testing.T) {
	requireBrowser(t)
	dir := t.TempDir()
	htmlPath := filepath.Join(dir, "page.html")
	if err := (Page{Title: "All chart kinds", Charts: allCharts()}).WriteHTML(htmlPath); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "page.png")
	if err := Screenshot(htmlPath, shot, 1000, 0); err != nil { // the page's own height
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
	b := img.Bounds()
	nonWhite := 0
	colours := map[[3]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xF000 || g < 0xF000 || bl < 0xF000 {
				nonWhite++
				colours[[3]uint32{r >> 12, g >> 12, bl >> 12}] = true
			}
		}
	}
	total := (b.Dx() / 2) * (b.Dy() / 2)
	t.Logf("%d×%d screenshot: %.1f%% non-white pixels, %d colours", b.Dx(), b.Dy(), 100*float64(nonWhite)/float64(total), len(colours))
	if float64(nonWhite) < 0.02*float64(total) || len(colours) < 20 {
		t.Errorf("the page looks blank: %d non-white pixels of %d, %d colours", nonWhite, total, len(colours))
	}
	if os.Getenv("MTLORA_KEEP_SCREENSHOT") != "" {
		data, _ := os.ReadFile(shot)
		os.WriteFile(os.Getenv("MTLORA_KEEP_SCREENSHOT"), data, 0o644)
	}
}

// A table wider than the window widens the screenshot to hold it; a page that fits keeps the width asked for.
func TestScreenshotHoldsAWideTable(t *testing.T) {
	requireBrowser(t)
	dir := t.TempDir()
	wide := Table{Title: "wide", Header: []string{"configuration"}, Rows: [][]string{{"mtl-lora r=4 lambda=diagonal"}}}
	for i := range 24 {
		wide.Header = append(wide.Header, fmt.Sprintf("a long column header %d", i))
		wide.Rows[0] = append(wide.Rows[0], "+0.0405 ± 0.1690 (24 pairs)")
	}
	for _, c := range []struct {
		page  Page
		wider bool
	}{{Page{Title: "narrow", Tables: []Table{{Title: "t", Header: []string{"a"}, Rows: [][]string{{"1"}}}}}, false}, {Page{Title: "wide", Tables: []Table{wide}}, true}} {
		htmlPath, shot := filepath.Join(dir, c.page.Title+".html"), filepath.Join(dir, c.page.Title+".png")
		if err := c.page.WriteHTML(htmlPath); err != nil {
			t.Fatal(err)
		}
		if err := Screenshot(htmlPath, shot, 600, 0); err != nil {
			t.Fatal(err)
		}
		m, err := Measure(htmlPath, 600)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(shot)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if c.wider && (m.Width <= 600 || cfg.Width != m.Width) || !c.wider && cfg.Width != 600 {
			t.Errorf("%s page: screenshot %d px wide, the page %d px at a 600 px window", c.page.Title, cfg.Width, m.Width)
		}
	}
}

// Measure sees every chart whole on a page, and sees the ones a fixed-height frame cuts: the check the
// rendered notebooks go through.
func TestMeasureChartsWholeOrCut(t *testing.T) {
	requireBrowser(t)
	dir := t.TempDir()
	page := Page{Title: "whole", Charts: allCharts()}
	whole := filepath.Join(dir, "whole.html")
	if err := page.WriteHTML(whole); err != nil {
		t.Fatal(err)
	}
	m, err := Measure(whole, 1000)
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, c := range m.Charts {
		total += c.Container
	}
	if len(m.Charts) != len(allCharts()) || float64(m.Height) < total {
		t.Fatalf("measured %d charts (%.0f px together) on a page %d px high", len(m.Charts), total, m.Height)
	}
	for i, c := range m.Charts {
		if c.Container < 250 || c.Drawn != c.Container || c.Visible != c.Container || c.Width < 800 {
			t.Errorf("chart %d: %+v, want drawn and visible to be the container's height", i, c)
		}
	}
	// The same charts in a 600 px frame that hides its overflow: all but the first are cut.
	body, err := page.Body()
	if err != nil {
		t.Fatal(err)
	}
	js, err := EChartsScript()
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.html")
	os.WriteFile(cut, []byte("<html><head>"+js+"</head><body><div style=\"height:600px;overflow:hidden\">"+body+"</div></body></html>"), 0o644)
	if m, err = Measure(cut, 1000); err != nil {
		t.Fatal(err)
	}
	clipped := 0
	for _, c := range m.Charts {
		if c.Visible < c.Container {
			clipped++
		}
	}
	if clipped < len(m.Charts)-1 {
		t.Errorf("%d of %d charts seen as cut in a 600 px frame: %+v", clipped, len(m.Charts), m.Charts)
	}
}

// requireBrowser skips without echarts.min.js or Chromium (fails with MTLORA_REQUIRE_BROWSER=1).
func requireBrowser(t *testing.T) {
	t.Helper()
	requireECharts(t)
	if _, err := Chromium(); err != nil {
		if os.Getenv("MTLORA_REQUIRE_BROWSER") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// Each chart exports as a standalone SVG that an XML parser reads, with its text as text.
func TestWriteSVGs(t *testing.T) {
	requireBrowser(t)
	dir := t.TempDir()
	charts := allCharts()
	paths, err := Page{Title: "svg", Charts: charts}.WriteSVGs(dir, "figure", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != len(charts) {
		t.Fatalf("%d SVG files for %d charts", len(paths), len(charts))
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			XMLName xml.Name
			Width   string `xml:"width,attr"`
		}
		if err := xml.Unmarshal(data, &doc); err != nil || doc.XMLName.Local != "svg" {
			t.Fatalf("%s: not an SVG document (%v): %.200s", p, err, data)
		}
		if !bytes.Contains(data, []byte("<text")) || bytes.Count(data, []byte("<path")) < 3 {
			t.Errorf("%s: no text or shapes drawn", p)
		}
	}
	if data, _ := os.ReadFile(paths[0]); !bytes.Contains(data, []byte("Loss per task")) {
		t.Errorf("the first chart's title is not text in its SVG")
	}
}

// An ablation's levels are drawn as named lines inside the y axis (ECharts' markLines do not widen it), and
// one seed each is said, not drawn as a box of no height.
func TestAblationLevels(t *testing.T) {
	body, err := Page{Charts: []render.Renderer{Ablation("Mean score", "score", []MeanStd{{"a", 0.51, 0}, {"b", 0.52, 0}}, Level{"chance", 0.43}, Level{"majority answer", 0.46})}}.Body()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"name":"chance","yAxis":0.43`, `"name":"majority answer","yAxis":0.46`, `"min":0.42`, `"max":0.54`, `"minInterval":0.02`,
		"one seed each, its line is the score; dashed: chance, majority answer"} {
		if !strings.Contains(body, want) {
			t.Errorf("the chart lacks %s", want)
		}
	}
	if body, err = (Page{Charts: []render.Renderer{Ablation("Mean score", "score", []MeanStd{{"a", 0.5, 0.01}})}}).Body(); err != nil || strings.Contains(body, `"markLine"`) || strings.Contains(body, `"min"`) {
		t.Errorf("without levels: no lines and the axis ECharts picks: %v", err)
	}
}
