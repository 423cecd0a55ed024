// Package plots draws the toolkit's charts with go-echarts (v2.7.2, for ECharts 5.4.3) so they render
// offline: pages embed echarts.min.js itself (fetched once from the npm package echarts@5.4.3 by
// FetchECharts, never from a CDN), every task keeps one colour across all charts, and every label that
// comes from data is escaped. A page exports as standalone HTML, and as PNG through headless Chromium.
package plots

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/mtlora/mtlora/internal/atomicfile"
	"github.com/mtlora/mtlora/internal/cache"
	"github.com/mtlora/mtlora/internal/npm"

	"github.com/go-echarts/go-echarts/v2/render"
)

// ECharts is the npm package whose dist/echarts.min.js the pages embed.
var ECharts = npm.Package{
	Name: "echarts", Version: "5.4.3", Integrity: "sha512-mYKxLxhzy6zyTi/FaEbJMOZU1ULGEQHaeIeuMR5L+JnJTpz+YR03mnnpBhbR4+UYJAgiXgpyTVLffPAjOTLkZA==",
}

// ErrNoECharts says echarts.min.js has not been fetched.
var ErrNoECharts = errors.New("plots: echarts.min.js is not fetched (run: go run ./cmd/mtlora fetch-assets)")

// AssetPath is where the fetched echarts.min.js lives: $MTLORA_CACHE/assets, default the user cache
// directory's mtlora/assets.
func AssetPath() (string, error) {
	return cache.Dir("assets", "echarts-"+ECharts.Version+".min.js")
}

// FetchECharts fetches the npm package echarts@5.4.3 with npm pack (or reads tarball, when given), checks
// its SHA-512 against the pinned integrity and stores dist/echarts.min.js at AssetPath.
func FetchECharts(tarball string, log io.Writer) (string, error) {
	dst, err := AssetPath()
	if err != nil {
		return "", err
	}
	if _, err := ECharts.ExtractFile(dst, "package/dist/echarts.min.js", tarball, log); err != nil {
		return "", fmt.Errorf("plots: %w", err)
	}
	return dst, nil
}

// EChartsJS returns the fetched echarts.min.js.
func EChartsJS() ([]byte, error) {
	p, err := AssetPath()
	if err != nil {
		return nil, err
	}
	js, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoECharts
	}
	return js, err
}

// Page is a set of charts with a title and optional introductory text (plain text: it is escaped).
type Page struct {
	Title  string
	Intro  string
	Charts []render.Renderer
	Tables []Table
	Notes  []string // plain-text paragraphs under the charts
}

// Table is a plain table under the charts; every cell is text (escaped).
type Table struct {
	Title  string
	Header []string
	Rows   [][]string
}

// HTML renders the page as one self-contained document: echarts.min.js inline (EChartsScript), the title, then
// Body.
func (p Page) HTML() ([]byte, error) {
	loader, err := EChartsScript()
	if err != nil {
		return nil, err
	}
	body, err := p.Body()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title>\n", html.EscapeString(p.Title))
	b.WriteString("<style>body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1000px}.chart{margin:1em 0}</style>\n")
	b.WriteString(loader)
	b.WriteString("\n</head><body>\n")
	fmt.Fprintf(&b, "<h1>%s</h1>\n%s</body></html>\n", html.EscapeString(p.Title), body)
	return b.Bytes(), nil
}

// EChartsScript is echarts.min.js as one <script> that loads it once into a page (a second one does nothing) and
// makes it the global echarts even where the page has RequireJS (Jupyter's), which it hides meanwhile.
func EChartsScript() (string, error) {
	js, err := EChartsJS()
	if err != nil {
		return "", err
	}
	return "<script>if (!window.echarts) { var __mtloraDefine = window.define; window.define = undefined;\n" + string(js) +
		"\nwindow.define = __mtloraDefine; }</script>", nil
}

// noECharts is what a chart's container says when echarts is not on the page.
const noECharts = "This chart needs echarts on the page: run the notebook's kernel.LoadCharts() cell (or open the HTML report)."

// Body renders the page's content without a document around it or echarts in it — intro, charts, tables,
// notes — for a page that has echarts already (EChartsScript). Each chart is its container (full width, the
// chart's own height) and a script that draws it there. go-echarts v2.7.2 writes a chart's options as
// unescaped JSON, so a label like "</script><script>…" would end the script and run its own: < > & in the
// options are written \u003c \u003e \u0026 (they occur only inside JSON strings, where the escapes mean
// the same characters). The page's own text is HTML-escaped.
func (p Page) Body() (string, error) { return p.body("canvas") }

// body renders Body with echarts' canvas or svg renderer.
func (p Page) body(renderer string) (string, error) {
	var b strings.Builder
	if p.Intro != "" {
		fmt.Fprintf(&b, "<p>%s</p>\n", html.EscapeString(p.Intro))
	}
	for _, c := range p.Charts {
		s := c.RenderSnippet()
		m := chartID.FindStringSubmatch(s.Element)
		if m == nil || !strings.HasPrefix(strings.TrimSpace(s.Option), "{") {
			return "", fmt.Errorf("plots: unexpected chart from go-echarts: %.80q", s.Element)
		}
		option := strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`).Replace(s.Option)
		fmt.Fprintf(&b, "<div class=\"chart\">%s\n<script>(function () { var el = document.getElementById(%q);\n"+
			"if (!window.echarts) { el.textContent = %q; return; }\necharts.init(el, \"white\", {renderer: %q}).setOption(%s); })();</script></div>\n",
			s.Element, m[1], noECharts, renderer, option)
	}
	for _, t := range p.Tables {
		fmt.Fprintf(&b, "<h2>%s</h2>\n<table style=\"border-collapse:collapse;font-size:.85em;white-space:nowrap\">\n<tr>", html.EscapeString(t.Title))
		for _, h := range t.Header {
			fmt.Fprintf(&b, "<th style=\"border:1px solid #ccc;padding:.2em .5em\">%s</th>", html.EscapeString(h))
		}
		b.WriteString("</tr>\n")
		for _, r := range t.Rows {
			b.WriteString("<tr>")
			for _, c := range r {
				fmt.Fprintf(&b, "<td style=\"border:1px solid #ccc;padding:.2em .5em\">%s</td>", html.EscapeString(c))
			}
			b.WriteString("</tr>\n")
		}
		b.WriteString("</table>\n")
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "<p>%s</p>\n", html.EscapeString(n))
	}
	return b.String(), nil
}

// chartID finds a go-echarts container's id (random letters).
var chartID = regexp.MustCompile(`id="([A-Za-z0-9_-]+)"`)

// WriteSVGs writes every chart of the page as its own SVG file — dir/prefix-1.svg, -2, … in chart order —
// drawn by echarts' SVG renderer in headless Chromium at the given width (each chart at its own height),
// and returns their paths. Vector figures for papers: text stays text.
func (p Page) WriteSVGs(dir, prefix string, width int) ([]string, error) {
	loader, err := EChartsScript()
	if err != nil {
		return nil, err
	}
	body, err := p.body("svg")
	if err != nil {
		return nil, err
	}
	page, err := os.CreateTemp(dir, ".svg-page-*.html")
	if err != nil {
		return nil, err
	}
	defer os.Remove(page.Name())
	_, err = fmt.Fprintf(page, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">%s</head><body style=\"margin:0\">%s</body></html>\n", loader, body)
	if cerr := page.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	dom, err := chromium(page.Name(), fmt.Sprintf("--window-size=%d,1000", width), "--dump-dom")
	if err != nil {
		return nil, err
	}
	svgs := svgElement.FindAllString(dom, -1)
	if len(svgs) != len(p.Charts) {
		return nil, fmt.Errorf("plots: echarts drew %d SVG charts of %d", len(svgs), len(p.Charts))
	}
	var paths []string
	for i, svg := range svgs {
		path := filepath.Join(dir, fmt.Sprintf("%s-%d.svg", prefix, i+1))
		if !strings.Contains(svg, "xmlns=") {
			svg = strings.Replace(svg, "<svg", `<svg xmlns="http://www.w3.org/2000/svg"`, 1)
		}
		if err := atomicfile.Write(path, []byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+svg+"\n")); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// svgElement finds the root <svg> element echarts draws in a chart's container (it nests none).
var svgElement = regexp.MustCompile(`(?s)<svg\b.*?</svg>`)

// WriteHTML writes the page atomically.
func (p Page) WriteHTML(path string) error {
	data, err := p.HTML()
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data)
}

// ErrNoBrowser says no headless browser was found for PNG export.
var ErrNoBrowser = errors.New("plots: PNG export needs Chromium (Debian: apt-get install chromium; or set MTLORA_CHROMIUM to its path); the HTML was written and opens in any browser")

// Chromium returns the path of a Chromium binary: $MTLORA_CHROMIUM, else chromium or chromium-browser on PATH.
func Chromium() (string, error) {
	if p := os.Getenv("MTLORA_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBrowser
}

// Screenshot renders an HTML file in headless Chromium (no network, a fresh profile) and writes a PNG of
// width × height pixels; height 0 is the page's own height (Measure), and then the width grows to the page's
// own width if something on it — a wide table — is wider, so nothing is cut off.
func Screenshot(htmlPath, pngPath string, width, height int) error {
	if height == 0 {
		m, err := Measure(htmlPath, width)
		if err != nil {
			return err
		}
		if m.Width > width {
			width = min(m.Width, 8000)
			if m, err = Measure(htmlPath, width); err != nil { // wider, its text wraps less
				return err
			}
		}
		height = min(max(m.Height, 100), 30000)
	}
	out, err := filepath.Abs(pngPath)
	if err != nil {
		return err
	}
	if _, err := chromium(htmlPath, fmt.Sprintf("--window-size=%d,%d", width, height), "--screenshot="+out); err != nil {
		return err
	}
	if _, err := os.Stat(out); err != nil {
		return fmt.Errorf("plots: chromium wrote no screenshot of %s", htmlPath)
	}
	return nil
}

// Measurement is what a browser drew of a page: its height and, for every chart, its container's height,
// the height of what echarts drew in it and how much of the container is visible (not clipped by a
// scrolling or hidden-overflow ancestor, such as a fixed-height frame).
type Measurement struct {
	Height int `json:"height"` // the document's scroll height, px
	Width  int `json:"width"`  // its scroll width, px: more than the window's when something is wider
	Charts []struct {
		Container float64 `json:"container"`
		Drawn     float64 `json:"drawn"`
		Visible   float64 `json:"visible"`
		Width     float64 `json:"width"`
	} `json:"charts"`
	Text string `json:"text"` // the page's visible text
}

// measureScript runs after the page has loaded and its charts have drawn, and writes the Measurement as
// JSON into a <pre id="mtlora-measure"> for --dump-dom to print.
const measureScript = `<script>window.addEventListener("load", function () { setTimeout(function () {
  var charts = [];
  document.querySelectorAll("[_echarts_instance_]").forEach(function (el) {
    var r = el.getBoundingClientRect(), drawn = el.querySelector("canvas, svg"), visible = r.height;
    for (var a = el.parentElement; a; a = a.parentElement) {
      var st = getComputedStyle(a);
      if (st.overflowY !== "visible" || st.overflowX !== "visible") {
        var ar = a.getBoundingClientRect();
        visible = Math.min(visible, Math.max(0, Math.min(r.bottom, ar.bottom) - Math.max(r.top, ar.top)));
      }
    }
    charts.push({container: r.height, drawn: drawn ? drawn.getBoundingClientRect().height : 0, visible: visible, width: r.width});
  });
  var text = document.body.innerText;
  var pre = document.createElement("pre");
  pre.id = "mtlora-measure";
  pre.textContent = JSON.stringify({height: document.documentElement.scrollHeight, width: document.documentElement.scrollWidth, charts: charts, text: text});
  document.body.appendChild(pre);
}, 300); });</script>`

// Measure renders an HTML file in headless Chromium at the given width and reports what it drew.
func Measure(htmlPath string, width int) (Measurement, error) {
	var m Measurement
	data, err := os.ReadFile(htmlPath)
	if err != nil {
		return m, err
	}
	// A copy beside the original (relative links keep working) with the measuring script at its end.
	tmp, err := os.CreateTemp(filepath.Dir(htmlPath), ".measure-*.html")
	if err != nil {
		return m, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(data, []byte(measureScript)...))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return m, err
	}
	dom, err := chromium(tmp.Name(), fmt.Sprintf("--window-size=%d,1000", width), "--dump-dom")
	if err != nil {
		return m, err
	}
	i := strings.Index(dom, `<pre id="mtlora-measure">`)
	j := strings.LastIndex(dom, "</pre>")
	if i < 0 || j < i {
		return m, fmt.Errorf("plots: chromium did not finish measuring %s (the page's scripts failed or did not load)", htmlPath)
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(dom[i+len(`<pre id="mtlora-measure">`):j])), &m); err != nil {
		return m, fmt.Errorf("plots: measuring %s: %w", htmlPath, err)
	}
	return m, nil
}

// chromium runs headless Chromium on an HTML file (no network, a fresh profile, 10 s of virtual time for
// its scripts) with extra flags and returns its standard output.
func chromium(htmlPath string, flags ...string) (string, error) {
	bin, err := Chromium()
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(htmlPath)
	if err != nil {
		return "", err
	}
	profile, err := os.MkdirTemp("", "mtlora-chromium-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(profile)
	// Chromium's helper processes inherit its stderr and stdout: capture them in files (a pipe would keep
	// Wait waiting for them), and bound the whole render.
	logFile, err := os.CreateTemp("", "mtlora-chromium-*.log")
	if err != nil {
		return "", err
	}
	defer os.Remove(logFile.Name())
	defer logFile.Close()
	outFile, err := os.CreateTemp("", "mtlora-chromium-*.out")
	if err != nil {
		return "", err
	}
	defer os.Remove(outFile.Name())
	defer outFile.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir=" + profile, "--virtual-time-budget=10000"}, flags...)
	cmd := exec.CommandContext(ctx, bin, append(args, "file://"+abs)...)
	cmd.Stdout, cmd.Stderr = outFile, logFile
	// Its own process group, killed whole on timeout: Chromium's helpers must not outlive a hung render.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	logData, _ := os.ReadFile(logFile.Name())
	if runErr != nil {
		return "", fmt.Errorf("plots: chromium: %w: %s", runErr, lastLine(string(logData)))
	}
	out, err := os.ReadFile(outFile.Name())
	return string(out), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
