package plots

import (
	"bytes"
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
		Lines("Loss per task", "step", "loss", []int{0, 10, 20}, []Series{{tasks[0], []float64{1, 0.5, 0.3}}, {tasks[1], []float64{1.2, 0.9, 0.8}}, {tasks[2], []float64{0.9, 0.4, 0.2}}}),
		Heatmap("Gradient cosine", "between tasks", tasks, tasks, [][]float64{{1, -0.5, 0.2}, {-0.5, 1, 0}, {0.2, 0, 1}}, -1, 1),
		Ablation("Mean score", "score", []MeanStd{{"lora", 0.62, 0.01}, {evil, 0.64, 0.02}}),
		Scatter("Features", "PCA", tasks, [][2]float64{{0, 0}, {1, 1}, {2, 0}, {0.5, 2}}, []int{0, 1, 2, 1}),
		Bars("Mixing weights", "weight", []string{"B1", "B2"}, []Series{{tasks[0], []float64{0.7, 0.3}}, {tasks[1], []float64{0.2, 0.8}}}),
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
	if strings.Contains(IFrame(page, 400), "<script>alert") {
		t.Errorf("the iframe srcdoc is not escaped")
	}
}

// A real browser draws every chart type: headless Chromium renders the page, and the screenshot is far
// from blank (many non-white pixels, several colours).
func TestChromiumRendersCharts(t *testing.T) {
	requireECharts(t)
	if _, err := Chromium(); err != nil {
		if os.Getenv("MTLORA_REQUIRE_BROWSER") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	htmlPath := filepath.Join(dir, "page.html")
	if err := (Page{Title: "All chart kinds", Charts: allCharts()}).WriteHTML(htmlPath); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "page.png")
	if err := Screenshot(htmlPath, shot, 1000, 2400); err != nil {
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
