// Package plots draws the toolkit's charts with go-echarts (v2.7.2, for ECharts 5.4.3) so they render
// offline: pages embed echarts.min.js itself (fetched once from the npm package echarts@5.4.3 by
// FetchECharts, never from a CDN), every task keeps one colour across all charts, and every label that
// comes from data is escaped. A page exports as standalone HTML, and as PNG through headless Chromium.
package plots

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/mtlora/mtlora/internal/atomicfile"
	"github.com/mtlora/mtlora/internal/cache"
	"github.com/mtlora/mtlora/internal/npm"
	"html"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

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

// HTML renders the page as one self-contained document: echarts.min.js inline, then each chart's element
// and script. go-echarts v2.7.2 writes each chart's options into its script as unescaped JSON, so a label
// like "</script><script>…" would end the script and run its own: escapeScript rewrites < > & inside every
// chart script as \u003c \u003e \u0026 (the generated code has them only inside JSON strings, where the
// escapes mean the same characters). The page's own text is HTML-escaped.
func (p Page) HTML() ([]byte, error) {
	js, err := EChartsJS()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title>\n", html.EscapeString(p.Title))
	b.WriteString("<style>body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1000px}.chart{margin:1em 0}</style>\n<script>")
	// A page inside Jupyter may have RequireJS: hide it while echarts loads so echarts becomes a global.
	b.WriteString("var __mtloraDefine = window.define; window.define = undefined;\n")
	b.Write(js)
	b.WriteString("\nwindow.define = __mtloraDefine;</script>\n</head><body>\n")
	fmt.Fprintf(&b, "<h1>%s</h1>\n", html.EscapeString(p.Title))
	if p.Intro != "" {
		fmt.Fprintf(&b, "<p>%s</p>\n", html.EscapeString(p.Intro))
	}
	for _, c := range p.Charts {
		s := c.RenderSnippet()
		script, err := escapeScript(s.Script)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "<div class=\"chart\">%s\n%s</div>\n", s.Element, script)
	}
	for _, t := range p.Tables {
		fmt.Fprintf(&b, "<h2>%s</h2>\n<table style=\"border-collapse:collapse\">\n<tr>", html.EscapeString(t.Title))
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
	b.WriteString("</body></html>\n")
	return b.Bytes(), nil
}

// escapeScript escapes < > & in the body of a go-echarts <script>…</script> snippet.
func escapeScript(snippet string) (string, error) {
	open := strings.Index(snippet, "<script")
	start := strings.Index(snippet[max(open, 0):], ">") + max(open, 0) + 1
	end := strings.LastIndex(snippet, "</script>")
	if open < 0 || start <= open || end < start {
		return "", fmt.Errorf("plots: unexpected chart script from go-echarts: %.80q", snippet)
	}
	body := strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`).Replace(snippet[start:end])
	return snippet[:start] + body + snippet[end:], nil
}

// WriteHTML writes the page atomically.
func (p Page) WriteHTML(path string) error {
	data, err := p.HTML()
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data)
}

// IFrame wraps a page for display inside Jupyter as <iframe srcdoc=…> — the form that draws in notebooks,
// offline, whether or not the notebook page loads RequireJS.
func IFrame(page []byte, heightPx int) string {
	return fmt.Sprintf(`<iframe style="width:100%%;height:%dpx;border:0" srcdoc="%s"></iframe>`, heightPx, html.EscapeString(string(page)))
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
// width × height pixels.
func Screenshot(htmlPath, pngPath string, width, height int) error {
	chromium, err := Chromium()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(htmlPath)
	if err != nil {
		return err
	}
	out, err := filepath.Abs(pngPath)
	if err != nil {
		return err
	}
	profile, err := os.MkdirTemp("", "mtlora-chromium-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(profile)
	// Chromium's helper processes inherit its stderr: capture it in a file (a pipe would keep Wait waiting
	// for them), and bound the whole render.
	logFile, err := os.CreateTemp("", "mtlora-chromium-*.log")
	if err != nil {
		return err
	}
	defer os.Remove(logFile.Name())
	defer logFile.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir="+profile, "--virtual-time-budget=10000", fmt.Sprintf("--window-size=%d,%d", width, height),
		"--screenshot="+out, "file://"+abs)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, killed whole on timeout: Chromium's helpers must not outlive a hung render.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	logData, _ := os.ReadFile(logFile.Name())
	if runErr != nil {
		return fmt.Errorf("plots: chromium: %w: %s", runErr, lastLine(string(logData)))
	}
	if _, err := os.Stat(out); err != nil {
		return fmt.Errorf("plots: chromium wrote no screenshot: %s", lastLine(string(logData)))
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
